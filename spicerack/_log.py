"""Logging of cookbook runs: the per-cookbook log files, the console, and the IRC/SAL loggers.

Nothing is installed on import: until :py:func:`setup_logging` runs (once the cookbook to run is found), only
Python's last-resort handler prints WARNING and above to stderr, as bare messages.
"""

import functools
import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from spicerack._names import irc_logger_name, sal_logger_name

if TYPE_CHECKING:
    from logging.handlers import RotatingFileHandler

root_logger = logging.getLogger()
irc_logger = logging.getLogger(irc_logger_name)
sal_logger = logging.getLogger(sal_logger_name)

LOG_FILE_MAX_BYTES = 10 * 1024**2
"""Size at which a log file is rotated."""
LOG_FILE_BACKUPS = 500
"""How many rotated copies of each log file are kept (for audit)."""
_NOISY_LOGGERS = ("urllib3", "requests")
FILE_ONLY = {"spicerack_file_only": True}
"""``extra=`` of a log call whose record goes to the log files only, never to the console: for lines of ours that
the reference doesn't print (e.g. ``logger.debug("...", extra=FILE_ONLY)``), so that DRY-RUN consoles stay the same."""


def __getattr__(name: str) -> Any:
    """Give ``notify_logger`` (wmflib's logger of unanswered prompts) without importing wmflib.interactive early."""
    if name == "notify_logger":
        from wmflib.interactive import notify_logger  # noqa: PLC0415 - its import is slow, needed only here

        return notify_logger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class FilterOutFileOnly(logging.Filter):
    """Keep the records logged with ``extra=FILE_ONLY`` out of the console."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Return False for the records marked file-only."""
        return not getattr(record, "spicerack_file_only", False)


class FilterOutCumin(logging.Filter):
    """Keep cumin's own log records out of the console: cumin reports its progress there by itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Return False for the records of cumin's loggers."""
        return not (record.name == "cumin" or record.name.startswith("cumin."))


def setup_logging(
    base_path: Path,
    name: str,
    user: str,
    *,
    dry_run: bool = True,
    host: str | None = None,
    port: int = 0,
    notify_logger_enabled: bool = False,
) -> None:
    """Send every log record of the run to its two log files and to the console.

    Arguments:
        base_path: directory of the log files (created if missing).
        name: base name of the log files: ``<name>.log`` (INFO and up) and ``<name>-extended.log`` (DEBUG and up,
            with the logger name, line and function of each record).
        user: the operator, written in every line of the files and in the IRC messages.
        dry_run: whether this is a DRY-RUN: lines are marked, the console shows DEBUG too, nothing goes to IRC.
        host: the tcpircbot relay host for the IRC and SAL messages, if any.
        port: the tcpircbot relay port (IRC is set up only when positive).
        notify_logger_enabled: also announce on IRC an operator prompt left unanswered (wmflib's notify logger).

    """
    base_path.mkdir(mode=0o755, parents=True, exist_ok=True)
    prefix = f"%(asctime)s {'DRY-RUN ' if dry_run else ''}{user} %(process)d"

    main_file = _log_file(base_path / f"{name}.log", f"{prefix} [%(levelname)s] %(message)s", logging.INFO)
    extended_file = _log_file(
        base_path / f"{name}-extended.log",
        f"{prefix} [%(levelname)s %(name)s:%(lineno)s in %(funcName)s] %(message)s",
        logging.DEBUG,
    )

    console = logging.StreamHandler()
    if dry_run:
        console.setFormatter(logging.Formatter(fmt="DRY-RUN: %(message)s"))
        console.setLevel(logging.DEBUG)
    else:
        console.setLevel(logging.INFO)
    console.addFilter(FilterOutCumin())
    console.addFilter(FilterOutFileOnly())

    for handler in (main_file, extended_file, console):
        root_logger.addHandler(handler)
    root_logger.setLevel(logging.DEBUG)

    if not dry_run and host and port > 0:
        _setup_irc(host, port, user, name, notify_logger_enabled=notify_logger_enabled)

    for noisy in _NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


