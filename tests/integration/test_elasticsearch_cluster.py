"""Integration tests of spicerack.elasticsearch_cluster: real HTTP sessions, hosts and Prometheus.

The clusters are two stand-in Elasticsearch REST APIs (``alpha`` and ``beta``, no Elasticsearch installs here, see
``tests/integration/servers/elasticsearch.py``); their nodes live on hosts of the SSH fleet, where the
``systemctl``, ``pool`` and ``depool`` stand-ins record what Cumin runs and start or stop each host's instances,
which then appear in or vanish from the clusters' ``_nodes`` answers. The write queues are read from a real
Prometheus scraping a Burrow-like exporter.
"""

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from wmflib.prometheus import PrometheusError

from spicerack import Spicerack, elasticsearch_cluster
from spicerack.elasticsearch_cluster import (
    ElasticsearchClusterCheckError,
    ElasticsearchClusterError,
    ElasticsearchClusters,
    ElasticsearchHosts,
    OperationType,
)
from tests.integration.servers import free_port, wait_until
from tests.integration.servers.elasticsearch import WRITE_QUEUE_GROUP, es_node, query_prometheus

GROUP = "search_test"
ROWS = {
    "test-host03": "A",
    "test-host04": "A",
    "test-host05": "A",
    "test-host06": "A",
    "test-host07": "B",
    "test-host08": "B",
}
"""The fleet hosts of the clusters and their rows."""
MASTERS = {"alpha": {"test-host06"}, "beta": {"test-host08"}}
BETA_HOSTS = ("test-host03", "test-host06", "test-host07", "test-host08")
LONG_AGO_MS = 1_000_000_000_000  # 2001
TOPIC = "eqiad.cpjobqueue.partitioned.mediawiki.job.cirrusSearchElasticaWrite"

SYSTEMCTL_STAND_IN = """#!/bin/sh
# Stand-in for systemctl on a fleet host: record the call (as the Puppet tests' stand-in does) and start or stop
# the Elasticsearch instances named, writing the start time (ms) of each running one.
echo "$*" >> "${FLEET_STATE_DIR:?not a fleet host}/systemctl.log"
action="$1"
shift
for unit in "$@"; do
    case "$unit" in elasticsearch_*) ;; *) continue ;; esac
    case "$action" in
        stop) rm -f "$FLEET_STATE_DIR/elasticsearch/$unit.started" ;;
        start|restart) date +%s%3N > "$FLEET_STATE_DIR/elasticsearch/$unit.started" ;;
    esac
done
"""
POOL_STAND_IN = """#!/bin/sh
echo "$(basename "$0")" >> "${FLEET_STATE_DIR:?not a fleet host}/elasticsearch/lvs"
"""


def unit(cluster):
    return f"elasticsearch_7@production-search-{cluster}"


def state(fleet, host):
    return fleet.state_dir(host) / "elasticsearch"


class Fleet:
    """The Elasticsearch hosts of the fleet: which instances run and when they started, read by the clusters."""

    def __init__(self, fleet):
        self.fleet = fleet

    def nodes(self, cluster):
        nodes = {}
        for host, row in ROWS.items():
            started = state(self.fleet, host) / f"{unit(cluster)}.started"
            if (cluster == "beta" and host not in BETA_HOSTS) or not started.exists():
                continue
            start_ms = int(started.read_text())
            nodes[f"{host}-{cluster}-id"] = es_node(host, cluster, row, start_ms, master=host in MASTERS[cluster])
        return nodes

    def set_started(self, host, cluster, start_ms):
        (state(self.fleet, host) / f"{unit(cluster)}.started").write_text(f"{start_ms}\n")

    def calls(self, host):
        log = self.fleet.state_dir(host) / "systemctl.log"
        return log.read_text().splitlines() if log.exists() else []

    def lvs(self, host):
        log = state(self.fleet, host) / "lvs"
        return log.read_text().split() if log.exists() else []


