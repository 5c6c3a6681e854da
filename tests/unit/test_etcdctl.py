"""Unit tests of spicerack.toolforge.etcdctl: command building and parsing of etcdctl's JSON, on a stub host."""

import json

import pytest

from spicerack.toolforge.etcdctl import (
    EtcdctlController,
    HealthStatus,
    TooManyHosts,
    UnableToParseOutput,
)
from tests.unit.remote_stub import StubRemoteHosts

HOST = "etcd1001.example.org"
STARTED = {
    "ID": 0xABC,
    "name": "etcd1001",
    "peerURLs": ["https://etcd1001:2380"],
    "clientURLs": ["https://etcd1001:2379"],
}
OTHER = {
    "ID": 0xDEF,
    "name": "etcd1002",
    "peerURLs": ["https://etcd1002:2380"],
    "clientURLs": ["https://etcd1002:2379"],
}
UNSTARTED = {"ID": 0x123, "peerURLs": ["https://etcd1003:2380"]}


def members(*raw):
    return json.dumps({"header": {"cluster_id": 1}, "members": list(raw)})


def controller(*outputs, dry_run=False):
    stub = StubRemoteHosts(HOST, outputs, dry_run=dry_run)
    return EtcdctlController(remote_host=stub), stub  # type: ignore[arg-type]


def test_command_uses_v3_api_json_and_the_hosts_certificates():
    etcd, stub = controller(members(STARTED))
    etcd.get_cluster_info()

    assert stub.commands == [
        f"ETCDCTL_API=3 etcdctl --endpoints https://{HOST}:2379 --cacert /etc/etcd/ssl/ca.pem "
        f"--cert /etc/etcd/ssl/{HOST}.pem --key /etc/etcd/ssl/{HOST}.priv member list --write-out=json"
    ]
    assert stub.calls[0][1]["is_safe"] is True


def test_empty_settings_drop_the_tls_flags(monkeypatch):
    from spicerack.toolforge import etcdctl

    monkeypatch.setattr(etcdctl, "CA_FILE", "")
    monkeypatch.setattr(etcdctl, "CERT_FILE_TEMPLATE", "")
    etcd, stub = controller(members(STARTED))
    etcd.get_cluster_info()
    assert "--cacert" not in stub.commands[0]
    assert "--cert " not in stub.commands[0]
    assert f"--key /etc/etcd/ssl/{HOST}.priv" in stub.commands[0]


def test_get_cluster_info_has_the_v2_shape():
    etcd, _ = controller(members(STARTED, UNSTARTED))
    assert etcd.get_cluster_info() == {
        "abc": {
            "member_id": "abc",
            "name": "etcd1001",
            "peerURLs": "https://etcd1001:2380",
            "clientURLs": "https://etcd1001:2379",
            "status": "up",
        },
        "123": {"member_id": "123", "peerURLs": "https://etcd1003:2380", "status": "unstarted"},
    }


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (None, "Got no output"),
        ("Error: context deadline exceeded", "Unable to parse"),
        ('{"header": {}, "members": {}}', "No members"),
        (members({"ID": "x1", "name": "x", "peerURLs": ["p"]}), "invalid member ID"),
        (members({"name": "x", "peerURLs": ["p"]}), "without ID or peerURLs"),
        (members({"ID": 1, "name": "x", "peerURLs": []}), "without ID or peerURLs"),
    ],
)
def test_unexpected_member_list_output(output, message):
    etcd, _ = controller(output)
    with pytest.raises(UnableToParseOutput, match=message):
        etcd.get_cluster_info()


def test_json_after_warnings_is_parsed():
    etcd, _ = controller('{"level":"warn","msg":"retrying"}\n' + members(STARTED))
    assert list(etcd.get_cluster_info()) == ["abc"]


def test_too_many_hosts():
    with pytest.raises(TooManyHosts, match="exactly one host, got 2"):
        EtcdctlController(remote_host=StubRemoteHosts("etcd[1001-1002]"))  # type: ignore[arg-type]


def test_cluster_health_maps_endpoints_to_members():
    health = json.dumps(
        [
            {"endpoint": "https://etcd1001:2379", "health": True},
            {"endpoint": "https://etcd1002:2379", "health": False, "error": "timeout"},
        ]
    )
    etcd, stub = controller(members(STARTED, OTHER, UNSTARTED), health)
    status = etcd.get_cluster_health()

    assert status.global_status is HealthStatus.unhealthy
    assert status.members_status == {"abc": HealthStatus.healthy, "def": HealthStatus.unhealthy}
    assert stub.commands[1].endswith("endpoint health --cluster --write-out=json 2>/dev/null || true")
    assert all(kwargs["is_safe"] for _, kwargs in stub.calls)


