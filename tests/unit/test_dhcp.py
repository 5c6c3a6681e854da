"""Unit tests of spicerack.dhcp: snippet rendering and validation, and the commands DHCP sends (stubbed hosts)."""

import base64
import dataclasses
from contextlib import contextmanager
from hashlib import sha256
from ipaddress import IPv4Address

import pytest

from spicerack import Spicerack
from spicerack.dhcp import (
    DHCP,
    DHCP_REFRESH_COMMAND,
    DHCP_TARGET_PATH,
    DHCPConfiguration,
    DHCPConfMac,
    DHCPConfMgmt,
    DHCPConfOpt82,
    DHCPConfUUID,
    DHCPError,
    DHCPRestartError,
)
from spicerack.exceptions import SpicerackError
from spicerack.remote import RemoteExecutionError
from tests.unit.remote_stub import StubRemoteHosts

IP = IPv4Address("10.64.0.5")


def opt82(**kwargs):
    params = {
        "hostname": "sretest1001",
        "ipv4": IP,
        "switch_hostname": "asw2-a-eqiad",
        "switch_iface": "ge-0/0/1",
        "vlan": "private1-a-eqiad",
        "ttys": 1,
        "distro": "bookworm",
    }
    return DHCPConfOpt82(**{**params, **kwargs})


def mac(**kwargs):
    params = {"hostname": "sretest1001", "ipv4": IP, "mac": "aa:bb:cc:00:11:22", "ttys": 0, "distro": "bookworm"}
    return DHCPConfMac(**{**params, **kwargs})


def uuid_conf(**kwargs):
    params = {
        "hostname": "sretest1001",
        "ipv4": IP,
        "uuid": "4c4c4544-0051-3810-8057-b8c04f563232",
        "ttys": 1,
        "distro": "bookworm",
    }
    return DHCPConfUUID(**{**params, **kwargs})


def mgmt(**kwargs):
    params = {
        "datacenter": "eqiad",
        "serial": "ABC123X",
        "manufacturer": "Dell",
        "fqdn": "sretest1001.mgmt.eqiad.wmnet",
        "ipv4": IPv4Address("10.65.0.5"),
    }
    return DHCPConfMgmt(**{**params, **kwargs})


PATHPREFIX = '    option pxelinux.pathprefix "http://apt.wikimedia.org/tftpboot/bookworm-installer/";\n'


def test_opt82_snippet_and_filename():
    conf = opt82()
    assert str(conf) == (
        "\nhost sretest1001 {\n"
        '    host-identifier option agent.circuit-id "asw2-a-eqiad:ge-0/0/1:private1-a-eqiad";\n'
        "    fixed-address 10.64.0.5;\n" + PATHPREFIX + "}\n"
    )
    assert conf.filename == "ttyS1-115200/sretest1001.conf"
    assert conf.dhcp_options == {"pxelinux.pathprefix": "http://apt.wikimedia.org/tftpboot/bookworm-installer/"}


def test_mac_snippet_and_filename():
    conf = mac(media_type="rescue")
    assert str(conf) == (
        "\nhost sretest1001 {\n"
        "    hardware ethernet aa:bb:cc:00:11:22;\n"
        "    fixed-address 10.64.0.5;\n"
        '    option pxelinux.pathprefix "http://apt.wikimedia.org/tftpboot/bookworm-rescue/";\n'
        "}\n"
    )
    assert conf.filename == "ttyS0-115200/sretest1001.conf"


def test_uuid_snippet_swaps_the_first_three_fields():
    conf = uuid_conf(distro="")
    assert conf.pxe_client_id == "44:45:4c:4c:51:00:10:38:80:57:b8:c0:4f:56:32:32"
    assert str(conf) == (
        "\nhost sretest1001 {\n"
        "    host-identifier option pxe-client-id 00:44:45:4c:4c:51:00:10:38:80:57:b8:c0:4f:56:32:32;\n"
        "    fixed-address 10.64.0.5;\n"
        "}\n"
    )
    assert conf.filename == "ttyS1-115200/sretest1001.conf"


@pytest.mark.parametrize(("manufacturer", "host_name"), [("Dell", "idrac-abc123x"), ("Supermicro", "abc123x")])
def test_mgmt_snippet_matches_the_console_host_name(manufacturer, host_name):
    conf = mgmt(manufacturer=manufacturer)
    assert str(conf) == (
        '\nclass "sretest1001.mgmt.eqiad.wmnet" {\n'
        f'    match if (lcase(option host-name) = "{host_name}");\n'
        "}\n"
        "pool {\n"
        '    allow members of "sretest1001.mgmt.eqiad.wmnet";\n'
        "    range 10.65.0.5 10.65.0.5;\n"
        "}\n"
    )
    assert conf.filename == "mgmt-eqiad/sretest1001.mgmt.eqiad.wmnet.conf"
    assert conf.hostname == host_name