@pytest.fixture(scope="module")
def fleet_tools(ssh_fleet):
    """The systemctl, pool and depool stand-ins in the fleet's bin_dir; the previous ones are put back at the end."""
    saved = {}
    for name, content in (("systemctl", SYSTEMCTL_STAND_IN), ("pool", POOL_STAND_IN), ("depool", POOL_STAND_IN)):
        path = ssh_fleet.bin_dir / name
        saved[path] = path.read_bytes() if path.exists() else None
        path.write_text(content)
        path.chmod(0o755)
    yield ssh_fleet
    for path, content in saved.items():
        if content is None:
            path.unlink()
        else:
            path.write_bytes(content)


@pytest.fixture
def es_fleet(fleet_tools, elasticsearch_pair, monkeypatch):
    """Every instance running since long ago on its host, the clusters reading their nodes from the hosts."""
    monkeypatch.setattr(elasticsearch_cluster, "INSTANCES_FILE", "$FLEET_STATE_DIR/elasticsearch/instances")
    fleet = Fleet(fleet_tools)
    for host in ROWS:
        directory = state(fleet_tools, host)
        if directory.exists():
            for old in directory.iterdir():
                old.unlink()
        directory.mkdir(exist_ok=True)
        (fleet_tools.state_dir(host) / "systemctl.log").unlink(missing_ok=True)
        clusters = ["alpha", "beta"] if host in BETA_HOSTS else ["alpha"]
        (directory / "instances").write_text("".join(f"{unit(cluster)}\n" for cluster in clusters))
        for cluster in clusters:
            fleet.set_started(host, cluster, LONG_AGO_MS)
    for server in elasticsearch_pair:
        server.reset()
        server.nodes_provider = lambda name=server.name: fleet.nodes(name)
    return fleet


@pytest.fixture
def servers(elasticsearch_pair):
    for server in elasticsearch_pair:
        server.reset()
    return elasticsearch_pair


@pytest.fixture
def prometheus_proxy(write_queue_prometheus, monkeypatch):
    """wmflib's Prometheus client reaches the test Prometheus as its proxy; the clusters on loopback directly."""
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, write_queue_prometheus.proxy_url)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    return write_queue_prometheus


def spicerack_for(tmp_path, ssh_fleet, endpoints, *, dry_run=False):
    (tmp_path / "elasticsearch").mkdir(exist_ok=True)
    config = {"search": {GROUP: endpoints, "search_other": {"gamma": "http://127.0.0.1:1"}}}
    (tmp_path / "elasticsearch" / "config.yaml").write_text(yaml.safe_dump(config))
    return Spicerack(cumin_config=str(ssh_fleet.cumin_config), spicerack_config_dir=str(tmp_path), dry_run=dry_run)


@pytest.fixture
def make_clusters(servers, ssh_fleet, tmp_path):
    def make(*, dry_run=False, datacenters=("eqiad",)) -> ElasticsearchClusters:
        endpoints = {server.name: server.url for server in servers}
        return spicerack_for(tmp_path, ssh_fleet, endpoints, dry_run=dry_run).elasticsearch_clusters(GROUP, datacenters)

    return make


def hostnames(server):
    return {node["attributes"]["hostname"] for node in server.current_nodes().values()}


def reason():
    return Spicerack(dry_run=True).admin_reason("Rolling restart", task_id="T12345")


# -- the accessor and the configuration


def test_unknown_cluster_group_is_an_error(tmp_path, ssh_fleet):
    spicerack = spicerack_for(tmp_path, ssh_fleet, {})
    with pytest.raises(ElasticsearchClusterError, match="No cluster group named search_nope"):
        spicerack.elasticsearch_clusters("search_nope", ["eqiad"])


def test_clusters_are_described_by_their_endpoints(make_clusters, servers):
    assert str(make_clusters()) == str([server.url for server in servers])


# -- health


