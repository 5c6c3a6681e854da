"""Elasticsearch (CirrusSearch) clusters: health checks, frozen writes, shard allocation and rolling operations.

A cluster group (e.g. ``search_eqiad``) is a set of clusters whose instances share the same hosts. Each cluster is
reached through its HTTP endpoint with a plain :py:mod:`requests` session (through
:py:class:`spicerack.apiclient.APIClient`, so that in DRY-RUN mode only read-only requests are sent). Rolling
operations pick the next hosts to act on from the clusters' node information and act on them with Cumin.
"""

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from enum import Enum
from random import shuffle
from typing import TYPE_CHECKING, Any

from requests.exceptions import JSONDecodeError, RequestException
from wmflib.requests import http_session

from spicerack.administrative import Reason
from spicerack.apiclient import APIClient, APIClientError, APIClientResponseError
from spicerack.decorators import retry
from spicerack.exceptions import SpicerackCheckError, SpicerackError
from spicerack.remote import Remote, RemoteHosts, RemoteHostsAdapter

if TYPE_CHECKING:
    from wmflib.prometheus import Prometheus

__all__ = [
    "ElasticsearchCluster",
    "ElasticsearchClusterCheckError",
    "ElasticsearchClusterError",
    "ElasticsearchClusters",
    "ElasticsearchHosts",
    "NodesGroup",
    "OperationType",
    "create_elasticsearch_clusters",
]

logger = logging.getLogger(__name__)

FREEZE_WRITES_INDEX = "mw_cirrus_metastore"
"""The index holding the ``freeze-everything`` document that makes CirrusSearch stop writing to a cluster."""

INSTANCES_FILE = "/etc/elasticsearch/instances"
"""The file listing, on each host, the systemd units of its Elasticsearch instances."""

WRITE_QUEUE_QUERY = (
    'kafka_burrow_partition_lag{group="cpjobqueue-cirrusSearchElasticaWrite",'
    'topic=~"[[:alpha:]]*.cpjobqueue.partitioned.mediawiki.job.cirrusSearchElasticaWrite"}'
)
"""The PromQL query of the lag of the CirrusSearch write jobs, one series per Kafka topic and partition."""

_API_ERRORS = (APIClientError, APIClientResponseError)
_HEALTH_POLL_DELAY = timedelta(seconds=10)
_NODES_POLL_DELAY = timedelta(seconds=5)


class ElasticsearchClusterError(SpicerackError):
    """Raised on errors talking to the clusters or on invalid parameters."""


class ElasticsearchClusterCheckError(SpicerackCheckError):
    """Raised when a check of the clusters' state does not pass (retried while waiting)."""


class OperationType(Enum):
    """The kind of rolling operation: it tells how to know whether a host has been done already."""

    RESTART = "restart"
    """Restart of the Elasticsearch instances: done when the oldest JVM of the host started after the start time."""
    REBOOT = "reboot"
    """Reboot of the host: done when the host booted after the start time."""


def create_elasticsearch_clusters(
    configuration: dict[str, dict[str, dict[str, str]]],
    clustergroup: str,
    write_queue_datacenters: Sequence[str],
    remote: Remote,
    prometheus: "Prometheus",
    dry_run: bool = True,
) -> "ElasticsearchClusters":
    """Return the clusters of a cluster group.

    Arguments:
        configuration: the content of ``elasticsearch/config.yaml``: under ``search``, each cluster group maps its
            clusters' names to their endpoint URLs.
        clustergroup: the name of the cluster group.
        write_queue_datacenters: the datacenters whose Prometheus to query for the CirrusSearch write queues.
        remote: the Remote instance to act on the hosts with.
        prometheus: the Prometheus client.
        dry_run: whether this is a DRY-RUN.

    Raises:
        spicerack.elasticsearch_cluster.ElasticsearchClusterError: if the cluster group is not configured.

    """
    groups = configuration.get("search") if isinstance(configuration, Mapping) else None
    if not isinstance(groups, Mapping) or clustergroup not in groups:
        raise ElasticsearchClusterError(f"No cluster group named {clustergroup}")

    endpoints = groups[clustergroup]
    if not isinstance(endpoints, Mapping) or not all(isinstance(url, str) for url in endpoints.values()):
        raise ElasticsearchClusterError(
            f"Invalid cluster group {clustergroup}: expected cluster names to endpoint URLs"
        )

    clusters = [ElasticsearchCluster(endpoint, remote, dry_run=dry_run) for endpoint in endpoints.values()]
    return ElasticsearchClusters(clusters, remote, prometheus, write_queue_datacenters, dry_run=dry_run)


