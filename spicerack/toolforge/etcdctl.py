"""Manage the members of an etcd cluster by running ``etcdctl`` on one of its hosts.

``etcdctl`` runs with the v3 API (``ETCDCTL_API=3``, whatever the host's default) and JSON output; the results keep
the shape of the v2 ``member list`` output: member ids in hexadecimal, the first of the ``peerURLs`` and of the
``clientURLs``, ``name`` when the member has one, ``status`` ``up`` (it has client URLs) or ``unstarted``.
"""

import json
import logging
import shlex
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any, cast

from spicerack.exceptions import SpicerackError
from spicerack.remote import RemoteHosts, RemoteHostsAdapter

logger = logging.getLogger(__name__)

SimpleType = str | int | bool
"""The type of the values of a member's information."""

ENDPOINT_TEMPLATE = "https://{host}:2379"
"""The client URL etcdctl talks to, ``{host}`` being the controlling host."""
CA_FILE = "/etc/etcd/ssl/ca.pem"
"""The CA of the cluster's TLS certificates (an empty string drops the flag)."""
CERT_FILE_TEMPLATE = "/etc/etcd/ssl/{host}.pem"
"""The controlling host's client certificate (an empty string drops the flag)."""
KEY_FILE_TEMPLATE = "/etc/etcd/ssl/{host}.priv"
"""The controlling host's client key (an empty string drops the flag)."""
STARTED_STATUS = "up"
UNSTARTED_STATUS = "unstarted"


class HealthStatus(Enum):
    """Health of a member or of the whole cluster."""

    healthy = auto()
    unhealthy = auto()


@dataclass(frozen=True)
class EtcdClusterHealthStatus:
    """Health of the cluster and of each started member, by member id."""

    global_status: HealthStatus
    members_status: dict[str, HealthStatus]


class TooManyHosts(SpicerackError):
    """Raised when the controller is given more than one host."""


class UnableToParseOutput(SpicerackError):
    """Raised when the output of etcdctl can't be understood."""


class EtcdctlController(RemoteHostsAdapter):
    """One host of an etcd cluster, able to run ``etcdctl`` to inspect and change the cluster's members."""

    def __init__(self, *, remote_host: RemoteHosts) -> None:
        """Wrap the host.

        Arguments:
            remote_host: exactly one host, with etcdctl and its client certificate for the cluster.

        Raises:
            spicerack.toolforge.etcdctl.TooManyHosts: if more than one host is given.

        """
        if len(remote_host.hosts) > 1:
            raise TooManyHosts(f"EtcdctlController supports exactly one host, got {len(remote_host.hosts)}")
        super().__init__(remote_hosts=remote_host)
        host = str(remote_host.hosts)
        options = {
            "--endpoints": ENDPOINT_TEMPLATE.format(host=host),
            "--cacert": CA_FILE,
            "--cert": CERT_FILE_TEMPLATE.format(host=host),
            "--key": KEY_FILE_TEMPLATE.format(host=host),
        }
        self._base_args = ["ETCDCTL_API=3", "etcdctl"]
        for flag, value in options.items():
            if value:
                self._base_args += [flag, value]

    def get_cluster_health(self) -> EtcdClusterHealthStatus:
        """Return the health of the cluster and of each started member (read-only, runs also in DRY-RUN)."""
        members = self.get_cluster_info()
        # etcdctl exits non-zero when an endpoint is unhealthy: the JSON on stdout says which.
        output = self._run_read_only("endpoint", "health", "--cluster", suffix="2>/dev/null || true")
        health = _parse_json(output, "endpoint health")
        if not isinstance(health, list):
            raise UnableToParseOutput(f"Unexpected etcdctl endpoint health output: {output}")
        by_endpoint = {str(item.get("endpoint")): bool(item.get("health")) for item in health}
        members_status: dict[str, HealthStatus] = {}
        for member_id, member in members.items():
            urls = [url for url in str(member.get("clientURLs", "")).split(",") if url]
            if urls:
                healthy = all(by_endpoint.get(url, False) for url in urls)
                members_status[member_id] = HealthStatus.healthy if healthy else HealthStatus.unhealthy
        all_healthy = bool(members_status) and all(status is HealthStatus.healthy for status in members_status.values())
        return EtcdClusterHealthStatus(
            global_status=HealthStatus.healthy if all_healthy else HealthStatus.unhealthy,
            members_status=members_status,
        )

    def get_cluster_info(self) -> dict[str, dict[str, SimpleType]]:
        """Return the cluster's members by member id (read-only, runs also in DRY-RUN).

        Each member has ``member_id``, ``status`` (``up`` or ``unstarted``), ``peerURLs`` and, once started,
        ``name`` and ``clientURLs``.
        """
        output = self._run_read_only("member", "list")
        data = _parse_json(output, "member list") if output.strip() else {}  # No output: no members
        return {str(member["member_id"]): member for member in _members(data, output)}

    def ensure_node_exists(self, new_member_fqdn: str, member_peer_url: str | None = None) -> str:
        """Add the member if it is not in the cluster, or update its peer URL if it differs; return its id.

        Arguments:
            new_member_fqdn: the member's name (its FQDN).
            member_peer_url: its peer URL, by default ``https://<new_member_fqdn>:2380``.

        Returns:
            The member id; in DRY-RUN an empty string for a member that would be added.

        """
        peer_url = member_peer_url or f"https://{new_member_fqdn}:2380"
        members_before = self.get_cluster_info()
        current = _find_member(members_before, new_member_fqdn, peer_url)
        if current and current["peerURLs"] == peer_url:
            logger.info("Skipping addition of member %s as it already exists.", new_member_fqdn)
            return str(current["member_id"])

        if current:
            member_id = str(current["member_id"])
            logger.info(
                "Updating the peer URL of the existing member %s (%s) to %s.", new_member_fqdn, member_id, peer_url
            )
            self._run_change("member", "update", member_id, f"--peer-urls={peer_url}")
            return member_id

        logger.info("Adding member %s with peer URL %s.", new_member_fqdn, peer_url)
        output = self._run_change("member", "add", new_member_fqdn, f"--peer-urls={peer_url}", read_output=True)
        if output is None:
            return ""
        try:
            return format(int(_parse_json(output, "member add")["member"]["ID"]), "x")
        except (UnableToParseOutput, KeyError, TypeError, ValueError):
            pass  # Not the JSON of etcdctl v3.4+: find the new member as the one that was not there before
        added = sorted(set(self.get_cluster_info()) - set(members_before))
        if len(added) != 1:
            raise UnableToParseOutput(f"Unable to find the id of the added member {new_member_fqdn}: {output}")
        return added[0]

    def ensure_node_does_not_exist(self, member_fqdn: str, member_peer_url: str | None = None) -> str | None:
        """Remove the member named ``member_fqdn`` if it is in the cluster.

        Arguments:
            member_fqdn: the member's name (its FQDN).
            member_peer_url: the peer URL that identifies the member if it never started (unstarted members have
                no name), by default ``https://<member_fqdn>:2380``.

        Returns:
            The removed member's id, None if it was not there.

        """
        peer_url = member_peer_url or f"https://{member_fqdn}:2380"
        current = _find_member(self.get_cluster_info(), member_fqdn, peer_url)
        if not current:
            logger.info("Skipping removal of member %s as it does not exist.", member_fqdn)
            return None
        member_id = str(current["member_id"])
        logger.info("Removing etcd member %s (%s).", member_fqdn, member_id)
        self._run_change("member", "remove", member_id)
        return member_id

    def _command(self, *args: str, suffix: str = "") -> str:
        """Return the shell command running etcdctl with the given arguments and JSON output."""
        command = " ".join(self._base_args + [shlex.quote(arg) for arg in args] + ["--write-out=json"])
        return f"{command} {suffix}" if suffix else command

    def _run_read_only(self, *args: str, suffix: str = "") -> str:
        """Run a read-only etcdctl command (also in DRY-RUN) and return its output."""
        output = self._output(self._command(*args, suffix=suffix), is_safe=True)
        if output is None:
            raise UnableToParseOutput(f"Got no output from etcdctl {' '.join(args)} on {self._remote_hosts}")
        return output

    def _run_change(self, *args: str, read_output: bool = False) -> str | None:
        """Run an etcdctl command that changes the cluster (only logged in DRY-RUN).

        Returns its output if asked, else an empty string; None when skipped in DRY-RUN.
        """
        return self._output(self._command(*args), is_safe=False, read_output=read_output)

    def _output(self, command: str, *, is_safe: bool, read_output: bool = True) -> str | None:
        results = self._remote_hosts.run_sync(command, is_safe=is_safe, print_output=False, print_progress_bars=False)
        for _, output in results:
            if not read_output:
                return ""
            message = output.message()
            return message.decode("utf-8") if isinstance(message, bytes) else str(message)
        return None


