"""A scriptable HTTP server in a thread on loopback: it records every request and answers as each test scripts it.

It also works as a plain HTTP proxy: a request sent through it arrives with an absolute URL as its path, recorded
as it is (``RecordedRequest.path``), so tests can check that a client went through the proxy.
"""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration.servers._base import StandInHandler, ThreadedHTTPServer, reset_around, serve

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


class HTTPTestServer(ThreadedHTTPServer):
    """An HTTP server on 127.0.0.1 with scripted answers; unscripted paths answer 200 with ``{"path": ...}``."""

    def __init__(self) -> None:
        """Bind to a free loopback port; :py:meth:`start` serves in a background thread."""
        self.requests: list[RecordedRequest] = []
        self._answers: dict[str, ScriptedAnswer] = {}
        self._lock = threading.Lock()
        super().__init__(_handler_for(self), "http-test-server")

    def reset(self) -> None:
        """Forget the recorded requests and scripted answers, releasing any delayed answer."""
        with self._lock:
            super().reset()
            self.requests.clear()
            self._answers.clear()

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


def _handler_for(server: HTTPTestServer) -> type[StandInHandler]:
    """Return a request handler class bound to ``server``."""

    class Handler(StandInHandler):
        def _handle(self) -> None:
            request = RecordedRequest(self.command, self.path, dict(self.headers.items()), self.read_body())
            status, body, delay, release = server._answer(request)
            if delay:
                release.wait(delay)
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_answer(status, payload, with_body=self.command != "HEAD")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle  # noqa: N815

    return Handler


@pytest.fixture(scope="session")
def http_test_server_session() -> Iterator[HTTPTestServer]:
    """One scriptable HTTP server for the whole session."""
    yield from serve(HTTPTestServer())


@pytest.fixture
def http_server(http_test_server_session: HTTPTestServer) -> Iterator[HTTPTestServer]:
    """The session's scriptable HTTP server, with no recorded request nor scripted answer."""
    yield from reset_around(http_test_server_session)
