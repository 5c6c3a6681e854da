"""Redis clusters replicated across datacenters: start and stop the replication of each shard.

A cluster is described by ``<config_dir>/<cluster>.yaml``: its ``password`` and, under ``shards``, one mapping per
datacenter of shard name to the ``host`` and ``port`` of the instance holding that shard in that datacenter.
The instances of a shard replicate from the same shard in another datacenter.

This module imports the Redis client library: :py:meth:`spicerack.Spicerack.redis_cluster` imports it on first use.
"""

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from redis import RedisError, StrictRedis
from wmflib.config import load_yaml_config
from wmflib.exceptions import WmflibError

from spicerack.exceptions import SpicerackError

logger = logging.getLogger(__name__)

SOCKET_TIMEOUT: float = 10.0
"""Seconds to wait for a Redis instance to accept a connection or to answer a command."""


class RedisClusterError(SpicerackError):
    """Raised on invalid configuration or parameters, on Redis errors and when a replication change did not apply."""


class RedisInstance:
    """One Redis instance: a thin wrapper around :py:class:`redis.StrictRedis`."""

    def __init__(self, **kwargs: Any) -> None:
        """Create the client; no connection is made until the first command.

        Arguments:
            **kwargs: passed as they are to :py:class:`redis.StrictRedis` (``host``, ``port``, ``password``...).

        """
        self.host: str = kwargs.get("host", "")
        self.port: int = kwargs.get("port", 0)
        self._client = StrictRedis(**kwargs)

    def __str__(self) -> str:
        """The instance as ``host:port``."""
        return f"{self.host}:{self.port}"

    @property
    def info(self) -> tuple[str, int]:
        """The instance's address as a ``(host, port)`` tuple."""
        return self.host, self.port

    @property
    def is_master(self) -> bool:
        """Whether the instance has the master role, i.e. replicates from no other instance."""
        return bool(self._replication_info().get("role") == "master")

    @property
    def master_info(self) -> tuple[None, None] | tuple[str, int]:
        """The ``(host, port)`` of the master the instance replicates from, ``(None, None)`` when it has none."""
        replication = self._replication_info()
        if "master_host" not in replication or "master_port" not in replication:
            return None, None
        return replication["master_host"], replication["master_port"]

    def start_replica(self, master: "RedisInstance") -> None:
        """Make the instance a replica of ``master``, dropping its own data in favour of the master's.

        Arguments:
            master: the instance to replicate from.

        """
        self._call("slaveof", master.host, master.port)

    def stop_replica(self) -> None:
        """Stop replicating and make the instance a master, keeping its current data."""
        self._call("slaveof")

    def _replication_info(self) -> dict[str, Any]:
        """The ``replication`` section of the instance's ``INFO``."""
        info = self._call("info", "replication")
        if not isinstance(info, dict):
            raise RedisClusterError(f"Unexpected INFO replication answer from {self}: {info!r}")
        return info

    def _call(self, command: str, *args: Any) -> Any:
        """Run a client command, turning Redis errors into :py:class:`RedisClusterError`."""
        try:
            return getattr(self._client, command)(*args)
        except RedisError as e:
            raise RedisClusterError(f"Redis {command.upper()} on {self} failed: {e}") from e


