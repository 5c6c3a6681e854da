"""APIClient logic that needs no server: URI validation, error messages, DRY-RUN of changes, failures."""

import logging

import pytest
import requests

from spicerack.apiclient import APIClient, APIClientError, APIClientResponseError
from spicerack.exceptions import SpicerackError
from tests.integration.servers import free_port


def _response(method: str, url: str, status: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.request = requests.Request(method, url).prepare()
    return response


@pytest.fixture
def closed_url() -> str:
    """A loopback URL where nothing listens: any request sent there fails at once."""
    return f"http://127.0.0.1:{free_port()}/api"


def test_response_error_message() -> None:
    error = APIClientResponseError(_response("post", "http://api.example.org/x", 409))

    assert str(error) == "POST http://api.example.org/x returned HTTP 409"
    assert error.response.status_code == 409
    assert isinstance(error, APIClientError)
    assert isinstance(error, SpicerackError)


def test_response_error_message_with_details() -> None:
    error = APIClientResponseError(_response("get", "http://api.example.org/x", 500), "server on fire")

    assert str(error) == "GET http://api.example.org/x returned HTTP 500 server on fire"


@pytest.mark.parametrize("uri", ["items", "", "http://other.example.org/items"])
def test_uri_must_start_with_a_slash(uri: str) -> None:
    client = APIClient("http://api.example.org", requests.Session(), dry_run=False)

    with pytest.raises(APIClientError, match="it must start with a /"):
        client.request("get", uri)


def test_http_session_property() -> None:
    session = requests.Session()

    assert APIClient("http://api.example.org", session).http_session is session


def test_dry_run_is_the_default(closed_url: str) -> None:
    response = APIClient(closed_url, requests.Session()).request("delete", "/item/1")

    assert response.status_code == 200


def test_dry_run_changes_are_not_sent(closed_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="spicerack.apiclient")
    client = APIClient(closed_url, requests.Session(), dry_run=True)

    response = client.request("post", "/items", json={"a": 1})

    assert response.status_code == 200
    assert response.ok
    assert f"Would have called post on {closed_url}/items" in caplog.text


def test_dry_run_read_failure_is_logged(closed_url: str, caplog: pytest.LogCaptureFixture) -> None:
    client = APIClient(closed_url, requests.Session(), dry_run=True)

    response = client.request("get", "/items")

    assert response.status_code == 200
    assert f"Failed to perform GET request to {closed_url}/items" in caplog.text


def test_failure_raises_a_one_line_error(closed_url: str) -> None:
    client = APIClient(closed_url, requests.Session(), dry_run=False)

    with pytest.raises(APIClientError, match=f"Failed to perform PUT request to {closed_url}/items: ") as error:
        client.request("put", "/items")

    assert "\n" not in str(error.value)
    assert isinstance(error.value.__cause__, requests.ConnectionError)
