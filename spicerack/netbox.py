"""Netbox: the inventory of physical servers and virtual machines, read and updated through its REST API.

The client library, pynetbox, is imported only when the first :py:class:`Netbox` instance is created, so that
importing this module (or :py:mod:`spicerack`) stays cheap.
"""

import importlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from ipaddress import IPv4Interface, IPv6Interface, ip_interface
from pathlib import Path
from typing import Any, ClassVar

from requests import Session
from requests.exceptions import RequestException
from wmflib.requests import http_session

from spicerack.config import load_yaml_mapping
from spicerack.decorators import retry
from spicerack.exceptions import SpicerackError

MANAGEMENT_IFACE_NAME: str = "mgmt"
"""The name of the servers' out-of-band management interface in Netbox."""
SERVER_ROLE_SLUG: str = "server"
"""The slug of the Netbox role of the devices that :py:class:`NetboxServer` accepts."""
NETBOX_DISCOVERY_RECORD: str = "netbox.discovery.wmnet"
"""The DNS name whose address is the active Netbox server's, see :py:meth:`spicerack.Spicerack.netbox_master_host`."""
SCRIPT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
"""The connect and read timeouts, in seconds, of the requests that run a Netbox script and fetch its result."""

logger = logging.getLogger(__name__)


class NetboxError(SpicerackError):
    """Any error of this module: invalid configuration, host not a server, forbidden change, failed update."""


class NetboxAPIError(NetboxError):
    """Netbox could not be reached or answered with an error, a timeout or something that is not its API's answer."""


class NetboxHostNotFoundError(NetboxError):
    """Netbox has no device nor virtual machine with the requested name."""


class NetboxScriptError(NetboxError):
    """A Netbox script could not be started or its result could not be fetched."""


def _pynetbox() -> Any:
    """Return the pynetbox module, importing it on first use."""
    return importlib.import_module("pynetbox")


def _one_line(error: BaseException) -> str:
    """Return the message of an exception on a single line, or its class name if it has none."""
    return " ".join(str(error).split()) or type(error).__name__


@contextmanager
def _api_errors(message: str) -> Iterator[None]:
    """Turn the failures of a request to Netbox into :py:class:`NetboxAPIError` prefixed with ``message``.

    Covers the error answers (pynetbox's ``RequestError``), the answers that are not JSON (``ContentError``) and the
    connection failures, timeouts and exhausted retries of requests.
    """
    pynetbox = _pynetbox()
    try:
        yield
    except (pynetbox.RequestError, pynetbox.ContentError, RequestException) as e:
        raise NetboxAPIError(f"{message}: {_one_line(e)}") from e


