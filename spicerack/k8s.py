"""Kubernetes: cordon, uncordon and drain the nodes of a cluster, look at and evict its pods.

Built on the official ``kubernetes`` client, imported on first use only. Each cluster is reached through the
kubeconfig files ``<CONFIG_BASE>/<user>-<cluster>.config``: ``admin`` for the nodes and the evictions, and for a
pod the read-only user named as the pod's namespace.
"""

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from spicerack.decorators import retry
from spicerack.exceptions import SpicerackCheckError, SpicerackError

if TYPE_CHECKING:
    import kubernetes  # type: ignore[import-untyped]
    from kubernetes.client.models import V1Taint  # type: ignore[import-untyped]

logger = logging.getLogger(__name__)

_FINISHED_PHASES = ("Succeeded", "Failed")
_MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


class KubernetesApiError(SpicerackError):
    """A call to the Kubernetes API failed: error answer, unreachable or slow server, malformed answer."""


class KubernetesApiTooManyRequests(KubernetesApiError):
    """The Kubernetes API kept answering HTTP 429 (rate limit, or an eviction refused by a disruption budget)."""


class KubernetesError(SpicerackError):
    """Invalid use of this module or unexpected cluster state (bad user or kubeconfig, missing node, ...)."""


class KubernetesNotFoundError(KubernetesError, KubernetesApiError):
    """The API does not know the node.

    Both a :py:class:`KubernetesError` and a :py:class:`KubernetesApiError`, as cookbooks catch either.
    """


class KubernetesCheckError(SpicerackCheckError):
    """A Kubernetes object is not in the state it should be in after an action."""


@contextmanager
def _api_call(message: str) -> Iterator[None]:
    """Turn every failure of the client call in the block into one :py:class:`KubernetesApiError`."""
    import kubernetes  # noqa: PLC0415 - imported on first use
    import urllib3  # noqa: PLC0415 - a dependency of kubernetes

    try:
        yield
    except (kubernetes.client.exceptions.ApiException, urllib3.exceptions.HTTPError) as exc:
        raise KubernetesApiError(f"{message}: {exc}") from exc
    except (ValueError, TypeError) as exc:  # the client could not deserialize the answer
        raise KubernetesApiError(f"{message}: malformed answer from the API: {exc}") from exc


def _named(objs: list[Any], message: str) -> list[Any]:
    """Return the API objects if each has a name, else raise KubernetesApiError (the answer had another shape)."""
    for obj in objs:
        metadata = getattr(obj, "metadata", None)
        if getattr(metadata, "name", None) is None:
            raise KubernetesApiError(f"{message}: malformed answer from the API, an object without name: {obj!r}")
    return objs


