"""Unit tests of spicerack.remote: the logic that needs no SSH (queries on the direct backend, DRY-RUN, errors)."""

import inspect
import logging
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from ClusterShell.MsgTree import MsgTreeElem

import spicerack
from spicerack import Spicerack
from spicerack.exceptions import SpicerackCheckError, SpicerackError
from spicerack.remote import (
    Command,
    LBRemoteCluster,
    NodeSet,
    Remote,
    RemoteCheckError,
    RemoteClusterExecutionError,
    RemoteError,
    RemoteExecutionError,
    RemoteHosts,
    RemoteHostsAdapter,
    _batch_plan,
    _prepend_sudo,
)

DEFAULT_CUMIN_CONFIG = str(Path(spicerack.__file__).parent / "_defaults" / "cumin.yaml")


class FakeConftool:
    """A stand-in for a conftool entity that records what it was asked."""

    def __init__(self, names=(), error=None):
        self.names = list(names)
        self.error = error
        self.get_calls = []
        self.depooled = []

    def get(self, **tags):
        self.get_calls.append(tags)
        if self.error is not None:
            raise self.error
        return [SimpleNamespace(name=name) for name in self.names]

    @contextmanager
    def change_and_revert(self, field, original, changed, **tags):
        self.depooled.append((field, original, changed, tags))
        yield


def message(text: bytes) -> MsgTreeElem:
    return MsgTreeElem(text, parent=MsgTreeElem())


@pytest.fixture
def remote():
    return Remote(DEFAULT_CUMIN_CONFIG, dry_run=True)


def test_default_cumin_config_uses_the_direct_backend_over_clustershell():
    config = yaml.safe_load(Path(DEFAULT_CUMIN_CONFIG).read_text())

    assert config["transport"] == "clustershell"
    assert config["default_backend"] == "direct"


def test_import_spicerack_does_not_import_cumin():
    code = "import sys, spicerack; sys.exit('cumin' in sys.modules or 'spicerack.remote' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_accessor_builds_remote_with_the_dry_run_mode():
    remote_hosts = Spicerack(cumin_config=DEFAULT_CUMIN_CONFIG, dry_run=True).remote().query("host[1-3]")

    assert remote_hosts.hosts == NodeSet("host[1-3]")
    assert list(remote_hosts.run_sync("reboot")) == []  # DRY-RUN: not executed


def test_accessor_installer_uses_the_installer_config(tmp_path):
    spicerack_instance = Spicerack(
        cumin_config=str(tmp_path / "missing.yaml"), cumin_installer_config=DEFAULT_CUMIN_CONFIG, dry_run=True
    )

    assert len(spicerack_instance.remote(installer=True).query("host1")) == 1
    with pytest.raises(RemoteError, match=r"missing\.yaml"):
        spicerack_instance.remote()


def test_missing_config_is_a_clear_error(tmp_path):
    with pytest.raises(RemoteError, match=r"Unable to load cumin's configuration .*nope\.yaml"):
        Remote(str(tmp_path / "nope.yaml"))


def test_exceptions_hierarchy():
    assert issubclass(RemoteError, SpicerackError)
    assert issubclass(RemoteExecutionError, RemoteError)
    assert issubclass(RemoteClusterExecutionError, RemoteError)
    assert issubclass(RemoteCheckError, SpicerackCheckError)


def test_execution_error_message_and_attributes():
    error = RemoteExecutionError(retcode=2, message="Cumin execution failed")

    assert str(error) == "Cumin execution failed (exit_code=2)"
    assert error.retcode == 2
    assert list(error.results) == []
    assert error.failed_hosts == NodeSet()

    detailed = RemoteExecutionError(1, "failed", iter([(NodeSet("h1"), message(b"x"))]), failed_hosts=NodeSet("h2"))
    assert [str(hosts) for hosts, _ in detailed.results] == ["h1"]
    assert detailed.failed_hosts == NodeSet("h2")


def test_cluster_execution_error_counts_failures():
    failures = [RemoteExecutionError(2, "a"), RemoteExecutionError(2, "b")]
    error = RemoteClusterExecutionError([], failures)

    assert str(error) == "2 hosts have failed execution"
    assert error.failures == failures
    assert error.results == []


def test_query_returns_the_hosts(remote):
    remote_hosts = remote.query("host[1-9]")

    assert isinstance(remote_hosts, RemoteHosts)
    assert remote_hosts.hosts == NodeSet("host[1-9]")
    assert str(remote_hosts) == "host[1-9]"
    assert len(remote_hosts) == 9


