"""Unit tests of spicerack.ganeti: Netbox lookups, RAPI answers (requests-mock), gnt-instance commands, config."""

import base64
import logging
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from pynetbox import RequestError  # type: ignore[import-untyped,unused-ignore]

from spicerack import Spicerack
from spicerack.ganeti import (
    INSTANCE_LINKS,
    RAPI_URL_FORMAT,
    STORAGE_TYPES,
    Ganeti,
    GanetiCluster,
    GanetiError,
    GanetiGroup,
    GanetiRAPI,
    GntInstance,
    ganeti_config,
)
from tests.unit.remote_stub import StubRemoteHosts

CLUSTER_FQDN = "ganeti01.svc.eqiad.example.org"
RAPI = f"https://{CLUSTER_FQDN}:5080/2"
VM = "vm1001.eqiad.example.org"


class FakeEndpoint:
    """A Netbox endpoint answering ``get(**filters)`` from a table of (filters -> object), recording the calls."""

    def __init__(self, objects: dict[tuple[tuple[str, str], ...], Any] | None = None, error: Exception | None = None):
        self.objects = objects or {}
        self.error = error
        self.calls: list[dict[str, str]] = []

    def get(self, **filters: str) -> Any:
        self.calls.append(filters)
        if self.error is not None:
            raise self.error
        return self.objects.get(tuple(sorted(filters.items())))


