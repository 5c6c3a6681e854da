"""The run journal: one JSON line per cookbook run, in ``journal.jsonl`` beside the logs, and its history.

Every cookbook run (the one given on the command line, those selected in the menu and those started with
``spicerack.run_cookbook()``) appends one line when it ends; ``--help`` and listings do not. A line is a JSON
object with the fields of :py:data:`ENTRY_FIELDS`. Values of secret arguments (see :py:mod:`spicerack._redact`;
the configuration may name more with ``journal_secret_arguments``) are written as ``***``.

The journal and its lock are opened without following symbolic links and must be regular files; they are created
with mode ``0640`` (less the umask). An append waits at most :py:data:`LOCK_WAIT_SECONDS` for the lock, then warns
and leaves the run unrecorded.

Lines are appended with one ``write()`` each on a file opened with ``O_APPEND``, while holding an exclusive
``flock`` on ``journal.jsonl.lock``: concurrent runs never interleave nor lose lines, and the journal rotates as
the log files do (at :py:data:`spicerack._log.LOG_FILE_MAX_BYTES`, keeping
:py:data:`spicerack._log.LOG_FILE_BACKUPS` copies named ``journal.jsonl.1``, ``.2``...).

Nothing is recorded until :py:func:`activate` is called (the ``cookbook`` command does it once the logs are set
up), so that cookbooks run by other means (tests, the harness) leave no journal.
"""

import contextlib
import errno
import functools
import logging
import os
import re
import shlex
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from spicerack import _log, _outcomes, _redact

logger = logging.getLogger(__name__)

JOURNAL_FILE_NAME = "journal.jsonl"
"""The journal's file name, in the ``logs_base_dir`` of the configuration."""
SECRET_ARGUMENTS_CONFIG_KEY = "journal_secret_arguments"  # noqa: S105 - a key name
"""Configuration key: the options (e.g. ``--db-pass``) whose values the journal must never hold."""
REDACTED = _redact.REDACTED
"""What the journal writes instead of a secret value."""
SUMMARY_MARKER = "__COOKBOOK_SUMMARY__"
"""Prefix of the DEBUG log line holding the run's journal entry, logged beside ``__COOKBOOK_STATS__``."""
ENTRY_FIELDS = (
    "run_id",
    "parent_run_id",
    "start",
    "end",
    "duration",
    "user",
    "host",
    "pid",
    "cookbook",
    "args",
    "dry_run",
    "reason",
    "task_id",
    "exit_code",
    "status",
    "log_files",
    "config_file",
    "executions",
    "executions_dropped",
    "rerun_of",
)
"""The fields of a journal line, in the order they are written."""

_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class JournalError(Exception):
    """The journal cannot be read."""


class _Item(Protocol):
    full_name: str
    args: Sequence[str]
    spicerack: Any

    @property
    def status(self) -> str: ...


_ItemT = TypeVar("_ItemT", bound=_Item)


# --- recording -----------------------------------------------------------------------------------------------


def redact_args(
    args: Sequence[str],
    secret_options: Iterable[str] = (),
    parser: Any = None,
    secret_names: Iterable[str] = _redact.DEFAULT_SECRET_WORDS,
) -> list[str]:
    """Return the arguments with the values of secret options replaced by ``***`` (:py:func:`spicerack._redact.redact`).

    Arguments:
        args: the command line arguments of the cookbook.
        secret_options: more option names whose values are secret, e.g. ``["--db-pass", "-k"]``.
        parser: the cookbook's argument parser, if known, to resolve short aliases and explicitly secret arguments.
        secret_names: the words that make an option secret when its long name contains one.

    """
    return _redact.redact(args, parser=parser, secret_names=secret_names, secret_options=secret_options)


@dataclass
class _Config:
    path: Path
    secret_options: tuple[str, ...]
    secret_words: tuple[str, ...] = _redact.DEFAULT_SECRET_WORDS
    config_file: str | None = None
    rerun_of: str | None = None


