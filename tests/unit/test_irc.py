"""Unit tests of the IRC relay's pure logic: one-line messages, cutting, formatting and the logging wiring."""

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from wmflib.interactive import notify_logger

from spicerack import _log, irc

HOST = "cumin1001"
USER = "operator"


class RecordingRelay(irc.TcpIrcRelay):
    """A relay that records the lines instead of sending them (no thread, no socket)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.closed = 0

    def send(self, line: str) -> None:
        self.lines.append(line)

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def relay() -> RecordingRelay:
    return RecordingRelay()


@pytest.fixture
def sal_logger(relay: RecordingRelay) -> Iterator[logging.Logger]:
    logger = logging.getLogger("test_irc_sal")
    handler = irc.SALRelayHandler(relay, USER, hostname=HOST)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger
    logger.removeHandler(handler)


def _remove_handlers() -> None:
    """Detach and close what setup_logging() installed, as a new process would start without them."""
    for logger in (_log.root_logger, _log.irc_logger, _log.sal_logger, notify_logger):
        for handler in list(logger.handlers):
            if not isinstance(handler, logging.NullHandler):
                logger.removeHandler(handler)
                handler.close()


@pytest.fixture
def clean_logging() -> Iterator[None]:
    yield
    _remove_handlers()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain message", "plain message"),
        ("first\r\nQUIT :bye", "first QUIT :bye"),
        ("a\nb\rc", "a b c"),
        ("tab\there", "tab here"),
        ("nul\x00byte", "nul byte"),
        ("\x02bold\x02 \x0304red\x03 \x1funder\x1f \x0freset", "bold   04red   under   reset"),
        ("line\u2028separator\u2029paragraph\x85next", "line separator paragraph next"),
        ("del\x7fchar", "del char"),
        ("\r\n  trimmed \r\n", "trimmed"),
        ("lone \udcff surrogate", "lone ? surrogate"),
        ("unicode stays: é ✓ 日本", "unicode stays: é ✓ 日本"),
    ],
)
def test_one_line(text: str, expected: str) -> None:
    """Line breaks and control characters become spaces; text is otherwise kept."""
    assert irc.one_line(text) == expected


def test_cut_to_bytes_short_text_unchanged() -> None:
    """A text within the limit is returned as it is."""
    assert irc.cut_to_bytes("x" * 10, 10) == "x" * 10


def test_cut_to_bytes_marks_the_cut() -> None:
    """A text over the limit is cut to the limit, the mark included."""
    cut = irc.cut_to_bytes("x" * 50, 20)
    assert cut == "x" * 17 + irc.TRUNCATION_MARK
    assert len(cut.encode()) == 20


@pytest.mark.parametrize("char", ["é", "✓", "😀"])
def test_cut_to_bytes_on_utf8_boundary(char: str) -> None:
    """Multi-byte characters are never split: the result is valid UTF-8 within the limit."""
    for limit in range(10, 20):
        cut = irc.cut_to_bytes(char * 100, limit)
        data = cut.encode("utf-8")
        assert len(data) <= limit
        assert data.decode("utf-8") == cut
        assert cut.endswith(irc.TRUNCATION_MARK)
        assert set(cut.removesuffix(irc.TRUNCATION_MARK)) == {char}


def test_relay_line_plain_and_sal() -> None:
    """Plain lines are ``user@host message``, SAL lines get the ``!log`` command first."""
    assert irc.relay_line("hello", USER, HOST) == f"{USER}@{HOST} hello"
    assert irc.relay_line("hello", USER, HOST, irc.SAL_COMMAND) == f"!log {USER}@{HOST} hello"


def test_relay_line_caps_the_whole_line() -> None:
    """The prefix counts toward the limit and is kept."""
    line = irc.relay_line("ü" * 1000, USER, HOST, irc.SAL_COMMAND)
    assert len(line.encode()) <= irc.MAX_LINE_BYTES
    assert line.startswith(f"!log {USER}@{HOST} ü")
    assert line.endswith(irc.TRUNCATION_MARK)


def test_handler_sends_one_sanitised_line(relay: RecordingRelay, sal_logger: logging.Logger) -> None:
    """A multi-line message with arguments becomes one SAL line."""
    sal_logger.info("Depooled %s\r\nQUIT :%s", "host1", "bye")
    assert relay.lines == [f"!log {USER}@{HOST} Depooled host1 QUIT :bye"]


def test_handler_ignores_lower_levels(relay: RecordingRelay, sal_logger: logging.Logger) -> None:
    """DEBUG records don't go to IRC."""
    sal_logger.setLevel(logging.DEBUG)
    sal_logger.debug("not for IRC")
    assert relay.lines == []