class ElasticsearchCluster:
    """One Elasticsearch cluster, reached through its HTTP endpoint."""

    def __init__(self, endpoint: str, remote: Remote, dry_run: bool = True) -> None:
        """Set up the HTTP session to the cluster.

        Arguments:
            endpoint: the base URL of the cluster's API (e.g. ``https://search.svc.eqiad.wmnet:9243``).
            remote: the Remote instance.
            dry_run: whether this is a DRY-RUN.

        """
        self._endpoint = endpoint
        self._remote = remote
        self._dry_run = dry_run
        self._freeze_writes_index = FREEZE_WRITES_INDEX
        session = http_session(f"{__name__}.{type(self).__name__}", timeout=10)
        session.headers.update({"Accept": "application/json"})
        self._api_client = APIClient(endpoint, session, dry_run=dry_run)

    def __str__(self) -> str:
        """The endpoint of the cluster."""
        return str(self._endpoint)

    def make_api_call(
        self, route: str, params: dict[str, Any], http_method: str, body: dict[str, Any], timeout: float
    ) -> Any:
        """Call the cluster's API and return the decoded JSON answer.

        Arguments:
            route: the path below the endpoint (e.g. ``/_cluster/health``); the leading slash may be omitted.
            params: the query string parameters; booleans are sent as ``true``/``false``, as Elasticsearch wants.
            http_method: the HTTP method (``GET``, ``PUT``, ``POST``, ``DELETE``...).
            body: the JSON body.
            timeout: seconds to wait for the answer.

        Returns:
            The decoded answer (a dict, or a list for the ``_cat`` APIs); an empty dict for an empty answer, as the
            requests not sent in DRY-RUN mode get.

        Raises:
            spicerack.apiclient.APIClientError: if the request fails.
            spicerack.apiclient.APIClientResponseError: if the cluster answers with an error status.
            spicerack.elasticsearch_cluster.ElasticsearchClusterError: if the answer is not JSON.

        """
        uri = route if route.startswith("/") else f"/{route}"
        query = {key: _query_value(value) for key, value in params.items()}
        response = self._api_client.request(http_method, uri, json=body, params=query, timeout=timeout)
        if not response.content:
            return {}
        try:
            return response.json()
        except JSONDecodeError as e:
            raise ElasticsearchClusterError(
                f"{http_method} {uri} on {self} did not answer with JSON: {response.text[:100]!r}"
            ) from e

    def get_nodes(self) -> dict[str, Any]:
        """Return the cluster's nodes, by node ID, as the ``_nodes`` API describes them.

        Raises:
            spicerack.elasticsearch_cluster.ElasticsearchClusterError: if the nodes can't be fetched.

        """
        try:
            answer = self.make_api_call(route="/_nodes", params={}, http_method="GET", body={}, timeout=30)
        except _API_ERRORS as e:
            raise ElasticsearchClusterError("Could not connect to the cluster") from e
        nodes = answer.get("nodes") if isinstance(answer, dict) else None
        if not isinstance(nodes, dict):
            raise ElasticsearchClusterError(f"Unexpected answer of {self} to GET /_nodes: no 'nodes' mapping")
        return nodes

    def is_node_in_cluster_nodes(self, node: str) -> bool:
        """Tell whether a host has an instance that is a member of the cluster.

        Arguments:
            node: the host name (without domain).

        """
        return any(_node_attribute(info, "hostname") == node for info in self.get_nodes().values())

    @contextmanager
    def stopped_replication(self) -> Iterator[None]:
        """Allocate only primary shards while in the context, all shards again on exit."""
        self._set_allocation("primaries")
        try:
            yield
        finally:
            self._set_allocation("all")

    def check_green(self) -> None:
        """Check that the cluster is green, waiting up to a second for it.

        Raises:
            spicerack.elasticsearch_cluster.ElasticsearchClusterCheckError: if it is not green or can't be checked.

        """
        params = {"wait_for_status": "green", "timeout": "1s"}
        try:
            self.make_api_call(route="/_cluster/health", params=params, http_method="GET", body={}, timeout=30)
        except _API_ERRORS as e:
            raise ElasticsearchClusterCheckError("Error while waiting for green") from e

    def check_yellow_w_no_moving_shards(self) -> None:
        """Check that the cluster is at least yellow with no initializing or relocating shards (waits up to 1s).

        Raises:
            spicerack.elasticsearch_cluster.ElasticsearchClusterCheckError: if it is not, or can't be checked.

        """
        params = {
            "wait_for_status": "yellow",
            "wait_for_no_initializing_shards": True,
            "wait_for_no_relocating_shards": True,
            "timeout": "1s",
        }
        try:
            self.make_api_call(route="/_cluster/health", params=params, http_method="GET", body={}, timeout=30)
        except _API_ERRORS as e:
            raise ElasticsearchClusterCheckError(
                "Error while waiting for yellow with no initializing or relocating shards"
            ) from e

    @contextmanager
    def frozen_writes(self, reason: Reason) -> Iterator[None]:
        """Make CirrusSearch stop writing to the cluster while in the context.

        If unfreezing fails on exit, the writes are frozen and unfrozen once more before giving up.

        Arguments:
            reason: why the writes are frozen, recorded in the freeze document.

        Raises:
            spicerack.elasticsearch_cluster.ElasticsearchClusterError: if freezing or unfreezing fails.

        """
        self._freeze_writes(reason)
        try:
            yield
        finally:
            try:
                self._unfreeze_writes()
            except ElasticsearchClusterError as e:
                logger.warning("Could not unfreeze writes, trying to freeze and unfreeze again: %s", e)
                self._freeze_writes(reason)
                self._unfreeze_writes()

    def flush_markers(self, timeout: timedelta = timedelta(seconds=60)) -> None:
        """Flush all indices, then synced-flush them, to speed up the recovery of restarted nodes.

        Failures are only logged: some shards may not flush while the cluster is busy.

        Arguments:
            timeout: how long to wait for each flush.

        """
        logger.info("flush markers on %s", self)
        seconds = timeout.total_seconds()
        flushes: tuple[tuple[str, dict[str, Any], str], ...] = (
            ("/_flush", {"force": "true"}, "Not all shards were flushed on %s."),
            ("/_flush/synced", {}, "Not all shards were synced flushed on %s."),
        )
        for route, params, failure in flushes:
            try:
                self.make_api_call(route=route, params=params, http_method="POST", body={}, timeout=seconds)
            except _API_ERRORS:
                logger.warning(failure, self)

    def force_allocation_of_all_unassigned_shards(self) -> None:
        """Ask the cluster to allocate each unassigned shard to one of its nodes, trying them in random order."""
        node_names = [str(node.get("name")) for node in self.get_nodes().values()]
        for shard in self._get_unassigned_shards():
            self._force_allocation_of_shard(shard, node_names)

    def reset_indices_to_read_write(self) -> None:
        """Lift the read-only block Elasticsearch puts on indices when disks run low, on every index.

        Raises:
            spicerack.elasticsearch_cluster.ElasticsearchClusterError: if the settings can't be changed.

        """
        body = {"index.blocks.read_only_allow_delete": None}
        try:
            self.make_api_call(route="/_all/_settings", params={}, http_method="PUT", body=body, timeout=30)
        except _API_ERRORS as e:
            raise ElasticsearchClusterError("Could not reset read only status") from e

    def _set_allocation(self, allocation: str) -> None:
        """Set which shards the cluster may allocate: ``primaries`` or ``all``."""
        logger.info("%s replication - %s", "stop" if allocation == "primaries" else "start", self)
        if self._dry_run:
            return
        body = {"persistent": {"cluster.routing.allocation.enable": allocation}}
        self.make_api_call(route="/_cluster/settings", params={}, http_method="PUT", body=body, timeout=30)

    def _freeze_writes(self, reason: Reason) -> None:
        """Create the document that makes CirrusSearch stop writing."""
        document = {"host": reason.hostname, "timestamp": datetime.now(UTC).timestamp(), "reason": str(reason)}
        logger.info("Freezing all indices in %s", self)
        if self._dry_run:
            return
        try:
            self.make_api_call(
                route=f"/{self._freeze_writes_index}/_doc/freeze-everything",
                params={},
                http_method="PUT",
                body=document,
                timeout=30,
            )
        except _API_ERRORS as e:
            raise ElasticsearchClusterError(
                "Encountered error while creating 'freeze-everything' document to freeze cluster writes"
            ) from e

    def _unfreeze_writes(self) -> None:
        """Delete the document that makes CirrusSearch stop writing."""
        logger.info("Unfreezing all indices in %s", self)
        if self._dry_run:
            return
        try:
            # The route without leading slash, as the reference calls it: make_api_call adds the slash.
            self.make_api_call(
                route=f"{self._freeze_writes_index}/_doc/freeze-everything",
                params={},
                http_method="DELETE",
                body={},
                timeout=30,
            )
        except _API_ERRORS as e:
            raise ElasticsearchClusterError(
                "Encountered error while deleting 'freeze-everything' document to unfreeze cluster writes"
            ) from e

    def _get_unassigned_shards(self) -> list[dict[str, Any]]:
        """Return the unassigned shards, each as a dict with ``index``, ``shard`` and ``state``."""
        params = {"format": "json", "h": "index,shard,state"}
        try:
            shards = self.make_api_call(route="/_cat/shards", params=params, http_method="GET", body={}, timeout=30)
        except _API_ERRORS as e:
            raise ElasticsearchClusterError(f"Could not list the shards of {self}") from e
        if not isinstance(shards, list) or not all(isinstance(shard, dict) for shard in shards):
            raise ElasticsearchClusterError(f"Unexpected answer of {self} to GET /_cat/shards: expected a list")
        return [shard for shard in shards if shard.get("state") == "UNASSIGNED"]

    def _force_allocation_of_shard(self, shard: dict[str, Any], nodes: list[str]) -> None:
        """Allocate a replica of ``shard`` on the first of ``nodes`` (shuffled) that accepts it."""
        label = f"[{shard['index']}:{shard['shard']}]"
        shuffle(nodes)  # Spread the shards over the nodes
        for node in nodes:
            logger.debug("Trying to allocate %s on [%s]", label, node)
            command = {"allocate_replica": {"index": shard["index"], "shard": shard["shard"], "node": node}}
            try:
                self.make_api_call(
                    route="/_cluster/reroute",
                    params={"retry_failed": True},
                    http_method="POST",
                    body={"commands": [command]},
                    timeout=30,
                )
            except _API_ERRORS:
                logger.debug("Could not reallocate shard %s on [%s]", label, node)
                continue
            logger.info("Successfully allocated shard %s on [%s]", label, node)
            return

        logger.warning("Could not reallocate shard %s on any node", label)


