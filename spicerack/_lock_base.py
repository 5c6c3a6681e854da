"""The lock backend interface and what every backend shares: keys, slots, errors, waiting for a free slot.

A lock is identified by a key (``KEYS_BASE_PATH/<prefix>/<name>``) and is made of slots: at most
``concurrency`` holders at once (``0``: no limit, holders are only tracked), each slot expiring ``ttl`` seconds
after it was taken even if its holder never releases it. A backend subclasses :py:class:`LockBackend` and implements
its primitives (read, take and release the slots of one key, list the held keys); the public methods are the
template every backend shares. :py:mod:`spicerack.locking` chooses the backend.
"""

import json
import logging
import os
import random
import re
import signal
import threading
import time
import uuid
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from spicerack._signals import termination_raises as _termination_raises
from spicerack.exceptions import SpicerackCheckError, SpicerackError

logger = logging.getLogger("spicerack.locking")


KEYS_BASE_PATH: str = "/spicerack/locks"
"""The base path of every lock key."""
COOKBOOKS_PREFIX: str = "cookbooks"
"""The path prefix of the locks taken by the framework for each cookbook run."""
COOKBOOKS_CUSTOM_PREFIX: str = "custom"
"""The path prefix of the locks taken from inside a cookbook with ``spicerack.lock()``."""
SPICERACK_PREFIX: str = "modules"
"""The path prefix of the locks taken by Spicerack modules; their names must start with ``spicerack.``."""
ALLOWED_PREFIXES: tuple[str, ...] = (COOKBOOKS_PREFIX, COOKBOOKS_CUSTOM_PREFIX, SPICERACK_PREFIX)
"""The accepted values of the ``prefix`` argument."""
ETCD_WRITER_LOCK_KEY: str = "etcd"
"""The name, under :py:const:`KEYS_BASE_PATH`, of the short-lived etcd lock held while lock keys are changed."""
ETCD_WRITER_LOCK_TTL: int = 15
"""Seconds after which a writer lock left behind by a dead process expires."""
DEFAULT_MAX_WAIT: float = 1800.0
"""How long, in seconds, :py:meth:`Lock.acquire` waits for a free slot before giving up."""
DEFAULT_RETRY_DELAY: float = 1.0
"""The first pause, in seconds, between two attempts to take a busy lock; the pause grows with each attempt."""
MAX_RETRY_DELAY: float = 15.0
"""The longest pause, in seconds, between two attempts to take a busy lock."""

_OWNER_PATTERN = re.compile(r"^.*@(?P<host>[^@\s\[\]]+) \[(?P<pid>\d+)\]$")
_DEFERRED_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


class LockError(SpicerackError):
    """A lock could not be taken, read or configured."""


class InvalidLockError(LockError):
    """The parameters of a lock are invalid."""


class LockUnreadableError(LockError):
    """A lock stored in the backend cannot be parsed."""


class LockUnwritableError(LockError):
    """A lock cannot be serialized to be stored in the backend."""


class LockExistingError(LockError):
    """A slot with the same ID already exists for the key."""


class EtcdLockUnavailableError(LockError, SpicerackCheckError):
    """The etcd writer lock is held by someone else (retried for a while, then raised)."""


class LockUnavailableError(LockError, SpicerackCheckError):
    """All the slots of the lock are taken (retried until the wait is over, then raised)."""


def check_prefix(prefix: str) -> None:
    if prefix not in ALLOWED_PREFIXES:
        raise LockError(f"Invalid prefix {prefix}, must be one of: {ALLOWED_PREFIXES}")


def lock_key(prefix: str, name: str) -> str:
    """Return the key of the lock with the given name.

    Arguments:
        prefix: the path prefix, one of :py:const:`ALLOWED_PREFIXES`.
        name: the lock name: not empty, without ``/``; with the :py:const:`SPICERACK_PREFIX` prefix it must start
            with ``spicerack.``.

    Raises:
        spicerack.locking.InvalidLockError: if the name is not valid.

    """
    if not name:
        raise InvalidLockError("The lock name cannot be empty")
    if "/" in name:
        raise InvalidLockError(f"The lock name cannot contain '/', got: {name}")
    if prefix == SPICERACK_PREFIX and not name.startswith("spicerack."):
        raise InvalidLockError(
            f"Locks with prefix '{SPICERACK_PREFIX}' must have names starting with 'spicerack.', got: {name}"
        )
    return "/".join((KEYS_BASE_PATH, prefix, name))


def utcnow() -> datetime:
    return datetime.now(UTC)


def _new_lock_id() -> str:
    return str(uuid.uuid4())


