"""What the stand-in servers running in a thread of the test process share.

- :py:class:`ThreadedServer`: a socket server on a free port of 127.0.0.1 served by a daemon thread, with the event
  that answers held back on purpose wait on (set at :py:meth:`~ThreadedServer.reset` and at
  :py:meth:`~ThreadedServer.stop`); :py:class:`ThreadedHTTPServer` adds its URL.
- :py:class:`StandInHandler`: the base of their HTTP request handlers (HTTP/1.1, quiet, one-call answers).
- :py:func:`serve` and :py:func:`reset_around`: the bodies of the usual fixture pair, a session-scoped one serving
  the server and a function-scoped one handing it over reset before and after each test.
"""

import json
import socketserver
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

__all__ = [
    "DaemonThreadingTCPServer",
    "StandInHandler",
    "ThreadedHTTPServer",
    "ThreadedServer",
    "reset_around",
    "serve",
]


class DaemonThreadingTCPServer(socketserver.ThreadingTCPServer):
    """A TCP server handling each connection in a daemon thread (as ``ThreadingHTTPServer`` does)."""

    daemon_threads = True


SocketServerT = TypeVar("SocketServerT", bound=socketserver.TCPServer)


class ThreadedServer(Generic[SocketServerT]):
    """A ``socketserver`` server on a free port of 127.0.0.1, served by a daemon thread once started."""

    def __init__(
        self, handler: type[socketserver.BaseRequestHandler], name: str, server_class: type[SocketServerT]
    ) -> None:
        """Bind to a free loopback port; :py:meth:`start` serves in a background thread.

        Arguments:
            handler: the request handler class.
            name: the name of the serving thread.
            server_class: the server class, threading with daemon threads (e.g. :py:class:`DaemonThreadingTCPServer`).

        """
        self._release = threading.Event()
        self._server = server_class(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Release held answers, stop serving and close the socket."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def reset(self) -> None:
        """Release the answers held until now; subclasses also forget their state (call it under their lock)."""
        self._release.set()
        self._release = threading.Event()


class ThreadedHTTPServer(ThreadedServer[ThreadingHTTPServer]):
    """A :py:class:`ThreadedServer` speaking HTTP (``scheme`` says which, for :py:attr:`url`)."""

    scheme = "http"

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        """Bind an HTTP server to a free loopback port; :py:meth:`start` serves in a background thread.

        Arguments:
            handler: the request handler class.
            name: the name of the serving thread.

        """
        super().__init__(handler, name, ThreadingHTTPServer)

    @property
    def url(self) -> str:
        """The base URL of the server, without trailing slash."""
        host = self._server.server_address[0]
        return f"{self.scheme}://{host!s}:{self.port}"


class StandInHandler(BaseHTTPRequestHandler):
    """An HTTP/1.1 request handler that logs nothing and sends each answer in one call."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""

    def read_body(self) -> bytes:
        """Read and return the request's body (``Content-Length`` bytes)."""
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send_answer(
        self,
        status: int,
        payload: bytes,
        content_type: str = "application/json",
        *,
        headers: Mapping[str, str] | None = None,
        with_body: bool = True,
    ) -> None:
        """Send a whole answer; if the client gave up waiting (timeout tests), just close the connection.

        Arguments:
            status: the HTTP status.
            payload: the body.
            content_type: its content type.
            headers: extra headers.
            with_body: whether to send the body, or only announce its length (answers to HEAD).

        """
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if with_body:
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def send_json(
        self,
        status: int,
        body: Any,
        content_type: str = "application/json",
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send ``body`` encoded as JSON (see :py:meth:`send_answer`)."""
        self.send_answer(status, json.dumps(body).encode(), content_type, headers=headers)


ServerT = TypeVar("ServerT", bound=ThreadedServer[Any])


def serve(server: ServerT) -> Iterator[ServerT]:
    """Body of a session fixture: start the server, hand it over, stop it at the end (``yield from serve(...)``)."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


def reset_around(server: ServerT) -> Iterator[ServerT]:
    """Body of a test fixture: hand over the session's server reset, reset it again after the test."""
    server.reset()
    yield server
    server.reset()