@dataclass
class RunRecord:
    """The journal entry of one run, filled while it runs."""

    cookbook: str
    args: list[str]
    user: str
    host: str
    dry_run: bool
    parent_run_id: str | None
    run_id: str = field(default_factory=lambda: os.urandom(8).hex())
    start: datetime = field(default_factory=lambda: datetime.now(UTC))
    reason: str | None = None
    task_id: str | None = None
    recorded: bool = True
    """False when the run only printed its help: such runs are not journaled."""
    config_file: str | None = None
    """The configuration file the run used, None for the embedded default."""
    raw_args: list[str] = field(default_factory=list, repr=False)
    """The arguments as given, never written: to redact them again once the cookbook's parser is known."""
    executions: list[_outcomes.Execution] = field(default_factory=list)
    """The summaries of the run's remote executions (:py:mod:`spicerack._outcomes`), at most
    :py:data:`spicerack._outcomes.MAX_EXECUTIONS`."""
    executions_dropped: int = 0
    """How many more executions the run had, beyond those kept."""
    rerun_of: str | None = None
    """The run ID of the run this one re-runs (``cookbook --rerun``)."""

    def add_execution(self, execution: _outcomes.Execution) -> None:
        """Keep the summary of one remote execution of the run, within the bound.

        The values of the run's secret arguments are taken out of the commands, should the cookbook have put them
        there.
        """
        secrets = _redact.secret_values(self.raw_args, self.args)
        if secrets:
            execution["commands"] = [_redact.redact_values(str(command), secrets) for command in execution["commands"]]
        self.executions_dropped = _outcomes.append_bounded(self.executions, execution, self.executions_dropped)

    def entry(self, exit_code: int | None, status: str, end: datetime | None = None) -> dict[str, Any]:
        """The journal line of the run, as a mapping in the order of :py:data:`ENTRY_FIELDS`."""
        end = end or datetime.now(UTC)
        values = {
            "run_id": self.run_id,
            "parent_run_id": self.parent_run_id,
            "start": _timestamp(self.start),
            "end": _timestamp(end),
            "duration": round((end - self.start).total_seconds(), 3),
            "user": self.user,
            "host": self.host,
            "pid": os.getpid(),
            "cookbook": self.cookbook,
            "args": self.args,
            "dry_run": self.dry_run,
            "reason": self.reason,
            "task_id": self.task_id,
            "exit_code": exit_code,
            "status": status,
            "log_files": _log_files(),
            "config_file": self.config_file,
            "executions": self.executions,
            "executions_dropped": self.executions_dropped,
            "rerun_of": self.rerun_of,
        }
        return {name: values[name] for name in ENTRY_FIELDS}


_config: _Config | None = None
_running: list[RunRecord] = []


def activate(
    logs_dir: Path,
    config: dict[str, Any] | None = None,
    config_file: str | None = None,
    *,
    rerun_of: str | None = None,
) -> None:
    """Record the runs of this process in the journal of the given logs directory.

    Arguments:
        logs_dir: the ``logs_base_dir`` of the configuration.
        config: the configuration, for its ``journal_secret_arguments`` and ``secret_option_words``.
        config_file: the configuration file used, recorded in each entry (None for the embedded default).
        rerun_of: the run ID of the run that the process re-runs (``cookbook --rerun``), recorded in the entry of
            its top-level run.

    """
    global _config
    secret = (config or {}).get(SECRET_ARGUMENTS_CONFIG_KEY) or []
    if isinstance(secret, str):
        secret = [secret]
    _config = _Config(
        path=Path(logs_dir) / JOURNAL_FILE_NAME,
        secret_options=tuple(str(name) for name in secret) if isinstance(secret, list) else (),
        secret_words=_redact.secret_words(config),
        config_file=config_file,
        rerun_of=rerun_of,
    )
    _running.clear()
    _outcomes.set_sink(None)


