"""Locks with a concurrency limit and a TTL: one per cookbook run, and custom ones taken by cookbooks.

A lock is identified by a key (``KEYS_BASE_PATH/<prefix>/<name>``) and is made of slots: at most
``concurrency`` holders at once (``0``: no limit, holders are only tracked), each slot expiring ``ttl`` seconds
after it was taken even if its holder never releases it. Every slot records its holder (``user@host [pid]``)
and when it was taken, so that whoever is blocked learns who holds the lock.

Backends, chosen by :py:func:`get_lock_instance` from the ``etcd_config`` setting:

* :py:class:`Lock`: distributed, in etcd through its v3 API. It talks to etcd's v3 JSON gateway (``/v3/...``,
  served by etcd 3.4 and later, ``/v3beta`` tried for older ones) with ``requests``, already a dependency: the
  ``etcd3`` client package is unmaintained since 2020 and breaks with current ``protobuf``, and the v2 API used
  by ``python-etcd`` is gone from etcd 3.6. Each slot is a key ``<key>/<uuid>`` attached to an etcd lease of
  ``ttl`` seconds, so etcd deletes it when it expires; a slot is taken by a transaction that succeeds only if no
  slot of the key changed since the holders were read and counted.
* :py:class:`LocalLock`: the same semantics for the processes of one machine, with one file per slot under a
  per-user state directory and a ``flock`` guarding each key. A slot whose holder process is gone is freed at once.
* :py:class:`NoLock`: locks disabled (``--no-locks``): the same API, doing nothing.

In DRY-RUN mode the holders are read and the limit is checked (waiting for a free slot like a real run), but no
slot is written.

While a lock is held through :py:meth:`Lock.acquired`, a SIGTERM or SIGHUP whose handler is the default one raises
:py:class:`TerminatedError` (a :py:class:`KeyboardInterrupt`) instead of killing the process, so that the slot
is released on the way out; the previous handlers are restored on exit. A process killed with SIGKILL leaves its
slot to expire with the TTL (at once for a :py:class:`LocalLock` whose holder is gone).
"""

import base64
import json
import logging
import os
import random
import re
import signal
import socket
import time
import uuid
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from spicerack._signals import TerminatedError
from spicerack._signals import termination_raises as _termination_raises
from spicerack.config import load_yaml_mapping
from spicerack.exceptions import SpicerackCheckError, SpicerackError

if TYPE_CHECKING:
    import requests

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
DEFAULT_MAX_WAIT: float = 1800.0
"""How long, in seconds, :py:meth:`Lock.acquire` waits for a free slot before giving up."""
DEFAULT_RETRY_DELAY: float = 1.0
"""The first pause, in seconds, between two attempts to take a busy lock; the pause grows with each attempt."""
MAX_RETRY_DELAY: float = 15.0
"""The longest pause, in seconds, between two attempts to take a busy lock."""

ETCD_DEFAULTS: dict[str, Any] = {"host": "127.0.0.1", "port": 2379, "protocol": "http", "read_timeout": 10}
"""The etcd settings used when the configuration file doesn't set them."""
ETCD_USED_KEYS = frozenset(
    {"host", "port", "protocol", "username", "password", "ca_cert", "cert", "read_timeout", "allow_reconnect"}
)
ETCD_IGNORED_KEYS = frozenset(
    {"version_prefix", "allow_redirect", "use_proxies", "expected_cluster_id", "per_host_pool_size", "lock_prefix"}
)
"""Settings of the reference's etcd client that are accepted and have no effect with the v3 API."""
_CONNECT_TIMEOUT = 5.0
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


class LockUnavailableError(LockError, SpicerackCheckError):
    """All the slots of the lock are taken (retried until the wait is over, then raised)."""


