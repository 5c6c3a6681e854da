"""Silence alerts on Prometheus Alertmanager through its v2 API, for any set of matchers or for a set of hosts.

The Alertmanager instances are described in ``<spicerack_config_dir>/alertmanager/config.yaml``::

    default_instance: production
    instances:
      production:
        urls:  # all the members of the cluster: each request goes to the first one that answers
          - https://alertmanager1.example.org
          - https://alertmanager2.example.org
      other:
        urls: [https://alertmanager.other.example.org]
        http_use_proxy: true  # go through the configured http_proxy
        http_username: spicerack  # HTTP basic authentication, when both are set
        http_password: secret
"""

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cumin import NodeSet, nodeset_fromlist
from requests import Response
from requests.auth import AuthBase, HTTPBasicAuth
from requests.exceptions import RequestException
from wmflib.requests import DEFAULT_RETRY_STATUS_CODES, http_session

from spicerack._downtime import removed_after
from spicerack.administrative import Reason
from spicerack.config import load_yaml_mapping
from spicerack.exceptions import SpicerackError
from spicerack.typing import TypeHosts

logger = logging.getLogger(__name__)

MatchersType = Sequence[Mapping[str, str | int | float | bool]]
"""A list of Alertmanager matchers: dicts with ``name``, ``value``, ``isRegex`` and optionally ``isEqual``."""
PORT_REGEX: str = r"(\..+)?(:[0-9]+)?"
"""Appended to each host name in the ``instance`` matcher: an optional domain and an optional port."""
HTTP_TIMEOUT: float = 2.0
"""Timeout of each request to Alertmanager, in seconds."""
HTTP_TRIES: int = 3
"""How many times a failed connection or a retryable status (429, 502, 503, 504) is retried."""
HTTP_BACKOFF: float = 1.0
"""Backoff factor between retries, see :py:func:`wmflib.requests.http_session`."""
CONFIG_PATH: tuple[str, str] = ("alertmanager", "config.yaml")
"""Where the configuration is, below Spicerack's configuration directory."""


class AlertmanagerError(SpicerackError):
    """An Alertmanager operation failed or was asked with invalid parameters."""

    def __init__(self, message: str, response: Response | None = None) -> None:
        """Keep the last response received from Alertmanager, when there was one.

        Arguments:
            message: the error message.
            response: the last response from Alertmanager, if any.

        """
        super().__init__(message)
        self.response = response