def test_hosts_is_a_copy(remote):
    remote_hosts = remote.query("host[1-2]")
    remote_hosts.hosts.add("host9")

    assert remote_hosts.hosts == NodeSet("host[1-2]")


@pytest.mark.parametrize("query", ["host[1-", "host1 and or"])
def test_invalid_query_raises(remote, query):
    with pytest.raises(RemoteError, match="Failed to execute Cumin query"):
        remote.query(query)


def test_no_hosts_raises(remote):
    with pytest.raises(RemoteError, match="No hosts provided"):
        RemoteHosts(remote._config, NodeSet())


def test_split(remote):
    remote_hosts = remote.query("host[1-9]")

    assert [len(part) for part in remote_hosts.split(2)] == [5, 4]
    parts = list(remote_hosts.split(15))
    assert len(parts) == 9
    assert all(part._dry_run for part in parts)


def test_split_keeps_sudo(remote, caplog):
    part = next(remote.query("host[1-4]", use_sudo=True).split(2))

    with caplog.at_level(logging.INFO, logger="spicerack.remote"):
        part.run_sync("id")

    assert "sudo -i id" in caplog.text


def test_prepend_sudo_keeps_timeout_and_ok_codes():
    assert _prepend_sudo("ls") == "sudo -i ls"
    command = _prepend_sudo(Command("ls", timeout=5, ok_codes=[0, 1]))
    assert isinstance(command, Command)
    assert command.command == "sudo -i ls"
    assert command.timeout == 5
    assert command.ok_codes == [0, 1]


@pytest.mark.parametrize("method", ["run_sync", "run_async"])
def test_dry_run_skips_unsafe_commands_and_logs_the_plan(remote, caplog, method):
    with caplog.at_level(logging.INFO, logger="spicerack.remote"):
        results = getattr(remote.query("host[1-9]"), method)("rm -rf /srv/data", Command("reboot", timeout=3))
        assert list(results) == []

    mode = method.removeprefix("run_")
    assert f"they would run in {mode} mode on 9 hosts all at once: host[1-9]" in caplog.text
    assert "rm -rf /srv/data" in caplog.text


@pytest.mark.parametrize(
    ("batch_size", "batch_sleep", "plan"),
    [
        (None, None, "all at once"),
        (3, None, "in a moving window of 3 hosts with 0.0s of sleep in between"),
        ("50%", 2, "in a moving window of 4 hosts with 2.0s of sleep in between"),
        (20, None, "all at once"),
    ],
)
def test_batch_plan(remote, batch_size, batch_sleep, plan):
    target = remote.query("host[1-9]")._target(batch_size, batch_sleep)

    assert _batch_plan(target) == plan


@pytest.mark.parametrize("batch_size", [0, -1, "abc", "150%", "0%", ""])
def test_invalid_batch_size_raises_before_running(remote, batch_size):
    with pytest.raises(RemoteError, match="Invalid batch"):
        remote.query("host[1-9]").run_sync("true", batch_size=batch_size)


def test_invalid_batch_sleep_raises(remote):
    with pytest.raises(RemoteError, match="Invalid batch parameters"):
        remote.query("host[1-9]").run_sync("true", batch_sleep=-1)


def test_invalid_success_threshold_raises(remote):
    with pytest.raises(RemoteError, match="success_threshold"):
        remote.query("host[1-9]").run_async("true", success_threshold=1.5)


def test_no_commands_raises(remote):
    with pytest.raises(RemoteError, match="No commands provided"):
        remote.query("host1").run_sync()


def test_reboot_in_dry_run_only_logs(remote, caplog):
    with caplog.at_level(logging.INFO, logger="spicerack.remote"):
        remote.query("host[1-4]").reboot(batch_size=2, batch_sleep=30)

    assert "Rebooting 4 hosts in batches of 2 with 30.0s of sleep in between: host[1-4]" in caplog.text
    assert "reboot-host" in caplog.text
    assert "in a moving window of 2 hosts with 30.0s of sleep in between" in caplog.text


def test_reboot_single_host_has_no_sleep(remote, caplog):
    with caplog.at_level(logging.INFO, logger="spicerack.remote"):
        remote.query("host1").reboot()

    assert "Rebooting 1 hosts in batches of 1 with 0.0s of sleep in between: host1" in caplog.text


def test_results_to_list_without_callback():
    results = iter([(NodeSet("host[1-2]"), message(b"  out\n")), (NodeSet("host3"), message(b"other"))])

    assert RemoteHosts.results_to_list(results) == [(NodeSet("host[1-2]"), "out"), (NodeSet("host3"), "other")]