def get_lock_instance(
    *, config_file: str | Path | None, prefix: str, owner: str, dry_run: bool = True
) -> "Lock | LocalLock | NoLock":
    """Return the lock instance matching the ``etcd_config`` setting.

    Arguments:
        config_file: the YAML file with the etcd settings (merged with the running user's ``~/.etcdrc`` when it
            exists) for a :py:class:`Lock`; an empty string disables locks (:py:class:`NoLock`);
            :py:data:`None` gives a :py:class:`LocalLock`, that limits the processes of this machine only.
        prefix: the path prefix of the keys, one of :py:const:`ALLOWED_PREFIXES`.
        owner: who takes the locks, in the form ``user@host [pid]``.
        dry_run: whether this is a DRY-RUN.

    Raises:
        spicerack.locking.LockError: if the prefix is not allowed or the etcd settings are invalid.

    """
    _check_prefix(prefix)
    if config_file is None:
        return LocalLock(prefix=prefix, owner=owner, dry_run=dry_run)
    if isinstance(config_file, str) and not config_file:
        return NoLock()
    config, source = load_etcd_config(Path(config_file))
    return Lock(config=config, prefix=prefix, owner=owner, dry_run=dry_run, config_source=source)


def load_etcd_config(config_file: Path) -> tuple[dict[str, Any], str]:
    """Load the etcd settings from the given file, overridden by the running user's ``~/.etcdrc`` if present.

    Arguments:
        config_file: the YAML file with the etcd settings.

    Returns:
        The merged settings and a description of where they come from, for error messages.

    Raises:
        spicerack.locking.LockError: if the file cannot be read or is not a YAML mapping.

    """
    config = _read_yaml_mapping(config_file)
    source = str(config_file)
    etcdrc = Path(f"~{os.environ.get('USER', '')}/.etcdrc").expanduser()
    if etcdrc.is_file():
        try:
            config.update(_read_yaml_mapping(etcdrc))
            source = f"{config_file} and {etcdrc}"
        except LockError as e:
            logger.warning("Ignoring %s: %s", etcdrc, e)
    return config, source


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
        created: when the slot was taken (UTC).

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

    def __str__(self) -> str:
        """Return the slot as its stored attributes."""
        return str(self.to_dict())

    @property
    def expires(self) -> datetime:
        """When the slot expires."""
        return self.created + timedelta(seconds=self.ttl)

    @property
    def holder(self) -> str:
        """Who holds the slot and since when, for messages: ``user@host [pid] since 2024-01-31 12:34:56 UTC``."""
        return f"{self.owner} since {self.created:%Y-%m-%d %H:%M:%S} UTC"

    def update_created(self) -> None:
        """Set the creation time to now."""
        self.created = _utcnow()

    def to_dict(self) -> dict[str, str | int]:
        """Return the stored attributes (all but the ID, that is part of the key)."""
        return {"concurrency": self.concurrency, "created": str(self.created), "owner": self.owner, "ttl": self.ttl}

    @classmethod
    def from_dict(cls, lock_id: str, lock_obj: dict[str, Any]) -> "ConcurrentLock":
        """Build a slot from its stored attributes.

        Arguments:
            lock_id: the slot's unique ID.
            lock_obj: the attributes, as returned by :py:meth:`to_dict`.

        Raises:
            spicerack.locking.InvalidLockError: if the attributes are missing or invalid.

        """
        try:
            created = datetime.fromisoformat(str(lock_obj["created"]))
            return cls(
                concurrency=lock_obj["concurrency"],
                owner=str(lock_obj["owner"]),
                ttl=lock_obj["ttl"],
                uuid=lock_id,
                created=created,
            )
        except KeyError as e:
            raise InvalidLockError(f"Unable to create concurrent lock from dict, missing key {e}") from None
        except ValueError:
            raise InvalidLockError(
                "Unable to create concurrent lock from dict, key 'created' cannot be parsed as a datetime object, "
                f"got {lock_obj['created']}."
            ) from None


