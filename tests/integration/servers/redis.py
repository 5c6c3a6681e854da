"""Real ``redis-server`` instances on loopback, password protected, for a cluster of two datacenters of two shards.

Every instance requires the same password (``requirepass``) and uses it to authenticate to its master
(``masterauth``), as a production Redis cluster configured with one ``password`` does. The instances start as
masters; ``RedisServers.reset()`` brings them back to that state and empties them.
"""

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from tests.integration.servers import free_port, require_binary, stop_process, wait_until

__all__ = ["REDIS_PASSWORD", "RedisServer", "RedisServers", "redis_servers"]

REDIS_PASSWORD = "integration-test-secret"
"""The password of every instance."""

LAYOUT = {"dc1": ("shard01", "shard02"), "dc2": ("shard01", "shard02")}
"""The datacenters of the test cluster and their shards."""


@dataclass
class RedisServer:
    """One running ``redis-server``."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    data_dir: Path

    def client(self, password: str = REDIS_PASSWORD) -> "redis.StrictRedis[str]":
        """A direct client of the instance, to set up and check its state."""
        return redis.StrictRedis(
            host=self.host, port=self.port, password=password, decode_responses=True, socket_timeout=5
        )

    def role(self) -> str:
        """The instance's replication role: ``master`` or ``slave``."""
        return str(self.client().info("replication")["role"])


@dataclass
class RedisServers:
    """The instances of the test cluster by datacenter and shard."""

    shards: dict[str, dict[str, RedisServer]] = field(default_factory=dict)

    def all(self) -> list[RedisServer]:
        """Every instance."""
        return [server for shards in self.shards.values() for server in shards.values()]

    def config(self) -> dict[str, object]:
        """The cluster's configuration, as in ``<config_dir>/redis_cluster/<cluster>.yaml``."""
        return {
            "password": REDIS_PASSWORD,
            "shards": {
                datacenter: {shard: {"host": server.host, "port": server.port} for shard, server in shards.items()}
                for datacenter, shards in self.shards.items()
            },
        }

    def reset(self) -> None:
        """Make every instance a master again and empty it."""
        for server in self.all():
            client = server.client()
            client.slaveof()
            client.flushall()


def _start(binary: str, data_dir: Path) -> RedisServer:
    data_dir.mkdir()
    host, port = "127.0.0.1", free_port()
    log = data_dir / "redis.log"
    options = {
        "bind": host,
        "port": str(port),
        "dir": str(data_dir),
        "logfile": str(log),
        "requirepass": REDIS_PASSWORD,
        "masterauth": REDIS_PASSWORD,
        "save": "",
        "appendonly": "no",
        "daemonize": "no",
        "repl-diskless-sync": "yes",
        "repl-diskless-sync-delay": "0",
    }
    process = subprocess.Popen(
        [binary, *(arg for name, value in options.items() for arg in (f"--{name}", value))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    server = RedisServer(host, port, process, data_dir)
    try:
        wait_until(lambda: process.poll() is None and _ping(server), what=f"redis-server {port}")
    except BaseException:
        stop_process(process)
        raise
    return server


def _ping(server: RedisServer) -> bool:
    try:
        return bool(server.client().ping())
    except redis.ConnectionError:
        return False


@pytest.fixture(scope="session")
def redis_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServers]:
    """Four password-protected instances (two datacenters of two shards) for the session, stopped by PID at the end.

    Tests must call ``reset()`` before use: instances start as empty masters.
    """
    binary = require_binary("redis-server")
    base_dir = tmp_path_factory.mktemp("redis")
    servers = RedisServers()
    try:
        for datacenter, shard_names in LAYOUT.items():
            servers.shards[datacenter] = {}
            for shard in shard_names:
                servers.shards[datacenter][shard] = _start(binary, base_dir / f"{datacenter}-{shard}")
        yield servers
    finally:
        for server in servers.all():
            stop_process(server.process)
