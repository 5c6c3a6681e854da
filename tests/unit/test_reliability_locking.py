"""Locks that would wait for themselves, answers that are not etcd's, users without a home."""

import os
import socket
import threading
from pathlib import Path

import etcd  # type: ignore[import-untyped]
import pytest

from spicerack import _lock_base, _lock_etcd, locking
from spicerack.locking import LocalLock, LockError

OWNER = f"operator@{socket.gethostname()} [{os.getpid()}]"


@pytest.fixture
def lock(tmp_path: Path) -> LocalLock:
    return LocalLock(prefix="custom", owner=OWNER, dry_run=False, lock_dir=tmp_path, max_wait=600, retry_delay=0.01)


def test_taking_a_full_lock_twice_in_the_same_thread_fails_at_once(lock: LocalLock) -> None:
    held = lock.acquired("name", concurrency=1, ttl=60)
    with held, pytest.raises(LockError, match="already held by this process or the run that started it"):
        lock.acquire("name", concurrency=1, ttl=60)
    assert lock.get("name").locks == {}


def test_a_slot_left_free_by_this_thread_is_taken(lock: LocalLock) -> None:
    with lock.acquired("name", concurrency=2, ttl=60), lock.acquired("name", concurrency=2, ttl=60):
        assert len(lock.get("name").locks) == 2


def test_another_thread_of_the_process_is_waited_for(lock: LocalLock) -> None:
    taken = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with lock.acquired("name", concurrency=1, ttl=60):
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(30)
    threading.Timer(0.2, release.set).start()
    with lock.acquired("name", concurrency=1, ttl=60):  # waits for the other thread instead of failing
        assert len(lock.get("name").locks) == 1
    holder.join(30)


@pytest.mark.parametrize(
    ("holder", "expected"),
    [
        (f"root@{socket.gethostname()} [{os.getppid()}]", True),
        (f"root@other-host [{os.getppid()}]", False),
        (f"root@{socket.gethostname()} [1]", False),
        ("not an owner", False),
    ],
)
def test_the_parent_process_is_the_same_run(holder: str, expected: bool) -> None:
    assert _lock_base.same_run("some-id", holder, OWNER) is expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Server response was not valid JSON: JSONDecodeError('Expecting value')", True),
        ("Unable to decode server response: TypeError('x')", True),
        ("Lock already taken", False),
    ],
)
def test_malformed_answers_are_told_from_etcd_errors(message: str, expected: bool) -> None:
    assert _lock_etcd.is_malformed_answer(etcd.EtcdException(message)) is expected


def test_a_user_unknown_to_the_system_has_no_etcdrc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "no-such-user-reliability")
    assert locking._user_etcdrc() is None


def test_the_user_etcdrc_is_found_in_their_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("USER", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".etcdrc").write_text("port: 1\n")
    assert locking._user_etcdrc() == tmp_path / ".etcdrc"
