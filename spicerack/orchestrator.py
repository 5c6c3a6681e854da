"""Orchestrator: a client of the HTTP API of Orchestrator, the manager of MySQL replication topologies."""

import logging
from typing import Any

from requests import Response

from spicerack.apiclient import APIClient, APIClientResponseError
from spicerack.exceptions import SpicerackError

logger = logging.getLogger(__name__)

DEFAULT_PORT = 3306
"""The MySQL port of an instance given without port."""

ORCHESTRATOR_URL: str = "https://orchestrator.wikimedia.org/api"
"""The base URL of the API that :py:meth:`spicerack.Spicerack.orchestrator` connects to."""


class OrchestratorError(SpicerackError):
    """Orchestrator answered with an error, or with something that is not what its API documents."""


class Orchestrator(APIClient):
    """DRY-RUN aware client of Orchestrator's API: read-only calls always run, others only outside DRY-RUN."""

    def request(self, *args: Any, **kwargs: Any) -> Response:
        """Send a request to Orchestrator, as :py:meth:`spicerack.apiclient.APIClient.request` does.

        Raises:
            spicerack.apiclient.APIClientError: if the uri does not start with ``/`` or the request fails.
            spicerack.orchestrator.OrchestratorError: if the answer has a 4xx or 5xx status: its message is
                ``[<Code>] <Message> <Details>`` from Orchestrator's JSON error, else the answer's text.

        """
        try:
            return super().request(*args, **kwargs)
        except APIClientResponseError as e:
            raise OrchestratorError(_error_message(e.response)) from e

    def clusters(self) -> dict[str, dict[str, Any]]:
        """Return the metadata of every cluster Orchestrator knows, by cluster alias.

        Raises:
            spicerack.apiclient.APIClientError: if the request fails.
            spicerack.orchestrator.OrchestratorError: if Orchestrator answers an error or a malformed list.

        """
        clusters = _json(self.request("get", "/clusters-info"), "/clusters-info")
        if not isinstance(clusters, list) or not all(
            isinstance(cluster, dict) and "ClusterAlias" in cluster for cluster in clusters
        ):
            raise OrchestratorError("Malformed answer to /clusters-info: expected a list of clusters with ClusterAlias")
        return {cluster["ClusterAlias"]: cluster for cluster in clusters}

    def instance(self, instance: str) -> dict[str, Any]:
        """Return the metadata of a MySQL instance.

        Arguments:
            instance: the instance as Orchestrator names it, ``FQDN:PORT``; without port,
                :py:const:`spicerack.orchestrator.DEFAULT_PORT` is used.

        Raises:
            spicerack.apiclient.APIClientError: if the request fails.
            spicerack.orchestrator.OrchestratorError: if the instance is unknown or the answer is malformed.

        """
        host, sep, port = instance.rpartition(":")
        if not sep:
            host, port = instance, str(DEFAULT_PORT)
        uri = f"/instance/{host}/{port}"
        metadata = _json(self.request("get", uri), uri)
        if not isinstance(metadata, dict):
            raise OrchestratorError(f"Malformed answer to {uri}: expected a JSON object")
        return metadata


def _json(response: Response, uri: str) -> Any:
    """Return the decoded JSON body of an answer, raising OrchestratorError if it is not JSON."""
    try:
        return response.json()
    except ValueError:  # requests' JSONDecodeError is a ValueError
        raise OrchestratorError(f"Malformed answer to {uri}: not JSON") from None


def _error_message(response: Response) -> str:
    """Return the message of an error answer: Orchestrator's JSON error (Code, Message, Details) or the text."""
    try:
        error = response.json()
        message = f"[{error['Code']}] {error['Message']}"
    except (ValueError, KeyError, TypeError):  # Some errors, e.g. 404s, are plain text
        return response.text.strip() or f"HTTP {response.status_code}"
    details = error.get("Details")
    return f"{message} {details}" if details else message