def test_cluster_health_all_healthy():
    health = json.dumps([{"endpoint": "https://etcd1001:2379", "health": True}])
    etcd, _ = controller(members(STARTED), health)
    assert etcd.get_cluster_health().global_status is HealthStatus.healthy


def test_cluster_health_unparsable():
    etcd, _ = controller(members(STARTED), '{"not": "a list"}')
    with pytest.raises(UnableToParseOutput, match="endpoint health"):
        etcd.get_cluster_health()


def test_ensure_node_exists_adds_a_missing_member_and_returns_its_hex_id():
    added = json.dumps({"member": {"ID": 0x456, "peerURLs": ["https://new:2380"]}, "members": []})
    etcd, stub = controller(members(STARTED), added)

    assert etcd.ensure_node_exists("new") == "456"
    assert "member add new --peer-urls=https://new:2380 --write-out=json" in stub.commands[1]
    assert stub.calls[1][1]["is_safe"] is False


def test_ensure_node_exists_dry_run_returns_empty_id():
    etcd, stub = controller(members(STARTED), None, dry_run=True)
    assert etcd.ensure_node_exists("new", "https://new:2380") == ""
    assert "member add" in stub.commands[1]


@pytest.mark.parametrize("output", ["", "{}", '{"header": {}}'])
def test_empty_member_list_has_no_members(output):
    etcd, _ = controller(output)
    assert etcd.get_cluster_info() == {}


def test_multi_line_json_is_parsed():
    etcd, _ = controller(json.dumps({"header": {"cluster_id": 1}, "members": [STARTED, UNSTARTED]}, indent=2))
    assert list(etcd.get_cluster_info()) == ["abc", "123"]


def test_status_follows_the_client_urls():
    named_but_not_serving = {"ID": 0x456, "name": "etcd1004", "peerURLs": "https://etcd1004:2380"}
    etcd, _ = controller(members(named_but_not_serving))
    assert etcd.get_cluster_info()["456"] == {
        "member_id": "456",
        "name": "etcd1004",
        "peerURLs": "https://etcd1004:2380",
        "status": "unstarted",
    }


def test_first_of_several_urls():
    several = {**STARTED, "peerURLs": ["https://a:2380", "https://b:2380"], "clientURLs": ["https://a:2379", "x"]}
    etcd, _ = controller(members(several))
    member = etcd.get_cluster_info()["abc"]
    assert (member["peerURLs"], member["clientURLs"]) == ("https://a:2380", "https://a:2379")


def test_ensure_node_exists_finds_the_new_id_by_difference_without_json():
    new = {"ID": 0x789, "name": "new", "peerURLs": ["https://new:2380"]}
    etcd, stub = controller(members(STARTED), "Member 789 added to cluster 1", members(STARTED, new))
    assert etcd.ensure_node_exists("new") == "789"
    assert [command.split(" member ")[1] for command in stub.commands] == [
        "list --write-out=json",
        "add new --peer-urls=https://new:2380 --write-out=json",
        "list --write-out=json",
    ]


def test_ensure_node_exists_without_id_in_output():
    etcd, _ = controller(members(STARTED), '{"members": []}', members(STARTED))
    with pytest.raises(UnableToParseOutput, match="Unable to find the id of the added member new"):
        etcd.ensure_node_exists("new")


def test_ensure_node_exists_keeps_an_existing_member():
    etcd, stub = controller(members(STARTED, UNSTARTED), members(STARTED, UNSTARTED))
    assert etcd.ensure_node_exists("etcd1001", "https://etcd1001:2380") == "abc"
    assert etcd.ensure_node_exists("etcd1003.fqdn", "https://etcd1003:2380") == "123"  # unstarted, by peer URL
    assert len(stub.commands) == 2


def test_ensure_node_exists_updates_a_changed_peer_url():
    etcd, stub = controller(members(STARTED), "")
    assert etcd.ensure_node_exists("etcd1001", "https://etcd1001.new:2380") == "abc"
    assert "member update abc --peer-urls=https://etcd1001.new:2380" in stub.commands[1]


def test_ensure_node_does_not_exist():
    etcd, stub = controller(members(STARTED, UNSTARTED), "", members(STARTED), members(UNSTARTED), "")
    assert etcd.ensure_node_does_not_exist("etcd1001") == "abc"
    assert "member remove abc --write-out=json" in stub.commands[1]
    assert etcd.ensure_node_does_not_exist("etcd1003") is None  # not started, default peer URL differs
    assert etcd.ensure_node_does_not_exist("etcd1003", "https://etcd1003:2380") == "123"
    assert "member remove 123" in stub.commands[4]


def test_arguments_are_shell_quoted():
    etcd, stub = controller(members(STARTED), json.dumps({"member": {"ID": 1}}))
    etcd.ensure_node_exists("bad name; rm -rf /", "https://x:2380")
    assert "'bad name; rm -rf /'" in stub.commands[1]
