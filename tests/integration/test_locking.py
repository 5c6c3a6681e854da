"""Locks against a real etcd server (v2 API) and on the local filesystem: limits, expiry, release on every exit path.

The mixed tests write and read the keys with python-etcd directly, in the layout the reference Spicerack
documents (one JSON value per lock key, python-etcd's lock recipe on ``/spicerack/locks/etcd`` around every
change), as a reference process would, to check that both implementations respect each other's holders.
"""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import etcd  # type: ignore[import-untyped]
import pytest
import requests

from spicerack import Spicerack, _lock_etcd
from spicerack.cookbook import LockArgs
from spicerack.locking import (
    COOKBOOKS_CUSTOM_PREFIX,
    KEYS_BASE_PATH,
    LocalLock,
    Lock,
    LockError,
    LockUnavailableError,
    NoLock,
    get_lock_instance,
    load_etcd_config,
)
from tests.integration.servers import free_port
from tests.integration.servers.etcd import EtcdServer

pytestmark = pytest.mark.integration

BACKENDS = ("etcd", "local")
WORKER_TIMEOUT = 60

# A process taking a lock like a cookbook would, then ending its hold the way the spec says.
WORKER = r"""
import json, logging, os, socket, sys, time
from pathlib import Path

from spicerack.locking import LocalLock, Lock, load_etcd_config

spec = json.loads(sys.argv[1])
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
owner = f"worker@{socket.gethostname()} [{os.getpid()}]"
options = {"prefix": "custom", "owner": owner, "dry_run": False, "max_wait": 60, "retry_delay": 0.02}
if spec["backend"] == "etcd":
    config, source = load_etcd_config(Path(spec["config"]))
    lock = Lock(config=config, config_source=source, **options)
else:
    lock = LocalLock(lock_dir=spec["lock_dir"], **options)


def record(event):
    line = f"{os.getpid()} {event} {time.monotonic_ns()}\n"
    with open(spec["record"], "a", encoding="ascii") as handle:
        handle.write(line)


with lock.acquired(spec["name"], concurrency=spec["concurrency"], ttl=spec["ttl"]):
    record("enter")
    Path(spec["record"] + f".{os.getpid()}.held").touch()
    mode = spec["mode"]
    if mode == "exception":
        raise RuntimeError("the cookbook failed")
    if mode == "interrupt":
        raise KeyboardInterrupt
    if mode == "exit":
        sys.exit(3)
    time.sleep(spec["hold"])
    record("exit")
"""


@pytest.fixture(autouse=True)
def _no_user_etcdrc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the real user's ~/.etcdrc out of the tests."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("USER", "")


@pytest.fixture
def lock_name() -> str:
    return f"test.{uuid.uuid4().hex[:12]}"


class Backend:
    """Builds locks and worker specs for one backend, all sharing the same storage."""

    def __init__(self, kind: str, tmp_path: Path, etcd_server: EtcdServer | None) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.etcd_config = etcd_server.write_config(tmp_path / "etcd.yaml") if etcd_server else None
        self.lock_dir = tmp_path / "locks"

    def lock(self, owner: str = "", *, dry_run: bool = False, max_wait: float = 30, **kwargs: Any) -> Lock | LocalLock:
        options = {
            "prefix": COOKBOOKS_CUSTOM_PREFIX,
            "owner": owner or f"tester@{socket.gethostname()} [{os.getpid()}]",
            "dry_run": dry_run,
            "max_wait": max_wait,
            "retry_delay": 0.05,
            **kwargs,
        }
        if self.kind == "etcd":
            assert self.etcd_config is not None
            config, _ = load_etcd_config(self.etcd_config)
            return Lock(config=config, **options)
        return LocalLock(lock_dir=self.lock_dir, **options)

    def worker_spec(self, name: str, **spec: Any) -> dict[str, Any]:
        base = {
            "backend": self.kind,
            "config": str(self.etcd_config),
            "lock_dir": str(self.lock_dir),
            "name": name,
            "concurrency": 1,
            "ttl": 600,
            "mode": "normal",
            "hold": 0,
            "record": str(self.tmp_path / f"record-{name}"),
        }
        return {**base, **spec}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    etcd_server = request.getfixturevalue("etcd_server") if request.param == "etcd" else None
    return Backend(request.param, tmp_path, etcd_server)


@pytest.fixture
def etcd_backend(etcd_server: EtcdServer, tmp_path: Path) -> Backend:
    return Backend("etcd", tmp_path, etcd_server)


