"""Unit tests of spicerack.redis_cluster with a stand-in for redis.StrictRedis."""

import logging

import pytest
import redis
import yaml

from spicerack import Spicerack, redis_cluster
from spicerack.redis_cluster import RedisCluster, RedisClusterError, RedisInstance

CONFIG = {
    "password": "secret",
    "shards": {
        "eqiad": {"shard02": {"host": "10.0.0.2", "port": 6379}, "shard01": {"host": "10.0.0.1", "port": 6379}},
        "codfw": {"shard01": {"host": "10.1.0.1", "port": 6380}, "shard02": {"host": "10.1.0.2", "port": 6380}},
    },
}


class FakeRedis:
    """Keeps the replication state of one instance; ``obey`` False makes it ignore SLAVEOF."""

    instances: dict[tuple[str, int], "FakeRedis"] = {}
    calls: list[tuple[str, tuple]] = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.master = None
        self.obey = True
        self.error = None
        FakeRedis.instances[(kwargs["host"], kwargs["port"])] = self

    def info(self, section):
        FakeRedis.calls.append(("info", (self.kwargs["host"], section)))
        if self.error:
            raise self.error
        if self.master is None:
            return {"role": "master", "connected_slaves": 0}
        return {"role": "slave", "master_host": self.master[0], "master_port": self.master[1]}

    def slaveof(self, host=None, port=None):
        FakeRedis.calls.append(("slaveof", (self.kwargs["host"], host, port)))
        if self.obey:
            self.master = None if host is None else (host, port)
        return True


@pytest.fixture
def fake_redis(monkeypatch):
    FakeRedis.instances = {}
    FakeRedis.calls = []
    monkeypatch.setattr(redis_cluster, "StrictRedis", FakeRedis)
    return FakeRedis


@pytest.fixture
def config_dir(tmp_path):
    (tmp_path / "redis_cluster").mkdir()
    (tmp_path / "redis_cluster" / "sessions.yaml").write_text(yaml.safe_dump(CONFIG))
    return tmp_path / "redis_cluster"


def test_instances_get_the_password_and_bounded_timeouts(fake_redis, config_dir):
    RedisCluster("sessions", config_dir)

    assert sorted(fake_redis.instances) == [
        ("10.0.0.1", 6379),
        ("10.0.0.2", 6379),
        ("10.1.0.1", 6380),
        ("10.1.0.2", 6380),
    ]
    assert fake_redis.instances[("10.0.0.1", 6379)].kwargs == {
        "host": "10.0.0.1",
        "port": 6379,
        "password": "secret",
        "decode_responses": True,
        "socket_timeout": redis_cluster.SOCKET_TIMEOUT,
        "socket_connect_timeout": redis_cluster.SOCKET_TIMEOUT,
    }


def test_the_accessor_reads_the_cluster_file_of_the_config_dir(fake_redis, config_dir):
    cluster = Spicerack(spicerack_config_dir=str(config_dir.parent), dry_run=False).redis_cluster("sessions")

    assert isinstance(cluster, RedisCluster)
    assert len(fake_redis.instances) == 4


def test_start_replica_follows_shards_in_order_and_checks_them(fake_redis, config_dir, caplog):
    with caplog.at_level(logging.DEBUG):
        RedisCluster("sessions", config_dir, dry_run=False).start_replica("codfw", "eqiad")

    assert [args for name, args in fake_redis.calls if name == "slaveof"] == [
        ("10.1.0.1", "10.0.0.1", 6379),
        ("10.1.0.2", "10.0.0.2", 6379),
    ]
    assert "Starting replica 10.0.0.1:6379 => 10.1.0.1:6380" in caplog.messages
    assert fake_redis.instances[("10.1.0.2", 6380)].master == ("10.0.0.2", 6379)


def test_start_replica_that_does_not_apply_is_an_error(fake_redis, config_dir):
    cluster = RedisCluster("sessions", config_dir, dry_run=False)
    fake_redis.instances[("10.1.0.1", 6380)].obey = False

    with pytest.raises(
        RedisClusterError, match=r"Replica on 10\.1\.0\.1:6380 is not correctly configured: \(None, None\)"
    ):
        cluster.start_replica("codfw", "eqiad")