@cache
def _bounded_api_client_class() -> type:
    """Return the client's ApiClient class, extended to put a default timeout on every request."""
    import kubernetes  # noqa: PLC0415 - imported on first use

    class BoundedApiClient(kubernetes.client.ApiClient):  # type: ignore[misc]
        request_timeout: float = 60.0

        def request(self, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("_request_timeout") is None:  # the client takes an int or a (connect, read) pair
                kwargs["_request_timeout"] = (self.request_timeout, self.request_timeout)
            return super().request(*args, **kwargs)

    return BoundedApiClient


class _ApiClasses(Mapping[str, Any]):
    """The ``kubernetes.client`` API classes by short name, the client being imported on the first lookup."""

    _names: ClassVar[dict[str, str]] = {"core": "CoreV1Api", "batch": "BatchV1Api"}

    def __getitem__(self, key: str) -> Any:
        import kubernetes  # noqa: PLC0415 - imported on first use

        return getattr(kubernetes.client, self._names[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class KubernetesApiFactory:
    """Gives the Kubernetes objects of one cluster configured API clients, one configuration per user."""

    API_CLASSES: ClassVar[Mapping[str, Any]] = _ApiClasses()
    """The supported APIs: ``core`` (``kubernetes.client.CoreV1Api``) and ``batch`` (``BatchV1Api``)."""
    CONFIG_BASE: str = "/etc/kubernetes"
    """The directory of the kubeconfig files, named ``<user>-<cluster>.config``."""
    request_timeout: float = 60.0
    """Seconds to connect and to wait for an answer before a request fails, so that no call hangs."""

    def __init__(self, cluster: str):
        """Initialize the instance.

        Arguments:
            cluster: the name of the cluster, as in the kubeconfig file names.

        """
        self.cluster = cluster
        self._configurations: dict[str, kubernetes.client.Configuration] = {}

    def configuration(self, user: str) -> "kubernetes.client.Configuration":
        """Return the client configuration of a user, loaded once from its kubeconfig file.

        Arguments:
            user: the user, as in the kubeconfig file names.

        Raises:
            spicerack.k8s.KubernetesError: if the user is not a plain name or its kubeconfig is missing or invalid.

        """
        if len(Path(user).parts) != 1:
            raise KubernetesError(f"User '{user}' is not valid")

        if user not in self._configurations:
            self._configurations[user] = self._load_configuration(user)

        return self._configurations[user]

    def core(self, *, user: str = "admin") -> "kubernetes.client.CoreV1Api":
        """Return a client of the core API (nodes, pods, evictions) authenticated as the given user.

        Arguments:
            user: the user to authenticate as.

        """
        return self.API_CLASSES["core"](self._api_client(user))

    def batch(self, *, user: str = "admin") -> "kubernetes.client.BatchV1Api":
        """Return a client of the batch API (jobs, cronjobs) authenticated as the given user.

        Arguments:
            user: the user to authenticate as.

        """
        return self.API_CLASSES["batch"](self._api_client(user))

    def _load_configuration(self, user: str) -> "kubernetes.client.Configuration":
        """Read the kubeconfig file of the user into a new client configuration."""
        import kubernetes  # noqa: PLC0415 - imported on first use
        import yaml  # noqa: PLC0415 - a dependency of kubernetes

        configuration = kubernetes.client.Configuration()
        config_file = Path(self.CONFIG_BASE) / f"{user}-{self.cluster}.config"
        try:
            kubernetes.config.load_kube_config(config_file=str(config_file), client_configuration=configuration)
        except (kubernetes.config.config_exception.ConfigException, yaml.YAMLError, OSError) as exc:
            raise KubernetesError(f"Unable to load the kubeconfig file {config_file}: {exc}") from exc
        except (TypeError, ValueError, AttributeError, KeyError) as exc:  # valid YAML but not a kubeconfig
            raise KubernetesError(f"Invalid kubeconfig file {config_file}: {exc!r}") from exc

        return configuration

    def _api_client(self, user: str) -> "kubernetes.client.ApiClient":
        """Return an API client with the user's configuration whose requests time out after request_timeout."""
        client = _bounded_api_client_class()(configuration=self.configuration(user))
        client.request_timeout = self.request_timeout
        return client


class Kubernetes:
    """The entry point to one Kubernetes cluster, as given by :py:meth:`spicerack.Spicerack.kubernetes`."""

    def __init__(self, group: str, cluster: str, *, dry_run: bool = True):
        """Initialize the instance.

        Arguments:
            group: the group of clusters the cluster belongs to.
            cluster: the name of the cluster.
            dry_run: if :py:data:`True`, nothing is changed on the cluster.

        """
        self.group = group
        self.api = KubernetesApiFactory(cluster)
        self.dry_run = dry_run

    def get_node(self, name: str) -> "KubernetesNode":
        """Return a node of the cluster, fetched from the API.

        Arguments:
            name: the node's name (its FQDN).

        Raises:
            spicerack.k8s.KubernetesNotFoundError: if there is no node with that name (a KubernetesApiError and a
                KubernetesError).
            spicerack.k8s.KubernetesError: if there is more than one node with that name.
            spicerack.k8s.KubernetesApiError: if the API call failed.

        """
        return KubernetesNode(name, self.api, self.dry_run)

    def get_pod(self, namespace: str, name: str) -> "KubernetesPod":
        """Return a pod of the cluster, fetched from the API with the namespace's read-only user.

        Arguments:
            namespace: the pod's namespace.
            name: the pod's name.

        Raises:
            spicerack.k8s.KubernetesApiError: if the pod is not found or the API call failed.

        """
        return KubernetesPod(namespace, name, self.api, self.dry_run)


class KubernetesNode:
    """A node of a cluster: cordon, uncordon and drain it, list its pods."""

    def __init__(
        self,
        fqdn: str,
        api: KubernetesApiFactory,
        dry_run: bool = True,
        init_obj: "kubernetes.client.models.v1_node.V1Node | None" = None,
    ):
        """Initialize the instance, fetching the node from the API unless it is given.

        Arguments:
            fqdn: the node's name (its FQDN).
            api: the API factory of the node's cluster.
            dry_run: if :py:data:`True`, nothing is changed on the cluster.
            init_obj: the node's API object, if already at hand.

        Raises:
            spicerack.k8s.KubernetesError: if ``init_obj`` is another node, or the node is not found.
            spicerack.k8s.KubernetesApiError: if the API call failed.

        """
        self._api = api
        self._fqdn = fqdn
        self._dry_run = dry_run
        if init_obj is None:
            self._node = self._get()
        elif init_obj.metadata.name != fqdn:
            raise KubernetesError(f"Mismatched names: got {init_obj.metadata.name}, expected {fqdn}")
        else:
            self._node = init_obj

    def __str__(self) -> str:
        """Return ``Node(<fqdn>)``."""
        return f"Node({self._fqdn})"

    @property
    def name(self) -> str:
        """The node's name, as known to the API."""
        name: str = self._node.metadata.name
        return name

    @property
    def taints(self) -> list["V1Taint"]:
        """The node's taints, empty if none."""
        spec = self._node.spec
        if spec is None or spec.taints is None:
            return []
        taints: list[V1Taint] = spec.taints
        return taints

    def is_schedulable(self) -> bool:
        """Return whether new pods can be scheduled on the node (it is not cordoned)."""
        spec = self._node.spec
        return not (spec and spec.unschedulable)

    def cordon(self) -> None:
        """Make the node unschedulable; nothing to do if it already is.

        Raises:
            spicerack.k8s.KubernetesApiError: if the API call failed.
            spicerack.k8s.KubernetesCheckError: if the node is still schedulable afterwards.

        """
        if not self.is_schedulable():
            logger.info("Node %s already cordoned", self.name)
            return

        if self._dry_run:
            logger.info("Would have cordoned %s", self.name)
            return

        logger.info("Cordoning %s", self.name)
        self._node = self._patch({"spec": {"unschedulable": True}})
        if self.is_schedulable():
            raise KubernetesCheckError(f"{self} is not unschedulable after trying to cordon it.")

    def uncordon(self) -> None:
        """Make the node schedulable again; nothing to do if it already is.

        Raises:
            spicerack.k8s.KubernetesApiError: if the API call failed.
            spicerack.k8s.KubernetesCheckError: if the node is still unschedulable afterwards.

        """
        if self.is_schedulable():
            logger.info("Node %s already schedulable", self.name)
            return

        if self._dry_run:
            logger.info("Would have uncordoned %s", self.name)
            return

        logger.info("Uncordoning %s", self.name)
        self._node = self._patch({"spec": {"unschedulable": False}})
        if not self.is_schedulable():
            raise KubernetesCheckError(f"Node {self} is not schedulable after trying to uncordon it.")

    def drain(self) -> None:
        """Cordon the node and evict all its evictable pods, like ``kubectl drain``, then wait for them to go.

        Pods that cannot be evicted (daemonsets, mirror and orphaned pods) are left running. After the eviction
        requests, it waits the longest termination grace period of the pods, then checks a few more times with an
        exponential backoff.

        Raises:
            spicerack.k8s.KubernetesApiError: if the API call to cordon the node or list its pods failed.
            spicerack.k8s.KubernetesCheckError: if an eviction failed or evicted pods are still on the node.

        """
        self.cordon()
        unevictable = 0
        failed: list[tuple[KubernetesPod, KubernetesApiError]] = []
        max_grace_period = 0
        for pod in self.get_pods():
            try:
                pod.evict()  # in DRY-RUN mode the pod is only logged
            except KubernetesApiError as exc:
                failed.append((pod, exc))
            except KubernetesError:
                unevictable += 1

            if not pod.is_terminated():
                max_grace_period = max(max_grace_period, pod.spec.termination_grace_period_seconds or 0)

        if failed:
            for failed_pod, error in failed:
                logger.error("Failed to evict pod %s from node %s: %s", failed_pod, self, error)
            raise KubernetesCheckError(f"Could not evict all pods from node {self}")

        self._wait_for_empty(unevictable, max_grace_period)

    def get_pods(self) -> list["KubernetesPod"]:
        """Return the pods scheduled on the node, in all namespaces.

        Raises:
            spicerack.k8s.KubernetesApiError: if the API call failed.

        """
        with _api_call(f"Failed to find pods running on node {self.name}"):
            answer = self._api.core().list_pod_for_all_namespaces(field_selector=f"spec.nodeName={self.name}")
            objs = _named(list(answer.items), f"Failed to find pods running on node {self.name}")
            return [
                KubernetesPod(obj.metadata.namespace, obj.metadata.name, self._api, dry_run=self._dry_run, init_obj=obj)
                for obj in objs
            ]

    def refresh(self) -> None:
        """Fetch the node again from the API.

        Raises:
            spicerack.k8s.KubernetesError: if the node is not found any more.
            spicerack.k8s.KubernetesApiError: if the API call failed.

        """
        self._node = self._get()

    def _get(self) -> "kubernetes.client.models.v1_node.V1Node":
        """Fetch the node from the API, by name."""
        with _api_call("Failed to list nodes"):
            nodes = list(self._api.core().list_node(field_selector=f"metadata.name={self._fqdn}").items)
        _named(nodes, "Failed to list nodes")

        if not nodes:
            raise KubernetesNotFoundError(f"Node {self._fqdn} not found")
        if len(nodes) > 1:
            names = ",".join(node.metadata.name for node in nodes)
            raise KubernetesError(f"More than one node found for name {self._fqdn}: {names}")

        return nodes[0]

    def _patch(self, body: dict[str, Any]) -> "kubernetes.client.models.v1_node.V1Node":
        """Apply a patch to the node and return the node as the API answers it."""
        with _api_call("Failed to modify node"):
            node = self._api.core().patch_node(self.name, body)
        return _named([node], "Failed to modify node")[0]

    def _wait_for_empty(self, expected: int, max_grace_period: int) -> None:
        """Wait until at most ``expected`` pods (the unevictable ones) still run on the node."""
        if self._dry_run:
            logger.info("Would have waited for node %s to be empty", self.name)
            return

        def running_pods() -> int:
            return sum(1 for pod in self.get_pods() if not pod.is_terminated())

        @retry(
            tries=5,
            backoff_mode="exponential",
            exceptions=(KubernetesCheckError,),
            failure_message="Waiting for pods to be evicted",
        )
        def check_evicted() -> None:
            running = running_pods()
            if running > expected:
                raise KubernetesCheckError(f"Node {self.name} still has {running} pods, expected {expected}")

        if running_pods() <= expected:
            return

        # Terminating pods get their grace period; the API needs some more time to reflect their end.
        logger.debug("Waiting %d seconds before checking evictions again", max_grace_period)
        time.sleep(max_grace_period)
        check_evicted()


class KubernetesPod:
    """A pod of a cluster: look at its state and controller, evict it."""

    def __init__(
        self,
        namespace: str,
        name: str,
        api: KubernetesApiFactory,
        dry_run: bool = True,
        init_obj: "kubernetes.client.models.v1_pod.V1Pod | None" = None,
    ):
        """Initialize the instance, fetching the pod from the API unless it is given.

        Arguments:
            namespace: the pod's namespace.
            name: the pod's name.
            api: the API factory of the pod's cluster.
            dry_run: if :py:data:`True`, nothing is changed on the cluster.
            init_obj: the pod's API object, if already at hand.

        Raises:
            spicerack.k8s.KubernetesError: if ``init_obj`` is another pod.
            spicerack.k8s.KubernetesApiError: if the pod is not found or the API call failed.

        """
        self._api = api
        self.name = name
        self.namespace = namespace
        self._dry_run = dry_run
        if init_obj is None:
            self._pod = self._get()
            return

        if init_obj.metadata.name != name:
            raise KubernetesError(f"Mismatched names: got {init_obj.metadata.name}, expected {name}")
        if init_obj.metadata.namespace != namespace:
            raise KubernetesError(f"Mismatched namespaces: {init_obj.metadata.namespace}, expected {namespace}")
        self._pod = init_obj

    def __str__(self) -> str:
        """Return ``Pod(<namespace>/<name>)``."""
        return f"Pod({self.namespace}/{self.name})"

    @property
    def controller(self) -> "kubernetes.client.models.v1_owner_reference.V1OwnerReference | None":
        """The reference to the object controlling the pod (its first owner), :py:data:`None` if orphaned."""
        owners = self._pod.metadata.owner_references
        return owners[0] if owners else None

    @property
    def spec(self) -> "kubernetes.client.models.v1_pod_spec.V1PodSpec":
        """The pod's spec."""
        return self._pod.spec

    def is_daemonset(self) -> bool:
        """Return whether the pod is controlled by a DaemonSet."""
        controller = self.controller
        return controller is not None and controller.kind == "DaemonSet"

    def is_terminated(self) -> bool:
        """Return whether the pod has finished (succeeded or failed)."""
        status = self._pod.status
        return status is not None and status.phase in _FINISHED_PHASES

    def is_mirror(self) -> bool:
        """Return whether the pod is the mirror of a static pod of the kubelet."""
        return _MIRROR_ANNOTATION in (self._pod.metadata.annotations or ())

    def is_evictable(self) -> bool:
        """Return whether the pod may be evicted, with the rules of ``kubectl drain``.

        A finished pod always is; otherwise orphaned, daemonset and mirror pods are not.
        """
        if self.is_terminated():
            return True

        for excluded, kind in ((self.controller is None, "orphaned"), (self.is_daemonset(), "a daemonset")):
            if excluded:
                logger.warning("Pod %s is %s, not evictable", self, kind)
                return False

        if self.is_mirror():
            logger.warning("Pod %s is a mirror pod, not evictable", self)
            return False

        return True

    def evict(self) -> None:
        """Ask the API to evict the pod, retrying while it answers HTTP 429 (e.g. a disruption budget refuses).

        Raises:
            spicerack.k8s.KubernetesError: if the pod is not evictable.
            spicerack.k8s.KubernetesApiTooManyRequests: if the API still answered HTTP 429 after all the tries.
            spicerack.k8s.KubernetesApiError: if the API call failed otherwise.

        """
        if not self.is_evictable():
            raise KubernetesError(f"Pod {self} is not evictable.")

        if self._dry_run:
            logger.info("Would have evicted %s", self)
            return

        logger.debug("Evicting pod %s", self)
        self._request_eviction()

    def refresh(self) -> None:
        """Fetch the pod again from the API.

        Raises:
            spicerack.k8s.KubernetesApiError: if the pod is not found any more or the API call failed.

        """
        self._pod = self._get()

    def _request_eviction(self) -> None:
        """Post the eviction, with the retries on HTTP 429."""
        import kubernetes  # noqa: PLC0415 - imported on first use

        body = kubernetes.client.V1Eviction(
            metadata=kubernetes.client.V1ObjectMeta(name=self.name, namespace=self.namespace)
        )

        @retry(
            tries=5,
            backoff_mode="exponential",
            exceptions=(KubernetesApiTooManyRequests,),
            failure_message=f"Retrying eviction of {self}. API error was",
        )
        def post_eviction() -> None:
            try:
                self._api.core().create_namespaced_pod_eviction(self.name, self.namespace, body)
            except kubernetes.client.exceptions.ApiException as exc:
                if exc.status == HTTPStatus.TOO_MANY_REQUESTS:
                    logger.info("Failed to evict pod %s - HTTP response body: %s", self, exc.body)
                    raise KubernetesApiTooManyRequests(exc) from exc
                raise KubernetesApiError(exc) from exc

        with _api_call(f"Failed to evict pod {self}"):
            post_eviction()

    def _get(self) -> "kubernetes.client.models.v1_pod.V1Pod":
        """Fetch the pod from the API, as the read-only user named as its namespace."""
        with _api_call("Error from the kubernetes api"):
            pod = self._api.core(user=self.namespace).read_namespaced_pod(self.name, self.namespace)
        return _named([pod], "Error from the kubernetes api")[0]