def test_filename_option_with_and_without_an_excluded_vendor():
    plain = mac(distro="", dhcp_filename="lpxelinux.0")
    assert '    filename "lpxelinux.0";\n' in str(plain)
    assert "pathprefix" not in str(plain)

    excluded = opt82(dhcp_filename="lpxelinux.0", dhcp_filename_exclude_vendor="d-i")
    assert (
        "    fixed-address 10.64.0.5;\n"
        '    if option vendor-class-identifier = "d-i" {\n'
        '        filename "";\n'
        "    } else {\n"
        '        filename "lpxelinux.0";\n'
        "    }\n" + PATHPREFIX + "}\n"
    ) in str(excluded)


def test_explicit_options_replace_the_path_prefix_and_are_not_shared():
    options = {"pxelinux.configfile": "pxelinux.cfg/ttyS1-115200", "domain-name": "eqiad.wmnet"}
    conf = mac(dhcp_options=options)
    assert str(conf).endswith(
        '    option pxelinux.configfile "pxelinux.cfg/ttyS1-115200";\n    option domain-name "eqiad.wmnet";\n}\n'
    )
    empty: dict[str, str] = {}
    mac(dhcp_options=empty)
    assert empty == {}  # the caller's dict is left alone
    assert mac(distro="").dhcp_options == {}


def test_ipv4_given_as_text_is_converted():
    assert mac(ipv4="10.64.0.9").ipv4 == IPv4Address("10.64.0.9")


def test_configurations_are_frozen():
    with pytest.raises(AttributeError):
        mac().hostname = "other"


@pytest.mark.parametrize(
    ("factory", "kwargs", "message"),
    [
        (mac, {"mac": "aa:bb:cc:00:11"}, "Invalid MAC address aa:bb:cc:00:11, must match pattern"),
        (mac, {"mac": "aa-bb-cc-00-11-22"}, "Invalid MAC address"),
        (mac, {"hostname": "bad host;rm -rf /"}, "Invalid hostname"),
        (mac, {"hostname": ""}, "Invalid hostname"),
        (mac, {"ipv4": "10.64.0.256"}, "Invalid IPv4 address '10.64.0.256'"),
        (mac, {"ipv4": "2620:0:861::1"}, "Invalid IPv4 address"),
        (mac, {"ttys": 2}, r"Invalid ttys 2, must be one of \(0, 1\)"),
        (mac, {"distro": "bookworm/../x"}, "Invalid distro"),
        (mac, {"dhcp_filename": 'a"b'}, "Invalid DHCP filename"),
        (mac, {"dhcp_options": {"bad option": "x"}}, "Invalid DHCP option name"),
        (mac, {"dhcp_options": {"domain-name": "a\nb"}}, "Invalid value of DHCP option domain-name"),
        (opt82, {"switch_hostname": "asw 2"}, "Invalid switch hostname"),
        (opt82, {"switch_iface": 'ge-0/0/1"'}, "Invalid switch interface"),
        (opt82, {"vlan": "private;1"}, "Invalid VLAN"),
        (uuid_conf, {"uuid": "4c4c4544005138108057b8c04f563232"}, "Invalid SMBIOS UUID"),
        (uuid_conf, {"uuid": "4c4c4544-0051-3810-8057-b8c04f56323z"}, "Invalid SMBIOS UUID"),
        (mgmt, {"datacenter": "nowhere"}, "Invalid datacenter nowhere, must be one of"),
        (mgmt, {"fqdn": "sretest1001.mgmt.codfw.wmnet"}, "Invalid management FQDN"),
        (mgmt, {"fqdn": "sretest1001.eqiad.wmnet"}, "Invalid management FQDN"),
        (mgmt, {"serial": "ABC 123"}, "Invalid serial"),
        (mgmt, {"ipv4": "not-an-ip"}, "Invalid IPv4 address"),
    ],
)
def test_bad_input_is_a_clear_error(factory, kwargs, message):
    with pytest.raises(DHCPError, match=message):
        factory(**kwargs)


def test_errors_are_spicerack_errors():
    assert issubclass(DHCPRestartError, DHCPError)
    assert issubclass(DHCPError, SpicerackError)


def test_configuration_is_abstract():
    with pytest.raises(TypeError):
        DHCPConfiguration()  # type: ignore[abstract]