class Netbox:
    """Client of the Netbox API; in DRY-RUN mode its servers' updates only log what they would change."""

    def __init__(self, url: str, token: str, *, dry_run: bool = True) -> None:
        """Set up the client; Netbox is contacted only by the first request.

        The HTTP session has bounded timeouts and retries the idempotent requests a few times on errors 5xx.

        Arguments:
            url: the Netbox base URL (scheme, host and port if not the default; without ``/api``).
            token: the API token, read-only or read-write.
            dry_run: whether this is a DRY-RUN.

        """
        self._api = _pynetbox().api(url, token=token, threading=True)
        self._api.http_session = http_session(f"{self.__module__}.{self.__class__.__name__}")
        self._dry_run = dry_run

    @property
    def api(self) -> Any:
        """The underlying ``pynetbox.api`` instance, for the calls this class has no method for.

        Its updates are not DRY-RUN aware: prefer the methods of this class and of :py:class:`NetboxServer`.
        """
        return self._api

    def get_server(self, hostname: str) -> "NetboxServer":
        """Return the server (physical device or virtual machine) with the given name.

        Physical devices are looked up first, virtual machines only if there is no device with that name.

        Arguments:
            hostname: the server's short name.

        Raises:
            spicerack.netbox.NetboxHostNotFoundError: if there is neither a device nor a virtual machine with that
                name.
            spicerack.netbox.NetboxAPIError: if Netbox cannot be reached or its answer is an error or malformed.
            spicerack.netbox.NetboxError: if the device's role is not a server's.

        """
        with _api_errors("Error retrieving Netbox device"):
            server = self._find_one(self._api.dcim.devices, hostname, "device")
        if server is None:
            with _api_errors("Error retrieving Netbox VM"):
                server = self._find_one(self._api.virtualization.virtual_machines, hostname, "VM")
        if server is None:
            raise NetboxHostNotFoundError(hostname)

        with _api_errors(f"Error retrieving the Netbox details of {hostname}"):
            try:
                return NetboxServer(api=self._api, server=server, dry_run=self._dry_run)
            except (AttributeError, KeyError, TypeError) as e:
                raise NetboxAPIError(f"Malformed Netbox answer for {hostname}: {_one_line(e)}") from e

    @staticmethod
    def _find_one(endpoint: Any, name: str, kind: str) -> Any:
        """Return the only object of ``endpoint`` with the given name, :py:data:`None` if there is none."""
        try:
            return endpoint.get(name=name)
        except ValueError as e:  # pynetbox's get() matched several objects: the name filter was not applied
            raise NetboxAPIError(f"Malformed Netbox answer: several {kind}s named {name}") from e
        except (AttributeError, KeyError, TypeError) as e:
            raise NetboxAPIError(f"Malformed Netbox answer looking up the {kind} {name}: {_one_line(e)}") from e

    def run_script(self, name: str, *, commit: bool = False, params: dict[str, Any]) -> list[Any]:
        """Run a Netbox custom script and return its log once its job has completed.

        In DRY-RUN mode the script always runs with ``commit`` false, so that it changes nothing.

        Arguments:
            name: the script's full name (``module.ClassName``).
            commit: whether the script's changes are committed to Netbox's database.
            params: the script's input data.

        Raises:
            spicerack.netbox.NetboxScriptError: if the script cannot be started or its result is not available in
                time.

        """
        if self._dry_run and commit:
            logger.info("Running Netbox script %s with commit=False in DRY-RUN", name)
            commit = False

        try:
            with _api_errors(f"Failed to start Netbox script {name}"):
                script = self._api.extras.scripts.get(name)
        except NetboxAPIError as e:
            raise NetboxScriptError(str(e)) from e.__cause__
        if script is None:
            raise NetboxScriptError(f"Failed to start Netbox script {name}: no such script")

        headers = {"Authorization": f"Token {self._api.token}"}
        with http_session(f"{self.__module__}.{self.__class__.__name__}", timeout=SCRIPT_TIMEOUT) as session:
            try:
                response = session.post(script.url, headers=headers, json={"data": params, "commit": int(commit)})
                response.raise_for_status()
                job_url = response.json()["result"]["url"]
            except (RequestException, ValueError, KeyError, TypeError) as e:
                raise NetboxScriptError(f"Failed to start Netbox script {name}: {_one_line(e)}") from e

            logger.debug("Started Netbox script %s, waiting for its result at %s", name, job_url)
            try:
                script_log: list[Any] = _script_log(session, job_url, headers)
                return script_log
            except (RequestException, ValueError) as e:
                raise NetboxScriptError(f"Failed to get Netbox script results from {job_url}: {_one_line(e)}") from e


@retry(tries=30, backoff_mode="constant", exceptions=(ValueError, RequestException))
def _script_log(session: Session, job_url: str, headers: dict[str, str]) -> list[Any]:
    """Return the log of a script's job, retrying while the job has no result yet."""
    response = session.get(job_url, headers=headers)
    response.raise_for_status()
    data = response.json()
    if not isinstance(data, dict) or not (data.get("data") is None or isinstance(data["data"], dict)):
        raise ValueError(f"Unexpected job result from {job_url}")
    if data.get("data") is None:
        raise ValueError(f"No data yet in the job result {job_url}")
    log = data["data"].get("log")
    if not isinstance(log, list):
        raise ValueError(f"No log in the job result {job_url}")
    return log


