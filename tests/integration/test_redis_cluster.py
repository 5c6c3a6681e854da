"""Integration tests of spicerack.redis_cluster against real, password-protected ``redis-server`` instances.

The cluster has two datacenters of two shards (``tests/integration/servers/redis.py``); replication between them is
Redis' own, authenticated with the cluster's password, so the tests check that data actually flows.
"""

import logging
import socket
from collections.abc import Iterator

import pytest
import yaml

from spicerack import Spicerack, redis_cluster
from spicerack.redis_cluster import RedisCluster, RedisClusterError
from tests.integration.servers import free_port, wait_until
from tests.integration.servers.redis import RedisServers

NAME = "sessions"


def write_config(config_dir, config, name=NAME):
    (config_dir / "redis_cluster").mkdir(parents=True, exist_ok=True)
    (config_dir / "redis_cluster" / f"{name}.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture
def servers(redis_servers: RedisServers) -> RedisServers:
    redis_servers.reset()
    return redis_servers


@pytest.fixture
def config_dir(servers, tmp_path):
    write_config(tmp_path, servers.config())
    return tmp_path


def cluster(config_dir, *, dry_run=False, name=NAME) -> RedisCluster:
    return Spicerack(spicerack_config_dir=str(config_dir), dry_run=dry_run).redis_cluster(name)


def master_of(server):
    info = server.client().info("replication")
    return info.get("master_host"), info.get("master_port")


def test_start_replica_replicates_every_shard_from_the_master_datacenter(servers, config_dir):
    for shard, master in servers.shards["dc1"].items():
        master.client().set("owner", f"dc1-{shard}")
    servers.shards["dc2"]["shard01"].client().set("stale", "dc2 data to be replaced")

    cluster(config_dir).start_replica("dc2", "dc1")

    for shard, replica in servers.shards["dc2"].items():
        master = servers.shards["dc1"][shard]
        assert replica.role() == "slave"
        assert master_of(replica) == (master.host, master.port)
        client = replica.client()
        wait_until(lambda client=client: client.info("replication")["master_link_status"] == "up", what="replication")
        assert client.get("owner") == f"dc1-{shard}"
        assert client.get("stale") is None
    assert all(server.role() == "master" for server in servers.shards["dc1"].values())


def test_writes_on_the_master_reach_the_replica(servers, config_dir):
    cluster(config_dir).start_replica("dc2", "dc1")
    master, replica = servers.shards["dc1"]["shard02"].client(), servers.shards["dc2"]["shard02"].client()

    master.set("late", "after the replica started")

    wait_until(lambda: replica.get("late") == "after the replica started", what="replicated write")


def test_start_replica_leaves_a_configured_replica_alone(servers, config_dir, caplog):
    cluster(config_dir).start_replica("dc2", "dc1")
    replica = servers.shards["dc2"]["shard01"]

    with caplog.at_level(logging.DEBUG, logger="spicerack.redis_cluster"):
        cluster(config_dir).start_replica("dc2", "dc1")

    assert f"Replica already configured on {replica.host}:{replica.port}" in caplog.text
    assert "Starting replica" not in caplog.text
    assert replica.role() == "slave"


def test_stop_replica_makes_every_instance_a_master_keeping_its_data(servers, config_dir):
    servers.shards["dc1"]["shard01"].client().set("kept", "yes")
    client = cluster(config_dir)
    client.start_replica("dc2", "dc1")
    replica = servers.shards["dc2"]["shard01"].client()
    wait_until(lambda: replica.get("kept") == "yes", what="replicated key")

    client.stop_replica("dc2")

    assert all(server.role() == "master" for server in servers.shards["dc2"].values())
    assert replica.get("kept") == "yes"
    replica.set("writable", "now")  # a replica would refuse the write
    assert replica.get("writable") == "now"


def test_replication_can_be_reversed(servers, config_dir):
    client = cluster(config_dir)
    client.start_replica("dc2", "dc1")
    client.stop_replica("dc2")
    client.stop_replica("dc1")

    client.start_replica("dc1", "dc2")

    for shard, replica in servers.shards["dc1"].items():
        master = servers.shards["dc2"][shard]
        assert master_of(replica) == (master.host, master.port)
    assert all(server.role() == "master" for server in servers.shards["dc2"].values())


def test_stop_replica_on_masters_changes_nothing(servers, config_dir, caplog):
    with caplog.at_level(logging.DEBUG, logger="spicerack.redis_cluster"):
        cluster(config_dir).stop_replica("dc1")

    assert all(server.role() == "master" for server in servers.all())
    assert caplog.text.count("is already master, doing nothing") == 2


def test_dry_run_changes_no_replication(servers, config_dir, caplog):
    with caplog.at_level(logging.DEBUG, logger="spicerack.redis_cluster"):
        cluster(config_dir, dry_run=True).start_replica("dc2", "dc1")
    assert all(server.role() == "master" for server in servers.all())
    assert caplog.text.count("Skip starting replica on") == 2

    cluster(config_dir).start_replica("dc2", "dc1")
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="spicerack.redis_cluster"):
        cluster(config_dir, dry_run=True).stop_replica("dc2")
    assert all(server.role() == "slave" for server in servers.shards["dc2"].values())
    assert caplog.text.count("Skip stopping replica on") == 2


