"""Unit tests of spicerack.icinga: status parsing, configuration, command strings, validation before any command."""

import inspect
import itertools
import json
import subprocess
from datetime import timedelta

import pytest
from cumin import NodeSet

from spicerack.administrative import Reason
from spicerack.icinga import (
    ICINGA_CONFIG_FILE,
    CommandFile,
    HostsStatus,
    HostStatus,
    IcingaError,
    IcingaHosts,
    IcingaStatus,
    IcingaStatusNotFoundError,
    IcingaStatusParseError,
    ServiceStatus,
    _downtime_args,
    load_icinga_config,
)
from spicerack.remote import RemoteExecutionError
from tests.unit.remote_stub import StubRemoteHosts

REASON = Reason("maintenance", "user", "cumin1001")
_UNIQUE = itertools.count()


def host_status(name, *, state="UP", failed=(), acked=(), downtimed=False):
    failed_services = [
        {"name": service, "status": {"problem_has_been_acknowledged": "1" if service in acked else "0"}}
        for service in failed
    ]
    return {
        "name": name,
        "state": state,
        "optimal": state == "UP" and not failed,
        "failed_services": failed_services,
        "downtimed": downtimed,
        "notifications_enabled": True,
        "extra_key_from_a_newer_script": 1,
    }


def _last():
    return _LAST[0]


_LAST = [0]


def icinga_hosts(targets=("host1.example.org", "host2.example.org"), outputs=(), **kwargs):
    """An IcingaHosts on a stub master whose first answer is the command_file directive (a unique path per test)."""
    unique = next(_UNIQUE)
    _LAST[0] = unique
    master = StubRemoteHosts("icinga1", [f"command_file=/var/run/icinga-{unique}.cmd", *outputs])
    return IcingaHosts(master, list(targets), config_file=f"/etc/icinga-{unique}.cfg", **kwargs), master


def test_status_parsing():
    output = json.dumps({"host1": host_status("host1"), "host2": host_status("host2", state="DOWN", failed=["ssh"])})
    icinga, master = icinga_hosts(outputs=[output], dry_run=False)
    status = icinga.get_status()
    assert not status.optimal
    assert status.non_optimal_hosts == ["host2"]
    assert status.failed_services == {"host2": ["ssh"]}
    assert status.failed_hosts == ["host2"]
    assert status["host1"].optimal
    assert master.commands[-1] == '/usr/local/bin/icinga-status -j "host[1-2]"'
    assert master.calls[-1][1]["is_safe"] is True


@pytest.mark.parametrize(
    ("output", "error", "message"),
    [
        ('{"host1": null}', IcingaStatusNotFoundError, "^Host host1 was not found in Icinga status$"),
        ('{"host1": false, "host2": null}', IcingaStatusNotFoundError, "^Hosts host1, host2 were not found"),
        ("not json", IcingaStatusParseError, "Unable to parse Icinga status"),
        ("[1, 2]", IcingaStatusParseError, "expected a mapping"),
        ('{"host1": {"name": "host1"}}', IcingaStatusParseError, "Unable to parse Icinga status"),
        (None, IcingaError, "no output from icinga-status"),
    ],
)
def test_status_errors(output, error, message):
    icinga, _ = icinga_hosts(outputs=[output])
    with pytest.raises(error, match=message):
        icinga.get_status()


def test_status_command_options():
    icinga, master = icinga_hosts(["h1"], outputs=['{"h1": null}'], verbatim_hosts=True, status_command="/opt/st")
    with pytest.raises(IcingaStatusNotFoundError):
        icinga.get_status("^disk .*")
    assert master.commands[-1] == "/opt/st -j --verbatim-hosts --services '^disk .*' \"h1\""
    with pytest.raises(Exception, match="missing"):
        icinga.get_status("(")