def deactivate() -> None:
    """Stop recording runs."""
    global _config
    _config = None
    _running.clear()
    _outcomes.set_sink(None)


def journaled(run: Callable[[_ItemT], int]) -> Callable[[_ItemT], int]:
    """Decorate a cookbook item's ``run()``: append the run's journal line when it returns (or raises)."""

    @functools.wraps(run)
    def wrapper(item: _ItemT) -> int:
        config = _config
        if config is None:
            return run(item)
        record = _start(item, config)
        _running.append(record)
        _outcomes.set_sink(record.add_execution)
        code: int | None = None
        try:
            code = run(item)
            return code
        finally:
            _running.remove(record)
            _outcomes.set_sink(_running[-1].add_execution if _running else None)
            if record.recorded:
                _write(config.path, record.entry(code, item.status if code is not None else "ERROR"))

    return wrapper


def _start(item: _Item, config: _Config) -> RunRecord:
    accessor = getattr(item, "spicerack", None)
    return RunRecord(
        cookbook=item.full_name,
        args=redact_args(list(item.args), config.secret_options, secret_names=config.secret_words),
        raw_args=list(item.args),
        config_file=config.config_file,
        user=str(getattr(accessor, "username", "") or os.environ.get("USER", "")),
        host=str(getattr(accessor, "current_hostname", "") or os.uname().nodename),
        dry_run=bool(getattr(accessor, "dry_run", False)),
        parent_run_id=_running[-1].run_id if _running else None,
        rerun_of=None if _running else config.rerun_of,
    )


def note_parser(parser: Any) -> None:
    """Tell the journal the running cookbook's argument parser: its short aliases and secret arguments are redacted."""
    config = _config
    if not _running or config is None:
        return
    record = _running[-1]
    try:
        record.args = redact_args(record.raw_args, config.secret_options, parser, config.secret_words)
    except Exception:  # a parser that isn't argparse's: the names of the options still hide their values
        logger.debug("Unable to read the options of the argument parser %r", parser, exc_info=True)


def shown_args(args: Sequence[str]) -> list[str]:
    """The arguments of the running cookbook as the journal writes them (secret values hidden).

    While the cookbook runs, its journal entry's arguments (redacted with its parser once known); else ``args``
    redacted by the names of their options.
    """
    if _running and list(_running[-1].raw_args) == list(args):
        return list(_running[-1].args)
    words, secret_options = secret_settings()
    return _redact.redact(list(args), secret_names=words, secret_options=secret_options)


def running_rerun_of() -> str | None:
    """The run ID that the running cookbook re-runs (``cookbook --rerun``), if it is such a run."""
    return _running[-1].rerun_of if _running else None


def secret_settings() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The secret words and the secret option names of the active journal (the defaults when not active)."""
    config = _config
    if config is None:
        return _redact.DEFAULT_SECRET_WORDS, ()
    return config.secret_words, config.secret_options


def note_parsed(code: int, args: Any) -> None:
    """Tell the journal how the running cookbook's arguments parsed: exit code (``-1`` to go on) and namespace.

    A parser that exits 0 printed the help (or a version): that is not a run, it is not journaled. The reason and
    task ID, when the cookbook has such arguments, go to the journal.
    """
    if not _running:
        return
    record = _running[-1]
    if code == 0:
        record.recorded = False
        return
    for name in ("reason", "task_id"):
        value = getattr(args, name, None)
        if isinstance(value, str | int) and value != "":
            setattr(record, name, str(value))


def log_summary(exit_code: int | None, status: str) -> None:
    """Log at DEBUG the running cookbook's journal entry as one JSON line (``__COOKBOOK_SUMMARY__:{...}``)."""
    if _running:
        import json  # noqa: PLC0415 - not loaded by listings

        entry = _running[-1].entry(exit_code, status)
        logger.debug("%s:%s", SUMMARY_MARKER, json.dumps(entry, separators=(",", ":")), extra=_log.FILE_ONLY)


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _log_files() -> list[str]:
    names = (getattr(handler, "baseFilename", None) for handler in logging.getLogger().handlers)
    return [name for name in names if isinstance(name, str)]