@dataclass
class KeyLocks:
    """The slots currently taken for one key.

    Arguments:
        key: the full key of the lock.
        locks: the slots, by ID.

    """

    key: str
    locks: dict[str, ConcurrentLock] = field(default_factory=dict)

    @classmethod
    def from_json(cls, key: str, json_str: str) -> "KeyLocks":
        """Build the instance from the JSON object of all its slots by ID.

        Raises:
            spicerack.locking.LockUnreadableError: if the JSON cannot be parsed.

        """
        try:
            json_obj = json.loads(json_str)
            return cls(key, {lock_id: ConcurrentLock.from_dict(lock_id, obj) for lock_id, obj in json_obj.items()})
        except (json.JSONDecodeError, AttributeError, TypeError, InvalidLockError) as e:
            raise LockUnreadableError(f"Unable to parse the lock for key {key}: {e}") from None

    def to_json(self) -> str:
        """Return the JSON object of all the slots by ID.

        Raises:
            spicerack.locking.LockUnwritableError: if a slot cannot be serialized.

        """
        try:
            return json.dumps({lock.uuid: lock.to_dict() for lock in self.locks.values()})
        except TypeError as e:
            raise LockUnwritableError(f"Unable to serialize the lock for key {self.key}: {e}") from None

    def limit(self, lock: ConcurrentLock) -> int:
        """Return how many slots the key may have if the given one joins: the lowest non-zero concurrency, or 0."""
        limits = [other.concurrency for other in (*self.locks.values(), lock) if other.concurrency]
        return min(limits, default=0)

    def add(self, lock: ConcurrentLock) -> None:
        """Add the slot if the concurrency of every holder, and its own, allows one more.

        Raises:
            spicerack.locking.LockUnavailableError: if the key has no free slot.
            spicerack.locking.LockExistingError: if a slot with the same ID exists.

        """
        if lock.uuid in self.locks:
            raise LockExistingError(
                f"{lock} for key {self.key}. A lock with the same ID {lock.uuid} already exists: "
                f"{self.locks[lock.uuid]}"
            )
        limit = self.limit(lock)
        if limit and len(self.locks) >= limit:
            holders = "; ".join(other.holder for other in sorted(self.locks.values(), key=lambda item: item.created))
            raise LockUnavailableError(
                f"Lock for key {self.key} is busy: {len(self.locks)} of {limit} allowed concurrent holders: {holders}"
            )
        self.locks[lock.uuid] = lock

    def remove(self, lock_id: str) -> ConcurrentLock | None:
        """Remove the slot with the given ID; return it, or :py:data:`None` if it is not there (expired?)."""
        return self.locks.pop(lock_id, None)

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

    def __init__(self, *, prefix: str, owner: str, dry_run: bool, max_wait: float | None, retry_delay: float) -> None:
        _check_prefix(prefix)
        self._prefix = prefix
        self._owner = owner
        self._dry_run = dry_run
        self._max_wait = DEFAULT_MAX_WAIT if max_wait is None else max_wait
        self._retry_delay = retry_delay

    def get(self, name: str) -> KeyLocks:
        """Return the slots currently held for the given lock name (none if the lock is free).

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
        try:
            self._acquire(name, concurrency=concurrency, ttl=ttl, taken=taken)
        except BaseException:  # Interrupted right after taking it: the caller would never get the ID to release it
            for lock_id in taken:
                self.release(name, lock_id)
            raise
        return taken[0]

    def release(self, name: str, lock_id: str) -> None:
        """Release the slot with the given ID, best effort: a failure is logged, the slot expires anyway.

        Arguments:
            name: the lock name, see :py:func:`lock_key`.
            lock_id: the ID returned by :py:meth:`acquire`.

        """
        key = lock_key(self._prefix, name)
        if self._dry_run:
            logger.debug("Skipping release of lock for key %s with ID %s in DRY-RUN mode", key, lock_id)
            return
        logger.debug("Releasing lock for key %s with ID %s", key, lock_id)
        try:
            with _signals_deferred():
                lock = self._release(key, lock_id)
        except Exception as e:  # Best effort: the TTL frees the slot anyway
            logger.error("Failed to release lock for key %s and ID %s: %s", key, lock_id, e)
            return
        if lock is None:
            logger.warning("Lock for key %s and ID %s not found. Unable to release it. Was expired?", key, lock_id)
        else:
            logger.info("Released lock for key %s: %s", key, lock)

    def _acquire(self, name: str, *, concurrency: int, ttl: int, taken: list[str]) -> None:
        """Take a slot, waiting up to the max wait; its ID is appended to ``taken`` as soon as it is held."""
        key = lock_key(self._prefix, name)
        lock = ConcurrentLock(concurrency=concurrency, owner=self._owner, ttl=ttl)
        logger.debug("Acquiring lock for key %s: %s", key, lock)
        deadline = time.monotonic() + self._max_wait
        attempt = 0
        while True:
            attempt += 1
            try:
                with _signals_deferred():
                    if self._try_take(key, lock):
                        taken.append(lock.uuid)
                        break
                continue  # Another client changed the holders in the meantime: count them again
            except LockUnavailableError as e:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LockUnavailableError(f"Unable to acquire the lock within {self._max_wait:g}s. {e}") from None
                delay = min(self._retry_delay * attempt, MAX_RETRY_DELAY, remaining) * random.uniform(0.8, 1.0)
                log = logger.warning if attempt == 1 else logger.debug
                log("%s. Retrying for up to %.0fs", e, remaining)
                time.sleep(delay)
        if self._dry_run:
            logger.info("Skipping lock acquire/release in DRY-RUN mode")
        else:
            logger.info("Acquired lock for key %s: %s", key, lock)

    def _try_take(self, key: str, lock: ConcurrentLock) -> bool:
        """Take the slot if the limit allows it; False if the holders changed meanwhile (to be retried at once)."""
        if self._dry_run:
            self._read(key).add(lock)
            return True
        return self._take(key, lock)

    @abstractmethod
    def _read(self, key: str) -> KeyLocks:
        """Return the live slots of the key."""

    @abstractmethod
    def _take(self, key: str, lock: ConcurrentLock) -> bool:
        """Store the slot if the limit allows it (else LockUnavailableError); False if the holders changed."""

    @abstractmethod
    def _release(self, key: str, lock_id: str) -> ConcurrentLock | None:
        """Remove the slot; return it, or None if it was not there."""


class Lock(_LockBase):
    """Locks stored in etcd (v3 API), shared by every host using the same etcd cluster.

    Each slot is a key with a lease of ``ttl`` seconds, for example::

        /spicerack/locks/cookbooks/sre.hosts.reboot:host1/4e2677c7-541a-4f9e-afbb-cfdb69c440a1 => {
            "concurrency": 5, "created": "2024-07-16 16:46:52.161053+00:00", "owner": "user@host [12345]", "ttl": 120
        }
    """

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
            config: the etcd settings: ``host`` (a name, or a list of names or ``[name, port]`` pairs tried in
                order), ``port``, ``protocol`` (``http`` or ``https``), ``username`` and ``password``,
                ``ca_cert``, ``cert`` (a file, or ``[cert, key]``), ``read_timeout`` (seconds).
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
        self._etcd = _EtcdGateway(config, config_source)
        self._held: dict[str, tuple[int, ConcurrentLock]] = {}  # Slot ID -> lease and slot, of this instance

    def _read(self, key: str) -> KeyLocks:
        return self._read_with_revision(key)[0]

    def _read_with_revision(self, key: str) -> tuple[KeyLocks, int]:
        response = self._etcd.call("kv/range", _prefix_range(f"{key}/"))
        key_locks = KeyLocks(key=key)
        for kv in response.get("kvs", []):
            lock_id = _b64decode(kv["key"]).rsplit("/", 1)[-1]
            key_locks.locks[lock_id] = _parse_slot(key, lock_id, _b64decode(kv.get("value", "")))
        return key_locks, int(response["header"]["revision"])

    def _take(self, key: str, lock: ConcurrentLock) -> bool:
        key_locks, revision = self._read_with_revision(key)
        key_locks.add(lock)
        lease = int(self._etcd.call("lease/grant", {"TTL": lock.ttl})["ID"])
        lock.update_created()
        unchanged = {**_prefix_range(f"{key}/"), "target": "MOD", "result": "LESS", "mod_revision": revision + 1}
        put = {"key": _b64encode(f"{key}/{lock.uuid}"), "value": _b64encode(json.dumps(lock.to_dict())), "lease": lease}
        try:
            response = self._etcd.call("kv/txn", {"compare": [unchanged], "success": [{"request_put": put}]})
        except BaseException:
            self._revoke_quietly(lease)
            raise
        if not response.get("succeeded", False):
            self._revoke_quietly(lease)
            return False
        self._held[lock.uuid] = (lease, lock)
        return True

    def _release(self, key: str, lock_id: str) -> ConcurrentLock | None:
        if lock_id in self._held:
            lease, lock = self._held[lock_id]
            response = self._etcd.call("lease/revoke", {"ID": lease}, missing_ok=True)
            del self._held[lock_id]
            return None if response.get("code") == 5 else lock  # 5: NOT_FOUND, the lease expired
        slot_key = f"{key}/{lock_id}"  # Taken by another instance: find its lease
        kvs = self._etcd.call("kv/range", {"key": _b64encode(slot_key)}).get("kvs", [])
        if not kvs:
            return None
        lease = int(kvs[0].get("lease", 0))
        if lease:
            self._etcd.call("lease/revoke", {"ID": lease}, missing_ok=True)
        else:
            self._etcd.call("kv/deleterange", {"key": _b64encode(slot_key)})
        return _parse_slot(key, lock_id, _b64decode(kvs[0].get("value", "")))

    def _revoke_quietly(self, lease: int) -> None:
        try:
            self._etcd.call("lease/revoke", {"ID": lease}, missing_ok=True)
        except LockError as e:
            logger.debug("Unable to revoke unused etcd lease %d, it will expire: %s", lease, e)


class LocalLock(_LockBase):
    """Locks local to this machine: one JSON file per slot, under a per-user directory.

    Layout: ``<lock_dir>/<prefix>/<name>.lock/<uuid>.json`` (the name URL-quoted), and ``.guard`` in the same
    directory, ``flock``-ed while the slots of the key are counted and changed. Besides the TTL, a slot whose
    holder (``user@host [pid]`` of this host) no longer runs is freed.
    """

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
            from spicerack._config import user_state_dir  # noqa: PLC0415 - avoids an import cycle

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
            key_locks.remove(lock.uuid)
        return key_locks

    def _take(self, key: str, lock: ConcurrentLock) -> bool:
        with self._guarded(key, create=True) as key_dir:
            if key_dir is None:
                raise LockError(f"The lock directory of key {key} vanished")
            key_locks = self._slots(key, key_dir)
            for stale in self._stale(key_locks):
                key_locks.remove(stale.uuid)
                (key_dir / f"{stale.uuid}.json").unlink(missing_ok=True)
                logger.info("Releasing expired lock for key %s: %s", key, stale)
            key_locks.add(lock)
            lock.update_created()
            temporary = key_dir / f".{lock.uuid}.tmp"
            temporary.write_text(json.dumps(lock.to_dict()), encoding="utf-8")
            temporary.replace(key_dir / f"{lock.uuid}.json")
        return True

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


def _b64encode(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _b64decode(value: str) -> str:
    return base64.b64decode(value).decode()


def prefix_range_end(prefix: str) -> str:
    """Return the end of the etcd key range holding every key that starts with the given prefix."""
    raw = bytearray(prefix.encode())
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        return "\0"
    raw[-1] += 1
    return raw.decode("latin-1")


def _prefix_range(prefix: str) -> dict[str, str]:
    end = prefix_range_end(prefix).encode("latin-1")
    return {"key": _b64encode(prefix), "range_end": base64.b64encode(end).decode()}


def etcd_endpoints(config: dict[str, Any], source: str) -> list[str]:
    """Return the base URLs of the etcd servers in the settings, in the order to try them.

    Raises:
        spicerack.locking.LockError: if a setting is unknown or invalid.

    """
    if "srv_domain" in config:
        raise LockError(f"The etcd setting 'srv_domain' in {source} is not supported: list the servers in 'host'")
    unknown = sorted(set(config) - ETCD_USED_KEYS - ETCD_IGNORED_KEYS)
    if unknown:
        raise LockError(f"Unknown etcd setting {unknown[0]!r} in {source}")
    settings = {**ETCD_DEFAULTS, **config}
    protocol = settings["protocol"]
    if protocol not in ("http", "https"):
        raise LockError(f"Invalid etcd setting 'protocol' in {source}: must be http or https, got {protocol!r}")
    hosts = settings["host"] if isinstance(settings["host"], list | tuple) else [settings["host"]]
    endpoints = []
    for entry in hosts:
        host, port = entry if isinstance(entry, list | tuple) and len(entry) == 2 else (entry, settings["port"])
        if not isinstance(host, str) or not host or isinstance(port, bool) or not isinstance(port, int):
            raise LockError(f"Invalid etcd setting 'host' or 'port' in {source}: got {entry!r}")
        endpoints.append(f"{protocol}://{f'[{host}]' if ':' in host else host}:{port}")
    if not endpoints:
        raise LockError(f"Invalid etcd setting 'host' in {source}: no server listed")
    return endpoints


class _EtcdRequestError(LockError):
    """etcd answered a request with an error."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


