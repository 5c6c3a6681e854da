"""Integration tests of spicerack.icinga: commands travel over SSH to a fleet host whose fake Icinga applies them."""

import time
from datetime import timedelta

import pytest
from cumin import NodeSet

from spicerack import Spicerack
from spicerack.administrative import Reason
from spicerack.icinga import (
    CommandFile,
    HostsStatus,
    IcingaError,
    IcingaHosts,
    IcingaStatusNotFoundError,
)
from spicerack.remote import Remote
from tests.integration.fleet_tools import ICINGA_MASTER

HOST = "test-host09"
TARGETS = ["test-host09.example.org", "test-host10.example.org"]
REASON = Reason("kernel upgrade", "tester", "cumin1001", task_id="T12345")


def icinga_hosts(ssh_fleet, icinga, targets=TARGETS, *, dry_run=False, **kwargs):
    remote = Remote(str(ssh_fleet.cumin_config), dry_run=dry_run)
    return IcingaHosts(
        remote.query(ICINGA_MASTER),
        targets,
        dry_run=dry_run,
        config_file=str(icinga.config_file),
        status_command=str(icinga.status_command),
        **kwargs,
    )


@pytest.fixture
def icinga(ssh_fleet, icinga_env):
    return icinga_hosts(ssh_fleet, icinga_env)


def test_command_file_is_read_from_the_icinga_configuration(ssh_fleet, icinga_env):
    remote = Remote(str(ssh_fleet.cumin_config), dry_run=True)
    command_file = CommandFile(remote.query(ICINGA_MASTER), config_file=str(icinga_env.config_file))
    assert command_file == str(icinga_env.command_file)


def test_command_file_errors(ssh_fleet, icinga_env, tmp_path):
    remote = Remote(str(ssh_fleet.cumin_config), dry_run=False)
    with pytest.raises(IcingaError, match="must match a single host"):
        CommandFile(remote.query("test-host[11-12]"), config_file=str(icinga_env.config_file))
    no_directive = tmp_path / "icinga.cfg"
    no_directive.write_text("log_file=/dev/null\n")
    with pytest.raises(IcingaError, match="Unable to read command_file configuration"):
        CommandFile(remote.query(ICINGA_MASTER), config_file=str(no_directive))


def test_get_status_reports_the_hosts(icinga, icinga_env):
    icinga_env.set_service("test-host10", "disk", 2)
    status = icinga.get_status()
    assert isinstance(status, HostsStatus)
    assert sorted(status) == ["test-host09", "test-host10"]
    assert status["test-host09"].optimal
    assert not status.optimal
    assert status.non_optimal_hosts == ["test-host10"]
    assert status.failed_services == {"test-host10": ["disk"]}
    assert status.failed_hosts == []
    assert not status["test-host09"].downtimed


def test_get_status_with_services_regex(icinga, icinga_env):
    status = icinga.get_status("^ss")
    assert [service["name"] for service in status["test-host09"].services] == ["ssh"]
    with pytest.raises(Exception, match=r"unterminated|missing"):
        icinga.get_status("(")


def test_unknown_host_is_reported(ssh_fleet, icinga_env):
    icinga = icinga_hosts(ssh_fleet, icinga_env, ["test-host09", "test-host08"])
    with pytest.raises(IcingaStatusNotFoundError, match="Host test-host08 was not found in Icinga status"):
        icinga.get_status()


def test_downtime_and_remove(icinga, icinga_env):
    before = int(time.time())
    icinga.downtime(REASON, duration=timedelta(minutes=30))
    for host in ("test-host09", "test-host10"):
        (downtime,) = icinga_env.host_downtimes(host)
        assert downtime["author"] == "tester@cumin1001"
        assert downtime["comment"] == "kernel upgrade"
        assert downtime["duration"] == 1800
        assert before <= downtime["start"] <= downtime["end"] - 1800
        assert len(icinga_env.service_downtimes(host, "ssh")) == 1
    assert icinga_env.host_downtimes("test-host11") == []
    assert all(status.downtimed for status in icinga.get_status().values())

    icinga.remove_downtime()
    assert icinga_env.host_downtimes("test-host09") == []
    assert icinga_env.service_downtimes("test-host10", "disk") == []
    assert icinga_env.commands()[-2:] == [
        "DEL_DOWNTIME_BY_HOST_NAME;test-host09",
        "DEL_DOWNTIME_BY_HOST_NAME;test-host10",
    ]