class RecordingLock:
    """Records the lock acquisitions, in the order they happen."""

    def __init__(self, events):
        self.events = events

    @contextmanager
    def acquired(self, name, *, concurrency, ttl):
        self.events.append(("acquire", name, concurrency, ttl))
        yield
        self.events.append(("release", name))


def make_dhcp(outputs=(), *, dry_run=False, datacenter="eqiad"):
    hosts = StubRemoteHosts("install1004", outputs, dry_run=dry_run)
    events = []
    dhcp = DHCP(hosts, datacenter=datacenter, lock=RecordingLock(events), dry_run=dry_run)
    return dhcp, hosts, events


def checksum_output(conf, path=None):
    digest = sha256(str(conf).encode()).hexdigest()
    return f"{digest}  {path or DHCP_TARGET_PATH + '/' + conf.filename}"


def test_push_writes_the_snippet_base64_then_refreshes_under_the_datacenter_lock():
    conf = mac()
    dhcp, hosts, events = make_dhcp()
    dhcp.push_configuration(conf)
    write, refresh = hosts.commands
    encoded = write.split("'")[1]
    assert base64.b64decode(encoded).decode() == str(conf)
    assert write == f"/bin/echo '{encoded}' | /usr/bin/base64 -d > {DHCP_TARGET_PATH}/ttyS0-115200/sretest1001.conf"
    assert refresh == DHCP_REFRESH_COMMAND
    assert events == [("acquire", "spicerack.dhcp.DHCP:eqiad", 1, 120), ("release", "spicerack.dhcp.DHCP:eqiad")]


def test_push_removes_the_snippet_again_when_the_refresh_fails():
    dhcp, hosts, _ = make_dhcp([None, RemoteExecutionError(1, "dhcpd -t failed")])
    with pytest.raises(DHCPRestartError, match="Failed to refresh the DHCP server"):
        dhcp.push_configuration(mac())
    assert hosts.commands[1:] == [
        DHCP_REFRESH_COMMAND,
        f"/bin/rm -v {DHCP_TARGET_PATH}/ttyS0-115200/sretest1001.conf",
        DHCP_REFRESH_COMMAND,
    ]


def test_push_failing_to_write_does_not_refresh():
    dhcp, hosts, _ = make_dhcp([RemoteExecutionError(2, "no such directory")])
    with pytest.raises(DHCPError, match=r"Failed to create snippet .*/ttyS0-115200/sretest1001\.conf"):
        dhcp.push_configuration(mac())
    assert len(hosts.commands) == 1


def test_remove_checks_the_content_first():
    conf = opt82()
    dhcp, hosts, events = make_dhcp([checksum_output(conf)])
    dhcp.remove_configuration(conf)
    path = f"{DHCP_TARGET_PATH}/ttyS1-115200/sretest1001.conf"
    assert hosts.commands == [f"sha256sum {path}", f"/bin/rm -v {path}", DHCP_REFRESH_COMMAND]
    assert hosts.calls[0][1]["is_safe"] is True
    assert events[0] == ("acquire", "spicerack.dhcp.DHCP:eqiad", 1, 60)


def test_remove_refuses_a_snippet_with_another_content():
    dhcp, hosts, _ = make_dhcp([checksum_output(mac(ttys=1))])
    with pytest.raises(DHCPError, match="mismatched SHA256, refusing to remove it"):
        dhcp.remove_configuration(opt82())
    assert len(hosts.commands) == 1


def test_remove_refuses_when_one_install_server_differs():
    conf = mac()
    dhcp, _, _ = make_dhcp([{"install1004": checksum_output(conf), "install1005": "0" * 64 + "  x"}])
    with pytest.raises(DHCPError, match="mismatched SHA256"):
        dhcp.remove_configuration(conf)


def test_remove_refuses_without_output_or_when_the_checksum_fails():
    dhcp, _, _ = make_dhcp([None])
    with pytest.raises(DHCPError, match="No output when trying to checksum"):
        dhcp.remove_configuration(mac())
    dhcp, _, _ = make_dhcp([RemoteExecutionError(1, "No such file")])
    with pytest.raises(DHCPError, match=r"Failed to checksum .* for safe removal"):
        dhcp.remove_configuration(mac())


def test_forced_remove_skips_the_check():
    dhcp, hosts, _ = make_dhcp()
    dhcp.remove_configuration(mgmt(), force=True)
    assert hosts.commands == [
        f"/bin/rm -v {DHCP_TARGET_PATH}/mgmt-eqiad/sretest1001.mgmt.eqiad.wmnet.conf",
        DHCP_REFRESH_COMMAND,
    ]


