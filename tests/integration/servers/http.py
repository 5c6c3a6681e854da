"""A scriptable HTTP server in a thread on loopback: it records every request and answers as each test scripts it.

It also works as a plain HTTP proxy: a request sent through it arrives with an absolute URL as its path, recorded
as it is (``RecordedRequest.path``), so tests can check that a client went through the proxy.
"""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = ["HTTPTestServer", "RecordedRequest", "ScriptedAnswer", "http_server", "http_test_server_session"]


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """Return the body decoded as JSON."""
        return json.loads(self.body)


@dataclass
class ScriptedAnswer:
    """How to answer the requests to one path: ``statuses`` in turn (the last one repeats), with a body."""

    statuses: list[int]
    body: Any = None
    delay: float = 0.0
    served: int = field(default=0)

    def next_status(self) -> int:
        """Return the status of the next answer."""
        status = self.statuses[min(self.served, len(self.statuses) - 1)]
        self.served += 1
        return status


class HTTPTestServer:
    """An HTTP server on 127.0.0.1 with scripted answers; unscripted paths answer 200 with ``{"path": ...}``."""

    def __init__(self) -> None:
        """Bind to a free loopback port; :py:meth:`start` serves in a background thread."""
        self.requests: list[RecordedRequest] = []
        self._answers: dict[str, ScriptedAnswer] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()  # Set to wake up delayed answers at reset or shutdown
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-test-server", daemon=True)

    @property
    def url(self) -> str:
        """The base URL of the server, without trailing slash."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def reset(self) -> None:
        """Forget the recorded requests and scripted answers, releasing any delayed answer."""
        self._release.set()
        with self._lock:
            self.requests.clear()
            self._answers.clear()
            self._release = threading.Event()

    def script(self, path: str, *statuses: int, body: Any = None, delay: float = 0.0) -> None:
        """Answer the requests to ``path`` (the request line's path) with ``statuses`` in turn.

        Arguments:
            path: the path as received: ``/api/x`` or, for requests through the proxy, ``http://host/api/x``.
            *statuses: the status codes of the successive answers; the last one repeats.
            body: the JSON body of the answers.
            delay: seconds to wait before answering (to trigger client timeouts).

        """
        with self._lock:
            self._answers[path] = ScriptedAnswer(list(statuses) or [200], body, delay)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """Return the requests received for ``path``."""
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def _answer(self, request: RecordedRequest) -> tuple[int, Any, float, threading.Event]:
        """Record a request and return the status, body and delay to answer it with."""
        with self._lock:
            self.requests.append(request)
            scripted = self._answers.get(request.path)
            if scripted is None:
                return 200, {"path": request.path}, 0.0, self._release
            return scripted.next_status(), scripted.body, scripted.delay, self._release


def _handler_for(server: HTTPTestServer) -> type[BaseHTTPRequestHandler]:
    """Return a request handler class bound to ``server``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = RecordedRequest(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
            status, body, delay, release = server._answer(request)
            if delay:
                release.wait(delay)
            payload = b"" if body is None else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            except OSError:  # The client gave up waiting (timeout tests)
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle  # noqa: N815

    return Handler


@pytest.fixture(scope="session")
def http_test_server_session() -> Iterator[HTTPTestServer]:
    """One scriptable HTTP server for the whole session."""
    server = HTTPTestServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def http_server(http_test_server_session: HTTPTestServer) -> Iterator[HTTPTestServer]:
    """The session's scriptable HTTP server, with no recorded request nor scripted answer."""
    http_test_server_session.reset()
    yield http_test_server_session
    http_test_server_session.reset()
