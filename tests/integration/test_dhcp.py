"""Integration tests of spicerack.dhcp: snippets travel over SSH to two install servers of the fleet.

Each install server keeps its automation directory under its state directory; the ``dhcpincludes`` stand-in
(fleet_tools/dhcpincludes) regenerates the include files and checks the whole configuration with the real
``dhcpd -t`` of Debian's isc-dhcp-server, so a snippet dhcpd would reject is rejected here too.
"""

import shutil
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from spicerack import Spicerack, dhcp
from spicerack.dhcp import DHCPConfMac, DHCPConfMgmt, DHCPConfOpt82, DHCPConfUUID, DHCPError, DHCPRestartError
from tests.integration.servers import require_binary

INSTALL_SERVERS = ("test-host05", "test-host06")
AUTOMATION_DIRS = ("ttyS0-115200", "ttyS1-115200", "mgmt-eqiad")
OK = "commit: configuration OK, isc-dhcp-server restarted"
REJECTED = "commit: configuration rejected"


@pytest.fixture
def dhcp_fleet(ssh_fleet, monkeypatch, tmp_path):
    """Two install servers with empty automation directories, the dhcpincludes stand-in and per-host paths."""
    require_binary("dhcpd")
    target = ssh_fleet.bin_dir / "dhcpincludes"
    shutil.copyfile(Path(__file__).parent / "fleet_tools" / "dhcpincludes", target)
    target.chmod(0o755)
    for host in INSTALL_SERVERS:
        shutil.rmtree(ssh_fleet.state_dir(host) / "dhcp", ignore_errors=True)
        for name in AUTOMATION_DIRS:
            (automation(ssh_fleet, host) / name).mkdir(parents=True)
    monkeypatch.setattr(dhcp, "DHCP_TARGET_PATH", "$FLEET_STATE_DIR/dhcp/automation")
    monkeypatch.setattr(dhcp, "DHCP_REFRESH_COMMAND", "dhcpincludes -r commit")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the local locks go there
    return ssh_fleet


@pytest.fixture
def cumin_with_aliases(dhcp_fleet, tmp_path):
    """The fleet's cumin config, with the aliases of the install servers' query (cumin reads aliases.yaml beside)."""
    config_dir = tmp_path / "cumin"
    config_dir.mkdir()
    shutil.copyfile(dhcp_fleet.cumin_config, config_dir / "config.yaml")
    servers = ",".join(INSTALL_SERVERS)
    (config_dir / "aliases.yaml").write_text(
        f"installserver: D{{{servers}}}\neqiad: D{{{servers},test-host01}}\ncodfw: D{{test-host02}}\n"
    )
    return config_dir / "config.yaml"


def dhcp_client(cumin_config, tmp_path, *, dry_run=False, datacenter="eqiad"):
    spicerack = Spicerack(cumin_config=str(cumin_config), spicerack_config_dir=str(tmp_path), dry_run=dry_run)
    return spicerack.dhcp(datacenter)


def automation(fleet, host):
    return fleet.state_dir(host) / "dhcp" / "automation"


def snippet(fleet, host, conf):
    return automation(fleet, host) / conf.filename


def refreshes(fleet, host):
    log = fleet.state_dir(host) / "dhcp" / "dhcpincludes.log"
    return log.read_text().splitlines() if log.exists() else []


def included(fleet, host, conf):
    include = automation(fleet, host) / f"{conf.filename.split('/')[0]}.conf"
    return f'include "{snippet(fleet, host, conf)}";' in include.read_text()


CONFIGURATIONS = [
    DHCPConfOpt82(
        hostname="sretest1001",
        ipv4=IPv4Address("10.64.0.5"),
        switch_hostname="asw2-a-eqiad",
        switch_iface="ge-0/0/1",
        vlan="private1-a-eqiad",
        ttys=1,
        distro="bookworm",
        dhcp_filename="lpxelinux.0",
        dhcp_filename_exclude_vendor="d-i",
    ),
    DHCPConfMac(
        hostname="sretest1002", ipv4=IPv4Address("10.64.0.6"), mac="aa:bb:cc:00:11:22", ttys=0, distro="trixie"
    ),
    DHCPConfUUID(
        hostname="sretest1003",
        ipv4=IPv4Address("10.64.0.7"),
        uuid="4c4c4544-0051-3810-8057-b8c04f563232",
        ttys=1,
        distro="bookworm",
        media_type="rescue",
    ),
    DHCPConfMgmt(
        datacenter="eqiad",
        serial="ABC123X",
        manufacturer="Dell",
        fqdn="sretest1001.mgmt.eqiad.wmnet",
        ipv4=IPv4Address("10.65.0.5"),
    ),
    # An iPXE chainload with a numeric VLAN: iPXE clients get the script, the others the iPXE binary.
    DHCPConfOpt82(
        hostname="sretest1004",
        ipv4=IPv4Address("10.64.0.8"),
        switch_hostname="asw2-a-eqiad",
        switch_iface="ge-0/0/2",
        vlan=1021,
        ttys=0,
        distro="trixie",
        dhcp_filename="ipxe.efi",
        dhcp_filename_ipxe="http://apt.wikimedia.org/autoexec.ipxe",
    ),
    # A Nokia device matched by its client identifier: a NUL byte, then the serial.
    DHCPConfMgmt(
        datacenter="eqiad",
        serial="NS1234",
        manufacturer="Nokia",
        fqdn="ssw1-a1-eqiad.mgmt.eqiad.wmnet",
        ipv4=IPv4Address("10.65.0.6"),
    ),
]