class NodesGroup:
    """A host and the Elasticsearch instances it runs, one per cluster, from the clusters' ``_nodes`` answers."""

    def __init__(self, json_node: dict[str, Any], cluster: ElasticsearchCluster) -> None:
        """Start the group from one instance of the host.

        Arguments:
            json_node: the instance, as one node of the ``_nodes`` API (with the ``hostname``, ``fqdn`` and ``row``
                attributes).
            cluster: the cluster the instance belongs to.

        """
        self._hostname: str = _node_attribute(json_node, "hostname")
        self._fqdn: str = _node_attribute(json_node, "fqdn")
        self._row: str = _node_attribute(json_node, "row")
        self._clusters_instances: list[ElasticsearchCluster] = [cluster]
        self._oldest_start_time = _jvm_start_time(json_node)
        self._master_capable: set[str] = set()
        self._add_roles(json_node)

    def accumulate(self, json_node: dict[str, Any], cluster: ElasticsearchCluster) -> None:
        """Add another instance of the same host.

        Arguments:
            json_node: the instance, as one node of the ``_nodes`` API.
            cluster: the cluster the instance belongs to.

        Raises:
            AssertionError: if the instance's FQDN or row differs from the host's: the node data is inconsistent.

        """
        fqdn = _node_attribute(json_node, "fqdn")
        if fqdn != self._fqdn:
            raise AssertionError(
                f"Invalid data, two instances on the same node with different fqdns [{self._fqdn}/{fqdn}]"
            )
        row = _node_attribute(json_node, "row")
        if row != self._row:
            raise AssertionError(
                f"Invalid data, two instances on the same node with different rows {self._hostname}:[{self._row}/{row}]"
            )
        if cluster not in self._clusters_instances:
            self._clusters_instances.append(cluster)
        self._oldest_start_time = min(self._oldest_start_time, _jvm_start_time(json_node))
        self._add_roles(json_node)

    @property
    def row(self) -> str:
        """The datacenter row of the host."""
        return self._row

    @property
    def fqdn(self) -> str:
        """The FQDN of the host."""
        return self._fqdn

    @property
    def clusters_instances(self) -> Sequence[ElasticsearchCluster]:
        """The clusters the host has an instance of."""
        return self._clusters_instances

    @property
    def master_capable(self) -> set[str]:
        """The names of the clusters in which the host's instance can be elected master."""
        return self._master_capable

    def restarted_since(self, since: datetime) -> bool:
        """Tell whether every instance of the host started after ``since``.

        Arguments:
            since: the (timezone aware) time to compare the JVMs' start times with.

        """
        return self._oldest_start_time > since

    def check_all_nodes_up(self) -> None:
        """Check that every instance of the host is a member of its cluster.

        Raises:
            spicerack.elasticsearch_cluster.ElasticsearchClusterCheckError: if one is not.

        """
        for cluster in self._clusters_instances:
            if not cluster.is_node_in_cluster_nodes(self._hostname):
                raise ElasticsearchClusterCheckError("Elasticsearch is not up yet")

    def _add_roles(self, json_node: dict[str, Any]) -> None:
        if "master" in json_node.get("roles", ()):
            try:
                self._master_capable.add(json_node["settings"]["cluster"]["name"])
            except (KeyError, TypeError) as e:
                raise ElasticsearchClusterError(f"Node {self._hostname} has no settings.cluster.name") from e