@dataclass
class ConcurrentLock:
    """One slot of a lock.

    Arguments:
        concurrency: how many slots the key may have at once; ``0`` means no limit.
        owner: who holds it, in the form ``user@host [pid]``.
        ttl: seconds after which the slot expires.
        uuid: the unique ID of the slot.
        created: when the slot was taken (UTC), not in the future.

    """

    concurrency: int
    owner: str
    ttl: int
    uuid: str = field(default_factory=_new_lock_id)
    created: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        """Validate the arguments."""
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int) or self.concurrency < 0:
            raise InvalidLockError(
                f"Unable to create concurrent lock, argument 'concurrency' must be a non-negative integer, "
                f"got {self.concurrency!r}."
            )
        if isinstance(self.ttl, bool) or not isinstance(self.ttl, int) or self.ttl <= 0:
            raise InvalidLockError(
                f"Unable to create concurrent lock, argument 'ttl' must be a positive integer, got {self.ttl!r}."
            )
        if self.created.tzinfo is None:
            self.created = self.created.replace(tzinfo=UTC)
        if self.created > utcnow():
            raise InvalidLockError(
                f"Unable to create concurrent lock, argument 'created' cannot be in the future, got {self.created}."
            )

    def __str__(self) -> str:
        """Return the slot as its stored attributes."""
        return str(self.to_dict())

    @property
    def expires(self) -> datetime:
        """When the slot expires."""
        return self.created + timedelta(seconds=self.ttl)

    def update_created(self) -> None:
        """Set the creation time to now."""
        self.created = utcnow()

    def to_dict(self) -> dict[str, str | int]:
        """Return the stored attributes (all but the ID, the key of the slot in its lock's JSON object)."""
        return {"concurrency": self.concurrency, "created": str(self.created), "owner": self.owner, "ttl": self.ttl}

    @classmethod
    def from_dict(cls, lock_id: str, lock_obj: dict[str, Any]) -> "ConcurrentLock":
        """Build a slot from its stored attributes.

        A creation time in the future (the clock of the holder's host is ahead) is kept as it is.

        Arguments:
            lock_id: the slot's unique ID.
            lock_obj: the attributes, as returned by :py:meth:`to_dict`.

        Raises:
            spicerack.locking.InvalidLockError: if the attributes are missing or invalid.

        """
        try:
            created = datetime.fromisoformat(str(lock_obj["created"]))
            lock = cls(
                concurrency=lock_obj["concurrency"], owner=str(lock_obj["owner"]), ttl=lock_obj["ttl"], uuid=lock_id
            )
        except KeyError as e:
            raise InvalidLockError(f"Unable to create concurrent lock from dict, missing key {e}") from None
        except ValueError:
            raise InvalidLockError(
                "Unable to create concurrent lock from dict, key 'created' cannot be parsed as a datetime object, "
                f"got {lock_obj['created']}."
            ) from None
        lock.created = created if created.tzinfo is not None else created.replace(tzinfo=UTC)
        return lock