def test_wait_for_green_passes_on_green_clusters(make_clusters, servers):
    make_clusters().wait_for_green(timedelta(seconds=1))

    for server in servers:
        [request] = server.requests_to("GET", "/_cluster/health")
        assert request.query == {"wait_for_status": "green", "timeout": "1s"}


def test_wait_for_green_fails_when_a_cluster_stays_yellow(make_clusters, servers):
    servers[1].status = "yellow"

    with pytest.raises(ElasticsearchClusterCheckError, match="Error while waiting for green"):
        make_clusters().wait_for_green(timedelta(seconds=1))

    assert len(servers[1].requests_to("GET", "/_cluster/health")) == 1  # one try in a timeout shorter than the delay


def test_yellow_without_moving_shards_is_accepted(make_clusters, servers):
    servers[0].status = "yellow"

    make_clusters().wait_for_yellow_w_no_moving_shards(timedelta(seconds=1))

    [request] = servers[0].requests_to("GET", "/_cluster/health")
    assert request.query == {
        "wait_for_status": "yellow",
        "wait_for_no_initializing_shards": "true",
        "wait_for_no_relocating_shards": "true",
        "timeout": "1s",
    }


@pytest.mark.parametrize("moving", ["initializing_shards", "relocating_shards"])
def test_moving_shards_fail_the_yellow_check(make_clusters, servers, moving):
    servers[0].status = "yellow"
    setattr(servers[0], moving, 3)

    with pytest.raises(ElasticsearchClusterCheckError, match="yellow with no initializing or relocating shards"):
        make_clusters().wait_for_yellow_w_no_moving_shards(timedelta(seconds=1))


def test_a_red_cluster_fails_the_yellow_check(make_clusters, servers):
    servers[1].status = "red"

    with pytest.raises(ElasticsearchClusterCheckError):
        make_clusters().wait_for_yellow_w_no_moving_shards(timedelta(seconds=1))


# -- replication, frozen writes, flushes


def test_stopped_replication_allocates_primaries_only_inside(make_clusters, servers):
    with make_clusters().stopped_replication():
        assert [server.persistent for server in servers] == [{"cluster.routing.allocation.enable": "primaries"}] * 2

    assert [server.persistent for server in servers] == [{"cluster.routing.allocation.enable": "all"}] * 2


def test_stopped_replication_restarts_it_on_errors(make_clusters, servers):
    with pytest.raises(RuntimeError), make_clusters().stopped_replication():
        raise RuntimeError("failure inside")

    assert [server.persistent for server in servers] == [{"cluster.routing.allocation.enable": "all"}] * 2


def test_frozen_writes_holds_the_freeze_document_inside(make_clusters, servers):
    with make_clusters().frozen_writes(reason()):
        for server in servers:
            document = server.documents[("mw_cirrus_metastore", "freeze-everything")]
            assert document["host"] == reason().hostname
            assert document["reason"] == str(reason())
            assert abs(document["timestamp"] - time.time()) < 3600

    assert [server.documents for server in servers] == [{}, {}]


def test_a_failed_unfreeze_freezes_and_unfreezes_again(make_clusters, servers, caplog):
    alpha = servers[0]
    alpha.fail("DELETE", "/mw_cirrus_metastore/_doc/freeze-everything", 409, times=1)

    with caplog.at_level(logging.WARNING), make_clusters().frozen_writes(reason()):
        pass

    assert [request.method for request in alpha.writes()] == ["PUT", "DELETE", "PUT", "DELETE"]
    assert alpha.documents == {}
    assert (
        "Could not unfreeze writes, trying to freeze and unfreeze again: Encountered error while deleting "
        "'freeze-everything' document to unfreeze cluster writes" in caplog.messages
    )


def test_a_failed_freeze_is_an_error_and_leaves_the_other_cluster_alone(make_clusters, servers):
    servers[0].fail("PUT", "/mw_cirrus_metastore/_doc/freeze-everything", 400)

    clusters = make_clusters()
    with (
        pytest.raises(ElasticsearchClusterError, match="while creating 'freeze-everything' document"),
        clusters.frozen_writes(reason()),
    ):
        pytest.fail("the writes were not frozen")

    assert servers[1].requests == []


