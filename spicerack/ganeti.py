"""Ganeti: read a cluster through its RAPI and manage VM instances with ``gnt-instance`` on the cluster master.

Clusters and groups are found in Netbox (a Ganeti cluster is a Netbox virtualization cluster group, a Ganeti group
a Netbox cluster). The RAPI is only read; every change runs as a ``gnt-instance`` command over SSH on the master
host, so that in DRY-RUN it is logged and not executed.
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from requests.exceptions import RequestException

from spicerack.constants import WMF_CA_BUNDLE_PATH
from spicerack.exceptions import SpicerackError
from spicerack.netbox import Netbox
from spicerack.remote import Remote, RemoteHosts

if TYPE_CHECKING:
    from requests import Response

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

RAPI_URL_FORMAT: str = "https://{cluster}:5080"
"""The URL of a cluster's RAPI, from the FQDN of the cluster's address (``cluster``)."""

INSTANCE_LINKS: tuple[str, ...] = ("public", "private", "analytics", "sandbox")
"""The network links an instance can be attached to."""

STORAGE_TYPES = ("drbd", "plain")
"""The disk templates (storage types) an instance can be created with."""

CONFIG_KEYS: tuple[str, ...] = ("username", "password", "timeout")
"""The keys of the configuration file ``<config_dir>/ganeti/config.yaml``."""


class GanetiError(SpicerackError):
    """A Ganeti operation failed: bad parameters, a cluster not found, or a RAPI or Netbox request failed."""


@dataclass(frozen=True)
class GanetiCluster:
    """A Ganeti cluster.

    Arguments:
        name: the short name of the cluster, the name of its Netbox virtualization cluster group.
        fqdn: the FQDN of the cluster's address.
        rapi: the URL of the cluster's RAPI.
        routed: whether the cluster's network is routed (else switched).

    """

    name: str
    fqdn: str
    rapi: str
    routed: bool


@dataclass(frozen=True)
class GanetiGroup:
    """A group of nodes of a Ganeti cluster.

    Arguments:
        name: the name of the group, the name of its Netbox virtualization cluster.
        site: the slug of the Netbox site (datacenter) of the group.
        cluster: the cluster the group is part of.

    """

    name: str
    site: str
    cluster: GanetiCluster


class GanetiRAPI:
    """Read-only client of the RAPI (version 2) of one Ganeti cluster."""

    def __init__(self, cluster_url: str, username: str, password: str, timeout: float, ca_path: str) -> None:
        """Set up the HTTP session: basic authentication, the CA to verify the RAPI's certificate, timeout, retries.

        Arguments:
            cluster_url: the URL of the RAPI, without trailing slash (e.g. ``https://cluster.example.org:5080``).
            username: the RAPI user.
            password: the RAPI user's password.
            timeout: seconds to wait for each request.
            ca_path: the CA bundle that signed the RAPI's certificate.

        """
        from requests.auth import HTTPBasicAuth  # noqa: PLC0415 - imported on first use
        from wmflib.requests import http_session  # noqa: PLC0415 - imported on first use

        self._url = cluster_url.rstrip("/")
        self._session = http_session(f"{__name__}.{type(self).__name__}", timeout=timeout)
        self._session.auth = HTTPBasicAuth(username, password)
        self._session.verify = ca_path

    @property
    def info(self) -> dict[str, Any]:
        """The cluster's information (``/2/info``).

        Raises:
            spicerack.ganeti.GanetiError: if the request fails or the answer is not a JSON object.

        """
        return _expect(self._get("info"), dict, "info")

    @property
    def master(self) -> str | None:
        """The name of the cluster's master node, :py:data:`None` if the cluster's information doesn't have it.

        Raises:
            spicerack.ganeti.GanetiError: if the request fails.

        """
        master = self.info.get("master")
        return None if master is None else str(master)

    def fetch_instance(self, fqdn: str) -> dict[str, Any]:
        """Return everything the RAPI knows about an instance.

        Arguments:
            fqdn: the FQDN of the instance.

        Raises:
            spicerack.ganeti.GanetiError: if the request fails (e.g. an unknown instance) or the answer is malformed.

        """
        return _expect(self._get("instances", fqdn), dict, f"instance {fqdn}")

    def fetch_instance_mac(self, fqdn: str) -> str:
        """Return the MAC address of the first network adapter of an instance (instances have only one).

        Arguments:
            fqdn: the FQDN of the instance.

        Raises:
            spicerack.ganeti.GanetiError: if the request fails or the instance has no MAC address.

        """
        macs = self.fetch_instance(fqdn).get("nic.macs")
        if not macs or not isinstance(macs, list):
            raise GanetiError(f"Can't find any MACs for instance {fqdn}")
        return str(macs[0])

    def groups(self, bulk: bool = False) -> Any:
        """Return the node groups of the cluster (``/2/groups``): their names and URIs, or all their details.

        Arguments:
            bulk: return every detail of each group (the RAPI's ``bulk=1``).

        Raises:
            spicerack.ganeti.GanetiError: if the request fails.

        """
        return self._get("groups", bulk=bulk)

    def nodes(self, bulk: bool = False) -> Any:
        """Return the nodes of the cluster (``/2/nodes``): their names and URIs, or all their details.

        Arguments:
            bulk: return every detail of each node (the RAPI's ``bulk=1``).

        Raises:
            spicerack.ganeti.GanetiError: if the request fails.

        """
        return self._get("nodes", bulk=bulk)

    def _get(self, *path: str, bulk: bool = False) -> Any:
        """GET ``/2/<path>`` and return the decoded JSON answer; GETs run in DRY-RUN too, they change nothing."""
        url = "/".join((self._url, "2", *path)) + ("?bulk=1" if bulk else "")
        try:
            # verify given per request: otherwise $REQUESTS_CA_BUNDLE would override the session's CA
            response: Response = self._session.get(url, verify=self._session.verify)
        except (RequestException, OSError) as e:  # OSError: the CA bundle cannot be read
            raise GanetiError(f"Error while performing request to RAPI {url}: {_one_line(e)}") from e

        if response.status_code != 200:
            raise GanetiError(f"Non-200 from API: {response.status_code}: {response.text}")

        try:
            return response.json()
        except ValueError as e:  # requests' JSONDecodeError is a ValueError
            raise GanetiError(f"Malformed JSON answer from RAPI {url}: {_one_line(e)}") from e


class GntInstance:
    """Manage one VM instance with ``gnt-instance`` commands run on the cluster master (logged only in DRY-RUN)."""

    def __init__(self, master: RemoteHosts, cluster: str, instance: str) -> None:
        """Keep the master host and the instance to act on.

        Arguments:
            master: the cluster's master host.
            cluster: the name of the cluster.
            instance: the FQDN of the instance.

        """
        self._master = master
        self._cluster = cluster
        self._instance = instance
        self._quoted_instance = shlex.quote(instance)  # For the remote shell; the same text for a valid FQDN

    @property
    def cluster(self) -> str:
        """The name of the instance's cluster."""
        return self._cluster

    def shutdown(self, *, timeout: int = 2) -> None:
        """Shut the instance down.

        Arguments:
            timeout: minutes to wait for a clean shutdown before the instance is forcibly stopped.

        """
        logger.info("Shutting down VM %s in cluster %s", self._instance, self._cluster)
        self._master.run_sync(f"gnt-instance shutdown --force --timeout={timeout} {self._quoted_instance}")

    def startup(self) -> None:
        """Start the instance."""
        logger.info("Starting VM %s in cluster %s", self._instance, self._cluster)
        self._master.run_sync(f"gnt-instance startup --force {self._quoted_instance}")

    def set_boot_media(self, boot: str) -> None:
        """Set what the instance boots from.

        Arguments:
            boot: ``disk``, or ``network`` to boot with PXE.

        """
        self._master.run_sync(
            f"gnt-instance modify --hypervisor-parameters=boot_order={shlex.quote(boot)} {self._quoted_instance}"
        )
        logger.info("Set boot media to %s for VM %s in cluster %s", boot, self._instance, self._cluster)

    def remove(self, *, shutdown_timeout: int = 2) -> None:
        """Shut the instance down and delete it, disks included. It takes a few minutes.

        Arguments:
            shutdown_timeout: minutes to wait for a clean shutdown before the instance is forcibly stopped.

        """
        logger.info("Removing VM %s in cluster %s. This may take a few minutes.", self._instance, self._cluster)
        self._master.run_sync(
            f"gnt-instance remove --shutdown-timeout={shutdown_timeout} --force {self._quoted_instance}"
        )

    def add(
        self,
        *,
        group: str,
        vcpus: int,
        memory: int | float,
        disk: int,
        storage_type: str,
        net: str | IPv4Address,
        ip6: IPv6Address,
    ) -> None:
        """Create the instance, not installed, to be booted from the network. It takes a few minutes.

        Arguments:
            group: the node group to allocate the instance in (a row or a rack of the datacenter).
            vcpus: how many virtual CPUs.
            memory: RAM in GB (fractions allowed).
            disk: disk size in GB.
            storage_type: one of :py:const:`spicerack.ganeti.STORAGE_TYPES`.
            net: the instance's IPv4 address (routed clusters), or one of :py:const:`spicerack.ganeti.INSTANCE_LINKS`.
            ip6: the instance's IPv6 address.

        Raises:
            spicerack.ganeti.GanetiError: if a parameter is invalid; nothing is run then.

        """
        net_option, kvm_extra = _net_options(net, ip6)
        if storage_type not in STORAGE_TYPES:
            raise GanetiError(f"Invalid storage type '{storage_type}', expected one of: {STORAGE_TYPES}.")
        for label, value in (("vcpus", vcpus), ("memory", memory), ("disk", disk)):
            if value <= 0:
                raise GanetiError(f"Invalid value '{value}' for {label}, expected positive integer.")

        command = " ".join(
            (
                f"gnt-instance add -t {storage_type} -I hail --net {net_option}",
                f"--hypervisor-parameters=kvm:boot_order=network{kvm_extra}",
                "-o debootstrap+default --no-install --no-wait-for-sync",
                f"-g {shlex.quote(group)} -B vcpus={vcpus},memory={int(memory * 1024)}m --disk 0:size={disk}g",
                self._quoted_instance,
            )
        )
        logger.info(
            "Creating VM %s in cluster %s with group=%s vcpus=%d memory=%dGB disk=%dGB net=%s. "
            "This may take a few minutes.",
            self._instance,
            self._cluster,
            group,
            vcpus,
            memory,
            disk,
            net,
        )
        for _, output in self._master.run_sync(command, print_output=True):
            logger.debug(output.message().decode())


class Ganeti:
    """Entry point to the Ganeti clusters: their RAPI, groups and instances."""

    def __init__(self, username: str, password: str, timeout: float, remote: Remote, netbox: Netbox) -> None:
        """Keep the RAPI credentials and the clients to reach the masters and Netbox.

        Arguments:
            username: the RAPI user.
            password: the RAPI user's password.
            timeout: seconds to wait for each RAPI request.
            remote: to run commands on the cluster masters.
            netbox: where clusters, groups and VMs are looked up.

        """
        self._username = username
        self._password = password
        self._timeout = timeout
        self._remote = remote
        self._netbox = netbox

    def get_cluster(self, name: str) -> GanetiCluster:
        """Return the cluster of that name, from its Netbox virtualization cluster group and its IP address.

        Arguments:
            name: the cluster's name (its Netbox cluster group).

        Raises:
            spicerack.ganeti.GanetiError: if the cluster or its address is not found or incomplete in Netbox.

        """
        api = self._netbox.api
        cluster_group = _netbox_get(api.virtualization.cluster_groups, f"cluster group {name}", name=name)
        if cluster_group is None:
            raise GanetiError(f"Unable to find virtualization cluster group {name} on Netbox.")

        fields = cluster_group.custom_fields
        address_field = fields.get("ip_address")
        if address_field is None:
            raise GanetiError(f"Virtualization cluster group {name} has no IP address.")
        routed = fields.get("routed")
        if routed is None:
            raise GanetiError(f"Virtualization cluster group {name} doesn't have the 'routed' custom field set.")
        address = address_field.get("address") if isinstance(address_field, dict) else None
        if not address:
            raise GanetiError(f"Virtualization cluster group {name} IP address has no address.")

        ip_address = _netbox_get(api.ipam.ip_addresses, f"IP address {address}", address=address)
        if ip_address is None:
            raise GanetiError(f"Unable to find the IP address for the virtualization cluster group {name}.")
        if not ip_address.dns_name:
            raise GanetiError(f"Virtualization cluster group {name}'s IP address {address} has no DNS name.")

        fqdn = str(ip_address.dns_name)
        return GanetiCluster(name=name, fqdn=fqdn, rapi=RAPI_URL_FORMAT.format(cluster=fqdn), routed=bool(routed))

    def get_group(self, name: str, *, cluster: str) -> GanetiGroup:
        """Return the group of that name in the given cluster, from its Netbox virtualization cluster.

        Arguments:
            name: the group's name (its Netbox cluster).
            cluster: the cluster's name (its Netbox cluster group).

        Raises:
            spicerack.ganeti.GanetiError: if the cluster or the group is not found in Netbox.

        """
        ganeti_cluster = self.get_cluster(cluster)
        group = _netbox_get(self._netbox.api.virtualization.clusters, f"cluster {name}", name=name, group=cluster)
        if group is None:
            raise GanetiError(f"Unable to find virtualization cluster {name} in cluster group {cluster} on Netbox.")

        return GanetiGroup(name=name, site=group.site.slug, cluster=ganeti_cluster)

    def rapi(self, cluster: str) -> GanetiRAPI:
        """Return the RAPI client of a cluster.

        Arguments:
            cluster: the cluster's name (its Netbox cluster group).

        Raises:
            spicerack.ganeti.GanetiError: if the cluster is not found in Netbox.

        """
        url = self.get_cluster(cluster).rapi
        return GanetiRAPI(url, self._username, self._password, self._timeout, WMF_CA_BUNDLE_PATH)

    def instance(self, instance: str, *, cluster: str = "") -> GntInstance:
        """Return the manager of an instance, acting through its cluster's master.

        Arguments:
            instance: the FQDN of the instance.
            cluster: the instance's cluster (needed for an instance yet to be created); by default the cluster of
                the instance's VM in Netbox.

        Raises:
            spicerack.ganeti.GanetiError: if the VM or the cluster is not found, or the cluster's master is unknown.

        """
        if not cluster:
            short_name = instance.split(".", maxsplit=1)[0]
            vm = _netbox_get(self._netbox.api.virtualization.virtual_machines, f"VM {short_name}", name=short_name)
            if not vm:
                raise GanetiError(
                    f"Ganeti Virtual Machine {instance} does not exist on Netbox and no manual cluster was provided"
                )
            try:
                cluster = str(vm.cluster.group.name)
            except AttributeError:
                raise GanetiError(f"Ganeti Virtual Machine {instance} has no cluster group on Netbox") from None

        master = self.rapi(cluster).master
        if master is None:
            raise GanetiError(f"Master for cluster {cluster} is None")

        return GntInstance(self._remote.query(master), cluster, instance)


def ganeti_config(config_dir: str | Path) -> tuple[str, str, float]:
    """Return the RAPI ``username``, ``password`` and ``timeout`` of ``<config_dir>/ganeti/config.yaml``.

    Raises:
        spicerack.ganeti.GanetiError: if the file cannot be read or a key is missing or invalid.

    """
    from spicerack.config import load_yaml_mapping  # noqa: PLC0415 - only needed when the file is read

    path = Path(config_dir, "ganeti", "config.yaml")
    config = load_yaml_mapping(path, description="Ganeti config file", error=GanetiError)
    missing = [key for key in CONFIG_KEYS if key not in config]
    if missing:
        raise GanetiError(f"Missing key(s) {', '.join(missing)} in the Ganeti config file {path}")
    timeout = config["timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise GanetiError(f"Invalid timeout in the Ganeti config file {path}: expected a positive number of seconds")
    return str(config["username"]), str(config["password"]), timeout


def _net_options(net: str | IPv4Address, ip6: IPv6Address) -> tuple[str, str]:
    """Return the ``--net`` option and the KVM extra hypervisor parameters of an instance to create."""
    if isinstance(net, str):
        if net not in INSTANCE_LINKS:
            raise GanetiError(f"Invalid link '{net}', expected one of: {INSTANCE_LINKS}")
        net_option, kvm_extra = f"0:link={net}", ""
    elif isinstance(net, IPv4Address):
        net_option = f"0:ip={net}"
        # The IPs reach the guest through QEMU's fw_cfg; commas inside a hypervisor parameter are escaped.
        kvm_extra = f',kvm_extra="-fw_cfg name=opt/ip\\,string={net} -fw_cfg name=opt/ip6\\,string={ip6}"'
    else:
        raise GanetiError(f"'{net}' must be an IPv4Address or one of: {INSTANCE_LINKS}.")

    if not isinstance(ip6, IPv6Address):
        raise GanetiError(f"'{ip6}' must be an IPv6Address object.")
    return net_option, kvm_extra


def _netbox_get(endpoint: Any, what: str, **filters: str) -> Any:
    """Return the Netbox object matching ``filters`` (or None), turning Netbox's errors into GanetiError."""
    # pynetbox is already loaded by the Netbox client; no stubs for it.
    from pynetbox import ContentError, RequestError  # type: ignore[import-untyped,unused-ignore]  # noqa: PLC0415 - only for Netbox lookups

    try:
        return endpoint.get(**filters)
    except (RequestError, ContentError, RequestException, ValueError) as e:  # ValueError: more than one match
        raise GanetiError(f"Unable to look up the {what} on Netbox: {_one_line(e)}") from e


def _expect(value: Any, expected: type[_T], what: str) -> _T:
    """Return ``value`` if it has the expected type, else raise a GanetiError about a malformed RAPI answer."""
    if not isinstance(value, expected):
        raise GanetiError(f"Malformed RAPI answer for {what}: expected a JSON {expected.__name__}")
    return value


def _one_line(error: Exception) -> str:
    """Return the message of an exception on one line."""
    return " ".join(str(error).split()) or type(error).__name__