class Alertmanager:
    """Create and remove silences (downtimes) on an Alertmanager instance or cluster."""

    def __init__(
        self,
        *,
        alertmanager_urls: Sequence[str],
        http_authentication: AuthBase | None = None,
        http_proxies: dict[str, str] | None = None,
        dry_run: bool = True,
    ) -> None:
        """Set up the HTTP session to the Alertmanager instances.

        Arguments:
            alertmanager_urls: the base URLs of the Alertmanager instances; for a cluster list all its members:
                each request goes to the first one that succeeds.
            http_authentication: the ``requests`` authentication to use, if any.
            http_proxies: the proxies to use, in the ``requests`` format, if any.
            dry_run: whether this is a DRY-RUN: silences are then neither created nor removed.

        Raises:
            spicerack.alertmanager.AlertmanagerError: if no URL is given.

        """
        if not alertmanager_urls:
            raise AlertmanagerError("At least one alertmanager URL is required.")

        # Alertmanager answers HTTP 500 with a meaningful JSON body to some requests (e.g. deleting an unknown
        # silence): take that first answer instead of retrying it.
        self._http_session = http_session(
            f"{self.__module__}.{type(self).__name__}",
            timeout=HTTP_TIMEOUT,
            tries=HTTP_TRIES,
            backoff=HTTP_BACKOFF,
            retry_codes=tuple(code for code in DEFAULT_RETRY_STATUS_CODES if code != 500),
        )
        self._alertmanager_urls = [url.rstrip("/") for url in alertmanager_urls]
        self._http_authentication = http_authentication
        if http_authentication is not None:
            self._http_session.auth = http_authentication
        self._http_proxies = http_proxies
        if http_proxies:
            self._http_session.proxies.update(http_proxies)
        self._dry_run = dry_run

    @contextmanager
    def downtimed(
        self,
        reason: Reason,
        *,
        matchers: MatchersType,
        duration: timedelta = timedelta(hours=4),
        remove_on_error: bool = False,
    ) -> Iterator[None]:
        """Run the body of the ``with`` statement while the alerts matching ``matchers`` are silenced.

        The silence is removed when the body completes. When the body raises, it is left in place (to expire at
        the end of ``duration``) unless ``remove_on_error`` is set.

        Arguments:
            reason: why the alerts are silenced.
            matchers: the matchers of the silence; an alert is silenced when it matches all of them.
            duration: how long the silence lasts at most.
            remove_on_error: remove the silence also when the body raises.

        Raises:
            spicerack.alertmanager.AlertmanagerError: if the silence cannot be created or removed.

        """
        downtime_id = self.downtime(reason, matchers=matchers, duration=duration)
        with removed_after(lambda: self.remove_downtime(downtime_id), remove_on_error=remove_on_error):
            yield

    def downtime(self, reason: Reason, *, matchers: MatchersType, duration: timedelta = timedelta(hours=4)) -> str:
        """Create a silence for the alerts matching all the given matchers, starting now.

        Arguments:
            reason: why the alerts are silenced: its text is the silence's comment, its owner the silence's author.
            matchers: the matchers of the silence; an alert is silenced when it matches all of them.
            duration: how long the silence lasts, must be positive.

        Returns:
            The ID of the new silence; an empty string in DRY-RUN mode, where no silence is created.

        Raises:
            spicerack.alertmanager.AlertmanagerError: if the parameters are invalid or no Alertmanager instance
                accepted the silence.

        """
        if not isinstance(reason, Reason):
            raise AlertmanagerError(
                f"The reason must be a Reason instance (see spicerack.admin_reason()), got {reason!r}"
            )
        _validate_matchers(matchers)
        if duration <= timedelta(0):
            raise AlertmanagerError(f"The downtime duration must be positive, got {duration}")

        start = datetime.now().astimezone(UTC)  # Alertmanager gets UTC times, whatever the local time zone
        payload = {
            "matchers": [dict(matcher) for matcher in matchers],
            "startsAt": start.isoformat(),
            "endsAt": (start + duration).isoformat(),
            "comment": str(reason),
            "createdBy": reason.owner,
        }
        if self._dry_run:
            logger.info("Would have created a silence for %s with matchers %s", duration, payload["matchers"])

        response = self._api_request("post", "silences", json=payload)
        if self._dry_run:
            return ""

        silence_id = _silence_id(response)
        logger.info("Created silence ID %s for %s", silence_id, duration)
        return silence_id

    def remove_downtime(self, downtime_id: str) -> None:
        """Remove (expire) a silence; a silence already expired is left as it is, with a warning.

        Arguments:
            downtime_id: the ID of the silence, as returned by :py:meth:`downtime`.

        Raises:
            spicerack.alertmanager.AlertmanagerError: if no Alertmanager instance removed the silence.

        """
        if self._dry_run:
            logger.info("Would have deleted silence ID %s", downtime_id)
        elif not downtime_id:
            raise AlertmanagerError("No silence ID given to remove")

        try:
            self._api_request("delete", f"silence/{downtime_id}")
        except AlertmanagerError as e:
            if _is_already_expired(e.response):
                logger.warning("Silence ID %s has been already deleted or is expired", downtime_id)
                return
            raise

        if not self._dry_run:
            logger.info("Deleted silence ID %s", downtime_id)

    def hosts(self, target_hosts: TypeHosts, *, verbatim_hosts: bool = False) -> "AlertmanagerHosts":
        """Return an :py:class:`AlertmanagerHosts` for the given hosts, on the same Alertmanager instances.

        Arguments:
            target_hosts: the hosts, as a NodeSet or a sequence of names.
            verbatim_hosts: use the host names as they are, instead of taking them as FQDNs and keeping the first
                label only.

        Raises:
            spicerack.alertmanager.AlertmanagerError: if no host is given.

        """
        return AlertmanagerHosts(
            target_hosts,
            verbatim_hosts=verbatim_hosts,
            alertmanager_urls=self._alertmanager_urls,
            http_authentication=self._http_authentication,
            http_proxies=self._http_proxies,
            dry_run=self._dry_run,
        )

    def _api_request(self, method: str, path: str, json: Mapping[str, Any] | None = None) -> Response:
        """Send a v2 API request to the first Alertmanager instance that answers successfully.

        Arguments:
            method: the HTTP method.
            path: the path below ``/api/v2/``.
            json: the JSON body, if any.

        Raises:
            spicerack.alertmanager.AlertmanagerError: if no instance answered successfully.

        """
        response: Response | None = None
        last_error = ""
        for base_url in self._alertmanager_urls:
            url = f"{base_url}/api/v2/{path}"
            if self._dry_run and method.lower() not in ("get", "head"):
                logger.debug("Would have called %s %s", method.upper(), url)
                dummy = Response()
                dummy.status_code = 200
                return dummy

            try:
                answer = self._http_session.request(method, url, json=json)
                answer.raise_for_status()
                return answer
            except RequestException as e:
                if e.response is not None:
                    response = e.response
                last_error = _describe_failure(e)
                logger.error("Failed to %s to %s: %s", method.upper(), url, last_error)

        raise AlertmanagerError(
            f"Unable to {method.upper()} to any Alertmanager: {self._alertmanager_urls} (last error: {last_error})",
            response,
        )