def test_reason_is_expanded_by_the_masters_shell_as_in_the_reference(icinga, icinga_env):
    # The reason goes in double quotes: single quotes and ';' travel as they are, variables are expanded.
    reason = Reason("cost ${NO_SUCH_VAR:-nothing} 'quoted' & more; really", "tester", "cumin1001")
    icinga.downtime(reason, duration=timedelta(minutes=5))
    assert icinga_env.host_downtimes("test-host09")[0]["comment"] == "cost nothing 'quoted' & more; really"
    assert icinga_env.commands()[0].endswith(";cost nothing 'quoted' & more; really")


def test_downtimed_removes_the_downtime_at_the_end(icinga, icinga_env):
    with icinga.downtimed(REASON, duration=timedelta(minutes=10)):
        assert len(icinga_env.host_downtimes(HOST)) == 1
    assert icinga_env.host_downtimes(HOST) == []


def test_downtimed_keeps_the_downtime_when_the_body_raises_unless_asked(icinga, icinga_env):
    with pytest.raises(RuntimeError, match="broken"), icinga.downtimed(REASON, duration=timedelta(minutes=10)):
        raise RuntimeError("broken")
    assert len(icinga_env.host_downtimes(HOST)) == 1

    icinga.remove_downtime()
    with (
        pytest.raises(RuntimeError, match="broken"),
        icinga.downtimed(REASON, duration=timedelta(minutes=10), remove_on_error=True),
    ):
        raise RuntimeError("broken")
    assert icinga_env.host_downtimes(HOST) == []


def test_bad_input_sets_no_downtime(ssh_fleet, icinga, icinga_env):
    with pytest.raises(IcingaError, match="at least 1 minute, got: 0:00:59"):
        icinga.downtime(REASON, duration=timedelta(seconds=59))
    with pytest.raises(IcingaError, match="at least 1 minute"):
        icinga.downtime(REASON, duration=timedelta(minutes=-5))
    with pytest.raises(IcingaError, match="empty target hosts"):
        icinga_hosts(ssh_fleet, icinga_env, [])
    with pytest.raises(IcingaError, match="got the string"):
        icinga_hosts(ssh_fleet, icinga_env, "test-host09")

    partly_unknown = icinga_hosts(ssh_fleet, icinga_env, ["test-host09", "test-host08"])
    with pytest.raises(IcingaError, match="test-host08 was not found in Icinga status - no hosts have been downtimed"):
        partly_unknown.downtime(REASON)
    assert icinga_env.commands() == []
    assert icinga_env.host_downtimes(HOST) == []


def test_verbatim_hosts_keeps_the_names(ssh_fleet, icinga_env):
    icinga = icinga_hosts(ssh_fleet, icinga_env, NodeSet("test-host[09-10]"), verbatim_hosts=True)
    assert sorted(icinga.get_status()) == ["test-host09", "test-host10"]
    fqdn = icinga_hosts(ssh_fleet, icinga_env, ["test-host09.example.org"], verbatim_hosts=True)
    with pytest.raises(IcingaStatusNotFoundError, match=r"test-host09\.example\.org"):
        fqdn.get_status()