LOG_FILE_MODE = 0o640
"""The mode the log files are created with, less the umask: the directory's group may read them, no one else."""


def _log_file(path: Path, fmt: str, level: int) -> logging.Handler:
    handler = _audit_file_handler_class()(path, maxBytes=LOG_FILE_MAX_BYTES, backupCount=LOG_FILE_BACKUPS, delay=True)
    handler.setFormatter(AuditFormatter(fmt=fmt))
    handler.setLevel(level)
    return handler


_RECORD_START = re.compile(r"\d{4}-\d\d-\d\d ")
_CONTINUATION_INDENT = "    "


class AuditFormatter(logging.Formatter):
    """The formatter of the log files: no line but a record's first one can read as a record.

    The continuation lines of a multi-line message are indented, as are the lines of a traceback that start like
    a record (e.g. from an exception's message): a message cannot forge a record (say a fake ``END (PASS)``).
    """

    def format(self, record: logging.LogRecord) -> str:
        """Format the record, then indent its continuation lines."""
        text = super().format(record)
        head, newline, rest = text.partition("\n")
        if not newline:
            return text
        message_lines = record.message.count("\n")
        lines = rest.split("\n")
        for index, line in enumerate(lines):
            if index < message_lines or _RECORD_START.match(line):
                lines[index] = _CONTINUATION_INDENT + line
        return head + newline + "\n".join(lines)


_warned_unwritable = False


class _AuditFile(Protocol):
    """What :py:func:`start_log_files` uses of the log file handlers."""

    baseFilename: str  # noqa: N815 - logging's name
    started: bool
    broken: bool

    def start(self, *, warn: bool = True) -> str | None:
        """Open the file and write the held records; return the problem if it cannot be written."""


_MAX_HELD_RECORDS = 10000


