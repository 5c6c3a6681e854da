"""Debmonitor against a real HTTPS server on loopback that requires a client certificate of a throwaway CA."""

import logging
from pathlib import Path

import pytest
import requests

from spicerack import Spicerack
from spicerack.debmonitor import Debmonitor, DebmonitorError
from tests.integration.servers.https import CLIENT_COMMON_NAME, HTTPSTestServer, TLSFiles

pytestmark = pytest.mark.integration

HOST = "decommissioned1001.eqiad.wmnet"
HOST_PATH = f"/hosts/{HOST}"


@pytest.fixture(autouse=True)
def trust_test_ca(tls_files: TLSFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make requests verify the server's certificate against the throwaway CA, as it would the system bundle."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_files.ca_cert))


def make_debmonitor(server: HTTPSTestServer, tls: TLSFiles, *, dry_run: bool = False) -> Debmonitor:
    return Debmonitor(server.host, str(tls.client_cert), str(tls.client_key), dry_run=dry_run)


def write_config(path: Path, server: HTTPSTestServer, tls: TLSFiles) -> Path:
    path.write_text(f"[DEFAULT]\nserver={server.host}\ncert={tls.client_cert}\nkey={tls.client_key}\nport=443\n")
    return path


def test_server_refuses_clients_without_a_certificate(https_server: HTTPSTestServer, tls_files: TLSFiles) -> None:
    with pytest.raises(requests.exceptions.RequestException):
        requests.delete(f"{https_server.url}{HOST_PATH}", verify=str(tls_files.ca_cert), timeout=5)

    assert https_server.requests == []


def test_host_delete_sends_delete_with_the_client_certificate(
    https_server: HTTPSTestServer, tls_files: TLSFiles, caplog: pytest.LogCaptureFixture
) -> None:
    https_server.script(HOST_PATH, 204)
    caplog.set_level(logging.INFO, logger="spicerack.debmonitor")

    make_debmonitor(https_server, tls_files).host_delete(HOST)

    (request,) = https_server.requests_to(HOST_PATH)
    assert request.method == "DELETE"
    assert "spicerack.debmonitor.Debmonitor" in request.headers["User-Agent"]
    assert https_server.client_common_names == [CLIENT_COMMON_NAME]
    assert f"Removed host {HOST} from Debmonitor" in caplog.text


def test_host_delete_of_a_missing_host_only_logs(
    https_server: HTTPSTestServer, tls_files: TLSFiles, caplog: pytest.LogCaptureFixture
) -> None:
    https_server.script(HOST_PATH, 404)
    caplog.set_level(logging.INFO, logger="spicerack.debmonitor")

    make_debmonitor(https_server, tls_files).host_delete(HOST)

    assert len(https_server.requests_to(HOST_PATH)) == 1
    assert f"Host {HOST} already missing on Debmonitor" in caplog.text


@pytest.mark.parametrize(("status", "reason"), [(403, "Forbidden"), (400, "Bad Request"), (200, "OK")])
def test_host_delete_raises_on_other_statuses(
    https_server: HTTPSTestServer, tls_files: TLSFiles, status: int, reason: str
) -> None:
    https_server.script(HOST_PATH, status, body={"detail": "multi\nline"})

    with pytest.raises(
        DebmonitorError, match=f"^Unable to remove host {HOST} from Debmonitor, got: {status} {reason}$"
    ):
        make_debmonitor(https_server, tls_files).host_delete(HOST)


def test_host_delete_in_dry_run_sends_nothing(
    https_server: HTTPSTestServer, tls_files: TLSFiles, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="spicerack.debmonitor")

    make_debmonitor(https_server, tls_files, dry_run=True).host_delete(HOST)

    assert https_server.requests == []
    assert f"Would remove host {HOST} from Debmonitor (DRY-RUN)" in caplog.text


def test_host_delete_with_a_missing_certificate_file_is_a_one_line_error(
    https_server: HTTPSTestServer, tls_files: TLSFiles, tmp_path: Path
) -> None:
    debmonitor = Debmonitor(https_server.host, str(tmp_path / "missing.pem"), str(tls_files.client_key), dry_run=False)

    with pytest.raises(DebmonitorError, match=f"^Unable to remove host {HOST} from Debmonitor: [^\n]+$"):
        debmonitor.host_delete(HOST)

    assert https_server.requests == []


def test_accessor_reads_the_ini_file(https_server: HTTPSTestServer, tls_files: TLSFiles, tmp_path: Path) -> None:
    https_server.script(HOST_PATH, 204)
    config = write_config(tmp_path / "debmonitor.conf", https_server, tls_files)

    Spicerack(dry_run=False, debmonitor_config=str(config)).debmonitor().host_delete(HOST)

    assert [request.method for request in https_server.requests_to(HOST_PATH)] == ["DELETE"]
    assert https_server.client_common_names == [CLIENT_COMMON_NAME]


def test_accessor_in_dry_run_sends_nothing(https_server: HTTPSTestServer, tls_files: TLSFiles, tmp_path: Path) -> None:
    config = write_config(tmp_path / "debmonitor.conf", https_server, tls_files)

    Spicerack(dry_run=True, debmonitor_config=str(config)).debmonitor().host_delete(HOST)

    assert https_server.requests == []
