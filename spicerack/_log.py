"""Logging of cookbook runs: per-cookbook log files, the console, and the IRC/SAL loggers."""

import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path

from spicerack import irc_logger_name, sal_logger_name

root_logger = logging.getLogger()
irc_logger = logging.getLogger(irc_logger_name)
sal_logger = logging.getLogger(sal_logger_name)

LOG_FILE_MAX_BYTES = 64 * 1024 * 1024
"""int: size at which a log file is rotated; rotated files are kept (renamed with a timestamp), never deleted."""
_NOISY_LOGGERS = ("urllib3", "requests", "ClusterShell", "elasticsearch")
_installed_handlers: list[tuple[logging.Logger, logging.Handler]] = []


class FilterOutCumin(logging.Filter):
    """Keep cumin's own log records out of the console: cumin prints its progress there by itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Return False for records from cumin's loggers."""
        return not (record.name == "cumin" or record.name.startswith("cumin."))


class ReadableLogRecord(logging.LogRecord):
    """A log record whose message stays readable when its arguments don't fit its format string.

    With the standard record, such a call prints a logging traceback on stderr and its message reaches no file
    and no IRC line; this one keeps the format string and the arguments instead.
    """

    def getMessage(self) -> str:  # noqa: N802 - logging's API name
        """Return the formatted message, or the format string with its arguments when they don't fit."""
        try:
            return super().getMessage()
        except (TypeError, ValueError, KeyError) as e:
            return f"{self.msg!s} (unformattable arguments {self.args!r}: {e})"


class KeptRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A size-rotated log file whose rotated copies are kept for audit: ``name.log.<timestamp>``."""

    def __init__(self, filename: Path, max_bytes: int = LOG_FILE_MAX_BYTES) -> None:
        """Open (append) the log file, rotating it when it grows past ``max_bytes``."""
        super().__init__(filename, maxBytes=max_bytes, backupCount=1, encoding="utf-8")

    def doRollover(self) -> None:  # noqa: N802 - logging's API name
        """Rename the current file with a timestamp suffix instead of numbering and deleting old copies."""
        if self.stream:
            self.stream.close()
            self.stream = None
        base = Path(self.baseFilename)
        if base.exists():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            target = base.with_name(f"{base.name}.{stamp}")
            counter = 1
            while target.exists():
                target = base.with_name(f"{base.name}.{stamp}.{counter}")
                counter += 1
            os.replace(base, target)
        self.stream = self._open()


class ColoredConsoleFormatter(logging.Formatter):
    """Console formatter that colours a message by its level when the console is a terminal."""

    def __init__(self, fmt: str, use_color: bool) -> None:
        """Set up the format and whether to colour."""
        super().__init__(fmt=fmt)
        self._colors: dict[int, str] = {}
        self._reset = ""
        if use_color:
            import colorama  # noqa: PLC0415 - only needed for a terminal

            self._colors = {
                logging.DEBUG: colorama.Style.DIM,
                logging.WARNING: colorama.Fore.YELLOW,
                logging.ERROR: colorama.Fore.RED,
                logging.CRITICAL: colorama.Style.BRIGHT + colorama.Fore.RED,
            }
            self._reset = colorama.Style.RESET_ALL

    def format(self, record: logging.LogRecord) -> str:
        """Format the record, wrapped in its level's colour if any."""
        message = super().format(record)
        color = self._colors.get(record.levelno, "")
        return f"{color}{message}{self._reset}" if color else message