@pytest.fixture
def local_backend(tmp_path: Path) -> Backend:
    return Backend("local", tmp_path, None)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], subprocess.Popen[str]]]:
    """Start lock worker processes; any still running at the end is killed."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    started: list[subprocess.Popen[str]] = []

    def start(spec: dict[str, Any]) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(script), json.dumps(spec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def wait_held(spec: dict[str, Any], process: subprocess.Popen[str]) -> None:
    """Wait until the worker holds its lock."""
    marker = Path(f"{spec['record']}.{process.pid}.held")
    deadline = time.monotonic() + WORKER_TIMEOUT
    while not marker.exists():
        if process.poll() is not None:
            pytest.fail(f"worker exited with {process.returncode} before holding the lock: {process.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail("worker did not take the lock")
        time.sleep(0.02)


def max_overlap(record: Path) -> tuple[int, int]:
    """Return the most holders at once and the number of completed holds, from enter/exit events."""
    events = []
    for line in record.read_text(encoding="ascii").splitlines():
        _pid, event, when = line.split()
        events.append((int(when), 1 if event == "enter" else -1))
    current = highest = 0
    for _when, change in sorted(events, key=lambda item: (item[0], item[1])):
        current += change
        highest = max(highest, current)
    return highest, sum(1 for _, change in events if change < 0)


@pytest.mark.parametrize(("processes", "concurrency"), [(6, 2), (4, 1)])
def test_racing_processes_never_exceed_the_concurrency(backend, workers, lock_name, processes, concurrency):
    spec = backend.worker_spec(lock_name, concurrency=concurrency, hold=0.15)
    running = [workers(spec) for _ in range(processes)]
    for process in running:
        _out, err = process.communicate(timeout=WORKER_TIMEOUT * 3)
        assert process.returncode == 0, err

    highest, completed = max_overlap(Path(spec["record"]))
    assert completed == processes
    assert 1 <= highest <= concurrency
    assert backend.lock().get(lock_name).locks == {}


@pytest.mark.parametrize(
    ("mode", "code"), [("normal", 0), ("exception", 1), ("interrupt", -signal.SIGINT), ("exit", 3)]
)
def test_slot_is_released_when_the_block_ends(backend, workers, lock_name, mode, code):
    spec = backend.worker_spec(lock_name, mode=mode)
    process = workers(spec)
    _out, err = process.communicate(timeout=WORKER_TIMEOUT)

    assert process.returncode == code, err
    assert Path(f"{spec['record']}.{process.pid}.held").exists()
    assert backend.lock().get(lock_name).locks == {}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_slot_is_released_when_the_holder_is_signalled(backend, workers, lock_name, signum):
    spec = backend.worker_spec(lock_name, hold=120)
    process = workers(spec)
    wait_held(spec, process)
    assert len(backend.lock().get(lock_name).locks) == 1

    os.kill(process.pid, signum)
    _out, err = process.communicate(timeout=WORKER_TIMEOUT)

    assert process.returncode != 0
    assert "Released lock for key" in err
    assert backend.lock().get(lock_name).locks == {}


def test_etcd_slot_of_a_killed_holder_expires_with_its_ttl(etcd_backend, workers, lock_name, caplog):
    spec = etcd_backend.worker_spec(lock_name, ttl=3, hold=120)
    process = workers(spec)
    wait_held(spec, process)
    process.kill()
    process.communicate(timeout=WORKER_TIMEOUT)
    lock = etcd_backend.lock()
    dead_owner = f"worker@{socket.gethostname()} [{process.pid}]"

    holders = lock.get(lock_name).locks
    assert [holder.owner for holder in holders.values()] == [dead_owner]
    with caplog.at_level(logging.INFO, logger="spicerack.locking"), lock.acquired(lock_name, concurrency=1, ttl=60):
        assert [holder.owner for holder in lock.get(lock_name).locks.values()] == [lock._owner]
    assert lock.get(lock_name).locks == {}
    assert f"Releasing expired lock for key /spicerack/locks/custom/{lock_name}" in caplog.text
    assert dead_owner in caplog.text


def test_local_slot_of_a_killed_holder_is_freed_at_once(local_backend, workers, lock_name):
    spec = local_backend.worker_spec(lock_name, ttl=600, hold=120)
    process = workers(spec)
    wait_held(spec, process)
    process.kill()
    process.communicate(timeout=WORKER_TIMEOUT)

    assert local_backend.lock().get(lock_name).locks == {}
    lock = local_backend.lock(max_wait=0)
    lock_id = lock.acquire(lock_name, concurrency=1, ttl=60)
    assert list(lock.get(lock_name).locks) == [lock_id]
    assert not list((local_backend.lock_dir / "custom" / f"{lock_name}.lock").glob(f"*{process.pid}*"))
    lock.release(lock_name, lock_id)


def test_local_slot_expires_with_its_ttl(local_backend, lock_name, caplog):
    other_host = local_backend.lock("alice@elsewhere.example.org [4242]")
    other_host.acquire(lock_name, concurrency=1, ttl=1)
    lock = local_backend.lock()

    with caplog.at_level(logging.INFO, logger="spicerack.locking"), lock.acquired(lock_name, concurrency=1, ttl=60):
        assert [holder.owner for holder in lock.get(lock_name).locks.values()] == [lock._owner]

    assert "Releasing expired lock for key /spicerack/locks/custom/" in caplog.text
    assert "alice@elsewhere.example.org [4242]" in caplog.text


def test_busy_lock_fails_naming_its_holders(backend, lock_name):
    holder = backend.lock("alice@cumin1001.example.org [1234]")
    holder.acquire(lock_name, concurrency=1, ttl=60)
    waiter = backend.lock(max_wait=0.3)

    with pytest.raises(LockUnavailableError) as error:
        waiter.acquire(lock_name, concurrency=5, ttl=60)

    message = str(error.value)
    assert isinstance(error.value, LockError)
    assert f"for key /spicerack/locks/custom/{lock_name}.\nThere are already 1 concurrent locks" in message
    assert "the concurrency allowed is 1:\n    " in message
    assert message.endswith(": alice@cumin1001.example.org [1234]")
    assert len(waiter.get(lock_name).locks) == 1


def test_unlimited_concurrency_tracks_every_holder(backend, lock_name):
    lock = backend.lock(max_wait=0)
    ids = [lock.acquire(lock_name, concurrency=0, ttl=60) for _ in range(3)]

    assert sorted(lock.get(lock_name).locks) == sorted(ids)
    for lock_id in ids:
        lock.release(lock_name, lock_id)
    assert lock.get(lock_name).locks == {}


def test_dry_run_checks_the_limit_once_and_writes_nothing(backend, lock_name, caplog):
    dry_run = backend.lock(dry_run=True, max_wait=30)
    real = backend.lock("alice@cumin1001.example.org [1234]")

    with caplog.at_level(logging.INFO, logger="spicerack.locking"), dry_run.acquired(lock_name, concurrency=1, ttl=60):
        assert real.get(lock_name).locks == {}
    assert "Skipping lock acquire/release in DRY-RUN mode" in caplog.text
    real.acquire(lock_name, concurrency=1, ttl=60)
    with pytest.raises(LockUnavailableError, match=r"alice@cumin1001\.example\.org \[1234\]"):
        dry_run.acquire(lock_name, concurrency=1, ttl=60)  # At once, without waiting the 30 s


def test_unreachable_etcd_is_a_clear_error(tmp_path, lock_name, caplog):
    config = tmp_path / "etcd.yaml"
    config.write_text(f"host: 127.0.0.1\nport: {free_port()}\npassword: s3cr3t-pw\nusername: operator\n")
    lock = get_lock_instance(config_file=str(config), prefix="custom", owner="me@here [1]", dry_run=False)

    with caplog.at_level(logging.DEBUG), pytest.raises(LockError) as error:
        lock.acquire(lock_name, concurrency=1, ttl=60)

    message = str(error.value)
    assert "Unable to reach etcd (http://127.0.0.1:" in message
    assert "Connection refused" in message
    assert "--no-locks" in message
    assert str(config) in message
    assert "s3cr3t-pw" not in message
    assert "\n" not in message
    library_records = [record for record in caplog.records if record.name in ("urllib3.connectionpool", "etcd.client")]
    assert library_records  # The libraries' own retries happened, only at DEBUG level
    assert {record.levelname for record in library_records} == {"DEBUG"}


def test_etcd_stopped_while_holding_the_lock(new_etcd_server, tmp_path, lock_name, caplog):
    server = new_etcd_server()
    config, _ = load_etcd_config(server.write_config(tmp_path / "etcd.yaml"))
    lock = Lock(config=config, prefix="custom", owner="me@here [1]", dry_run=False, max_wait=1)

    with caplog.at_level(logging.ERROR, logger="spicerack.locking"), lock.acquired(lock_name, concurrency=1, ttl=60):
        server.stop()

    assert f"Failed to release lock for key /spicerack/locks/custom/{lock_name}" in caplog.text
    assert "Unable to reach etcd" in caplog.text
    with pytest.raises(LockError, match="--no-locks"):
        lock.acquire(lock_name, concurrency=1, ttl=60)


def test_etcd_with_authentication(new_etcd_server, tmp_path, lock_name):
    server = new_etcd_server()
    v2 = f"{server.url}/v2/auth"
    requests.put(f"{v2}/users/root", json={"user": "root", "password": "r00t-pw"}, timeout=5).raise_for_status()
    requests.put(f"{v2}/enable", timeout=5).raise_for_status()
    good, _ = load_etcd_config(server.write_config(tmp_path / "good.yaml", username="root", password="r00t-pw"))
    bad, _ = load_etcd_config(server.write_config(tmp_path / "bad.yaml", username="root", password="wr0ng-pw"))

    lock = Lock(config=good, prefix="custom", owner="me@here [1]", dry_run=False, max_wait=0)
    with lock.acquired(lock_name, concurrency=1, ttl=60):
        assert len(lock.get(lock_name).locks) == 1
    assert lock.get(lock_name).locks == {}

    with pytest.raises(LockError) as error:
        Lock(config=bad, prefix="custom", owner="me@here [1]", dry_run=False).get(lock_name)
    assert f"Failed to get key /spicerack/locks/custom/{lock_name}: " in str(error.value)
    assert "wr0ng-pw" not in str(error.value)


def test_user_etcdrc_overrides_the_config_file(etcd_server, tmp_path, lock_name):
    config = tmp_path / "etcd.yaml"
    config.write_text(f"host: 127.0.0.1\nport: {free_port()}\n")
    home = Path(os.environ["HOME"])
    home.mkdir()
    etcd_server.write_config(home / ".etcdrc")

    lock = get_lock_instance(config_file=str(config), prefix="custom", owner="me@here [1]", dry_run=False)

    assert isinstance(lock, Lock)
    with lock.acquired(lock_name, concurrency=1, ttl=60):
        assert len(lock.get(lock_name).locks) == 1


# -- The reference's on-wire layout, written and read with python-etcd directly --


def raw_client(server: EtcdServer) -> Any:
    """A python-etcd client set up as the reference sets up its own."""
    return etcd.Client(host="127.0.0.1", port=server.port, lock_prefix=KEYS_BASE_PATH)


def raw_read(server: EtcdServer, key: str) -> dict[str, Any] | None:
    """The JSON value of a lock key as a reference process reads it, None if the key doesn't exist."""
    try:
        value: dict[str, Any] = json.loads(raw_client(server).read(key).value)
    except etcd.EtcdKeyNotFound:
        return None
    return value