def load_netbox_config(config_dir: str | Path, *, read_write: bool = False, dry_run: bool = True) -> tuple[str, str]:
    """Return the Netbox URL and the API token to use, from ``netbox/config.yaml`` in Spicerack's config directory.

    The file sets ``api_url``, ``api_token_ro`` and ``api_token_rw``. The read-write token is used only when asked
    for and not in DRY-RUN mode.

    Arguments:
        config_dir: Spicerack's configuration directory.
        read_write: whether the read-write token is needed.
        dry_run: whether this is a DRY-RUN.

    Raises:
        spicerack.netbox.NetboxError: if the file cannot be read or misses one of the keys.

    """
    config_file = Path(config_dir) / "netbox" / "config.yaml"
    config = load_yaml_mapping(config_file, description="Netbox config file", error=NetboxError)
    token_key = "api_token_rw" if read_write and not dry_run else "api_token_ro"
    for key in ("api_url", token_key):
        if not isinstance(config.get(key), str) or not config[key]:
            raise NetboxError(f"The Netbox config file {config_file} must set {key} to a non-empty string")
    return config["api_url"], config[token_key]


def redfish_target(netbox: Netbox, hostname: str) -> tuple[str, str]:
    """Return the management console's address (with prefix length) and the manufacturer's slug of a server.

    Arguments:
        netbox: the Netbox client.
        hostname: the server's short name.

    Raises:
        spicerack.exceptions.SpicerackError: if the server is a virtual machine, has no management address or its
            manufacturer has no Redfish support.

    """
    from spicerack.redfish import VENDOR_CLASSES  # noqa: PLC0415 - the Redfish module is needed only here

    server = netbox.get_server(hostname)
    if server.virtual:
        raise SpicerackError(f"Host {hostname} is not a Physical server, Redfish is not supported.")
    with _api_errors(f"Unable to get the management address of {hostname}"):
        address = netbox.api.ipam.ip_addresses.get(device=hostname, interface=MANAGEMENT_IFACE_NAME)
    if address is None:
        raise NetboxError(f"Server {hostname} has no management address in Netbox.")
    manufacturer = server.as_dict()["device_type"]["manufacturer"]["slug"]
    if manufacturer not in VENDOR_CLASSES:
        raise SpicerackError(f"The manufacturer {manufacturer} set in Netbox for {hostname} is not supported.")
    return str(address.address), str(manufacturer)