def setup_logging(
    base_path: Path,
    name: str,
    user: str,
    *,
    dry_run: bool = True,
    verbose: bool = False,
    host: str | None = None,
    port: int = 0,
    notify_logger_enabled: bool = False,
) -> None:
    """Send the log records of a run to its log files and to the console.

    Arguments:
        base_path: directory of the log files (created if missing).
        name: base name of the log files: ``<name>.log`` (INFO and up) and ``<name>-extended.log`` (DEBUG).
        user: the operator, written in every line.
        dry_run: whether this is a DRY-RUN: lines are marked and nothing goes to IRC.
        verbose: show DEBUG on the console too.
        host: the tcpircbot relay host for IRC and SAL messages, if any.
        port: the tcpircbot relay port.
        notify_logger_enabled: also announce on IRC an operator prompt left unanswered (wmflib's notify logger).

    """
    remove_handlers()
    base_path.mkdir(mode=0o755, parents=True, exist_ok=True)
    prefix = "DRY-RUN " if dry_run else ""
    line_start = f"%(asctime)s {prefix}{user} %(process)d"

    main_file = KeptRotatingFileHandler(base_path / f"{name}.log")
    main_file.setFormatter(logging.Formatter(fmt=f"{line_start} [%(levelname)s] %(message)s"))
    main_file.setLevel(logging.INFO)

    extended_file = KeptRotatingFileHandler(base_path / f"{name}-extended.log")
    extended_file.setFormatter(
        logging.Formatter(
            fmt=f"{line_start} [%(levelname)s %(filename)s:%(lineno)s in %(funcName)s] %(message)s",
        )
    )
    extended_file.setLevel(logging.DEBUG)

    console = logging.StreamHandler(sys.stderr)
    console_format = "DRY-RUN: %(message)s" if dry_run else "%(message)s"
    console.setFormatter(ColoredConsoleFormatter(console_format, use_color=_is_terminal(sys.stderr)))
    console.setLevel(logging.DEBUG if verbose else logging.INFO)
    console.addFilter(FilterOutCumin())

    for handler in (main_file, extended_file, console):
        _add_handler(root_logger, handler)
    root_logger.setLevel(logging.DEBUG)

    if not dry_run and host and port > 0:
        _setup_irc(host, port, user, name, notify_logger_enabled=notify_logger_enabled)

    for noisy in _NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _setup_irc(host: str, port: int, user: str, name: str, *, notify_logger_enabled: bool = False) -> None:
    """Relay the IRC and SAL loggers (and optionally wmflib's prompt notifications) to the tcpircbot at host:port.

    All share one relay: one sender thread keeps the messages in order and the failures are reported once.
    """
    from wmflib.interactive import notify_logger  # noqa: PLC0415 - only when IRC is configured

    from spicerack.irc import IRCRelayHandler, SALRelayHandler, TcpIrcRelay  # noqa: PLC0415 - same

    relay = TcpIrcRelay(host, port)
    _add_handler(irc_logger, IRCRelayHandler(relay, user))
    _add_handler(sal_logger, SALRelayHandler(relay, user))
    irc_logger.setLevel(logging.INFO)
    sal_logger.setLevel(logging.INFO)
    if notify_logger_enabled:
        notify_format = f"{name.replace('%', '%%')} (PID %(process)d) %(message)s"
        _add_handler(notify_logger, IRCRelayHandler(relay, user, fmt=notify_format))
        notify_logger.setLevel(logging.INFO)


def _add_handler(logger: logging.Logger, handler: logging.Handler) -> None:
    logging.setLogRecordFactory(ReadableLogRecord)
    logger.addHandler(handler)
    _installed_handlers.append((logger, handler))


def remove_handlers() -> None:
    """Detach and close every handler installed by :py:func:`setup_logging` (e.g. before a new setup)."""
    while _installed_handlers:
        logger, handler = _installed_handlers.pop()
        logger.removeHandler(handler)
        handler.close()


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def log_task_start(message: str, *, skip_sal: bool = False) -> None:
    """Log the start of a run: to SAL, or only to the log files when ``skip_sal`` is set."""
    logger = root_logger if skip_sal else sal_logger
    logger.info("START - %s", message)


def log_task_end(status: str, message: str, *, start_skipped: bool = False) -> None:
    """Log the end of a run with its status: ``END (status) - message``, or ``DONE (...)`` if START was skipped."""
    word = "DONE" if start_skipped else "END"
    sal_logger.info("%s (%s) - %s", word, status, message)
