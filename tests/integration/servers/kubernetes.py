"""A small Kubernetes API server on loopback, answering the endpoints ``spicerack.k8s`` uses, with kubeconfig files.

No real API server installs from the package registries here, so this one keeps nodes and pods in memory and
answers like kube-apiserver's core/v1 API, in its JSON shapes (``NodeList``, ``PodList``, ``Status`` errors):

* ``GET /api/v1/nodes`` with ``fieldSelector=metadata.name=<name>``, ``PATCH /api/v1/nodes/<name>`` (merge patch);
* ``GET /api/v1/pods`` with ``fieldSelector=spec.nodeName=<node>``, ``GET /api/v1/namespaces/<ns>/pods/<name>``;
* ``POST /api/v1/namespaces/<ns>/pods/<name>/eviction``: the pod is removed, unless a disruption budget refuses
  it (HTTP 429, as many times as scripted);
* ``GET /apis/batch/v1/namespaces/<ns>/jobs``: an empty ``JobList``.

Clients authenticate with bearer tokens: ``admin`` may do everything, the read-only user of a namespace (named as
the namespace) may only read the pods of its namespace (else 403, an unknown token gets 401). Faults can be
scripted per request line: an error status, a delay (for client timeouts) or a malformed body. The kubeconfig files
``<user>-<cluster>.config`` of the users are written in a session directory.
"""

import copy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.servers._base import StandInHandler, ThreadedHTTPServer, reset_around, serve

__all__ = ["FakeKubernetes", "KubeRequest", "kubernetes_api", "kubernetes_api_session"]

CLUSTER = "testcluster"
NAMESPACES = ("web", "jobs")


@dataclass(frozen=True)
class KubeRequest:
    """A request as the server received it, with the user its token belongs to."""

    method: str
    path: str
    query: dict[str, list[str]]
    user: str
    body: Any


@dataclass
class _Fault:
    status: int
    body: bytes | None
    delay: float


