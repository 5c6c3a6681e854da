"""Integration tests of spicerack.netbox: the real pynetbox and requests against the stand-in Netbox API.

No Netbox server installs here; ``servers/netbox.py`` answers the REST endpoints pynetbox calls as Netbox 4 does
(pagination, filters, brief nested objects, PATCH kept for read-back, token checks) and injects faults. Every update
is read back through a new client, so that the change is checked on the server side and not in pynetbox's cache.
"""

import logging

import pytest

from spicerack import Spicerack
from spicerack.exceptions import SpicerackError
from spicerack.netbox import (
    Netbox,
    NetboxAPIError,
    NetboxError,
    NetboxHostNotFoundError,
    NetboxScriptError,
    NetboxServer,
)
from tests.integration.servers import free_port
from tests.integration.servers.netbox import RO_TOKEN, RW_TOKEN

pytestmark = pytest.mark.integration

HOST1_IPV4 = "10.64.0.1/22"
HOST1_IPV6 = "2620:0:861:101:10:64:0:1/64"


@pytest.fixture
def config_dir(fake_netbox, tmp_path):
    return fake_netbox.write_config(tmp_path)


def client(fake_netbox, *, dry_run=False, token=RW_TOKEN):
    return Netbox(fake_netbox.url, token, dry_run=dry_run)


def server(fake_netbox, name="test-host01", *, dry_run=False):
    return client(fake_netbox, dry_run=dry_run).get_server(name)


def reread(fake_netbox, name="test-host01"):
    """The server as Netbox has it now, through a new client."""
    return server(fake_netbox, name)


# -- the accessors and the configuration


def test_accessor_reads_the_config_and_uses_the_read_only_token_by_default(fake_netbox, config_dir):
    spicerack = Spicerack(spicerack_config_dir=str(config_dir), dry_run=False)

    netbox = spicerack.netbox()

    assert netbox.api.token == RO_TOKEN
    assert netbox.api.status()["netbox-version"].startswith("4.")


def test_accessor_uses_the_read_write_token_only_outside_dry_run(fake_netbox, config_dir):
    assert Spicerack(spicerack_config_dir=str(config_dir), dry_run=False).netbox(read_write=True).api.token == RW_TOKEN
    assert Spicerack(spicerack_config_dir=str(config_dir), dry_run=True).netbox(read_write=True).api.token == RO_TOKEN


def test_netbox_server_accessor_returns_the_server(fake_netbox, config_dir):
    spicerack = Spicerack(spicerack_config_dir=str(config_dir), dry_run=False)

    netbox_server = spicerack.netbox_server("test-host01")

    assert isinstance(netbox_server, NetboxServer)
    assert netbox_server.name == "test-host01"


def test_read_only_token_cannot_write(fake_netbox, config_dir):
    netbox_server = Spicerack(spicerack_config_dir=str(config_dir), dry_run=False).netbox_server("test-host01")

    with pytest.raises(NetboxAPIError, match="403"):
        netbox_server.status = "failed"

    assert fake_netbox.writes == []
    assert reread(fake_netbox).status == "active"


def test_read_write_accessor_writes(fake_netbox, config_dir):
    spicerack = Spicerack(spicerack_config_dir=str(config_dir), dry_run=False)

    spicerack.netbox_server("test-host01", read_write=True).status = "failed"

    assert reread(fake_netbox).status == "failed"


def test_missing_config_file_is_a_netbox_error(tmp_path):
    spicerack = Spicerack(spicerack_config_dir=str(tmp_path), dry_run=False)

    with pytest.raises(NetboxError, match="Unable to read the Netbox config file"):
        spicerack.netbox()


def test_config_without_the_token_names_the_key(tmp_path, fake_netbox):
    (tmp_path / "netbox").mkdir()
    (tmp_path / "netbox" / "config.yaml").write_text(f"api_url: {fake_netbox.url}\napi_token_ro: x\n")

    with pytest.raises(NetboxError, match="must set api_token_rw"):
        Spicerack(spicerack_config_dir=str(tmp_path), dry_run=False).netbox(read_write=True)


def test_wrong_token_is_an_api_error(fake_netbox):
    with pytest.raises(NetboxAPIError, match=r"Error retrieving Netbox device.*403"):
        client(fake_netbox, token="not-a-token").get_server("test-host01")


# -- reading servers


