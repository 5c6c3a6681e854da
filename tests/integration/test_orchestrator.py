"""Integration tests of spicerack.orchestrator against the Orchestrator API stand-in of ``servers/orchestrator.py``."""

import time

import pytest

from spicerack import Spicerack, orchestrator
from spicerack.apiclient import APIClientError
from spicerack.orchestrator import Orchestrator, OrchestratorError
from tests.integration.servers import free_port


@pytest.fixture
def client(orchestrator_server, monkeypatch):
    """The client that Spicerack.orchestrator() builds, pointed at the stand-in."""
    monkeypatch.setattr(orchestrator, "ORCHESTRATOR_URL", orchestrator_server.url)
    return Spicerack(dry_run=False).orchestrator()


def test_clusters(client, orchestrator_server):
    clusters = client.clusters()

    assert list(clusters) == ["s1", "x1"]
    assert clusters["s1"]["ClusterName"] == "db1001.eqiad.wmnet:3306"
    assert orchestrator_server.requests == [("GET", "/api/clusters-info", "application/json")]


def test_instance_default_and_explicit_port(client):
    replica = client.instance("db1002.eqiad.wmnet")

    assert replica["MasterKey"]["Hostname"] == "db1001.eqiad.wmnet"
    assert client.instance("db1003.eqiad.wmnet:3317")["ClusterName"] == "db1003.eqiad.wmnet:3317"


def test_unknown_instance_is_not_retried(client, orchestrator_server):
    with pytest.raises(OrchestratorError, match=r"^\[ERROR\] Cannot read instance: db9999.eqiad.wmnet:3306$"):
        client.instance("db9999.eqiad.wmnet")

    assert len(orchestrator_server.requests) == 1  # a 500 from Orchestrator is an answer, not a failure to retry


def test_unknown_route(client):
    with pytest.raises(OrchestratorError, match=r"^404 page not found$"):
        client.request("get", "/no-such-endpoint")


def test_malformed_answer(client, orchestrator_server):
    orchestrator_server.fault = "malformed"

    with pytest.raises(OrchestratorError, match=r"^Malformed answer to /clusters-info: not JSON$"):
        client.clusters()


def test_hanging_server_times_out(orchestrator_server):
    orchestrator_server.fault = "hang"
    session = Spicerack(dry_run=False).requests_session("Orchestrator", timeout=1, tries=1)
    start = time.monotonic()

    with pytest.raises(APIClientError, match=r"^Failed to perform GET request to .*/clusters-info"):
        Orchestrator(orchestrator_server.url, session, dry_run=False).clusters()

    assert time.monotonic() - start < 30  # bounded by the timeout, not by the server's 60 s


def test_server_down(monkeypatch):
    monkeypatch.setattr(orchestrator, "ORCHESTRATOR_URL", f"http://127.0.0.1:{free_port()}/api")

    with pytest.raises(APIClientError, match=r"^Failed to perform GET request to .*Connection refused"):
        Spicerack(dry_run=False).orchestrator().instance("db1001.eqiad.wmnet")


def test_dry_run_reads_but_sends_no_write(orchestrator_server, monkeypatch):
    monkeypatch.setattr(orchestrator, "ORCHESTRATOR_URL", orchestrator_server.url)
    client = Spicerack(dry_run=True).orchestrator()

    assert "x1" in client.clusters()
    assert client.request("post", "/relocate/db1002.eqiad.wmnet/3306/db1003.eqiad.wmnet/3317").status_code == 200
    assert [method for method, _, _ in orchestrator_server.requests] == ["GET"]