def test_flush_markers_flushes_and_synced_flushes_every_cluster(make_clusters, servers):
    make_clusters().flush_markers()

    for server in servers:
        assert [(r.method, r.path, r.query) for r in server.requests] == [
            ("POST", "/_flush", {"force": "true"}),
            ("POST", "/_flush/synced", {}),
        ]


def test_failed_and_slow_flushes_are_only_warnings(make_clusters, servers, caplog):
    servers[0].fail("POST", "/_flush/synced", 409)
    servers[1].fail("POST", "/_flush", 200, delay=5)
    servers[1].fail("POST", "/_flush/synced", 200, delay=5)

    with caplog.at_level(logging.WARNING):
        make_clusters().flush_markers(timedelta(seconds=1))

    assert caplog.messages == [
        f"Not all shards were synced flushed on {servers[0].url}.",
        f"Not all shards were flushed on {servers[1].url}.",
        f"Not all shards were synced flushed on {servers[1].url}.",
    ]


# -- shards and index settings


def test_unassigned_shards_are_allocated_to_a_node(make_clusters, servers, es_fleet):
    alpha = servers[0]
    alpha.shards = [
        {"index": "enwiki_content", "shard": 0, "state": "STARTED", "node": "test-host03-alpha"},
        {"index": "enwiki_content", "shard": 1, "state": "UNASSIGNED", "node": None},
        {"index": "frwiki_general", "shard": 4, "state": "UNASSIGNED", "node": None},
    ]
    alpha.refusing_nodes = {f"{host}-alpha" for host in ROWS if host != "test-host05"}

    make_clusters().force_allocation_of_all_unassigned_shards()

    assert [(shard["state"], shard["node"]) for shard in alpha.shards] == [
        ("STARTED", "test-host03-alpha"),
        ("INITIALIZING", "test-host05-alpha"),
        ("INITIALIZING", "test-host05-alpha"),
    ]
    assert servers[1].requests_to("POST", "/_cluster/reroute") == []


def test_a_shard_no_node_accepts_is_a_warning(make_clusters, servers, es_fleet, caplog):
    beta = servers[1]
    beta.shards = [{"index": "dewiki_content", "shard": 2, "state": "UNASSIGNED", "node": None}]
    beta.refusing_nodes = {f"{host}-beta" for host in BETA_HOSTS}

    with caplog.at_level(logging.WARNING):
        make_clusters().force_allocation_of_all_unassigned_shards()

    assert len(beta.requests_to("POST", "/_cluster/reroute")) == len(BETA_HOSTS)
    assert caplog.messages == ["Could not reallocate shard [dewiki_content:2] on any node"]


def test_reset_indices_to_read_write_lifts_the_blocks(make_clusters, servers):
    for server in servers:
        server.blocks = {"read_only_allow_delete": True}

    make_clusters().reset_indices_to_read_write()

    assert [server.blocks for server in servers] == [{}, {}]


def test_a_failed_reset_of_the_blocks_is_an_error(make_clusters, servers):
    servers[0].fail("PUT", "/_all/_settings", 403)

    with pytest.raises(ElasticsearchClusterError, match="Could not reset read only status"):
        make_clusters().reset_indices_to_read_write()


# -- DRY-RUN


def test_dry_run_changes_nothing(make_clusters, servers, es_fleet):
    servers[0].shards = [{"index": "enwiki_content", "shard": 1, "state": "UNASSIGNED", "node": None}]
    servers[1].blocks = {"read_only_allow_delete": True}
    clusters = make_clusters(dry_run=True)

    with clusters.stopped_replication(), clusters.frozen_writes(reason()):
        clusters.flush_markers()
        clusters.force_allocation_of_all_unassigned_shards()
        clusters.reset_indices_to_read_write()
        clusters.wait_for_green(timedelta(seconds=1))

    for server in servers:
        assert server.writes() == []
        assert server.persistent == {}
        assert server.documents == {}
    assert servers[0].shards[0]["state"] == "UNASSIGNED"
    assert servers[1].blocks == {"read_only_allow_delete": True}


