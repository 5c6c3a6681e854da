"""Talk to the Redfish API of servers' management consoles (BMCs): power, tasks, accounts, firmware, Dell SCP.

Every class works on one management console. Read-only requests (GET) are always sent; in DRY-RUN mode the
requests that would change something are logged and not sent (see :py:class:`spicerack.apiclient.APIClient`).
"""

import ipaddress
import json
import logging
import re
import socket
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from io import BufferedReader
from pathlib import Path
from typing import Any

import urllib3
from packaging import version
from requests import Response, Session
from requests.exceptions import JSONDecodeError, RequestException
from wmflib.decorators import RetryParams
from wmflib.requests import http_session

from spicerack.apiclient import APIClient, APIClientError, APIClientResponseError
from spicerack.decorators import retry
from spicerack.exceptions import SpicerackError

# Management consoles ship self-signed certificates: requests to them are not verified, don't warn on each one.
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
logger = logging.getLogger(__name__)

TypeInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
"""The address, with its netmask, of a management console."""


_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
_TASK_FINAL_STATES = ("Completed", "Exception", "Killed", "Cancelled")
_SCP_FIRST_POLL_DELAY = 5  # seconds: a quick SCP export is often ready by then


class RedfishError(SpicerackError):
    """A Redfish request failed or the API answered something unexpected."""


class RedfishTaskNotCompletedError(RedfishError):
    """A polled Redfish task has not completed yet."""


class ChassisResetPolicy(Enum):
    """The ``ResetType`` values of ``ComputerSystem.Reset`` that every supported vendor accepts."""

    FORCE_OFF = "ForceOff"
    """Power off at once, without telling the operating system."""
    FORCE_RESTART = "ForceRestart"
    """Power cycle at once, without telling the operating system."""
    GRACEFUL_RESTART = "GracefulRestart"
    """Ask the operating system to shut down, then power on again."""
    GRACEFUL_SHUTDOWN = "GracefulShutdown"
    """Ask the operating system to shut down and stay off."""
    ON = "On"
    """Power on."""


class DellSCPRebootPolicy(Enum):
    """How a Dell Server Configuration Profile import reboots the host to apply its changes."""

    FORCED = "Forced"
    """Hard reboot at once, the operating system is not told."""
    GRACEFUL = "Graceful"
    """Reboot through the operating system."""
    NO_REBOOT = "NoReboot"
    """No reboot now: the task waits for the next reboot to apply the changes."""


class DellSCPPowerStatePolicy(Enum):
    """The power state a Dell host is left in after a Server Configuration Profile operation."""

    OFF = "Off"
    """Leave the host powered off."""
    ON = "On"
    """Power the host back on."""


class DellSCPTargetPolicy(Enum):
    """Which sections of a Dell Server Configuration Profile an operation covers."""

    ALL = "ALL"
    """Every section."""
    BIOS = "BIOS"
    """The BIOS settings only."""
    IDRAC = "IDRAC"
    """The iDRAC settings only."""
    NIC = "NIC"
    """The network interfaces' settings only."""
    RAID = "RAID"
    """The RAID controllers' settings only."""


class RedfishUserRoles(Enum):
    """The roles a new Redfish account can be given."""

    ADMINISTRATOR = "Administrator"
    """Full control."""
    OPERATOR = "Operator"
    """Operate the server, no account management."""
    READONLY = "ReadOnly"
    """Read only."""