class RedisCluster:
    """A Redis cluster whose shards replicate from one datacenter to the others."""

    def __init__(self, cluster: str, config_dir: Path, *, dry_run: bool = True) -> None:
        """Load the cluster's configuration file; no connection is made until needed.

        Arguments:
            cluster: the name of the cluster, the name of its configuration file without ``.yaml``.
            config_dir: the directory with the configuration files of the clusters.
            dry_run: whether this is a DRY-RUN: replication is then checked but not changed.

        Raises:
            spicerack.redis_cluster.RedisClusterError: if the configuration file is missing or invalid.

        """
        self._dry_run = dry_run
        config_file = Path(config_dir) / f"{cluster}.yaml"
        try:
            config = load_yaml_config(config_file)
        except WmflibError as e:
            raise RedisClusterError(f"Unable to load the configuration of Redis cluster {cluster}: {e}") from e
        self._shards = _shards_from_config(config, config_file)

    def start_replica(self, datacenter: str, master_datacenter: str) -> None:
        """Make each shard's instance in ``datacenter`` replicate from the same shard in ``master_datacenter``.

        Shards already replicating from the right master are left as they are.

        Arguments:
            datacenter: the datacenter whose instances become replicas.
            master_datacenter: the datacenter to replicate from.

        Raises:
            spicerack.redis_cluster.RedisClusterError: if the datacenters are the same or unknown, if a shard has no
                master, or if an instance does not replicate from its master afterwards.

        """
        if datacenter == master_datacenter:
            raise RedisClusterError(
                f"Master datacenter must be different from the current datacenter, got {datacenter}"
            )
        replicas = self._datacenter_shards(datacenter)
        masters = self._datacenter_shards(master_datacenter)
        missing = sorted(set(replicas) - set(masters))
        if missing:
            raise RedisClusterError(f"Shards {missing} of {datacenter} have no instance in {master_datacenter}")

        for shard in sorted(replicas):
            self._replicate(replicas[shard], masters[shard])

    def stop_replica(self, datacenter: str) -> None:
        """Make each shard's instance in ``datacenter`` stop replicating, turning it into a master.

        Arguments:
            datacenter: the datacenter whose instances stop replicating.

        Raises:
            spicerack.redis_cluster.RedisClusterError: if the datacenter is unknown or an instance is still a
                replica afterwards.

        """
        instances = self._datacenter_shards(datacenter)
        for shard in sorted(instances):
            self._promote(instances[shard])

    def _datacenter_shards(self, datacenter: str) -> dict[str, RedisInstance]:
        """The instances of a datacenter by shard name."""
        try:
            return self._shards[datacenter]
        except KeyError:
            known = ", ".join(sorted(self._shards))
            raise RedisClusterError(f"Unknown datacenter {datacenter}, the cluster has: {known}") from None

    def _replicate(self, instance: RedisInstance, master: RedisInstance) -> None:
        """Make ``instance`` replicate from ``master`` unless it already does, then check it."""
        if instance.master_info == master.info:
            logger.debug("Replica already configured on %s", instance)
            return
        if self._dry_run:
            logger.debug("Skip starting replica on %s in dry-run mode", instance)
            return

        logger.debug("Starting replica %s => %s", master, instance)
        instance.start_replica(master)
        current = instance.master_info
        if current != master.info:
            raise RedisClusterError(f"Replica on {instance} is not correctly configured: {current}")

    def _promote(self, instance: RedisInstance) -> None:
        """Make ``instance`` stop replicating unless it is a master already, then check it."""
        if instance.is_master:
            logger.debug("Instance %s is already master, doing nothing", instance)
            return
        if self._dry_run:
            logger.debug("Skip stopping replica on %s in dry-run mode", instance)
            return

        logger.debug("Stopping replica on %s", instance)
        instance.stop_replica()
        if not instance.is_master:
            raise RedisClusterError(f"Instance {instance} is still a slave of {instance.master_info}, aborting")


def _shards_from_config(config: Any, config_file: Path) -> dict[str, dict[str, RedisInstance]]:
    """Build the instances of every datacenter and shard described by a cluster's configuration."""
    if not isinstance(config, Mapping) or not isinstance(config.get("shards"), Mapping) or "password" not in config:
        raise RedisClusterError(f"Invalid Redis cluster configuration {config_file}: expected 'password' and 'shards'")

    shards: dict[str, dict[str, RedisInstance]] = {}
    for datacenter, instances in config["shards"].items():
        if not isinstance(instances, Mapping):
            raise RedisClusterError(f"Invalid Redis cluster configuration {config_file}: shards of {datacenter}")
        shards[datacenter] = {}
        for shard, address in instances.items():
            if not isinstance(address, Mapping) or "host" not in address or "port" not in address:
                raise RedisClusterError(
                    f"Invalid Redis cluster configuration {config_file}: {datacenter} {shard} needs 'host' and 'port'"
                )
            shards[datacenter][shard] = RedisInstance(
                host=address["host"],
                port=address["port"],
                password=config["password"],
                decode_responses=True,
                socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=SOCKET_TIMEOUT,
            )
    return shards
