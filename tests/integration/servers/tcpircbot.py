"""A tcpircbot-like relay in a thread on loopback: it collects the lines it receives, one connection at a time.

Like the real tcpircbot it takes UTF-8 lines over plain TCP; each received line is recorded (and handed to an
optional ``forward`` callable, e.g. a bot posting it to an IRC channel). Each connection's raw bytes are recorded
too, so tests can check what went on the wire. It can also misbehave: accept and never read, or accept and
close at once.
"""

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.integration.servers import free_port
from tests.integration.servers._base import DaemonThreadingTCPServer, ThreadedServer, reset_around, serve

__all__ = ["TcpIrcBotRelay", "refused_relay_port", "tcpircbot_relay", "tcpircbot_relay_session"]

NORMAL = "normal"
NEVER_READ = "never-read"
CLOSE_AT_ONCE = "close-at-once"


class _Server(DaemonThreadingTCPServer):
    """Handles each connection in its own thread, numbering them in the order they were accepted."""

    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[socketserver.BaseRequestHandler]) -> None:
        super().__init__(address, handler)
        self.accepted = 0
        self.sequence: dict[socket.socket, int] = {}

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        sock, address = super().get_request()
        self.sequence[sock] = self.accepted
        self.accepted += 1
        return sock, address


class TcpIrcBotRelay(ThreadedServer[_Server]):
    """A relay on 127.0.0.1 recording the lines (and raw connections) it receives."""

    def __init__(self, forward: Callable[[str], None] | None = None) -> None:
        """Bind to a free loopback port; :py:meth:`start` serves in a background thread."""
        self.forward = forward
        self.mode = NORMAL
        self.lines: list[str] = []
        self.connections: list[bytes] = []
        self._lock = threading.Condition()
        self._published = 0  # Connections are published in the order they were accepted, as one relay would
        super().__init__(_handler_for(self), "tcpircbot-relay", _Server)  # _release wakes up NEVER_READ connections

    @property
    def host(self) -> str:
        """The address the relay listens on."""
        return str(self._server.server_address[0])

    def reset(self, mode: str = NORMAL) -> None:
        """Forget what was received, release held connections and behave as ``mode`` from now on."""
        with self._lock:
            super().reset()
            self.lines.clear()
            self.connections.clear()
            self.mode = mode

    def wait_for_lines(self, count: int, timeout: float = 15.0) -> list[str]:
        """Return the received lines once there are at least ``count`` (bounded poll), else what arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.lines) >= count:
                    return list(self.lines)
            time.sleep(0.02)
        with self._lock:
            return list(self.lines)

    def _receive(self, sock: socket.socket) -> None:
        with self._lock:
            mode, release = self.mode, self._release
            number = self._server.sequence.pop(sock)
        data = b""
        try:
            data = self._read(sock, mode, release)
        finally:
            self._publish(number, data, recorded=mode == NORMAL)

    @staticmethod
    def _read(sock: socket.socket, mode: str, release: threading.Event) -> bytes:
        if mode == CLOSE_AT_ONCE:
            return b""
        if mode == NEVER_READ:
            release.wait(30)
            return b""
        sock.settimeout(10)
        data = bytearray()
        while chunk := sock.recv(4096):
            data += chunk
        return bytes(data)

    def _publish(self, number: int, data: bytes, *, recorded: bool) -> None:
        """Record (and forward) a connection's lines once the connections accepted before it are done."""
        with self._lock:
            self._lock.wait_for(lambda: self._published >= number, timeout=10)
            if recorded:
                lines = [line.decode("utf-8", "replace") for line in data.split(b"\n") if line]
                self.connections.append(data)
                self.lines.extend(lines)
                if self.forward is not None:
                    for line in lines:
                        self.forward(line)
            self._published = max(self._published, number + 1)
            self._lock.notify_all()


def _handler_for(relay: TcpIrcBotRelay) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with contextlib.suppress(OSError):
                relay._receive(self.request)

    return Handler


@pytest.fixture(scope="session")
def tcpircbot_relay_session() -> Iterator[TcpIrcBotRelay]:
    """A relay shared by the session; use :py:func:`tcpircbot_relay` to get it reset."""
    yield from serve(TcpIrcBotRelay())


@pytest.fixture
def tcpircbot_relay(tcpircbot_relay_session: TcpIrcBotRelay) -> Iterator[TcpIrcBotRelay]:
    """The session's relay, emptied and in normal mode; the mode can be changed with ``reset(mode)``."""
    yield from reset_around(tcpircbot_relay_session)


@pytest.fixture
def refused_relay_port() -> int:
    """A loopback port where nothing listens: connections are refused."""
    return free_port()