def _one_try_in_dry_run(params: RetryParams, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Retry callback: a method of an instance in DRY-RUN mode is tried once, whichever subclass it is called on."""
    if args and getattr(args[0], "_dry_run", False) and params.tries > 1:
        logger.warning("Reduce tries from %d to 1 in DRY-RUN mode", params.tries)
        params.tries = 1


class Redfish:
    """A client of the Redfish API of one management console; vendor subclasses fill in the resource names."""

    system = ""
    """The identifier of the computer system below ``/redfish/v1/Systems/``."""
    manager = ""
    """The identifier of the management console below ``/redfish/v1/Managers/``."""
    log_service = ""
    """The identifier of the manager's log service with the reboot events."""
    reboot_message_id = ""
    """The suffix of the ``MessageId`` of the log entries recording a management console reboot."""
    boot_mode_attribute = ""
    """The BIOS attribute holding the boot mode (UEFI or legacy)."""
    http_boot_target = ""
    """The ``BootSourceOverrideTarget`` value that boots over UEFI HTTP."""
    admin = "NAMAZU"
    """The username of the factory administrator account, whose account types new administrators copy."""

    def __init__(
        self,
        hostname: str,
        interface: TypeInterface,
        username: str,
        password: str,
        *,
        dry_run: bool = True,
        scheme: str = "https",
        port: int | None = None,
    ) -> None:
        """Prepare the HTTP sessions; nothing is requested yet.

        Arguments:
            hostname: the name of the server the management console belongs to (not its FQDN), used in logs.
            interface: the address of the management console.
            username: the Redfish account to authenticate as (HTTP basic authentication).
            password: that account's password.
            dry_run: whether this is a DRY-RUN.
            scheme: ``https`` (the default: the certificate is not verified, consoles have self-signed ones) or
                ``http``.
            port: the TCP port of the API, when not the scheme's default.

        Raises:
            spicerack.redfish.RedfishError: if the scheme is neither ``https`` nor ``http``.

        """
        if scheme not in ("https", "http"):
            raise RedfishError(f"Unsupported scheme '{scheme}' for the Redfish API of {hostname}: use https or http")

        self._dry_run = dry_run
        self._hostname = hostname
        self._interface = interface
        self._username = username
        self._password = password
        host = f"[{interface.ip}]" if interface.version == 6 else str(interface.ip)
        self._base_url = f"{scheme}://{host}" + (f":{port}" if port is not None else "")

        session_name = f"{self.__module__}.{type(self).__name__}"
        self._api_client = APIClient(self._base_url, self._new_session(session_name, timeout=10), dry_run=dry_run)
        # Firmware images are large and consoles slow to take them.
        self._upload_session = self._new_session(session_name, timeout=30 * 60)

        self._system_info: dict[str, Any] = {}
        self._oob_info: dict[str, Any] = {}
        self._updateservice_info: dict[str, Any] = {}

    def _new_session(self, name: str, *, timeout: float) -> Session:
        session: Session = http_session(name, timeout=timeout)
        session.verify = False  # Management consoles have self-signed certificates
        session.auth = (self._username, self._password)
        session.headers.update({"Accept": "application/json"})
        return session

    def __str__(self) -> str:
        """Return ``user@hostname (address)`` of the connection."""
        return f"{self._username}@{self._hostname} ({self._interface.ip})"

    @property
    def hostname(self) -> str:
        """The name of the server the management console belongs to."""
        return self._hostname

    @property
    def interface(self) -> TypeInterface:
        """The address, with its netmask, of the management console."""
        return self._interface

    @property
    def system_manager(self) -> str:
        """The URI of the computer system."""
        return f"/redfish/v1/Systems/{self.system}"

    @property
    def oob_manager(self) -> str:
        """The URI of the management console (out of band manager)."""
        return f"/redfish/v1/Managers/{self.manager}"

    @property
    def storage_manager(self) -> str:
        """The URI of the computer system's storage collection."""
        return f"{self.system_manager}/Storage"

    @property
    def account_manager(self) -> str:
        """The URI of the account service."""
        return "/redfish/v1/AccountService"

    @property
    def update_service(self) -> str:
        """The URI of the update service (firmware uploads)."""
        return "/redfish/v1/UpdateService"

    @property
    def log_entries(self) -> str:
        """The URI of the entries of the manager's log service."""
        return f"{self.oob_manager}/LogServices/{self.log_service}/Entries"

    @property
    def system_info(self) -> dict[str, Any]:
        """The computer system's resource, read on first use and then kept."""
        if not self._system_info:
            self._update_system_info()
        return self._system_info

    @property
    def oob_info(self) -> dict[str, Any]:
        """The management console's resource, read on first use and then kept."""
        if not self._oob_info:
            self._update_oob_info()
        return self._oob_info

    @property
    def updateservice_info(self) -> dict[str, Any]:
        """The update service's resource, read on first use and then kept."""
        if not self._updateservice_info:
            self._updateservice_info = self._get_json(self.update_service)
        return self._updateservice_info

    @property
    def oob_model(self) -> str:
        """The model of the management console."""
        return str(self._field(self.oob_info, "Model", self.oob_manager))

    @property
    def firmware_version(self) -> version.Version:
        """The firmware version of the management console, read again at each access."""
        self._update_oob_info()
        return _parse_version(self._field(self._oob_info, "FirmwareVersion", self.oob_manager), "firmware")

    @property
    def bios_version(self) -> version.Version:
        """The BIOS version of the computer system, read again at each access."""
        self._update_system_info()
        return _parse_version(self._field(self._system_info, "BiosVersion", self.system_manager), "BIOS")

    @property
    def model(self) -> str:
        """The model of the computer system."""
        return str(self._field(self.system_info, "Model", self.system_manager))

    @property
    def manufacturer(self) -> str:
        """The manufacturer of the computer system."""
        return str(self._field(self.system_info, "Manufacturer", self.system_manager))

    @property
    def uuid(self) -> str:
        """The UUID of the computer system."""
        return str(self._field(self.system_info, "UUID", self.system_manager))

    @property
    def pushuri(self) -> str:
        """The update service's ``HttpPushUri``.

        Raises:
            NotImplementedError: if the update service has none.

        """
        try:
            return str(self.updateservice_info["HttpPushUri"])
        except KeyError as e:
            raise NotImplementedError(f"The update service of {self._hostname} has no HttpPushUri") from e

    @property
    def multipushuri(self) -> str:
        """The update service's ``MultipartHttpPushUri``, where firmware files are uploaded."""
        return str(self._field(self.updateservice_info, "MultipartHttpPushUri", self.update_service))

    def _update_system_info(self) -> None:
        self._system_info = self._get_json(self.system_manager)

    def _update_oob_info(self) -> None:
        self._oob_info = self._get_json(self.oob_manager)

    def _get_json(self, uri: str) -> dict[str, Any]:
        """GET a resource and return its JSON object."""
        response = self.request("get", uri)
        try:
            data = response.json()
        except JSONDecodeError as e:
            raise RedfishError(f"GET {uri} on {self._hostname} did not return JSON") from e
        if not isinstance(data, dict):
            raise RedfishError(f"GET {uri} on {self._hostname} returned a JSON {type(data).__name__}, not an object")
        return data

    def _field(self, data: Mapping[str, Any], key: str, uri: str) -> Any:
        try:
            return data[key]
        except KeyError as e:
            raise RedfishError(f"The resource {uri} of {self._hostname} has no {key} field") from e

    def request(self, method: str, uri: str, **kwargs: Any) -> Response:
        """Send a request to the Redfish API and return its response.

        In DRY-RUN mode only GET, HEAD and OPTIONS requests are sent; the others are logged and answered with an
        empty HTTP 200 response.

        Arguments:
            method: the HTTP method, in any case.
            uri: the path of the resource, starting with ``/``.
            **kwargs: passed to :py:meth:`requests.Session.request` (``json``, ``headers``, ``params``...).

        Raises:
            spicerack.redfish.RedfishError: if the uri does not start with ``/``, the request cannot be sent or the
            response status is 4xx or 5xx (the response's JSON payload, if any, is logged).

        """
        # Per request too: requests lets $REQUESTS_CA_BUNDLE override a session's verify=False.
        kwargs.setdefault("verify", False)
        try:
            return self._api_client.request(method, uri, **kwargs)
        except APIClientResponseError as e:
            try:
                logger.error("%s\nResponse payload: %s", e, e.response.json())
            except JSONDecodeError:
                logger.error("%s\nThe response payload is not valid JSON.", e)
            raise RedfishError(str(e)) from e
        except APIClientError as e:
            raise RedfishError(str(e)) from e

    def check_connection(self) -> None:
        """Check that the Redfish API answers at its root, ``/redfish``.

        Raises:
            spicerack.redfish.RedfishError: if the API cannot be reached or refuses the credentials.

        """
        logger.info("Testing Redfish API connection to %s (%s)", self._hostname, self._interface.ip)
        self.request("get", "/redfish")

    def _parse_submit_task(self, response: Response) -> str:
        """Return the URI of the task started by a request, from its HTTP 202 response's ``Location`` header."""
        uri = response.request.path_url if response.request is not None else "the"
        if response.status_code != 202:
            raise RedfishError(
                f"Unable to start task for {uri}, expected HTTP 202, got HTTP {response.status_code} instead:\n"
                f"{response.text}"
            )

        location = response.headers.get("Location", "")
        if not location:
            raise RedfishError(
                f"Unable to get the task URI to poll results for the {uri} request. Returned headers:\n"
                f"{response.headers}"
            )
        return str(location)

    def submit_task(self, uri: str, data: dict[str, Any] | None = None, method: str = "post") -> str:
        """Send a request that starts a task and return the URI to poll the task at.

        In DRY-RUN mode nothing is sent and ``/`` is returned.

        Arguments:
            uri: the path of the action.
            data: the JSON payload of the request.
            method: the HTTP method.

        Raises:
            spicerack.redfish.RedfishError: if the request fails or the response is not HTTP 202 with a ``Location``.

        """
        if self._dry_run:
            logger.info("Would have submitted a %s task to %s on %s", method.upper(), uri, self._hostname)
            return "/"

        return self._parse_submit_task(self.request(method, uri, json=data))

    def submit_files(self, files: dict[str, Any]) -> str:
        """Upload files as a multipart POST to the update service's multipart push URI, return the task's URI.

        In DRY-RUN mode nothing is sent and ``/`` is returned.

        Arguments:
            files: the multipart fields, as the ``files`` argument of :py:meth:`requests.Session.request`.

        Raises:
            spicerack.redfish.RedfishError: if the upload fails or the response is not HTTP 202 with a ``Location``.

        """
        if self._dry_run:
            logger.info("Would have uploaded %s to %s", ", ".join(files), self._hostname)
            return "/"

        url = f"{self._base_url}{self.multipushuri}"
        try:
            response = self._upload_session.post(url, files=files, verify=False)
        except RequestException as e:
            raise RedfishError(f"Failed to upload to {url}: {e}") from e
        return self._parse_submit_task(response)

    def multipush_upload(self, file_handle: BufferedReader, filename: str, reboot: bool = False) -> str:
        """Upload an open file to the update service and return the URI of the update task.

        Arguments:
            file_handle: the file, open in binary mode.
            filename: the name to upload it with.
            reboot: apply it at once (``Immediate``) instead of at the next reset (``OnReset``).

        """
        parameters: dict[str, Any] = {
            "Targets": [],
            "@Redfish.OperationApplyTime": "Immediate" if reboot else "OnReset",
            "Oem": {},
        }
        files = {
            "UpdateParameters": (None, json.dumps(parameters), "application/json"),
            "UpdateFile": (filename, file_handle, "application/octet-stream"),
        }
        task_uri = self.submit_files(files)
        logger.debug("Upload of %s to %s has task %s", filename, self._hostname, task_uri)
        return task_uri

    def upload_file(self, file_path: Path, reboot: bool = False) -> str:
        """Upload a file (e.g. a firmware image) to the update service and return the URI of the update task.

        Arguments:
            file_path: the file to upload.
            reboot: apply it at once (``Immediate``) instead of at the next reset (``OnReset``).

        Raises:
            spicerack.redfish.RedfishError: if the file cannot be read or the upload fails.

        """
        try:
            file_handle = file_path.open("rb")
        except OSError as e:
            raise RedfishError(f"Unable to open {file_path} for upload: {e.strerror}") from e
        with file_handle:
            return self.multipush_upload(file_handle, file_path.name, reboot)

    @retry(
        tries=60,
        delay=timedelta(seconds=30),
        backoff_mode="constant",
        exceptions=(RedfishTaskNotCompletedError,),
        failure_message="Polling task",
        dynamic_params_callbacks=(_one_try_in_dry_run,),
    )
    def poll_task(self, uri: str) -> dict[str, Any]:
        """Poll a task until it completes and return its results (every 30 seconds, for up to 30 minutes).

        A task is completed when the API returns its data instead of the task resource (HTTP 200 without
        ``@odata.id``), or when the task has an ``EndTime`` or a final ``TaskState``. The task's messages are logged
        at each poll. In DRY-RUN mode nothing is polled and an empty dictionary is returned.

        Arguments:
            uri: the URI of the task, as returned by :py:meth:`submit_task`.

        Raises:
            spicerack.redfish.RedfishError: if the response is not HTTP 200, 202 or 204 (no content: completed).
            spicerack.redfish.RedfishTaskNotCompletedError: if the task is still not completed after the last poll.

        """
        if self._dry_run:
            return {}

        response = self.request("get", uri)
        if response.status_code not in (200, 202, 204):
            raise RedfishError(f"{uri} returned HTTP {response.status_code}:\n{response.text}")
        if response.status_code == 204:
            return {}  # Completed, without content

        try:
            results: dict[str, Any] = response.json()
        except JSONDecodeError as e:
            raise RedfishError(f"{uri} returned HTTP {response.status_code} without JSON") from e

        if response.status_code == 200 and "@odata.id" not in results:
            return results  # The task's output itself: the task is done

        for message in results.get("Messages", []):
            if "Oem" in message:
                continue  # Vendor-specific structure
            message_id = message.get("MessageId", message.get("MessageID", "N.A."))
            logger.info("[%s] %s", message_id, message.get("Message", ""))

        if not _task_completed(results):
            raise RedfishTaskNotCompletedError(
                f"{results.get('Id', uri)} not completed yet: status={results.get('TaskStatus')}, "
                f"state={results.get('TaskState')}, completed={results.get('PercentComplete', 'unknown')}%"
            )
        return results

    @staticmethod
    def most_recent_member(members: list[dict[str, Any]], key: str) -> dict[str, Any]:
        """Return the member whose ``key`` field, an ISO 8601 date and time, is the most recent.

        Arguments:
            members: the members of a collection.
            key: the field with the date and time.

        """
        return max(members, key=lambda member: datetime.fromisoformat(member[key]))

    def last_reboot(self) -> datetime:
        """Return when the management console last rebooted, from its log (the epoch if the log has no reboot)."""
        entries = self._get_json(self.log_entries).get("Members", [])
        # The MessageId may carry a prefix before the code (e.g. IDRAC.2.7.RAC0182).
        reboots = [entry for entry in entries if entry.get("MessageId", "").endswith(self.reboot_message_id)]
        last = datetime.fromisoformat(self.most_recent_member(reboots, "Created")["Created"]) if reboots else _EPOCH
        logger.debug("%s: last reboot %s", self._hostname, last)
        return last

    @retry(
        tries=240,
        delay=timedelta(seconds=10),
        backoff_mode="constant",
        exceptions=(RedfishError,),
        dynamic_params_callbacks=(_one_try_in_dry_run,),
    )
    def wait_reboot_since(self, since: datetime) -> None:
        """Wait until the management console answers again after a reboot later than ``since`` (up to 40 minutes).

        Arguments:
            since: the time of the previous reboot, e.g. from :py:meth:`last_reboot`.

        Raises:
            spicerack.redfish.RedfishError: if no later reboot is seen in time.

        """
        self.check_connection()
        self._check_rebooted_since(since)

    def _check_rebooted_since(self, since: datetime) -> datetime:
        latest = self.last_reboot()
        if since >= latest:
            raise RedfishError(f"no new reboot detected on {self._hostname} since {since}")
        logger.debug("%s: new management console reboot detected %s", self._hostname, latest)
        return latest

    def find_account(self, username: str) -> tuple[str, str]:
        """Find the account with the given username.

        Arguments:
            username: the account's username.

        Returns:
            The URI of the account and the ``ETag`` header of its GET response (empty if none).

        Raises:
            spicerack.redfish.RedfishError: if there is no such account.

        """
        accounts = self._get_json(f"{self.account_manager}/Accounts")
        for member in accounts.get("Members", []):
            uri = member["@odata.id"]
            response = self.request("get", uri)
            if response.json().get("UserName") == username:
                return uri, response.headers.get("ETag", "")

        raise RedfishError(f"Unable to find account for username {username}")

    def find_accounts(self) -> dict[str, dict[str, Any]]:
        """Return the accounts configured on the management console, by username (free slots left out).

        Each account is its resource as read, plus the ``ETag`` header of its GET response under the ``ETag`` key.

        Raises:
            spicerack.redfish.RedfishError: if a request fails.

        """
        accounts: dict[str, dict[str, Any]] = {}
        for _uri, account, etag in self._iter_accounts(self._get_json(f"{self.account_manager}/Accounts")):
            if account.get("UserName"):  # Unused slots have an empty username
                accounts[account["UserName"]] = {**account, "ETag": etag}
        return accounts

    def delete_account(self, username: str) -> None:
        """Delete the account with the given username.

        Arguments:
            username: the account's username.

        Raises:
            spicerack.redfish.RedfishError: if there is no such account or the deletion fails.

        """
        accounts = self.find_accounts()
        if username not in accounts:
            raise RedfishError(f"The account {username} is not configured in the BMC.")
        self.request("delete", accounts[username]["@odata.id"])

    def add_account(
        self, username: str, password: str, role: RedfishUserRoles = RedfishUserRoles.ADMINISTRATOR
    ) -> None:
        """Create an enabled account.

        When the accounts collection accepts a POST the account is created there; otherwise (e.g. Dell) the first
        free pre-allocated slot after slot 1 (reserved) is filled with a PATCH. A new administrator is then given
        the account types (and OEM account types) of the factory administrator :py:attr:`admin`, if they differ,
        so that it can use IPMI and the serial console as well.

        Arguments:
            username: the new account's username.
            password: its password.
            role: its role.

        Raises:
            spicerack.redfish.RedfishError: if there is no free slot or the account can't be created.

        """
        response = self.request("get", f"{self.account_manager}/Accounts")
        collection = response.json()
        allowed = [method.strip().upper() for method in response.headers.get("Allow", "").split(",")]
        account = {"UserName": username, "Password": password, "RoleId": role.value, "Enabled": True}
        logger.info("Creating account %s", username)
        if "POST" in allowed:
            created = self.request("post", f"{self.account_manager}/Accounts", json=account, timeout=30)
            if self._dry_run:  # Nothing was created: there is no new account to read or complete
                return
            try:
                account_uri = str(created.json()["@odata.id"])
            except (ValueError, KeyError, TypeError) as e:
                raise RedfishError(f"Account {username} created, but its URI is not in the answer: {e!r}") from e
        else:
            account_uri, etag = self._free_account_slot(collection, username)
            self.request("patch", account_uri, json=account, headers=self._if_match(etag), timeout=30)
        logger.info("Account %s created at %s", username, account_uri)

        if role is RedfishUserRoles.ADMINISTRATOR:
            self._copy_admin_account_types(collection, username, account_uri)

    def _iter_accounts(self, collection: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
        """Read each account of the collection: its URI, resource and ETag header."""
        for member in collection.get("Members", []):
            uri = str(member["@odata.id"])
            response = self.request("get", uri)
            yield uri, response.json(), response.headers.get("ETag", "")

    @staticmethod
    def _is_reserved_slot(uri: str) -> bool:
        return uri.rsplit("/", 1)[-1] == "1"

    def _free_account_slot(self, collection: Mapping[str, Any], username: str) -> tuple[str, str]:
        """Return the URI and ETag of the first unused, disabled account slot, skipping the reserved slot 1."""
        for uri, account, etag in self._iter_accounts(
            {"Members": [m for m in collection.get("Members", []) if not self._is_reserved_slot(m["@odata.id"])]}
        ):
            if account.get("UserName") == "" and not account.get("Enabled"):
                return uri, etag
        raise RedfishError(f"No free account slot available to create user {username}")

    def _copy_admin_account_types(self, collection: Mapping[str, Any], username: str, account_uri: str) -> None:
        admin_types = self._admin_account_types(collection)
        if not admin_types:
            logger.info("No AccountTypes found for the admin user.")
            return
        logger.info("Setting AccountTypes equal to the admin user")
        response = self.request("get", account_uri)
        new_account = response.json()
        if all(new_account.get(key) == value for key, value in admin_types.items()):
            return
        logger.info("Setting AccountTypes, %s, for %s account.", admin_types, username)
        self.request(
            "patch",
            account_uri,
            json=admin_types,
            headers=self._if_match(response.headers.get("ETag", "")),
            timeout=30,
        )

    def _admin_account_types(self, collection: Mapping[str, Any]) -> dict[str, Any]:
        """Return the ``AccountTypes`` (and ``OEMAccountTypes`` when OEM is one) of the factory admin account."""
        members = [m for m in collection.get("Members", []) if not self._is_reserved_slot(m["@odata.id"])]
        for _uri, account, _etag in self._iter_accounts({"Members": members}):
            if account.get("UserName") == self.admin and "AccountTypes" in account:
                types = {"AccountTypes": account["AccountTypes"]}
                if "OEM" in account["AccountTypes"]:
                    types["OEMAccountTypes"] = account["OEMAccountTypes"]
                return types
        return {}

    @staticmethod
    def _if_match(etag: str) -> dict[str, str]:
        """The ``If-Match`` header for an ETag; none for a weak ETag, which some iDRAC 10 firmware fails to match."""
        if not etag or etag.startswith("W/"):
            return {}
        return {"If-Match": etag}

    def change_user_password(self, username: str, password: str) -> None:
        """Set a new password for the account with the given username.

        When it is the account this instance authenticates as, the instance switches to the new password.

        Arguments:
            username: the account's username.
            password: the new password.

        Raises:
            spicerack.redfish.RedfishError: if the account is not found or the change is refused.

        """
        user_uri, etag = self.find_account(username)
        logger.info("Changing password for the account with username %s: %s", username, user_uri)
        # Recent Dell consoles can take longer than the default timeout to answer a PATCH.
        response = self.request(
            "patch", user_uri, json={"Password": password}, headers=self._if_match(etag), timeout=30
        )
        if response.status_code != 200:
            raise RedfishError(f"Got unexpected HTTP {response.status_code}, expected 200:\n{response.text}")

        if username == self._username and not self._dry_run:
            self._password = password
            self._api_client.http_session.auth = (username, password)
            self._upload_session.auth = (username, password)
            logger.info("Updated current instance password to the new password")

        if not response.content:
            return
        try:
            payload = response.json()
        except JSONDecodeError as e:
            logger.info("No JSON response after changing the management password, moving on: %s", e)
            return
        for message in payload.get("@Message.ExtendedInfo", []) if isinstance(payload, dict) else []:
            identifier = f"{message.get('MessageId', '')} {message.get('Severity', '')}".strip()
            logger.info(
                "[%s] %s | Resolution: %s", identifier, message.get("Message", ""), message.get("Resolution", "")
            )

    def get_power_state(self) -> str:
        """Return the power state of the server (e.g. ``On``, ``Off``)."""
        raise NotImplementedError(f"{type(self).__name__} does not know where to read the power state")

    @property
    def is_uefi(self) -> bool:
        """Whether the server boots in UEFI mode; a BIOS without a boot mode setting means a UEFI-only server."""
        attributes = self._get_json(f"{self.system_manager}/Bios").get("Attributes", {})
        if self.boot_mode_attribute not in attributes:
            return True
        return "efi" in str(attributes[self.boot_mode_attribute]).lower()

    def chassis_reset(self, action: ChassisResetPolicy) -> None:
        """Change the power state of the server with a ``ComputerSystem.Reset`` action.

        Arguments:
            action: the reset to perform.

        Raises:
            spicerack.redfish.RedfishError: if the reset is refused.

        """
        logger.info("Resetting chassis power status for %s to %s", self._hostname, action.value)
        response = self.request(
            "post", f"{self.system_manager}/Actions/ComputerSystem.Reset", json={"ResetType": action.value}
        )
        if response.status_code not in (200, 204) and not self._dry_run:
            raise RedfishError(
                f"Got unexpected response HTTP {response.status_code}, expected HTTP 200/204: {response.text}"
            )


class DellSCP:
    """A Dell Server Configuration Profile as the Redfish API exports it (``ExportFormat`` JSON)."""

    def __init__(
        self, config: dict[str, Any], target: DellSCPTargetPolicy, *, allow_new_attributes: bool = False
    ) -> None:
        """Wrap an exported configuration.

        Arguments:
            config: the exported configuration, with its ``SystemConfiguration`` key.
            target: the sections the configuration covers.
            allow_new_attributes: let :py:meth:`set` add attributes missing from a component instead of raising
                (e.g. the keys that appear when switching the boot mode between BIOS and UEFI).

        """
        self._config = config
        self._target = target
        self._allow_new_attributes = allow_new_attributes
        self._emptied_components = False  # After empty_components() missing components are created too

    @property
    def config(self) -> dict[str, Any]:
        """The whole configuration, in Dell's format."""
        return self._config

    @property
    def target(self) -> DellSCPTargetPolicy:
        """The sections the configuration covers."""
        return self._target

    @property
    def _system_configuration(self) -> dict[str, Any]:
        try:
            system_configuration: dict[str, Any] = self._config["SystemConfiguration"]
        except KeyError as e:
            raise RedfishError("The SCP configuration has no SystemConfiguration section") from e
        return system_configuration

    @property
    def service_tag(self) -> str:
        """The Dell Service Tag of the server."""
        return str(self._system_configuration["ServiceTag"])

    @property
    def model(self) -> str:
        """The Dell model of the server."""
        return str(self._system_configuration["Model"])

    @property
    def timestamp(self) -> datetime:
        """When the configuration was exported (the iDRAC's clock, in UTC)."""
        return datetime.strptime(self._system_configuration["TimeStamp"], "%c").replace(tzinfo=UTC)

    @property
    def comments(self) -> list[str]:
        """The configuration's comments."""
        return [item["Comment"] for item in self._system_configuration.get("Comments", []) if "Comment" in item]

    @property
    def components(self) -> dict[str, dict[str, str]]:
        """The components' attributes as ``{component FQDD: {attribute name: value}}``, both levels sorted by key."""
        components: dict[str, dict[str, str]] = {}
        for component in self._system_configuration.get("Components", []):
            attributes = components.setdefault(component["FQDD"], {})
            for attribute in component.get("Attributes", []):
                attributes[attribute["Name"]] = attribute["Value"]
        return {name: dict(sorted(components[name].items())) for name in sorted(components)}

    def set(self, component_name: str, attribute_name: str, attribute_value: str) -> bool:
        """Set an attribute of a component, in this object only (push it with :py:meth:`RedfishDell.scp_push`).

        A changed attribute is marked ``Set On Import``. Comma separated lists are compared ignoring the space after
        each comma. A missing attribute is added if the object allows new attributes or its components were
        emptied; a missing component is added only after :py:meth:`empty_components`.

        Arguments:
            component_name: the FQDD of the component.
            attribute_name: the attribute's name.
            attribute_value: the new value.

        Returns:
            :py:data:`True` if the value was added or changed, :py:data:`False` if it already had that value.

        Raises:
            spicerack.redfish.RedfishError: if the component or attribute is missing and can't be added.

        """
        components: list[dict[str, Any]] = self._system_configuration.setdefault("Components", [])
        component = next((item for item in components if item["FQDD"] == component_name), None)
        if component is None:
            if not self._emptied_components:
                raise RedfishError(f"Unable to find component {component_name}")
            components.append(
                {
                    "FQDD": component_name,
                    "Attributes": [self._new_attribute(component_name, attribute_name, attribute_value)],
                }
            )
            return True

        attributes: list[dict[str, str]] = component.setdefault("Attributes", [])
        attribute = next((item for item in attributes if item["Name"] == attribute_name), None)
        if attribute is None:
            if not (self._allow_new_attributes or self._emptied_components):
                raise RedfishError(f"Unable to find attribute {component_name} -> {attribute_name}")
            attributes.append(self._new_attribute(component_name, attribute_name, attribute_value))
            return True

        if _normalize_list(attribute["Value"]) == _normalize_list(attribute_value):
            logger.info(
                "Skipped set of attribute %s -> %s, has already the correct value: %s",
                component_name,
                attribute_name,
                attribute["Value"],
            )
            return False

        logger.info(
            "Updated value for attribute %s -> %s%s: %s => %s",
            component_name,
            attribute_name,
            " (marked Set On Import to True)" if attribute.get("Set On Import") == "False" else "",
            attribute["Value"],
            attribute_value,
        )
        attribute["Value"] = attribute_value
        attribute["Set On Import"] = "True"
        return True

    @staticmethod
    def _new_attribute(component_name: str, attribute_name: str, attribute_value: str) -> dict[str, str]:
        logger.info(
            "Created attribute %s -> %s (with Set On Import True) with value %s",
            component_name,
            attribute_name,
            attribute_value,
        )
        return {"Name": attribute_name, "Value": attribute_value, "Set On Import": "True", "Comment": "Read and Write"}

    def update(self, changes: dict[str, dict[str, str]]) -> bool:
        """Set many attributes at once, in this object only (push them with :py:meth:`RedfishDell.scp_push`).

        Arguments:
            changes: ``{component FQDD: {attribute name: value}}``, as returned by :py:attr:`components`.

        Returns:
            :py:data:`True` if any value was added or changed.

        Raises:
            spicerack.redfish.RedfishError: if a component or attribute is missing and can't be added.

        """
        changed = False
        for component_name, attributes in changes.items():
            for attribute_name, attribute_value in attributes.items():
                changed |= self.set(component_name, attribute_name, attribute_value)
        return changed

    def empty_components(self) -> None:
        """Remove every component, to build a configuration from scratch: afterwards :py:meth:`set` adds anything."""
        self._system_configuration["Components"] = []
        self._emptied_components = True


class RedfishSupermicro(Redfish):
    """Redfish API of Supermicro management consoles."""

    system = "1"
    manager = "1"
    log_service = "Log1"
    reboot_message_id = "Event.1.0.SystemPowerAction"
    boot_mode_attribute = "BootModeSelect"
    http_boot_target = "Pxe"
    admin = "ADMIN"

    def get_power_state(self) -> str:
        """Return the power state of the computer system (e.g. ``On``, ``Off``)."""
        return str(self._field(self._get_json(self.system_manager), "PowerState", self.system_manager))

    def get_primary_mac(self) -> str:
        """Return the MAC address (lowercase) of the only network interface with PXE enabled in the BIOS.

        Raises:
            spicerack.redfish.RedfishError: if no or several interfaces have PXE enabled, or its MAC isn't found.

        """
        bios_attributes = self._get_json(f"{self.system_manager}/Bios").get("Attributes", {})
        pxe_enabled = [name for name, value in bios_attributes.items() if "LAN" in name and value != "Disabled"]
        pxe_interface = _single_pxe_interface(pxe_enabled)

        adapters = self._get_json(f"/redfish/v1/Chassis/{self.system}/NetworkAdapters").get("Members", [])
        for adapter_link in adapters:
            adapter = self._get_json(adapter_link["@odata.id"])
            # The BIOS attribute embeds the adapter model with underscores and without its last two characters.
            model = adapter.get("Model", "").replace("-", "_")[:-2]
            if not pxe_interface.startswith("OnboardLAN") and model not in pxe_interface:
                continue
            for controller in adapter.get("Controllers", []):
                for port_link in controller.get("Links", {}).get("Ports", []):
                    port_id = port_link["@odata.id"].rsplit("/", 1)[-1]
                    if f"LAN{port_id}" in pxe_interface:
                        port = self._get_json(port_link["@odata.id"])
                        return str(port["Ethernet"]["AssociatedMACAddresses"][0]).lower()

        raise RedfishError("No MAC found on the PXE enabled interface")

    def force_http_boot_once(self) -> None:
        """Make the next boot, and only that one, a UEFI HTTP boot.

        Raises:
            spicerack.redfish.RedfishError: if the server is not in UEFI mode or the change is refused.

        """
        if not self.is_uefi:
            raise RedfishError("HTTP boot is only possible for UEFI hosts.")
        logger.info("Setting the next boot to UEFI HTTP for %s", self._hostname)
        boot = {
            "BootSourceOverrideEnabled": "Once",
            "BootSourceOverrideTarget": self.http_boot_target,
            "BootSourceOverrideMode": "UEFI",
        }
        self.request("patch", self.system_manager, json={"Boot": boot})


class RedfishDell(Redfish):
    """Redfish API of Dell management consoles (iDRAC)."""

    system = "System.Embedded.1"
    manager = "iDRAC.Embedded.1"
    log_service = "Lclog"
    reboot_message_id = "RAC0182"
    boot_mode_attribute = "BootMode"
    http_boot_target = "UefiHttp"
    admin = "root"

    def __init__(
        self,
        hostname: str,
        interface: TypeInterface,
        username: str,
        password: str,
        *,
        dry_run: bool = True,
        scheme: str = "https",
        port: int | None = None,
    ) -> None:
        """Prepare the HTTP sessions; nothing is requested yet. See :py:class:`Redfish` for the arguments."""
        super().__init__(hostname, interface, username, password, dry_run=dry_run, scheme=scheme, port=port)
        self._generation = 0
        self._hw_model = 0

    @property
    def log_entries(self) -> str:
        """The URI of the Lifecycle Controller log entries (elsewhere on iDRAC 9 and older before firmware 4.10)."""
        if self.hw_model < 10 and self.firmware_version < version.Version("4.10"):
            return "/redfish/v1/Managers/Logs/Lclog"
        return super().log_entries

    @property
    def generation(self) -> int:
        """The server generation from the iDRAC model (e.g. 13 for iDRAC 8, 14 for iDRAC 9); 1 if unrecognized."""
        if self._generation == 0:
            match = re.search(r"\d+", self.oob_model)
            if match is None:
                logger.error("%s: Unrecognized iDRAC model %s, setting generation to 1", self._hostname, self.oob_model)
                self._generation = 1  # The least capable: keeps every workaround on
            else:
                self._generation = int(match.group(0))
        logger.debug("%s: iDRAC generation %s", self._hostname, self._generation)
        return self._generation

    @property
    def hw_model(self) -> int:
        """The iDRAC hardware model number (e.g. 9 for iDRAC 9), read on first use and then kept."""
        if not self._hw_model:
            self._update_hw_model()
        return self._hw_model

    def _update_hw_model(self) -> int:
        """Set the iDRAC model from the server generation; from generation 17 it is read from the iDRAC attributes."""
        generation = self.generation
        if generation < 13:
            hw_model = "iDRAC 7"
        elif generation == 13:
            hw_model = "iDRAC 8"
        elif generation <= 16:
            hw_model = "iDRAC 9"
        else:
            uri = f"{self.oob_manager}/Oem/Dell/DellAttributes/{self.manager}"
            hw_model = str(self._get_json(uri).get("Attributes", {}).get("Info.1.HWModel", ""))
        match = re.fullmatch(r"iDRAC (\d+)", hw_model)
        if match is None:
            raise RedfishError(f"{self._hostname}: Unrecognized iDRAC hardware model '{hw_model}'")
        self._hw_model = int(match.group(1))
        logger.debug("%s: iDRAC hardware model is '%s'", self._hostname, self._hw_model)
        return self._hw_model

    @property
    def scp_base_uri(self) -> str:
        """The prefix of the URIs of the Server Configuration Profile actions (``OemManager`` from iDRAC 10)."""
        endpoint = "OemManager" if self.hw_model >= 10 else "EID_674_Manager"
        return f"{self.oob_manager}/Actions/Oem/{endpoint}"

    @retry(
        tries=240,
        delay=timedelta(seconds=10),
        backoff_mode="constant",
        exceptions=(RedfishError,),
        dynamic_params_callbacks=(_one_try_in_dry_run,),
    )
    def wait_reboot_since(self, since: datetime) -> None:
        """Wait until the iDRAC answers again after a reboot later than ``since`` (up to 40 minutes).

        iDRAC 8 (generation 13 and older) is given two minutes before its log is read, as reading it too early can
        crash its Redfish service; after the reboot is seen there is a 30 seconds pause for the API to settle.

        Arguments:
            since: the time of the previous reboot, e.g. from :py:meth:`last_reboot`.

        Raises:
            spicerack.redfish.RedfishError: if no later reboot is seen in time.

        """
        self.check_connection()
        if self.generation < 14:
            logger.info("Sleeping for 2 minutes to let the iDRAC of %s boot", self._hostname)
            time.sleep(120)
        self._check_rebooted_since(since)
        logger.debug("%s: sleeping for 30 seconds for the Redfish API to settle", self._hostname)
        time.sleep(30)

    def _scp_target(self, target: DellSCPTargetPolicy) -> str | list[str]:
        # iDRAC 10 wants the Target as a list.
        return [target.value] if self.hw_model >= 10 else target.value

    def scp_dump(
        self, target: DellSCPTargetPolicy = DellSCPTargetPolicy.ALL, *, allow_new_attributes: bool = False
    ) -> DellSCP:
        """Export the Server Configuration Profile and return it.

        In DRY-RUN mode the export is not started and an empty configuration is returned.

        Arguments:
            target: the sections to export.
            allow_new_attributes: see :py:class:`DellSCP`.

        Raises:
            spicerack.redfish.RedfishError: if the export fails.
            spicerack.redfish.RedfishTaskNotCompletedError: if the export does not complete in time.

        """
        data = {"ExportFormat": "JSON", "ShareParameters": {"Target": self._scp_target(target)}}
        task_uri = self.submit_task(f"{self.scp_base_uri}.ExportSystemConfiguration", data)
        if not self._dry_run:
            time.sleep(_SCP_FIRST_POLL_DELAY)
        return DellSCP(self.poll_task(task_uri), target, allow_new_attributes=allow_new_attributes)

    def scp_push(
        self,
        scp: DellSCP,
        *,
        reboot: DellSCPRebootPolicy = DellSCPRebootPolicy.NO_REBOOT,
        power_state: DellSCPPowerStatePolicy = DellSCPPowerStatePolicy.ON,
        preview: bool = True,
    ) -> dict[str, Any]:
        """Import a Server Configuration Profile and return the results of the import task.

        Arguments:
            scp: the configuration to import.
            reboot: how to reboot to apply the changes.
            power_state: the power state to leave the host in afterwards.
            preview: only check the configuration (it parses, and the comments of the results tell whether it would
                change anything), without applying it; forces ``reboot`` to
                :py:attr:`DellSCPRebootPolicy.NO_REBOOT`.

        Raises:
            spicerack.redfish.RedfishError: if the import fails.
            spicerack.redfish.RedfishTaskNotCompletedError: if the import does not complete in time.

        """
        if preview:
            action = "ImportSystemConfigurationPreview"
            reboot = DellSCPRebootPolicy.NO_REBOOT
        else:
            action = "ImportSystemConfiguration"

        data = {
            "ImportBuffer": json.dumps(scp.config),  # The API wants the configuration as a JSON string in the JSON
            "ShareParameters": {"Target": self._scp_target(scp.target)},
            "HostPowerState": power_state.value,
            "ShutdownType": reboot.value,
        }
        task_uri = self.submit_task(f"{self.scp_base_uri}.{action}", data)
        task_result: dict[str, Any] = self.poll_task(task_uri)
        return task_result

    def get_power_state(self) -> str:
        """Return the power state of the chassis (e.g. ``On``, ``Off``)."""
        uri = f"/redfish/v1/Chassis/{self.system}"
        return str(self._field(self._get_json(uri), "PowerState", uri))

    def get_primary_mac(self) -> str:
        """Return the MAC address (lowercase) of the only network interface with PXE as legacy boot protocol.

        Raises:
            spicerack.redfish.RedfishError: if no or several interfaces have PXE enabled, or its MAC isn't found.

        """
        components = self.scp_dump(DellSCPTargetPolicy.NIC).components
        pxe_enabled = [name for name, attributes in components.items() if attributes.get("LegacyBootProto") == "PXE"]
        pxe_interface = _single_pxe_interface(pxe_enabled)

        system = self._get_json(self.system_manager)
        interfaces = self._get_json(system["EthernetInterfaces"]["@odata.id"]).get("Members", [])
        for interface in interfaces:
            if interface["@odata.id"].endswith(f"/{pxe_interface}"):
                return str(self._get_json(interface["@odata.id"])["MACAddress"]).lower()

        raise RedfishError("No MAC found on the PXE enabled interface")

    def force_http_boot_once(self) -> None:
        """Make the next boot, and only that one, a UEFI HTTP boot.

        Raises:
            spicerack.redfish.RedfishError: if the server is not in UEFI mode or the change is refused.

        """
        if not self.is_uefi:
            raise RedfishError("HTTP boot is only possible for UEFI hosts.")
        logger.info("Setting the next boot to UEFI HTTP for %s", self._hostname)
        boot = {"BootSourceOverrideEnabled": "Once", "BootSourceOverrideTarget": self.http_boot_target}
        if self.hw_model >= 10:
            uri = f"{self.system_manager}/Settings"
        else:
            uri = self.system_manager
            boot["BootSourceOverrideMode"] = "UEFI"  # Read-only on iDRAC 10
        self.request("patch", uri, json={"Boot": boot})


VENDOR_CLASSES: dict[str, type[Redfish]] = {"dell": RedfishDell, "supermicro": RedfishSupermicro}
"""The Redfish class for each supported manufacturer, by the manufacturer's lowercase name (Netbox's slug)."""


def resolve_management_interface(address: str) -> TypeInterface:
    """Return the address of a management console given as an IP address, a hostname or an FQDN (resolved by DNS).

    Arguments:
        address: the management console's IP address or name.

    Raises:
        spicerack.redfish.RedfishError: if the name does not resolve.

    """
    try:
        return ipaddress.ip_interface(address)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(address, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as e:
        raise RedfishError(f"Unable to resolve the management address {address}: {e}") from e
    return ipaddress.ip_interface(str(infos[0][4][0]).split("%", 1)[0])


def create_redfish(
    hostname: str,
    username: str,
    password: str,
    *,
    mgmt_address: str = "",
    manufacturer: str = "dell",
    dry_run: bool = True,
    scheme: str = "https",
    port: int | None = None,
) -> Redfish:
    """Return the Redfish client of the given manufacturer for a server's management console.

    Arguments:
        hostname: the server's name, used in logs; it is the management console's address too unless
            ``mgmt_address`` is given.
        username: the Redfish account.
        password: its password.
        mgmt_address: the management console's IP address, hostname or FQDN.
        manufacturer: ``dell`` or ``supermicro`` (any case).
        dry_run: whether this is a DRY-RUN.
        scheme: ``https`` or ``http``.
        port: the TCP port of the API, when not the scheme's default.

    Raises:
        spicerack.redfish.RedfishError: if the manufacturer is not supported or the address does not resolve.

    """
    try:
        redfish_class = VENDOR_CLASSES[manufacturer.lower()]
    except KeyError as e:
        supported = ", ".join(sorted(VENDOR_CLASSES))
        raise RedfishError(
            f"The manufacturer {manufacturer} of {hostname} is not supported by Redfish (supported: {supported})"
        ) from e

    interface = resolve_management_interface(mgmt_address or hostname)
    return redfish_class(hostname, interface, username, password, dry_run=dry_run, scheme=scheme, port=port)


def _task_completed(task: Mapping[str, Any]) -> bool:
    """Whether a task resource says it is over: it has a real ``EndTime`` or a final ``TaskState``."""
    if task.get("TaskState") in _TASK_FINAL_STATES:
        return True
    try:
        end_time = datetime.fromisoformat(task.get("EndTime", ""))
    except (TypeError, ValueError):  # Missing, or a placeholder such as Dell's TIME_NA
        return False
    if end_time.tzinfo is None:
        end_time = end_time.replace(tzinfo=_EPOCH.tzinfo)
    return end_time > _EPOCH


def _parse_version(value: Any, what: str) -> version.Version:
    try:
        return version.parse(str(value))
    except version.InvalidVersion as e:
        raise RedfishError(f"Unable to parse the {what} version {value!r}") from e


def _normalize_list(value: str) -> str:
    """Make comma separated lists with and without a space after each comma compare equal."""
    return value.replace(", ", ",")


def _single_pxe_interface(pxe_enabled: list[str]) -> str:
    if len(pxe_enabled) > 1:
        raise RedfishError(f"Found more than 1 NIC with PXE enabled: {pxe_enabled}")
    if not pxe_enabled:
        raise RedfishError("No PXE enabled NIC found")
    return pxe_enabled[0]
