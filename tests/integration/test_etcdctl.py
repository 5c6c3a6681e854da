"""Integration tests of spicerack.toolforge.etcdctl: the real etcdctl runs over SSH on a fleet host.

The cluster has two started members, so that adding a third one that never starts keeps its quorum (etcd refuses,
or loses quorum on, a change leaving fewer started members than a majority). It listens on plain HTTP, so the
TLS flags are dropped and the endpoint points at its first member.
"""

import json
import subprocess
from collections.abc import Iterator

import pytest
import requests

from spicerack import Spicerack
from spicerack.toolforge import etcdctl
from spicerack.toolforge.etcdctl import HealthStatus, TooManyHosts
from tests.integration.servers import free_port, require_binary, stop_process, wait_until

CONTROLLER = "test-host11"
NEW_MEMBER = "etcd-new.example.org"


class EtcdCluster:
    """Two etcd members on loopback, started together."""

    def __init__(self, base_dir, binary):
        self.names = ("etcd-a", "etcd-b")
        self.client_urls = {name: f"http://127.0.0.1:{free_port()}" for name in self.names}
        self.peer_urls = {name: f"http://127.0.0.1:{free_port()}" for name in self.names}
        initial = ",".join(f"{name}={url}" for name, url in self.peer_urls.items())
        self.processes = []
        for name in self.names:
            command = [
                binary,
                f"--name={name}",
                f"--data-dir={base_dir / name}",
                f"--listen-client-urls={self.client_urls[name]}",
                f"--advertise-client-urls={self.client_urls[name]}",
                f"--listen-peer-urls={self.peer_urls[name]}",
                f"--initial-advertise-peer-urls={self.peer_urls[name]}",
                f"--initial-cluster={initial}",
                "--initial-cluster-token=spicerack-etcdctl-tests",
                "--log-level=warn",
                # Otherwise etcd refuses member changes until all members have been connected for 5 seconds.
                "--strict-reconfig-check=false",
            ]
            with (base_dir / f"{name}.log").open("ab") as log:
                self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))

    @property
    def endpoint(self):
        return self.client_urls[self.names[0]]

    def is_healthy(self):
        try:
            return all(
                requests.get(f"{url}/health", timeout=1).json().get("health") == "true"
                for url in self.client_urls.values()
            )
        except (requests.RequestException, ValueError):
            return False

    def members(self):
        command = [require_binary("etcdctl"), f"--endpoints={self.endpoint}", "member", "list", "--write-out=json"]
        result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=30)
        return {format(member["ID"], "x"): member for member in json.loads(result.stdout)["members"]}

    def stop(self):
        for process in self.processes:
            stop_process(process)


@pytest.fixture(scope="module")
def etcd_cluster(tmp_path_factory) -> Iterator[EtcdCluster]:
    require_binary("etcdctl")
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd-cluster"), require_binary("etcd"))
    try:
        wait_until(cluster.is_healthy, what="etcd cluster")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def controller_factory(etcd_cluster, ssh_fleet, monkeypatch):
    monkeypatch.setattr(etcdctl, "ENDPOINT_TEMPLATE", etcd_cluster.endpoint)
    for name in ("CA_FILE", "CERT_FILE_TEMPLATE", "KEY_FILE_TEMPLATE"):
        monkeypatch.setattr(etcdctl, name, "")

    def make(*, dry_run=False):
        spicerack = Spicerack(cumin_config=str(ssh_fleet.cumin_config), dry_run=dry_run)
        return spicerack.etcdctl(remote_host=spicerack.remote().query(CONTROLLER))

    yield make
    # Leave the cluster with its two members only, whatever a test did.
    for member_id, member in etcd_cluster.members().items():
        if member.get("name") not in etcd_cluster.names:
            subprocess.run(
                [require_binary("etcdctl"), f"--endpoints={etcd_cluster.endpoint}", "member", "remove", member_id],
                check=True,
                capture_output=True,
                timeout=30,
            )


def new_peer_url():
    return f"http://127.0.0.1:{free_port()}"


def test_get_cluster_info_lists_the_members(controller_factory, etcd_cluster):
    info = controller_factory().get_cluster_info()

    expected = etcd_cluster.members()
    assert set(info) == set(expected)
    by_name = {member["name"]: member for member in info.values()}
    assert set(by_name) == set(etcd_cluster.names)
    for name, member in by_name.items():
        assert member["status"] == "up"
        assert member["peerURLs"] == etcd_cluster.peer_urls[name]
        assert member["clientURLs"] == etcd_cluster.client_urls[name]
        assert expected[str(member["member_id"])]["name"] == name


def test_get_cluster_health(controller_factory):
    controller = controller_factory()
    health = controller.get_cluster_health()

    assert health.global_status is HealthStatus.healthy
    assert set(health.members_status) == set(controller.get_cluster_info())
    assert set(health.members_status.values()) == {HealthStatus.healthy}


def test_add_and_remove_an_unstarted_member(controller_factory, etcd_cluster):
    controller = controller_factory()
    peer_url = new_peer_url()

    member_id = controller.ensure_node_exists(NEW_MEMBER, peer_url)

    assert etcd_cluster.members()[member_id]["peerURLs"] == [peer_url]
    added = controller.get_cluster_info()[member_id]
    assert added["status"] == "unstarted"
    assert "name" not in added
    assert controller.ensure_node_exists(NEW_MEMBER, peer_url) == member_id  # already there: unchanged
    assert len(etcd_cluster.members()) == 3
    assert controller.get_cluster_health().global_status is HealthStatus.healthy  # started members only

    assert controller.ensure_node_does_not_exist(NEW_MEMBER, peer_url) == member_id
    assert member_id not in etcd_cluster.members()
    assert controller.ensure_node_does_not_exist(NEW_MEMBER, peer_url) is None


def test_existing_started_member_is_left_alone(controller_factory, etcd_cluster):
    name = etcd_cluster.names[1]
    info_before = etcd_cluster.members()

    member_id = controller_factory().ensure_node_exists(name, etcd_cluster.peer_urls[name])

    assert info_before[member_id]["name"] == name
    assert etcd_cluster.members() == info_before


def test_dry_run_changes_nothing(controller_factory, etcd_cluster):
    controller = controller_factory(dry_run=True)
    before = etcd_cluster.members()

    assert len(controller.get_cluster_info()) == 2  # read-only: runs for real
    assert controller.ensure_node_exists(NEW_MEMBER, new_peer_url()) == ""
    assert etcd_cluster.members() == before

    real = controller_factory()
    peer_url = new_peer_url()
    member_id = real.ensure_node_exists(NEW_MEMBER, peer_url)
    assert controller.ensure_node_does_not_exist(NEW_MEMBER, peer_url) == member_id
    assert member_id in etcd_cluster.members()


def test_more_than_one_host_is_refused(controller_factory, ssh_fleet):
    spicerack = Spicerack(cumin_config=str(ssh_fleet.cumin_config), dry_run=False)
    with pytest.raises(TooManyHosts, match="exactly one host"):
        spicerack.etcdctl(remote_host=spicerack.remote().query("test-host0[1-2]"))