def raw_write(server: EtcdServer, key: str, holders: dict[str, dict[str, Any]]) -> None:
    """Store the holders of a lock as a reference process does: under the writer lock, the whole JSON value."""
    client = raw_client(server)
    writer = etcd.Lock(client, "etcd")
    writer.acquire(blocking=False, lock_ttl=15)
    assert writer.is_acquired
    try:
        client.set(key, json.dumps(holders))
    finally:
        writer.release()


def reference_holder(
    owner: str, *, concurrency: int, ttl: int = 600, created: datetime | None = None
) -> dict[str, Any]:
    """One holder in the reference's format."""
    return {
        "concurrency": concurrency,
        "created": str(created or datetime.now(UTC)),
        "owner": owner,
        "ttl": ttl,
    }


def test_holders_written_by_the_reference_are_respected(etcd_backend, etcd_server, lock_name):
    key = f"/spicerack/locks/custom/{lock_name}"
    reference_id = str(uuid.uuid4())
    raw_write(etcd_server, key, {reference_id: reference_holder("ref@cumin1001 [4242]", concurrency=1)})

    with pytest.raises(LockUnavailableError, match=r"concurrency allowed is 1:\n    .*: ref@cumin1001 \[4242\]"):
        etcd_backend.lock(max_wait=0.3).acquire(lock_name, concurrency=3, ttl=60)

    assert list(raw_read(etcd_server, key) or {}) == [reference_id]


