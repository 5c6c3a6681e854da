"""Unit tests of spicerack.icinga: status parsing, configuration, command strings, validation before any command."""

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
    HostStatus,
    IcingaError,
    IcingaHosts,
    IcingaStatusNotFoundError,
    IcingaStatusParseError,
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


def icinga_hosts(targets=("host1.example.org", "host2.example.org"), outputs=(), **kwargs):
    """An IcingaHosts on a stub master whose first answer is the command_file directive (a unique path per test)."""
    unique = next(_UNIQUE)
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


def test_unacked_failed_services():
    fields = host_status("h", failed=["a", "b"], acked=["a"])
    del fields["extra_key_from_a_newer_script"]
    status = HostStatus(**fields)
    assert status.failed_services == ["a", "b"]
    assert status.unacked_failed_services == ["b"]


def test_target_hosts_are_short_names_unless_verbatim():
    icinga, _ = icinga_hosts(["host1.eqiad.wmnet", "host2.codfw.wmnet"])
    assert icinga.target_hosts == NodeSet("host[1-2]")
    icinga, _ = icinga_hosts(["host1.eqiad.wmnet"], verbatim_hosts=True)
    assert icinga.target_hosts == NodeSet("host1.eqiad.wmnet")


@pytest.mark.parametrize(("targets", "message"), [([], "empty target hosts"), ("host1", "got the string")])
def test_bad_targets(targets, message):
    with pytest.raises(IcingaError, match=message):
        IcingaHosts(StubRemoteHosts("icinga1"), targets)


def test_command_file_needs_a_single_host_and_a_directive():
    with pytest.raises(IcingaError, match="must match a single host"):
        CommandFile(StubRemoteHosts("icinga[1-2]"))
    with pytest.raises(IcingaError, match="Empty or no value found"):
        CommandFile(StubRemoteHosts("icinga-none", [None]), config_file="/etc/none.cfg")
    failure = RemoteExecutionError(1, "grep failed")
    with pytest.raises(IcingaError, match=r"Unable to read command_file configuration in /etc/x\.cfg"):
        CommandFile(StubRemoteHosts("icinga-fail", [failure]), config_file="/etc/x.cfg")


def test_command_file_is_cached_per_host_and_file():
    master = StubRemoteHosts("icinga-cache", ["command_file=/a.cmd", "command_file=/b.cmd"])
    assert CommandFile(master) == "/a.cmd"
    assert CommandFile(master) == "/a.cmd"
    assert CommandFile(master, config_file="/other.cfg") == "/b.cmd"
    assert master.commands[0] == f"grep -P '^\\s*command_file\\s*=.+' {ICINGA_CONFIG_FILE}"


@pytest.mark.parametrize("duration", [timedelta(seconds=59), timedelta(0), timedelta(minutes=-1)])
def test_too_short_downtime_sends_nothing(duration):
    icinga, master = icinga_hosts(dry_run=False)
    with pytest.raises(IcingaError, match="at least 1 minute"):
        icinga.downtime(REASON, duration=duration)
    with pytest.raises(IcingaError, match="at least 1 minute"):
        icinga.downtime_services("ssh", REASON, duration=duration)
    assert len(master.calls) == 1  # Only the command file lookup


def test_failed_downtime_is_cleaned_up():
    ok = json.dumps({"host1": host_status("host1")})
    icinga, master = icinga_hosts(["host1"], outputs=[ok, RemoteExecutionError(2, "write failed"), None], dry_run=False)
    with pytest.raises(IcingaError, match="Unable to downtime hosts host1"):
        icinga.downtime(REASON)
    assert "DEL_DOWNTIME_BY_HOST_NAME;host1" in master.commands[-1]


def test_dry_run_sends_no_command():
    ok = json.dumps({"host1": host_status("host1")})
    icinga, master = icinga_hosts(["host1"], outputs=[ok])
    icinga.downtime(REASON)
    icinga.remove_downtime()
    icinga.recheck_all_services()
    assert len(master.calls) == 2  # command file and status: both read-only


def test_command_string_survives_the_shell(tmp_path):
    icinga, _ = icinga_hosts(["host1"])
    icinga._command_file = str(tmp_path / "icinga cmd")
    text = 'it\'s $HOME `id` "quoted"; and more \\ stuff'
    subprocess.run(icinga._command_string("ADD_HOST_COMMENT", "host1", text), shell=True, check=True)
    written = (tmp_path / "icinga cmd").read_text()
    assert written.endswith(f"] ADD_HOST_COMMENT;host1;{text}\n")
    assert written.startswith("[")


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


def test_failed_service_downtime_is_cleaned_up():
    status = host_status("host1")
    status["services"] = [{"name": "ssh", "status": {"scheduled_downtime_depth": 0}}]
    outputs = [json.dumps({"host1": status}), RemoteExecutionError(2, "write failed"), None]
    icinga, master = icinga_hosts(["host1"], outputs=outputs, dry_run=False)
    with pytest.raises(IcingaError, match="Unable to send the commands"):
        icinga.downtime_services("ssh", REASON)
    assert "DEL_DOWNTIME_BY_HOST_NAME;host1;ssh" in master.commands[-1]
