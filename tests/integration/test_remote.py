"""Integration tests of spicerack.remote against a real fleet of sshd hosts, through cumin and ClusterShell."""

import inspect
import logging
import subprocess
import time
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from cumin.transports import Command

from spicerack import Spicerack
from spicerack.remote import (
    LBRemoteCluster,
    NodeSet,
    Remote,
    RemoteCheckError,
    RemoteError,
    RemoteExecutionError,
    RemoteHosts,
)

TEN_HOSTS = "test-host[01-10]"


def _ten(ssh_fleet):
    return NodeSet(TEN_HOSTS)


def _marker(ssh_fleet, host, name):
    return ssh_fleet.state_dir(host) / name


@pytest.fixture
def clean_markers(ssh_fleet):
    """Remove the marker files that the tests of this module write in the hosts' state directories."""
    names = ("second", "dry", "window", "lb")

    def clean():
        for host in ssh_fleet.hosts:
            for name in names:
                _marker(ssh_fleet, host, name).unlink(missing_ok=True)

    clean()
    yield
    clean()


def test_fleet_hosts_answer_with_their_own_name(ssh_fleet):
    for host in (ssh_fleet.hosts[0], ssh_fleet.hosts[-1]):
        result = subprocess.run(
            ["ssh", "-F", str(ssh_fleet.ssh_config), host, "echo $FLEET_HOST $FLEET_STATE_DIR"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        assert result.stdout.split() == [host, str(ssh_fleet.state_dir(host))]


def test_query_selects_the_hosts(remote_fleet):
    remote_hosts = remote_fleet.query(TEN_HOSTS)

    assert isinstance(remote_hosts, RemoteHosts)
    assert remote_hosts.hosts == NodeSet(TEN_HOSTS)
    assert len(remote_hosts) == 10
    assert str(remote_hosts) == TEN_HOSTS
    assert [len(part) for part in remote_hosts.split(3)] == [4, 3, 3]


@pytest.mark.parametrize("method", ["run_sync", "run_async"])
def test_run_returns_each_host_output(remote_fleet, ssh_fleet, method):
    results = getattr(remote_fleet.query(TEN_HOSTS), method)("echo $FLEET_HOST")

    outputs = RemoteHosts.results_to_list(results)
    assert sorted((str(hosts), output) for hosts, output in outputs) == [(host, host) for host in ssh_fleet.hosts[:10]]


def test_identical_outputs_are_grouped(remote_fleet):
    results = remote_fleet.query(TEN_HOSTS).run_sync("echo same", "printf 'line 1\\nline 2\\n'")

    assert [(hosts, output.message().decode()) for hosts, output in results] == [
        (NodeSet(TEN_HOSTS), "same"),
        (NodeSet(TEN_HOSTS), "line 1\nline 2"),
    ]


def test_stderr_is_collected_with_stdout(remote_fleet):
    results = remote_fleet.query("test-host01").run_sync("echo out; echo err >&2")

    assert RemoteHosts.results_to_list(results) == [(NodeSet("test-host01"), "out\nerr")]


def test_accessor_builds_a_remote_on_the_configured_cumin_config(ssh_fleet):
    spicerack = Spicerack(cumin_config=str(ssh_fleet.cumin_config), dry_run=False)

    results = spicerack.remote().query("test-host02").run_sync("echo $FLEET_HOST")

    assert RemoteHosts.results_to_list(results) == [(NodeSet("test-host02"), "test-host02")]


@pytest.mark.parametrize("method", ["run_sync", "run_async"])
def test_one_failing_host_fails_the_run(remote_fleet, method):
    with pytest.raises(RemoteExecutionError, match=r"Cumin execution failed \(exit_code=2\)") as excinfo:
        getattr(remote_fleet.query(TEN_HOSTS), method)('echo "$FLEET_HOST"; test "$FLEET_HOST" != test-host03')

    assert excinfo.value.retcode == 2
    assert excinfo.value.failed_hosts == NodeSet("test-host03")
    outputs = {str(hosts): output for hosts, output in RemoteHosts.results_to_list(excinfo.value.results)}
    assert outputs["test-host03"] == "test-host03"


def test_sync_stops_after_a_failed_command_without_threshold(remote_fleet, ssh_fleet, clean_markers):
    with pytest.raises(RemoteExecutionError):
        remote_fleet.query(TEN_HOSTS).run_sync('test "$FLEET_HOST" != test-host03', "touch $FLEET_STATE_DIR/second")

    assert not any(_marker(ssh_fleet, host, "second").exists() for host in ssh_fleet.hosts)


def test_sync_goes_on_above_the_success_threshold(remote_fleet, ssh_fleet, clean_markers):
    with pytest.raises(RemoteExecutionError, match=r"exit_code=1\)") as excinfo:
        remote_fleet.query(TEN_HOSTS).run_sync(
            'test "$FLEET_HOST" != test-host03', "touch $FLEET_STATE_DIR/second", success_threshold=0.9
        )

    assert excinfo.value.retcode == 1  # cumin's "completed with failures"
    assert excinfo.value.failed_hosts == NodeSet("test-host03")
    touched = NodeSet.fromlist(h for h in ssh_fleet.hosts if _marker(ssh_fleet, h, "second").exists())
    assert touched == NodeSet(TEN_HOSTS) - NodeSet("test-host03")


def test_a_host_that_is_down_fails(remote_fleet, ssh_fleet):
    ssh_fleet.stop("test-host05")
    try:
        with pytest.raises(RemoteExecutionError) as excinfo:
            remote_fleet.query(TEN_HOSTS).run_async("true")
    finally:
        ssh_fleet.start("test-host05")

    assert excinfo.value.failed_hosts == NodeSet("test-host05")
    assert excinfo.value.retcode == 2


def test_a_host_that_is_down_is_tolerated_by_the_threshold_of_async_but_reported(remote_fleet, ssh_fleet):
    ssh_fleet.stop("test-host05")
    try:
        with pytest.raises(RemoteExecutionError) as excinfo:
            remote_fleet.query(TEN_HOSTS).run_async("echo up", success_threshold=0.8)
    finally:
        ssh_fleet.start("test-host05")

    assert excinfo.value.retcode == 1
    outputs = {str(hosts): output for hosts, output in RemoteHosts.results_to_list(excinfo.value.results)}
    assert outputs.pop("test-host[01-04,06-10]") == "up"
    assert "Connection refused" in outputs.pop("test-host05")
    assert not outputs


@pytest.mark.parametrize("batch_size", [2, "20%"])
def test_batches_keep_a_moving_window_with_sleeps(remote_fleet, ssh_fleet, clean_markers, batch_size):
    command = "date +%s.%N > $FLEET_STATE_DIR/window; sleep 0.1; date +%s.%N >> $FLEET_STATE_DIR/window"
    batch_sleep = 0.2

    remote_fleet.query(TEN_HOSTS).run_sync(command, batch_size=batch_size, batch_sleep=batch_sleep)

    spans = []
    for host in ssh_fleet.hosts[:10]:
        start, end = (float(line) for line in _marker(ssh_fleet, host, "window").read_text().split())
        spans.append((start, end))
    spans.sort()
    for index, (start, _) in enumerate(spans):
        running = sum(1 for other_start, other_end in spans if other_start <= start < other_end)
        assert running <= 2, f"{running} hosts were running at once"
        if index >= 2:  # after the first window, each host starts at least batch_sleep after another one ended
            assert any(start - end >= batch_sleep for _, end in spans[:index])


def test_command_timeout_fails_only_the_slow_host(remote_fleet):
    slow = Command('if [ "$FLEET_HOST" = test-host04 ]; then sleep 20; fi; echo done', timeout=2)

    with pytest.raises(RemoteExecutionError) as excinfo:
        remote_fleet.query(TEN_HOSTS).run_async(slow)

    assert excinfo.value.failed_hosts == NodeSet("test-host04")
    assert RemoteHosts.results_to_list(excinfo.value.results) == [(NodeSet(TEN_HOSTS) - NodeSet("test-host04"), "done")]


def test_ok_codes_make_a_non_zero_exit_code_a_success(remote_fleet):
    results = remote_fleet.query(TEN_HOSTS).run_sync(Command("echo checked; exit 3", ok_codes=[0, 3]))

    assert RemoteHosts.results_to_list(results) == [(NodeSet(TEN_HOSTS), "checked")]


def test_dry_run_skips_unsafe_commands_on_every_host(ssh_fleet, clean_markers, caplog):
    remote = Remote(str(ssh_fleet.cumin_config), dry_run=True)
    remote_hosts = remote.query(TEN_HOSTS)

    with caplog.at_level(logging.INFO, logger="spicerack.remote"):
        results = remote_hosts.run_sync("touch $FLEET_STATE_DIR/dry", batch_size=3, batch_sleep=1.5)
        assert list(results) == []

    assert not any(_marker(ssh_fleet, host, "dry").exists() for host in ssh_fleet.hosts)
    skipped = [record.getMessage() for record in caplog.records if "DRY-RUN" in record.getMessage()]
    assert len(skipped) == 1
    assert "touch $FLEET_STATE_DIR/dry" in skipped[0]
    assert "10 hosts" in skipped[0]
    assert "moving window of 3 hosts with 1.5s of sleep" in skipped[0]
    assert TEN_HOSTS in skipped[0]


def test_dry_run_runs_safe_commands(ssh_fleet):
    remote_hosts = Remote(str(ssh_fleet.cumin_config), dry_run=True).query(TEN_HOSTS)

    results = remote_hosts.run_async("echo $FLEET_HOST", is_safe=True)

    assert len(RemoteHosts.results_to_list(results)) == 10


def test_output_and_progress_are_printed_unless_turned_off(remote_fleet, capsys):
    remote_fleet.query("test-host0[1-3]").run_sync("echo quiet", print_output=False, print_progress_bars=False)
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")

    remote_fleet.query("test-host0[1-3]").run_sync("echo loud")
    captured = capsys.readouterr()
    assert "===== NODE GROUP =====" in captured.out
    assert "loud" in captured.out
    assert "PASS" in captured.err
    assert "100.0% (3/3) success ratio" in captured.err


def test_uptime_reads_each_host(remote_fleet, ssh_fleet):
    uptimes = remote_fleet.query("test-host0[1-3]").uptime()

    hosts = NodeSet()
    for nodeset, uptime in uptimes:
        hosts.update(nodeset)
        assert uptime >= 0.0
    assert hosts == NodeSet("test-host0[1-3]")


def test_reboot_and_wait_reboot_since(remote_fleet, ssh_fleet):
    rebooted = ["test-host07", "test-host08"]
    remote_hosts = remote_fleet.query("test-host0[7-8]")
    before = {host: ssh_fleet.state_dir(host).joinpath("boot_time").read_text() for host in rebooted}
    since = datetime.now(UTC)

    remote_hosts.reboot(batch_size=1, batch_sleep=0.1)
    for host in rebooted:  # the stand-in restarts sshd half a second later, as a quick reboot would
        ssh_fleet.wait_up(host)
    remote_hosts.wait_reboot_since(since)

    for host in rebooted:
        assert ssh_fleet.state_dir(host).joinpath("boot_time").read_text() != before[host]
        assert ssh_fleet.state_dir(host).joinpath("reboots").read_text().count("reboot requested") >= 1


def test_wait_reboot_since_fails_when_not_rebooted(remote_fleet):
    remote_hosts = remote_fleet.query("test-host09")

    with pytest.raises(RemoteCheckError, match=r"test-host09 not found yet, keep polling for it: uptime [0-9.]+ >"):
        # One attempt: the decorated method would retry for 40 minutes
        inspect.unwrap(RemoteHosts.wait_reboot_since)(remote_hosts, datetime.now(UTC))


def test_wait_reboot_since_fails_when_unreachable(remote_fleet, ssh_fleet):
    remote_hosts = remote_fleet.query("test-host09")
    ssh_fleet.stop("test-host09")
    try:
        with pytest.raises(RemoteCheckError, match=r"test-host09 not found yet, keep polling for it: unable to get"):
            inspect.unwrap(RemoteHosts.wait_reboot_since)(remote_hosts, datetime.now(UTC))
    finally:
        ssh_fleet.start("test-host09")


def test_dry_run_wait_reboot_since_checks_once_without_failing(ssh_fleet, caplog):
    remote_hosts = Remote(str(ssh_fleet.cumin_config), dry_run=True).query("test-host09")

    with caplog.at_level(logging.INFO, logger="spicerack.remote"):
        remote_hosts.wait_reboot_since(datetime.now(UTC))

    assert "Reboot for test-host09 not found - expected in dry run mode" in caplog.text


def test_invalid_query_is_a_clear_error(remote_fleet):
    with pytest.raises(RemoteError, match="Failed to execute Cumin query"):
        remote_fleet.query("test-host[01-")


class RecordingConftool:
    """Conftool stand-in that records when each group of hosts was depooled."""

    def __init__(self):
        self.windows = []

    def get(self, **tags):
        return []

    @contextmanager
    def change_and_revert(self, field, original, changed, **tags):
        start = time.time()
        yield
        self.windows.append((set(tags["name"].split("|")), start, time.time()))


def test_lb_cluster_runs_each_group_while_it_is_depooled(remote_fleet, ssh_fleet, clean_markers):
    conftool = RecordingConftool()
    cluster = LBRemoteCluster(None, remote_fleet.query(TEN_HOSTS), conftool)

    results = cluster.run("date +%s.%N > $FLEET_STATE_DIR/lb; echo ok", svc_to_depool=["web"], batch_size=4)

    assert [(str(hosts), output.message().decode()) for hosts, output in results] == [
        ("test-host[01-04]", "ok"),
        ("test-host[05-07]", "ok"),
        ("test-host[08-10]", "ok"),
    ]
    assert [sorted(names) for names, _, _ in conftool.windows] == [
        [f"test-host{i:02d}" for i in range(1, 5)],
        [f"test-host{i:02d}" for i in range(5, 8)],
        [f"test-host{i:02d}" for i in range(8, 11)],
    ]
    for names, start, end in conftool.windows:
        for host in names:
            assert start <= float(_marker(ssh_fleet, host, "lb").read_text()) <= end


def test_dry_run_safe_command_failure_is_logged_not_raised(ssh_fleet, caplog):
    remote_hosts = Remote(str(ssh_fleet.cumin_config), dry_run=True).query("test-host0[1-2]")

    with caplog.at_level(logging.WARNING, logger="spicerack.remote"):
        results = remote_hosts.run_sync('echo checked; test "$FLEET_HOST" = test-host01', is_safe=True)

    assert RemoteHosts.results_to_list(results) == [(NodeSet("test-host0[1-2]"), "checked")]
    assert "failed on hosts test-host02, not raised in DRY-RUN mode" in caplog.text
