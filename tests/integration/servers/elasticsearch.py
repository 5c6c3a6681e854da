"""A stand-in Elasticsearch cluster over HTTP on loopback, and a real Prometheus scraping CirrusSearch write queues.

No Elasticsearch server installs here, so :py:class:`FakeElasticsearch` keeps a small cluster state (health, shard
counts, persistent settings, documents, shards, index blocks, nodes) and answers the REST endpoints
``spicerack.elasticsearch_cluster`` calls the way Elasticsearch does: ``_cluster/health`` holds the request up to its
``timeout`` parameter and answers HTTP 408 when the awaited status is not reached, query string booleans must be
``true``/``false``, ``_cluster/reroute`` wants its ``commands`` as an array, errors come as
``{"error": {...}, "status": N}``. Faults (error statuses, delays, non-JSON bodies) can be injected per request.

:py:class:`BurrowExporter` serves ``kafka_burrow_partition_lag`` series as Burrow's exporter does; the
``write_queue_prometheus`` fixture is a real Prometheus scraping it every second, reached through wmflib's production
URLs by using it as the HTTP proxy (see ``tests/integration/servers/prometheus.py``).
"""

import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.servers._base import StandInHandler, ThreadedHTTPServer, serve
from tests.integration.servers.prometheus import ROUTE_PREFIX, PrometheusServer, run_prometheus

__all__ = [
    "BurrowExporter",
    "ESRequest",
    "FakeElasticsearch",
    "burrow_exporter",
    "elasticsearch_pair",
    "es_node",
    "query_prometheus",
    "write_queue_prometheus",
]

HEALTH_ORDER = {"red": 0, "yellow": 1, "green": 2}
WRITE_QUEUE_GROUP = "cpjobqueue-cirrusSearchElasticaWrite"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class ESRequest:
    """A request as the fake cluster received it."""

    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Fault:
    """How to answer the next ``times`` requests of a method and path instead of the normal answer."""

    status: int = 500
    body: Any = None
    raw: bytes | None = None
    delay: float = 0.0
    times: int | None = None


def es_node(hostname: str, cluster: str, row: str, start_ms: int, *, master: bool = False) -> dict[str, Any]:
    """One node as the ``_nodes`` API describes it, with the attributes the production nodes have."""
    return {
        "name": f"{hostname}-{cluster}",
        "roles": ["master", "data"] if master else ["data"],
        "attributes": {"hostname": hostname, "fqdn": hostname, "row": row},
        "settings": {"cluster": {"name": cluster}},
        "jvm": {"start_time_in_millis": start_ms},
    }


def _error(status: int, error_type: str, reason: str) -> tuple[int, Any]:
    return status, {
        "error": {"root_cause": [{"type": error_type, "reason": reason}], "type": error_type, "reason": reason},
        "status": status,
    }


class _Server(ThreadedHTTPServer):
    """A threaded HTTP server on 127.0.0.1 whose answers come from ``answer(method, path, query, body)``."""

    def __init__(self) -> None:
        super().__init__(_handler(self), type(self).__name__)

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, Any, str]:
        """Return the status, the body (JSON-encodable, or bytes sent as they are) and the content type."""
        raise NotImplementedError


def _handler(server: _Server) -> type[StandInHandler]:
    class Handler(StandInHandler):
        def _handle(self) -> None:
            body = self.read_body()
            parsed = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
            status, payload, content_type = server.answer(self.command, parsed.path, query, body)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_answer(status, data, content_type)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815

    return Handler


