"""A stand-in of Orchestrator's HTTP API (MySQL replication topologies) in a thread on 127.0.0.1.

Orchestrator is a Go service that needs a backend database and live MySQL servers to discover; Debian does not
package it. This server answers as its documented API does for what Spicerack reads:

- ``GET /api/clusters-info``: the list of clusters (``ClusterName``, ``ClusterAlias``, ``ClusterDomain``,
  ``CountInstances``, ``HeuristicLag``, ``HasAutomatedMasterRecovery``, ...);
- ``GET /api/instance/<host>/<port>``: an instance (``Key``, ``MasterKey``, ``ReadOnly``, ``Uptime``, ...), or for an
  unknown one HTTP 500 with Orchestrator's JSON error ``{"Code": "ERROR", "Message": "Cannot read instance: ...",
  "Details": null}``;
- anything else: HTTP 404 with the plain text ``404 page not found`` of Orchestrator's router;
- faults on demand: an answer that never comes (until reset), a body that is not JSON.
"""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.servers._base import StandInHandler, ThreadedHTTPServer, reset_around, serve

__all__ = ["OrchestratorStandIn", "orchestrator_server", "orchestrator_server_session"]


def _instance(host: str, port: int, master: str | None, cluster: str, alias: str) -> dict[str, Any]:
    """An instance as Orchestrator describes it (a subset of its fields)."""
    return {
        "Key": {"Hostname": host, "Port": port},
        "InstanceAlias": host.split(".", 1)[0],
        "Version": "10.6.16-MariaDB-log",
        "ReadOnly": master is not None,
        "MasterKey": {"Hostname": master or "", "Port": 3306 if master else 0},
        "ClusterName": cluster,
        "SuggestedClusterAlias": alias,
        "Uptime": 1234567,
        "SecondsBehindMaster": {"Int64": 0, "Valid": master is not None},
    }


INSTANCES = {
    ("db1001.eqiad.wmnet", 3306): _instance("db1001.eqiad.wmnet", 3306, None, "db1001.eqiad.wmnet:3306", "s1"),
    ("db1002.eqiad.wmnet", 3306): _instance(
        "db1002.eqiad.wmnet", 3306, "db1001.eqiad.wmnet", "db1001.eqiad.wmnet:3306", "s1"
    ),
    ("db1003.eqiad.wmnet", 3317): _instance("db1003.eqiad.wmnet", 3317, None, "db1003.eqiad.wmnet:3317", "x1"),
}

CLUSTERS = [
    {
        "ClusterName": "db1001.eqiad.wmnet:3306",
        "ClusterAlias": "s1",
        "ClusterDomain": "",
        "CountInstances": 2,
        "HeuristicLag": 0,
        "HasAutomatedMasterRecovery": False,
        "HasAutomatedIntermediateMasterRecovery": False,
    },
    {
        "ClusterName": "db1003.eqiad.wmnet:3317",
        "ClusterAlias": "x1",
        "ClusterDomain": "",
        "CountInstances": 1,
        "HeuristicLag": 0,
        "HasAutomatedMasterRecovery": False,
        "HasAutomatedIntermediateMasterRecovery": False,
    },
]


class OrchestratorStandIn(ThreadedHTTPServer):
    """The stand-in API on a free loopback port; ``fault`` is ``""``, ``"hang"`` or ``"malformed"``."""

    def __init__(self) -> None:
        """Bind to a free loopback port; :py:meth:`start` serves in a background thread."""
        self.fault = ""
        self.requests: list[tuple[str, str, str]] = []  # method, path, Accept header
        super().__init__(_handler_for(self), "orchestrator")

    @property
    def url(self) -> str:
        """The API's base URL (``http://127.0.0.1:<port>/api``)."""
        return f"{super().url}/api"

    def reset(self) -> None:
        """No fault, no recorded request; hanging answers are released."""
        super().reset()
        self.fault = ""
        self.requests.clear()

    def wait_released(self, timeout: float = 60.0) -> None:
        """Block a hanging answer until the next reset (at most ``timeout`` seconds)."""
        self._release.wait(timeout=timeout)

    @staticmethod
    def answer(method: str, path: str) -> tuple[int, Any]:
        """Return the status and body (JSON-able, or a str for plain text) of Orchestrator's answer."""
        parts = path.split("?", 1)[0].strip("/").split("/")
        if method == "GET" and parts == ["api", "clusters-info"]:
            return 200, CLUSTERS
        if method == "GET" and len(parts) == 4 and parts[:2] == ["api", "instance"]:
            host, port = parts[2], parts[3]
            instance = INSTANCES.get((host, int(port))) if port.isdigit() else None
            if instance is None:
                return 500, {"Code": "ERROR", "Message": f"Cannot read instance: {host}:{port}", "Details": None}
            return 200, instance
        return 404, "404 page not found"


def _handler_for(server: OrchestratorStandIn) -> type[StandInHandler]:
    """Return the request handler class of the given stand-in."""

    class Handler(StandInHandler):
        def _handle(self) -> None:
            self.read_body()
            server.requests.append((self.command, self.path, self.headers.get("Accept", "")))
            if server.fault == "hang":
                server.wait_released()
                return
            if server.fault == "malformed":
                self.send_answer(200, b"<html>upstream error</html>", "text/html")
                return
            status, body = server.answer(self.command, self.path)
            if isinstance(body, str):
                self.send_answer(status, body.encode(), "text/plain; charset=utf-8")
            else:
                self.send_json(status, body, "application/json; charset=UTF-8")

        do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

    return Handler


@pytest.fixture(scope="session")
def orchestrator_server_session() -> Iterator[OrchestratorStandIn]:
    """The stand-in Orchestrator API, for the whole session."""
    yield from serve(OrchestratorStandIn())


@pytest.fixture
def orchestrator_server(orchestrator_server_session: OrchestratorStandIn) -> Iterator[OrchestratorStandIn]:
    """The session's stand-in, with no fault nor recorded request; reset again afterwards."""
    yield from reset_around(orchestrator_server_session)