def _parse_json(output: str, what: str) -> Any:
    """Parse the JSON document of etcdctl's output: all of it (possibly on several lines), else its last line."""
    try:
        return json.loads(output.strip())
    except ValueError:
        pass
    lines = [line for line in output.splitlines() if line.strip()]
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError) as error:
        raise UnableToParseOutput(f"Unable to parse the etcdctl {what} output: {output}") from error


def _members(data: Any, output: str) -> list[dict[str, SimpleType]]:
    """Convert the members of etcdctl's v3 JSON to the v2-like shape; a document without ``members`` has none."""
    if not isinstance(data, dict) or not isinstance(data.get("members", []), list):
        raise UnableToParseOutput(f"No members in the etcdctl member list output: {output}")
    members = []
    for raw in data.get("members", []):
        if not isinstance(raw, dict) or "ID" not in raw or not raw.get("peerURLs"):
            raise UnableToParseOutput(f"Unable to parse etcdctl output (member without ID or peerURLs): {raw}")
        try:
            member: dict[str, SimpleType] = {"member_id": format(int(raw["ID"]), "x")}
        except (TypeError, ValueError) as error:
            raise UnableToParseOutput(f"Unable to parse etcdctl output (invalid member ID): {raw}") from error
        if raw.get("name"):
            member["name"] = str(raw["name"])
        member["peerURLs"] = _first_url(raw["peerURLs"])
        client_url = _first_url(raw.get("clientURLs", []))
        if client_url:
            member["clientURLs"] = client_url
        member["status"] = STARTED_STATUS if client_url else UNSTARTED_STATUS
        members.append(member)
    return members


def _first_url(urls: Any) -> str:
    """The first of a list of URLs (a single URL may come as a plain string), empty if none."""
    if isinstance(urls, str):
        return urls
    return str(urls[0]) if isinstance(urls, list) and urls else ""


def _find_member(
    members: dict[str, dict[str, SimpleType]], member_name: str, member_peer_url: str | None = None
) -> dict[str, SimpleType]:
    """Return the member with that name, or the unstarted member (nameless) with that peer URL; {} if none."""
    for member in members.values():
        if "name" in member and member["name"] == member_name:
            return member
        if "name" not in member and member_peer_url is not None and member["peerURLs"] == member_peer_url:
            return member
    return cast(dict[str, SimpleType], {})
