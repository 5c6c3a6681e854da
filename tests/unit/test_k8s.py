"""Unit tests of spicerack.k8s: the pod and node logic on real kubernetes model objects, with a stub core API."""

import subprocess
import sys
from http import HTTPStatus
from pathlib import Path
from typing import Any
from unittest import mock

import kubernetes  # type: ignore[import-untyped]
import pytest
from kubernetes.client import (  # type: ignore[import-untyped]
    V1Node,
    V1NodeList,
    V1NodeSpec,
    V1ObjectMeta,
    V1OwnerReference,
    V1Pod,
    V1PodList,
    V1PodSpec,
    V1PodStatus,
    V1Taint,
)

from spicerack import k8s


def make_pod(
    name: str = "web-1",
    *,
    namespace: str = "web",
    owner: str | None = "ReplicaSet",
    phase: str = "Running",
    annotations: dict[str, str] | None = None,
    grace: int | None = 30,
) -> V1Pod:
    """Return a pod API object."""
    owners = None if owner is None else [V1OwnerReference(api_version="apps/v1", kind=owner, name="o", uid="u")]
    metadata = V1ObjectMeta(name=name, namespace=namespace, owner_references=owners, annotations=annotations)
    spec = V1PodSpec(containers=[], termination_grace_period_seconds=grace)
    return V1Pod(metadata=metadata, spec=spec, status=V1PodStatus(phase=phase))


def make_node(name: str = "node1", *, unschedulable: bool | None = None, taints: list[V1Taint] | None = None) -> V1Node:
    """Return a node API object."""
    return V1Node(metadata=V1ObjectMeta(name=name), spec=V1NodeSpec(unschedulable=unschedulable, taints=taints))


@pytest.fixture
def core() -> mock.MagicMock:
    """A stub of the core API client."""
    return mock.MagicMock(spec=kubernetes.client.CoreV1Api)


@pytest.fixture
def api(core: mock.MagicMock) -> mock.MagicMock:
    """A stub API factory giving the stub core API."""
    factory = mock.MagicMock(spec=k8s.KubernetesApiFactory)
    factory.core.return_value = core
    return factory


def pod_of(api: Any, obj: V1Pod, *, dry_run: bool = False) -> k8s.KubernetesPod:
    """Wrap a pod API object."""
    return k8s.KubernetesPod(obj.metadata.namespace, obj.metadata.name, api, dry_run=dry_run, init_obj=obj)