def test_acked_and_downtimed_services():
    fields = host_status("h", failed=["a", "b"], acked=["a"])
    del fields["extra_key_from_a_newer_script"]
    fields["failed_services"][1]["status"]["scheduled_downtime_depth"] = 1
    fields["services"] = [{"name": "ok", "status": {"current_state": 0}}]
    status = HostStatus(**fields)

    assert status.failed_services == ["a", "b"]
    assert status.acked_services == ["a"]
    assert status.downtimed_services == ["b"]
    assert [service["name"] for service in status.services] == ["ok", "a", "b"]
    assert all(isinstance(service, ServiceStatus) for service in status.services)
    hosts = HostsStatus({"h": status})
    assert hosts.acked_services == {"h": ["a"]}
    assert hosts.downtimed_services == {"h": ["b"]}


@pytest.mark.parametrize(
    ("status", "failed", "acked", "downtimed"),
    [
        ({}, True, False, False),
        ({"current_state": 0}, False, False, False),
        ({"current_state": 1, "problem_has_been_acknowledged": "1"}, True, True, False),
        ({"current_state": 2, "scheduled_downtime_depth": 2}, True, False, True),
    ],
)
def test_service_status(status, failed, acked, downtimed):
    service = ServiceStatus({"name": "svc", "status": status})

    assert (service.failed, service.acked, service.downtimed) == (failed, acked, downtimed)
    assert IcingaStatus(status.get("current_state", 3)).name in {"OK", "WARNING", "CRITICAL", "UNKNOWN"}


def test_target_hosts_are_short_names_unless_verbatim():
    icinga, _ = icinga_hosts(["host1.eqiad.wmnet", "host2.codfw.wmnet"])
    assert icinga.target_hosts == NodeSet("host[1-2]")
    icinga, _ = icinga_hosts(["host1.eqiad.wmnet"], verbatim_hosts=True)
    assert icinga.target_hosts == NodeSet("host1.eqiad.wmnet")


@pytest.mark.parametrize(("targets", "message"), [([], "empty target hosts"), ("host1", "got the string")])
def test_bad_targets(targets, message):
    with pytest.raises(IcingaError, match=message):
        IcingaHosts(StubRemoteHosts("icinga1"), targets)


@pytest.mark.parametrize("name", ["$(touch pwned)", "host`id`", 'host"1', "host\\1", "host1;host2", "host1\nhost2"])
@pytest.mark.parametrize("verbatim_hosts", [False, True])
def test_a_host_name_the_shell_or_icinga_would_misread_is_refused_before_any_command(name, verbatim_hosts):
    master = StubRemoteHosts("icinga1")
    with pytest.raises(IcingaError, match="Invalid target host name"):
        IcingaHosts(master, ["host0", name], verbatim_hosts=verbatim_hosts)
    assert master.calls == []


def test_command_file_needs_a_single_host_and_a_directive():
    with pytest.raises(IcingaError, match="must match a single host"):
        CommandFile(StubRemoteHosts("icinga[1-2]"))
    with pytest.raises(IcingaError, match=r"Unable to read command_file configuration in /etc/none\.cfg: empty"):
        CommandFile(StubRemoteHosts("icinga-none", [None]), config_file="/etc/none.cfg")
    failure = RemoteExecutionError(1, "grep failed")
    with pytest.raises(IcingaError, match=r"Unable to read command_file configuration in /etc/x\.cfg"):
        CommandFile(StubRemoteHosts("icinga-fail", [failure]), config_file="/etc/x.cfg")


def test_command_file_is_cached_per_host_and_file():
    master = StubRemoteHosts("icinga-cache", ["command_file=/a.cmd", "command_file=/b.cmd"])
    assert CommandFile(master) == "/a.cmd"
    assert CommandFile(master) == "/a.cmd"
    assert CommandFile(master, config_file="/other.cfg") == "/b.cmd"
    assert master.commands[0] == f"grep -P '\\s*command_file\\s*=.+' {ICINGA_CONFIG_FILE}"
    CommandFile.clear_cache()
    master.outputs.append("command_file=/c.cmd")
    assert CommandFile(master) == "/c.cmd"