class FakeRemote:
    """Returns one StubRemoteHosts per query, recording the queries."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.hosts: dict[str, StubRemoteHosts] = {}

    def query(self, query: str) -> StubRemoteHosts:
        self.queries.append(query)
        return self.hosts.setdefault(query, StubRemoteHosts(query))


def make_netbox(*, custom_fields: dict[str, Any] | None = None, dns_name: str | None = CLUSTER_FQDN) -> Any:
    """A stand-in of spicerack.netbox.Netbox: cluster group eqiad, its address, group row_A and VM vm1001."""
    fields = {"ip_address": {"address": "10.0.0.1/24"}, "routed": False} if custom_fields is None else custom_fields
    cluster_group = SimpleNamespace(name="eqiad", custom_fields=fields)
    api = SimpleNamespace(
        virtualization=SimpleNamespace(
            cluster_groups=FakeEndpoint({(("name", "eqiad"),): cluster_group}),
            clusters=FakeEndpoint(
                {(("group", "eqiad"), ("name", "row_A")): SimpleNamespace(site=SimpleNamespace(slug="eqiad"))}
            ),
            virtual_machines=FakeEndpoint(
                {(("name", "vm1001"),): SimpleNamespace(cluster=SimpleNamespace(group=cluster_group))}
            ),
        ),
        ipam=SimpleNamespace(
            ip_addresses=FakeEndpoint({(("address", "10.0.0.1/24"),): SimpleNamespace(dns_name=dns_name)})
        ),
    )
    return SimpleNamespace(api=api)


@pytest.fixture
def remote() -> FakeRemote:
    return FakeRemote()


def make_ganeti(remote: FakeRemote, netbox: Any = None) -> Ganeti:
    return Ganeti("rapi-user", "rapi-pass", 7, remote, make_netbox() if netbox is None else netbox)  # type: ignore[arg-type]


def test_constants_are_the_documented_values() -> None:
    assert INSTANCE_LINKS == ("public", "private", "analytics", "sandbox")
    assert STORAGE_TYPES == ("drbd", "plain")
    assert RAPI_URL_FORMAT.format(cluster="c.example.org") == "https://c.example.org:5080"


def test_get_cluster_from_netbox(remote: FakeRemote) -> None:
    cluster = make_ganeti(remote).get_cluster("eqiad")

    assert cluster == GanetiCluster(name="eqiad", fqdn=CLUSTER_FQDN, rapi=f"https://{CLUSTER_FQDN}:5080", routed=False)


def test_get_group_from_netbox(remote: FakeRemote) -> None:
    group = make_ganeti(remote).get_group("row_A", cluster="eqiad")

    assert group == GanetiGroup(name="row_A", site="eqiad", cluster=make_ganeti(remote).get_cluster("eqiad"))


def test_get_group_unknown(remote: FakeRemote) -> None:
    with pytest.raises(GanetiError, match=r"^Unable to find virtualization cluster row_Z in cluster group eqiad"):
        make_ganeti(remote).get_group("row_Z", cluster="eqiad")


@pytest.mark.parametrize(
    ("custom_fields", "dns_name", "message"),
    [
        ({"routed": True}, CLUSTER_FQDN, "Virtualization cluster group eqiad has no IP address."),
        ({"ip_address": {"address": "10.0.0.1/24"}}, CLUSTER_FQDN, "doesn't have the 'routed' custom field set."),
        ({"ip_address": {}, "routed": True}, CLUSTER_FQDN, "Virtualization cluster group eqiad IP address has no ad"),
        ({"ip_address": {"address": ""}, "routed": True}, CLUSTER_FQDN, "IP address has no address."),
        ({"ip_address": {"address": "10.9.9.9/24"}, "routed": True}, CLUSTER_FQDN, "Unable to find the IP address"),
        (None, "", "Virtualization cluster group eqiad's IP address 10.0.0.1/24 has no DNS name."),
    ],
)
def test_get_cluster_incomplete_in_netbox(
    remote: FakeRemote, custom_fields: dict[str, Any] | None, dns_name: str, message: str
) -> None:
    ganeti = make_ganeti(remote, make_netbox(custom_fields=custom_fields, dns_name=dns_name))

    with pytest.raises(GanetiError, match=message):
        ganeti.get_cluster("eqiad")


def test_get_cluster_unknown(remote: FakeRemote) -> None:
    with pytest.raises(GanetiError, match=r"^Unable to find virtualization cluster group codfw on Netbox.$"):
        make_ganeti(remote).get_cluster("codfw")


@pytest.mark.parametrize(
    "error",
    [
        requests.ConnectionError("connection refused"),
        RequestError(
            SimpleNamespace(
                status_code=500, url="u", reason="x", text="boom", json=dict, request=SimpleNamespace(body=None)
            )
        ),
        ValueError("get() returned more than one result"),
    ],
)
def test_netbox_errors_become_ganeti_errors(remote: FakeRemote, error: Exception) -> None:
    netbox = make_netbox()
    netbox.api.virtualization.cluster_groups.error = error

    with pytest.raises(GanetiError, match=r"^Unable to look up the cluster group eqiad on Netbox: "):
        make_ganeti(remote, netbox).rapi("eqiad")


def test_rapi_reads_info_with_basic_auth_and_ca(remote: FakeRemote, requests_mock: Any) -> None:
    requests_mock.get(f"{RAPI}/info", json={"master": "ganeti1001.eqiad.example.org", "name": CLUSTER_FQDN})
    rapi = make_ganeti(remote).rapi("eqiad")

    assert rapi.info["name"] == CLUSTER_FQDN
    assert rapi.master == "ganeti1001.eqiad.example.org"
    request = requests_mock.last_request
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"rapi-user:rapi-pass").decode()
    assert request.verify == "/etc/ssl/certs/wmf-ca-certificates.crt"


def test_rapi_master_missing(requests_mock: Any) -> None:
    requests_mock.get("https://c:5080/2/info", json={"name": "c"})

    assert GanetiRAPI("https://c:5080", "u", "p", 1, "/ca").master is None


@pytest.mark.parametrize(("bulk", "query"), [(False, ""), (True, "?bulk=1")])
def test_rapi_groups_and_nodes(requests_mock: Any, bulk: bool, query: str) -> None:
    requests_mock.get(f"https://c:5080/2/groups{query}", complete_qs=True, json=[{"name": "row_A"}])
    requests_mock.get(f"https://c:5080/2/nodes{query}", complete_qs=True, json=[{"name": "n1"}, {"name": "n2"}])
    rapi = GanetiRAPI("https://c:5080/", "u", "p", 1, "/ca")

    assert rapi.groups(bulk) == [{"name": "row_A"}]
    assert rapi.nodes(bulk=bulk) == [{"name": "n1"}, {"name": "n2"}]


def test_rapi_fetch_instance_and_mac(requests_mock: Any) -> None:
    requests_mock.get(f"https://c:5080/2/instances/{VM}", json={"name": VM, "nic.macs": ["aa:00:00:11:22:33"]})
    rapi = GanetiRAPI("https://c:5080", "u", "p", 1, "/ca")

    assert rapi.fetch_instance(VM)["name"] == VM
    assert rapi.fetch_instance_mac(VM) == "aa:00:00:11:22:33"


@pytest.mark.parametrize("answer", [{"name": VM}, {"nic.macs": []}, {"nic.macs": None}])
def test_rapi_fetch_instance_mac_missing(requests_mock: Any, answer: dict[str, Any]) -> None:
    requests_mock.get(f"https://c:5080/2/instances/{VM}", json=answer)

    with pytest.raises(GanetiError, match=f"^Can't find any MACs for instance {VM}$"):
        GanetiRAPI("https://c:5080", "u", "p", 1, "/ca").fetch_instance_mac(VM)


def test_rapi_unknown_instance(requests_mock: Any) -> None:
    body = '{"code": 404, "message": "Not Found", "explain": "Nothing matches the given URI"}'
    requests_mock.get(f"https://c:5080/2/instances/{VM}", status_code=404, text=body)

    with pytest.raises(GanetiError, match=r"^Non-200 from API: 404: .*Nothing matches the given URI"):
        GanetiRAPI("https://c:5080", "u", "p", 1, "/ca").fetch_instance(VM)


@pytest.mark.parametrize("error", [requests.ConnectTimeout("timed out"), requests.ConnectionError("refused")])
def test_rapi_request_failure(requests_mock: Any, error: Exception) -> None:
    requests_mock.get("https://c:5080/2/info", exc=error)

    with pytest.raises(GanetiError, match=r"^Error while performing request to RAPI https://c:5080/2/info: "):
        GanetiRAPI("https://c:5080", "u", "p", 1, "/ca").info  # noqa: B018


@pytest.mark.parametrize(
    ("body", "message"),
    [("<html>oops</html>", "Malformed JSON answer from RAPI"), ("[1, 2]", "Malformed RAPI answer for info")],
)
def test_rapi_malformed_answer(requests_mock: Any, body: str, message: str) -> None:
    requests_mock.get("https://c:5080/2/info", text=body)

    with pytest.raises(GanetiError, match=message):
        GanetiRAPI("https://c:5080", "u", "p", 1, "/ca").master  # noqa: B018


def test_rapi_missing_ca_bundle() -> None:
    rapi = GanetiRAPI("https://127.0.0.1:9", "u", "p", 1, "/nonexistent/ca.pem")

    with pytest.raises(GanetiError, match=r"^Error while performing request to RAPI .*/nonexistent/ca.pem"):
        rapi.info  # noqa: B018


def test_instance_finds_cluster_and_master(remote: FakeRemote, requests_mock: Any) -> None:
    requests_mock.get(f"{RAPI}/info", json={"master": "ganeti1001.eqiad.example.org"})

    instance = make_ganeti(remote).instance(VM)

    assert isinstance(instance, GntInstance)
    assert instance.cluster == "eqiad"
    assert remote.queries == ["ganeti1001.eqiad.example.org"]


def test_instance_with_cluster_skips_vm_lookup(remote: FakeRemote, requests_mock: Any) -> None:
    requests_mock.get(f"{RAPI}/info", json={"master": "ganeti1001.eqiad.example.org"})
    netbox = make_netbox()

    instance = make_ganeti(remote, netbox).instance("new1001.eqiad.example.org", cluster="eqiad")

    assert instance.cluster == "eqiad"
    assert netbox.api.virtualization.virtual_machines.calls == []


def test_instance_unknown_vm(remote: FakeRemote) -> None:
    with pytest.raises(GanetiError, match=r"^Ganeti Virtual Machine nope.example.org does not exist on Netbox"):
        make_ganeti(remote).instance("nope.example.org")

    assert remote.queries == []


def test_instance_master_unknown(remote: FakeRemote, requests_mock: Any) -> None:
    requests_mock.get(f"{RAPI}/info", json={})

    with pytest.raises(GanetiError, match=r"^Master for cluster eqiad is None$"):
        make_ganeti(remote).instance(VM)

    assert remote.queries == []


@pytest.fixture
def gnt() -> tuple[GntInstance, StubRemoteHosts]:
    master = StubRemoteHosts("ganeti1001.eqiad.example.org")
    return GntInstance(master, "eqiad", VM), master  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("action", "kwargs", "command"),
    [
        ("shutdown", {}, f"gnt-instance shutdown --force --timeout=2 {VM}"),
        ("shutdown", {"timeout": 0}, f"gnt-instance shutdown --force --timeout=0 {VM}"),
        ("startup", {}, f"gnt-instance startup --force {VM}"),
        ("remove", {}, f"gnt-instance remove --shutdown-timeout=2 --force {VM}"),
        ("remove", {"shutdown_timeout": 5}, f"gnt-instance remove --shutdown-timeout=5 --force {VM}"),
        ("set_boot_media", {"boot": "network"}, f"gnt-instance modify --hypervisor-parameters=boot_order=network {VM}"),
    ],
)
def test_gnt_instance_commands(
    gnt: tuple[GntInstance, StubRemoteHosts], action: str, kwargs: dict[str, Any], command: str
) -> None:
    instance, master = gnt
    getattr(instance, action)(**kwargs)

    assert master.commands == [command]


@pytest.mark.parametrize(
    ("net", "net_option", "kvm_extra"),
    [
        ("public", "0:link=public", ""),
        (
            IPv4Address("198.51.100.7"),
            "0:ip=198.51.100.7",
            ',kvm_extra="-fw_cfg name=opt/ip\\,string=198.51.100.7 -fw_cfg name=opt/ip6\\,string=2001:db8::7"',
        ),
    ],
)
def test_gnt_instance_add(
    gnt: tuple[GntInstance, StubRemoteHosts],
    caplog: pytest.LogCaptureFixture,
    net: str | IPv4Address,
    net_option: str,
    kvm_extra: str,
) -> None:
    instance, master = gnt
    master.outputs = ["Instance created"]
    caplog.set_level(logging.DEBUG, logger="spicerack.ganeti")

    instance.add(
        group="row_B", vcpus=4, memory=1.5, disk=20, storage_type="plain", net=net, ip6=IPv6Address("2001:db8::7")
    )

    assert master.commands == [
        f"gnt-instance add -t plain -I hail --net {net_option}"
        f" --hypervisor-parameters=kvm:boot_order=network{kvm_extra} -o debootstrap+default --no-install"
        f" --no-wait-for-sync -g row_B -B vcpus=4,memory=1536m --disk 0:size=20g {VM}"
    ]
    assert master.calls[0][1] == {"print_output": True}
    assert f"Creating VM {VM} in cluster eqiad with group=row_B vcpus=4 memory=1GB disk=20GB net={net}." in caplog.text
    assert "Instance created" in caplog.text


def test_gnt_instance_quotes_user_values_for_the_remote_shell(gnt: tuple[GntInstance, StubRemoteHosts]) -> None:
    master = gnt[1]
    instance = GntInstance(master, "eqiad", "vm1.example.org; rm -rf /")  # type: ignore[arg-type]

    instance.startup()
    instance.set_boot_media("disk $(reboot)")
    instance.add(
        group="row_A && halt", vcpus=1, memory=1, disk=1, storage_type="plain", net="private", ip6=IPv6Address("::1")
    )

    assert master.commands[0] == "gnt-instance startup --force 'vm1.example.org; rm -rf /'"
    assert master.commands[1] == (
        "gnt-instance modify --hypervisor-parameters=boot_order='disk $(reboot)' 'vm1.example.org; rm -rf /'"
    )
    assert " -g 'row_A && halt' " in master.commands[2]
    assert master.commands[2].endswith(" 'vm1.example.org; rm -rf /'")


GOOD = {"group": "row_A", "vcpus": 1, "memory": 1, "disk": 1, "storage_type": "drbd", "net": "private"}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"net": "internet"},
            "Invalid link 'internet', expected one of: ('public', 'private', 'analytics', 'sandbox')",
        ),
        ({"net": "10.0.0.1", "disk": 0}, "Invalid link '10.0.0.1'"),
        ({"net": 42, "vcpus": 0}, "'42' must be an IPv4Address or one of: ('public', "),
        ({"ip6": "2001:db8::1", "vcpus": 0}, "'2001:db8::1' must be an IPv6Address object."),
        ({"storage_type": "rbd", "vcpus": 0}, "Invalid storage type 'rbd', expected one of: ('drbd', 'plain')."),
        ({"vcpus": 0}, "Invalid value '0' for vcpus, expected positive integer."),
        ({"memory": -0.5}, "Invalid value '-0.5' for memory, expected positive integer."),
        ({"disk": -1, "net": IPv4Address("192.0.2.1")}, "Invalid value '-1' for disk, expected positive integer."),
    ],
)
def test_gnt_instance_add_rejects_bad_parameters(
    gnt: tuple[GntInstance, StubRemoteHosts], changes: dict[str, Any], message: str
) -> None:
    instance, master = gnt
    kwargs = {**GOOD, "ip6": IPv6Address("2001:db8::1"), **changes}

    with pytest.raises(GanetiError) as error:
        instance.add(**kwargs)

    assert str(error.value).startswith(message)
    assert master.calls == []


def write_config(config_dir: Path, content: str) -> None:
    (config_dir / "ganeti").mkdir(exist_ok=True)
    (config_dir / "ganeti" / "config.yaml").write_text(content)


def test_config_read(tmp_path: Path) -> None:
    write_config(tmp_path, "username: rapi\npassword: s3cret\ntimeout: 10\n")

    assert ganeti_config(tmp_path) == ("rapi", "s3cret", 10)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("username: rapi\n", r"Missing key\(s\) password, timeout in the Ganeti config file"),
        ("username: u\npassword: p\ntimeout: 0\n", "Invalid timeout in the Ganeti config file"),
        ("username: u\npassword: p\ntimeout: ten\n", "Invalid timeout in the Ganeti config file"),
        ("- a list\n", "must be a YAML mapping"),
    ],
)
def test_config_invalid(tmp_path: Path, content: str, message: str) -> None:
    write_config(tmp_path, content)

    with pytest.raises(GanetiError, match=message):
        ganeti_config(tmp_path)


def test_config_missing(tmp_path: Path) -> None:
    with pytest.raises(GanetiError, match=r"^Unable to read the Ganeti config file .*/ganeti/config.yaml: No such"):
        ganeti_config(tmp_path)


def test_accessor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, requests_mock: Any) -> None:
    write_config(tmp_path, "username: rapi\npassword: s3cret\ntimeout: 3\n")
    cumin_config = tmp_path / "cumin.yaml"
    cumin_config.write_text("transport: clustershell\ndefault_backend: direct\n")
    netbox = make_netbox()
    monkeypatch.setattr(Spicerack, "netbox", lambda self, **kwargs: netbox, raising=False)
    requests_mock.get(f"{RAPI}/info", json={"master": "ganeti1001.eqiad.example.org"})
    spicerack = Spicerack(spicerack_config_dir=str(tmp_path), cumin_config=str(cumin_config), dry_run=True)

    ganeti = spicerack.ganeti()

    assert isinstance(ganeti, Ganeti)
    assert ganeti.rapi("eqiad").master == "ganeti1001.eqiad.example.org"
    assert requests_mock.last_request.headers["Authorization"] == "Basic " + base64.b64encode(b"rapi:s3cret").decode()
