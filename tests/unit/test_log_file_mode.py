"""Unit tests of the log files' creation mode: the directory's group may read them, no one else."""

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from spicerack import _log

pytestmark = pytest.mark.usefixtures("clean_log_handlers")


@pytest.fixture
def no_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_log_files_are_created_0640_at_most(tmp_path: Path, no_umask: None) -> None:
    _log.setup_logging(tmp_path, "task", "operator", dry_run=True)
    logging.getLogger("spicerack.tests.mode").info("a line")
    for name in ("task.log", "task-extended.log"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640


def test_rotated_log_files_keep_the_mode(tmp_path: Path, no_umask: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_log, "LOG_FILE_MAX_BYTES", 200)
    _log.setup_logging(tmp_path, "task", "operator", dry_run=True)
    for _ in range(5):
        logging.getLogger("spicerack.tests.mode").info("x" * 100)
    assert (tmp_path / "task.log.1").exists()
    assert stat.S_IMODE((tmp_path / "task.log").stat().st_mode) == 0o640
