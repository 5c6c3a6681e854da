"""Pure logic of the locks: slots, limits, keys, settings, the stored format. Backends: tests/integration."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import etcd  # type: ignore[import-untyped]
import pytest

from spicerack import Spicerack, decorators, locking
from spicerack._lock_base import holder_gone as _holder_gone
from spicerack._lock_etcd import short_reason as _short_reason
from spicerack._signals import termination_raises as _termination_raises
from spicerack.exceptions import SpicerackCheckError
from spicerack.locking import (
    COOKBOOKS_CUSTOM_PREFIX,
    COOKBOOKS_PREFIX,
    SPICERACK_PREFIX,
    ConcurrentLock,
    EtcdLockUnavailableError,
    InvalidLockError,
    KeyLocks,
    LocalLock,
    Lock,
    LockBackend,
    LockError,
    LockExistingError,
    LockUnavailableError,
    LockUnreadableError,
    NoLock,
    TerminatedError,
    get_lock_instance,
    load_etcd_config,
    lock_key,
    process_start_time,
)

KEY = "/spicerack/locks/cookbooks/sre.test"
LONG_AGO = datetime(2024, 1, 31, 12, tzinfo=UTC)


def slot(concurrency=1, owner="alice@host1 [10]", ttl=60, **kwargs):
    return ConcurrentLock(concurrency=concurrency, owner=owner, ttl=ttl, **kwargs)


class TestConcurrentLock:
    @pytest.mark.parametrize("concurrency", [-1, 1.5, True, "2"])
    def test_rejects_invalid_concurrency(self, concurrency):
        with pytest.raises(InvalidLockError, match="'concurrency' must be a non-negative integer"):
            slot(concurrency=concurrency)

    @pytest.mark.parametrize("ttl", [0, -5, 2.5, None])
    def test_rejects_invalid_ttl(self, ttl):
        with pytest.raises(InvalidLockError, match="'ttl' must be a positive integer"):
            slot(ttl=ttl)

    def test_rejects_a_creation_time_in_the_future(self):
        with pytest.raises(InvalidLockError, match="'created' cannot be in the future"):
            slot(created=datetime.now(UTC) + timedelta(minutes=5))

    def test_stored_slot_from_a_host_whose_clock_is_ahead_is_kept(self):
        ahead = datetime.now(UTC) + timedelta(minutes=5)

        lock = ConcurrentLock.from_dict("id1", {"concurrency": 1, "owner": "a@b [1]", "ttl": 5, "created": str(ahead)})

        assert lock.created == ahead

    def test_round_trips_through_its_dict(self):
        lock = slot(concurrency=3, ttl=120)

        copy = ConcurrentLock.from_dict(lock.uuid, lock.to_dict())

        assert copy == lock
        assert set(lock.to_dict()) == {"concurrency", "created", "owner", "ttl"}

    def test_stored_attributes_and_string_are_the_reference_format(self):
        lock = slot(
            concurrency=2, owner="user@host [123]", created=datetime(2023, 1, 1, 12, 34, 56, 123456, tzinfo=UTC)
        )

        assert lock.to_dict() == {
            "concurrency": 2,
            "created": "2023-01-01 12:34:56.123456+00:00",
            "owner": "user@host [123]",
            "ttl": 60,
        }
        assert str(lock) == str(lock.to_dict())

    def test_naive_created_time_is_utc(self):
        lock = ConcurrentLock.from_dict(
            "id1", {"concurrency": 1, "owner": "a@b [1]", "ttl": 5, "created": "2024-01-31 12:00:00"}
        )

        assert lock.created == datetime(2024, 1, 31, 12, tzinfo=UTC)
        assert lock.expires == datetime(2024, 1, 31, 12, 0, 5, tzinfo=UTC)

    def test_from_dict_rejects_bad_dates_and_missing_keys(self):
        with pytest.raises(InvalidLockError, match="'created' cannot be parsed"):
            ConcurrentLock.from_dict("id1", {"concurrency": 1, "owner": "a", "ttl": 5, "created": "yesterday"})
        with pytest.raises(InvalidLockError, match="missing key 'owner'"):
            ConcurrentLock.from_dict("id1", {"concurrency": 1, "ttl": 5, "created": "2024-01-31 12:00:00"})

    def test_ids_are_unique(self):
        assert slot().uuid != slot().uuid


class TestKeyLocks:
    def test_takes_slots_up_to_the_concurrency(self):
        key_locks = KeyLocks(key=KEY)
        key_locks.add(slot(concurrency=2))
        key_locks.add(slot(concurrency=2))

        with pytest.raises(LockUnavailableError, match="already 2 concurrent locks and the concurrency allowed is 2"):
            key_locks.add(slot(concurrency=2))
        assert len(key_locks.locks) == 2

    def test_lowest_concurrency_of_holders_and_newcomer_wins(self):
        key_locks = KeyLocks(key=KEY)
        key_locks.add(slot(concurrency=1, owner="alice@host1 [10]"))

        with pytest.raises(LockUnavailableError, match=r"concurrency allowed is 1:\n    .*: alice@host1 \[10\]"):
            key_locks.add(slot(concurrency=5))

        relaxed = KeyLocks(key=KEY)
        relaxed.add(slot(concurrency=5))
        with pytest.raises(
            LockUnavailableError, match="already 1 concurrent locks and a concurrency of 1 was requested"
        ):
            relaxed.add(slot(concurrency=1))

    def test_zero_concurrency_is_unlimited_but_tracked(self):
        key_locks = KeyLocks(key=KEY)
        for _ in range(50):
            key_locks.add(slot(concurrency=0))

        assert len(key_locks.locks) == 50
        with pytest.raises(LockUnavailableError, match="already 50 concurrent locks and a concurrency of 3"):
            key_locks.add(slot(concurrency=3))

    def test_busy_message_names_every_holder(self):
        key_locks = KeyLocks(key=KEY)
        key_locks.add(slot(concurrency=2, owner="alice@h1 [1]"))
        key_locks.add(slot(concurrency=2, owner="bob@h2 [2]"))
        alice, bob = key_locks.locks.values()
        newcomer = slot(concurrency=2, owner="carol@h3 [3]")

        with pytest.raises(LockUnavailableError) as error:
            key_locks.add(newcomer)

        assert str(error.value) == (
            f"{newcomer} for key {KEY}.\nThere are already 2 concurrent locks and the concurrency allowed is 2:\n"
            f"    {alice.created}: alice@h1 [1]\n    {bob.created}: bob@h2 [2]"
        )

    def test_expired_slots_are_dropped_and_logged(self, caplog):
        expired = slot(concurrency=1, owner="ghost@h9 [9]", ttl=60, created=LONG_AGO)
        key_locks = KeyLocks(key=KEY, locks={expired.uuid: expired})
        newcomer = slot(concurrency=1)

        with caplog.at_level(logging.INFO, logger="spicerack.locking"):
            key_locks.add(newcomer)

        assert list(key_locks.locks) == [newcomer.uuid]
        assert f"Releasing expired lock for key {KEY}: " in caplog.text
        assert "ghost@h9 [9]" in caplog.text

    def test_add_sets_the_creation_time_to_now(self):
        lock = slot(created=LONG_AGO)
        before = datetime.now(UTC)

        KeyLocks(key=KEY).add(lock)

        assert before <= lock.created <= datetime.now(UTC)

    def test_errors_are_lock_errors_and_check_errors(self):
        for error in (LockUnavailableError, EtcdLockUnavailableError):
            assert issubclass(error, LockError)
            assert issubclass(error, SpicerackCheckError)

    def test_rejects_a_duplicate_id(self):
        key_locks = KeyLocks(key=KEY)
        lock = slot(concurrency=0)
        key_locks.add(lock)

        with pytest.raises(LockExistingError, match="same ID"):
            key_locks.add(slot(concurrency=0, uuid=lock.uuid))

    def test_remove(self, caplog):
        key_locks = KeyLocks(key=KEY)
        lock = slot()
        key_locks.add(lock)
        lock_id = lock.uuid

        with caplog.at_level(logging.WARNING, logger="spicerack.locking"):
            assert key_locks.remove(lock_id) is lock
            assert key_locks.remove(lock_id) is None

        assert key_locks.locks == {}
        assert f"Lock for key {KEY} and ID {lock_id} not found. Unable to release it. Was expired?" in caplog.text

    def test_expired(self):
        now = datetime(2024, 1, 31, 12, tzinfo=UTC)
        old = slot(concurrency=0, ttl=60, created=now - timedelta(seconds=61))
        fresh = slot(concurrency=0, ttl=60, created=now - timedelta(seconds=59))
        key_locks = KeyLocks(key=KEY, locks={old.uuid: old, fresh.uuid: fresh})

        assert key_locks.expired(now) == [old]

    def test_json_round_trip(self):
        key_locks = KeyLocks(key=KEY)
        key_locks.add(slot(concurrency=0))
        key_locks.add(slot(concurrency=0, owner="bob@h [2]"))

        assert KeyLocks.from_json(KEY, key_locks.to_json()) == key_locks

    def test_json_is_the_reference_wire_format(self):
        lock = slot(concurrency=3, owner="user@host [123]", ttl=1800, uuid="id-1", created=LONG_AGO)

        stored = KeyLocks(key=KEY, locks={"id-1": lock}).to_json()

        assert json.loads(stored) == {
            "id-1": {"concurrency": 3, "created": "2024-01-31 12:00:00+00:00", "owner": "user@host [123]", "ttl": 1800}
        }

    @pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"id1": {"owner": "x"}}'])
    def test_from_json_rejects_garbage(self, content):
        with pytest.raises(LockUnreadableError, match=f"Unable to JSON-deserialize the lock for key {KEY}"):
            KeyLocks.from_json(KEY, content)


class TestLockKey:
    def test_joins_base_prefix_and_name(self):
        assert (
            lock_key(COOKBOOKS_PREFIX, "sre.hosts.reboot:db1001")
            == "/spicerack/locks/cookbooks/sre.hosts.reboot:db1001"
        )
        assert lock_key(SPICERACK_PREFIX, "spicerack.dns") == "/spicerack/locks/modules/spicerack.dns"

    @pytest.mark.parametrize(
        ("prefix", "name", "message"),
        [
            (COOKBOOKS_PREFIX, "", "cannot be empty"),
            (COOKBOOKS_CUSTOM_PREFIX, "a/b", "cannot contain '/'"),
            (SPICERACK_PREFIX, "dns", "must have names starting with 'spicerack.'"),
        ],
    )
    def test_rejects_invalid_names(self, prefix, name, message):
        with pytest.raises(InvalidLockError, match=message):
            lock_key(prefix, name)


class TestGetLockInstance:
    @pytest.mark.parametrize("config_file", ["", None])
    def test_no_config_disables_locks(self, config_file):
        assert isinstance(get_lock_instance(config_file=config_file, prefix=COOKBOOKS_PREFIX, owner="a@b [1]"), NoLock)

    def test_config_file_gives_an_etcd_lock_without_contacting_it(self, monkeypatch, tmp_path):
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("USER", "")
        (tmp_path / "etcd.yaml").write_text("host: 127.0.0.1\nport: 1\nlock_prefix: /elsewhere\n")

        lock = get_lock_instance(config_file=str(tmp_path / "etcd.yaml"), prefix=COOKBOOKS_PREFIX, owner="a@b [1]")

        assert isinstance(lock, Lock)
        assert lock._etcd.lock_prefix == "/spicerack/locks"
        assert lock._etcd.base_uri == "http://127.0.0.1:1"

    @pytest.mark.parametrize("config_file", ["", None, "/nonexistent.yaml"])
    def test_rejects_unknown_prefixes(self, config_file):
        with pytest.raises(LockError, match="Invalid prefix bogus"):
            get_lock_instance(config_file=config_file, prefix="bogus", owner="a@b [1]")

    def test_missing_config_file(self, tmp_path):
        with pytest.raises(LockError, match=f"Unable to read the etcd config file {tmp_path}/missing.yaml"):
            get_lock_instance(config_file=str(tmp_path / "missing.yaml"), prefix=COOKBOOKS_PREFIX, owner="a@b [1]")

    def test_unknown_etcd_setting(self):
        with pytest.raises(LockError, match=r"Invalid etcd settings in f\.yaml: .*'hots'"):
            Lock(config={"hots": "x"}, prefix=COOKBOOKS_PREFIX, owner="a@b [1]", config_source="f.yaml")


def test_library_retry_noise_about_the_etcd_server_is_demoted_to_debug(caplog):
    Lock(config={"host": "127.0.0.1", "port": 2399}, prefix=COOKBOOKS_PREFIX, owner="a@b [1]")
    pool = logging.getLogger("urllib3.connectionpool")
    caplog.clear()  # only the records below, whatever the levels earlier tests left

    with caplog.at_level(logging.DEBUG):
        pool.warning("Retrying after connection broken by %r", "HTTPConnection(host='127.0.0.1', port=2399): refused")
        logging.getLogger("etcd.client").error("Request to server %s failed: %r", "http://127.0.0.1:2399", "refused")
        pool.warning("Retrying after connection broken by %r", "HTTPConnection(host='netbox', port=443): refused")

    library_records = [r for r in caplog.records if r.name in ("urllib3.connectionpool", "etcd.client")]
    assert [record.levelname for record in library_records] == ["DEBUG", "DEBUG", "WARNING"]


class TestSpicerackLocks:
    def test_without_etcd_config_there_are_no_locks(self):
        spicerack = Spicerack(dry_run=False)

        assert isinstance(spicerack.lock(), NoLock)

    def test_none_is_the_local_lock_in_the_state_dir(self, monkeypatch, tmp_path):
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

        lock = Spicerack(dry_run=False, etcd_config=None).lock()

        assert isinstance(lock, LocalLock)
        assert lock.lock_dir == tmp_path / "spicerack" / "locks"
        assert not lock.lock_dir.exists()


def test_reference_names():
    assert locking.ETCD_WRITER_LOCK_KEY == "etcd"
    assert locking.retry is decorators.retry
    assert locking.etcd is etcd


def test_python_etcd_is_imported_on_first_use_only():
    code = "import sys, spicerack.locking; print('etcd' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "False"


class TestNoLock:
    def test_has_the_lock_api_and_does_nothing(self):
        lock = NoLock(config={}, prefix="cookbooks", owner="x")

        with lock.acquired("name", concurrency=1, ttl=10), lock.acquired("name", concurrency=1, ttl=10):
            pass
        assert lock.acquire("name", concurrency=1, ttl=10) == ""
        lock.release("name", "")
        assert lock.get("name").locks == {}


class TestLoadEtcdConfig:
    @pytest.fixture(autouse=True)
    def _home(self, monkeypatch, tmp_path):
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("USER", "")

    def test_user_etcdrc_overrides(self, tmp_path):
        (tmp_path / "etcd.yaml").write_text("host: etcd1001\nport: 2379\nusername: shared\n")
        (tmp_path / ".etcdrc").write_text("username: alice\npassword: pw\n")

        config, source = load_etcd_config(tmp_path / "etcd.yaml")

        assert config == {"host": "etcd1001", "port": 2379, "username": "alice", "password": "pw"}
        assert source == f"{tmp_path / 'etcd.yaml'} and {tmp_path / '.etcdrc'}"

    def test_without_etcdrc(self, tmp_path):
        (tmp_path / "etcd.yaml").write_text("")

        assert load_etcd_config(tmp_path / "etcd.yaml") == ({}, str(tmp_path / "etcd.yaml"))

    def test_invalid_yaml_error_never_quotes_the_content(self, tmp_path):
        (tmp_path / "etcd.yaml").write_text("host: etcd1001\npassword: [s3cr3t\n")

        with pytest.raises(LockError) as error:
            load_etcd_config(tmp_path / "etcd.yaml")

        assert "is not valid YAML at line" in str(error.value)
        assert "s3cr3t" not in str(error.value)

    def test_rejects_a_non_mapping(self, tmp_path):
        (tmp_path / "etcd.yaml").write_text("- etcd1001\n")

        with pytest.raises(LockError, match="must be a YAML mapping, got list"):
            load_etcd_config(tmp_path / "etcd.yaml")


def test_short_reason_of_connection_errors():
    cause = (
        "MaxRetryError(\"HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: /v2/keys/a "
        "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection object>: Failed to establish a new "
        "connection: [Errno 111] Connection refused'))\")"
    )
    refused = etcd.EtcdConnectionFailed(f"Connection to etcd failed due to {cause}", cause=RuntimeError(cause))

    assert _short_reason(refused) == "Connection refused"
    assert _short_reason(etcd.EtcdConnectionFailed("Read timed out. (read timeout=10)")) == "timed out"
    assert _short_reason(etcd.EtcdConnectionFailed("weird\nthing")) == "weird thing"


class TestHolderGone:
    def test_running_process_of_this_host_holds(self):
        assert not _holder_gone(slot(owner=f"me@{socket.gethostname()} [{os.getpid()}]"), socket.gethostname())

    def test_other_hosts_are_never_judged(self):
        assert not _holder_gone(slot(owner="me@elsewhere [1]"), socket.gethostname())
        assert not _holder_gone(slot(owner="not an owner string"), socket.gethostname())

    def test_exited_process_is_gone(self):
        child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        owner = f"me@{socket.gethostname()} [{child.stdout.strip()}]"

        assert _holder_gone(slot(owner=owner), socket.gethostname())

    def test_pid_reused_by_a_newer_process_is_gone(self):
        long_ago = datetime.now(UTC) - timedelta(days=365 * 30)
        owner = f"me@{socket.gethostname()} [{os.getpid()}]"

        assert _holder_gone(slot(owner=owner, created=long_ago), socket.gethostname())

    def test_process_start_time(self):
        started = process_start_time(os.getpid())

        assert started is not None
        assert 0 < started <= datetime.now(UTC).timestamp()


class TestTerminationRaises:
    def test_sigterm_raises_while_active_and_handlers_are_restored(self):
        before = signal.getsignal(signal.SIGTERM)

        with pytest.raises(TerminatedError, match="Received SIGTERM"), _termination_raises():
            os.kill(os.getpid(), signal.SIGTERM)

        assert signal.getsignal(signal.SIGTERM) is before
        assert issubclass(TerminatedError, KeyboardInterrupt)

    def test_existing_handlers_are_kept(self):
        calls = []
        previous = signal.signal(signal.SIGHUP, lambda signum, _frame: calls.append(signum))
        try:
            with _termination_raises():
                os.kill(os.getpid(), signal.SIGHUP)
            assert calls == [signal.SIGHUP]
        finally:
            signal.signal(signal.SIGHUP, previous)


class TestBackendInterface:
    """The backend base class, the choice of backend, and what each backend lists as held."""

    def test_a_backend_missing_a_primitive_cannot_be_instantiated(self):
        class Incomplete(LockBackend):
            def _read(self, key):
                return KeyLocks(key=key)

            def _take(self, key, lock, taken):
                taken.append(lock.uuid)

            def _release(self, key, lock_id):
                return None

        with pytest.raises(TypeError, match="_held"):
            Incomplete(prefix="custom", owner="me@host [1]", dry_run=True, max_wait=None, retry_delay=0.1)

    @pytest.mark.parametrize(
        ("etcd_config", "kind"),
        [(None, "local"), ("", "none"), ("/etc/spicerack/etcd.yaml", "etcd"), (Path("etcd.yaml"), "etcd")],
    )
    def test_backend_kind(self, etcd_config, kind):
        assert locking.backend_kind(etcd_config) == kind

    @pytest.mark.parametrize(("etcd_config", "backend"), [(None, LocalLock), ("", NoLock)])
    def test_open_lock_chooses_the_backend(self, etcd_config, backend, tmp_path):
        lock = locking.open_lock(etcd_config, prefix="custom", owner="me@host [1]", dry_run=True, lock_dir=tmp_path)
        assert type(lock) is backend

    def test_open_lock_builds_an_etcd_lock_from_a_config_file(self, monkeypatch, tmp_path):
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("USER", "")
        config = tmp_path / "etcd.yaml"
        config.write_text("host: 127.0.0.1\nport: 1\n", encoding="utf-8")
        lock = locking.open_lock(str(config), prefix="custom", owner="me@host [1]", dry_run=True)
        assert type(lock) is Lock

    def test_open_lock_rejects_an_unknown_prefix(self):
        with pytest.raises(LockError, match="Invalid prefix"):
            locking.open_lock("", prefix="nope", owner="me@host [1]", dry_run=True)

    def test_the_local_backend_lists_the_keys_held(self, tmp_path):
        owner = f"me@{socket.gethostname()} [{os.getpid()}]"
        lock = LocalLock(prefix="custom", owner=owner, dry_run=False, lock_dir=tmp_path)
        assert lock.held() == []
        with lock.acquired("a.b", concurrency=2, ttl=60):
            lock_id = lock.acquire("c:d", concurrency=1, ttl=60)
            held = lock.held()
            assert [key_locks.key for key_locks in held] == [
                "/spicerack/locks/custom/a.b",
                "/spicerack/locks/custom/c:d",
            ]
            assert [slot.owner for key_locks in held for slot in key_locks.locks.values()] == [owner, owner]
            lock.release("c:d", lock_id)
        assert lock.held() == []

    def test_no_lock_holds_nothing_and_does_nothing(self):
        lock = NoLock()
        with lock.acquired("a.b", concurrency=1, ttl=60):
            assert lock.acquire("a.b", concurrency=1, ttl=60) == ""
            assert lock.held() == []
        assert lock.get("a.b").locks == {}