@dataclass
class KeyLocks:
    """The slots currently stored for one key.

    Arguments:
        key: the full key of the lock.
        locks: the slots, by ID.

    """

    key: str
    locks: dict[str, ConcurrentLock] = field(default_factory=dict)

    @classmethod
    def from_json(cls, key: str, json_str: str) -> "KeyLocks":
        """Build the slots of a key from the JSON object stored for it (slot ID -> attributes).

        Raises:
            spicerack.locking.LockUnreadableError: if the JSON cannot be parsed.

        """
        try:
            json_obj = json.loads(json_str)
            return cls(key, {lock_id: ConcurrentLock.from_dict(lock_id, obj) for lock_id, obj in json_obj.items()})
        except (json.JSONDecodeError, AttributeError, TypeError, InvalidLockError) as e:
            raise LockUnreadableError(f"Unable to JSON-deserialize the lock for key {key}: {e}") from None

    def to_json(self) -> str:
        """Return the JSON object of all the slots by ID, as stored in etcd.

        Raises:
            spicerack.locking.LockUnwritableError: if a slot cannot be serialized.

        """
        try:
            return json.dumps({lock.uuid: lock.to_dict() for lock in self.locks.values()})
        except TypeError as e:
            raise LockUnwritableError(f"Unable to JSON-serialize the current instance: {e}") from None

    def add(self, lock: ConcurrentLock) -> None:
        """Add the slot, taken now, if the concurrency of every live holder, and its own, allows one more.

        Expired slots are dropped (and logged) on the way.

        Raises:
            spicerack.locking.LockUnavailableError: if the key has no free slot.
            spicerack.locking.LockExistingError: if a slot with the same ID exists.

        """
        expired = {other.uuid for other in self.expired(utcnow())}
        live = [other for other in self.locks.values() if other.uuid not in expired]
        blocking = [other for other in live if other.concurrency and len(live) >= other.concurrency]
        if blocking:
            strictest = min(blocking, key=lambda other: other.concurrency)
            holders = "\n".join(f"    {other.created}: {other.owner}" for other in live)
            raise LockUnavailableError(
                f"{lock} for key {self.key}.\nThere are already {len(live)} concurrent locks and the concurrency "
                f"allowed is {strictest.concurrency}:\n{holders}"
            )
        for lock_id in expired:
            logger.info("Releasing expired lock for key %s: %s", self.key, self.locks.pop(lock_id))
        if lock.uuid in self.locks:
            raise LockExistingError(
                f"{lock} for key {self.key}. A lock with the same ID {lock.uuid} already exists: "
                f"{self.locks[lock.uuid]}"
            )
        if lock.concurrency and len(self.locks) >= lock.concurrency:
            raise LockUnavailableError(
                f"{lock} for key {self.key}. There are already {len(self.locks)} concurrent locks and a concurrency "
                f"of {lock.concurrency} was requested."
            )
        lock.update_created()
        self.locks[lock.uuid] = lock

    def remove(self, lock_id: str) -> ConcurrentLock | None:
        """Remove the slot with the given ID; return it, or :py:data:`None` (logged) if it is not there."""
        if lock_id not in self.locks:
            logger.warning("Lock for key %s and ID %s not found. Unable to release it. Was expired?", self.key, lock_id)
            return None
        return self.locks.pop(lock_id)

    def expired(self, now: datetime) -> list[ConcurrentLock]:
        """Return the slots whose TTL is over at the given time."""
        return [lock for lock in self.locks.values() if lock.expires <= now]


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and termination signals back while a slot changes hands, so it is never half taken."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class LockBackend(metaclass=ABCMeta):
    """What every lock backend shares: naming, waiting for a free slot, releasing on every exit path."""

    _atomic_changes: bool = False
    """Whether signals are held back while a slot is taken or released (only for quick, local changes)."""

    def __init__(self, *, prefix: str, owner: str, dry_run: bool, max_wait: float | None, retry_delay: float) -> None:
        check_prefix(prefix)
        self._prefix = prefix
        self._owner = owner
        self._dry_run = dry_run
        self._max_wait = DEFAULT_MAX_WAIT if max_wait is None else max_wait
        self._retry_delay = retry_delay

    def get(self, name: str) -> KeyLocks:
        """Return the slots currently stored for the given lock name (none if the lock is free).

        Arguments:
            name: the lock name, see :py:func:`lock_key`.

        Raises:
            spicerack.locking.LockError: if the backend cannot be read.

        """
        return self._read(lock_key(self._prefix, name))

    @contextmanager
    def acquired(self, name: str, *, concurrency: int, ttl: int) -> Iterator[None]:
        """Hold a slot of the lock while the ``with`` block runs; it is released however the block ends.

        Examples::

            # At most 3 runs at once, each slot expiring after 30 minutes
            with spicerack.lock().acquired("my.lock.name", concurrency=3, ttl=1800):
                ...

        Arguments:
            name: the lock name, see :py:func:`lock_key`.
            concurrency: how many holders the lock may have at once, ``0`` for no limit (holders are tracked).
            ttl: seconds after which the slot expires even if it was never released.

        Raises:
            spicerack.locking.LockError: if the slot cannot be taken (when busy, after waiting for it).

        """
        taken: list[str] = []
        with _termination_raises():
            try:
                self._acquire(name, concurrency=concurrency, ttl=ttl, taken=taken)
                yield
            finally:
                for lock_id in taken:
                    self.release(name, lock_id)

    def acquire(self, name: str, *, concurrency: int, ttl: int) -> str:
        """Take a slot of the lock, waiting for one to be free; prefer :py:meth:`acquired`.

        Arguments:
            name: the lock name, see :py:func:`lock_key`.
            concurrency: how many holders the lock may have at once, ``0`` for no limit (holders are tracked).
            ttl: seconds after which the slot expires even if it was never released.

        Returns:
            The ID of the slot, to pass to :py:meth:`release`.

        Raises:
            spicerack.locking.LockError: if the slot cannot be taken (when busy, after waiting for it).

        """
        taken: list[str] = []
        lock_id = ""
        try:
            lock_id = self._acquire(name, concurrency=concurrency, ttl=ttl, taken=taken)
        except BaseException:  # Interrupted right after taking it: the caller would never get the ID to release it
            for taken_id in taken:
                self.release(name, taken_id)
            raise
        return lock_id

    def release(self, name: str, lock_id: str) -> None:
        """Release the slot with the given ID, best effort: a failure is logged, the slot expires anyway.

        Arguments:
            name: the lock name, see :py:func:`lock_key`.
            lock_id: the ID returned by :py:meth:`acquire`.

        """
        key = lock_key(self._prefix, name)
        if self._dry_run:
            logger.info("Skipping lock acquire/release in DRY-RUN mode for key %s and ID %s", key, lock_id)
            return
        logger.debug("Releasing lock for key %s with ID %s", key, lock_id)
        TAKEN_BY_THREAD.pop(lock_id, None)
        try:
            with self._exclusive(), self._deferred_signals():
                lock = self._release(key, lock_id)
        except Exception as e:  # Best effort: the TTL frees the slot anyway
            logger.error("Failed to release lock for key %s and ID %s: %s", key, lock_id, e)
            return
        if lock is None:
            logger.warning("Lock for key %s and ID %s not found. Unable to release it. Was expired?", key, lock_id)
        else:
            logger.info("Released lock for key %s: %s", key, lock)

    def held(self) -> list[KeyLocks]:
        """Return the slots of every key of this backend's prefix that has at least one live slot.

        Raises:
            spicerack.locking.LockError: if the backend cannot be read.

        """
        return [key_locks for key_locks in self._held() if key_locks.locks]

    def _acquire(self, name: str, *, concurrency: int, ttl: int, taken: list[str]) -> str:
        """Take a slot, waiting up to the max wait; its ID is appended to ``taken`` as soon as it is held."""
        key = lock_key(self._prefix, name)
        lock = ConcurrentLock(concurrency=concurrency, owner=self._owner, ttl=ttl)
        logger.debug("Acquiring lock for key %s: %s", key, lock)
        deadline = time.monotonic() + self._max_wait
        attempt = 0
        while True:
            attempt += 1
            try:
                self._try_take(key, lock, taken)
                break
            except LockUnavailableError as e:
                if attempt == 1:
                    self._check_not_waiting_for_itself(key, lock, e)
                remaining = deadline - time.monotonic()
                if self._dry_run or remaining <= 0:  # A DRY-RUN checks once, as the reference does
                    raise
                delay = min(self._retry_delay * attempt, MAX_RETRY_DELAY, remaining) * random.uniform(0.8, 1.0)
                log = logger.warning if attempt == 1 else logger.debug
                log("Unable to acquire lock, retrying for up to %.0fs: %s", remaining, e)
                time.sleep(delay)
        if self._dry_run:
            logger.info("Skipping lock acquire/release in DRY-RUN mode for key %s: %s", key, lock)
        else:
            logger.info("Acquired lock for key %s: %s", key, lock)
        return lock.uuid

    def _check_not_waiting_for_itself(self, key: str, lock: ConcurrentLock, busy: LockUnavailableError) -> None:
        """Fail at once if the slots of this thread (or of the process that started this one) alone fill the lock.

        Waiting would never end: e.g. a cookbook running itself through ``run_cookbook()``, or taking the same
        lock twice. The slots of other threads of this process may be released, they are waited for.

        Raises:
            spicerack.locking.LockError: if this process would wait for itself.

        """
        key_locks = self._read(key)
        expired = {slot.uuid for slot in key_locks.expired(utcnow())}
        own = [
            slot
            for slot in key_locks.locks.values()
            if slot.uuid not in expired and same_run(slot.uuid, slot.owner, self._owner)
        ]
        limits = [limit for limit in (lock.concurrency, *(slot.concurrency for slot in own)) if limit]
        if own and limits and len(own) >= min(limits):
            raise LockError(
                f"Lock for key {key} is already held by this process or the run that started it, waiting would "
                f"never end (a cookbook running itself through run_cookbook(), or taking the same lock twice?): {busy}"
            )

    def _try_take(self, key: str, lock: ConcurrentLock, taken: list[str]) -> None:
        """Take the slot if the limit allows it, else raise LockUnavailableError; in DRY-RUN only check the limit."""
        if self._dry_run:
            self._read(key).add(lock)
            return
        with self._exclusive(), self._deferred_signals():
            self._take(key, lock, taken)
        TAKEN_BY_THREAD[lock.uuid] = threading.get_ident()

    def _deferred_signals(self) -> AbstractContextManager[None]:
        """Hold signals back while a slot changes hands, for the backends whose changes are local and quick.

        A backend talking to a server must stay interruptible: the server may not answer for a long time.
        """
        return _signals_deferred() if self._atomic_changes else nullcontext()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Keep other writers of the backend out while the slots of a key are counted and changed."""
        yield

    @abstractmethod
    def _read(self, key: str) -> KeyLocks:
        """Return the slots of the key."""

    @abstractmethod
    def _take(self, key: str, lock: ConcurrentLock, taken: list[str]) -> None:
        """Store the slot if the limit allows it, else raise LockUnavailableError; add its ID to ``taken`` when held.

        The ID goes in ``taken`` before a write that an interruption could cut short, so that it is released then.
        """

    @abstractmethod
    def _release(self, key: str, lock_id: str) -> ConcurrentLock | None:
        """Remove the slot; return it, or None if it was not there."""

    @abstractmethod
    def _held(self) -> list[KeyLocks]:
        """Return the slots of the keys stored under this backend's prefix."""


