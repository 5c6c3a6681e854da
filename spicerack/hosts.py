"""Hosts: one server, found in Netbox, with the clients that act on it (remote execution, Puppet, alerts, consoles)."""

from typing import TYPE_CHECKING

from spicerack.exceptions import SpicerackError
from spicerack.mysql import MysqlRemoteHosts
from spicerack.netbox import NetboxHostNotFoundError
from spicerack.remote import RemoteHosts

if TYPE_CHECKING:
    import spicerack

__all__ = ["Host", "HostError"]


class HostError(SpicerackError):
    """The host cannot be represented: not in Netbox, not a single host, or without the requested capability."""


class Host:
    """A single server (physical or virtual) that exists in Netbox, the source of truth.

    Each accessor returns the client of a service targeting just this host, built on the :py:class:`spicerack.Spicerack`
    instance it was created with (so with its DRY-RUN mode and configuration).
    """

    def __init__(
        self, name: str, spicerack_instance: "spicerack.Spicerack", *, netbox_read_write: bool = False
    ) -> None:
        """Load the host's Netbox data.

        Arguments:
            name: the host's short name.
            spicerack_instance: the accessor whose clients the host's accessors use.
            netbox_read_write: whether the Netbox data is loaded with the read-write token, to change it.

        Raises:
            spicerack.hosts.HostError: if Netbox has no server with that name.
            spicerack.netbox.NetboxError: if the Netbox data cannot be loaded.

        """
        self._spicerack = spicerack_instance
        self._remote = spicerack_instance.remote()
        try:
            self._netbox_server = spicerack_instance.netbox_server(name, read_write=netbox_read_write)
        except NetboxHostNotFoundError:
            raise HostError(f"Unable to find host {name} in Netbox") from None

    @classmethod
    def from_remote(cls, remote_hosts: RemoteHosts, spicerack_instance: "spicerack.Spicerack") -> "Host":
        """Return the host of a :py:class:`spicerack.remote.RemoteHosts` that targets exactly one host.

        Arguments:
            remote_hosts: the remote hosts, whose one host's FQDN gives the short name looked up in Netbox.
            spicerack_instance: the accessor passed to the new instance.

        Raises:
            spicerack.hosts.HostError: if ``remote_hosts`` does not have exactly one host.

        """
        count = len(remote_hosts)
        if count != 1:
            raise HostError(
                f"Unable to create Host instance from RemoteHosts {remote_hosts}, expected 1 host, got {count}."
            )
        return cls(str(remote_hosts).split(".", 1)[0], spicerack_instance)

    @property
    def hostname(self) -> str:
        """The short hostname, as in Netbox (e.g. ``example1001``)."""
        return self._netbox_server.name

    @property
    def fqdn(self) -> str:
        """The FQDN, from the DNS name of the primary IPs in Netbox (e.g. ``example1001.eqiad.wmnet``)."""
        return self._netbox_server.fqdn

    @property
    def mgmt_fqdn(self) -> str:
        """The FQDN of the management console in Netbox (e.g. ``example1001.mgmt.eqiad.wmnet``).

        Raises:
            spicerack.netbox.NetboxError: for a virtual machine or if the management address has no DNS name.

        """
        return self._netbox_server.mgmt_fqdn

    def remote(self) -> RemoteHosts:
        """Return the remote hosts to run commands on this host through cumin, targeted by its FQDN."""
        return self._remote.query(self.fqdn)

    def netbox(self) -> "spicerack.NetboxServer":
        """Return the host's Netbox data (status, addresses, FQDNs, ...)."""
        return self._netbox_server

    def puppet(self) -> "spicerack.PuppetHosts":
        """Return the client to manage Puppet on this host."""
        return self._spicerack.puppet(self.remote())

    def mysql(self) -> MysqlRemoteHosts:
        """Return the client to run MySQL/MariaDB queries and commands on this host.

        Whether the host runs a database server is not checked: its calls fail if it does not.
        """
        return MysqlRemoteHosts(self.remote())

    def apt_get(self) -> "spicerack.AptGetHosts":
        """Return the client to manage the Debian packages of this host with ``apt-get``."""
        return self._spicerack.apt_get(self.remote())

    def alerting(self) -> "spicerack.AlertingHosts":
        """Return the client to downtime this host on both Alertmanager and Icinga."""
        return self._spicerack.alerting_hosts([self.fqdn])

    def icinga(self) -> "spicerack.IcingaHosts":
        """Return the client to downtime and check this host on Icinga."""
        return self._spicerack.icinga_hosts([self.fqdn])

    def alertmanager(self) -> "spicerack.AlertmanagerHosts":
        """Return the client to silence this host's alerts on Alertmanager."""
        return self._spicerack.alertmanager_hosts([self.fqdn])

    def redfish(self) -> "spicerack.Redfish":
        """Return the client of the Redfish API of this host's management console, as root.

        The console's address and vendor come from Netbox.

        Raises:
            spicerack.exceptions.SpicerackError: for a virtual machine or a vendor that is not supported.

        """
        return self._spicerack.redfish(self.hostname)

    def ipmi(self, username: str) -> "spicerack.Ipmi":
        """Return the client to send IPMI commands to this host's management console.

        Arguments:
            username: the console account to use.

        Raises:
            spicerack.hosts.HostError: for a virtual machine.

        """
        if self._netbox_server.virtual:
            raise HostError(f"Host '{self.hostname}' is a Virtual Machine, IPMI not supported.")
        return self._spicerack.ipmi(self.mgmt_fqdn, username=username)
