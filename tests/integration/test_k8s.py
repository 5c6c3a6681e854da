"""spicerack.k8s with the real kubernetes client against the fake API server of ``servers/kubernetes.py``."""

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client.models import V1Taint  # type: ignore[import-untyped]

from spicerack import Spicerack
from spicerack.k8s import (
    Kubernetes,
    KubernetesApiError,
    KubernetesApiFactory,
    KubernetesApiTooManyRequests,
    KubernetesCheckError,
    KubernetesError,
    KubernetesNode,
    KubernetesNotFoundError,
)
from tests.integration.servers.kubernetes import CLUSTER, FakeKubernetes, write_kubeconfig

pytestmark = pytest.mark.integration

NODE = "kubernetes1001.eqiad.wmnet"
NODE_PATH = f"/api/v1/nodes/{NODE}"


@pytest.fixture
def api(kubernetes_api: FakeKubernetes, monkeypatch: pytest.MonkeyPatch) -> FakeKubernetes:
    """The fake API server, whose kubeconfig files are the ones the module reads, with one schedulable node."""
    monkeypatch.setattr(KubernetesApiFactory, "CONFIG_BASE", str(kubernetes_api.config_dir))
    kubernetes_api.add_node(NODE)
    return kubernetes_api


@pytest.fixture
def kube(api: FakeKubernetes) -> Kubernetes:
    """A client of the cluster, not in DRY-RUN mode."""
    return Kubernetes("main", CLUSTER, dry_run=False)


@pytest.fixture
def kube_dry_run(api: FakeKubernetes) -> Kubernetes:
    """A client of the cluster in DRY-RUN mode."""
    return Kubernetes("main", CLUSTER, dry_run=True)


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Skip the waits between the retries (up to 45 s for an eviction), recording them."""
    slept: list[float] = []
    monkeypatch.setattr("wmflib.decorators.time.sleep", slept.append)
    yield slept


def _add_pods(api: FakeKubernetes) -> None:
    """Put on the node two replicaset pods, a daemonset, a mirror and a finished pod; one pod elsewhere."""
    api.add_pod("web", "web-1", NODE)
    api.add_pod("web", "web-2", NODE)
    api.add_pod("kube-system", "calico-node-x", NODE, owner="DaemonSet")
    api.add_pod("kube-system", "static-x", NODE, annotations={"kubernetes.io/config.mirror": "abc"})
    api.add_pod("jobs", "job-1", NODE, owner="Job", phase="Succeeded")
    api.add_pod("web", "web-3", "kubernetes1002.eqiad.wmnet")


class TestNodes:
    """Reading, cordoning and uncordoning nodes."""

    def test_get_node(self, api: FakeKubernetes, kube: Kubernetes) -> None:
        """The node is looked up by name with a field selector, as the admin user."""
        api.add_node(
            "kubernetes1002.eqiad.wmnet",
            unschedulable=True,
            taints=[{"key": "dedicated", "value": "kask", "effect": "NoExecute"}],
        )
        node = kube.get_node(NODE)
        other = kube.get_node("kubernetes1002.eqiad.wmnet")

        assert (node.name, str(node), node.is_schedulable(), node.taints) == (NODE, f"Node({NODE})", True, [])
        assert other.is_schedulable() is False
        assert other.taints == [V1Taint(effect="NoExecute", key="dedicated", value="kask")]
        request = api.requests_to("GET", "/api/v1/nodes")[0]
        assert (request.query, request.user) == ({"fieldSelector": [f"metadata.name={NODE}"]}, "admin")

    def test_get_missing_node(self, kube: Kubernetes) -> None:
        """A node the API does not know raises an error that is a KubernetesError and a KubernetesApiError."""
        with pytest.raises(KubernetesNotFoundError, match=r"Node missing\.eqiad\.wmnet not found") as error:
            kube.get_node("missing.eqiad.wmnet")
        assert isinstance(error.value, KubernetesError)
        assert isinstance(error.value, KubernetesApiError)  # as the production cookbooks catch a node not joined yet

    def test_several_nodes_with_the_name(self, api: FakeKubernetes, kube: Kubernetes) -> None:
        """An API answering more than one node for the name raises KubernetesError."""
        body = json.dumps({"kind": "NodeList", "items": [api.nodes[NODE], api.nodes[NODE]]}).encode()
        api.fault("GET", "/api/v1/nodes", body=body)
        with pytest.raises(KubernetesError, match=f"More than one node found for name {NODE}: {NODE},{NODE}"):
            kube.get_node(NODE)

    def test_cordon_and_uncordon(self, api: FakeKubernetes, kube: Kubernetes) -> None:
        """Cordoning and uncordoning patch the node on the server, each only once."""
        node = kube.get_node(NODE)
        node.cordon()
        assert api.nodes[NODE]["spec"]["unschedulable"] is True
        assert node.is_schedulable() is False
        node.cordon()  # already cordoned: no second patch

        node.uncordon()
        assert "unschedulable" not in api.nodes[NODE]["spec"]
        assert node.is_schedulable() is True
        node.uncordon()

        patches = api.requests_to("PATCH", NODE_PATH)
        assert [p.body for p in patches] == [{"spec": {"unschedulable": True}}, {"spec": {"unschedulable": False}}]

    def test_cordon_dry_run(
        self, api: FakeKubernetes, kube_dry_run: Kubernetes, caplog: pytest.LogCaptureFixture
    ) -> None:
        """In DRY-RUN mode the node is only read, the cordon is logged."""
        with caplog.at_level(logging.INFO):
            kube_dry_run.get_node(NODE).cordon()

        assert api.requests_to("PATCH", NODE_PATH) == []
        assert "unschedulable" not in api.nodes[NODE]["spec"]
        assert f"Would have cordoned {NODE}" in caplog.text

    def test_cordon_not_applied(self, api: FakeKubernetes, kube: Kubernetes) -> None:
        """If the API answers the patch with a node still schedulable, KubernetesCheckError is raised."""
        node = kube.get_node(NODE)
        api.fault("PATCH", NODE_PATH, body=b'{"kind": "Node", "metadata": {"name": "%s"}, "spec": {}}' % NODE.encode())
        with pytest.raises(KubernetesCheckError, match=r"is not unschedulable after trying to cordon it"):
            node.cordon()

    def test_refresh(self, api: FakeKubernetes, kube: Kubernetes) -> None:
        """Refreshing reads the node's new state, and fails once the node is gone."""
        node = kube.get_node(NODE)
        api.nodes[NODE]["spec"]["unschedulable"] = True
        node.refresh()
        assert node.is_schedulable() is False

        del api.nodes[NODE]
        with pytest.raises(KubernetesError, match=r"not found"):
            node.refresh()