def test_results_to_list_with_callback():
    results = iter([(NodeSet("host1"), message(b"12.5 40.0"))])

    assert RemoteHosts.results_to_list(results, callback=lambda out: float(out.split()[0])) == [
        (NodeSet("host1"), 12.5)
    ]


def test_results_to_list_callback_failure_is_a_remote_error():
    results = iter([(NodeSet("host[1-2]"), message(b"garbage"))])

    with pytest.raises(RemoteError, match=r"Unable to extract data with <lambda> for host\[1-2\] from: garbage"):
        RemoteHosts.results_to_list(results, callback=lambda out: float(out))


@pytest.mark.parametrize("method", [RemoteHosts.run_sync, RemoteHosts.run_async, LBRemoteCluster.run])
def test_cumin_output_and_progress_bars_are_printed_by_default(method):
    parameters = inspect.signature(method).parameters

    assert parameters["print_output"].default is True
    assert parameters["print_progress_bars"].default is True


def test_iterating_yields_one_instance_per_host_with_the_same_settings(remote):
    hosts = Remote(DEFAULT_CUMIN_CONFIG, dry_run=False).query("host[1-3]", use_sudo=True)

    singles = list(hosts)

    assert [str(single) for single in singles] == ["host1", "host2", "host3"]
    assert all(isinstance(single, RemoteHosts) and not single.dry_run for single in singles)
    assert all(single._use_sudo for single in singles)


@pytest.mark.parametrize("subset", ["host1", "host[2-3]", "host[1-4]"])
def test_get_subset(remote, subset):
    hosts = remote.query("host[1-4]", use_sudo=True)

    selected = hosts.get_subset(NodeSet(subset))

    assert selected.hosts == NodeSet(subset)
    assert selected.dry_run is True
    assert selected._use_sudo is True


@pytest.mark.parametrize("subset", ["host5", "host[4-5]", "other1"])
def test_get_subset_outside_the_hosts_raises(remote, subset):
    with pytest.raises(RemoteError, match=r"The provided set .* is not a subset of the current set host\[1-4\]"):
        remote.query("host[1-4]").get_subset(NodeSet(subset))


def test_wait_reboot_since_unreachable_in_dry_run_raises_at_once(remote, monkeypatch):
    calls = []

    def failing_uptime(self, print_progress_bars=True):
        calls.append(print_progress_bars)
        raise RemoteExecutionError(2, "Cumin execution failed")

    monkeypatch.setattr(RemoteHosts, "uptime", failing_uptime)

    with pytest.raises(RemoteCheckError, match=r"Reboot for host\[1-2\] not found: unable to get uptime"):
        remote.query("host[1-2]").wait_reboot_since(datetime.now(UTC))
    assert calls == [True]


def test_wait_reboot_since_not_rebooted_in_dry_run_only_logs(remote, monkeypatch, caplog):
    monkeypatch.setattr(RemoteHosts, "uptime", lambda self, print_progress_bars=True: [(NodeSet("host1"), 1e6)])

    with caplog.at_level(logging.INFO, logger="spicerack.remote"):
        remote.query("host1").wait_reboot_since(datetime.now(UTC) - timedelta(minutes=1))

    assert "Reboot for host1 not found - expected in dry run mode, host not rebooted: uptime 1000000.0" in caplog.text
    assert "Found reboot" not in caplog.text


def test_wait_reboot_since_keeps_polling_until_rebooted(monkeypatch, caplog):
    uptimes = [[(NodeSet("host1"), 1e6)], [(NodeSet("host1"), 1e6)], [(NodeSet("host1"), 5.0)]]
    monkeypatch.setattr(RemoteHosts, "uptime", lambda self, print_progress_bars=True: uptimes.pop(0))
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    hosts = Remote(DEFAULT_CUMIN_CONFIG, dry_run=False).query("host1")

    with caplog.at_level(logging.INFO):
        hosts.wait_reboot_since(datetime.now(UTC) - timedelta(minutes=1))

    assert uptimes == []
    assert "Reboot for host1 not found yet, keep polling for it: uptime 1000000.0 > threshold" in caplog.text
    assert "Found reboot since" in caplog.text


def test_adapter_str_len_and_wrapped_hosts(remote):
    hosts = remote.query("host[1-9]")
    adapter = RemoteHostsAdapter(hosts)

    assert str(adapter) == "host[1-9]"
    assert len(adapter) == 9
    assert adapter.remote_hosts is hosts
    assert hosts.dry_run is True


