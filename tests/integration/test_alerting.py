"""Integration tests of spicerack.alerting: one downtime on a real Alertmanager and on the fleet's fake Icinga."""

import re
import shutil
import uuid
from datetime import timedelta

import pytest

from spicerack import Spicerack
from spicerack.administrative import ReasonError
from spicerack.alerting import AlertingError, AlertingHosts
from spicerack.alertmanager import AlertmanagerError
from spicerack.icinga import IcingaError

TARGETS = ["test-host10.example.org", "test-host11.example.org"]


def make_spicerack(ssh_fleet, alertmanager_server, icinga_env, config_dir, *, dry_run=False):
    shutil.copytree(alertmanager_server.config_dir, config_dir, dirs_exist_ok=True)
    icinga_env.write_spicerack_config(config_dir)
    return Spicerack(cumin_config=str(ssh_fleet.cumin_config), spicerack_config_dir=str(config_dir), dry_run=dry_run)


@pytest.fixture
def spicerack(ssh_fleet, alertmanager_server, icinga_env, tmp_path):
    return make_spicerack(ssh_fleet, alertmanager_server, icinga_env, tmp_path)


@pytest.fixture
def reason(spicerack):
    return spicerack.admin_reason(f"alerting {uuid.uuid4()}")


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr("spicerack.alertmanager.HTTP_BACKOFF", 0.0)


def test_downtimed_silences_both_systems_and_removes_both(spicerack, alertmanager_server, icinga_env, reason):
    alerting = spicerack.alerting_hosts(TARGETS)
    assert isinstance(alerting, AlertingHosts)
    with alerting.downtimed(reason, duration=timedelta(minutes=20)):
        (silence,) = alertmanager_server.active_silences(reason.reason)
        instance_regex = silence["matchers"][0]["value"]
        assert re.match(instance_regex, "test-host10.example.org:9100")
        assert re.match(instance_regex, "test-host11")
        assert not re.match(instance_regex, "test-host09")
        for host in ("test-host10", "test-host11"):
            (downtime,) = icinga_env.host_downtimes(host)
            assert downtime["comment"] == reason.reason
            assert downtime["duration"] == 1200
    assert alertmanager_server.active_silences(reason.reason) == []
    assert icinga_env.host_downtimes("test-host10") == []
    assert icinga_env.host_downtimes("test-host11") == []


def test_downtimed_keeps_both_when_the_body_raises_unless_asked(spicerack, alertmanager_server, icinga_env, reason):
    alerting = spicerack.alerting_hosts(TARGETS)
    with pytest.raises(RuntimeError, match="broken"), alerting.downtimed(reason):
        raise RuntimeError("broken")
    (silence,) = alertmanager_server.active_silences(reason.reason)
    assert len(icinga_env.host_downtimes("test-host10")) == 1
    alerting.remove_downtime(silence["id"])
    assert alertmanager_server.active_silences(reason.reason) == []
    assert icinga_env.host_downtimes("test-host10") == []

    with pytest.raises(RuntimeError, match="broken"), alerting.downtimed(reason, remove_on_error=True):
        raise RuntimeError("broken")
    assert alertmanager_server.active_silences(reason.reason) == []
    assert icinga_env.host_downtimes("test-host10") == []
    assert icinga_env.host_downtimes("test-host10") == []


def test_an_alertmanager_failure_leaves_no_icinga_downtime(spicerack, icinga_env, reason, fast_retries):
    alerting = AlertingHosts(
        spicerack.alertmanager_hosts(TARGETS, instance_name="unreachable"), spicerack.icinga_hosts(TARGETS)
    )
    with pytest.raises(AlertmanagerError, match="Unable to POST to any Alertmanager"):
        alerting.downtime(reason)
    assert icinga_env.host_downtimes("test-host10") == []
    assert icinga_env.commands()[-1] == "DEL_DOWNTIME_BY_HOST_NAME;test-host11"


def test_an_icinga_failure_creates_no_silence(spicerack, alertmanager_server, icinga_env, reason):
    alerting = spicerack.alerting_hosts(["test-host10", "test-host08"])  # test-host08 is unknown to Icinga
    with pytest.raises(IcingaError, match="no hosts have been downtimed"):
        alerting.downtime(reason)
    assert alertmanager_server.silences(reason.reason) == []
    assert icinga_env.commands() == []


def test_bad_input(spicerack, alertmanager_server, icinga_env, reason):
    alerting = spicerack.alerting_hosts(TARGETS)
    with pytest.raises(IcingaError, match="at least 1 minute"):
        alerting.downtime(reason, duration=timedelta(0))
    with pytest.raises(AlertmanagerError, match="empty target hosts"):
        spicerack.alerting_hosts([])
    with pytest.raises(ReasonError, match="cannot contain double quotes"):
        spicerack.admin_reason('say "no"')
    assert alertmanager_server.silences(reason.reason) == []
    assert icinga_env.commands() == []


def test_remove_downtime_tries_both_and_reports_the_failure(spicerack, icinga_env, reason):
    alerting = spicerack.alerting_hosts(TARGETS)
    alerting.downtime(reason)
    with pytest.raises(AlertmanagerError):
        alerting.remove_downtime("not-a-silence-id")
    assert icinga_env.host_downtimes("test-host10") == []  # Icinga's part was removed anyway


def test_both_failing_removals_are_reported_together(spicerack, icinga_env, reason, fast_retries):
    broken_icinga = spicerack.icinga_hosts(TARGETS)
    broken_icinga._command_file = "/nonexistent/dir/icinga.cmd"
    alerting = AlertingHosts(spicerack.alertmanager_hosts(TARGETS, instance_name="unreachable"), broken_icinga)
    with pytest.raises(AlertingError, match=r"Unable to remove the downtime: Cumin execution failed.*; .*Alertmanager"):
        alerting.remove_downtime("1234")


def test_dry_run_creates_nothing(ssh_fleet, alertmanager_server, icinga_env, tmp_path, reason):
    spicerack = make_spicerack(ssh_fleet, alertmanager_server, icinga_env, tmp_path, dry_run=True)
    with spicerack.alerting_hosts(TARGETS).downtimed(reason):
        assert alertmanager_server.silences(reason.reason) == []
        assert icinga_env.host_downtimes("test-host10") == []
    assert icinga_env.commands() == []
