"""The scriptable HTTP server of ``http.py`` behind TLS, requiring a client certificate signed by a throwaway CA.

A session fixture makes the CA, the server certificate (for 127.0.0.1 and localhost) and a client certificate with the
``openssl`` command in a temp dir. The server records the subject CN of the client certificate of every request.
"""

import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.servers import require_binary
from tests.integration.servers._base import StandInHandler, reset_around, serve
from tests.integration.servers.http import HTTPTestServer, _handler_for

__all__ = ["HTTPSTestServer", "TLSFiles", "https_server", "https_test_server_session", "tls_files"]

CLIENT_COMMON_NAME = "cumin1001.example.org"
"""The subject CN of the client certificate the fixtures make."""


@dataclass(frozen=True)
class TLSFiles:
    """PEM files of a throwaway PKI: its CA, a server certificate and a client certificate, each with its key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


class HTTPSTestServer(HTTPTestServer):
    """The scriptable server on 127.0.0.1, speaking TLS and refusing clients without a certificate of the CA."""

    scheme = "https"

    def __init__(self, tls: TLSFiles) -> None:
        """Bind to a free loopback port and wrap the listening socket in TLS.

        Arguments:
            tls: the certificates: the server's own and the CA client certificates must be signed by.

        """
        super().__init__()
        self.client_common_names: list[str] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.server_cert, tls.server_key)
        context.load_verify_locations(tls.ca_cert)
        context.verify_mode = ssl.CERT_REQUIRED
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.RequestHandlerClass = _tls_handler_for(self)

    @property
    def host(self) -> str:
        """The ``host:port`` of the server, as clients taking a host name without scheme want it."""
        return self.url.removeprefix("https://")

    def reset(self) -> None:
        """Forget the recorded requests, client certificates and scripted answers."""
        super().reset()
        self.client_common_names.clear()


def _tls_handler_for(server: HTTPSTestServer) -> type[StandInHandler]:
    """Return the request handler of ``http.py`` that also records the CN of each request's client certificate."""
    base = _handler_for(server)
    lock = threading.Lock()

    class TLSHandler(base):  # type: ignore[valid-type,misc]
        def _handle(self) -> None:
            peer = self.connection.getpeercert() or {}
            names = [value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"]
            with lock:
                server.client_common_names.append(names[0] if names else "")
            super()._handle()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle  # noqa: N815

    return TLSHandler


def _openssl(*args: str | Path, cwd: Path) -> None:
    """Run an openssl command, failing the test with its error output if it fails."""
    openssl = require_binary("openssl")
    result = subprocess.run([openssl, *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _signed_certificate(directory: Path, name: str, subject: str, extensions: str) -> tuple[Path, Path]:
    """Make a key and a certificate signed by the CA of ``directory``, with the given X509v3 extensions."""
    key, csr, cert, ext = (directory / f"{name}.{suffix}" for suffix in ("key", "csr", "pem", "ext"))
    ext.write_text(
        f"{extensions}\nbasicConstraints=critical,CA:FALSE\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", csr, "-subj", subject, cwd=directory)  # fmt: skip
    _openssl("x509", "-req", "-in", csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "30", "-out", cert, "-extfile", ext, cwd=directory)  # fmt: skip
    return cert, key


def make_tls_files(directory: Path) -> TLSFiles:
    """Make a throwaway CA, a server certificate for 127.0.0.1 and localhost and a client certificate."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=Spicerack test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)  # fmt: skip
    server_cert, server_key = _signed_certificate(
        directory,
        "server",
        "/CN=localhost",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature",
    )
    client_cert, client_key = _signed_certificate(
        directory,
        "client",
        f"/CN={CLIENT_COMMON_NAME}",
        "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature",
    )
    return TLSFiles(directory / "ca.pem", server_cert, server_key, client_cert, client_key)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A throwaway CA with a server and a client certificate, for the whole session."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def https_test_server_session(tls_files: TLSFiles) -> Iterator[HTTPSTestServer]:
    """One scriptable HTTPS server requiring client certificates, for the whole session."""
    yield from serve(HTTPSTestServer(tls_files))


@pytest.fixture
def https_server(https_test_server_session: HTTPSTestServer) -> Iterator[HTTPSTestServer]:
    """The session's scriptable HTTPS server, with no recorded request nor scripted answer."""
    yield from reset_around(https_test_server_session)