def _write(path: Path, entry: dict[str, Any]) -> None:
    try:
        append(path, entry)
    except OSError as e:
        logger.warning("Unable to write the run journal %s: %s", path, e.strerror or e)


def append(
    path: Path,
    entry: dict[str, Any],
    *,
    max_bytes: int = _log.LOG_FILE_MAX_BYTES,
    backups: int = _log.LOG_FILE_BACKUPS,
) -> None:
    """Append one entry to the journal file, rotating it first when the line would make it exceed ``max_bytes``.

    Raises:
        OSError: if the journal cannot be written.

    """
    import fcntl  # noqa: PLC0415 - not loaded by listings
    import json  # noqa: PLC0415 - not loaded by listings

    line = (json.dumps(entry, separators=(",", ":"), default=str) + "\n").encode("utf-8")
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    guard = _open_regular(Path(f"{path}.lock"), os.O_WRONLY)
    try:
        _lock(guard, fcntl, Path(f"{path}.lock"))
        with contextlib.suppress(FileNotFoundError):
            if max_bytes > 0 and os.lstat(path).st_size + len(line) > max_bytes:
                _rotate(path, backups)
        descriptor = _open_regular(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(descriptor, line)
        finally:
            os.close(descriptor)
    finally:
        os.close(guard)


FILE_MODE = 0o640
"""The mode the journal and its lock file are created with (less what the umask removes)."""
LOCK_WAIT_SECONDS = 5.0
"""How long an append waits at most for the journal's lock, held by another run."""
_LOCK_RETRY_SECONDS = 0.05


def _open_regular(path: Path, flags: int) -> int:
    """Open (creating it) a regular file, never through a symbolic link nor blocking on a FIFO.

    Raises:
        OSError: if the file can't be opened or is not a regular file.

    """
    try:
        descriptor = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, FILE_MODE)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENXIO):  # a symbolic link, a FIFO without reader
            raise OSError(errno.EINVAL, f"{path.name} is not a regular file") from None
        raise
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise OSError(errno.EINVAL, f"{path.name} is not a regular file")
    return descriptor


def _lock(descriptor: int, fcntl: Any, path: Path) -> None:
    """Take the exclusive lock, retrying without blocking for :py:data:`LOCK_WAIT_SECONDS` at most.

    Raises:
        OSError: if another process still holds the lock.

    """
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise OSError(
                    errno.EWOULDBLOCK,
                    f"{path.name} is held by another process for more than {LOCK_WAIT_SECONDS:g} s, run not recorded",
                ) from None
            time.sleep(_LOCK_RETRY_SECONDS)


def _rotate(path: Path, backups: int) -> None:
    if backups <= 0:
        path.unlink()
        return
    for index in range(backups - 1, 0, -1):
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}.{index}", f"{path}.{index + 1}")
    os.replace(path, f"{path}.1")