class FakeKubernetes(ThreadedHTTPServer):
    """The server's state (nodes, pods, refused evictions, faults) and its recorded requests."""

    def __init__(self, config_dir: Path, cluster: str = CLUSTER) -> None:
        """Bind to a free loopback port; :py:meth:`start` serves in a background thread.

        Arguments:
            config_dir: where the kubeconfig files of the users are.
            cluster: the name of the cluster in them.

        """
        self.config_dir = config_dir
        self.cluster = cluster
        self.requests: list[KubeRequest] = []
        self.nodes: dict[str, dict[str, Any]] = {}
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self._refusals: dict[tuple[str, str], int | None] = {}
        self._faults: dict[tuple[str, str], _Fault] = {}
        self._lock = threading.Lock()
        super().__init__(_handler_for(self), "kubernetes-api")

    def reset(self) -> None:
        """Forget all objects, scripts and recorded requests; release any delayed answer."""
        with self._lock:
            super().reset()
            self.requests.clear()
            self.nodes.clear()
            self.pods.clear()
            self._refusals.clear()
            self._faults.clear()

    def add_node(self, name: str, *, unschedulable: bool = False, taints: list[dict[str, str]] | None = None) -> None:
        """Create a node."""
        spec: dict[str, Any] = {"podCIDR": "10.0.0.0/24"}
        if unschedulable:
            spec["unschedulable"] = True
        if taints:
            spec["taints"] = taints
        self.nodes[name] = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "uid": f"uid-{name}", "labels": {"kubernetes.io/hostname": name}},
            "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }

    def add_pod(
        self,
        namespace: str,
        name: str,
        node: str,
        *,
        owner: str | None = "ReplicaSet",
        phase: str = "Running",
        annotations: dict[str, str] | None = None,
        grace: int = 0,
    ) -> None:
        """Create a pod scheduled on a node, owned by a controller of kind ``owner`` (None: orphaned)."""
        metadata: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"}
        if owner is not None:
            metadata["ownerReferences"] = [
                {
                    "apiVersion": "apps/v1",
                    "kind": owner,
                    "name": f"{name}-owner",
                    "uid": "uid-owner",
                    "controller": True,
                }
            ]
        if annotations:
            metadata["annotations"] = annotations
        self.pods[(namespace, name)] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": {
                "nodeName": node,
                "containers": [{"name": "main", "image": "docker-registry.example.org/app:1"}],
                "terminationGracePeriodSeconds": grace,
            },
            "status": {"phase": phase},
        }

    def refuse_evictions(self, namespace: str, name: str, times: int | None = None) -> None:
        """Make a disruption budget refuse the eviction of a pod ``times`` times (None: always)."""
        self._refusals[(namespace, name)] = times

    def fault(
        self, method: str, path: str, *, status: int = 200, body: bytes | None = None, delay: float = 0.0
    ) -> None:
        """Answer ``method path`` (path without query) with ``status`` and the raw ``body``, after ``delay``."""
        self._faults[(method, path)] = _Fault(status, body, delay)

    def requests_to(self, method: str, path: str) -> list[KubeRequest]:
        """Return the recorded requests ``method path``."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def pods_on(self, node: str) -> list[str]:
        """Return the ``namespace/name`` of the pods on a node, as the server holds them."""
        with self._lock:
            return sorted(f"{ns}/{name}" for (ns, name), pod in self.pods.items() if pod["spec"]["nodeName"] == node)

    def handle(self, method: str, raw_path: str, token: str, body: bytes) -> tuple[int, bytes, float, threading.Event]:
        """Answer a request: status, raw JSON body, delay and the event that releases delayed answers."""
        parts = urlsplit(raw_path)
        user = _user_of(token)
        decoded = json.loads(body) if body else None
        with self._lock:
            self.requests.append(KubeRequest(method, parts.path, parse_qs(parts.query), user, decoded))
            fault = self._faults.get((method, parts.path))
            if fault is not None:
                return fault.status, fault.body or b"", fault.delay, self._release
            status, answer = self._route(method, parts.path, parse_qs(parts.query), user, decoded)
        return status, json.dumps(answer).encode(), 0.0, self._release

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], user: str, body: Any
    ) -> tuple[int, dict[str, Any]]:
        segments = path.strip("/").split("/")
        if user == "":
            return _status(401, "Unauthorized", "Unauthorized")
        if user != "admin" and not (
            method == "GET" and segments[:3] == ["api", "v1", "namespaces"] and segments[3:4] == [user]
        ):
            return _status(403, "Forbidden", f'User "{user}" cannot {method.lower()} {path}')
        match method, segments:
            case "GET", ["api", "v1", "nodes"]:
                return 200, self._list_nodes(query)
            case "PATCH", ["api", "v1", "nodes", name]:
                return self._patch_node(name, body)
            case "GET", ["api", "v1", "pods"]:
                return 200, self._list_pods(query)
            case "GET", ["api", "v1", "namespaces", namespace, "pods", name]:
                pod = self.pods.get((namespace, name))
                if pod is None:
                    return _status(404, "NotFound", f'pods "{name}" not found')
                return 200, pod
            case "POST", ["api", "v1", "namespaces", namespace, "pods", name, "eviction"]:
                return self._evict(namespace, name, body)
            case "GET", ["apis", "batch", "v1", "namespaces", _, "jobs"]:
                return 200, {"apiVersion": "batch/v1", "kind": "JobList", "metadata": {}, "items": []}
        return _status(404, "NotFound", "the server could not find the requested resource")

    def _list_nodes(self, query: dict[str, list[str]]) -> dict[str, Any]:
        wanted = _selector(query, "metadata.name")
        items = [copy.deepcopy(n) for name, n in sorted(self.nodes.items()) if wanted in (None, name)]
        return {"apiVersion": "v1", "kind": "NodeList", "metadata": {"resourceVersion": "1"}, "items": items}

    def _patch_node(self, name: str, body: Any) -> tuple[int, dict[str, Any]]:
        node = self.nodes.get(name)
        if node is None:
            return _status(404, "NotFound", f'nodes "{name}" not found')
        if not isinstance(body, dict):
            return _status(400, "BadRequest", "the patch must be a JSON object")
        _merge(node, body)
        if node["spec"].get("unschedulable") is False:
            del node["spec"]["unschedulable"]  # the API server omits false booleans
        return 200, copy.deepcopy(node)

    def _list_pods(self, query: dict[str, list[str]]) -> dict[str, Any]:
        node = _selector(query, "spec.nodeName")
        items = [copy.deepcopy(p) for _, p in sorted(self.pods.items()) if node in (None, p["spec"]["nodeName"])]
        return {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": items}

    def _evict(self, namespace: str, name: str, body: Any) -> tuple[int, dict[str, Any]]:
        if (namespace, name) not in self.pods:
            return _status(404, "NotFound", f'pods "{name}" not found')
        metadata = (body or {}).get("metadata") or {}
        if (metadata.get("name"), metadata.get("namespace")) != (name, namespace):
            return _status(400, "BadRequest", "name and namespace of the eviction do not match the pod")
        if (namespace, name) in self._refusals:
            left = self._refusals[(namespace, name)]
            if left is None or left > 0:
                if left is not None:
                    self._refusals[(namespace, name)] = left - 1
                return _status(
                    429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget."
                )
        del self.pods[(namespace, name)]
        return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def _user_of(token: str) -> str:
    """Return the user a bearer token belongs to, empty if unknown."""
    users = {f"{user}-token": user for user in ("admin", *NAMESPACES)}
    return users.get(token, "")


def _selector(query: dict[str, list[str]], key: str) -> str | None:
    """Return the value a ``fieldSelector`` asks ``key`` to equal."""
    for selector in query.get("fieldSelector", []):
        field_name, _, value = selector.partition("=")
        if field_name == key:
            return value
    return None


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Apply a JSON merge patch in place."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    """Return an error answer as a ``Status`` object."""
    return code, {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _handler_for(state: FakeKubernetes) -> type[StandInHandler]:
    class Handler(StandInHandler):
        def _handle(self) -> None:
            body = self.read_body()
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            try:
                status, payload, delay, release = state.handle(self.command, self.path, token, body)
            except ValueError:  # the request body is not JSON
                status, payload, delay, release = 400, b'{"kind": "Status", "code": 400}', 0.0, threading.Event()
            if delay:
                release.wait(delay)
            self.send_answer(status, payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle  # noqa: N815

    return Handler


def write_kubeconfig(path: Path, server_url: str, cluster: str, user: str) -> None:
    """Write the kubeconfig file of a user: the cluster's server URL and the user's bearer token."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server_url}}],
        "users": [{"name": user, "user": {"token": f"{user}-token"}}],
        "contexts": [{"name": f"{user}@{cluster}", "context": {"cluster": cluster, "user": user}}],
        "current-context": f"{user}@{cluster}",
    }
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is valid YAML


@pytest.fixture(scope="session")
def kubernetes_api_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeKubernetes]:
    """The fake API server for the whole session, with the kubeconfig files of ``admin`` and the namespaces."""
    config_dir = tmp_path_factory.mktemp("kubernetes")
    state = FakeKubernetes(config_dir=config_dir)
    for user in ("admin", *NAMESPACES):
        write_kubeconfig(config_dir / f"{user}-{CLUSTER}.config", state.url, CLUSTER, user)
    yield from serve(state)


@pytest.fixture
def kubernetes_api(kubernetes_api_session: FakeKubernetes) -> Iterator[FakeKubernetes]:
    """The session's fake API server, empty: no node, pod, script nor recorded request."""
    yield from reset_around(kubernetes_api_session)