class ElasticsearchHosts(RemoteHostsAdapter):
    """The hosts of a batch of a rolling operation, with the actions on their Elasticsearch instances."""

    def __init__(self, remote_hosts: RemoteHosts, nodes: Sequence[NodesGroup], dry_run: bool = True) -> None:
        """Keep the hosts and their instances.

        Arguments:
            remote_hosts: the hosts to act on.
            nodes: the hosts' instances, to check that they joined their clusters.
            dry_run: whether this is a DRY-RUN.

        """
        super().__init__(remote_hosts)
        self._nodes = nodes
        self._dry_run = dry_run

    def start_elasticsearch(self) -> None:
        """Start every Elasticsearch instance of the hosts."""
        self._systemctl_for_each_instance("start")

    def stop_elasticsearch(self) -> None:
        """Stop every Elasticsearch instance of the hosts."""
        self._systemctl_for_each_instance("stop")

    def restart_elasticsearch(self) -> None:
        """Restart every Elasticsearch instance of the hosts."""
        self._systemctl_for_each_instance("restart")

    def depool_nodes(self) -> None:
        """Depool the hosts from their load balancers."""
        logger.info("Depooling %s", self)
        self._remote_hosts.run_sync("depool")

    def pool_nodes(self) -> None:
        """Pool the hosts in their load balancers."""
        logger.info("Pooling %s", self)
        self._remote_hosts.run_sync("pool")

    def wait_for_elasticsearch_up(self, timeout: timedelta = timedelta(minutes=15)) -> None:
        """Wait for every instance of the hosts to have joined its cluster, checking every 5 seconds.

        Nothing is checked in DRY-RUN mode, as nothing was restarted.

        Arguments:
            timeout: how long to wait.

        Raises:
            spicerack.elasticsearch_cluster.ElasticsearchClusterCheckError: if they haven't all joined in time.
            spicerack.elasticsearch_cluster.ElasticsearchClusterError: if a cluster can't be queried in time.

        """
        logger.info("waiting for elasticsearch instances to come up on %s", self)
        if self._dry_run:
            return

        @retry(
            tries=_tries(timeout, _NODES_POLL_DELAY),
            delay=_NODES_POLL_DELAY,
            backoff_mode="constant",
            exceptions=(ElasticsearchClusterError, ElasticsearchClusterCheckError),
        )
        def check_all_up() -> None:
            for node in self._nodes:
                node.check_all_nodes_up()

        check_all_up()

    def _systemctl_for_each_instance(self, action: str) -> None:
        logger.info("%s all elasticsearch instances on %s", action, self)
        self._remote_hosts.run_sync(f"cat {INSTANCES_FILE} | xargs systemctl {action}")


