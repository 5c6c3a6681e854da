"""Pure logic of the locks: slots, limits, keys, settings. The backends are tested in tests/integration."""

import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import requests

from spicerack.exceptions import SpicerackCheckError
from spicerack.locking import (
    COOKBOOKS_CUSTOM_PREFIX,
    COOKBOOKS_PREFIX,
    SPICERACK_PREFIX,
    ConcurrentLock,
    InvalidLockError,
    KeyLocks,
    LocalLock,
    LockError,
    LockExistingError,
    LockUnavailableError,
    LockUnreadableError,
    NoLock,
    TerminatedError,
    _holder_gone,
    _short_reason,
    _termination_raises,
    etcd_endpoints,
    get_lock_instance,
    load_etcd_config,
    lock_key,
    prefix_range_end,
    process_start_time,
)

KEY = "/spicerack/locks/cookbooks/sre.test"


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

    def test_round_trips_through_its_dict(self):
        lock = slot(concurrency=3, ttl=120)

        copy = ConcurrentLock.from_dict(lock.uuid, lock.to_dict())

        assert copy == lock
        assert set(lock.to_dict()) == {"concurrency", "created", "owner", "ttl"}

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

    def test_holder_names_owner_and_time(self):
        lock = slot(owner="alice@cumin1001 [42]", created=datetime(2024, 1, 31, 12, 34, 56, 789, tzinfo=UTC))

        assert lock.holder == "alice@cumin1001 [42] since 2024-01-31 12:34:56 UTC"

    def test_ids_are_unique(self):
        assert slot().uuid != slot().uuid


class TestKeyLocks:
    def test_takes_slots_up_to_the_concurrency(self):
        key_locks = KeyLocks(key=KEY)
        key_locks.add(slot(concurrency=2))
        key_locks.add(slot(concurrency=2))

        with pytest.raises(LockUnavailableError, match="busy: 2 of 2 allowed concurrent holders"):
            key_locks.add(slot(concurrency=2))
        assert len(key_locks.locks) == 2

    def test_lowest_concurrency_of_holders_and_newcomer_wins(self):
        key_locks = KeyLocks(key=KEY)
        key_locks.add(slot(concurrency=1, owner="alice@host1 [10]"))

        with pytest.raises(LockUnavailableError, match=r"1 of 1 .*alice@host1 \[10\] since"):
            key_locks.add(slot(concurrency=5))

        relaxed = KeyLocks(key=KEY)
        relaxed.add(slot(concurrency=5))
        with pytest.raises(LockUnavailableError, match="1 of 1"):
            relaxed.add(slot(concurrency=1))

    def test_zero_concurrency_is_unlimited_but_tracked(self):
        key_locks = KeyLocks(key=KEY)
        for _ in range(50):
            key_locks.add(slot(concurrency=0))

        assert len(key_locks.locks) == 50
        assert key_locks.limit(slot(concurrency=0)) == 0
        with pytest.raises(LockUnavailableError, match="50 of 3"):
            key_locks.add(slot(concurrency=3))

    def test_busy_message_is_one_line_listing_holders_oldest_first(self):
        now = datetime(2024, 1, 31, 12, tzinfo=UTC)
        key_locks = KeyLocks(key=KEY)
        key_locks.add(slot(concurrency=2, owner="bob@h2 [2]", created=now + timedelta(minutes=1)))
        key_locks.add(slot(concurrency=2, owner="alice@h1 [1]", created=now))

        with pytest.raises(LockUnavailableError) as error:
            key_locks.add(slot(concurrency=2))

        assert str(error.value) == (
            f"Lock for key {KEY} is busy: 2 of 2 allowed concurrent holders: "
            "alice@h1 [1] since 2024-01-31 12:00:00 UTC; bob@h2 [2] since 2024-01-31 12:01:00 UTC"
        )

    def test_unavailable_is_a_lock_error_and_a_check_error(self):
        assert issubclass(LockUnavailableError, LockError)
        assert issubclass(LockUnavailableError, SpicerackCheckError)

    def test_rejects_a_duplicate_id(self):
        key_locks = KeyLocks(key=KEY)
        lock = slot(concurrency=0)
        key_locks.add(lock)

        with pytest.raises(LockExistingError, match="same ID"):
            key_locks.add(slot(concurrency=0, uuid=lock.uuid))

    def test_remove(self):
        key_locks = KeyLocks(key=KEY)
        lock = slot()
        key_locks.add(lock)

        lock_id = lock.uuid

        assert key_locks.remove(lock_id) is lock
        assert key_locks.remove(lock_id) is None
        assert key_locks.locks == {}

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

    @pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"id1": {"owner": "x"}}'])
    def test_from_json_rejects_garbage(self, content):
        with pytest.raises(LockUnreadableError, match=f"Unable to parse the lock for key {KEY}"):
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
    def test_empty_string_disables_locks(self):
        assert isinstance(get_lock_instance(config_file="", prefix=COOKBOOKS_PREFIX, owner="a@b [1]"), NoLock)

    def test_none_is_the_local_lock_in_the_state_dir(self, monkeypatch, tmp_path):
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

        lock = get_lock_instance(config_file=None, prefix=COOKBOOKS_PREFIX, owner="a@b [1]")

        assert isinstance(lock, LocalLock)
        assert lock.lock_dir == tmp_path / "spicerack" / "locks"
        assert not lock.lock_dir.exists()

    @pytest.mark.parametrize("config_file", ["", None, "/nonexistent.yaml"])
    def test_rejects_unknown_prefixes(self, config_file):
        with pytest.raises(LockError, match="Invalid prefix bogus"):
            get_lock_instance(config_file=config_file, prefix="bogus", owner="a@b [1]")

    def test_missing_config_file(self, tmp_path):
        with pytest.raises(LockError, match=f"Unable to read the etcd config file {tmp_path}/missing.yaml"):
            get_lock_instance(config_file=str(tmp_path / "missing.yaml"), prefix=COOKBOOKS_PREFIX, owner="a@b [1]")


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


