"""Unit tests of spicerack.elasticsearch_cluster: request building (requests-mock), batching and checks logic."""

import logging
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import requests
from ClusterShell.NodeSet import NodeSet

from spicerack import elasticsearch_cluster as ec
from spicerack.administrative import Reason

URL = "http://search.example.org:9243"
NOW_MS = int(datetime.now(UTC).timestamp() * 1000)


def node(host, cluster="alpha", row="row1", start_ms=1000, *, master=False):
    return {
        "name": f"{host}-{cluster}",
        "roles": ["master"] if master else [],
        "attributes": {"hostname": host, "fqdn": f"{host}.example.org", "row": row},
        "settings": {"cluster": {"name": cluster}},
        "jvm": {"start_time_in_millis": start_ms},
    }


class FakeCluster:
    """A stand-in ElasticsearchCluster answering get_nodes() with fixed nodes."""

    def __init__(self, *nodes):
        self.nodes = {f"id-{i}": value for i, value in enumerate(nodes)}

    def get_nodes(self):
        return self.nodes

    def is_node_in_cluster_nodes(self, hostname):
        return any(value["attributes"]["hostname"] == hostname for value in self.nodes.values())


class FakeRemote:
    """Records the queries; the query's hosts answer uptime() with ``uptimes`` (fqdn -> seconds)."""

    def __init__(self, uptimes=None):
        self.queries = []
        self.uptimes = uptimes or {}

    def query(self, hosts):
        self.queries.append(hosts)
        remote_hosts = mock.MagicMock()
        remote_hosts.hosts = NodeSet(hosts)
        remote_hosts.uptime.return_value = [
            (NodeSet(host), self.uptimes[host]) for host in hosts.split(",") if host in self.uptimes
        ]
        return remote_hosts


def clusters_of(*clusters, remote=None, prometheus=None, dry_run=False):
    return ec.ElasticsearchClusters(list(clusters), remote or FakeRemote(), prometheus, ["eqiad"], dry_run=dry_run)


def batch(clusters, since, size=1, operation=ec.OperationType.RESTART):
    result = clusters.get_next_clusters_nodes(since, size, operation)
    return None if result is None else sorted(result.remote_hosts.hosts)


# -- configuration


@pytest.mark.parametrize(
    ("configuration", "message"),
    [
        ({}, "No cluster group named search_eqiad"),
        ({"search": {"search_codfw": {}}}, "No cluster group named search_eqiad"),
        ({"search": ["search_eqiad"]}, "No cluster group named search_eqiad"),
        ({"search": {"search_eqiad": ["http://a"]}}, "Invalid cluster group search_eqiad"),
        ({"search": {"search_eqiad": {"alpha": 9243}}}, "Invalid cluster group search_eqiad"),
    ],
)
def test_invalid_configurations(configuration, message):
    with pytest.raises(ec.ElasticsearchClusterError, match=message):
        ec.create_elasticsearch_clusters(configuration, "search_eqiad", ["eqiad"], None, None)


def test_one_cluster_per_endpoint_of_the_group():
    configuration = {"search": {"search_eqiad": {"alpha": "http://a:9243", "beta": "http://b:9443"}}}

    clusters = ec.create_elasticsearch_clusters(configuration, "search_eqiad", ["eqiad"], None, None, dry_run=False)

    assert str(clusters) == "['http://a:9243', 'http://b:9443']"


# -- HTTP requests


@pytest.fixture
def cluster(requests_mock):
    return ec.ElasticsearchCluster(URL, None, dry_run=False)


def test_make_api_call_sends_json_and_lower_case_booleans(cluster, requests_mock):
    requests_mock.get(f"{URL}/_cluster/health", json={"status": "green"})

    answer = cluster.make_api_call("_cluster/health", {"wait": True, "skip": False, "timeout": "1s"}, "GET", {}, 5)

    assert answer == {"status": "green"}
    request = requests_mock.last_request
    assert request.qs == {"wait": ["true"], "skip": ["false"], "timeout": ["1s"]}
    assert request.json() == {}
    assert request.headers["Accept"] == "application/json"
    assert request.timeout == 5


def test_make_api_call_empty_and_non_json_answers(cluster, requests_mock):
    requests_mock.post(f"{URL}/_flush", content=b"")
    requests_mock.get(f"{URL}/_nodes", text="<html>")

    assert cluster.make_api_call("/_flush", {}, "POST", {}, 5) == {}
    with pytest.raises(ec.ElasticsearchClusterError, match=r"GET /_nodes on http://search\.example\.org:9243 did not"):
        cluster.make_api_call("/_nodes", {}, "GET", {}, 5)