@functools.cache
def _audit_file_handler_class() -> "type[RotatingFileHandler]":
    """Return the class of the log file handlers (logging.handlers is imported only when the files are set up)."""
    from logging.handlers import RotatingFileHandler  # noqa: PLC0415 - not needed by listings

    class AuditFileHandler(RotatingFileHandler):
        """A log file created only when a run starts, that never floods the console when it cannot be written.

        Records below INFO are held in memory until the first record of INFO and up (the START line at the
        latest), so that ``--help`` and refused arguments leave no log file. A failed write prints one warning on
        stderr for all the log files, and the file is written no more; the console and IRC go on.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.held: list[logging.LogRecord] = []
            self.started = False
            self.broken = False

        def _open(self) -> Any:
            """Open the file as logging does, creating it with :py:data:`LOG_FILE_MODE` (less the umask)."""
            return open(
                self.baseFilename,
                self.mode,
                encoding=self.encoding,
                errors=self.errors,
                opener=lambda path, flags: os.open(path, flags, LOG_FILE_MODE),
            )

        def emit(self, record: logging.LogRecord) -> None:
            if self.broken:
                return
            if not self.started:
                if record.levelno < logging.INFO:
                    if len(self.held) < _MAX_HELD_RECORDS:
                        self.held.append(record)
                    return
                if self.start() is not None:
                    return
            super().emit(record)

        def start(self, *, warn: bool = True) -> str | None:
            """Open the file and write the held records; return the problem if it cannot be written.

            Arguments:
                warn: print the warning on stderr if the file cannot be written.

            """
            self.started = True
            held, self.held = self.held, []
            try:
                if self.stream is None:
                    self.stream = self._open()
                for record in held:
                    self.stream.write(self.format(record) + self.terminator)
                self.stream.flush()
                _check_free_space(self.baseFilename)
            except OSError as e:
                self._fail(e, warn=warn)
                return f"{self.baseFilename}: {e.strerror or e}"
            return None

        def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's API name
            """Warn once on stderr instead of printing a traceback per record; stop writing the file."""
            error = sys.exc_info()[1]
            self._fail(error if isinstance(error, Exception) else OSError("unknown error"))

        def _fail(self, error: Exception, *, warn: bool = True) -> None:
            global _warned_unwritable
            self.broken = True
            if warn and not _warned_unwritable:
                _warned_unwritable = True
                reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
                sys.stderr.write(
                    f"WARNING: unable to write the log file {self.baseFilename} ({reason}): the log files are no "
                    "longer written for this run, its messages still go to the console and IRC\n"
                )

    return AuditFileHandler


def _check_free_space(path: str) -> None:
    """Raise if the filesystem of the path has no block left for this user (root may use the reserved ones)."""
    stats = os.statvfs(os.path.dirname(path) or ".")
    if (stats.f_bfree if os.geteuid() == 0 else stats.f_bavail) == 0:
        raise OSError(28, os.strerror(28))


def start_log_files() -> str | None:
    """Start the log files of the run (see :py:func:`setup_logging`): the problem if they can't be written, else None.

    Called when a cookbook is about to run: a run must not start without its audit trail. When they can't, the
    log files are written no more (the caller says why, on the console).
    """
    global _warned_unwritable
    audit_class = _audit_file_handler_class()
    files = [cast(_AuditFile, handler) for handler in root_logger.handlers if isinstance(handler, audit_class)]
    for handler in files:
        if handler.broken:
            problem: str | None = f"{handler.baseFilename}: not writable"
        elif handler.started:
            problem = _free_space_problem(handler)
        else:
            problem = handler.start(warn=False)
        if problem:
            _warned_unwritable = True
            for other in files:
                other.broken = True
            return problem
    return None


def _free_space_problem(handler: _AuditFile) -> str | None:
    path = handler.baseFilename
    try:
        _check_free_space(path)
    except OSError as e:
        return f"{path}: {e.strerror}"
    return None


def _setup_irc(host: str, port: int, user: str, name: str, *, notify_logger_enabled: bool = False) -> None:
    """Relay the IRC and SAL loggers (and optionally wmflib's prompt notifications) to the tcpircbot at host:port.

    All share one relay (see :py:mod:`spicerack.irc`): one sender thread keeps the messages in order, never blocks
    the cookbook, and keeps each message on one line.
    """
    from spicerack.irc import IRCRelayHandler, SALRelayHandler, TcpIrcRelay  # noqa: PLC0415 - only with IRC

    relay = TcpIrcRelay(host, port)
    irc_logger.addHandler(IRCRelayHandler(relay, user))
    irc_logger.setLevel(logging.INFO)
    sal_logger.addHandler(SALRelayHandler(relay, user))
    sal_logger.setLevel(logging.INFO)
    if notify_logger_enabled:
        notify = __getattr__("notify_logger")
        notify_format = f"{name.replace('%', '%%')} (PID %(process)d) %(message)s"
        notify.addHandler(IRCRelayHandler(relay, user, fmt=notify_format))
        notify.setLevel(logging.INFO)


def log_task_start(*, skip_start_sal: bool, message: str) -> None:
    """Log the start of a task: ``START - message``, to SAL too unless ``skip_start_sal`` is set.

    Arguments:
        skip_start_sal: log only to the log files and the console, not to IRC/SAL.
        message: what is starting.

    """
    logger = root_logger if skip_start_sal else sal_logger
    logger.info("START - %s", message)


def log_task_end(*, skip_start_sal: bool, status: str, message: str) -> None:
    """Log the end of a task to the logs and SAL: ``END (status) - message`` (``DONE`` when START was skipped).

    Arguments:
        skip_start_sal: whether the START was kept off SAL, making this the only SAL line of the task.
        status: the final status of the task (e.g. ``PASS``).
        message: what ended.

    """
    sal_logger.info("%s (%s) - %s", "DONE" if skip_start_sal else "END", status, message)
