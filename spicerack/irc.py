"""IRC and SAL announcements through a tcpircbot relay: one line per message, sent without ever stalling a cookbook.

A tcpircbot relay is a TCP server that posts each line it receives to an IRC channel. Messages are queued and sent
in order by one background thread, a connection per message as tcpircbot expects, each with a bounded
connect/send timeout. A relay that is down, slow or that drops the connection costs the cookbook nothing but one
warning in the log: the messages are in the log files anyway. At exit the queue gets a bounded time to drain.
"""

import contextlib
import logging
import queue
import re
import socket
import threading
import time

from spicerack.exceptions import SpicerackError

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 400
"""Longest line sent to the relay, in UTF-8 bytes, prefix included.

An IRC line is at most 512 bytes, CRLF, command, channel and the relaying bot's ``:nick!user@host`` prefix
included: 400 bytes of text leave room for all of them.
"""
TRUNCATION_MARK = "..."
"""Appended to a message cut to :py:const:`MAX_LINE_BYTES`."""
SEND_TIMEOUT_SECONDS = 2.0
"""Bound on connecting to the relay and on sending one message."""
FLUSH_TIMEOUT_SECONDS = 5.0
"""Bound on the wait for the queued messages to be sent when the relay is closed (at exit)."""
QUEUE_SIZE = 1000
"""Messages waiting to be sent beyond this are dropped (and the drop logged once)."""
SAL_COMMAND = "!log"
"""Prefix that makes the SAL bot record a relayed message."""

_UNSAFE_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_STOP = object()


class IRCRelayError(SpicerackError):
    """Invalid settings for the tcpircbot relay."""


def one_line(text: str) -> str:
    """Return ``text`` as a single line that cannot carry IRC commands or formatting.

    Line breaks and every other control character (IRC colour and formatting codes included) become one space;
    characters that UTF-8 cannot encode (lone surrogates) become ``?``.
    """
    encodable = text.encode("utf-8", "replace").decode("utf-8")
    return _UNSAFE_CHARACTERS.sub(" ", encodable).strip()


def cut_to_bytes(text: str, max_bytes: int = MAX_LINE_BYTES) -> str:
    """Return ``text`` cut to at most ``max_bytes`` UTF-8 bytes on a character boundary, marked when cut."""
    data = text.encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return text
    budget = max(max_bytes - len(TRUNCATION_MARK.encode("utf-8")), 0)
    return data[:budget].decode("utf-8", "ignore") + TRUNCATION_MARK


def relay_line(message: str, username: str, hostname: str, command: str = "") -> str:
    """Return the line to send to the relay: ``[command ]user@host message``, one line, cut to IRC's limit."""
    line = f"{command} {username}@{hostname} {message}".strip()
    return cut_to_bytes(one_line(line))


class TcpIrcRelay:
    """A tcpircbot relay at ``host:port``, fed in order by a background thread; it never blocks its callers."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = SEND_TIMEOUT_SECONDS,
        flush_timeout: float = FLUSH_TIMEOUT_SECONDS,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        """Start the sender thread for the relay.

        Raises:
            spicerack.irc.IRCRelayError: if the host is empty or the port out of range.

        """
        if not host:
            raise IRCRelayError("the tcpircbot host must not be empty")
        if not 0 < port < 65536:
            raise IRCRelayError(f"invalid tcpircbot port {port}: expected 1-65535")
        self.address = (host, port)
        self.timeout = timeout
        self.flush_timeout = flush_timeout
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._warned = False
        self._warn_lock = threading.Lock()
        self._closed = False
        self._abandoned = False
        self._thread = threading.Thread(target=self._deliver_queued, name=f"tcpircbot-{host}:{port}", daemon=True)
        self._thread.start()

    def __str__(self) -> str:
        """The relay's ``host:port``."""
        return f"{self.address[0]}:{self.address[1]}"

    def send(self, line: str) -> None:
        """Queue a line for the relay; it is dropped when the relay is closed or the queue is full."""
        if self._closed:
            return
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self.dropped += 1
            self._warn_once("too many messages waiting for the relay, dropping the new ones")

    def close(self) -> None:
        """Give the queued messages :py:attr:`flush_timeout` seconds to be sent, then stop the sender thread."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + self.flush_timeout
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=self.flush_timeout)
        self._thread.join(max(deadline - time.monotonic(), 0))
        if self._thread.is_alive():
            self._abandoned = True
            unsent = self._queue.qsize()
            self._warn_once(f"gave up after {self.flush_timeout:g}s with {unsent} message(s) not sent")
        if self.failed or self.dropped:
            logger.debug(
                "IRC relay %s: %d messages sent, %d failed, %d dropped", self, self.sent, self.failed, self.dropped
            )

    def _deliver_queued(self) -> None:
        while not self._abandoned:
            line = self._queue.get()
            if line is _STOP or self._abandoned:
                return
            try:
                self._deliver(str(line))
            except OSError as e:
                self.failed += 1
                self._warn_once(f"unable to send: {_describe(e)}")
            else:
                self.sent += 1

    def _deliver(self, line: str) -> None:
        with socket.create_connection(self.address, timeout=self.timeout) as sock:
            sock.settimeout(self.timeout)
            sock.sendall(line.encode("utf-8", "replace") + b"\n")

    def _warn_once(self, problem: str) -> None:
        with self._warn_lock:
            first = not self._warned
            self._warned = True
        level = logging.WARNING if first else logging.DEBUG
        logger.log(level, "IRC relay %s: %s (IRC and SAL messages are still in the log files)", self, problem)


def _describe(error: OSError) -> str:
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    return error.strerror or str(error) or type(error).__name__


class _IRCFormatter(logging.Formatter):
    """Format a record's message without the exception and stack text, which belong to the log files."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the formatted message, ignoring ``exc_info`` and ``stack_info``."""
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        return self.formatMessage(record)


class IRCRelayHandler(logging.Handler):
    """Log handler sending each record to a tcpircbot relay as one line: ``user@host message``."""

    command = ""
    """Written before ``user@host``; empty for plain IRC messages."""

    def __init__(
        self,
        relay: TcpIrcRelay,
        username: str,
        *,
        hostname: str | None = None,
        fmt: str = "%(message)s",
        level: int = logging.INFO,
    ) -> None:
        """Send to ``relay`` the records of ``level`` and up, formatted with ``fmt``, as ``username@hostname``."""
        super().__init__(level)
        self.relay = relay
        self.username = username
        self.hostname = hostname or socket.gethostname()
        self.setFormatter(_IRCFormatter(fmt))

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record's line for the relay."""
        try:
            self.relay.send(relay_line(self.format(record), self.username, self.hostname, self.command))
        except Exception:  # a broken message must not break the cookbook
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's API name
        """Report a record that could not be formatted as one debug line, instead of a traceback on stderr."""
        logger.debug("Unable to format message for IRC from %s:%s", record.pathname, record.lineno)

    def close(self) -> None:
        """Flush (with a bounded wait) and stop the relay."""
        self.relay.close()
        super().close()


class SALRelayHandler(IRCRelayHandler):
    """Log handler sending each record to the Server Admin Log: ``!log user@host message``."""

    command = SAL_COMMAND