@pytest.mark.parametrize("conf", CONFIGURATIONS, ids=lambda conf: f"{type(conf).__name__}-{conf.filename}")
def test_push_then_remove_each_kind_of_snippet(conf, dhcp_fleet, cumin_with_aliases, tmp_path):
    client = dhcp_client(cumin_with_aliases, tmp_path)
    client.push_configuration(conf)
    for host in INSTALL_SERVERS:
        assert snippet(dhcp_fleet, host, conf).read_text() == str(conf)
        assert included(dhcp_fleet, host, conf)  # dhcpd -t accepted the configuration including it
        assert refreshes(dhcp_fleet, host) == [OK]

    client.remove_configuration(conf)
    for host in INSTALL_SERVERS:
        assert not snippet(dhcp_fleet, host, conf).exists()
        assert not included(dhcp_fleet, host, conf)
        assert refreshes(dhcp_fleet, host) == [OK, OK]
    assert not (dhcp_fleet.state_dir("test-host01") / "dhcp").exists()  # in eqiad, but not an install server


def test_config_removes_the_snippet_even_when_the_body_raises(dhcp_fleet, cumin_with_aliases, tmp_path):
    conf = CONFIGURATIONS[1]
    client = dhcp_client(cumin_with_aliases, tmp_path)
    with pytest.raises(RuntimeError, match="reimage failed"), client.config(conf):
        assert all(snippet(dhcp_fleet, host, conf).exists() for host in INSTALL_SERVERS)
        raise RuntimeError("reimage failed")
    for host in INSTALL_SERVERS:
        assert not snippet(dhcp_fleet, host, conf).exists()
        assert refreshes(dhcp_fleet, host) == [OK, OK]


def test_a_snippet_dhcpd_rejects_is_removed_again(dhcp_fleet, cumin_with_aliases, tmp_path):
    conf = DHCPConfMac(
        hostname="sretest1004",
        ipv4=IPv4Address("10.64.0.8"),
        mac="aa:bb:cc:00:11:33",
        ttys=1,
        distro="",
        dhcp_options={"pxelinux.no-such-option": "x"},  # well-formed, but dhcpd knows no such option
    )
    client = dhcp_client(cumin_with_aliases, tmp_path)
    with pytest.raises(DHCPRestartError, match="Failed to refresh the DHCP server"):
        client.push_configuration(conf)
    for host in INSTALL_SERVERS:
        assert not snippet(dhcp_fleet, host, conf).exists()
        assert refreshes(dhcp_fleet, host) == [REJECTED, OK]


def test_remove_refuses_a_snippet_changed_on_the_server_unless_forced(dhcp_fleet, cumin_with_aliases, tmp_path):
    conf = CONFIGURATIONS[3]
    client = dhcp_client(cumin_with_aliases, tmp_path)
    client.push_configuration(conf)
    changed = snippet(dhcp_fleet, INSTALL_SERVERS[1], conf)
    changed.write_text(str(conf).replace("10.65.0.5", "10.65.0.6"))

    with pytest.raises(DHCPError, match="mismatched SHA256, refusing to remove it"):
        client.remove_configuration(conf)
    assert all(snippet(dhcp_fleet, host, conf).exists() for host in INSTALL_SERVERS)  # nothing removed anywhere

    client.remove_configuration(conf, force=True)
    assert not any(snippet(dhcp_fleet, host, conf).exists() for host in INSTALL_SERVERS)


def test_remove_refuses_a_snippet_missing_on_a_server(dhcp_fleet, cumin_with_aliases, tmp_path):
    conf = CONFIGURATIONS[0]
    client = dhcp_client(cumin_with_aliases, tmp_path)
    client.push_configuration(conf)
    snippet(dhcp_fleet, INSTALL_SERVERS[0], conf).unlink()
    with pytest.raises(DHCPError, match=r"Failed to checksum .*/ttyS1-115200/sretest1001\.conf for safe removal"):
        client.remove_configuration(conf)
    assert snippet(dhcp_fleet, INSTALL_SERVERS[1], conf).exists()


def test_push_replaces_an_existing_snippet_of_the_same_host(dhcp_fleet, cumin_with_aliases, tmp_path):
    old, new = (
        CONFIGURATIONS[1],
        DHCPConfMac(
            hostname="sretest1002", ipv4=IPv4Address("10.64.0.9"), mac="aa:bb:cc:00:11:44", ttys=0, distro="trixie"
        ),
    )
    client = dhcp_client(cumin_with_aliases, tmp_path)
    client.push_configuration(old)
    client.push_configuration(new)
    for host in INSTALL_SERVERS:
        assert snippet(dhcp_fleet, host, new).read_text() == str(new)
    with pytest.raises(DHCPError, match="mismatched SHA256"):
        client.remove_configuration(old)
    client.remove_configuration(new)


def test_dry_run_writes_nothing(dhcp_fleet, cumin_with_aliases, tmp_path):
    conf = CONFIGURATIONS[2]
    client = dhcp_client(cumin_with_aliases, tmp_path, dry_run=True)
    client.push_configuration(conf)
    with client.config(conf):
        pass
    client.remove_configuration(conf, force=True)
    for host in INSTALL_SERVERS:
        assert list(automation(dhcp_fleet, host).rglob("*.conf")) == []
        assert refreshes(dhcp_fleet, host) == []


def test_unknown_datacenter_alias_falls_back_to_eqiad(dhcp_fleet, cumin_with_aliases, tmp_path):
    conf = CONFIGURATIONS[1]
    client = dhcp_client(cumin_with_aliases, tmp_path, datacenter="magru")  # no magru alias: eqiad's servers
    client.push_configuration(conf)
    assert all(snippet(dhcp_fleet, host, conf).exists() for host in INSTALL_SERVERS)
    client.remove_configuration(conf)