class TestPods:
    """Reading and evicting pods."""

    def test_get_pods(self, api: FakeKubernetes, kube: Kubernetes) -> None:
        """The pods of a node are listed with a field selector, each with its state."""
        _add_pods(api)
        pods = {str(pod): pod for pod in kube.get_node(NODE).get_pods()}

        assert sorted(pods) == [
            "Pod(jobs/job-1)",
            "Pod(kube-system/calico-node-x)",
            "Pod(kube-system/static-x)",
            "Pod(web/web-1)",
            "Pod(web/web-2)",
        ]
        assert pods["Pod(kube-system/calico-node-x)"].is_daemonset() is True
        assert pods["Pod(kube-system/static-x)"].is_mirror() is True
        assert pods["Pod(jobs/job-1)"].is_terminated() is True
        evictable = sorted(name for name, pod in pods.items() if pod.is_evictable())
        assert evictable == ["Pod(jobs/job-1)", "Pod(web/web-1)", "Pod(web/web-2)"]
        request = api.requests_to("GET", "/api/v1/pods")[0]
        assert request.query == {"fieldSelector": [f"spec.nodeName={NODE}"]}

    def test_get_pod_as_namespace_user(self, api: FakeKubernetes, kube: Kubernetes) -> None:
        """A pod is read with the read-only user named as its namespace."""
        api.add_pod("web", "web-1", NODE)
        pod = kube.get_pod("web", "web-1")

        assert pod.controller is not None
        assert (pod.namespace, pod.name, pod.controller.kind, pod.spec.node_name) == (
            "web",
            "web-1",
            "ReplicaSet",
            NODE,
        )
        assert [r.user for r in api.requests_to("GET", "/api/v1/namespaces/web/pods/web-1")] == ["web"]

    def test_get_missing_pod(self, kube: Kubernetes) -> None:
        """A pod the API does not know (HTTP 404) raises KubernetesApiError."""
        with pytest.raises(KubernetesApiError, match=r"Error from the kubernetes api: .*404"):
            kube.get_pod("web", "missing")

    def test_get_pod_without_kubeconfig(self, kube: Kubernetes) -> None:
        """A namespace without a kubeconfig file for its user raises KubernetesError."""
        with pytest.raises(KubernetesError, match=r"Invalid kube-config file"):
            kube.get_pod("nokubeconfig", "pod")

    def test_evict_refused_once(self, api: FakeKubernetes, kube: Kubernetes, no_retry_sleep: list[float]) -> None:
        """An eviction refused by a disruption budget (HTTP 429) is retried until accepted."""
        api.add_pod("web", "web-1", NODE)
        api.refuse_evictions("web", "web-1", times=1)
        kube.get_pod("web", "web-1").evict()

        posts = api.requests_to("POST", "/api/v1/namespaces/web/pods/web-1/eviction")
        assert [(p.user, p.body["metadata"]) for p in posts] == [("admin", {"name": "web-1", "namespace": "web"})] * 2
        assert api.pods_on(NODE) == []
        assert no_retry_sleep == [3.0]

    def test_evict_always_refused(self, api: FakeKubernetes, kube: Kubernetes, no_retry_sleep: list[float]) -> None:
        """An eviction refused at every try raises KubernetesApiTooManyRequests after 5 tries."""
        api.add_pod("web", "web-1", NODE)
        api.refuse_evictions("web", "web-1")
        with pytest.raises(KubernetesApiTooManyRequests, match=r"429"):
            kube.get_pod("web", "web-1").evict()

        assert len(api.requests_to("POST", "/api/v1/namespaces/web/pods/web-1/eviction")) == 5
        assert api.pods_on(NODE) == ["web/web-1"]

    def test_evict_unevictable(self, api: FakeKubernetes, kube: Kubernetes) -> None:
        """A daemonset pod is not evicted: KubernetesError, nothing posted."""
        api.add_pod("kube-system", "calico-node-x", NODE, owner="DaemonSet")
        pod = kube.get_node(NODE).get_pods()[0]
        with pytest.raises(KubernetesError, match=r"is not evictable"):
            pod.evict()

        assert api.requests_to("POST", "/api/v1/namespaces/kube-system/pods/calico-node-x/eviction") == []