def test_dry_run_sends_read_only_requests_only(requests_mock):
    requests_mock.get(f"{URL}/_cat/shards", json=[{"index": "i", "shard": "0", "state": "UNASSIGNED"}])
    requests_mock.get(f"{URL}/_nodes", json={"nodes": {"x": node("h1")}})
    dry = ec.ElasticsearchCluster(URL, None, dry_run=True)

    dry.force_allocation_of_all_unassigned_shards()
    dry.flush_markers()
    dry.reset_indices_to_read_write()
    with dry.stopped_replication(), dry.frozen_writes(Reason("r", "user", "host")):
        pass

    assert {request.method for request in requests_mock.request_history} == {"GET"}


def test_reroute_commands_are_an_array_tried_on_each_node(cluster, requests_mock, caplog):
    requests_mock.get(f"{URL}/_nodes", json={"nodes": {"a": node("h1"), "b": node("h2")}})
    requests_mock.get(f"{URL}/_cat/shards", json=[{"index": "enwiki", "shard": "3", "state": "UNASSIGNED"}])
    requests_mock.post(f"{URL}/_cluster/reroute", [{"status_code": 400, "json": {}}, {"json": {"acknowledged": True}}])

    with caplog.at_level(logging.INFO):
        cluster.force_allocation_of_all_unassigned_shards()

    bodies = [request.json() for request in requests_mock.request_history if request.method == "POST"]
    assert [body["commands"][0]["allocate_replica"]["node"] for body in bodies] in (
        ["h1-alpha", "h2-alpha"],
        ["h2-alpha", "h1-alpha"],
    )
    assert bodies[0]["commands"] == [{"allocate_replica": {"index": "enwiki", "shard": "3", "node": mock.ANY}}]
    assert requests_mock.last_request.qs == {"retry_failed": ["true"]}
    assert caplog.messages[-1].startswith("Successfully allocated shard [enwiki:3] on [")


def test_only_unassigned_shards_are_allocated(cluster, requests_mock):
    shards = [{"index": "a", "shard": "0", "state": "STARTED"}, {"index": "b", "shard": "1", "state": "UNASSIGNED"}]
    cluster.get_nodes = mock.Mock(return_value={"x": {"name": "n1"}})
    requests_mock.get(f"{URL}/_cat/shards", json=shards)
    requests_mock.post(f"{URL}/_cluster/reroute", json={})

    cluster.force_allocation_of_all_unassigned_shards()

    [post] = [request for request in requests_mock.request_history if request.method == "POST"]
    assert post.json()["commands"][0]["allocate_replica"]["index"] == "b"


def test_shards_listing_errors(cluster, requests_mock):
    cluster.get_nodes = mock.Mock(return_value={})
    requests_mock.get(f"{URL}/_cat/shards", status_code=503)

    with pytest.raises(ec.ElasticsearchClusterError, match="Could not list the shards of"):
        cluster.force_allocation_of_all_unassigned_shards()


def test_flush_timeout_is_the_whole_timedelta(cluster, requests_mock):
    requests_mock.post(f"{URL}/_flush", json={})
    requests_mock.post(f"{URL}/_flush/synced", json={})

    cluster.flush_markers(timedelta(minutes=2))

    assert [request.timeout for request in requests_mock.request_history] == [120.0, 120.0]


def test_get_nodes_errors(cluster, requests_mock):
    requests_mock.get(f"{URL}/_nodes", exc=requests.exceptions.ConnectTimeout)
    with pytest.raises(ec.ElasticsearchClusterError, match="Could not connect to the cluster"):
        cluster.get_nodes()

    requests_mock.get(f"{URL}/_nodes", json={"cluster_name": "alpha"})
    with pytest.raises(ec.ElasticsearchClusterError, match="no 'nodes' mapping"):
        cluster.get_nodes()


def test_unfreeze_failing_twice_raises(cluster, requests_mock, caplog):
    doc = f"{URL}/mw_cirrus_metastore/_doc/freeze-everything"
    requests_mock.put(doc, json={"result": "created"})
    requests_mock.delete(doc, status_code=404, json={"result": "not_found"})

    with (
        pytest.raises(ec.ElasticsearchClusterError, match="while deleting 'freeze-everything' document"),
        cluster.frozen_writes(Reason("maintenance", "user", "cumin1001")),
    ):
        pass

    assert [request.method for request in requests_mock.request_history] == ["PUT", "DELETE", "PUT", "DELETE"]
    assert requests_mock.request_history[0].json()["host"] == "cumin1001"
    assert any("Could not unfreeze writes, trying to freeze and unfreeze again" in m for m in caplog.messages)


# -- node groups


