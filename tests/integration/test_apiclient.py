"""``requests_session()`` and ``api_client()`` against a real HTTP server on loopback."""

import logging

import pytest

import spicerack as spicerack_module
from spicerack import Spicerack
from spicerack.apiclient import APIClient, APIClientError, APIClientResponseError
from tests.integration.servers.http import HTTPTestServer

pytestmark = pytest.mark.integration


@pytest.fixture
def spicerack() -> Spicerack:
    return Spicerack(dry_run=False)


@pytest.fixture
def dry_run_spicerack() -> Spicerack:
    return Spicerack(dry_run=True)


def test_requests_session_user_agent_names_spicerack_and_the_caller(
    spicerack: Spicerack, http_server: HTTPTestServer
) -> None:
    session = spicerack.requests_session("my-cookbook")

    session.get(f"{http_server.url}/ua")

    (request,) = http_server.requests_to("/ua")
    assert f"Spicerack/{spicerack_module.__version__} my-cookbook" in request.headers["User-Agent"]


def test_requests_session_retries_server_errors(spicerack: Spicerack, http_server: HTTPTestServer) -> None:
    http_server.script("/flaky", 503, 502, 200, body={"ok": True})
    session = spicerack.requests_session("retries", tries=3, backoff=0.0)

    response = session.get(f"{http_server.url}/flaky")

    assert response.json() == {"ok": True}
    assert len(http_server.requests_to("/flaky")) == 3


def test_requests_session_without_retries(spicerack: Spicerack, http_server: HTTPTestServer) -> None:
    http_server.script("/flaky", 503, 200)
    session = spicerack.requests_session("no-retries", tries=0)

    response = session.get(f"{http_server.url}/flaky")

    assert response.status_code == 503
    assert len(http_server.requests_to("/flaky")) == 1


def test_api_client_sends_json_requests_below_the_base_url(spicerack: Spicerack, http_server: HTTPTestServer) -> None:
    http_server.script("/api/v1/items", 201, body={"id": 7})
    client = spicerack.api_client(f"{http_server.url}/api/v1")

    response = client.request("post", "/items", json={"name": "item"})

    assert isinstance(client, APIClient)
    assert response.json() == {"id": 7}
    (request,) = http_server.requests_to("/api/v1/items")
    assert request.method == "POST"
    assert request.json() == {"name": "item"}
    assert request.headers["Accept"] == "application/json"
    assert f"Spicerack/{spicerack_module.__version__} APIClient" in request.headers["User-Agent"]


def test_api_client_custom_accept_header(spicerack: Spicerack, http_server: HTTPTestServer) -> None:
    client = spicerack.api_client(http_server.url, accept_header="text/plain")

    client.request("get", "/text")

    assert http_server.requests_to("/text")[0].headers["Accept"] == "text/plain"


def test_api_client_retries_idempotent_requests_on_server_errors(
    spicerack: Spicerack, http_server: HTTPTestServer
) -> None:
    http_server.script("/status", 503, 200, body={"status": "up"})
    client = spicerack.api_client(http_server.url, backoff=0.0)

    assert client.request("get", "/status").json() == {"status": "up"}
    assert len(http_server.requests_to("/status")) == 2


def test_api_client_does_not_retry_a_post(spicerack: Spicerack, http_server: HTTPTestServer) -> None:
    http_server.script("/create", 503, 200)
    client = spicerack.api_client(http_server.url, backoff=0.0)

    with pytest.raises(APIClientResponseError, match=r"POST http://127\.0\.0\.1:\d+/create returned HTTP 503"):
        client.request("post", "/create", json={})

    assert len(http_server.requests_to("/create")) == 1


def test_api_client_error_status_raises_with_the_response(spicerack: Spicerack, http_server: HTTPTestServer) -> None:
    http_server.script("/missing", 404, body={"detail": "not found"})
    client = spicerack.api_client(http_server.url)

    with pytest.raises(APIClientResponseError, match="returned HTTP 404") as error:
        client.request("get", "/missing")

    assert error.value.response.json() == {"detail": "not found"}


def test_api_client_gives_up_after_the_retries(spicerack: Spicerack, http_server: HTTPTestServer) -> None:
    http_server.script("/down", 503)
    client = spicerack.api_client(http_server.url, tries=2, backoff=0.0)

    with pytest.raises(APIClientError, match="Failed to perform GET request to") as error:
        client.request("get", "/down")

    assert "\n" not in str(error.value)
    assert len(http_server.requests_to("/down")) == 3  # The first try and 2 retries


def test_api_client_timeout(spicerack: Spicerack, http_server: HTTPTestServer) -> None:
    http_server.script("/slow", 200, delay=5.0)
    client = spicerack.api_client(http_server.url, timeout=0.2, tries=0)

    with pytest.raises(APIClientError, match=r"Failed to perform GET request to .*/slow.*timed out"):
        client.request("get", "/slow")


def test_api_client_through_the_configured_proxy(http_server: HTTPTestServer) -> None:
    spicerack = Spicerack(dry_run=False, http_proxy=http_server.url)
    client = spicerack.api_client("http://api.example.invalid/v2")
    assert spicerack.requests_proxies is not None
    client.http_session.proxies.update(spicerack.requests_proxies)

    response = client.request("get", "/things")

    assert response.json() == {"path": "http://api.example.invalid/v2/things"}
    assert len(http_server.requests_to("http://api.example.invalid/v2/things")) == 1


def test_api_client_proxies_per_request(http_server: HTTPTestServer) -> None:
    spicerack = Spicerack(dry_run=False, http_proxy=http_server.url)
    client = spicerack.api_client("http://api.example.invalid")

    client.request("put", "/thing", json={"a": 1}, proxies=spicerack.requests_proxies)

    (request,) = http_server.requests_to("http://api.example.invalid/thing")
    assert request.method == "PUT"


@pytest.mark.parametrize("method", ["post", "PUT", "patch", "delete"])
def test_api_client_dry_run_does_not_send_changes(
    dry_run_spicerack: Spicerack, http_server: HTTPTestServer, caplog: pytest.LogCaptureFixture, method: str
) -> None:
    client = dry_run_spicerack.api_client(http_server.url)
    caplog.set_level(logging.INFO, logger="spicerack.apiclient")

    response = client.request(method, "/change", json={"a": 1})

    assert response.status_code == 200
    assert http_server.requests == []
    assert f"Would have called {method} on {http_server.url}/change" in caplog.text


@pytest.mark.parametrize("method", ["get", "head", "options"])
def test_api_client_dry_run_sends_read_only_requests(
    dry_run_spicerack: Spicerack, http_server: HTTPTestServer, method: str
) -> None:
    http_server.script("/read", 200, body={"value": 1})
    client = dry_run_spicerack.api_client(http_server.url)

    response = client.request(method, "/read")

    assert [request.method for request in http_server.requests_to("/read")] == [method.upper()]
    if method == "get":
        assert response.json() == {"value": 1}


def test_api_client_dry_run_read_failure_is_logged_not_raised(
    dry_run_spicerack: Spicerack, http_server: HTTPTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    http_server.script("/down", 503)
    client = dry_run_spicerack.api_client(http_server.url, tries=1, backoff=0.0)

    response = client.request("get", "/down")

    assert response.status_code == 200
    assert "Failed to perform GET request to" in caplog.text
