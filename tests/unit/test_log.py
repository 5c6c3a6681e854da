"""Unit tests of the run's logging: console and files as the reference sets them up, file-only records."""

import logging
from pathlib import Path

import pytest

from spicerack import _log

logger = logging.getLogger("spicerack.tests.log")


pytestmark = pytest.mark.usefixtures("clean_log_handlers")


@pytest.mark.parametrize("dry_run", [True, False])
def test_console_and_files_levels_and_formats(tmp_path: Path, capsys, dry_run: bool) -> None:
    _log.setup_logging(tmp_path, "task", "operator", dry_run=dry_run)
    logger.debug("a debug line")
    logger.info("an info line")
    logging.getLogger("cumin.transport").info("a cumin line")
    err = capsys.readouterr().err.splitlines()
    prefix = "DRY-RUN: " if dry_run else ""
    expected = [f"{prefix}a debug line", f"{prefix}an info line"] if dry_run else ["an info line"]
    assert err == expected
    main_log = (tmp_path / "task.log").read_text()
    extended = (tmp_path / "task-extended.log").read_text()
    marker = "DRY-RUN operator" if dry_run else " operator"
    assert f"{marker} " in main_log
    assert "[INFO] an info line" in main_log
    assert "a debug line" not in main_log
    assert "a cumin line" in main_log
    assert "[DEBUG spicerack.tests.log:" in extended
    assert " in test_console_and_files_levels_and_formats] a debug line" in extended


def test_file_only_records_stay_off_the_console(tmp_path: Path, capsys) -> None:
    _log.setup_logging(tmp_path, "task", "operator", dry_run=True)
    logger.debug("for the files only", extra=_log.FILE_ONLY)
    logger.info("for everyone")
    assert capsys.readouterr().err == "DRY-RUN: for everyone\n"
    assert "for the files only" in (tmp_path / "task-extended.log").read_text()


def test_task_start_and_end_lines(tmp_path: Path, capsys) -> None:
    _log.setup_logging(tmp_path, "task", "operator", dry_run=False)
    _log.log_task_start(skip_start_sal=False, message="Cookbook a.b")
    _log.log_task_start(skip_start_sal=True, message="Cookbook c.d")
    _log.log_task_end(skip_start_sal=False, status="PASS", message="Cookbook a.b (exit_code=0)")
    _log.log_task_end(skip_start_sal=True, status="FAIL", message="Cookbook c.d (exit_code=1)")
    assert capsys.readouterr().err.splitlines() == [
        "START - Cookbook a.b",
        "START - Cookbook c.d",
        "END (PASS) - Cookbook a.b (exit_code=0)",
        "DONE (FAIL) - Cookbook c.d (exit_code=1)",
    ]


def test_notify_logger_is_wmflibs() -> None:
    from wmflib.interactive import notify_logger

    assert _log.notify_logger is notify_logger
    with pytest.raises(AttributeError):
        _log.no_such_name  # noqa: B018