def test_physical_server_data(fake_netbox):
    netbox_server = server(fake_netbox)

    assert not netbox_server.virtual
    assert netbox_server.status == "active"
    assert netbox_server.fqdn == "test-host01"
    assert netbox_server.mgmt_fqdn == "test-host01.mgmt.eqiad.wmnet"
    assert netbox_server.asset_tag_fqdn == "wmf1001.mgmt.eqiad.wmnet"
    assert str(netbox_server.primary_ip4_address) == HOST1_IPV4
    assert str(netbox_server.primary_ip6_address) == HOST1_IPV6
    assert netbox_server.primary_mac_address == "aa:00:00:00:00:01"
    assert netbox_server.access_vlan == "private1-a-eqiad"
    assert netbox_server.bgp is False


def test_switches_come_from_all_pages_of_connected_interfaces(fake_netbox):
    # Three cabled interfaces with a page size of two: two pages, two distinct switches.
    assert server(fake_netbox).switches == ["asw-a1-eqiad", "asw2-a1-eqiad"]
    assert any("offset=2" in path for _, path in fake_netbox.requests)


def test_as_dict_has_the_netbox_fields_and_is_virtual(fake_netbox):
    data = server(fake_netbox).as_dict()

    assert data["name"] == "test-host01"
    assert data["device_type"]["manufacturer"]["slug"] == "dell"
    assert data["is_virtual"] is False


def test_virtual_machine_data(fake_netbox):
    vm = server(fake_netbox, "test-host03")

    assert vm.virtual
    assert vm.fqdn == "test-host03"
    assert vm.primary_ip6_address is None
    assert vm.primary_mac_address == "aa:00:00:00:00:03"
    assert vm.as_dict()["cluster"]["name"] == "ganeti01"
    assert vm.as_dict()["is_virtual"] is True


@pytest.mark.parametrize(
    "attribute, message",
    (
        ("mgmt_fqdn", "is a virtual machine, does not have a management address"),
        ("access_vlan", "Server is a virtual machine, can't return a switch interface"),
        ("switches", "is a virtual machine, not connected to a switch"),
    ),
)
def test_virtual_machine_has_no_physical_data(fake_netbox, attribute, message):
    with pytest.raises(NetboxError, match=message):
        getattr(server(fake_netbox, "test-host03"), attribute)


def test_bridged_primary_interface_finds_the_switch_port_of_its_member(fake_netbox):
    netbox_server = server(fake_netbox, "test-host02")

    assert netbox_server.access_vlan == ""  # xe-0/0/2 has no untagged VLAN
    assert netbox_server.primary_ip6_address is None


def test_management_address_without_dns_name(fake_netbox):
    with pytest.raises(NetboxError, match="Server test-host02 has no management interface with a DNS name set"):
        _ = server(fake_netbox, "test-host02").mgmt_fqdn


def test_server_without_primary_ip(fake_netbox):
    netbox_server = server(fake_netbox, "test-host04")

    with pytest.raises(NetboxError, match="does not have any primary IP with a DNS name set"):
        _ = netbox_server.fqdn
    with pytest.raises(NetboxError, match="No primary IP, needed to find the primary interface"):
        _ = netbox_server.access_vlan
    with pytest.raises(NetboxError, match="No primary IP or primary IP not assigned to an interface"):
        _ = netbox_server.primary_mac_address


def test_unknown_host(fake_netbox):
    with pytest.raises(NetboxHostNotFoundError, match="nohost"):
        server(fake_netbox, "nohost")


def test_device_that_is_not_a_server(fake_netbox):
    with pytest.raises(NetboxError, match="has invalid role switch, only server is allowed"):
        server(fake_netbox, "asw-a1-eqiad")


def test_api_exposes_pynetbox(fake_netbox):
    assert {vlan.name for vlan in client(fake_netbox).api.ipam.vlans.filter(status="active")} == {
        "private1-a-eqiad",
        "private1-b-eqiad",
    }


# -- Netbox down, failing, slow or malformed


def test_netbox_down(fake_netbox):
    netbox = Netbox(f"http://127.0.0.1:{free_port()}", RO_TOKEN)

    with pytest.raises(NetboxAPIError, match="Error retrieving Netbox device"):
        netbox.get_server("test-host01")


def test_netbox_answering_500(fake_netbox):
    fake_netbox.fail("/api/dcim/devices/", 500)

    with pytest.raises(NetboxAPIError, match="Error retrieving Netbox device"):
        server(fake_netbox)


def test_netbox_failing_on_virtual_machines(fake_netbox):
    fake_netbox.fail("/api/virtualization/", 503)

    with pytest.raises(NetboxAPIError, match="Error retrieving Netbox VM"):
        server(fake_netbox, "test-host03")


