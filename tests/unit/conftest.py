"""Fixtures shared by the unit tests."""

from collections.abc import Iterator

import pytest

from spicerack import _log


@pytest.fixture
def clean_log_handlers() -> Iterator[None]:
    """Remove the handlers a test set up on the root logger (all but pytest's own) once it ends."""
    yield
    for handler in list(_log.root_logger.handlers):
        if type(handler).__name__ != "LogCaptureHandler":
            _log.root_logger.removeHandler(handler)
            handler.close()