class ElasticsearchClusters:
    """The clusters of a cluster group, acted on together."""

    def __init__(
        self,
        clusters: Sequence[ElasticsearchCluster],
        remote: Remote,
        prometheus: "Prometheus",
        write_queue_datacenters: Sequence[str],
        dry_run: bool = True,
    ) -> None:
        """Keep the clusters and the clients to act on their hosts and to check the write queues.

        Arguments:
            clusters: the clusters.
            remote: the Remote instance.
            prometheus: the Prometheus client.
            write_queue_datacenters: the datacenters whose Prometheus to query for the CirrusSearch write queues.
            dry_run: whether this is a DRY-RUN.

        """
        self._clusters = clusters
        self._remote = remote
        self._prometheus = prometheus
        self._write_queue_datacenters = write_queue_datacenters
        self._dry_run = dry_run

    def __str__(self) -> str:
        """The clusters' endpoints, as a list."""
        return str([str(cluster) for cluster in self._clusters or ()])

    def flush_markers(self, timeout: timedelta = timedelta(seconds=60)) -> None:
        """Flush and synced-flush every cluster (failures are logged).

        Arguments:
            timeout: how long to wait for each flush.

        """
        for cluster in self._clusters:
            cluster.flush_markers(timeout)

    def force_allocation_of_all_unassigned_shards(self) -> None:
        """Allocate the unassigned shards of every cluster."""
        for cluster in self._clusters:
            cluster.force_allocation_of_all_unassigned_shards()

    @contextmanager
    def frozen_writes(self, reason: Reason) -> Iterator[list[None]]:
        """Freeze the writes to every cluster while in the context, unfreezing them all on exit.

        Arguments:
            reason: why the writes are frozen.

        Yields:
            A list with one :py:data:`None` per cluster.

        """
        logger.info("Freezing writes on %s", self)
        with ExitStack() as stack:
            yield [stack.enter_context(cluster.frozen_writes(reason)) for cluster in self._clusters]

    @contextmanager
    def stopped_replication(self) -> Iterator[list[None]]:
        """Allocate only primary shards on every cluster while in the context.

        Yields:
            A list with one :py:data:`None` per cluster.

        """
        logger.info("stopping replication on %s", self)
        with ExitStack() as stack:
            yield [stack.enter_context(cluster.stopped_replication()) for cluster in self._clusters]

    def wait_for_green(self, timeout: timedelta = timedelta(hours=1)) -> None:
        """Wait for every cluster to be green, checking every 10 seconds.

        Arguments:
            timeout: how long to wait.

        Raises:
            spicerack.elasticsearch_cluster.ElasticsearchClusterCheckError: if they are not all green in time.

        """
        logger.info("waiting for clusters to be green")
        self._wait_for_all(timeout, "check_green")

    def wait_for_yellow_w_no_moving_shards(self, timeout: timedelta = timedelta(hours=1)) -> None:
        """Wait for every cluster to be at least yellow with no initializing or relocating shards.

        Arguments:
            timeout: how long to wait, checking every 10 seconds.

        Raises:
            spicerack.elasticsearch_cluster.ElasticsearchClusterCheckError: if they are not all so in time.

        """
        logger.info("waiting for clusters to be yellow with no initializing or relocating shards")
        self._wait_for_all(timeout, "check_yellow_w_no_moving_shards")

    def get_next_clusters_nodes(
        self, started_before: datetime, size: int = 1, operation: OperationType = OperationType.RESTART
    ) -> ElasticsearchHosts | None:
        """Return the next batch of hosts of a rolling operation, or :py:data:`None` when all are done.

        A host is done when its instances' JVMs (:py:attr:`OperationType.RESTART`) or the host itself
        (:py:attr:`OperationType.REBOOT`) started after ``started_before``. The batch comes from the row with the
        fewest hosts left, so that a row is finished before the next is started, and holds master capable hosts only
        once no other host is left.

        Arguments:
            started_before: the start of the rolling operation (timezone aware).
            size: the largest number of hosts in the batch.
            operation: the kind of rolling operation.

        Raises:
            spicerack.elasticsearch_cluster.ElasticsearchClusterError: if ``size`` is less than 1 or a cluster or
                host can't be queried.

        """
        if size < 1:
            raise ElasticsearchClusterError("Size of next nodes must be at least 1")

        nodes = self._nodes_groups()
        if operation is OperationType.REBOOT:
            boot_times = self._boot_times([node.fqdn for node in nodes])
            pending = [node for node in nodes if boot_times[node.fqdn] < started_before]
        else:
            pending = [node for node in nodes if not node.restarted_since(started_before)]

        logger.info(
            "Nodes to process for %s (started_before=%s): %s",
            operation.value,
            started_before,
            [node.fqdn for node in pending],
        )
        if not pending:
            return None

        batch = _smallest_row(_restartable(pending))[:size]
        remote_hosts = self._remote.query(",".join(node.fqdn for node in batch))
        return ElasticsearchHosts(remote_hosts, batch, dry_run=self._dry_run)

    def reset_indices_to_read_write(self) -> None:
        """Lift the read-only block of every index of every cluster.

        Raises:
            spicerack.elasticsearch_cluster.ElasticsearchClusterError: if a cluster's settings can't be changed.

        """
        for cluster in self._clusters:
            cluster.reset_indices_to_read_write()

    @retry(
        tries=60,
        delay=timedelta(seconds=60),
        backoff_mode="constant",
        exceptions=(ElasticsearchClusterCheckError,),
    )
    def wait_for_all_write_queues_empty(self) -> None:
        """Wait up to an hour for the CirrusSearch write queues to be empty, checking every minute.

        The queues are checked on the Prometheus of each of the ``write_queue_datacenters``: only the datacenter
        running the jobs has results, but at least one must have some.

        Raises:
            spicerack.elasticsearch_cluster.ElasticsearchClusterCheckError: if a queue is still not empty.
            spicerack.elasticsearch_cluster.ElasticsearchClusterError: if no datacenter has results, they are
                malformed or Prometheus can't be reached (not retried).
            wmflib.prometheus.PrometheusError: if Prometheus answers with an error.

        """
        found = False
        for datacenter in self._write_queue_datacenters:
            try:
                results = self._prometheus.query(WRITE_QUEUE_QUERY, datacenter)
            except RequestException as e:
                raise ElasticsearchClusterError(f"Unable to query the Prometheus of {datacenter}: {e}") from e
            if not results:
                logger.info("Prometheus returned no results for query %s in dc %s", WRITE_QUEUE_QUERY, datacenter)
                continue

            found = True
            lags = [_queue_lag(result) for result in results]
            logger.debug("Prom query %s returned queue_results of %s", WRITE_QUEUE_QUERY, lags)
            for topic, partition, lag in lags:
                if lag > 0:
                    raise ElasticsearchClusterCheckError(
                        f"Write queue not empty (had value of {lag:g}) for partition {partition} of topic {topic}."
                    )

        if not found:
            raise ElasticsearchClusterError(
                f"Prometheus query {WRITE_QUEUE_QUERY} returned empty response for all dcs in "
                f"{self._write_queue_datacenters}, is query correct?"
            )

    def _wait_for_all(self, timeout: timedelta, check: str) -> None:
        """Run the ``check`` method of every cluster until it passes on all, every 10 seconds up to ``timeout``."""

        @retry(
            tries=_tries(timeout, _HEALTH_POLL_DELAY),
            delay=_HEALTH_POLL_DELAY,
            backoff_mode="constant",
            exceptions=(ElasticsearchClusterCheckError,),
        )
        def check_all() -> None:
            for cluster in self._clusters:
                getattr(cluster, check)()

        check_all()

    def _nodes_groups(self) -> list[NodesGroup]:
        """Group the instances of every cluster by host."""
        groups: dict[str, NodesGroup] = {}
        for cluster in self._clusters:
            for json_node in cluster.get_nodes().values():
                hostname = _node_attribute(json_node, "hostname")
                if hostname in groups:
                    groups[hostname].accumulate(json_node, cluster)
                else:
                    groups[hostname] = NodesGroup(json_node, cluster)
        return list(groups.values())

    def _boot_times(self, fqdns: list[str]) -> dict[str, datetime]:
        """Return the boot time of each host, from its uptime (a read-only command, run in DRY-RUN mode too)."""
        now = datetime.now(UTC)
        uptimes = self._remote.query(",".join(fqdns)).uptime()
        boot_times = {str(host): now - timedelta(seconds=seconds) for hosts, seconds in uptimes for host in hosts}
        missing = sorted(set(fqdns) - set(boot_times))
        if missing:
            raise ElasticsearchClusterError(f"Unable to get the uptime of {missing}")
        return boot_times


