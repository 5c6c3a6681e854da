"""Locks with a concurrency limit and a TTL: one per cookbook run, and custom ones taken by cookbooks.

A lock is identified by a key (``KEYS_BASE_PATH/<prefix>/<name>``) and is made of slots: at most
``concurrency`` holders at once (``0``: no limit, holders are only tracked), each slot expiring ``ttl`` seconds
after it was taken even if its holder never releases it. Every slot records its holder (``user@host [pid]``)
and when it was taken, so that whoever is blocked learns who holds the lock.

Backends:

* :py:class:`Lock`: distributed, in etcd, stored exactly as the reference Spicerack stores it, so that runs of
  both implementations count each other's holders. It uses etcd's v2 API through ``python-etcd``: one key per
  lock, whose value is the JSON object of its slots by ID::

      /spicerack/locks/cookbooks/sre.hosts.reboot => {"4e2677c7-541a-4f9e-afbb-cfdb69c440a1": {
          "concurrency": 5, "created": "2024-07-16 16:46:52.161053+00:00", "owner": "user@host [12345]", "ttl": 120}}

  The key is deleted when its last slot goes. Every change is made while holding python-etcd's lock recipe
  on ``KEYS_BASE_PATH/ETCD_WRITER_LOCK_KEY`` (queued keys with a 15 seconds TTL), the writer lock the reference
  takes too.
* :py:class:`LocalLock`: the same semantics for the processes of one machine, with one file per slot under a
  per-user state directory and a ``flock`` guarding each key. A slot whose holder process is gone is freed at once.
  Used by the embedded default configuration only.
* :py:class:`NoLock`: locks disabled (no ``etcd_config``, or ``--no-locks``): the same API, doing nothing.

In DRY-RUN mode the holders are read and the limit is checked once (a busy lock fails at once), but nothing is
written.

While a lock is held through :py:meth:`Lock.acquired`, a SIGTERM or SIGHUP whose handler is the default one raises
:py:class:`TerminatedError` (a :py:class:`KeyboardInterrupt`) instead of killing the process, so that the slot
is released on the way out; the previous handlers are restored on exit. A process killed with SIGKILL leaves its
slot to expire with the TTL (at once for a :py:class:`LocalLock` whose holder is gone).
"""

import json
import logging
import os
import random
import re
import signal
import socket
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
from urllib.parse import quote

from spicerack._signals import TerminatedError
from spicerack._signals import termination_raises as _termination_raises
from spicerack.config import load_yaml_mapping
from spicerack.decorators import retry
from spicerack.exceptions import SpicerackCheckError, SpicerackError

logger = logging.getLogger(__name__)

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


def _etcd() -> Any:
    """Return the ``python-etcd`` module, imported on first use (it takes a tenth of a second to import)."""
    import etcd  # type: ignore[import-untyped]  # noqa: PLC0415

    return etcd


def __getattr__(name: str) -> Any:
    """Expose ``python-etcd`` as ``spicerack.locking.etcd``, as the reference does, without importing it eagerly."""
    if name == "etcd":
        return _etcd()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def get_lock_instance(
    *, config_file: Path | str | None, prefix: str, owner: str, dry_run: bool = True
) -> "Lock | NoLock":
    """Return the lock instance matching the ``etcd_config`` setting.

    Arguments:
        config_file: the YAML file with the etcd settings (merged with the running user's ``~/.etcdrc`` when it
            exists) for a :py:class:`Lock`; :py:data:`None` or an empty string disable locks (:py:class:`NoLock`).
        prefix: the path prefix of the keys, one of :py:const:`ALLOWED_PREFIXES`.
        owner: who takes the locks, in the form ``user@host [pid]``.
        dry_run: whether this is a DRY-RUN.

    Raises:
        spicerack.locking.LockError: if the prefix is not allowed or the etcd settings are invalid.

    """
    _check_prefix(prefix)
    if not config_file:
        return NoLock()
    path = Path(config_file) if isinstance(config_file, str) else config_file
    config, source = load_etcd_config(path)
    return Lock(config=config, prefix=prefix, owner=owner, dry_run=dry_run, config_source=source)