# -- faults


def test_an_unreachable_cluster_is_a_clear_error(ssh_fleet, tmp_path):
    spicerack = spicerack_for(tmp_path, ssh_fleet, {"down": f"http://127.0.0.1:{free_port()}"})
    clusters = spicerack.elasticsearch_clusters(GROUP, ["eqiad"])

    with pytest.raises(ElasticsearchClusterError, match="Could not connect to the cluster"):
        clusters.get_next_clusters_nodes(datetime.now(UTC))
    with pytest.raises(ElasticsearchClusterCheckError, match="Error while waiting for green"):
        clusters.wait_for_green(timedelta(seconds=1))


def test_a_non_json_answer_is_a_clear_error(make_clusters, servers):
    servers[0].fail("GET", "/_nodes", 200, raw=b"<html>proxy error</html>")

    with pytest.raises(
        ElasticsearchClusterError, match=r"GET /_nodes on http://127\.0\.0\.1:\d+ did not answer with JSON"
    ):
        make_clusters().get_next_clusters_nodes(datetime.now(UTC))


@pytest.mark.parametrize(
    "answer",
    [
        {"nodes": "none"},
        {"nodes": {"x": {"name": "broken", "attributes": {"hostname": "h"}}}},
        {"nodes": {"x": {**es_node("h", "alpha", "A", 1), "jvm": {}}}},
    ],
)
def test_malformed_nodes_are_a_clear_error(make_clusters, servers, answer):
    servers[0].fail("GET", "/_nodes", 200, body=answer)

    with pytest.raises(ElasticsearchClusterError, match=r"Unexpected answer|has no attribute|has no valid jvm"):
        make_clusters().get_next_clusters_nodes(datetime.now(UTC))


def test_a_malformed_shards_list_is_a_clear_error(make_clusters, servers, es_fleet):
    servers[0].fail("GET", "/_cat/shards", 200, body={"shards": []})

    with pytest.raises(ElasticsearchClusterError, match=r"Unexpected answer of http://\S+ to GET /_cat/shards"):
        make_clusters().force_allocation_of_all_unassigned_shards()


# -- rolling operations on the fleet


def run_rolling_restart(clusters, since, size):
    """Run a rolling restart the way the rolling-operation cookbook does; return the batches of hosts."""
    batches = []
    while (nodes := clusters.get_next_clusters_nodes(since, size)) is not None:
        assert isinstance(nodes, ElasticsearchHosts)
        batches.append(sorted(nodes.remote_hosts.hosts))
        with clusters.stopped_replication():
            clusters.flush_markers()
            nodes.depool_nodes()
            nodes.stop_elasticsearch()
            nodes.start_elasticsearch()
            nodes.wait_for_elasticsearch_up(timedelta(seconds=5))
            nodes.pool_nodes()
        clusters.wait_for_green(timedelta(seconds=1))
        assert len(batches) < 10, "the rolling restart does not end"
    return batches


def test_rolling_restart_goes_row_by_row_with_masters_last(make_clusters, es_fleet, servers):
    since = datetime.now(UTC)

    batches = run_rolling_restart(make_clusters(), since, size=2)

    assert batches == [
        ["test-host07"],  # row B has the fewest hosts to do
        ["test-host03", "test-host04"],
        ["test-host05"],
        ["test-host06"],  # the master capable hosts at the end, one at a time per row
        ["test-host08"],
    ]
    units = {host: ["alpha", "beta"] if host in BETA_HOSTS else ["alpha"] for host in ROWS}
    for host, clusters in units.items():
        names = " ".join(unit(cluster) for cluster in clusters)
        assert es_fleet.calls(host) == [f"stop {names}", f"start {names}"]
        assert es_fleet.lvs(host) == ["depool", "pool"]
    for server in servers:
        nodes = server.current_nodes().values()
        assert all(node["jvm"]["start_time_in_millis"] >= since.timestamp() * 1000 for node in nodes)
        assert server.persistent == {"cluster.routing.allocation.enable": "all"}
        assert [(r.method, r.path) for r in server.writes()].count(("POST", "/_flush")) == 5