class TestDrain:
    """Draining nodes."""

    def test_drain(self, api: FakeKubernetes, kube: Kubernetes) -> None:
        """The node is cordoned and its evictable pods evicted; the unevictable ones stay."""
        _add_pods(api)
        kube.get_node(NODE).drain()

        assert api.nodes[NODE]["spec"]["unschedulable"] is True
        assert api.pods_on(NODE) == ["kube-system/calico-node-x", "kube-system/static-x"]
        evicted = sorted(r.path for r in api.requests if r.method == "POST")
        assert evicted == [
            "/api/v1/namespaces/jobs/pods/job-1/eviction",
            "/api/v1/namespaces/web/pods/web-1/eviction",
            "/api/v1/namespaces/web/pods/web-2/eviction",
        ]
        assert api.pods_on("kubernetes1002.eqiad.wmnet") == ["web/web-3"]

    def test_drain_dry_run(
        self, api: FakeKubernetes, kube_dry_run: Kubernetes, caplog: pytest.LogCaptureFixture
    ) -> None:
        """In DRY-RUN mode nothing is patched nor evicted, every step is logged."""
        _add_pods(api)
        with caplog.at_level(logging.INFO):
            kube_dry_run.get_node(NODE).drain()

        assert {r.method for r in api.requests} == {"GET"}
        assert len(api.pods_on(NODE)) == 5
        assert "Would have evicted Pod(web/web-1)" in caplog.text
        assert f"Would have waited for node {NODE} to be empty" in caplog.text

    def test_drain_eviction_failed(
        self, api: FakeKubernetes, kube: Kubernetes, no_retry_sleep: list[float], caplog: pytest.LogCaptureFixture
    ) -> None:
        """A pod whose eviction keeps being refused makes the drain fail, after the other pods are evicted."""
        _add_pods(api)
        api.refuse_evictions("web", "web-2")
        with pytest.raises(KubernetesCheckError, match=f"Could not evict all pods from node Node\\({NODE}\\)"):
            kube.get_node(NODE).drain()

        assert "web/web-1" not in api.pods_on(NODE)
        assert "web/web-2" in api.pods_on(NODE)
        assert f"Failed to evict pod Pod(web/web-2) from node Node({NODE})" in caplog.text
        assert len(no_retry_sleep) == 4

    def test_drain_list_pods_fails(self, api: FakeKubernetes, kube: Kubernetes) -> None:
        """An error listing the pods raises KubernetesApiError, after the cordon."""
        api.fault("GET", "/api/v1/pods", status=500, body=b'{"kind": "Status", "code": 500, "message": "etcd down"}')
        with pytest.raises(KubernetesApiError, match=f"Failed to find pods running on node {NODE}: .*500"):
            kube.get_node(NODE).drain()
        assert api.nodes[NODE]["spec"]["unschedulable"] is True