class TestKubernetesPod:
    """Pod states and evictions."""

    @pytest.mark.parametrize(
        ("obj", "evictable"),
        [
            (make_pod(), True),
            (make_pod(owner=None), False),
            (make_pod(owner=None, phase="Succeeded"), True),
            (make_pod(owner=None, phase="Failed"), True),
            (make_pod(owner="DaemonSet"), False),
            (make_pod(annotations={"kubernetes.io/config.mirror": "x"}), False),
            (make_pod(annotations={"other": "x"}), True),
        ],
    )
    def test_is_evictable(self, api: mock.MagicMock, obj: V1Pod, evictable: bool) -> None:
        """The rules of kubectl drain: finished pods always, else not orphaned, daemonset or mirror pods."""
        assert pod_of(api, obj).is_evictable() is evictable

    def test_str_and_attributes(self, api: mock.MagicMock) -> None:
        """The pod has its namespace, name, spec and controller."""
        pod = pod_of(api, make_pod(owner="StatefulSet", grace=5))
        assert (str(pod), pod.namespace, pod.name) == ("Pod(web/web-1)", "web", "web-1")
        assert pod.controller is not None
        assert (pod.controller.kind, pod.spec.termination_grace_period_seconds) == ("StatefulSet", 5)
        assert pod.is_daemonset() is False

    @pytest.mark.parametrize(("name", "namespace"), [("other", "web"), ("web-1", "other")])
    def test_mismatched_init_obj(self, api: mock.MagicMock, name: str, namespace: str) -> None:
        """An API object of another pod is refused."""
        with pytest.raises(k8s.KubernetesError, match="Mismatched"):
            k8s.KubernetesPod(namespace, name, api, init_obj=make_pod())

    def test_fetched_as_namespace_user(self, api: mock.MagicMock, core: mock.MagicMock) -> None:
        """Without an API object the pod is read with the namespace's user."""
        core.read_namespaced_pod.return_value = make_pod()
        pod = k8s.KubernetesPod("web", "web-1", api)
        assert pod.is_evictable() is True
        api.core.assert_called_once_with(user="web")
        core.read_namespaced_pod.assert_called_once_with("web-1", "web")

    def test_evict(self, api: mock.MagicMock, core: mock.MagicMock) -> None:
        """The eviction names the pod."""
        pod_of(api, make_pod()).evict()
        name, namespace, body = core.create_namespaced_pod_eviction.call_args.args
        assert (name, namespace, body.metadata.name, body.metadata.namespace) == ("web-1", "web", "web-1", "web")

    def test_evict_dry_run(self, api: mock.MagicMock, core: mock.MagicMock) -> None:
        """In DRY-RUN mode nothing is posted, but an unevictable pod still raises."""
        pod_of(api, make_pod(), dry_run=True).evict()
        with pytest.raises(k8s.KubernetesError, match="not evictable"):
            pod_of(api, make_pod(owner="DaemonSet"), dry_run=True).evict()
        core.create_namespaced_pod_eviction.assert_not_called()

    @mock.patch("wmflib.decorators.time.sleep")
    def test_evict_retries_429_only(self, sleep: mock.MagicMock, api: mock.MagicMock, core: mock.MagicMock) -> None:
        """HTTP 429 is retried with exponential backoff, another error is raised at once."""
        too_many = kubernetes.client.exceptions.ApiException(status=HTTPStatus.TOO_MANY_REQUESTS, reason="budget")
        core.create_namespaced_pod_eviction.side_effect = [too_many, too_many, None]
        pod_of(api, make_pod()).evict()
        assert [c.args[0] for c in sleep.call_args_list] == [3.0, 9.0]

        core.create_namespaced_pod_eviction.reset_mock()
        core.create_namespaced_pod_eviction.side_effect = kubernetes.client.exceptions.ApiException(status=500)
        with pytest.raises(k8s.KubernetesApiError) as error:
            pod_of(api, make_pod()).evict()
        assert not isinstance(error.value, k8s.KubernetesApiTooManyRequests)
        assert core.create_namespaced_pod_eviction.call_count == 1