def test_netbox_hanging_is_bounded_by_the_timeouts(fake_netbox):
    # Answered in two minutes (or at the test's end), with no device: only a timeout makes it an API error.
    no_device = b'{"count": 0, "next": null, "previous": null, "results": []}'
    fake_netbox.fail("/api/dcim/devices/", 200, body=no_device, delay=120)

    with pytest.raises(NetboxAPIError, match=r"Error retrieving Netbox device.*timed out"):
        server(fake_netbox)


@pytest.mark.parametrize(
    "body",
    (
        b"<html>Bad gateway</html>",
        b'{"unexpected": "shape"}',
        b'{"count": 1, "next": null, "previous": null, "results": ["not an object"]}',
    ),
)
def test_malformed_answer(fake_netbox, body):
    fake_netbox.fail("/api/dcim/devices/", 200, body=body)

    with pytest.raises(NetboxAPIError):
        server(fake_netbox)


def test_failing_lazy_detail_request(fake_netbox):
    netbox_server = server(fake_netbox)
    fake_netbox.fail("/api/ipam/ip-addresses/", 500)

    with pytest.raises(NetboxAPIError, match="Unable to get the management address for test-host01"):
        _ = netbox_server.mgmt_fqdn


def test_api_errors_are_spicerack_errors():
    assert issubclass(NetboxAPIError, SpicerackError)


# -- updates, read back


def test_status_update(fake_netbox):
    server(fake_netbox).status = "Failed"

    assert reread(fake_netbox).status == "failed"
    assert [write.body for write in fake_netbox.writes] == [{"status": "failed"}]


def test_forbidden_status_transition_writes_nothing(fake_netbox):
    with pytest.raises(NetboxError, match="Forbidden Netbox status transition between active and planned"):
        server(fake_netbox).status = "planned"

    assert fake_netbox.writes == []


def test_status_of_a_virtual_machine_is_not_changed(fake_netbox):
    with pytest.raises(NetboxError, match="automatically synced from Ganeti"):
        server(fake_netbox, "test-host03").status = "failed"


def test_rejected_patch_is_an_api_error(fake_netbox):
    fake_netbox.fail("/api/dcim/devices/1/", 400, body=b'{"status": ["invalid"]}', method="PATCH")

    with pytest.raises(NetboxAPIError, match=r"Unable to update the Netbox status for test-host01.*400"):
        server(fake_netbox).status = "failed"

    assert reread(fake_netbox).status == "active"


def test_rename_updates_the_fqdns(fake_netbox):
    server(fake_netbox).name = "test-host09"

    renamed = reread(fake_netbox, "test-host09")
    assert renamed.fqdn == "test-host09"
    assert renamed.mgmt_fqdn == "test-host09.mgmt.eqiad.wmnet"
    with pytest.raises(NetboxHostNotFoundError):
        reread(fake_netbox, "test-host01")


def test_rename_to_an_existing_name_is_refused_by_netbox(fake_netbox):
    with pytest.raises(NetboxAPIError, match="400"):
        server(fake_netbox).name = "test-host02"

    assert reread(fake_netbox).name == "test-host01"


def test_fqdn_update_changes_the_primary_ips_with_a_dns_name(fake_netbox):
    server(fake_netbox).fqdn = "test-host01.eqiad.wmnet"

    assert reread(fake_netbox).fqdn == "test-host01.eqiad.wmnet"
    assert {write.path for write in fake_netbox.writes} == {"/api/ipam/ip-addresses/1/", "/api/ipam/ip-addresses/2/"}


def test_mgmt_fqdn_update(fake_netbox):
    server(fake_netbox).mgmt_fqdn = "wmf1001.mgmt.eqiad.wmnet"

    assert reread(fake_netbox).mgmt_fqdn == "wmf1001.mgmt.eqiad.wmnet"


def test_primary_ip_updates(fake_netbox):
    netbox_server = server(fake_netbox)

    netbox_server.primary_ip4_address = "10.64.0.9/22"
    netbox_server.primary_ip6_address = "2620:0:861:101:10:64:0:9/64"

    updated = reread(fake_netbox)
    assert str(updated.primary_ip4_address) == "10.64.0.9/22"
    assert str(updated.primary_ip6_address) == "2620:0:861:101:10:64:0:9/64"