def test_stopped_instances_leave_their_clusters_until_started(make_clusters, es_fleet, servers):
    nodes = make_clusters().get_next_clusters_nodes(datetime.now(UTC), 1)
    assert nodes is not None and list(nodes.remote_hosts.hosts) == ["test-host07"]

    nodes.stop_elasticsearch()
    assert all("test-host07" not in hostnames(server) for server in servers)
    with pytest.raises(ElasticsearchClusterCheckError, match="Elasticsearch is not up yet"):
        nodes.wait_for_elasticsearch_up(timedelta(seconds=1))

    nodes.restart_elasticsearch()
    nodes.wait_for_elasticsearch_up(timedelta(seconds=1))
    assert es_fleet.calls("test-host07") == [
        f"stop {unit('alpha')} {unit('beta')}",
        f"restart {unit('alpha')} {unit('beta')}",
    ]


def test_restarted_hosts_are_skipped(make_clusters, es_fleet):
    since = datetime.now(UTC)
    now_ms = int(time.time() * 1000) + 1000
    for host in ("test-host07", "test-host03", "test-host04"):
        for cluster in ("alpha", "beta") if host in BETA_HOSTS else ("alpha",):
            es_fleet.set_started(host, cluster, now_ms)
    es_fleet.set_started("test-host05", "alpha", now_ms)

    nodes = make_clusters().get_next_clusters_nodes(since, 4)

    assert nodes is not None and list(nodes.remote_hosts.hosts) == ["test-host06"]  # masters now, row A first


def test_a_host_with_one_old_instance_is_not_restarted(make_clusters, es_fleet):
    since = datetime.now(UTC)
    es_fleet.set_started("test-host07", "alpha", int(time.time() * 1000) + 1000)  # beta's instance is still old

    nodes = make_clusters().get_next_clusters_nodes(since, 1)

    assert nodes is not None and list(nodes.remote_hosts.hosts) == ["test-host07"]


@pytest.fixture
def boot_times(ssh_fleet):
    """Set the fleet hosts' simulated boot times, putting the previous ones back at the end."""
    saved = {host: (ssh_fleet.state_dir(host) / "boot_time").read_bytes() for host in ROWS}

    def set_boot(host, when):
        (ssh_fleet.state_dir(host) / "boot_time").write_text(f"{when:.2f}\n")

    yield set_boot
    for host, content in saved.items():
        (ssh_fleet.state_dir(host) / "boot_time").write_bytes(content)


def test_reboot_batches_follow_the_hosts_boot_times(make_clusters, es_fleet, boot_times):
    since = datetime.now(UTC)
    for host in ROWS:
        boot_times(host, time.time() - 86400)
    boot_times("test-host07", time.time() + 5)  # rebooted already
    es_fleet.set_started("test-host03", "alpha", int(time.time() * 1000) + 1000)  # restarted, not rebooted

    nodes = make_clusters().get_next_clusters_nodes(since, 3, operation=OperationType.REBOOT)

    assert nodes is not None and sorted(nodes.remote_hosts.hosts) == ["test-host03", "test-host04", "test-host05"]


def test_reboot_reads_the_uptimes_in_dry_run_too(make_clusters, es_fleet, boot_times):
    since = datetime.now(UTC)
    for host in ROWS:
        boot_times(host, time.time() + 5)

    assert make_clusters(dry_run=True).get_next_clusters_nodes(since, 3, operation=OperationType.REBOOT) is None