class FakeElasticsearch(_Server):
    """One stand-in Elasticsearch cluster; tests set its state through the public attributes."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._lock = threading.RLock()
        self.nodes_provider: Callable[[], dict[str, dict[str, Any]]] | None = None
        self.reset()

    def reset(self) -> None:
        """Back to a green cluster with no nodes, documents, shards, settings, faults or recorded requests.

        Delayed answers are not released (only :py:meth:`stop` does): the base class' reset is not called.
        """
        with self._lock:
            self.status = "green"
            self.initializing_shards = 0
            self.relocating_shards = 0
            self.persistent: dict[str, Any] = {}
            self.documents: dict[tuple[str, str], dict[str, Any]] = {}
            self.shards: list[dict[str, Any]] = []
            self.refusing_nodes: set[str] = set()
            self.blocks: dict[str, bool] = {}
            self.nodes: dict[str, dict[str, Any]] = {}
            self.nodes_provider = None
            self.faults: dict[tuple[str, str], Fault] = {}
            self.requests: list[ESRequest] = []

    def fail(self, method: str, path: str, status: int = 500, **kwargs: Any) -> None:
        """Answer ``method path`` with a fault (see :py:class:`Fault`) instead of the normal answer."""
        with self._lock:
            self.faults[(method, path)] = Fault(status, **kwargs)

    def requests_to(self, method: str, path: str) -> list[ESRequest]:
        """The recorded requests with that method and path."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def writes(self) -> list[ESRequest]:
        """The recorded requests that may change something (all but GET and HEAD)."""
        with self._lock:
            return [r for r in self.requests if r.method not in ("GET", "HEAD")]

    def current_nodes(self) -> dict[str, dict[str, Any]]:
        """The nodes the cluster has now."""
        return self.nodes_provider() if self.nodes_provider else self.nodes

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, Any, str]:
        decoded = json.loads(body) if body else None
        with self._lock:
            self.requests.append(ESRequest(method, path, query, decoded))
            fault = self._take_fault(method, path)
        if fault is not None:
            if fault.delay:
                self._release.wait(fault.delay)
            if fault.raw is not None:
                return fault.status, fault.raw, "text/plain"
            return fault.status, fault.body, "application/json"
        status, payload = self._route(method, path, query, decoded)
        return status, payload, "application/json"

    def _take_fault(self, method: str, path: str) -> Fault | None:
        fault = self.faults.get((method, path))
        if fault is None:
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                del self.faults[(method, path)]
        return fault

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        for name in ("wait_for_no_initializing_shards", "wait_for_no_relocating_shards", "retry_failed"):
            if name in query and query[name] not in ("true", "false", ""):
                return _error(
                    400,
                    "illegal_argument_exception",
                    f"Failed to parse value [{query[name]}] as only [true] or [false] are allowed.",
                )
        parts = [part for part in path.split("/") if part]
        if method == "GET" and parts == ["_cluster", "health"]:
            return self._health(query)
        if parts == ["_cluster", "settings"] and method in ("GET", "PUT"):
            return self._settings(method, body)
        if method == "GET" and parts == ["_nodes"]:
            nodes = self.current_nodes()
            return 200, {"_nodes": {"total": len(nodes)}, "cluster_name": self.name, "nodes": nodes}
        if method == "POST" and parts[:1] == ["_flush"] and len(parts) <= 2:
            return 200, {"_shards": {"total": 2, "successful": 2, "failed": 0}}
        if method == "GET" and parts == ["_cat", "shards"]:
            return self._cat_shards(query)
        if method == "POST" and parts == ["_cluster", "reroute"]:
            return self._reroute(body)
        if method == "PUT" and parts == ["_all", "_settings"]:
            return self._index_settings(body)
        if len(parts) == 3 and parts[1] == "_doc" and method in ("GET", "PUT", "DELETE"):
            return self._document(method, parts[0], parts[2], body)
        return _error(400, "illegal_argument_exception", f"no handler found for uri [{path}] and method [{method}]")

    def _health_state(self) -> dict[str, Any]:
        return {
            "cluster_name": self.name,
            "status": self.status,
            "timed_out": False,
            "number_of_nodes": len(self.current_nodes()),
            "initializing_shards": self.initializing_shards,
            "relocating_shards": self.relocating_shards,
        }

    def _health_reached(self, query: dict[str, str]) -> bool:
        wanted = query.get("wait_for_status")
        if wanted and HEALTH_ORDER[self.status] < HEALTH_ORDER[wanted]:
            return False
        if query.get("wait_for_no_initializing_shards") == "true" and self.initializing_shards:
            return False
        return not (query.get("wait_for_no_relocating_shards") == "true" and self.relocating_shards)

    def _health(self, query: dict[str, str]) -> tuple[int, Any]:
        wait = float(query.get("timeout", "30s").rstrip("s"))
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                if self._health_reached(query):
                    return 200, self._health_state()
            if time.monotonic() >= deadline or self._release.is_set():
                break
            time.sleep(0.05)
        with self._lock:
            return 408, {**self._health_state(), "timed_out": True}

    def _settings(self, method: str, body: Any) -> tuple[int, Any]:
        with self._lock:
            if method == "PUT":
                if not isinstance(body, dict) or not isinstance(body.get("persistent"), dict):
                    return _error(400, "action_request_validation_exception", "no settings to update")
                self.persistent.update(body["persistent"])
                return 200, {"acknowledged": True, "persistent": body["persistent"], "transient": {}}
            return 200, {"persistent": dict(self.persistent), "transient": {}}

    def _cat_shards(self, query: dict[str, str]) -> tuple[int, Any]:
        columns = query.get("h", "index,shard,prirep,state,node").split(",")
        if query.get("format") != "json":
            return 200, "\n".join(" ".join(str(s.get(c, "")) for c in columns) for s in self.shards).encode()
        with self._lock:
            return 200, [{column: _cat_value(shard.get(column)) for column in columns} for shard in self.shards]

    def _reroute(self, body: Any) -> tuple[int, Any]:
        commands = body.get("commands") if isinstance(body, dict) else None
        if not isinstance(commands, list):
            token = "START_OBJECT" if isinstance(commands, dict) else "VALUE"
            return _error(
                400, "parse_exception", f"expected either field name [commands], or start array, got [{token}] instead"
            )
        with self._lock:
            node_names = {node["name"] for node in self.current_nodes().values()}
            for command in commands:
                allocation = command.get("allocate_replica") if isinstance(command, dict) else None
                if not isinstance(allocation, dict):
                    return _error(400, "parse_exception", f"unknown allocation command {command!r}")
                shard = self._find_shard(allocation.get("index"), allocation.get("shard"))
                node = allocation.get("node")
                if shard is None or shard["state"] != "UNASSIGNED":
                    return _error(
                        400, "illegal_argument_exception", f"[allocate_replica] no unassigned shard {allocation}"
                    )
                if node not in node_names or node in self.refusing_nodes:
                    return _error(
                        400,
                        "illegal_argument_exception",
                        f"[allocate_replica] allocation of {allocation} is not allowed",
                    )
                shard.update(state="INITIALIZING", node=node)
            return 200, {"acknowledged": True}

    def _find_shard(self, index: Any, number: Any) -> dict[str, Any] | None:
        return next((s for s in self.shards if s["index"] == index and str(s["shard"]) == str(number)), None)

    def _index_settings(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not body:
            return _error(400, "action_request_validation_exception", "no settings to update")
        with self._lock:
            for name, value in body.items():
                block = name.removeprefix("index.blocks.")
                if value is None:
                    self.blocks.pop(block, None)
                else:
                    self.blocks[block] = bool(value)
            return 200, {"acknowledged": True}

    def _document(self, method: str, index: str, doc_id: str, body: Any) -> tuple[int, Any]:
        key = (index, doc_id)
        with self._lock:
            found = key in self.documents
            if method == "PUT":
                self.documents[key] = body
                return (200 if found else 201), {
                    "_index": index,
                    "_id": doc_id,
                    "result": "updated" if found else "created",
                }
            if not found:
                return 404, {"_index": index, "_id": doc_id, "result": "not_found"}
            if method == "DELETE":
                del self.documents[key]
                return 200, {"_index": index, "_id": doc_id, "result": "deleted"}
            return 200, {"_index": index, "_id": doc_id, "found": True, "_source": self.documents[key]}


def _cat_value(value: Any) -> Any:
    """The ``_cat`` APIs answer every value as a string (or null)."""
    return None if value is None else str(value)


class BurrowExporter(_Server):
    """Serves ``kafka_burrow_partition_lag`` series for Prometheus to scrape: set ``lags`` to change them."""

    def __init__(self) -> None:
        super().__init__()
        self.lags: dict[tuple[str, str, str], int] = {}
        """(consumer group, topic, partition) -> lag."""

    @property
    def target(self) -> str:
        """The ``host:port`` Prometheus scrapes."""
        return self.url.removeprefix("http://")

    def answer(self, method: str, path: str, query: dict[str, str], body: bytes) -> tuple[int, Any, str]:
        lines = ["# TYPE kafka_burrow_partition_lag gauge"]
        for (group, topic, partition), lag in sorted(dict(self.lags).items()):
            lines.append(f'kafka_burrow_partition_lag{{group="{group}",topic="{topic}",partition="{partition}"}} {lag}')
        return 200, ("\n".join(lines) + "\n").encode(), "text/plain; version=0.0.4"


@pytest.fixture(scope="session")
def elasticsearch_pair() -> Iterator[tuple[FakeElasticsearch, FakeElasticsearch]]:
    """Two stand-in clusters, ``alpha`` and ``beta``, for the session; tests ``reset()`` them before use."""
    clusters = (FakeElasticsearch("alpha"), FakeElasticsearch("beta"))
    for cluster in clusters:
        cluster.start()
    try:
        yield clusters
    finally:
        for cluster in clusters:
            cluster.stop()


@pytest.fixture(scope="session")
def burrow_exporter() -> Iterator[BurrowExporter]:
    """The write queues exporter, with no series; tests set ``lags``."""
    yield from serve(BurrowExporter())


def _prometheus_config(exporter_target: str) -> str:
    return json.dumps(  # JSON is valid YAML
        {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {"job_name": "burrow", "honor_labels": True, "static_configs": [{"targets": [exporter_target]}]}
            ],
        }
    )


@pytest.fixture(scope="session")
def write_queue_prometheus(
    tmp_path_factory: pytest.TempPathFactory, burrow_exporter: BurrowExporter
) -> Iterator[PrometheusServer]:
    """A real Prometheus scraping the write queues exporter every second, serving the ``ops`` instance's API."""
    yield from run_prometheus(
        tmp_path_factory,
        "prometheus-write-queues",
        lambda _target: _prometheus_config(burrow_exporter.target),
        what="prometheus (write queues)",
        timeout=30,
    )


def query_prometheus(server: PrometheusServer, query: str) -> list[dict[str, Any]]:
    """Run a query directly on the Prometheus, to wait for it to see the exporter's latest values."""
    url = f"{server.proxy_url}{ROUTE_PREFIX}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with _DIRECT.open(url, timeout=5) as response:
        result: list[dict[str, Any]] = json.load(response)["data"]["result"]
        return result