def test_dry_run_remove_tolerates_a_missing_or_different_snippet():
    dhcp, hosts, _ = make_dhcp([RemoteExecutionError(1, "No such file")], dry_run=True)
    dhcp.remove_configuration(mac())
    dhcp, hosts, _ = make_dhcp(["0" * 64 + "  x"], dry_run=True)
    dhcp.remove_configuration(mac())
    assert hosts.commands[1:] == [f"/bin/rm -v {DHCP_TARGET_PATH}/ttyS0-115200/sretest1001.conf", DHCP_REFRESH_COMMAND]


def test_config_removes_the_snippet_when_the_body_raises():
    conf = mac()
    dhcp, hosts, _ = make_dhcp([None, None, checksum_output(conf)])
    with pytest.raises(RuntimeError, match="boom"), dhcp.config(conf):
        raise RuntimeError("boom")
    assert [command.split()[0] for command in hosts.commands] == [
        "/bin/echo",
        *DHCP_REFRESH_COMMAND.split()[:1],
        "sha256sum",
        "/bin/rm",
        *DHCP_REFRESH_COMMAND.split()[:1],
    ]


@pytest.mark.parametrize(("datacenter", "message"), [("nowhere", "Invalid datacenter nowhere, must be one of")])
def test_dhcp_needs_hosts_and_a_known_datacenter(datacenter, message):
    with pytest.raises(DHCPError, match=message):
        make_dhcp(datacenter=datacenter)
    with pytest.raises(DHCPError, match="No target hosts provided"):
        DHCP(StubRemoteHosts(""), datacenter="eqiad", lock=RecordingLock([]))


def test_accessor_rejects_an_unknown_datacenter_before_any_query():
    spicerack = Spicerack(cumin_config="/nonexistent/cumin.yaml")
    with pytest.raises(DHCPError, match="Invalid datacenter eqiadd, must be one of"):
        spicerack.dhcp("eqiadd")


# iPXE filename, numeric VLAN, Nokia management match


@pytest.mark.parametrize("cls", [DHCPConfOpt82, DHCPConfMac, DHCPConfUUID])
def test_field_order_ends_like_the_reference(cls):
    names = [f.name for f in dataclasses.fields(cls)]
    assert names[-6:] == [
        "distro",
        "media_type",
        "dhcp_filename",
        "dhcp_filename_exclude_vendor",
        "dhcp_filename_ipxe",
        "dhcp_options",
    ]


def test_ipxe_filename_for_ipxe_clients_only():
    conf = mac(dhcp_filename="ipxe.efi", dhcp_filename_ipxe="http://apt.example.org/autoexec.ipxe")
    assert str(conf) == (
        "\nhost sretest1001 {\n"
        "    hardware ethernet aa:bb:cc:00:11:22;\n"
        "    fixed-address 10.64.0.5;\n"
        '    if exists user-class and option user-class = "iPXE" {\n'
        '        filename "http://apt.example.org/autoexec.ipxe";\n'
        "    } else {\n"
        '        filename "ipxe.efi";\n'
        "    }\n"
        "}\n"
    )
    assert conf.dhcp_options == {}  # No PXE path prefix with iPXE


def test_excluded_vendor_wins_over_ipxe():
    conf = mac(dhcp_filename="ipxe.efi", dhcp_filename_exclude_vendor="d-i", dhcp_filename_ipxe="script.ipxe")
    assert 'if option vendor-class-identifier = "d-i" {' in str(conf)
    assert "script.ipxe" not in str(conf)


def test_ipxe_filename_alone_renders_no_filename():
    assert "filename" not in str(mac(dhcp_filename_ipxe="script.ipxe"))


def test_ipxe_filename_must_be_quotable():
    with pytest.raises(DHCPError, match="Invalid iPXE DHCP filename"):
        mac(dhcp_filename="ipxe.efi", dhcp_filename_ipxe='a"b')


def test_numeric_vlan():
    assert 'agent.circuit-id "asw2-a-eqiad:ge-0/0/1:1021";' in str(opt82(vlan=1021))
    for bad in (-1, True):
        with pytest.raises(DHCPError, match="Invalid VLAN"):
            opt82(vlan=bad)


@pytest.mark.parametrize(
    ("manufacturer", "option", "value"),
    [
        ("Dell", "host-name", "idrac-abc123x"),
        ("Supermicro", "host-name", "abc123x"),
        ("Nokia", "dhcp-client-identifier", "\0abc123x"),
    ],
)
def test_mgmt_match_option(manufacturer, option, value):
    conf = mgmt(manufacturer=manufacturer, serial="ABC123X")
    assert conf.match_option == option
    assert conf.hostname == value
    assert f'match if (lcase(option {option}) = "{value}");' in str(conf)