class TestEtcdEndpoints:
    def test_defaults(self):
        assert etcd_endpoints({}, "f.yaml") == ["http://127.0.0.1:2379"]

    def test_host_port_protocol(self):
        config = {"host": "etcd1001.example.org", "port": 4001, "protocol": "https", "ca_cert": "/ca.pem"}

        assert etcd_endpoints(config, "f.yaml") == ["https://etcd1001.example.org:4001"]

    def test_several_hosts_and_pairs(self):
        config = {"host": ["etcd1", ["etcd2", 4001], "::1"], "port": 2379}

        assert etcd_endpoints(config, "f.yaml") == ["http://etcd1:2379", "http://etcd2:4001", "http://[::1]:2379"]

    def test_accepts_the_v2_only_settings(self):
        assert etcd_endpoints({"version_prefix": "/v2", "allow_redirect": True}, "f.yaml") == ["http://127.0.0.1:2379"]

    @pytest.mark.parametrize(
        ("config", "message"),
        [
            ({"hots": "x"}, "Unknown etcd setting 'hots' in f.yaml"),
            ({"srv_domain": "example.org"}, "'srv_domain' in f.yaml is not supported"),
            ({"protocol": "ftp"}, "'protocol' in f.yaml: must be http or https"),
            ({"port": "2379"}, "'host' or 'port' in f.yaml"),
            ({"host": ""}, "'host' or 'port' in f.yaml"),
            ({"host": []}, "no server listed"),
        ],
    )
    def test_rejects_bad_settings(self, config, message):
        with pytest.raises(LockError, match=message):
            etcd_endpoints(config, "f.yaml")


def test_prefix_range_end():
    assert prefix_range_end("/spicerack/locks/custom/a/") == "/spicerack/locks/custom/a0"
    assert prefix_range_end("a") == "b"


def test_short_reason_of_connection_errors():
    refused = requests.ConnectionError(
        "HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: /v3/kv/range (Caused by "
        "NewConnectionError('<urllib3.connection.HTTPConnection object>: Failed to establish a new connection: "
        "[Errno 111] Connection refused'))"
    )

    assert _short_reason(refused) == "Connection refused"
    assert _short_reason(requests.ReadTimeout("Read timed out. (read timeout=10)")) == "timed out"
    assert _short_reason(requests.ConnectionError("weird")) == "ConnectionError"


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