class NoLock(LockBackend):
    """Locks disabled: the API of every backend, doing nothing."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        self._prefix, self._owner, self._dry_run = "", "", True

    def get(self, name: str, *_args: Any, **_kwargs: Any) -> KeyLocks:
        """Return no slots."""
        return KeyLocks(key=name)

    @contextmanager
    def acquired(self, *_args: Any, **_kwargs: Any) -> Iterator[None]:
        """Yield at once: nothing is locked."""
        yield

    def acquire(self, *_args: Any, **_kwargs: Any) -> str:
        """Take nothing; return an empty ID."""
        return ""

    def release(self, *_args: Any, **_kwargs: Any) -> None:
        """Release nothing."""

    def held(self) -> list[KeyLocks]:
        """Return no slots: nothing is held."""
        return []

    def _read(self, key: str) -> KeyLocks:
        return KeyLocks(key=key)

    def _take(self, key: str, lock: "ConcurrentLock", taken: list[str]) -> None:
        return None

    def _release(self, key: str, lock_id: str) -> "ConcurrentLock | None":
        return None

    def _held(self) -> list[KeyLocks]:
        return []


def parse_slot(key: str, lock_id: str, content: str) -> ConcurrentLock:
    try:
        return ConcurrentLock.from_dict(lock_id, json.loads(content))
    except (json.JSONDecodeError, AttributeError, TypeError, InvalidLockError) as e:
        raise LockUnreadableError(f"Unable to parse the lock with ID {lock_id} for key {key}: {e}") from None


def holder_gone(lock: ConcurrentLock, hostname: str) -> bool:
    """Tell whether the slot's holder was a process of this host that no longer runs."""
    match = _OWNER_PATTERN.match(lock.owner)
    if match is None or match["host"] != hostname:
        return False
    started = process_start_time(int(match["pid"]))
    if started is None:
        return True
    return started > lock.created.timestamp() + 1  # The PID was reused by a process started after the slot


