"""The etcd backend of the locks: etcd's v2 API through python-etcd, stored exactly as the reference stores them.

One key per lock, whose value is the JSON object of its slots by ID::

    /spicerack/locks/cookbooks/sre.hosts.reboot => {"4e2677c7-541a-4f9e-afbb-cfdb69c440a1": {
        "concurrency": 5, "created": "2024-07-16 16:46:52.161053+00:00", "owner": "user@host [12345]", "ttl": 120}}

The key is deleted when its last slot goes. Every change is made while holding python-etcd's lock recipe on
``KEYS_BASE_PATH/ETCD_WRITER_LOCK_KEY`` (queued keys with a 15 seconds TTL), the writer lock the reference takes too.
python-etcd (and urllib3, dnspython) are imported only when a lock is really built.
"""

import importlib.util
import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from spicerack._lock_base import (
    DEFAULT_RETRY_DELAY,
    ETCD_WRITER_LOCK_KEY,
    ETCD_WRITER_LOCK_TTL,
    KEYS_BASE_PATH,
    ConcurrentLock,
    EtcdLockUnavailableError,
    KeyLocks,
    LockBackend,
    LockError,
)

logger = logging.getLogger("spicerack.locking")


def etcd_module() -> Any:
    """Return the ``python-etcd`` module, imported on first use (it pulls urllib3 in).

    Its ``dns.resolver`` import is deferred to the first use of the module: python-etcd needs it only to discover
    the servers from DNS SRV records (``srv_domain``), and it takes tens of milliseconds to import.
    """
    if "etcd" not in sys.modules:
        _defer_import("dns.resolver")
    import etcd  # type: ignore[import-untyped]  # noqa: PLC0415 - a tenth of a second, only when locks are used

    return etcd


_etcd = etcd_module


def _defer_import(name: str) -> None:
    """Register the module so that its code runs on the first access to one of its attributes, not on import."""
    if name in sys.modules:
        return
    try:
        spec = importlib.util.find_spec(name)
    except ImportError:
        return
    if spec is None or spec.loader is None:
        return
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)


class Lock(LockBackend):
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
            _bound_requests(self._etcd)
        except TypeError as e:
            raise LockError(f"Invalid etcd settings in {config_source}: {e}") from None
        except etcd.EtcdException as e:  # With allow_reconnect the client asks the cluster for its members
            raise LockError(
                f"Unable to reach etcd ({short_reason(e)}). Check the etcd settings in {config_source}, "
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

    def _held(self) -> list[KeyLocks]:
        etcd = _etcd()
        directory = f"{KEYS_BASE_PATH}/{self._prefix}"
        with self._answer_errors(f"Failed to list the keys under {directory}"):
            try:
                result = self._etcd.read(directory, recursive=True, timeout=self._etcd.read_timeout)
            except (KeyError, etcd.EtcdKeyNotFound):
                return []
            nodes = [(str(node.key), node.value) for node in result.leaves if not node.dir and node.value]
        return [KeyLocks.from_json(key, value) for key, value in nodes if key.count("/") == directory.count("/") + 1]

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
            if is_malformed_answer(e):
                raise self._malformed(e) from None
            raise self._failed(failure, e) from None
        except Exception as e:  # python-etcd choking on an answer that is not etcd's
            raise self._malformed(e) from None

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        writer = self._take_writer_lock()
        try:
            yield
        finally:
            try:
                writer.release()
            except Exception as e:  # Whatever the answer: the writer lock expires with its TTL
                logger.warning("Failed to release the etcd writer lock %s, it expires by itself: %s", writer.path, e)

    def _take_writer_lock(self) -> Any:
        """Take the etcd writer lock, retried for about 2 minutes while someone else holds it, and return it."""
        from spicerack.decorators import retry  # noqa: PLC0415 - wmflib costs tens of ms, paid only to write a lock

        retried = retry(
            tries=15,
            delay=timedelta(seconds=1),
            backoff_mode="linear",
            exceptions=(EtcdLockUnavailableError,),
            failure_message="Unable to acquire etcd lock",
        )
        return retried(Lock._acquire_etcd_lock)(self)

    def _acquire_etcd_lock(self) -> Any:
        """Take the etcd writer lock once and return it, to be released.

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
            if is_malformed_answer(e):
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
                f"Unable to reach etcd ({self._etcd.base_uri}: {short_reason(error)}). Check the etcd settings in "
                f"{self._source}, or run with --no-locks to skip locks"
            )
        return " ".join(str(error).split()) or type(error).__name__


ETCD_ATTEMPT_TIMEOUT: float = 5.0
"""The longest wait, in seconds, for etcd to answer one attempt of a request (less if ``read_timeout`` is less)."""
ETCD_GIVE_UP_AFTER: float = 30.0
"""How long, in seconds, a request to an etcd server that accepts connections but does not answer is retried."""


def _bound_requests(client: Any) -> None:
    """Bound the wait for an etcd server that does not answer, telling the operator while it lasts.

    Each attempt waits at most :py:const:`ETCD_ATTEMPT_TIMEOUT` seconds; a timed out request is tried again, with a
    warning, until :py:const:`ETCD_GIVE_UP_AFTER` seconds have passed, then the connection error is raised. urllib3's
    own retries, each waiting the whole ``read_timeout``, are turned off. Repeating a write is safe: the slots are
    written whole, and an entry of the writer lock's queue left by a timed out attempt expires with its TTL.
    """
    pool_settings = getattr(getattr(client, "http", None), "connection_pool_kw", None)
    if isinstance(pool_settings, dict):
        pool_settings["retries"] = False
    for name in ("api_execute", "api_execute_json"):
        execute = getattr(client, name, None)
        if callable(execute):
            setattr(client, name, _bounded(client, execute))


def _bounded(client: Any, execute: Any) -> Any:
    """Return the client's request method ``execute`` with its waits bounded, see :py:func:`_bound_requests`."""

    def bounded_execute(path: str, method: str, params: Any = None, timeout: float | None = None) -> Any:
        if isinstance(params, dict) and params.get("wait") == "true":  # A watch waits on purpose
            return execute(path, method, params=params, timeout=timeout)
        configured = client.read_timeout if timeout is None else timeout
        deadline = time.monotonic() + ETCD_GIVE_UP_AFTER
        attempt = 1
        while True:
            remaining = max(deadline - time.monotonic(), 0.1)
            limit = min(configured or ETCD_ATTEMPT_TIMEOUT, ETCD_ATTEMPT_TIMEOUT, remaining)
            try:
                return execute(path, method, params=params, timeout=limit)
            except etcd_module().EtcdConnectionFailed as e:
                left = deadline - time.monotonic()
                if not _timed_out(e) or left <= 0:
                    raise
            attempt += 1
            logger.warning(
                "waiting for etcd at %s:%s (attempt %d, giving up in %.0f s)", client.host, client.port, attempt, left
            )

    return bounded_execute


def _timed_out(error: Exception) -> bool:
    """Tell whether an etcd connection error is a server that accepted the connection but did not answer in time."""
    return "timed out" in str(getattr(error, "cause", None) or error).lower()


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


def is_malformed_answer(error: Exception) -> bool:
    """Tell whether python-etcd failed because the server's answer is not etcd's (it raises a plain EtcdException)."""
    return str(error).startswith(_MALFORMED_ANSWER_MESSAGES)


def short_reason(error: Exception) -> str:
    """Return the gist of a connection error (urllib3's messages are long and nested)."""
    text = str(getattr(error, "cause", None) or error)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    if "timed out" in text.lower():
        return "timed out"
    return " ".join(text.split())[:200] or type(error).__name__