def test_stop_replica_that_does_not_apply_is_an_error(fake_redis, config_dir):
    cluster = RedisCluster("sessions", config_dir, dry_run=False)
    cluster.start_replica("codfw", "eqiad")
    fake_redis.instances[("10.1.0.1", 6380)].obey = False

    with pytest.raises(
        RedisClusterError, match=r"10\.1\.0\.1:6380 is still a slave of \('10\.0\.0\.1', 6379\), aborting"
    ):
        cluster.stop_replica("codfw")


def test_stop_replica_makes_replicas_masters(fake_redis, config_dir):
    cluster = RedisCluster("sessions", config_dir, dry_run=False)
    cluster.start_replica("codfw", "eqiad")

    cluster.stop_replica("codfw")

    assert all(instance.master is None for instance in fake_redis.instances.values())


def test_dry_run_only_reads(fake_redis, config_dir):
    RedisCluster("sessions", config_dir, dry_run=True).start_replica("codfw", "eqiad")
    fake_redis.instances[("10.1.0.1", 6380)].master = ("10.0.0.1", 6379)
    RedisCluster("sessions", config_dir).stop_replica("codfw")

    assert {name for name, _ in fake_redis.calls} == {"info"}


def test_redis_errors_become_cluster_errors(fake_redis, config_dir):
    cluster = RedisCluster("sessions", config_dir, dry_run=False)
    fake_redis.instances[("10.0.0.1", 6379)].error = redis.AuthenticationError("invalid password")

    with pytest.raises(RedisClusterError, match=r"Redis INFO on 10\.0\.0\.1:6379 failed: invalid password"):
        cluster.stop_replica("eqiad")


def test_an_unexpected_info_answer_is_an_error(fake_redis, config_dir, monkeypatch):
    cluster = RedisCluster("sessions", config_dir, dry_run=False)
    monkeypatch.setattr(fake_redis.instances[("10.0.0.1", 6379)], "info", lambda section: "role:master")

    with pytest.raises(RedisClusterError, match=r"Unexpected INFO replication answer from 10\.0\.0\.1:6379"):
        cluster.stop_replica("eqiad")


def test_redis_instance_properties(fake_redis):
    instance = RedisInstance(host="127.0.0.1", port=7000)
    master = RedisInstance(host="127.0.0.2", port=7001)

    assert str(instance) == "127.0.0.1:7000"
    assert instance.info == ("127.0.0.1", 7000)
    assert instance.is_master
    assert instance.master_info == (None, None)
    instance.start_replica(master)
    assert not instance.is_master
    assert instance.master_info == ("127.0.0.2", 7001)
    instance.stop_replica()
    assert instance.is_master


def test_redis_instance_without_address_defaults(fake_redis, monkeypatch):
    monkeypatch.setattr(redis_cluster, "StrictRedis", lambda **kwargs: None)
    instance = RedisInstance()

    assert instance.info == ("", 0)


@pytest.mark.parametrize(
    ("datacenter", "master", "message"),
    [
        ("eqiad", "eqiad", "Master datacenter must be different from the current datacenter, got eqiad"),
        ("esams", "eqiad", "Unknown datacenter esams, the cluster has: codfw, eqiad"),
        ("codfw", "esams", "Unknown datacenter esams"),
    ],
)
def test_bad_datacenters_are_errors_before_any_call(fake_redis, config_dir, datacenter, master, message):
    with pytest.raises(RedisClusterError, match=message):
        RedisCluster("sessions", config_dir, dry_run=False).start_replica(datacenter, master)

    assert fake_redis.calls == []


def test_shards_missing_in_the_master_datacenter_are_an_error(fake_redis, tmp_path):
    config = {
        "password": "x",
        "shards": {"a": {"s1": {"host": "h1", "port": 1}}, "b": {"s2": {"host": "h2", "port": 2}}},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))

    with pytest.raises(RedisClusterError, match=r"Shards \['s1'\] of a have no instance in b"):
        RedisCluster("c", tmp_path, dry_run=False).start_replica("a", "b")


@pytest.mark.parametrize("content", ["[]", "password: x\n", "shards: {}\n", "password: x\nshards: [a]\n"])
def test_invalid_configurations(fake_redis, tmp_path, content):
    (tmp_path / "c.yaml").write_text(content)

    with pytest.raises(RedisClusterError, match=r"Invalid Redis cluster configuration .*c\.yaml"):
        RedisCluster("c", tmp_path)


def test_missing_configuration(tmp_path):
    with pytest.raises(RedisClusterError, match="Unable to load the configuration of Redis cluster nope"):
        RedisCluster("nope", tmp_path)