class AlertmanagerHosts(Alertmanager):
    """Create and remove silences on Alertmanager for the alerts of a set of hosts (their ``instance`` label)."""

    def __init__(
        self,
        target_hosts: TypeHosts,
        *,
        verbatim_hosts: bool = False,
        alertmanager_urls: Sequence[str],
        http_authentication: AuthBase | None = None,
        http_proxies: dict[str, str] | None = None,
        dry_run: bool = True,
    ) -> None:
        """Keep the hosts to silence and set up the HTTP session to the Alertmanager instances.

        Arguments:
            target_hosts: the hosts, as a NodeSet or a sequence of names; a name may end with ``:port`` to silence
                that one instance only.
            verbatim_hosts: use the host names as they are, instead of taking them as FQDNs and keeping the first
                label only.
            alertmanager_urls: the base URLs of the Alertmanager instances (see :py:class:`Alertmanager`).
            http_authentication: the ``requests`` authentication to use, if any.
            http_proxies: the proxies to use, in the ``requests`` format, if any.
            dry_run: whether this is a DRY-RUN.

        Raises:
            spicerack.alertmanager.AlertmanagerError: if no host or no URL is given.

        """
        super().__init__(
            alertmanager_urls=alertmanager_urls,
            http_authentication=http_authentication,
            http_proxies=http_proxies,
            dry_run=dry_run,
        )
        if isinstance(target_hosts, str):
            raise AlertmanagerError(
                f"Target hosts must be a NodeSet or a sequence of names, got the string {target_hosts!r}"
            )

        if verbatim_hosts and isinstance(target_hosts, NodeSet):
            self._target_hosts: NodeSet = target_hosts.copy()
        else:
            names = list(target_hosts) if verbatim_hosts else [host.split(".")[0] for host in target_hosts]
            self._target_hosts = nodeset_fromlist(names)
        if not self._target_hosts:
            raise AlertmanagerError("Got empty target hosts list.")

        self._verbatim_hosts = verbatim_hosts

    @contextmanager
    def downtimed(
        self,
        reason: Reason,
        *,
        matchers: MatchersType = (),
        duration: timedelta = timedelta(hours=4),
        remove_on_error: bool = False,
    ) -> Iterator[None]:
        """Run the body of the ``with`` statement while the alerts of the hosts are silenced.

        The silence is removed when the body completes. When the body raises, it is left in place (to expire at
        the end of ``duration``) unless ``remove_on_error`` is set.

        Arguments:
            reason: why the hosts are silenced.
            matchers: further matchers, added to the one on the ``instance`` label built from the hosts (which
                they cannot target themselves).
            duration: how long the silence lasts at most.
            remove_on_error: remove the silence also when the body raises.

        Raises:
            spicerack.alertmanager.AlertmanagerError: if the silence cannot be created or removed.

        """
        downtime_id = self.downtime(reason, matchers=matchers, duration=duration)
        with removed_after(lambda: self.remove_downtime(downtime_id), remove_on_error=remove_on_error):
            yield

    def downtime(self, reason: Reason, *, matchers: MatchersType = (), duration: timedelta = timedelta(hours=4)) -> str:
        """Create a silence for the alerts of the hosts, starting now.

        Arguments:
            reason: why the hosts are silenced.
            matchers: further matchers, added to the one on the ``instance`` label built from the hosts (which
                they cannot target themselves).
            duration: how long the silence lasts, must be positive.

        Returns:
            The ID of the new silence; an empty string in DRY-RUN mode, where no silence is created.

        Raises:
            spicerack.alertmanager.AlertmanagerError: if the parameters are invalid or no Alertmanager instance
                accepted the silence.

        """
        if any(matcher.get("name") == "instance" for matcher in matchers):
            raise AlertmanagerError("Matchers cannot target the instance property.")

        instance_matcher: dict[str, str | int | float | bool] = {
            "name": "instance",
            "value": self._instance_regex(),
            "isRegex": True,
        }
        return super().downtime(reason, matchers=[*matchers, instance_matcher], duration=duration)

    def _instance_regex(self) -> str:
        """Return the regular expression matching the ``instance`` label of every target host.

        Hosts given with a port match that port only; the others match any domain suffix and port. When no host has a
        port the optional suffix is factored out of the alternation.
        """
        hosts = sorted(self._target_hosts)
        if all(":" not in host for host in hosts):
            return f"^({'|'.join(re.escape(host) for host in hosts)}){PORT_REGEX}$"

        alternatives = [re.escape(host) if ":" in host else f"{re.escape(host)}{PORT_REGEX}" for host in hosts]
        return f"^({'|'.join(alternatives)})$"