def test_query_confctl_returns_the_cluster(remote):
    conftool = FakeConftool(names=["host1", "host2"])

    cluster = remote.query_confctl(conftool, dc="eqiad", cluster="appserver")

    assert isinstance(cluster, LBRemoteCluster)
    assert str(cluster) == "host[1-2]"
    assert conftool.get_calls == [{"dc": "eqiad", "cluster": "appserver"}]


def test_query_confctl_failure(remote):
    with pytest.raises(RemoteError, match="Failed to execute the conftool query"):
        remote.query_confctl(FakeConftool(error=SpicerackError("etcd down")), dc="eqiad")


@pytest.mark.parametrize("batch_size", [0, 10, 11])
def test_lb_cluster_rejects_bad_batch_size(remote, batch_size):
    cluster = LBRemoteCluster(remote._config, remote.query("host[1-10]"), FakeConftool())

    with pytest.raises(RemoteError, match=r"Values for batch_size must be 0 < x < 10, got"):
        cluster.run("true", batch_size=batch_size)


def test_lb_cluster_depools_each_group_in_turn(remote):
    conftool = FakeConftool()
    cluster = LBRemoteCluster(remote._config, remote.query("host[1-10]"), conftool)

    assert cluster.run("true", svc_to_depool=["svc1", "svc2"], batch_size=4) == []

    assert conftool.depooled == [
        ("pooled", "yes", "no", {"service": "svc1|svc2", "name": "host1|host2|host3|host4"}),
        ("pooled", "yes", "no", {"service": "svc1|svc2", "name": "host5|host6|host7"}),
        ("pooled", "yes", "no", {"service": "svc1|svc2", "name": "host8|host9|host10"}),
    ]


def test_lb_cluster_restart_services(remote, caplog):
    conftool = FakeConftool()
    cluster = LBRemoteCluster(remote._config, remote.query("host[1-4]"), conftool)

    with caplog.at_level(logging.INFO, logger="spicerack.remote"):
        cluster.restart_services(["nginx", "php-fpm"], ["web"], batch_size=2)
        cluster.reload_services(["nginx"], ["web"], batch_size=2)

    assert 'systemctl restart "nginx"' in caplog.text
    assert 'systemctl restart "php-fpm"' in caplog.text
    assert 'systemctl reload "nginx"' in caplog.text
    assert len(conftool.depooled) == 4


def test_importing_the_module_does_not_import_conftool():
    # Cookbooks import spicerack.remote for its names: listing them or asking --help must not pay for conftool.
    code = "import sys, spicerack.remote; print(sorted(m for m in sys.modules if m.split('.')[0] == 'conftool'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_conftool_entity_is_reexported_from_confctl():
    from spicerack import confctl, remote
    from spicerack.remote import ConftoolEntity

    assert ConftoolEntity is confctl.ConftoolEntity
    assert remote.ConftoolEntity is confctl.ConftoolEntity


def test_cumin_modules_are_reachable_for_patching():
    import cumin

    from spicerack import remote

    assert remote.transports is cumin.transports
    assert remote.transport is cumin.transport


def test_lb_cluster_sleeps_after_every_group(remote, monkeypatch):
    sleeps = []
    monkeypatch.setattr("time.sleep", sleeps.append)
    cluster = LBRemoteCluster(remote._config, remote.query("host[1-6]"), FakeConftool())

    cluster.run("true", svc_to_depool=["web"], batch_size=2, batch_sleep=5.0)

    assert sleeps == [5.0, 5.0, 5.0]


def test_lb_cluster_stops_without_sleeping_after_too_many_failures(remote, monkeypatch):
    sleeps = []
    monkeypatch.setattr("time.sleep", sleeps.append)
    runs = []

    def failing_run_async(self, *commands, **kwargs):
        runs.append(str(self))
        raise RemoteExecutionError(1, "Cumin execution failed")

    monkeypatch.setattr(RemoteHosts, "run_async", failing_run_async)
    cluster = LBRemoteCluster(remote._config, remote.query("host[1-6]"), FakeConftool())

    with pytest.raises(RemoteClusterExecutionError, match="2 hosts have failed execution"):
        cluster.run("true", svc_to_depool=["web"], batch_size=2, batch_sleep=5.0, max_failed_batches=1)

    assert runs == ["host[1-2]", "host[3-4]"]
    assert sleeps == [5.0]


def test_command_is_reexported_from_cumin():
    from cumin.transports import Command as CuminCommand

    from spicerack import remote

    assert remote.Command is CuminCommand