def test_both_implementations_share_one_lock_value(etcd_backend, etcd_server, lock_name):
    key = f"/spicerack/locks/custom/{lock_name}"
    reference_id = str(uuid.uuid4())
    reference = reference_holder("ref@cumin1001 [4242]", concurrency=2)
    raw_write(etcd_server, key, {reference_id: reference})
    lock = etcd_backend.lock("ours@cumin2002 [77]", max_wait=0.3)

    our_id = lock.acquire(lock_name, concurrency=2, ttl=120)
    stored = raw_read(etcd_server, key)
    with pytest.raises(LockUnavailableError, match="already 2 concurrent locks"):
        etcd_backend.lock(max_wait=0.3).acquire(lock_name, concurrency=2, ttl=60)
    lock.release(lock_name, our_id)

    assert stored is not None
    assert stored[reference_id] == reference
    assert set(stored) == {reference_id, our_id}
    assert set(stored[our_id]) == {"concurrency", "created", "owner", "ttl"}
    assert (stored[our_id]["concurrency"], stored[our_id]["owner"], stored[our_id]["ttl"]) == (
        2,
        "ours@cumin2002 [77]",
        120,
    )
    assert datetime.fromisoformat(stored[our_id]["created"]).utcoffset() == timedelta(0)
    assert raw_read(etcd_server, key) == {reference_id: reference}


