"""The local backend of the locks: the semantics of the etcd ones for the processes of one machine.

Used by the embedded default configuration only.
"""

import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, unquote

from spicerack._lock_base import (
    DEFAULT_RETRY_DELAY,
    ConcurrentLock,
    KeyLocks,
    LockBackend,
    LockError,
    holder_gone,
    parse_slot,
    utcnow,
)

logger = logging.getLogger("spicerack.locking")


class LocalLock(LockBackend):
    """Locks local to this machine: one JSON file per slot, under a per-user directory.

    Layout: ``<lock_dir>/<prefix>/<name>.lock/<uuid>.json`` (the name URL-quoted), and ``.guard`` in the same
    directory, ``flock``-ed while the slots of the key are counted and changed. Besides the TTL, a slot whose
    holder (``user@host [pid]`` of this host) no longer runs is freed.
    """

    _atomic_changes = True

    def __init__(
        self,
        *,
        prefix: str,
        owner: str,
        dry_run: bool = True,
        lock_dir: str | Path | None = None,
        max_wait: float | None = None,
        retry_delay: float = DEFAULT_RETRY_DELAY,
    ) -> None:
        """Set up the lock; nothing is written until a lock is taken.

        Arguments:
            prefix: the path prefix of the keys, one of :py:const:`ALLOWED_PREFIXES`.
            owner: who takes the locks, in the form ``user@host [pid]``.
            dry_run: whether this is a DRY-RUN: the limit is checked, nothing is written.
            lock_dir: the directory of the lock files, by default ``locks`` in the user's Spicerack state
                directory (``$XDG_STATE_HOME/spicerack``).
            max_wait: seconds to wait for a free slot before giving up, by default :py:const:`DEFAULT_MAX_WAIT`.
            retry_delay: the first pause between two attempts to take a busy lock.

        Raises:
            spicerack.locking.LockError: if the prefix is not allowed.

        """
        super().__init__(prefix=prefix, owner=owner, dry_run=dry_run, max_wait=max_wait, retry_delay=retry_delay)
        if lock_dir is None:
            from spicerack._paths import user_state_dir  # noqa: PLC0415 - only for local locks

            lock_dir = user_state_dir() / "locks"
        self._lock_dir = Path(lock_dir)
        self._hostname = socket.gethostname()

    @property
    def lock_dir(self) -> Path:
        """The directory of the lock files."""
        return self._lock_dir

    def _key_dir(self, key: str) -> Path:
        name = key.rsplit("/", 1)[-1]
        return self._lock_dir / self._prefix / f"{quote(name, safe='.:@-_+=,')}.lock"

    @contextmanager
    def _guarded(self, key: str, *, create: bool) -> Iterator[Path | None]:
        import fcntl  # noqa: PLC0415 - POSIX only, needed only by this backend

        key_dir = self._key_dir(key)
        try:
            if create:
                key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            guard = os.open(key_dir / ".guard", os.O_RDWR | os.O_CREAT if create else os.O_RDONLY, 0o600)
        except FileNotFoundError:
            yield None
            return
        except OSError as e:
            raise LockError(f"Unable to use the lock directory {key_dir}: {e.strerror}") from None
        try:
            fcntl.flock(guard, fcntl.LOCK_EX if create else fcntl.LOCK_SH)
            yield key_dir
        finally:
            os.close(guard)

    def _slots(self, key: str, key_dir: Path) -> KeyLocks:
        key_locks = KeyLocks(key=key)
        for path in sorted(key_dir.glob("*.json")):
            try:
                content = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            key_locks.locks[path.stem] = parse_slot(key, path.stem, content)
        return key_locks

    def _stale(self, key_locks: KeyLocks) -> list[ConcurrentLock]:
        now = utcnow()
        expired = key_locks.expired(now)
        gone = [lock for lock in key_locks.locks.values() if lock not in expired and holder_gone(lock, self._hostname)]
        return expired + gone

    def _read(self, key: str) -> KeyLocks:
        with self._guarded(key, create=False) as key_dir:
            if key_dir is None:
                return KeyLocks(key=key)
            key_locks = self._slots(key, key_dir)
        for lock in self._stale(key_locks):
            key_locks.locks.pop(lock.uuid)
        return key_locks

    def _held(self) -> list[KeyLocks]:
        directory = self._lock_dir / self._prefix
        if not directory.is_dir():
            return []
        names = [unquote(key_dir.name.removesuffix(".lock")) for key_dir in sorted(directory.glob("*.lock"))]
        return [self.get(name) for name in names]

    def _take(self, key: str, lock: ConcurrentLock, taken: list[str]) -> None:
        with self._guarded(key, create=True) as key_dir:
            if key_dir is None:
                raise LockError(f"The lock directory of key {key} vanished")
            key_locks = self._slots(key, key_dir)
            for stale in self._stale(key_locks):
                key_locks.locks.pop(stale.uuid)
                (key_dir / f"{stale.uuid}.json").unlink(missing_ok=True)
                logger.info("Releasing expired lock for key %s: %s", key, stale)
            key_locks.add(lock)
            temporary = key_dir / f".{lock.uuid}.tmp"
            temporary.write_text(json.dumps(lock.to_dict()), encoding="utf-8")
            temporary.replace(key_dir / f"{lock.uuid}.json")
            taken.append(lock.uuid)

    def _release(self, key: str, lock_id: str) -> ConcurrentLock | None:
        with self._guarded(key, create=False) as key_dir:
            if key_dir is None:
                return None
            path = key_dir / f"{lock_id}.json"
            try:
                content = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return None
            path.unlink()
        return parse_slot(key, lock_id, content)