# --- history -------------------------------------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as ``90s``, ``30m``, ``2h``, ``1d``, ``1w`` or ``1h30m``.

    Raises:
        ValueError: if the text is not such a duration.

    """
    if not text or _DURATION_PART.sub("", text):
        raise ValueError(f"invalid duration {text!r} (expected e.g. 30m, 2h, 1d, 1w or 1h30m)")
    seconds = sum(int(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


@dataclass
class HistoryQuery:
    """Which runs ``cookbook --history`` shows."""

    prefix: str = ""
    """Only the cookbooks whose full name starts with it."""
    since: datetime | None = None
    """Only the runs started at or after it (then all of them, else the :py:attr:`limit` most recent)."""
    user: str | None = None
    """Only the runs of this user."""
    failed: bool = False
    """Only the runs whose exit code is not 0."""
    limit: int = 20
    """How many of the most recent matching runs, without :py:attr:`since`."""

    def matches(self, entry: dict[str, Any]) -> bool:
        """Whether a journal entry is wanted (its start is checked by the caller)."""
        if not str(entry.get("cookbook", "")).startswith(self.prefix):
            return False
        if self.user is not None and entry.get("user") != self.user:
            return False
        return not (self.failed and entry.get("exit_code") == 0)


def journal_files(path: Path) -> list[Path]:
    """The journal and its rotated copies that exist, most recent first."""
    files = [path] if path.exists() else []
    index = 1
    while True:
        rotated = Path(f"{path}.{index}")
        if not rotated.exists():
            return files
        files.append(rotated)
        index += 1


def read_history(path: Path, query: HistoryQuery) -> tuple[list[dict[str, Any]], int]:
    """Return the runs of the journal matching the query, oldest first, and how many lines read were corrupt.

    The files are read from their end, and only as far as the query needs: back to the :py:attr:`HistoryQuery.limit`
    most recent matching runs, or to the runs that ended before :py:attr:`HistoryQuery.since`.

    Raises:
        spicerack._journal.JournalError: if a journal file exists but cannot be read.

    """
    wanted: list[dict[str, Any]] = []
    corrupt = 0
    for journal in journal_files(path):
        for line in reversed(_read_lines(journal)):
            entry = _parse(line)
            if entry is None:
                corrupt += bool(line.strip())
                continue
            if query.since is not None and _moment(entry, "end") < query.since:
                return wanted[::-1], corrupt  # lines are appended as runs end: all the older ones ended before
            if query.since is not None and _moment(entry, "start") < query.since:
                continue
            if query.matches(entry):
                wanted.append(entry)
                if query.since is None and len(wanted) >= query.limit:
                    return wanted[::-1], corrupt
    return wanted[::-1], corrupt


def _read_lines(journal: Path) -> list[bytes]:
    try:
        with journal.open("rb") as stream:
            return stream.read().splitlines()
    except OSError as e:
        raise JournalError(f"Unable to read the journal {journal}: {e.strerror or e}") from None


def _parse(line: bytes) -> dict[str, Any] | None:
    """The entry of a journal line; None if the line is blank or corrupt."""
    import json  # noqa: PLC0415 - not loaded by listings

    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("cookbook"), str):
        return None
    return entry


def _moment(entry: dict[str, Any], name: str) -> datetime:
    """The start or end of a run (the start when the end is missing), the earliest date if unreadable."""
    try:
        start = datetime.fromisoformat(str(entry.get(name) or entry.get("start")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return start if start.tzinfo is not None else start.replace(tzinfo=UTC)


_COLUMNS = ("START (UTC)", "DURATION", "EXIT", "USER", "HOST", "COOKBOOK", "RUN ID", "ARGS")


def format_table(entries: Sequence[dict[str, Any]]) -> str:
    """The runs as a text table, one line each (and a header line); control characters are shown escaped."""
    rows = [_COLUMNS, *(tuple(map(_printable, _row(entry))) for entry in entries)]
    widths = [max(len(row[index]) for row in rows) for index in range(len(_COLUMNS) - 1)]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if index in (1, 2) else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=False))
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def _row(entry: dict[str, Any]) -> tuple[str, ...]:
    start = _moment(entry, "start")
    duration = entry.get("duration")
    args = entry.get("args")
    marks = [mark for mark, on in (("child", entry.get("parent_run_id")), ("dry-run", entry.get("dry_run"))) if on]
    suffix = f" ({', '.join(marks)})" if marks else ""
    return (
        start.strftime("%Y-%m-%d %H:%M:%S") if start.year > 1 else "?",
        format_duration(duration) if isinstance(duration, int | float) else "?",
        str(entry.get("exit_code", "?")),
        str(entry.get("user", "?")),
        str(entry.get("host", "?")),
        str(entry.get("cookbook")) + suffix,
        str(entry.get("run_id", "?")),
        shlex.join(str(arg) for arg in args) if isinstance(args, list) else "",
    )


_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    r"""The text with its control characters as ``\xNN``: a recorded value can't add a row nor drive the terminal."""
    return _CONTROL_CHARACTERS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def format_duration(seconds: float) -> str:
    """A run's duration for the table: ``0.42s``, ``12.5s``, ``3m07s``, ``2h05m``."""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


