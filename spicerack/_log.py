"""Logging of cookbook runs: the per-cookbook log files, the console, and the IRC/SAL loggers.

Nothing is installed on import: until :py:func:`setup_logging` runs (once the cookbook to run is found), only
Python's last-resort handler prints WARNING and above to stderr, as bare messages.
"""

import logging
from pathlib import Path
from typing import Any

from spicerack import irc_logger_name, sal_logger_name

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


def _log_file(path: Path, fmt: str, level: int) -> logging.Handler:
    from logging.handlers import RotatingFileHandler  # noqa: PLC0415 - not needed by listings

    handler = RotatingFileHandler(path, maxBytes=LOG_FILE_MAX_BYTES, backupCount=LOG_FILE_BACKUPS)
    handler.setFormatter(logging.Formatter(fmt=fmt))
    handler.setLevel(level)
    return handler


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
