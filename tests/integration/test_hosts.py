"""Integration tests of spicerack.hosts: a Host found in the stand-in Netbox API, acting on a host of the SSH fleet.

The stand-in Netbox (``servers/netbox.py``) has the fleet's ``test-host01`` (physical, Dell, management address
127.0.0.1), ``test-host02`` (physical, Supermicro) and ``test-host03`` (a virtual machine), whose primary IPs' DNS
names are the fleet's host names, so that cumin reaches them over SSH. The management consoles are the Redfish
emulator (``servers/redfish.py``) on 127.0.0.1.
"""

import pytest
from cumin import NodeSet

from spicerack import Spicerack
from spicerack.apt import AptGetHosts
from spicerack.exceptions import SpicerackError
from spicerack.hosts import Host, HostError
from spicerack.ipmi import Ipmi
from spicerack.mysql import MysqlRemoteHosts
from spicerack.netbox import NetboxAPIError, NetboxError, NetboxServer
from spicerack.puppet import PuppetHosts
from spicerack.redfish import RedfishDell, RedfishSupermicro
from spicerack.remote import RemoteHosts
from tests.integration.servers.redfish import SUPERMICRO_SYSTEM

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

MGMT_PASSWORD = "mgmt-secret"


@pytest.fixture
def config_dir(fake_netbox, tmp_path):
    (tmp_path / "management").mkdir()
    (tmp_path / "management" / "config.yaml").write_text(f"mgmt_password: {MGMT_PASSWORD}\n")
    return fake_netbox.write_config(tmp_path)


@pytest.fixture
def spicerack(ssh_fleet, config_dir):
    return Spicerack(cumin_config=str(ssh_fleet.cumin_config), spicerack_config_dir=str(config_dir), dry_run=False)


def test_physical_host(spicerack):
    host = spicerack.host("test-host01")

    assert (host.hostname, host.fqdn, host.mgmt_fqdn) == ("test-host01", "test-host01", "test-host01.mgmt.eqiad.wmnet")
    assert isinstance(host.netbox(), NetboxServer)
    assert not host.netbox().virtual


def test_remote_runs_on_the_host(spicerack):
    results = spicerack.host("test-host01").remote().run_sync("echo $FLEET_HOST")

    assert RemoteHosts.results_to_list(results) == [(NodeSet("test-host01"), "test-host01")]


def test_clients_of_the_host_target_it(spicerack):
    host = spicerack.host("test-host02")

    assert isinstance(host.puppet(), PuppetHosts)
    assert isinstance(host.apt_get(), AptGetHosts)
    assert isinstance(host.mysql(), MysqlRemoteHosts)
    assert {str(host.puppet()), str(host.apt_get()), str(host.mysql())} == {"test-host02"}


def test_host_from_remote(spicerack):
    host = Host.from_remote(spicerack.remote().query("test-host03"), spicerack)

    assert host.hostname == "test-host03"
    assert host.netbox().virtual
    results = host.remote().run_sync("echo $FLEET_HOST")
    assert RemoteHosts.results_to_list(results) == [(NodeSet("test-host03"), "test-host03")]


def test_host_from_remote_with_several_hosts(spicerack):
    with pytest.raises(HostError, match=r"expected 1 host, got 2\."):
        Host.from_remote(spicerack.remote().query("test-host[01-02]"), spicerack)


def test_host_missing_from_netbox(spicerack):
    with pytest.raises(HostError, match="Unable to find host test-host12 in Netbox"):
        spicerack.host("test-host12")


def test_netbox_down_is_a_netbox_error(ssh_fleet, fake_netbox, config_dir):
    fake_netbox.fail("/api/", 503)
    spicerack = Spicerack(cumin_config=str(ssh_fleet.cumin_config), spicerack_config_dir=str(config_dir))

    with pytest.raises(NetboxAPIError):
        spicerack.host("test-host01")


def test_virtual_machine_has_no_management_console(spicerack):
    host = spicerack.host("test-host03")

    with pytest.raises(HostError, match=r"Host 'test-host03' is a Virtual Machine, IPMI not supported\."):
        host.ipmi("root")
    with pytest.raises(SpicerackError, match=r"Host test-host03 is not a Physical server, Redfish is not supported\."):
        host.redfish()
    with pytest.raises(NetboxError, match="does not have a management address"):
        _ = host.mgmt_fqdn


def test_ipmi_of_a_physical_host(spicerack):
    assert isinstance(spicerack.host("test-host01").ipmi("root"), Ipmi)


def test_redfish_console_from_netbox(spicerack, fake_netbox):
    redfish = spicerack.host("test-host01").redfish()

    assert isinstance(redfish, RedfishDell)
    assert str(redfish.interface.ip) == "127.0.0.1"
    assert any("interface=mgmt" in path for _, path in fake_netbox.requests)


def test_redfish_accessor_reaches_the_console_found_in_netbox(spicerack, redfish_emulator):
    # test-host01 is a Dell in Netbox; its management address is the emulator's.
    redfish = spicerack.redfish(
        "test-host01", redfish_emulator.username, redfish_emulator.password, port=redfish_emulator.port
    )

    assert isinstance(redfish, RedfishDell)
    assert redfish.get_power_state() == "On"


def test_redfish_manufacturer_given_by_the_caller(spicerack, redfish_emulator):
    redfish = spicerack.redfish(
        "test-host01",
        redfish_emulator.username,
        redfish_emulator.password,
        manufacturer="supermicro",
        port=redfish_emulator.port,
    )

    assert isinstance(redfish, RedfishSupermicro)
    assert redfish.get_power_state() == redfish_emulator.power_state(SUPERMICRO_SYSTEM)


def test_redfish_with_an_address_does_not_ask_netbox(spicerack, fake_netbox):
    redfish = spicerack.redfish("test-host02", mgmt_address="127.0.0.5")

    assert isinstance(redfish, RedfishDell)  # The default without Netbox
    assert str(redfish.interface.ip) == "127.0.0.5"
    assert fake_netbox.requests == []


def test_unsupported_manufacturer(spicerack, fake_netbox):
    fake_netbox.find("dcim/manufacturers", slug="supermicro")["slug"] = "fancy"

    message = r"The manufacturer fancy set in Netbox for test-host02 is not supported\."
    with pytest.raises(SpicerackError, match=message):
        spicerack.host("test-host02").redfish()


def test_read_write_host_updates_netbox(spicerack, fake_netbox):
    spicerack.host("test-host01", netbox_read_write=True).netbox().status = "failed"

    assert spicerack.host("test-host01").netbox().status == "failed"


def test_read_only_host_cannot_update_netbox(spicerack, fake_netbox):
    with pytest.raises(NetboxAPIError, match="403"):
        spicerack.host("test-host01").netbox().status = "failed"

    assert fake_netbox.writes == []


def test_dry_run_host_writes_nothing(ssh_fleet, config_dir, fake_netbox):
    spicerack = Spicerack(cumin_config=str(ssh_fleet.cumin_config), spicerack_config_dir=str(config_dir))

    spicerack.host("test-host01", netbox_read_write=True).netbox().status = "failed"

    assert fake_netbox.writes == []
    assert spicerack.host("test-host01").netbox().status == "active"
