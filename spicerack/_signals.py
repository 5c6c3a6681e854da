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


_terminating = threading.Event()
"""Set once a termination signal was raised in the current block: the next ones wait for the cleanup to end."""


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if _terminating.is_set():  # the run is already cleaning up (rollback, lock release, logs): let it finish
        import logging  # noqa: PLC0415 - only on a second signal

        logging.getLogger(__name__).warning("Received %s again, finishing the cleanup first", name)
        return
    _terminating.set()
    raise TerminatedError(f"Received {name}")


@contextmanager
def termination_raises() -> Iterator[None]:
    """Make SIGTERM/SIGHUP raise :py:class:`TerminatedError` inside the block, where nobody handles them yet.

    Only in the main thread (the only one that can set handlers); the previous handlers are restored at the end.
    After the first signal, the next ones inside the block are only logged: the cleanup that the first one started
    (rollback, lock release, the end of the logs and of the journal) is not cut short.
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
        if installed:  # the outermost block: a later run starts afresh
            _terminating.clear()