class _EtcdGateway:
    """A minimal client of etcd's v3 JSON gateway: failover between servers, token authentication."""

    api_prefixes = ("/v3", "/v3beta")

    def __init__(self, config: dict[str, Any], source: str) -> None:
        self._source = source
        self._endpoints = etcd_endpoints(config, source)
        self._username = config.get("username") or ""
        self._password = str(config.get("password") or "")
        self._timeout = (_CONNECT_TIMEOUT, float(config.get("read_timeout", ETCD_DEFAULTS["read_timeout"])))
        self._verify: str | bool = config.get("ca_cert") or True
        self._cert = _client_cert(config.get("cert"))
        self._session: requests.Session | None = None
        self._token = ""
        self._api_prefix = self.api_prefixes[0]

    def call(self, method: str, payload: dict[str, Any], *, missing_ok: bool = False) -> dict[str, Any]:
        """Call a v3 API method, authenticating first if needed; return the decoded answer."""
        if self._username and not self._token:
            self._authenticate()
        try:
            return self._post(method, payload, missing_ok=missing_ok)
        except _EtcdRequestError as e:
            if e.code != 16 or not self._username:  # 16: UNAUTHENTICATED, the token expired
                raise
        self._authenticate()
        return self._post(method, payload, missing_ok=missing_ok)

    def _authenticate(self) -> None:
        payload = {"name": self._username, "password": self._password}
        try:
            self._token = str(self._post("auth/authenticate", payload, authenticated=False)["token"])
        except _EtcdRequestError as e:
            raise LockError(f"etcd authentication failed for user {self._username} ({self._source}): {e}") from None

    def _post(
        self, method: str, payload: dict[str, Any], *, authenticated: bool = True, missing_ok: bool = False
    ) -> dict[str, Any]:
        import requests  # noqa: PLC0415 - only the etcd backend needs it

        if self._session is None:
            self._session = requests.Session()
            self._session.trust_env = False  # etcd is reached directly, never through the HTTP proxy of the env
            self._session.verify = self._verify
            self._session.cert = self._cert
        headers = {"Authorization": self._token} if authenticated and self._token else {}
        failures = []
        for _ in range(len(self._endpoints)):
            url = f"{self._endpoints[0]}{self._api_prefix}/{method}"
            try:
                response = self._session.post(url, json=payload, headers=headers, timeout=self._timeout)
            except requests.RequestException as e:
                failures.append(f"{self._endpoints[0]}: {_short_reason(e)}")
                self._endpoints.append(self._endpoints.pop(0))
                continue
            return self._decode(method, response, payload, authenticated=authenticated, missing_ok=missing_ok)
        raise LockError(
            f"Unable to reach etcd ({'; '.join(failures)}). Check the etcd settings in {self._source}, "
            "or run with --no-locks to skip locks"
        )

    def _decode(
        self,
        method: str,
        response: "requests.Response",
        payload: dict[str, Any],
        *,
        authenticated: bool,
        missing_ok: bool,
    ) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.status_code == 404 and not body and self._api_prefix != self.api_prefixes[-1]:
            self._api_prefix = self.api_prefixes[self.api_prefixes.index(self._api_prefix) + 1]
            logger.debug("etcd has no %s API, trying %s", self.api_prefixes[0], self._api_prefix)
            return self._post(method, payload, authenticated=authenticated, missing_ok=missing_ok)
        if response.status_code == 200:
            return body
        if missing_ok and body.get("code") == 5:  # NOT_FOUND
            return body
        error = body.get("error") or body.get("message") or response.reason or f"HTTP {response.status_code}"
        raise _EtcdRequestError(f"etcd request {method} failed: {error}", body.get("code"))


def _client_cert(cert: Any) -> str | tuple[str, str] | None:
    """Return the client certificate setting as requests takes it: a file, or a (cert, key) pair."""
    if isinstance(cert, list | tuple) and len(cert) == 2:
        return (str(cert[0]), str(cert[1]))
    return str(cert) if cert else None


def _short_reason(error: Exception) -> str:
    """Return the gist of a connection error (requests' messages are long and nested)."""
    text = str(error)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    if "timed out" in text.lower():
        return "timed out"
    return type(error).__name__


__all__ = [
    "ALLOWED_PREFIXES",
    "COOKBOOKS_CUSTOM_PREFIX",
    "COOKBOOKS_PREFIX",
    "KEYS_BASE_PATH",
    "SPICERACK_PREFIX",
    "ConcurrentLock",
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
    "lock_key",
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