def test_same_datacenter_is_refused(servers, config_dir):
    with pytest.raises(RedisClusterError, match="Master datacenter must be different from the current datacenter"):
        cluster(config_dir).start_replica("dc1", "dc1")

    assert all(server.role() == "master" for server in servers.all())


@pytest.mark.parametrize(("datacenter", "master"), [("dc9", "dc1"), ("dc2", "dc9")])
def test_unknown_datacenter_is_an_error(servers, config_dir, datacenter, master):
    with pytest.raises(RedisClusterError, match="Unknown datacenter dc9, the cluster has: dc1, dc2"):
        cluster(config_dir).start_replica(datacenter, master)

    with pytest.raises(RedisClusterError, match="Unknown datacenter dc9"):
        cluster(config_dir).stop_replica("dc9")
    assert all(server.role() == "master" for server in servers.all())


def test_wrong_password_is_a_clear_error(servers, tmp_path):
    config = servers.config()
    config["password"] = "not-the-password"
    write_config(tmp_path, config)

    with pytest.raises(RedisClusterError, match=r"Redis INFO on 127\.0\.0\.1:\d+ failed: .*(password|WRONGPASS)"):
        cluster(tmp_path).stop_replica("dc2")


def test_unreachable_instance_is_a_clear_error(tmp_path):
    write_config(tmp_path, {"password": "x", "shards": {"dc1": {"s1": {"host": "127.0.0.1", "port": free_port()}}}})

    with pytest.raises(RedisClusterError, match=r"Redis INFO on 127\.0\.0\.1:\d+ failed: .*Connection refused"):
        cluster(tmp_path).stop_replica("dc1")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections (in its backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_an_instance_that_does_not_answer_times_out(tmp_path, silent_server, monkeypatch):
    monkeypatch.setattr(redis_cluster, "SOCKET_TIMEOUT", 0.5)
    write_config(tmp_path, {"password": "x", "shards": {"dc1": {"s1": {"host": "127.0.0.1", "port": silent_server}}}})

    with pytest.raises(RedisClusterError, match=r"Redis INFO on 127\.0\.0\.1:\d+ failed: .*[Tt]imeout"):
        cluster(tmp_path).stop_replica("dc1")


def test_a_server_that_is_not_redis_is_a_clear_error(tmp_path, http_server):
    port = int(http_server.url.rsplit(":", 1)[1])
    write_config(tmp_path, {"password": "x", "shards": {"dc1": {"s1": {"host": "127.0.0.1", "port": port}}}})

    with pytest.raises(RedisClusterError, match=rf"Redis INFO on 127\.0\.0\.1:{port} failed: "):
        cluster(tmp_path).stop_replica("dc1")


def test_missing_configuration_is_a_clear_error(tmp_path):
    with pytest.raises(RedisClusterError, match="Unable to load the configuration of Redis cluster missing"):
        cluster(tmp_path, name="missing")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"shards": {}}, "expected 'password' and 'shards'"),
        ({"password": "x", "shards": {"dc1": ["host1"]}}, "shards of dc1"),
        ({"password": "x", "shards": {"dc1": {"s1": {"host": "h"}}}}, "dc1 s1 needs 'host' and 'port'"),
    ],
)
def test_invalid_configuration_is_a_clear_error(tmp_path, config, message):
    write_config(tmp_path, config)

    with pytest.raises(RedisClusterError, match=message):
        cluster(tmp_path)