def test_expired_reference_holders_are_dropped(etcd_backend, etcd_server, lock_name):
    key = f"/spicerack/locks/custom/{lock_name}"
    stale = reference_holder(
        "ref@cumin1001 [4242]", concurrency=1, ttl=60, created=datetime.now(UTC) - timedelta(hours=1)
    )
    raw_write(etcd_server, key, {str(uuid.uuid4()): stale})
    lock = etcd_backend.lock("ours@cumin2002 [77]", max_wait=0)

    our_id = lock.acquire(lock_name, concurrency=1, ttl=60)

    assert list(raw_read(etcd_server, key) or {}) == [our_id]
    lock.release(lock_name, our_id)
    assert raw_read(etcd_server, key) is None  # The last holder gone, the key is deleted as the reference does


def test_writer_lock_is_the_one_the_reference_takes(etcd_backend, etcd_server, lock_name):
    reference = etcd.Lock(raw_client(etcd_server), "etcd")
    reference.acquire(blocking=False, lock_ttl=15)
    assert reference.is_acquired
    lock = etcd_backend.lock()
    released = threading.Event()
    acquired_while_held: list[bool] = []

    def take() -> None:
        lock.acquire(lock_name, concurrency=1, ttl=60)
        acquired_while_held.append(not released.is_set())

    taker = threading.Thread(target=take)
    taker.start()
    time.sleep(1.5)  # Not an assertion: gives the taker the time to find the writer lock taken
    released.set()
    reference.release()
    taker.join(timeout=WORKER_TIMEOUT)

    assert acquired_while_held == [False]
    assert [holder.owner for holder in lock.get(lock_name).locks.values()] == [lock._owner]


# -- Through the Spicerack accessor --


def test_spicerack_cookbook_and_custom_locks_in_etcd(etcd_server, tmp_path, lock_name):
    spicerack = Spicerack(dry_run=False, etcd_config=str(etcd_server.write_config(tmp_path / "etcd.yaml")))
    cookbook_key = f"/spicerack/locks/cookbooks/{lock_name}:host1001"
    custom_key = f"/spicerack/locks/custom/{lock_name}"

    with spicerack._cookbook_lock(lock_name, LockArgs(suffix="host1001", concurrency=2, ttl=60)):
        held = raw_read(etcd_server, cookbook_key) or {}
        with spicerack.lock().acquired(lock_name, concurrency=1, ttl=30):
            custom = raw_read(etcd_server, custom_key) or {}

    assert [value["owner"] for value in held.values()] == [spicerack.owner]
    assert [(value["concurrency"], value["ttl"]) for value in held.values()] == [(2, 60)]
    assert [(value["concurrency"], value["ttl"]) for value in custom.values()] == [(1, 30)]
    assert raw_read(etcd_server, cookbook_key) is None
    assert raw_read(etcd_server, custom_key) is None