def test_nodes_group_merges_the_instances_of_a_host():
    alpha, beta = FakeCluster(), FakeCluster()
    group = ec.NodesGroup(node("h1", "alpha", start_ms=5000, master=True), alpha)
    group.accumulate(node("h1", "beta", start_ms=3000), beta)
    group.accumulate(node("h1", "beta", start_ms=9000), beta)

    assert group.fqdn == "h1.example.org"
    assert group.row == "row1"
    assert group.clusters_instances == [alpha, beta]
    assert group.master_capable == {"alpha"}
    assert group.restarted_since(datetime.fromtimestamp(2.999, UTC))
    assert not group.restarted_since(datetime.fromtimestamp(3, UTC))


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ({**node("h1"), "attributes": {"hostname": "h1", "fqdn": "h1.other.org", "row": "row1"}}, "different fqdns"),
        (node("h1", row="row2"), r"different rows h1:\[row1/row2\]"),
    ],
)
def test_inconsistent_instances_of_a_host(other, message):
    group = ec.NodesGroup(node("h1"), FakeCluster())

    with pytest.raises(AssertionError, match=message):
        group.accumulate(other, FakeCluster())


def test_check_all_nodes_up_asks_every_cluster():
    up, down = FakeCluster(node("h1")), FakeCluster(node("h2"))
    group = ec.NodesGroup(node("h1"), up)
    group.check_all_nodes_up()

    group.accumulate(node("h1", "beta"), down)
    with pytest.raises(ec.ElasticsearchClusterCheckError, match="Elasticsearch is not up yet"):
        group.check_all_nodes_up()


# -- batches of rolling operations


def test_batches_come_from_the_row_with_fewest_hosts_left():
    since = datetime.fromtimestamp(2, UTC)
    cluster = FakeCluster(
        node("a1", row="A"), node("a2", row="A"), node("a3", row="A"), node("b1", row="B"), node("b2", row="B")
    )

    assert batch(clusters_of(cluster), since, size=5) == ["b1.example.org", "b2.example.org"]
    cluster.nodes["id-3"]["jvm"]["start_time_in_millis"] = 3000  # b1 restarted
    assert batch(clusters_of(cluster), since, size=1) == ["b2.example.org"]
    cluster.nodes["id-4"]["jvm"]["start_time_in_millis"] = 3000
    assert batch(clusters_of(cluster), since, size=2) == ["a1.example.org", "a2.example.org"]


def test_master_capable_hosts_go_last():
    since = datetime.fromtimestamp(2, UTC)
    alpha = FakeCluster(node("m1", row="A", master=True), node("d1", row="B"))
    beta = FakeCluster(node("m2", "beta", row="A"), node("d1", "beta", row="B", master=True))

    assert batch(clusters_of(alpha, beta), since, size=4) == ["m2.example.org"]
    beta.nodes["id-0"]["jvm"]["start_time_in_millis"] = 3000
    assert batch(clusters_of(alpha, beta), since, size=4) == ["m1.example.org"]  # only masters left: row A first


def test_reboot_batches_use_the_boot_times():
    since = datetime.now(UTC) - timedelta(minutes=10)
    cluster = FakeCluster(node("h1", start_ms=NOW_MS), node("h2", start_ms=1000))
    remote = FakeRemote({"h1.example.org": 86400.0, "h2.example.org": 60.0})

    clusters = clusters_of(cluster, remote=remote)

    assert batch(clusters, since, size=2, operation=ec.OperationType.REBOOT) == ["h1.example.org"]
    assert remote.queries == ["h1.example.org,h2.example.org", "h1.example.org"]


def test_reboot_without_uptime_of_a_host_is_an_error():
    remote = FakeRemote({"h1.example.org": 10.0})
    clusters = clusters_of(FakeCluster(node("h1"), node("h2")), remote=remote)

    with pytest.raises(ec.ElasticsearchClusterError, match=r"Unable to get the uptime of \['h2.example.org'\]"):
        clusters.get_next_clusters_nodes(datetime.now(UTC), 1, ec.OperationType.REBOOT)


def test_everything_restarted_is_none_and_bad_size_is_an_error(caplog):
    clusters = clusters_of(FakeCluster(node("h1", start_ms=5000)))

    with caplog.at_level(logging.INFO):
        assert clusters.get_next_clusters_nodes(datetime.fromtimestamp(1, UTC)) is None
    assert "Nodes to process for restart (started_before=1970-01-01 00:00:01+00:00): []" in caplog.messages
    with pytest.raises(ec.ElasticsearchClusterError, match="Size of next nodes must be at least 1"):
        clusters.get_next_clusters_nodes(datetime.fromtimestamp(1, UTC), 0)