def test_all_hosts_done_is_none(make_clusters, es_fleet):
    assert make_clusters().get_next_clusters_nodes(datetime.fromtimestamp(LONG_AGO_MS / 1000 - 1, UTC)) is None


def test_dry_run_rolling_actions_run_nothing_on_the_hosts(make_clusters, es_fleet, servers):
    nodes = make_clusters(dry_run=True).get_next_clusters_nodes(datetime.now(UTC), 2)
    assert nodes is not None

    nodes.depool_nodes()
    nodes.stop_elasticsearch()
    nodes.wait_for_elasticsearch_up(timedelta(seconds=1))
    nodes.pool_nodes()

    assert es_fleet.calls("test-host07") == []
    assert es_fleet.lvs("test-host07") == []
    assert all("test-host07" in hostnames(server) for server in servers)


def test_size_below_one_is_an_error(make_clusters):
    with pytest.raises(ElasticsearchClusterError, match="Size of next nodes must be at least 1"):
        make_clusters().get_next_clusters_nodes(datetime.now(UTC), 0)


# -- write queues, from a real Prometheus


def set_lags(exporter, prometheus, lags):
    """Make the exporter serve ``lags`` ({partition: lag}) and wait for Prometheus to have scraped them."""
    exporter.lags = {(WRITE_QUEUE_GROUP, TOPIC, str(partition)): lag for partition, lag in lags.items()}
    exporter.lags[("another-group", TOPIC, "0")] = 1000  # another consumer group: not the write queue
    expected = sorted((str(partition), str(lag)) for partition, lag in lags.items())

    def scraped():
        results = query_prometheus(prometheus, f'kafka_burrow_partition_lag{{group="{WRITE_QUEUE_GROUP}"}}')
        return sorted((r["metric"]["partition"], r["value"][1]) for r in results) == expected

    wait_until(scraped, timeout=30, what="prometheus scrape of the write queues")


def test_empty_write_queues_pass(make_clusters, burrow_exporter, prometheus_proxy):
    set_lags(burrow_exporter, prometheus_proxy, {0: 0, 1: 0})

    assert make_clusters(datacenters=("eqiad", "codfw")).wait_for_all_write_queues_empty() is None


def test_a_non_empty_write_queue_fails_the_check(make_clusters, burrow_exporter, prometheus_proxy):
    set_lags(burrow_exporter, prometheus_proxy, {0: 0, 1: 42})

    # In DRY-RUN the check is tried once (it only reads), so the test does not wait for the queue to drain.
    with pytest.raises(
        ElasticsearchClusterCheckError,
        match=f"Write queue not empty \\(had value of 42\\) for partition 1 of topic {TOPIC}",
    ):
        make_clusters(dry_run=True).wait_for_all_write_queues_empty()


def test_no_write_queue_results_is_an_error(make_clusters, burrow_exporter, prometheus_proxy):
    set_lags(burrow_exporter, prometheus_proxy, {})

    with pytest.raises(ElasticsearchClusterError, match=r"returned empty response for all dcs in \('eqiad', 'codfw'\)"):
        make_clusters(datacenters=("eqiad", "codfw")).wait_for_all_write_queues_empty()


def test_an_unreachable_prometheus_is_an_error(make_clusters, monkeypatch):
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("no_proxy", "127.0.0.1")

    with pytest.raises(ElasticsearchClusterError, match=r"Unable to query the Prometheus of eqiad: .*Unable"):
        make_clusters().wait_for_all_write_queues_empty()


def test_a_prometheus_error_is_not_retried(make_clusters, prometheus_proxy, monkeypatch):
    monkeypatch.setattr(elasticsearch_cluster, "WRITE_QUEUE_QUERY", "kafka_burrow_partition_lag{")

    with pytest.raises(PrometheusError, match="HTTP 400"):
        make_clusters().wait_for_all_write_queues_empty()