# --- one run -------------------------------------------------------------------------------------------------

RUN_ID_MIN_PREFIX = 6
"""How many leading characters of a run ID are enough to name the run, when no other run starts with them."""
_RUN_ID = re.compile(r"[0-9a-f]+")


def find_run(path: Path, run_id: str) -> dict[str, Any]:
    """Return the journal entry of one run, named by its run ID or a unique prefix of it.

    Raises:
        spicerack._journal.JournalError: if the run ID is malformed, unknown, ambiguous or the journal unreadable.

    """
    wanted = run_id.strip().lower()
    if len(wanted) < RUN_ID_MIN_PREFIX or not _RUN_ID.fullmatch(wanted):
        raise JournalError(
            f"Invalid run ID {_printable(run_id)!r}: expected the hexadecimal run ID shown by --history "
            f"(at least {RUN_ID_MIN_PREFIX} characters)"
        )
    found: dict[str, dict[str, Any]] = {}
    for journal in journal_files(path):
        for line in _read_lines(journal):
            entry = _parse(line)
            candidate = str(entry.get("run_id", "")) if entry is not None else ""
            if entry is not None and candidate.startswith(wanted):
                found.setdefault(candidate, entry)
    if not found:
        raise JournalError(f"No run {wanted} in the journal {path}")
    if len(found) > 1:
        raise JournalError(f"Run ID {wanted} is ambiguous: {', '.join(sorted(found))}")
    return next(iter(found.values()))


def format_run(entry: dict[str, Any]) -> str:
    """One run in full, for ``cookbook --history RUN_ID``: its arguments, reason, logs and remote executions."""
    args = entry.get("args")
    lines = [
        f"Run {entry.get('run_id', '?')}: {entry.get('cookbook')}",
        f"  arguments:  {shlex.join(str(arg) for arg in args) if isinstance(args, list) else ''}",
        f"  started:    {entry.get('start', '?')} by {entry.get('user', '?')} on {entry.get('host', '?')} "
        f"(pid {entry.get('pid', '?')})",
        f"  ended:      {entry.get('end', '?')} after {_duration_text(entry.get('duration'))}",
        f"  exit code:  {entry.get('exit_code', '?')} ({entry.get('status', '?')})",
        f"  mode:       {'DRY-RUN' if entry.get('dry_run') else 'real'}",
    ]
    lines.extend(
        f"  {label + ':':<11} {entry[key]}"
        for key, label in (
            ("reason", "reason"),
            ("task_id", "task"),
            ("parent_run_id", "child of"),
            ("rerun_of", "re-run of"),
            ("config_file", "config"),
        )
        if entry.get(key)
    )
    log_files = entry.get("log_files")
    if isinstance(log_files, list):
        lines.extend(f"  log file:   {name}" for name in log_files)
    executions = entry.get("executions")
    dropped = entry.get("executions_dropped")
    if isinstance(executions, list) and executions:
        lines.append("Remote executions:")
        valid = [execution for execution in executions if isinstance(execution, dict)]
        lines.extend(
            f"  {line}" for line in _outcomes.format_executions(valid, dropped if isinstance(dropped, int) else 0)
        )
    elif "executions" in entry:
        lines.append("Remote executions: none")
    return "".join(f"{_printable(line)}\n" for line in lines)


def _duration_text(duration: Any) -> str:
    return format_duration(duration) if isinstance(duration, int | float) else "?"