def test_the_batch_carries_its_nodes_and_dry_run():
    clusters = clusters_of(FakeCluster(node("h1")), dry_run=True)

    hosts = clusters.get_next_clusters_nodes(datetime.now(UTC))

    assert isinstance(hosts, ec.ElasticsearchHosts)
    assert hosts._dry_run is True
    assert [group.fqdn for group in hosts._nodes] == ["h1.example.org"]


@pytest.mark.parametrize("broken", [{"name": "x"}, {**node("h1"), "jvm": None}, {**node("h1"), "settings": {}}])
def test_malformed_nodes_are_errors(broken):
    if "settings" in broken:
        broken["roles"] = ["master"]

    with pytest.raises(ec.ElasticsearchClusterError, match=r"Node 'x' has no attribute|no valid jvm|no settings"):
        clusters_of(FakeCluster(broken)).get_next_clusters_nodes(datetime.now(UTC))


# -- hosts actions and waits


def test_hosts_actions_run_on_every_instance():
    remote_hosts = mock.MagicMock()
    hosts = ec.ElasticsearchHosts(remote_hosts, [], dry_run=False)

    hosts.restart_elasticsearch()
    hosts.depool_nodes()

    assert remote_hosts.run_sync.call_args_list == [
        mock.call("cat /etc/elasticsearch/instances | xargs systemctl restart"),
        mock.call("depool"),
    ]


@mock.patch("wmflib.decorators.time.sleep", return_value=None)
def test_wait_for_elasticsearch_up_tries_every_five_seconds(mocked_sleep):
    group = mock.Mock(spec_set=ec.NodesGroup)
    group.check_all_nodes_up.side_effect = ec.ElasticsearchClusterError("unreachable")
    hosts = ec.ElasticsearchHosts(mock.MagicMock(), [group], dry_run=False)

    with pytest.raises(ec.ElasticsearchClusterError):
        hosts.wait_for_elasticsearch_up(timedelta(seconds=30))

    assert group.check_all_nodes_up.call_count == 6
    assert {call.args for call in mocked_sleep.call_args_list} == {(5.0,)}


@mock.patch("wmflib.decorators.time.sleep", return_value=None)
def test_wait_for_green_retries_until_all_green(mocked_sleep):
    first, second = mock.Mock(), mock.Mock()
    second.check_green.side_effect = [ec.ElasticsearchClusterCheckError("yellow"), None]
    clusters = clusters_of(first, second)

    clusters.wait_for_green(timedelta(minutes=1))

    assert first.check_green.call_count == 2
    assert mocked_sleep.call_count == 1


# -- write queues


def series(value, partition="0"):
    return {"metric": {"topic": "eqiad.cirrusSearchElasticaWrite", "partition": partition}, "value": [1.5, value]}


def test_write_queue_query_per_datacenter():
    prometheus = mock.Mock()
    prometheus.query.side_effect = [[], [series("0"), series("0", "1")]]
    clusters = ec.ElasticsearchClusters([], None, prometheus, ["eqiad", "codfw"], dry_run=True)

    clusters.wait_for_all_write_queues_empty()

    assert prometheus.query.call_args_list == [
        mock.call(ec.WRITE_QUEUE_QUERY, "eqiad"),
        mock.call(ec.WRITE_QUEUE_QUERY, "codfw"),
    ]


@pytest.mark.parametrize(
    ("results", "error", "message"),
    [
        ([series("7", "3")], ec.ElasticsearchClusterCheckError, r"had value of 7\) for partition 3 of topic eqiad\."),
        ([series("NaN")], None, None),
        ([{"metric": {}, "value": [1, "0"]}], ec.ElasticsearchClusterError, "Unexpected result of the write queue"),
        ([series("many")], ec.ElasticsearchClusterError, "Unexpected result of the write queue"),
        ([], ec.ElasticsearchClusterError, r"returned empty response for all dcs in \['eqiad'\], is query correct\?"),
    ],
)
def test_write_queue_results(results, error, message):
    prometheus = mock.Mock()
    prometheus.query.return_value = results
    clusters = clusters_of(prometheus=prometheus, dry_run=True)

    if error is None:
        clusters.wait_for_all_write_queues_empty()
    else:
        with pytest.raises(error, match=message):
            clusters.wait_for_all_write_queues_empty()
    assert prometheus.query.call_count == 1


def test_unreachable_prometheus_is_an_error():
    prometheus = mock.Mock()
    prometheus.query.side_effect = requests.exceptions.ConnectionError("refused")

    with pytest.raises(ec.ElasticsearchClusterError, match="Unable to query the Prometheus of eqiad: refused"):
        clusters_of(prometheus=prometheus).wait_for_all_write_queues_empty()
