"""Distributed locks for cookbook runs and for cookbooks' own critical sections (placeholder, see issue 5)."""

from collections.abc import Iterator
from contextlib import contextmanager

from spicerack.exceptions import SpicerackError


class LockError(SpicerackError):
    """A lock could not be acquired or released."""


class NoLock:
    """A lock that never blocks: used when locks are disabled."""

    @contextmanager
    def acquired(self, name: str, *, concurrency: int, ttl: int) -> Iterator[None]:
        """Yield at once: nothing is locked."""
        yield