def _query_value(value: Any) -> Any:
    """Return a query string value as Elasticsearch wants it: booleans in lower case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _node_attribute(json_node: Any, name: str) -> str:
    """Return one of the ``attributes`` of a node of the ``_nodes`` API."""
    try:
        return str(json_node["attributes"][name])
    except (KeyError, TypeError) as e:
        raise ElasticsearchClusterError(f"Node {_node_name(json_node)} has no attribute {name!r}") from e


def _node_name(json_node: Any) -> str:
    """Return the name of a node of the ``_nodes`` API, for error messages."""
    return repr(json_node.get("name") if isinstance(json_node, dict) else json_node)


def _jvm_start_time(json_node: Any) -> datetime:
    """Return when the JVM of a node of the ``_nodes`` API started."""
    try:
        return datetime.fromtimestamp(json_node["jvm"]["start_time_in_millis"] / 1000, UTC)
    except (KeyError, TypeError, ValueError) as e:
        raise ElasticsearchClusterError(f"Node {_node_name(json_node)} has no valid jvm.start_time_in_millis") from e


def _queue_lag(result: Any) -> tuple[str, str, float]:
    """Return the topic, partition and lag of one series of the write queue query."""
    try:
        return result["metric"]["topic"], result["metric"]["partition"], float(result["value"][1])
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise ElasticsearchClusterError(f"Unexpected result of the write queue query: {result!r}") from e


def _restartable(nodes: list[NodesGroup]) -> list[NodesGroup]:
    """Return the hosts that may go now: master capable hosts wait until no other host is left."""
    if all(node.master_capable for node in nodes):
        return nodes
    return [node for node in nodes if not node.master_capable]


def _smallest_row(nodes: list[NodesGroup]) -> list[NodesGroup]:
    """Return the hosts of the row with the fewest of them (the first such row on ties)."""
    rows: dict[str, list[NodesGroup]] = {}
    for node in nodes:
        rows.setdefault(node.row, []).append(node)
    return min(rows.values(), key=len)


def _tries(timeout: timedelta, delay: timedelta) -> int:
    """Return how many checks ``delay`` apart fit in ``timeout``, at least one."""
    return max(int(timeout / delay), 1)