class TestFaults:
    """Failing, slow, malformed or unreachable servers and bad configuration: one clear error each."""

    def test_server_error(self, api: FakeKubernetes, kube: Kubernetes) -> None:
        """An HTTP 500 answer raises KubernetesApiError."""
        api.fault("GET", "/api/v1/nodes", status=500, body=b'{"kind": "Status", "code": 500}')
        with pytest.raises(KubernetesApiError, match=r"Failed to list nodes: .*500"):
            kube.get_node(NODE)

    def test_patch_error(self, api: FakeKubernetes, kube: Kubernetes) -> None:
        """An error answer to the patch raises KubernetesApiError and leaves the node as it was."""
        node = kube.get_node(NODE)
        api.fault("PATCH", NODE_PATH, status=422, body=b'{"kind": "Status", "code": 422}')
        with pytest.raises(KubernetesApiError, match=r"Failed to modify node: .*422"):
            node.cordon()
        assert node.is_schedulable() is True

    def test_unauthorized(self, api: FakeKubernetes, kube: Kubernetes) -> None:
        """A kubeconfig with a token the server rejects raises KubernetesApiError (401)."""
        write_kubeconfig(api.config_dir / f"admin-{CLUSTER}.config", api.url, CLUSTER, "nobody")
        try:
            with pytest.raises(KubernetesApiError, match=r"401"):
                Kubernetes("main", CLUSTER, dry_run=False).get_node(NODE)
        finally:
            write_kubeconfig(api.config_dir / f"admin-{CLUSTER}.config", api.url, CLUSTER, "admin")

    def test_slow_server(self, api: FakeKubernetes, kube: Kubernetes, monkeypatch: pytest.MonkeyPatch) -> None:
        """An answer slower than the request timeout raises KubernetesApiError instead of hanging."""
        monkeypatch.setattr(KubernetesApiFactory, "request_timeout", 0.5)
        api.fault("GET", "/api/v1/nodes", delay=30)
        with pytest.raises(KubernetesApiError, match=r"Failed to list nodes: .*[Tt]imed? ?out"):
            kube.get_node(NODE)

    @pytest.mark.parametrize("body", [b"<html>not json</html>", b'{"kind": "NodeList", "items": "nodes"}'])
    def test_malformed_answer(self, api: FakeKubernetes, kube: Kubernetes, body: bytes) -> None:
        """An answer that is not a node list raises KubernetesApiError."""
        api.fault("GET", "/api/v1/nodes", body=body)
        with pytest.raises(KubernetesApiError, match=r"Failed to list nodes"):
            kube.get_node(NODE)

    def test_unreachable_server(self, api: FakeKubernetes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A server that refuses connections raises KubernetesApiError."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        write_kubeconfig(tmp_path / "admin-down.config", f"http://127.0.0.1:{port}", "down", "admin")
        monkeypatch.setattr(KubernetesApiFactory, "CONFIG_BASE", str(tmp_path))
        with pytest.raises(KubernetesApiError, match=r"Failed to list nodes: .*(Connection refused|Max retries)"):
            Kubernetes("main", "down").get_node(NODE)

    def test_missing_kubeconfig(self, api: FakeKubernetes) -> None:
        """A cluster without a kubeconfig file raises KubernetesError naming the file."""
        with pytest.raises(KubernetesError, match=r"Unable to load the kubeconfig file .*/admin-nocluster\.config"):
            Kubernetes("main", "nocluster").get_node(NODE)

    @pytest.mark.parametrize("content", ["clusters: [unclosed", "just a string", "users: 42\ncontexts: []\n"])
    def test_invalid_kubeconfig(
        self, api: FakeKubernetes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str
    ) -> None:
        """A kubeconfig file that is not valid YAML or not a kubeconfig raises KubernetesError."""
        (tmp_path / "admin-broken.config").write_text(content, encoding="utf-8")
        monkeypatch.setattr(KubernetesApiFactory, "CONFIG_BASE", str(tmp_path))
        with pytest.raises(KubernetesError):
            Kubernetes("main", "broken").get_node(NODE)

    def test_invalid_user(self, kube: Kubernetes) -> None:
        """A user with path separators is refused before any file is read."""
        with pytest.raises(KubernetesError, match=r"User '\.\./admin' is not valid"):
            kube.api.configuration("../admin")


class TestAccessor:
    """The Spicerack accessor and the batch API."""

    def test_kubernetes_accessor(self, api: FakeKubernetes, tmp_path: Path) -> None:
        """The accessor gives a client of the cluster with Spicerack's DRY-RUN mode."""
        kube = Spicerack(dry_run=False, spicerack_config_dir=str(tmp_path)).kubernetes("main", CLUSTER)
        node = kube.get_node(NODE)
        node.cordon()

        assert (kube.group, kube.api.cluster, kube.dry_run) == ("main", CLUSTER, False)
        assert isinstance(node, KubernetesNode)
        assert api.nodes[NODE]["spec"]["unschedulable"] is True
        assert Spicerack(spicerack_config_dir=str(tmp_path)).kubernetes("main", CLUSTER).dry_run is True

    def test_batch_api(self, api: FakeKubernetes, kube: Kubernetes) -> None:
        """The batch API client, as cookbooks use it, talks to the cluster as admin."""
        jobs = kube.api.batch().list_namespaced_job("jobs")

        assert jobs.items == []
        assert [r.user for r in api.requests_to("GET", "/apis/batch/v1/namespaces/jobs/jobs")] == ["admin"]
