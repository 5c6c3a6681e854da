"""Unit tests of spicerack.orchestrator: requests, Orchestrator's error answers, malformed answers, DRY-RUN."""

from typing import Any

import pytest
import requests

from spicerack import Spicerack
from spicerack.apiclient import APIClientError
from spicerack.orchestrator import DEFAULT_PORT, ORCHESTRATOR_URL, Orchestrator, OrchestratorError

BASE = "https://orchestrator.example.org/api"


def client(dry_run: bool = False) -> Orchestrator:
    return Orchestrator(BASE, requests.Session(), dry_run=dry_run)


def test_clusters_by_alias(requests_mock: Any) -> None:
    requests_mock.get(
        f"{BASE}/clusters-info",
        json=[{"ClusterAlias": "s1", "ClusterName": "db1001:3306"}, {"ClusterAlias": "x1", "ClusterName": "db1002"}],
    )

    clusters = client().clusters()

    assert list(clusters) == ["s1", "x1"]
    assert clusters["x1"]["ClusterName"] == "db1002"


@pytest.mark.parametrize(
    ("instance", "path"),
    [
        ("db1001.eqiad.wmnet", f"/instance/db1001.eqiad.wmnet/{DEFAULT_PORT}"),
        ("db1001.eqiad.wmnet:3317", "/instance/db1001.eqiad.wmnet/3317"),
    ],
)
def test_instance_with_and_without_port(requests_mock: Any, instance: str, path: str) -> None:
    requests_mock.get(f"{BASE}{path}", json={"Key": {"Hostname": "db1001.eqiad.wmnet"}, "ReadOnly": True})

    assert client().instance(instance)["ReadOnly"] is True
    assert DEFAULT_PORT == 3306


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"Code": "ERROR", "Message": "Cannot read instance: db9:3306", "Details": None},
            "[ERROR] Cannot read instance",
        ),
        ({"Code": "ERROR", "Message": "Bad request", "Details": "no such key"}, "[ERROR] Bad request no such key"),
        ({"Message": "no code"}, '{"Message": "no code"}'),
        (["not", "an", "object"], '["not", "an", "object"]'),
    ],
)
def test_error_answers(requests_mock: Any, answer: Any, expected: str) -> None:
    requests_mock.get(f"{BASE}/instance/db9/3306", status_code=500, json=answer)

    with pytest.raises(OrchestratorError) as error:
        client().instance("db9")

    assert str(error.value).startswith(expected)


@pytest.mark.parametrize(("text", "expected"), [("404 page not found\n", "404 page not found"), ("", "HTTP 404")])
def test_plain_text_errors(requests_mock: Any, text: str, expected: str) -> None:
    requests_mock.get(f"{BASE}/nowhere", status_code=404, text=text)

    with pytest.raises(OrchestratorError, match=f"^{expected}$"):
        client().request("get", "/nowhere")


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("clusters", "/clusters-info", "not json", "Malformed answer to /clusters-info: not JSON"),
        ("clusters", "/clusters-info", '{"s1": {}}', "Malformed answer to /clusters-info: expected a list"),
        ("clusters", "/clusters-info", '[{"ClusterName": "x"}]', "Malformed answer to /clusters-info: expected a list"),
        ("instance", "/instance/db1/3306", "[]", "Malformed answer to /instance/db1/3306: expected a JSON object"),
    ],
)
def test_malformed_answers(requests_mock: Any, method: str, path: str, body: str, message: str) -> None:
    requests_mock.get(f"{BASE}{path}", text=body)

    with pytest.raises(OrchestratorError, match=f"^{message}"):
        getattr(client(), method)(*(["db1"] if method == "instance" else []))


def test_unreachable(requests_mock: Any) -> None:
    requests_mock.get(f"{BASE}/clusters-info", exc=requests.ConnectionError("refused"))

    with pytest.raises(APIClientError, match=r"^Failed to perform GET request to"):
        client().clusters()


def test_dry_run_sends_reads_but_not_writes(requests_mock: Any) -> None:
    requests_mock.get(f"{BASE}/clusters-info", json=[{"ClusterAlias": "s1"}])
    requests_mock.post(f"{BASE}/relocate/db1/3306/db2/3306", json={})
    orchestrator = client(dry_run=True)

    assert list(orchestrator.clusters()) == ["s1"]
    assert orchestrator.request("post", "/relocate/db1/3306/db2/3306").status_code == 200
    assert [request.method for request in requests_mock.request_history] == ["GET"]


def test_accessor(requests_mock: Any) -> None:
    requests_mock.get(f"{ORCHESTRATOR_URL}/clusters-info", json=[{"ClusterAlias": "s4"}])

    orchestrator = Spicerack(dry_run=True).orchestrator()

    assert list(orchestrator.clusters()) == ["s4"]
    assert orchestrator.http_session.headers["Accept"] == "application/json"
    assert ORCHESTRATOR_URL == "https://orchestrator.wikimedia.org/api"