@pytest.mark.parametrize("duration", [timedelta(seconds=59), timedelta(0), timedelta(minutes=-1)])
def test_too_short_downtime_sends_nothing(duration):
    icinga, master = icinga_hosts(dry_run=False)
    with pytest.raises(IcingaError, match="at least 1 minute"):
        icinga.downtime(REASON, duration=duration)
    with pytest.raises(IcingaError, match="at least 1 minute"):
        icinga.downtime_services("ssh", REASON, duration=duration)
    assert len(master.calls) == 1  # Only the command file lookup


def test_downtime_checks_status_sends_host_then_services_and_waits(monkeypatch):
    monkeypatch.setattr("time.time", lambda: 1700000000)
    before = json.dumps({"host1": host_status("host1")})
    after = json.dumps({"host1": host_status("host1", downtimed=True)})
    icinga, master = icinga_hosts(["host1"], outputs=[before, None, None, after], dry_run=False)

    icinga.downtime(REASON, duration=timedelta(minutes=2))

    args = "1700000000;1700000120;1;0;120;user@cumin1001;maintenance"
    assert [len(commands) for commands, _ in master.calls[1:]] == [1, 1, 1, 1]
    assert master.commands[2] == (
        f"bash -c 'echo -n \"[1700000000] SCHEDULE_HOST_DOWNTIME;host1;{args}\" > /var/run/icinga-{_last()}.cmd '"
    )
    assert "SCHEDULE_HOST_SVC_DOWNTIME;host1;" in master.commands[3]
    assert master.commands[4].endswith('-j "host1"')
    assert master.calls[2][1] == {"print_output": False, "print_progress_bars": False}


def test_failed_downtime_command_raises_the_remote_error():
    ok = json.dumps({"host1": host_status("host1")})
    icinga, master = icinga_hosts(["host1"], outputs=[ok, RemoteExecutionError(2, "write failed")], dry_run=False)

    with pytest.raises(RemoteExecutionError, match="write failed"):
        icinga.downtime(REASON)
    assert len(master.calls) == 3  # command file, status, the failed command: nothing else


def test_dry_run_passes_the_commands_to_the_dry_run_master_and_checks_once(caplog):
    ok = json.dumps({"host1": host_status("host1")})
    icinga, master = icinga_hosts(["host1"], outputs=[ok, None, None, ok])

    icinga.downtime(REASON)

    assert len(master.calls) == 5  # command file, status, two commands (skipped by the master), one check
    assert "Some hosts are not yet downtimed: ['host1']" in caplog.text


def test_recheck_all_services_rechecks_the_host_too(monkeypatch):
    monkeypatch.setattr("time.time", lambda: 1700000000)
    icinga, master = icinga_hosts(["host1"], dry_run=False)

    icinga.recheck_all_services()

    assert ["SCHEDULE_FORCED_HOST_SVC_CHECKS;host1;1700000000" in master.commands[1]] == [True]
    assert "SCHEDULE_FORCED_HOST_CHECK;host1;1700000000" in master.commands[2]


def test_recheck_failed_services_rechecks_the_hosts_then_the_services():
    status = json.dumps({"host1": host_status("host1", failed=["ssh", "disk"])})
    icinga, master = icinga_hosts(["host1"], outputs=[status], dry_run=False)

    icinga.recheck_failed_services()

    assert "SCHEDULE_FORCED_HOST_CHECK;host1;" in master.commands[2]
    assert ["SCHEDULE_FORCED_SVC_CHECK;host1;ssh;" in master.commands[3]] == [True]
    assert "SCHEDULE_FORCED_SVC_CHECK;host1;disk;" in master.commands[4]
    assert len(master.calls[-1][0]) == 2  # both services in one run


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "Not all services are recovered: host1:ssh,disk$"),
        ({"skip_acked": True}, "Not all services are recovered: host1:disk$"),
        ({"skip_downtimed": True}, "Not all services are recovered: host1:ssh$"),
    ],
)
def test_wait_for_optimal_skips_acked_and_downtimed_services(monkeypatch, kwargs, message):
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    fields = host_status("host1", failed=["ssh", "disk"], acked=["ssh"])
    fields["failed_services"][1]["status"]["scheduled_downtime_depth"] = 1
    icinga, _ = icinga_hosts(["host1"], outputs=[json.dumps({"host1": fields})] * 20, dry_run=False)

    with pytest.raises(IcingaError, match=message):
        icinga.wait_for_optimal(**kwargs)