def test_primary_ip_already_in_use(fake_netbox):
    with pytest.raises(NetboxError, match=r"10.64.16.2/24 is already in use"):
        server(fake_netbox).primary_ip4_address = "10.64.16.2/24"  # test-host02's, with another prefix length

    assert fake_netbox.writes == []


def test_primary_ip_missing_or_of_the_wrong_version(fake_netbox):
    with pytest.raises(NetboxError, match="No existing primary IPv6 for test-host02"):
        server(fake_netbox, "test-host02").primary_ip6_address = "2620:0:861:101::2/64"
    with pytest.raises(NetboxError, match="is not an IPv4"):
        server(fake_netbox).primary_ip4_address = "2620:0:861:101::2/64"


def test_primary_mac_address_update(fake_netbox):
    server(fake_netbox).primary_mac_address = "aa:bb:cc:dd:ee:ff"

    assert reread(fake_netbox).primary_mac_address == "aa:bb:cc:dd:ee:ff"


def test_access_vlan_update(fake_netbox):
    server(fake_netbox).access_vlan = "private1-b-eqiad"

    assert reread(fake_netbox).access_vlan == "private1-b-eqiad"
    assert [write.path for write in fake_netbox.writes] == ["/api/dcim/interfaces/101/"]


def test_access_vlan_must_be_active(fake_netbox):
    with pytest.raises(NetboxError, match="Failed to find an active VLAN with name old-vlan"):
        server(fake_netbox).access_vlan = "old-vlan"

    assert fake_netbox.writes == []


def test_bgp_update(fake_netbox):
    server(fake_netbox).bgp = True

    assert reread(fake_netbox).bgp is True
    assert fake_netbox.find("dcim/devices", name="test-host01")["custom_fields"] == {"bgp": True}


# -- DRY-RUN: the same checks and logs, nothing written


def test_dry_run_updates_write_nothing(fake_netbox, caplog):
    caplog.set_level(logging.INFO, logger="spicerack.netbox")
    netbox_server = server(fake_netbox, dry_run=True)

    netbox_server.status = "failed"
    netbox_server.name = "test-host09"
    netbox_server.fqdn = "test-host09.eqiad.wmnet"
    netbox_server.mgmt_fqdn = "test-host09.mgmt.eqiad.wmnet"
    netbox_server.primary_ip4_address = "10.64.0.9/22"
    netbox_server.primary_mac_address = "aa:bb:cc:dd:ee:ff"
    netbox_server.access_vlan = "private1-b-eqiad"
    netbox_server.bgp = True

    assert fake_netbox.writes == []
    assert not [method for method, _ in fake_netbox.requests if method != "GET"]
    assert "Skipping Netbox status change from active to failed for device test-host01 in DRY-RUN." in caplog.text
    unchanged = reread(fake_netbox)
    assert (unchanged.status, unchanged.fqdn, unchanged.access_vlan, unchanged.bgp) == (
        "active",
        "test-host01",
        "private1-a-eqiad",
        False,
    )


def test_dry_run_still_checks_the_transitions(fake_netbox):
    with pytest.raises(NetboxError, match="Forbidden Netbox status transition"):
        server(fake_netbox, dry_run=True).status = "spare"


# -- scripts


def test_run_script_returns_its_log(fake_netbox):
    log = client(fake_netbox).run_script("spicerack_test.EchoScript", commit=True, params={"host": "test-host01"})

    assert [entry["message"] for entry in log] == ["commit=1", '{"host": "test-host01"}']


def test_run_script_waits_for_the_job(fake_netbox):
    fake_netbox.script_pending_polls = 1

    log = client(fake_netbox).run_script("spicerack_test.EchoScript", params={})

    assert log[0]["message"] == "commit=0"
    assert len([path for _, path in fake_netbox.requests if path.startswith("/api/core/jobs/")]) == 2


def test_run_script_in_dry_run_does_not_commit(fake_netbox):
    log = client(fake_netbox, dry_run=True).run_script("spicerack_test.EchoScript", commit=True, params={})

    assert log[0]["message"] == "commit=0"


def test_run_unknown_script(fake_netbox):
    with pytest.raises(NetboxScriptError, match=r"Failed to start Netbox script nope\.Nope"):
        client(fake_netbox).run_script("nope.Nope", params={})


def test_run_script_failing_to_start(fake_netbox):
    fake_netbox.fail("/api/extras/scripts/1/", 500, method="POST")

    with pytest.raises(NetboxScriptError, match=r"Failed to start Netbox script spicerack_test\.EchoScript"):
        client(fake_netbox).run_script("spicerack_test.EchoScript", params={})