def alertmanager_from_config(
    config_dir: str | Path, instance_name: str = "", *, proxies: dict[str, str] | None = None, dry_run: bool = True
) -> Alertmanager:
    """Return an :py:class:`Alertmanager` for an instance described in ``<config_dir>/alertmanager/config.yaml``.

    Arguments:
        config_dir: Spicerack's configuration directory.
        instance_name: the instance to use, by default the ``default_instance`` of the configuration.
        proxies: the proxies to use for instances that set ``http_use_proxy``, in the ``requests`` format.
        dry_run: whether this is a DRY-RUN.

    Raises:
        spicerack.alertmanager.AlertmanagerError: if the configuration cannot be read or has no such instance.

    """
    config_file = Path(config_dir, *CONFIG_PATH)
    config = load_yaml_mapping(config_file, description="Alertmanager configuration", error=AlertmanagerError)
    if not instance_name:
        instance_name = str(config.get("default_instance") or "")
    if not instance_name:
        raise AlertmanagerError(
            f"An alertmanager instance name must be specified when no default is set in {config_file}"
        )

    instances = config.get("instances") or {}
    instance = instances.get(instance_name) if isinstance(instances, dict) else None
    if not instance or not isinstance(instance, dict):
        raise AlertmanagerError(f"No such alertmanager instance '{instance_name}' found in {config_file}")

    urls = instance.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(url, str) and url for url in urls):
        raise AlertmanagerError(f"Key instances.{instance_name}.urls in {config_file} must be a list of URLs")

    authentication = None
    if "http_username" in instance and "http_password" in instance:
        authentication = HTTPBasicAuth(str(instance["http_username"]), str(instance["http_password"]))

    return Alertmanager(
        alertmanager_urls=urls,
        http_authentication=authentication,
        http_proxies=proxies if instance.get("http_use_proxy") else None,
        dry_run=dry_run,
    )


def _validate_matchers(matchers: MatchersType) -> None:
    """Raise AlertmanagerError unless every matcher has a non-empty name, a string value and a boolean isRegex."""
    if not matchers:
        raise AlertmanagerError("No matchers provided.")

    for matcher in matchers:
        if not isinstance(matcher, Mapping):
            raise AlertmanagerError(f"Invalid matcher {matcher!r}: it must be a dict")
        if not isinstance(matcher.get("name"), str) or not matcher["name"]:
            raise AlertmanagerError(f"Invalid matcher {matcher!r}: it needs a non-empty string 'name'")
        if not isinstance(matcher.get("value"), str):
            raise AlertmanagerError(f"Invalid matcher {matcher!r}: it needs a string 'value'")
        if not isinstance(matcher.get("isRegex"), bool):
            raise AlertmanagerError(f"Invalid matcher {matcher!r}: it needs a boolean 'isRegex'")
        if "isEqual" in matcher and not isinstance(matcher["isEqual"], bool):
            raise AlertmanagerError(f"Invalid matcher {matcher!r}: 'isEqual' must be a boolean")
        unknown = set(matcher) - {"name", "value", "isRegex", "isEqual"}
        if unknown:
            raise AlertmanagerError(f"Invalid matcher {matcher!r}: unknown keys {sorted(unknown)}")
        if matcher["isRegex"]:
            _check_regex(str(matcher["value"]), matcher)


def _check_regex(value: str, matcher: Mapping[str, Any]) -> None:
    """Raise AlertmanagerError if a regex matcher's value is not a valid regular expression."""
    try:
        re.compile(value)
    except re.error as e:
        raise AlertmanagerError(f"Invalid matcher {dict(matcher)!r}: bad regular expression: {e}") from e


def _silence_id(response: Response) -> str:
    """Return the silence ID from Alertmanager's answer to a silence creation."""
    try:
        silence_id = response.json()["silenceID"]
    except (ValueError, KeyError, TypeError) as e:
        raise AlertmanagerError(f"Unexpected answer from Alertmanager, no silence ID: {response.text[:200]!r}") from e
    return str(silence_id)


def _is_already_expired(response: Response | None) -> bool:
    """Whether Alertmanager answered that the silence to remove had already expired."""
    if response is None or response.status_code != 500:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, str) and "silence" in body and "already expired" in body


def _describe_failure(error: RequestException) -> str:
    """Return one line saying why a request failed, with Alertmanager's explanation when it gave one."""
    if error.response is None:
        # urllib3 wraps the actual cause (refused connection, timeout...) in a MaxRetryError: report the cause.
        wrapped = error.args[0] if error.args else None
        cause = getattr(wrapped, "reason", None) or error
        return " ".join(str(cause).split())

    body = " ".join(error.response.text.split())[:200]
    status = f"HTTP {error.response.status_code}"
    return f"{status}: {body}" if body else status