class TestKubernetesNode:
    """Node states and draining."""

    def test_properties(self, api: mock.MagicMock) -> None:
        """Name, taints (empty when none) and schedulability."""
        taint = V1Taint(effect="NoSchedule", key="dedicated", value="x")
        node = k8s.KubernetesNode("node1", api, init_obj=make_node(unschedulable=True, taints=[taint]))
        bare = k8s.KubernetesNode("node1", api, init_obj=V1Node(metadata=V1ObjectMeta(name="node1")))
        assert (str(node), node.name, node.taints, node.is_schedulable()) == ("Node(node1)", "node1", [taint], False)
        assert (bare.taints, bare.is_schedulable()) == ([], True)

    def test_mismatched_init_obj(self, api: mock.MagicMock) -> None:
        """An API object of another node is refused."""
        with pytest.raises(k8s.KubernetesError, match="Mismatched names: got node1, expected node2"):
            k8s.KubernetesNode("node2", api, init_obj=make_node())

    def test_several_nodes_found(self, api: mock.MagicMock, core: mock.MagicMock) -> None:
        """More than one node with the name is an error naming them."""
        core.list_node.return_value = V1NodeList(items=[make_node(), make_node()])
        with pytest.raises(k8s.KubernetesError, match="More than one node found for name node1: node1,node1"):
            k8s.KubernetesNode("node1", api)

    @mock.patch("spicerack.k8s.time.sleep")
    def test_drain_waits_for_grace_period(
        self, sleep: mock.MagicMock, api: mock.MagicMock, core: mock.MagicMock
    ) -> None:
        """When evicted pods linger, it waits the longest grace period, then polls with backoff."""
        daemon, web = make_pod("calico", owner="DaemonSet", grace=10), make_pod(grace=45)
        done = make_pod("job", owner="Job", phase="Succeeded", grace=600)
        lingering = V1PodList(items=[daemon, web, done])
        core.list_pod_for_all_namespaces.side_effect = [lingering, lingering, lingering, V1PodList(items=[daemon])]
        core.patch_node.return_value = make_node(unschedulable=True)
        k8s.KubernetesNode("node1", api, dry_run=False, init_obj=make_node()).drain()

        assert [c.args[0] for c in sleep.call_args_list] == [45, 3.0]
        assert core.create_namespaced_pod_eviction.call_count == 2  # web and the finished job

    @mock.patch("spicerack.k8s.time.sleep")
    def test_drain_pods_never_leave(self, sleep: mock.MagicMock, api: mock.MagicMock, core: mock.MagicMock) -> None:
        """If the evicted pods are still there after the retries, KubernetesCheckError is raised."""
        core.list_pod_for_all_namespaces.return_value = V1PodList(items=[make_pod(grace=None)])
        node = k8s.KubernetesNode("node1", api, dry_run=False, init_obj=make_node(unschedulable=True))
        with pytest.raises(k8s.KubernetesCheckError, match="Node node1 still has 1 pods, expected 0"):
            node.drain()
        assert sleep.call_args_list[0].args == (0,)
        core.patch_node.assert_not_called()  # already cordoned

    def test_drain_nothing_to_wait_for(self, api: mock.MagicMock, core: mock.MagicMock) -> None:
        """When the evicted pods are gone at the first check, there is no wait."""
        core.list_pod_for_all_namespaces.side_effect = [V1PodList(items=[make_pod()]), V1PodList(items=[])]
        with mock.patch("spicerack.k8s.time.sleep") as sleep:
            k8s.KubernetesNode("node1", api, dry_run=False, init_obj=make_node(unschedulable=True)).drain()
        sleep.assert_not_called()


class TestKubernetesApiFactory:
    """Configurations and API clients."""

    def test_api_classes(self) -> None:
        """The supported APIs map to the client's classes."""
        classes = k8s.KubernetesApiFactory.API_CLASSES
        assert dict(classes) == {"core": kubernetes.client.CoreV1Api, "batch": kubernetes.client.BatchV1Api}
        with pytest.raises(KeyError):
            classes["apps"]

    @mock.patch("kubernetes.config.load_kube_config")
    def test_configuration_path_and_cache(self, load: mock.MagicMock, monkeypatch: pytest.MonkeyPatch) -> None:
        """The kubeconfig of a user is <CONFIG_BASE>/<user>-<cluster>.config, read once."""
        monkeypatch.setattr(k8s.KubernetesApiFactory, "CONFIG_BASE", "/srv/kube")
        factory = k8s.KubernetesApiFactory("eqiad")
        first = factory.configuration("web")
        assert factory.configuration("web") is first
        load.assert_called_once_with(config_file="/srv/kube/web-eqiad.config", client_configuration=first)

    def test_clients_time_out(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The API clients put the factory's request timeout on every request."""
        config = tmp_path / "admin-c1.config"
        config.write_text(
            "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
            "users: [{name: u, user: {token: t}}]\n"
            "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
        )
        monkeypatch.setattr(k8s.KubernetesApiFactory, "CONFIG_BASE", str(tmp_path))
        factory = k8s.KubernetesApiFactory("c1")
        factory.request_timeout = 7
        core = factory.core()
        assert isinstance(core, kubernetes.client.CoreV1Api)
        stop = RuntimeError("stop")
        with (
            mock.patch.object(core.api_client.rest_client, "request", side_effect=stop) as request,
            pytest.raises(RuntimeError),
        ):
            core.list_node()
        assert request.call_args.kwargs["_request_timeout"] == (7, 7)


def test_client_imported_lazily() -> None:
    """Importing the module does not import the kubernetes client."""
    code = "import sys, spicerack.k8s; print('kubernetes' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
