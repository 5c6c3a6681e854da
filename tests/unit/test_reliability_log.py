"""The log files' own rules: no forged records, files only once a run starts, one warning when they can't be written."""

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spicerack import _log

FORMAT = "%(asctime)s operator 1 [%(levelname)s] %(message)s"
FORGED = "2026-01-01 00:00:00,000 operator 1 [INFO] END (PASS) - Cookbook x (exit_code=0)"


def record(message: str, level: int = logging.INFO, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("test", level, __file__, 1, message, None, exc_info)  # type: ignore[arg-type]


def test_a_single_line_record_is_formatted_as_by_logging() -> None:
    line = record("START - Cookbook x")
    assert _log.AuditFormatter(FORMAT).format(line) == logging.Formatter(FORMAT).format(line)


def test_continuation_lines_of_a_message_are_indented() -> None:
    text = _log.AuditFormatter(FORMAT).format(record(f"first\n{FORGED}\n\nlast"))
    assert text.split("\n")[1:] == [f"    {FORGED}", "    ", "    last"]


def test_traceback_lines_are_kept_but_those_reading_as_a_record() -> None:
    try:
        raise RuntimeError(f"boom\n{FORGED}")
    except RuntimeError:
        exc_info = sys.exc_info()
    lines = _log.AuditFormatter(FORMAT).format(record("failed", logging.ERROR, exc_info)).split("\n")
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-2:] == ["RuntimeError: boom", f"    {FORGED}"]


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[logging.Handler, Path]]:
    path = tmp_path / "run.log"
    handler = _log._log_file(path, FORMAT, logging.DEBUG)
    yield handler, path
    handler.close()


def test_debug_records_are_held_until_the_first_info_one(files: tuple[logging.Handler, Path]) -> None:
    handler, path = files
    handler.handle(record("Executing cookbook x", logging.DEBUG))
    assert not path.exists()
    handler.handle(record("START - Cookbook x"))
    lines = path.read_text().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == ["Executing cookbook x", "START - Cookbook x"]


def test_a_file_that_cannot_be_written_warns_once_and_is_written_no_more(
    files: tuple[logging.Handler, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, path = files
    monkeypatch.setattr(_log, "_warned_unwritable", False)
    handler.handle(record("START"))
    full = OSError(28, "No space left on device")

    def fail(*_args: object) -> None:
        raise full

    monkeypatch.setattr(handler, "flush", fail)
    for number in range(5):
        handler.handle(record(f"line {number}"))
    err = capsys.readouterr().err
    assert err == (
        f"WARNING: unable to write the log file {path} (No space left on device): the log files are no longer "
        "written for this run, its messages still go to the console and IRC\n"
    )
    assert handler.broken  # type: ignore[attr-defined]
