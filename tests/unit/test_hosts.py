"""Unit tests of spicerack.hosts: what a Host asks its Spicerack instance for, on a stand-in accessor.

The behaviour with a real Netbox API and real hosts is in tests/integration/test_hosts.py.
"""

from types import SimpleNamespace
from unittest import mock

import pytest

from spicerack.hosts import Host, HostError
from spicerack.mysql import MysqlRemoteHosts
from spicerack.netbox import NetboxError, NetboxHostNotFoundError
from tests.unit.remote_stub import StubRemoteHosts


def stub_spicerack(*, virtual=False, error=None):
    """A stand-in Spicerack whose netbox_server() returns a server named host1001 (or raises ``error``)."""
    spicerack = mock.Mock()
    server = SimpleNamespace(name="host1001", fqdn="host1001.eqiad.wmnet", virtual=virtual)
    server.mgmt_fqdn = "host1001.mgmt.eqiad.wmnet"
    spicerack.netbox_server.side_effect = error
    spicerack.netbox_server.return_value = server
    spicerack.remote.return_value.query.side_effect = lambda query: StubRemoteHosts(query)
    return spicerack


def test_init_loads_the_netbox_server_with_the_requested_token():
    spicerack = stub_spicerack()

    host = Host("host1001", spicerack, netbox_read_write=True)

    spicerack.netbox_server.assert_called_once_with("host1001", read_write=True)
    assert (host.hostname, host.fqdn, host.mgmt_fqdn) == (
        "host1001",
        "host1001.eqiad.wmnet",
        "host1001.mgmt.eqiad.wmnet",
    )
    assert host.netbox() is spicerack.netbox_server.return_value


def test_host_not_in_netbox():
    with pytest.raises(HostError, match="Unable to find host nohost in Netbox") as excinfo:
        Host("nohost", stub_spicerack(error=NetboxHostNotFoundError("nohost")))

    assert excinfo.value.__cause__ is None


def test_other_netbox_errors_are_not_hidden():
    with pytest.raises(NetboxError, match="down"):
        Host("host1001", stub_spicerack(error=NetboxError("down")))


def test_from_remote_uses_the_short_name():
    spicerack = stub_spicerack()

    Host.from_remote(StubRemoteHosts("host1001.eqiad.wmnet"), spicerack)  # type: ignore[arg-type]

    spicerack.netbox_server.assert_called_once_with("host1001", read_write=False)


@pytest.mark.parametrize("hosts, count", (("host[1001-1002].eqiad.wmnet", 2), ("", 0)))
def test_from_remote_needs_one_host(hosts, count):
    with pytest.raises(HostError, match=f"expected 1 host, got {count}"):
        Host.from_remote(StubRemoteHosts(hosts), stub_spicerack())  # type: ignore[arg-type]


def test_accessors_target_the_fqdn():
    spicerack = stub_spicerack()
    host = Host("host1001", spicerack)

    assert str(host.remote()) == "host1001.eqiad.wmnet"
    assert str(host.mysql()) == "host1001.eqiad.wmnet"
    assert isinstance(host.mysql(), MysqlRemoteHosts)
    assert host.puppet() is spicerack.puppet.return_value
    assert str(spicerack.puppet.call_args.args[0]) == "host1001.eqiad.wmnet"
    assert host.apt_get() is spicerack.apt_get.return_value
    host.alerting()
    host.icinga()
    host.alertmanager()
    for accessor in (spicerack.alerting_hosts, spicerack.icinga_hosts, spicerack.alertmanager_hosts):
        accessor.assert_called_once_with(["host1001.eqiad.wmnet"])


def test_management_consoles():
    spicerack = stub_spicerack()
    host = Host("host1001", spicerack)

    assert host.redfish() is spicerack.redfish.return_value
    spicerack.redfish.assert_called_once_with("host1001")
    assert host.ipmi("root") is spicerack.ipmi.return_value
    spicerack.ipmi.assert_called_once_with("host1001.mgmt.eqiad.wmnet", username="root")


def test_virtual_machine_has_no_ipmi():
    spicerack = stub_spicerack(virtual=True)

    with pytest.raises(HostError, match=r"Host 'host1001' is a Virtual Machine, IPMI not supported\."):
        Host("host1001", spicerack).ipmi("root")

    spicerack.ipmi.assert_not_called()