def _api_call(message: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a method so that the failures of its requests raise :py:class:`NetboxAPIError`."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(func)
        def wrapper(self: "NetboxServer", *args: Any, **kwargs: Any) -> Any:
            with _api_errors(f"{message} for {self.name}"):
                return func(self, *args, **kwargs)

        return wrapper

    return decorator


class NetboxServer:
    """A server in Netbox: a device with the server role or a virtual machine.

    The setters change Netbox at once (nothing is written in DRY-RUN mode, they only log the change); most of them
    are for physical servers only, as virtual machines are kept in sync from Ganeti.
    """

    allowed_status_transitions: ClassVar[dict[str, tuple[str, ...]]] = {
        "spare": ("planned", "failed", "decommissioned"),
        "planned": ("active", "failed", "decommissioned"),
        "failed": ("spare", "planned", "active", "decommissioned"),
        "active": ("failed", "decommissioned"),
        "decommissioned": ("planned", "spare"),
    }
    """For each status, the statuses a physical server may move to (the server lifecycle)."""

    def __init__(self, *, api: Any, server: Any, dry_run: bool = True) -> None:
        """Wrap a device or virtual machine object of pynetbox.

        Arguments:
            api: the ``pynetbox.api`` instance the object comes from.
            server: the ``dcim.devices`` or ``virtualization.virtual_machines`` object.
            dry_run: whether this is a DRY-RUN.

        Raises:
            spicerack.netbox.NetboxError: if the object's role is not the server role.

        """
        self._api = api
        self._server = server
        self._dry_run = dry_run
        self._mgmt_fqdn = ""  # Looked up once: it costs a request
        self._virtual = _is_virtual(server)
        role = server.role.slug
        if role != SERVER_ROLE_SLUG:
            raise NetboxError(f"Object of type {type(server)} has invalid role {role}, only server is allowed")

    @property
    def virtual(self) -> bool:
        """Whether the server is a virtual machine (:py:data:`False` for a physical device)."""
        return self._virtual

    @property
    def name(self) -> str:
        """The server's name; setting it (physical servers only) renames the FQDNs of its addresses too.

        Raises:
            spicerack.netbox.NetboxError: on a virtual machine or if Netbox does not apply the change.

        """
        return str(self._server.name)

    @name.setter
    def name(self, new: str) -> None:
        current = self._server.name
        self._require_physical("changing the name is only for physical servers")
        if new == current:
            logger.debug("Current name is already %s", current)
            return
        if self._dry_run:
            logger.info("Skipping Netbox name change from %s to %s in DRY-RUN.", current, new)
            return

        self._server.name = new
        with _api_errors(f"Unable to rename {current} to {new}"):
            saved = self._server.save()
        if not saved:
            raise NetboxError(f"Name change for {current} didn't get applied by Netbox.")
        logger.debug("Updated Netbox name from %s to %s", current, new)
        self.fqdn = _rename_fqdn(self.fqdn, new)
        self.mgmt_fqdn = _rename_fqdn(self.mgmt_fqdn, new)

    @property
    def status(self) -> str:
        """The server's status (e.g. ``active``); setting it (physical servers only) follows the allowed transitions.

        The value set is lower-cased; see :py:attr:`allowed_status_transitions`.

        Raises:
            spicerack.netbox.NetboxError: on a virtual machine or for a transition that is not allowed.

        """
        return str(self._server.status.value)

    @status.setter
    @_api_call("Unable to update the Netbox status")
    def status(self, value: str) -> None:
        if self._virtual:
            raise NetboxError(
                f"Server {self._server.name} is a virtual machine, its Netbox status is automatically synced from "
                "Ganeti."
            )
        current = self._server.status.value
        new = value.lower()
        allowed = self.allowed_status_transitions.get(current, ())
        if new not in allowed:
            raise NetboxError(
                f"Forbidden Netbox status transition between {current} and {new} for device {self._server.name}. "
                f"Possible values are: {allowed}"
            )
        if self._dry_run:
            logger.info(
                "Skipping Netbox status change from %s to %s for device %s in DRY-RUN.", current, new, self._server.name
            )
            return

        self._server.status = new
        self._server.save()
        logger.debug("Updated Netbox status from %s to %s for device %s", current, new, self._server.name)

    @property
    def primary_ip4_address(self) -> IPv4Interface | None:
        """The primary IPv4 address with its prefix length, :py:data:`None` if there is none.

        Setting it changes the address of the existing primary IPv4 object (a string without prefix length means
        ``/32``).

        Raises:
            spicerack.netbox.NetboxError: if the value is not an IPv4, is already in Netbox or there is no primary
                IPv4 to change.

        """
        address = self._server.primary_ip4
        return IPv4Interface(address.address) if address else None

    @primary_ip4_address.setter
    def primary_ip4_address(self, value: str | IPv4Interface) -> None:
        self._set_primary_ip(value, 4)

    @property
    def primary_ip6_address(self) -> IPv6Interface | None:
        """The primary IPv6 address with its prefix length, :py:data:`None` if there is none.

        Setting it changes the address of the existing primary IPv6 object (a string without prefix length means
        ``/128``).

        Raises:
            spicerack.netbox.NetboxError: if the value is not an IPv6, is already in Netbox or there is no primary
                IPv6 to change.

        """
        address = self._server.primary_ip6
        return IPv6Interface(address.address) if address else None

    @primary_ip6_address.setter
    def primary_ip6_address(self, value: str | IPv6Interface) -> None:
        self._set_primary_ip(value, 6)

    @_api_call("Unable to update the primary IP")
    def _set_primary_ip(self, value: str | IPv4Interface | IPv6Interface, version: int) -> None:
        """Change the address of the primary IP object of the given version."""
        try:
            new = ip_interface(value)
        except ValueError as e:
            raise NetboxError(f"{value} is not a valid IP in the CIDR notation.") from e
        if new.version != version:
            raise NetboxError(f"{value} is not an IPv{version}")
        primary_ip = getattr(self._server, f"primary_ip{version}")
        if not primary_ip:
            raise NetboxError(f"No existing primary IPv{version} for {self._server.name}.")
        if self._api.ipam.ip_addresses.count(address=str(new)):
            raise NetboxError(f"{new} is already in use.")

        current = primary_ip.address
        if self._dry_run:
            logger.info(
                "Skipping Netbox primary IPv%d change from %s to %s for device %s in DRY-RUN.",
                version,
                current,
                value,
                self._server.name,
            )
            return
        primary_ip.address = str(new)
        primary_ip.save()
        logger.debug(
            "Updated Netbox primary IPv%d from %s to %s for device %s", version, current, value, self._server.name
        )

    @property
    def primary_mac_address(self) -> str | None:
        """The MAC address of the interface the primary IP is assigned to (:py:data:`None` if it has none).

        Raises:
            spicerack.netbox.NetboxError: if there is no primary IP, it is not assigned to an interface or Netbox
                does not apply the change.

        """
        mac_address = self._primary_interface_or_fail().mac_address
        return None if mac_address is None else str(mac_address)

    @primary_mac_address.setter
    @_api_call("Unable to update the primary MAC address")
    def primary_mac_address(self, new_mac: str | None) -> None:
        interface = self._primary_interface_or_fail()
        current = interface.mac_address
        if self._dry_run:
            logger.info(
                "Skipping Netbox primary MAC change from %s to %s for device %s in DRY-RUN.",
                current,
                new_mac,
                self._server.name,
            )
            return
        interface.mac_address = new_mac
        if not interface.save():
            raise NetboxError(f"Spicerack was not able to update the primary MAC for {self._server.name}.")
        logger.debug("Updated Netbox primary MAC from %s to %s for device %s", current, new_mac, self._server.name)

    @_api_call("Unable to get the primary interface")
    def _primary_interface_or_fail(self) -> Any:
        """Return the interface the primary IP is assigned to."""
        try:
            interface = self._server.primary_ip.assigned_object
            interface.mac_address  # noqa: B018 - the interface must have the attribute
        except AttributeError as e:
            raise NetboxError(
                f"No primary IP or primary IP not assigned to an interface for {self._server.name}."
            ) from e
        return interface

    @property
    def access_vlan(self) -> str:
        """The untagged VLAN of the switch port of the primary interface, empty if not set (physical servers only).

        Setting it looks up an active VLAN of that name and assigns it to the switch port.

        Raises:
            spicerack.netbox.NetboxError: on a virtual machine, if the primary interface cannot be found or is not
                connected, or if there is no active VLAN of that name.

        """
        vlan = self._switch_interface().untagged_vlan
        return str(vlan.name) if vlan else ""

    @access_vlan.setter
    @_api_call("Unable to update the access VLAN")
    def access_vlan(self, value: str) -> None:
        switch_interface = self._switch_interface()
        vlan = self._api.ipam.vlans.get(name=value, status="active")
        if not vlan:
            raise NetboxError(f"Failed to find an active VLAN with name {value}")
        current = switch_interface.untagged_vlan.name if switch_interface.untagged_vlan else "NOT SET"
        if self._dry_run:
            logger.info(
                "Skipping Netbox update of switchport access vlan from %s to %s for device %s in DRY-RUN.",
                current,
                value,
                self._server.name,
            )
            return
        switch_interface.untagged_vlan = vlan
        switch_interface.save()
        logger.debug(
            "Updated Netbox switchport access vlan from %s to %s for device %s", current, value, self._server.name
        )

    @_api_call("Unable to find the switch interface")
    def _switch_interface(self) -> Any:
        """Return the switch interface at the other end of the cable of the primary interface."""
        if self._virtual:
            raise NetboxError("Server is a virtual machine, can't return a switch interface.")
        primary_ip = self._server.primary_ip
        if not primary_ip:
            raise NetboxError("No primary IP, needed to find the primary interface.")
        interface = primary_ip.assigned_object
        if not interface:
            raise NetboxError("Primary IP not assigned to an interface.")
        if interface.type.value == "bridge":  # The physical port is the one member of the bridge that is cabled
            interface = self._api.dcim.interfaces.get(
                device_id=self._server.id,
                bridge_id=interface.id,
                type__n=("virtual", "lag", "bridge"),
                mgmt_only=False,
            )
        endpoints = interface.connected_endpoints if interface else None
        if not endpoints:
            raise NetboxError("Primary interface not connected.")
        return endpoints[0]  # One cable termination per side

    @property
    def fqdn(self) -> str:
        """The DNS name of the primary IPv4, else of the primary IPv6.

        Setting it (physical servers only) changes the DNS name of each primary IP that already has one, so that no
        AAAA record appears by accident.

        Raises:
            spicerack.netbox.NetboxError: if no primary IP has a DNS name, on a virtual machine or if Netbox does
                not apply the change.

        """
        for address in (self._server.primary_ip4, self._server.primary_ip6):
            if address is not None and address.dns_name:
                return str(address.dns_name)
        raise NetboxError(f"Server {self._server.name} does not have any primary IP with a DNS name set.")

    @fqdn.setter
    @_api_call("Unable to update the FQDN")
    def fqdn(self, value: str) -> None:
        self._require_physical("changing the FQDN is only for physical servers")
        for attr_name in ("primary_ip4", "primary_ip6"):
            address = getattr(self._server, attr_name)
            if address is None or not address.dns_name:
                continue
            if address.dns_name == value:
                logger.debug("Current dns_name of %s is already %s", attr_name, value)
                continue
            if self._dry_run:
                logger.info("Skipping Netbox %s dns_name change to %s in DRY-RUN.", attr_name, value)
                continue
            address.dns_name = value
            if not address.save():
                raise NetboxError(f"Spicerack was not able to update the {attr_name} FQDN for {self._server.name}.")
            logger.debug("Updated %s dns_name to %s", attr_name, value)

    @property
    def mgmt_fqdn(self) -> str:
        """The DNS name of the management interface's address (physical servers only), looked up once.

        Setting it changes that DNS name; nothing happens if the server has no management address.

        Raises:
            spicerack.netbox.NetboxError: on a virtual machine, if the management address has no DNS name or if
                Netbox does not apply the change.

        """
        if self._virtual:
            raise NetboxError(f"Server {self._server.name} is a virtual machine, does not have a management address.")
        if not self._mgmt_fqdn:
            address = self._mgmt_address()
            if address is None or not address.dns_name:
                raise NetboxError(f"Server {self._server.name} has no management interface with a DNS name set.")
            self._mgmt_fqdn = str(address.dns_name)
        return self._mgmt_fqdn

    @mgmt_fqdn.setter
    @_api_call("Unable to update the management FQDN")
    def mgmt_fqdn(self, value: str) -> None:
        self._require_physical("changing the mgmt FQDN is only for physical servers")
        address = self._mgmt_address()
        if address is None:
            logger.debug("No management address for %s, no mgmt FQDN to change", self._server.name)
            return
        if address.dns_name == value:
            logger.debug("Current mgmt dns_name is already %s", value)
            self._mgmt_fqdn = value
            return
        if self._dry_run:
            logger.info("Skipping Netbox mgmt dns_name change to %s in DRY-RUN.", value)
            return
        address.dns_name = value
        if not address.save():
            raise NetboxError(f"Spicerack was not able to update the mgmt_fqdn for {self._server.name}.")
        self._mgmt_fqdn = value
        logger.debug("Updated mgmt FQDN to %s", value)

    @_api_call("Unable to get the management address")
    def _mgmt_address(self) -> Any:
        """Return the IP address object of the management interface, :py:data:`None` if there is none."""
        return self._api.ipam.ip_addresses.get(device=self._server.name, interface=MANAGEMENT_IFACE_NAME)

    @property
    def asset_tag_fqdn(self) -> str:
        """The management FQDN with the asset tag (lower case) instead of the hostname.

        Raises:
            spicerack.netbox.NetboxError: if there is no management FQDN (see :py:attr:`mgmt_fqdn`).

        """
        return _rename_fqdn(self.mgmt_fqdn, str(self._server.asset_tag).lower())

    @property
    @_api_call("Unable to get the switches")
    def switches(self) -> list[str]:
        """The sorted names of the switches the server's cabled, non-management interfaces are connected to.

        Raises:
            spicerack.netbox.NetboxError: on a virtual machine.

        """
        if self._virtual:
            raise NetboxError(f"Server {self._server.name} is a virtual machine, not connected to a switch.")
        interfaces = self._api.dcim.interfaces.filter(
            device_id=self._server.id,
            mgmt_only=False,
            cabled=True,
            connected=True,
            connected_endpoints_type="dcim.interface",
        )
        return sorted({endpoint.device.name for iface in interfaces for endpoint in iface.connected_endpoints or ()})

    @property
    def bgp(self) -> bool:
        """The ``bgp`` custom field: whether the server speaks BGP with its switches."""
        return bool(self._server.custom_fields["bgp"])

    @bgp.setter
    @_api_call("Unable to update the BGP custom field")
    def bgp(self, value: bool) -> None:
        current = self._server.custom_fields["bgp"]
        if current == value:
            logger.info("Netbox BGP custom field is already %s for device %s.", current, self._server.name)
            return
        if self._dry_run:
            logger.info(
                "Skipping Netbox BGP custom field change from %s to %s for device %s in DRY-RUN.",
                current,
                value,
                self._server.name,
            )
            return
        self._server.custom_fields["bgp"] = value
        self._server.save()

    def as_dict(self) -> dict[str, Any]:
        """Return the server's Netbox data as a dictionary, with ``is_virtual`` added."""
        data = dict(self._server)
        data["is_virtual"] = self._virtual
        return data

    def _require_physical(self, what: str) -> None:
        """Raise :py:class:`NetboxError` on a virtual machine, ``what`` saying what is only for physical servers."""
        if self._virtual:
            raise NetboxError(f"Server {self._server.name} is a virtual machine, {what}.")


def _is_virtual(server: Any) -> bool:
    """Whether a server object is a virtual machine: unlike physical devices, it has no ``rack`` field.

    On pynetbox's objects the field is looked up among the fields of the answer only, so that a virtual machine
    does not cost a request for its full details (pynetbox fetches them on access to a missing attribute).
    """
    if isinstance(server, _pynetbox().core.response.Record):
        return "rack" not in vars(server)
    return not hasattr(server, "rack")


def _rename_fqdn(fqdn: str, hostname: str) -> str:
    """Return ``fqdn`` with its first label replaced by ``hostname``."""
    return ".".join([hostname, *fqdn.split(".")[1:]])