def load_etcd_config(config_file: Path) -> tuple[dict[str, Any], str]:
    """Load the etcd settings from the given file, overridden by the running user's ``~/.etcdrc`` if present.

    The user is taken from ``$USER``, as the reference and conftool do (under ``sudo`` it's root's file).

    Arguments:
        config_file: the YAML file with the etcd settings, as python-etcd's client takes them.

    Returns:
        The merged settings and a description of where they come from, for error messages.

    Raises:
        spicerack.locking.LockError: if the file cannot be read or is not a YAML mapping.

    """
    config = _read_yaml_mapping(config_file)
    source = str(config_file)
    etcdrc = _user_etcdrc()
    if etcdrc is not None:
        try:
            config.update(_read_yaml_mapping(etcdrc))
            source = f"{config_file} and {etcdrc}"
        except LockError as e:
            logger.warning("Ignoring %s: %s", etcdrc, e)
    return config, source


def _user_etcdrc() -> Path | None:
    """Return the running user's ``~/.etcdrc`` if it is a file; None when it cannot exist or be reached.

    A ``$USER`` unknown to the system, or without a home directory, simply has no such file.
    """
    try:
        etcdrc = Path(f"~{os.environ.get('USER', '')}/.etcdrc").expanduser()
        if etcdrc.is_file():
            return etcdrc
    except (RuntimeError, OSError) as e:  # RuntimeError: no home directory for the user
        logger.debug("No ~/.etcdrc for user %r: %s", os.environ.get("USER", ""), e)
    return None


def _read_yaml_mapping(path: Path) -> dict[str, Any]:
    return load_yaml_mapping(path, description="etcd config file", error=LockError)


def _check_prefix(prefix: str) -> None:
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


def _utcnow() -> datetime:
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
    created: datetime = field(default_factory=_utcnow)

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
        if self.created > _utcnow():
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
        self.created = _utcnow()

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
        expired = {other.uuid for other in self.expired(_utcnow())}
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


