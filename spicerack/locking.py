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

import logging
import os
from pathlib import Path
from typing import Any, cast

from spicerack._lock_base import (
    ALLOWED_PREFIXES,
    COOKBOOKS_CUSTOM_PREFIX,
    COOKBOOKS_PREFIX,
    DEFAULT_RETRY_DELAY,
    ETCD_WRITER_LOCK_KEY,
    ETCD_WRITER_LOCK_TTL,
    KEYS_BASE_PATH,
    MAX_RETRY_DELAY,
    SPICERACK_PREFIX,
    ConcurrentLock,
    EtcdLockUnavailableError,
    InvalidLockError,
    KeyLocks,
    LockBackend,
    LockError,
    LockExistingError,
    LockUnavailableError,
    LockUnreadableError,
    LockUnwritableError,
    NoLock,
    acquired_on_enter,
    check_prefix,
    lock_key,
    process_start_time,
)
from spicerack._lock_base import DEFAULT_MAX_WAIT as DEFAULT_MAX_WAIT
from spicerack._lock_etcd import Lock, etcd_module
from spicerack._lock_local import LocalLock
from spicerack._signals import TerminatedError
from spicerack.config import load_yaml_mapping

logger = logging.getLogger(__name__)

_BACKENDS: dict[str, type[LockBackend]] = {"etcd": Lock, "local": LocalLock, "none": NoLock}
"""The lock backends by the kind :py:func:`backend_kind` returns."""


def __getattr__(name: str) -> Any:
    """Expose ``python-etcd`` as ``etcd`` and Spicerack's ``retry`` decorator, as the reference does, on first use."""
    if name == "etcd":
        return etcd_module()
    if name == "retry":  # wmflib's import costs tens of milliseconds
        from spicerack.decorators import retry  # noqa: PLC0415 - on first use, see above

        return retry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def backend_kind(etcd_config: Path | str | None) -> str:
    """Return the kind of lock backend an ``etcd_config`` setting selects, a key of ``_BACKENDS``.

    Arguments:
        etcd_config: the ``instance_params.etcd_config`` setting: a path for etcd, :py:data:`None` for the local
            locks of the embedded default configuration, an empty string to disable locks.

    """
    if etcd_config is None:
        return "local"
    return "etcd" if str(etcd_config) else "none"


def open_lock(
    etcd_config: Path | str | None,
    *,
    prefix: str,
    owner: str,
    dry_run: bool,
    lock_dir: Path | str | None = None,
) -> "Lock | LocalLock | NoLock":
    """Return the lock backend matching the ``etcd_config`` setting, see :py:func:`backend_kind`.

    Arguments:
        etcd_config: the ``instance_params.etcd_config`` setting.
        prefix: the path prefix of the keys, one of :py:const:`ALLOWED_PREFIXES`.
        owner: who takes the locks, in the form ``user@host [pid]``.
        dry_run: whether this is a DRY-RUN.
        lock_dir: the directory of the local lock files, by default the user's state directory.

    Raises:
        spicerack.locking.LockError: if the prefix is not allowed or the etcd settings are invalid.

    """
    check_prefix(prefix)
    backend = _BACKENDS[backend_kind(etcd_config)]
    if backend is NoLock:
        return NoLock()
    if backend is LocalLock or etcd_config is None:
        return LocalLock(prefix=prefix, owner=owner, dry_run=dry_run, lock_dir=lock_dir, max_wait=DEFAULT_MAX_WAIT)
    # A str is turned into a Path here, a Path is kept as given: the reference's tests patch Path in this module
    config, source = load_etcd_config(Path(etcd_config) if isinstance(etcd_config, str) else etcd_config)
    return Lock(
        config=config, prefix=prefix, owner=owner, dry_run=dry_run, max_wait=DEFAULT_MAX_WAIT, config_source=source
    )


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
    # An empty setting never selects the local backend, only a path (etcd) or nothing (no locks)
    return cast("Lock | NoLock", open_lock(config_file or "", prefix=prefix, owner=owner, dry_run=dry_run))


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


__all__ = [
    "ALLOWED_PREFIXES",
    "COOKBOOKS_CUSTOM_PREFIX",
    "COOKBOOKS_PREFIX",
    "DEFAULT_MAX_WAIT",
    "DEFAULT_RETRY_DELAY",
    "ETCD_WRITER_LOCK_KEY",
    "ETCD_WRITER_LOCK_TTL",
    "KEYS_BASE_PATH",
    "MAX_RETRY_DELAY",
    "SPICERACK_PREFIX",
    "ConcurrentLock",
    "EtcdLockUnavailableError",
    "InvalidLockError",
    "KeyLocks",
    "LocalLock",
    "Lock",
    "LockBackend",
    "LockError",
    "LockExistingError",
    "LockUnavailableError",
    "LockUnreadableError",
    "LockUnwritableError",
    "NoLock",
    "TerminatedError",
    "acquired_on_enter",
    "backend_kind",
    "get_lock_instance",
    "load_etcd_config",
    "lock_key",
    "open_lock",
    "process_start_time",
    "retry",  # noqa: F822 - given by __getattr__, on first use
]