TAKEN_BY_THREAD: dict[str, int] = {}
"""The slots held by this process (by ID): the thread that took each."""


def same_run(lock_id: str, holder: str, owner: str) -> bool:
    """Tell whether a slot was taken by this thread, or by the parent process, on this owner's host."""
    holder_match, owner_match = _OWNER_PATTERN.match(holder), _OWNER_PATTERN.match(owner)
    if holder_match is None or owner_match is None or holder_match["host"] != owner_match["host"]:
        return False
    pid = int(holder_match["pid"])
    if pid in (int(owner_match["pid"]), os.getpid()):
        return TAKEN_BY_THREAD.get(lock_id) == threading.get_ident()
    return pid == os.getppid()


def process_start_time(pid: int) -> float | None:
    """Return when the process started (epoch seconds), 0.0 if unknown, :py:data:`None` if it doesn't run."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        with Path("/proc/stat").open(encoding="ascii") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith("btime "))
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        return _pid_alive(pid)
    except (OSError, StopIteration, ValueError):
        return _pid_alive(pid)
    fields = stat.rsplit(")", 1)[-1].split()
    if fields[0] in ("Z", "X"):  # Zombie or dead: it no longer holds anything
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _pid_alive(pid: int) -> float | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return 0.0


@contextmanager
def acquired_on_enter(
    get_lock: Callable[[], "LockBackend"], name: str, *, concurrency: int, ttl: int
) -> Iterator[None]:
    """Like :py:meth:`LockBackend.acquired`, but the lock instance is built on entering, so its errors raise there too.

    Arguments:
        get_lock: returns the lock instance to use.
        name: the lock name, see :py:func:`lock_key`.
        concurrency: how many holders the lock may have at once, ``0`` for no limit.
        ttl: seconds after which the slot expires even if it was never released.

    """
    with get_lock().acquired(name, concurrency=concurrency, ttl=ttl):
        yield