def test_wait_for_optimal_skipping_both_passes(monkeypatch):
    fields = host_status("host1", failed=["ssh", "disk"], acked=["ssh"])
    fields["failed_services"][1]["status"]["scheduled_downtime_depth"] = 1
    status = json.dumps({"host1": fields})
    # Status, the host recheck, the services recheck, status again
    icinga, master = icinga_hosts(["host1"], outputs=[status, None, None, status], dry_run=False)
    monkeypatch.setattr("time.sleep", lambda seconds: pytest.fail("no retry expected"))

    icinga.wait_for_optimal(skip_acked=True, skip_downtimed=True)

    assert master.outputs == []


@pytest.mark.parametrize("method", [IcingaHosts.downtimed, IcingaHosts.services_downtimed])
def test_downtime_is_kept_on_error_by_default(method):
    assert inspect.signature(method).parameters["remove_on_error"].default is False


def test_type_hosts_is_exported():
    from spicerack import icinga, typing

    assert icinga.TypeHosts is typing.TypeHosts


def test_command_string_is_an_echo_whose_reason_the_shell_expands(tmp_path):
    icinga, _ = icinga_hosts(["host1"])
    icinga._command_file = str(tmp_path / "icinga.cmd")
    text = "it's $REASON_VAR; and more"
    subprocess.run(
        icinga._command_string("ADD_HOST_COMMENT", "host1", text), shell=True, check=True, env={"REASON_VAR": "X"}
    )
    written = (tmp_path / "icinga.cmd").read_text()
    assert written.endswith("] ADD_HOST_COMMENT;host1;it's X; and more")
    assert written.startswith("[")


def test_a_multi_line_reason_writes_one_external_command(tmp_path):
    icinga, _ = icinga_hosts(["host1"])
    icinga._command_file = str(tmp_path / "icinga.cmd")
    reason = Reason("first\n[1700000000] DISABLE_NOTIFICATIONS\r\nlast", "user", "cumin1001")
    command = icinga._command_string("SCHEDULE_HOST_DOWNTIME", "host1", *_downtime_args(reason, 120))
    subprocess.run(command, shell=True, check=True)
    written = (tmp_path / "icinga.cmd").read_text()
    assert "\n" not in written and "\r" not in written  # Icinga reads one command per line
    assert written.endswith(";user@cumin1001;first [1700000000] DISABLE_NOTIFICATIONS  last")


def test_load_icinga_config(tmp_path):
    assert load_icinga_config(tmp_path).master_host == ""
    config = tmp_path / "icinga" / "config.yaml"
    config.parent.mkdir()
    config.write_text("master_host: alert1001.example.org\nstatus_command: /opt/icinga-status\n")
    loaded = load_icinga_config(tmp_path)
    assert (loaded.master_host, loaded.config_file, loaded.status_command) == (
        "alert1001.example.org",
        ICINGA_CONFIG_FILE,
        "/opt/icinga-status",
    )
    for content, message in (
        ("master_hots: typo\n", r"Unknown keys \['master_hots'\]"),
        ("config_file: ''\n", "config_file .* must be a non-empty string"),
        ("- list\n", "must be a YAML mapping"),
        ("key: [unclosed\n", "is not valid YAML at line 2"),
    ):
        config.write_text(content)
        with pytest.raises(IcingaError, match=message):
            load_icinga_config(tmp_path)