class _LockBase(metaclass=ABCMeta):
    """What every lock backend shares: naming, waiting for a free slot, releasing on every exit path."""

    _atomic_changes: bool = False
    """Whether signals are held back while a slot is taken or released (only for quick, local changes)."""

    def __init__(self, *, prefix: str, owner: str, dry_run: bool, max_wait: float | None, retry_delay: float) -> None:
        _check_prefix(prefix)
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
        _TAKEN_BY_THREAD.pop(lock_id, None)
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
        expired = {slot.uuid for slot in key_locks.expired(_utcnow())}
        own = [
            slot
            for slot in key_locks.locks.values()
            if slot.uuid not in expired and _same_run(slot.uuid, slot.owner, self._owner)
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
        _TAKEN_BY_THREAD[lock.uuid] = threading.get_ident()

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


class Lock(_LockBase):
    """Locks stored in etcd (v2 API, the reference's layout), shared by every host using the same etcd cluster."""

    def __init__(
        self,
        *,
        config: dict[str, Any],
        prefix: str,
        owner: str,
        dry_run: bool = True,
        max_wait: float | None = None,
        retry_delay: float = DEFAULT_RETRY_DELAY,
        config_source: str = "the etcd config",
    ) -> None:
        """Set up the lock; nothing is contacted until a lock is read or taken.

        Arguments:
            config: the settings of python-etcd's client: ``host`` (a name, or a tuple of ``(name, port)`` pairs),
                ``port``, ``protocol``, ``username``, ``password``, ``ca_cert``, ``cert``, ``read_timeout``,
                ``allow_reconnect``, ``srv_domain``, ...; its ``lock_prefix`` is always :py:const:`KEYS_BASE_PATH`.
            prefix: the path prefix of the keys, one of :py:const:`ALLOWED_PREFIXES`.
            owner: who takes the locks, in the form ``user@host [pid]``.
            dry_run: whether this is a DRY-RUN: the limit is checked, nothing is written.
            max_wait: seconds to wait for a free slot before giving up, by default :py:const:`DEFAULT_MAX_WAIT`.
            retry_delay: the first pause between two attempts to take a busy lock.
            config_source: where the settings come from, for error messages.

        Raises:
            spicerack.locking.LockError: if the prefix or a setting is invalid.

        """
        super().__init__(prefix=prefix, owner=owner, dry_run=dry_run, max_wait=max_wait, retry_delay=retry_delay)
        self._source = config_source
        etcd = _etcd()
        try:
            self._etcd = etcd.Client(**{**config, "lock_prefix": KEYS_BASE_PATH})
            _quiet_retry_noise(self._etcd)
        except TypeError as e:
            raise LockError(f"Invalid etcd settings in {config_source}: {e}") from None
        except etcd.EtcdException as e:  # With allow_reconnect the client asks the cluster for its members
            raise LockError(
                f"Unable to reach etcd ({_short_reason(e)}). Check the etcd settings in {config_source}, "
                "or run with --no-locks to skip locks"
            ) from None

    def _read(self, key: str) -> KeyLocks:
        etcd = _etcd()
        with self._answer_errors(f"Failed to get key {key}"):
            try:
                value = self._etcd.read(key, timeout=self._etcd.read_timeout).value
            except (KeyError, etcd.EtcdKeyNotFound):
                return KeyLocks(key=key)
        if not isinstance(value, str):
            raise self._malformed(ValueError(f"no value for key {key}")) from None
        return KeyLocks.from_json(key, value)

    def _take(self, key: str, lock: ConcurrentLock, taken: list[str]) -> None:
        key_locks = self._read(key)
        key_locks.add(lock)
        taken.append(lock.uuid)  # An interrupted write may have reached etcd: release it on the way out
        try:
            self._write(key_locks)
        except LockError:
            taken.remove(lock.uuid)
            raise

    def _release(self, key: str, lock_id: str) -> ConcurrentLock | None:
        key_locks = self._read(key)
        if lock_id not in key_locks.locks:
            return None
        lock = key_locks.remove(lock_id)
        self._write(key_locks)
        return lock

    def _write(self, key_locks: KeyLocks) -> None:
        """Store the slots of the key, or delete the key when none is left."""
        etcd = _etcd()
        with self._answer_errors(f"Failed to write key {key_locks.key}"):
            try:
                if key_locks.locks:
                    self._etcd.set(key_locks.key, key_locks.to_json())
                else:
                    self._etcd.delete(key_locks.key)
            except etcd.EtcdKeyNotFound:
                pass

    @contextmanager
    def _answer_errors(self, failure: str) -> Iterator[None]:
        """Turn what an etcd call raises into a one-line LockError: an answer that is not etcd's, or ``failure``."""
        etcd = _etcd()
        try:
            yield
        except etcd.EtcdException as e:
            if _is_malformed_answer(e):
                raise self._malformed(e) from None
            raise self._failed(failure, e) from None
        except Exception as e:  # python-etcd choking on an answer that is not etcd's
            raise self._malformed(e) from None

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        writer = self._acquire_etcd_lock()
        try:
            yield
        finally:
            try:
                writer.release()
            except Exception as e:  # Whatever the answer: the writer lock expires with its TTL
                logger.warning("Failed to release the etcd writer lock %s, it expires by itself: %s", writer.path, e)

    @retry(
        tries=15,
        delay=timedelta(seconds=1),
        backoff_mode="linear",
        exceptions=(EtcdLockUnavailableError,),
        failure_message="Unable to acquire etcd lock",
    )
    def _acquire_etcd_lock(self) -> Any:
        """Take the etcd writer lock (retried for about 2 minutes) and return it, to be released.

        Raises:
            spicerack.locking.EtcdLockUnavailableError: if it stays taken by someone else.
            spicerack.locking.LockError: if etcd cannot be reached.

        """
        etcd = _etcd()
        writer = etcd.Lock(self._etcd, ETCD_WRITER_LOCK_KEY)
        try:
            writer.acquire(blocking=False, lock_ttl=ETCD_WRITER_LOCK_TTL)  # Blocking would ignore any timeout
            acquired = writer.is_acquired
        except etcd.EtcdConnectionFailed as e:
            raise LockError(self._describe(e)) from None
        except etcd.EtcdLockExpired as e:  # The entry just queued is not listed: etcd never answers that
            raise self._malformed(e) from None
        except etcd.EtcdException as e:
            if _is_malformed_answer(e):
                raise self._malformed(e) from None
            self._drop_queued(writer, "Failed to release etcd attempted lock queued in %s with value %s: %s")
            raise EtcdLockUnavailableError(str(e)) from e
        except Exception as e:  # python-etcd choking on an answer that is not etcd's
            raise self._malformed(e) from None
        if not acquired:
            self._drop_queued(writer, "Failed to release etcd lock queued in %s with value %s: %s")
            raise EtcdLockUnavailableError("Lock already taken")
        return writer

    @staticmethod
    def _drop_queued(writer: Any, message: str) -> None:
        """Remove the writer's entry from the etcd lock queue, best effort (it expires anyway)."""
        try:
            writer.release()
        except Exception as e:  # Whatever the answer: the entry expires with its TTL
            logger.warning(message, writer.path, writer.uuid, e)

    def _failed(self, what: str, error: Exception) -> LockError:
        return LockError(f"{what}: {self._describe(error)}")

    def _malformed(self, error: Exception) -> LockError:
        """Return the one-line error for an answer that is not etcd's v2 API, naming the endpoint and the settings."""
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        return LockError(
            f"Unexpected answer from etcd at {self._etcd.base_uri}, is it etcd with the v2 API enabled? ({reason}). "
            f"Check the etcd settings in {self._source}, or run with --no-locks to skip locks"
        )

    def _describe(self, error: Exception) -> str:
        """Return a one-line description of an etcd error, naming the server and the settings if unreachable."""
        if isinstance(error, _etcd().EtcdConnectionFailed):
            return (
                f"Unable to reach etcd ({self._etcd.base_uri}: {_short_reason(error)}). Check the etcd settings in "
                f"{self._source}, or run with --no-locks to skip locks"
            )
        return " ".join(str(error).split()) or type(error).__name__


class _EtcdRetryNoise(logging.Filter):
    """Turn the records of urllib3 and python-etcd about failed requests to the lock's etcd servers into DEBUG ones.

    When etcd is down they would fill the console before the lock's own one-line error; they stay in the extended log.
    """

    def __init__(self) -> None:
        super().__init__()
        self.markers: set[str] = {
            "etcd response did not contain a cluster ID",
            "Unexpected request failure, re-raising",
        }

    def filter(self, record: logging.LogRecord) -> bool:
        """Demote the record if it is about one of the etcd servers; never drop it."""
        if record.levelno > logging.DEBUG and any(marker in record.getMessage() for marker in self.markers):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_ETCD_RETRY_NOISE = _EtcdRetryNoise()


def _quiet_retry_noise(client: Any) -> None:
    """Demote the retry and failure messages of the libraries about the given etcd client's server."""
    for name in ("etcd.client", "urllib3.connectionpool"):
        library_logger = logging.getLogger(name)
        if _ETCD_RETRY_NOISE not in library_logger.filters:
            library_logger.addFilter(_ETCD_RETRY_NOISE)
    base_uri, host, port = (getattr(client, name, None) for name in ("base_uri", "host", "port"))
    if isinstance(base_uri, str) and isinstance(host, str):
        _ETCD_RETRY_NOISE.markers.update({f"server {base_uri} ", f"host='{host}', port={port})"})


_MALFORMED_ANSWER_MESSAGES = (
    "Server response was not valid JSON",
    "Unable to decode server response",
    "Cannot parse json data",
)


def _is_malformed_answer(error: Exception) -> bool:
    """Tell whether python-etcd failed because the server's answer is not etcd's (it raises a plain EtcdException)."""
    return str(error).startswith(_MALFORMED_ANSWER_MESSAGES)


def _short_reason(error: Exception) -> str:
    """Return the gist of a connection error (urllib3's messages are long and nested)."""
    text = str(getattr(error, "cause", None) or error)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    if "timed out" in text.lower():
        return "timed out"
    return " ".join(text.split())[:200] or type(error).__name__


class LocalLock(_LockBase):
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
            key_locks.locks[path.stem] = _parse_slot(key, path.stem, content)
        return key_locks

    def _stale(self, key_locks: KeyLocks) -> list[ConcurrentLock]:
        now = _utcnow()
        expired = key_locks.expired(now)
        gone = [lock for lock in key_locks.locks.values() if lock not in expired and _holder_gone(lock, self._hostname)]
        return expired + gone

    def _read(self, key: str) -> KeyLocks:
        with self._guarded(key, create=False) as key_dir:
            if key_dir is None:
                return KeyLocks(key=key)
            key_locks = self._slots(key, key_dir)
        for lock in self._stale(key_locks):
            key_locks.locks.pop(lock.uuid)
        return key_locks

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
        return _parse_slot(key, lock_id, content)


class NoLock:
    """Locks disabled: the API of :py:class:`Lock`, doing nothing."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        """Accept and ignore any argument of :py:class:`Lock`."""

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


def _parse_slot(key: str, lock_id: str, content: str) -> ConcurrentLock:
    try:
        return ConcurrentLock.from_dict(lock_id, json.loads(content))
    except (json.JSONDecodeError, AttributeError, TypeError, InvalidLockError) as e:
        raise LockUnreadableError(f"Unable to parse the lock with ID {lock_id} for key {key}: {e}") from None


def _holder_gone(lock: ConcurrentLock, hostname: str) -> bool:
    """Tell whether the slot's holder was a process of this host that no longer runs."""
    match = _OWNER_PATTERN.match(lock.owner)
    if match is None or match["host"] != hostname:
        return False
    started = process_start_time(int(match["pid"]))
    if started is None:
        return True
    return started > lock.created.timestamp() + 1  # The PID was reused by a process started after the slot


_TAKEN_BY_THREAD: dict[str, int] = {}
"""The slots held by this process (by ID): the thread that took each."""


def _same_run(lock_id: str, holder: str, owner: str) -> bool:
    """Tell whether a slot was taken by this thread, or by the parent process, on this owner's host."""
    holder_match, owner_match = _OWNER_PATTERN.match(holder), _OWNER_PATTERN.match(owner)
    if holder_match is None or owner_match is None or holder_match["host"] != owner_match["host"]:
        return False
    pid = int(holder_match["pid"])
    if pid in (int(owner_match["pid"]), os.getpid()):
        return _TAKEN_BY_THREAD.get(lock_id) == threading.get_ident()
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


__all__ = [
    "ALLOWED_PREFIXES",
    "COOKBOOKS_CUSTOM_PREFIX",
    "COOKBOOKS_PREFIX",
    "ETCD_WRITER_LOCK_KEY",
    "KEYS_BASE_PATH",
    "SPICERACK_PREFIX",
    "ConcurrentLock",
    "EtcdLockUnavailableError",
    "InvalidLockError",
    "KeyLocks",
    "LocalLock",
    "Lock",
    "LockError",
    "LockExistingError",
    "LockUnavailableError",
    "LockUnreadableError",
    "LockUnwritableError",
    "NoLock",
    "TerminatedError",
    "get_lock_instance",
    "load_etcd_config",
    "lock_key",
    "retry",
]


@contextmanager
def acquired_on_enter(
    get_lock: Callable[[], "Lock | LocalLock | NoLock"], name: str, *, concurrency: int, ttl: int
) -> Iterator[None]:
    """Like :py:meth:`Lock.acquired`, but the lock instance is built on entering, so its errors raise there too.

    Arguments:
        get_lock: returns the lock instance to use.
        name: the lock name, see :py:func:`lock_key`.
        concurrency: how many holders the lock may have at once, ``0`` for no limit.
        ttl: seconds after which the slot expires even if it was never released.

    """
    with get_lock().acquired(name, concurrency=concurrency, ttl=ttl):
        yield
