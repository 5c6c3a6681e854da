"""Termination signals turned into an exception, so that a terminated run still cleans up and logs its end."""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class TerminatedError(KeyboardInterrupt):
    """Raised in place of the default action of SIGTERM/SIGHUP, so that rollbacks run and locks are released."""


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise TerminatedError(f"Received {signal.Signals(signum).name}")


@contextmanager
def termination_raises() -> Iterator[None]:
    """Make SIGTERM/SIGHUP raise :py:class:`TerminatedError` inside the block, where nobody handles them yet.

    Only in the main thread (the only one that can set handlers); the previous handlers are restored at the end.
    """
    installed: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in TERMINATING_SIGNALS:
            if signal.getsignal(signum) is signal.SIG_DFL:
                installed[signum] = signal.signal(signum, _raise_terminated)
    try:
        yield
    finally:
        for signum, previous in installed.items():
            signal.signal(signum, previous)
