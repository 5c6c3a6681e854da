"""IRC and SAL announcements through a tcpircbot relay: one line per message, sent without ever stalling a cookbook.

A tcpircbot relay is a TCP server that posts each line it receives to an IRC channel. Messages are queued and sent
in order by one background thread, a connection per message as tcpircbot expects, each with a bounded
connect/send timeout. A relay that is down, slow or that drops the connection costs the cookbook nothing but one
warning in the log: the messages are in the log files anyway.

SAL lines (``!log ...``: the START and END of every run, the audit trail) come first when something must give:

* when too many messages wait, ordinary IRC messages are dropped (the oldest first to make room for a SAL line),
  SAL lines never are (up to :py:const:`SAL_QUEUE_SIZE`);
* at exit, everything queued gets :py:const:`FLUSH_TIMEOUT_SECONDS` to be sent in order; then the ordinary
  messages still waiting are dropped, and the SAL lines get up to :py:const:`SAL_FLUSH_TIMEOUT_SECONDS` from the
  start of the exit, as long as the relay takes them (a failed delivery ends the wait at once).
"""

import collections
import logging
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
"""Bound on the wait for all the queued messages to be sent when the relay is closed (at exit)."""
SAL_FLUSH_TIMEOUT_SECONDS = 30.0
"""Bound, from the start of the close, on the wait for the queued SAL lines (ordinary messages are dropped first)."""
QUEUE_SIZE = 1000
"""Ordinary messages waiting to be sent beyond this are dropped (and the drop logged once)."""
SAL_QUEUE_SIZE = 10000
"""SAL lines waiting to be sent beyond this are dropped: a bound on memory only, never reached by a normal run."""
SAL_COMMAND = "!log"
"""Prefix that makes the SAL bot record a relayed message."""

_UNSAFE_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


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
        sal_flush_timeout: float = SAL_FLUSH_TIMEOUT_SECONDS,
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
        self.sal_flush_timeout = max(sal_flush_timeout, flush_timeout)
        self.queue_size = queue_size
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._pending: collections.deque[str] = collections.deque()
        self._chatter = 0  # How many of the pending lines are not SAL lines
        self._sending: str | None = None
        self._failed_while_closing = False
        self._changed = threading.Condition()
        self._warned = False
        self._warn_lock = threading.Lock()
        self._closed = False
        self._stopping = False
        self._thread = threading.Thread(target=self._deliver_queued, name=f"tcpircbot-{host}:{port}", daemon=True)
        self._thread.start()

    def __str__(self) -> str:
        """The relay's ``host:port``."""
        return f"{self.address[0]}:{self.address[1]}"

    def send(self, line: str) -> None:
        """Queue a line for the relay; dropped when the relay is closed, or when too many wait (SAL lines last)."""
        if self._closed:
            return
        sal = is_sal_line(line)
        with self._changed:
            if sal:
                if len(self._pending) - self._chatter >= SAL_QUEUE_SIZE:
                    self._drop("too many SAL lines waiting for the relay, dropping the new ones")
                    return
                if self._chatter and len(self._pending) >= self.queue_size:
                    self._drop_oldest_chatter()
            elif len(self._pending) >= self.queue_size:
                self._drop("too many messages waiting for the relay, dropping the new ones")
                return
            self._pending.append(line)
            self._chatter += not sal
            self._changed.notify_all()

    def close(self) -> None:
        """Send what is queued within :py:attr:`flush_timeout`, then only the SAL lines within ``sal_flush_timeout``.

        Both bounds count from the start of the close; a delivery failing during the close ends it at once.
        """
        if self._closed:
            return
        self._closed = True
        start = time.monotonic()
        with self._changed:
            drained = self._changed.wait_for(self._idle, timeout=self.flush_timeout)
            if not drained and self._chatter:
                unsent = self._chatter
                self._pending = collections.deque(line for line in self._pending if is_sal_line(line))
                self._chatter = 0
                self.dropped += unsent
                self._warn_once(f"dropped {unsent} IRC message(s) not sent after {self.flush_timeout:g}s at exit")
            if not drained:
                remaining = max(start + self.sal_flush_timeout - time.monotonic(), 0)
                drained = self._changed.wait_for(self._sal_idle, timeout=remaining)
            self._stopping = True
            unsent = len(self._pending) + (self._sending is not None)
            self._changed.notify_all()
        if not drained:
            self._warn_once(f"gave up at exit with {unsent} SAL line(s) not sent")
        if self.failed or self.dropped:
            logger.debug(
                "IRC relay %s: %d messages sent, %d failed, %d dropped", self, self.sent, self.failed, self.dropped
            )

    def _idle(self) -> bool:
        """Whether nothing is left to send, or the relay failed while closing (waiting longer would not help)."""
        return (not self._pending and self._sending is None) or self._failed_while_closing

    def _sal_idle(self) -> bool:
        """Whether no SAL line is left to send (only SAL lines are queued at this point), or the relay failed."""
        sending_sal = self._sending is not None and is_sal_line(self._sending)
        return (not self._pending and not sending_sal) or self._failed_while_closing

    def _drop(self, problem: str) -> None:
        self.dropped += 1
        self._warn_once(problem)

    def _drop_oldest_chatter(self) -> None:
        for index, line in enumerate(self._pending):
            if not is_sal_line(line):
                del self._pending[index]
                self._chatter -= 1
                self._drop("too many messages waiting for the relay, dropping IRC messages to keep the SAL lines")
                return

    def _deliver_queued(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._stopping)
                if self._stopping:
                    return
                line = self._pending.popleft()
                self._chatter -= not is_sal_line(line)
                self._sending = line
                self._changed.notify_all()
            try:
                self._deliver(line)
            except (OSError, UnicodeError) as e:  # UnicodeError: a host name that can't even be looked up
                self.failed += 1
                self._warn_once(f"unable to send: {_describe(e)}")
                failed = True
            else:
                self.sent += 1
                failed = False
            with self._changed:
                self._sending = None
                self._failed_while_closing = self._failed_while_closing or (failed and self._closed)
                self._changed.notify_all()

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


def is_sal_line(line: str) -> bool:
    """Tell whether a relay line is a SAL line (``!log ...``), part of the audit trail."""
    return line.startswith(f"{SAL_COMMAND} ")


def _describe(error: OSError | UnicodeError) -> str:
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


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