def test_services_downtime_and_removal(icinga, icinga_env):
    icinga_env.set_service("test-host10", "mysql", 0)
    with icinga.services_downtimed("^(disk|mysql)$", REASON, duration=timedelta(minutes=10)):
        assert len(icinga_env.service_downtimes("test-host09", "disk")) == 1
        assert len(icinga_env.service_downtimes("test-host10", "mysql")) == 1
        assert icinga_env.service_downtimes("test-host09", "ssh") == []
        assert icinga_env.host_downtimes("test-host09") == []
    assert icinga_env.service_downtimes("test-host09", "disk") == []
    assert icinga_env.service_downtimes("test-host10", "mysql") == []

    with pytest.raises(IcingaError, match='No services on test-host\\[09-10\\] matched "nothing"'):
        icinga.downtime_services("nothing", REASON)
    with pytest.raises(IcingaError, match="No services"):
        icinga.remove_service_downtimes("nothing")
    icinga.remove_service_downtimes("ssh")  # Not downtimed: nothing to do
    assert not any(command.startswith("DEL_") and "ssh" in command for command in icinga_env.commands())


def test_recheck_and_wait_for_optimal(icinga, icinga_env):
    icinga_env.set_service("test-host09", "disk", 2, recovers_on_check=True)
    icinga.wait_for_optimal()
    commands = icinga_env.commands()
    # The hosts are rechecked first (all of them, as the reference), then the failed service
    assert [command.split(";")[:2] for command in commands[:3]] == [
        ["SCHEDULE_FORCED_HOST_CHECK", "test-host09"],
        ["SCHEDULE_FORCED_HOST_CHECK", "test-host10"],
        ["SCHEDULE_FORCED_SVC_CHECK", "test-host09"],
    ]
    assert commands[2].startswith("SCHEDULE_FORCED_SVC_CHECK;test-host09;disk;")
    assert icinga.get_status().optimal

    icinga.recheck_all_services()
    assert icinga_env.status()["hosts"]["test-host10"]["services"]["ssh"]["forced_checks"] == 1


def test_wait_for_optimal_skip_acked(ssh_fleet, icinga_env, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # the 15 tries happen also in DRY-RUN, as the reference
    icinga_env.set_service("test-host10", "disk", 2, acked=True)
    # A DRY-RUN client sends no recheck: the status is read for real.
    dry_run = icinga_hosts(ssh_fleet, icinga_env, dry_run=True)
    with pytest.raises(IcingaError, match="Not all services are recovered: test-host10:disk"):
        dry_run.wait_for_optimal()
    dry_run.wait_for_optimal(skip_acked=True)
    icinga_env.set_host_state("test-host09", 1)
    # A host down without failed services is listed with none, and skipped when skipping services
    with pytest.raises(IcingaError, match="Not all services are recovered: test-host09: test-host10:disk"):
        dry_run.wait_for_optimal()
    dry_run.wait_for_optimal(skip_acked=True)
    assert icinga_env.commands() == []


def test_dry_run_sends_nothing_but_reads(ssh_fleet, icinga_env):
    icinga = icinga_hosts(ssh_fleet, icinga_env, dry_run=True)
    with icinga.downtimed(REASON):
        pass
    icinga.downtime(REASON)
    icinga.recheck_all_services()
    icinga.run_icinga_command("SCHEDULE_FORCED_HOST_CHECK", "0")
    assert icinga_env.commands() == []
    assert icinga_env.host_downtimes(HOST) == []
    assert sorted(icinga.get_status()) == ["test-host09", "test-host10"]


def test_spicerack_accessor_uses_the_configured_master(ssh_fleet, icinga_env, tmp_path):
    icinga_env.write_spicerack_config(tmp_path)
    spicerack = Spicerack(cumin_config=str(ssh_fleet.cumin_config), spicerack_config_dir=str(tmp_path), dry_run=False)
    assert str(spicerack.icinga_master_host()) == ICINGA_MASTER
    icinga = spicerack.icinga_hosts(["test-host11.example.org"])
    icinga.downtime(spicerack.admin_reason("accessor"), duration=timedelta(minutes=2))
    assert icinga_env.host_downtimes("test-host11")[0]["comment"] == "accessor"