def test_handler_leaves_out_the_traceback(relay: RecordingRelay, sal_logger: logging.Logger) -> None:
    """An exception's traceback stays in the log files, only the message goes to IRC."""
    try:
        raise ValueError("boom")
    except ValueError:
        sal_logger.exception("it failed")
    assert relay.lines == [f"!log {USER}@{HOST} it failed"]


def test_handler_bad_record_is_not_a_traceback(relay: RecordingRelay, capsys: pytest.CaptureFixture[str]) -> None:
    """A message that can't be formatted is skipped without printing a traceback."""
    handler = irc.SALRelayHandler(relay, USER, hostname=HOST)
    handler.handle(logging.LogRecord("n", logging.INFO, __file__, 1, "two %s %s", ("one",), None))
    assert relay.lines == []
    assert "Traceback" not in capsys.readouterr().err


def test_handler_custom_format(relay: RecordingRelay) -> None:
    """A format string (as for the prompt notifications) is applied before the ``user@host`` prefix."""
    handler = irc.IRCRelayHandler(relay, USER, hostname=HOST, fmt="reboot (PID %(process)d) %(message)s")
    record = logging.LogRecord("n", logging.WARNING, __file__, 1, "is awaiting input", None, None)
    handler.handle(record)
    assert relay.lines == [f"{USER}@{HOST} reboot (PID {record.process}) is awaiting input"]


def test_handler_close_closes_the_relay(relay: RecordingRelay) -> None:
    """Closing the handler flushes and closes its relay."""
    irc.IRCRelayHandler(relay, USER, hostname=HOST).close()
    assert relay.closed == 1


@pytest.mark.parametrize(("host", "port"), [("", 1234), ("relay", 0), ("relay", 70000)])
def test_relay_invalid_settings(host: str, port: int) -> None:
    """An empty host or a port out of range is a clear error."""
    with pytest.raises(irc.IRCRelayError, match="tcpircbot"):
        irc.TcpIrcRelay(host, port)


def _relay_handlers(logger: logging.Logger) -> list[irc.IRCRelayHandler]:
    return [handler for handler in logger.handlers if isinstance(handler, irc.IRCRelayHandler)]


@pytest.mark.usefixtures("clean_logging")
def test_setup_logging_dry_run_has_no_irc(tmp_path: Path) -> None:
    """In dry-run nothing is wired to IRC, even with a relay and notifications configured."""
    _log.setup_logging(tmp_path, "task", USER, dry_run=True, host="127.0.0.1", port=9, notify_logger_enabled=True)
    for logger in (_log.irc_logger, _log.sal_logger, notify_logger):
        assert _relay_handlers(logger) == []


@pytest.mark.usefixtures("clean_logging")
@pytest.mark.parametrize("notify", [True, False])
def test_setup_logging_wires_one_shared_relay(tmp_path: Path, notify: bool) -> None:
    """IRC, SAL (and with notifications, wmflib's notify logger) share one relay."""
    _log.setup_logging(tmp_path, "task", USER, dry_run=False, host="127.0.0.1", port=9, notify_logger_enabled=notify)
    (irc_handler,) = _relay_handlers(_log.irc_logger)
    (sal_handler,) = _relay_handlers(_log.sal_logger)
    assert type(irc_handler) is irc.IRCRelayHandler
    assert type(sal_handler) is irc.SALRelayHandler
    assert sal_handler.relay is irc_handler.relay
    notify_handlers = _relay_handlers(notify_logger)
    assert len(notify_handlers) == int(notify)
    if notify:
        assert notify_handlers[0].relay is irc_handler.relay
        assert notify_handlers[0].formatter is not None
        assert notify_handlers[0].formatter._fmt == "task (PID %(process)d) %(message)s"

    _remove_handlers()
    for logger in (_log.irc_logger, _log.sal_logger, notify_logger):
        assert _relay_handlers(logger) == []


def test_spicerack_import_stays_light() -> None:
    """Importing spicerack and its logging module doesn't load the IRC module: it comes with a configured relay."""
    code = "import sys, spicerack, spicerack._log; print('spicerack.irc' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