def test_spicerack_cookbook_lock_busy_raises_lock_error(monkeypatch, etcd_server, tmp_path, lock_name):
    monkeypatch.setattr("spicerack.locking.DEFAULT_MAX_WAIT", 0.2)
    config = str(etcd_server.write_config(tmp_path / "etcd.yaml"))
    holder = Spicerack(dry_run=False, etcd_config=config)
    waiter = Spicerack(dry_run=False, etcd_config=config)
    lock_args = LockArgs(suffix="", concurrency=1, ttl=60)

    with holder._cookbook_lock(lock_name, lock_args):
        busy = waiter._cookbook_lock(lock_name, lock_args)
        with pytest.raises(LockError, match=rf": {holder.owner.replace('[', '.').replace(']', '.')}$"), busy:
            pytest.fail("the lock was taken twice")


@pytest.mark.parametrize("params", [{}, {"etcd_config": ""}])
def test_disabled_locks_do_nothing(etcd_server, lock_name, params):
    spicerack = Spicerack(dry_run=False, **params)

    lock_args = LockArgs(suffix="", concurrency=1, ttl=60)
    with spicerack._cookbook_lock(lock_name, lock_args), spicerack._cookbook_lock(lock_name, lock_args):
        nested = True

    assert nested
    assert isinstance(spicerack.lock(), NoLock)
    assert spicerack.lock().get(lock_name).locks == {}
    assert raw_read(etcd_server, f"/spicerack/locks/cookbooks/{lock_name}") is None


def test_local_locks_of_the_embedded_default(monkeypatch, tmp_path, lock_name):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    spicerack = Spicerack(dry_run=False, etcd_config=None)

    with spicerack._cookbook_lock(lock_name, LockArgs(suffix="db1001", concurrency=1, ttl=60)):
        slots = list((tmp_path / "state" / "spicerack" / "locks" / "cookbooks").glob(f"{lock_name}:db1001.lock/*.json"))
        assert [json.loads(slot.read_text())["owner"] for slot in slots] == [spicerack.owner]

    assert isinstance(spicerack.lock(), LocalLock)
    assert not list((tmp_path / "state").rglob("*.json"))


def test_release_by_id_from_another_instance_and_of_unknown_ids(backend, lock_name, caplog):
    lock_id = backend.lock().acquire(lock_name, concurrency=1, ttl=60)
    other = backend.lock()

    with caplog.at_level(logging.INFO, logger="spicerack.locking"):
        other.release(lock_name, lock_id)
        other.release(lock_name, lock_id)

    assert other.get(lock_name).locks == {}
    assert f"Released lock for key /spicerack/locks/custom/{lock_name}" in caplog.text
    assert f"ID {lock_id} not found. Unable to release it. Was expired?" in caplog.text


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A loopback server that accepts every connection and never answers: an etcd that hangs."""
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    server.settimeout(0.1)  # accept() is not woken up by close(): poll for the end of the test instead
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
        for connection in accepted:
            connection.close()


def test_an_unresponsive_etcd_is_reported_while_waiting_and_the_wait_is_bounded(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, silent_server, lock_name
):
    port, accepted = silent_server
    monkeypatch.setattr("spicerack._lock_etcd.ETCD_ATTEMPT_TIMEOUT", 0.2)
    monkeypatch.setattr("spicerack._lock_etcd.ETCD_GIVE_UP_AFTER", 1.0)
    owner = f"me@{socket.gethostname()} [{os.getpid()}]"
    lock = Lock(config={"host": "127.0.0.1", "port": port}, prefix="custom", owner=owner, dry_run=False)
    unreachable = rf"Unable to reach etcd \(http://127.0.0.1:{port}: timed out\)"
    with caplog.at_level(logging.WARNING, logger="spicerack.locking"), pytest.raises(LockError, match=unreachable):
        lock.acquire(lock_name, concurrency=1, ttl=60)
    waiting = [record.getMessage() for record in caplog.records if record.getMessage().startswith("waiting for")]
    assert waiting, "no line told the operator that etcd does not answer"
    assert waiting[0].startswith(f"waiting for etcd at 127.0.0.1:{port} (attempt 2, giving up in ")
    assert all(record.levelno == logging.WARNING for record in caplog.records if record.getMessage() in waiting)
    assert 2 <= len(accepted) <= 11  # retried, each attempt at least 0.1 s within the 1 s bound


def test_the_default_wait_for_an_unresponsive_etcd_is_told_within_seconds_and_bounded():
    assert _lock_etcd.ETCD_ATTEMPT_TIMEOUT <= 10
    assert _lock_etcd.ETCD_GIVE_UP_AFTER <= 60
