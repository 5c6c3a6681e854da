"""Silences on a real Alertmanager, created and removed through the Spicerack accessors and read back via its API."""

import logging
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from spicerack import Spicerack
from spicerack.administrative import Reason
from spicerack.alertmanager import Alertmanager, AlertmanagerError, AlertmanagerHosts, MatchersType
from tests.integration.servers.alertmanager import AlertmanagerServer
from tests.integration.servers.http import HTTPTestServer

pytestmark = pytest.mark.integration


@pytest.fixture
def spicerack(alertmanager_server: AlertmanagerServer) -> Spicerack:
    return Spicerack(dry_run=False, spicerack_config_dir=str(alertmanager_server.config_dir))


@pytest.fixture
def dry_run_spicerack(alertmanager_server: AlertmanagerServer) -> Spicerack:
    return Spicerack(dry_run=True, spicerack_config_dir=str(alertmanager_server.config_dir))


@pytest.fixture
def reason(spicerack: Spicerack) -> Reason:
    """A reason whose text is unique to the test, to find its silences among the session's."""
    return spicerack.admin_reason(f"test {uuid.uuid4()}", task_id="T12345")


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """No backoff between connection retries, to keep the unreachable cases quick."""
    monkeypatch.setattr("spicerack.alertmanager.HTTP_BACKOFF", 0.0)


def _duration(silence: dict[str, str]) -> timedelta:
    return datetime.fromisoformat(silence["endsAt"]) - datetime.fromisoformat(silence["startsAt"])


def test_accessors_build_clients_from_the_config(spicerack: Spicerack) -> None:
    assert type(spicerack.alertmanager()) is Alertmanager
    assert isinstance(spicerack.alertmanager_hosts(["host1001.example.org"]), AlertmanagerHosts)


def test_hosts_downtime_creates_a_silence_on_the_instance_label(
    spicerack: Spicerack, alertmanager_server: AlertmanagerServer, reason: Reason
) -> None:
    hosts = spicerack.alertmanager_hosts(["am-host1001.eqiad.example.org", "am-host1002.eqiad.example.org"])

    silence_id = hosts.downtime(reason, duration=timedelta(minutes=30))

    silence = alertmanager_server.silence(silence_id)
    assert silence["status"]["state"] == "active"
    assert silence["comment"] == str(reason)
    assert silence["createdBy"] == reason.owner
    assert silence["matchers"] == [
        {
            "name": "instance",
            "value": r"^(am\-host1001|am\-host1002)(\..+)?(:[0-9]+)?$",
            "isRegex": True,
            "isEqual": True,
        }
    ]
    assert timedelta(minutes=29) < _duration(silence) <= timedelta(minutes=30)
    hosts.remove_downtime(silence_id)


def test_hosts_downtime_mutes_the_alerts_of_those_hosts_only(
    spicerack: Spicerack, alertmanager_server: AlertmanagerServer, reason: Reason
) -> None:
    muted = {"alertname": "DiskFull", "instance": "am-host2001.codfw.example.org:9100"}
    muted_no_port = {"alertname": "DiskFull", "instance": "am-host2002"}
    other = {"alertname": "DiskFull", "instance": "am-host20011.codfw.example.org:9100"}
    for labels in (muted, muted_no_port, other):
        alertmanager_server.fire_alert(labels)

    hosts = spicerack.alertmanager_hosts(["am-host2001.codfw.example.org", "am-host2002.codfw.example.org"])
    with hosts.downtimed(reason):
        (silence,) = alertmanager_server.active_silences(reason.reason)
        assert alertmanager_server.silenced_by(muted) == [silence["id"]]
        assert alertmanager_server.silenced_by(muted_no_port) == [silence["id"]]
        assert alertmanager_server.silenced_by(other) == []

    assert alertmanager_server.active_silences(reason.reason) == []
    assert alertmanager_server.silenced_by(muted) == []


def test_hosts_with_port_mute_that_port_only(
    spicerack: Spicerack, alertmanager_server: AlertmanagerServer, reason: Reason
) -> None:
    exporter = {"alertname": "ExporterDown", "instance": "am-host3001:9100"}
    other_port = {"alertname": "ExporterDown", "instance": "am-host3001:9200"}
    for labels in (exporter, other_port):
        alertmanager_server.fire_alert(labels)

    hosts = spicerack.alertmanager_hosts(["am-host3001:9100"], verbatim_hosts=True)
    silence_id = hosts.downtime(reason)

    assert alertmanager_server.silenced_by(exporter) == [silence_id]
    assert alertmanager_server.silenced_by(other_port) == []
    hosts.remove_downtime(silence_id)


def test_extra_matchers_are_anded_with_the_hosts(
    spicerack: Spicerack, alertmanager_server: AlertmanagerServer, reason: Reason
) -> None:
    disk = {"alertname": "DiskFull", "instance": "am-host4001:9100"}
    load = {"alertname": "HighLoad", "instance": "am-host4001:9100"}
    for labels in (disk, load):
        alertmanager_server.fire_alert(labels)

    hosts = spicerack.alertmanager_hosts(["am-host4001"])
    silence_id = hosts.downtime(reason, matchers=[{"name": "alertname", "value": "DiskFull", "isRegex": False}])

    assert alertmanager_server.silenced_by(disk) == [silence_id]
    assert alertmanager_server.silenced_by(load) == []
    hosts.remove_downtime(silence_id)


def test_alertmanager_downtime_with_matchers_and_removal(
    spicerack: Spicerack, alertmanager_server: AlertmanagerServer, reason: Reason
) -> None:
    alertmanager = spicerack.alertmanager()
    matchers: MatchersType = [
        {"name": "service", "value": "swift-.*", "isRegex": True},
        {"name": "site", "value": "eqiad", "isRegex": False},
    ]

    silence_id = alertmanager.downtime(reason, matchers=matchers, duration=timedelta(hours=2))

    silence = alertmanager_server.silence(silence_id)
    assert [(m["name"], m["value"], m["isRegex"]) for m in silence["matchers"]] == [
        ("service", "swift-.*", True),
        ("site", "eqiad", False),
    ]
    assert silence["status"]["state"] == "active"

    alertmanager.remove_downtime(silence_id)
    assert alertmanager_server.silence(silence_id)["status"]["state"] == "expired"


def test_remove_downtime_twice_is_harmless(
    spicerack: Spicerack, alertmanager_server: AlertmanagerServer, reason: Reason
) -> None:
    hosts = spicerack.alertmanager_hosts(["am-host5001"])
    silence_id = hosts.downtime(reason)
    hosts.remove_downtime(silence_id)

    hosts.remove_downtime(silence_id)

    assert alertmanager_server.silence(silence_id)["status"]["state"] == "expired"


def test_downtimed_keeps_the_silence_when_the_body_raises_if_asked(
    spicerack: Spicerack, alertmanager_server: AlertmanagerServer, reason: Reason
) -> None:
    hosts = spicerack.alertmanager_hosts(["am-host6001"])

    with pytest.raises(RuntimeError, match="maintenance failed"), hosts.downtimed(reason, remove_on_error=False):
        raise RuntimeError("maintenance failed")

    (silence,) = alertmanager_server.active_silences(reason.reason)
    hosts.remove_downtime(silence["id"])


def test_downtimed_keeps_the_silence_when_the_body_raises_unless_asked(
    spicerack: Spicerack, alertmanager_server: AlertmanagerServer, reason: Reason
) -> None:
    kept = spicerack.alertmanager_hosts(["am-host6002"])
    with pytest.raises(RuntimeError, match="maintenance failed"), kept.downtimed(reason):
        raise RuntimeError("maintenance failed")
    (silence,) = alertmanager_server.silences(reason.reason)
    assert silence["status"]["state"] == "active"
    second_reason = Reason(f"{reason.reason} removed", "tester", "cumin1001")

    removed = spicerack.alertmanager_hosts(["am-host6003"])
    with (
        pytest.raises(RuntimeError, match="maintenance failed"),
        removed.downtimed(second_reason, remove_on_error=True),
    ):
        assert len(alertmanager_server.active_silences(second_reason.reason)) == 1
        raise RuntimeError("maintenance failed")
    (silence,) = alertmanager_server.silences(second_reason.reason)
    assert silence["status"]["state"] == "expired"


def test_dry_run_creates_and_removes_nothing(
    dry_run_spicerack: Spicerack, alertmanager_server: AlertmanagerServer, caplog: pytest.LogCaptureFixture
) -> None:
    reason = dry_run_spicerack.admin_reason(f"dry-run {uuid.uuid4()}")
    hosts = dry_run_spicerack.alertmanager_hosts(["am-host7001"])
    caplog.set_level(logging.DEBUG, logger="spicerack.alertmanager")

    with hosts.downtimed(reason, duration=timedelta(minutes=5)):
        assert alertmanager_server.silences(reason.reason) == []
    assert hosts.downtime(reason) == ""

    assert alertmanager_server.silences(reason.reason) == []
    assert "Would have created a silence" in caplog.text
    assert f"Would have called POST {alertmanager_server.url}/api/v2/silences" in caplog.text
    assert "Would have deleted silence ID" in caplog.text


def test_dry_run_does_not_remove_a_real_silence(
    spicerack: Spicerack, dry_run_spicerack: Spicerack, alertmanager_server: AlertmanagerServer, reason: Reason
) -> None:
    silence_id = spicerack.alertmanager_hosts(["am-host7002"]).downtime(reason)

    dry_run_spicerack.alertmanager_hosts(["am-host7002"]).remove_downtime(silence_id)

    assert alertmanager_server.silence(silence_id)["status"]["state"] == "active"
    spicerack.alertmanager().remove_downtime(silence_id)


@pytest.mark.parametrize(
    ("target_hosts", "matchers", "duration", "message"),
    [
        ([], (), timedelta(hours=1), "Got empty target hosts list"),
        (["am-host8001"], (), timedelta(0), "duration must be positive"),
        (["am-host8001"], (), timedelta(minutes=-5), "duration must be positive"),
        (["am-host8001"], [{"name": "instance", "value": "x", "isRegex": False}], timedelta(hours=1), "instance"),
        (["am-host8001"], [{"name": "alertname", "value": "x"}], timedelta(hours=1), "isRegex"),
        (["am-host8001"], [{"name": "job", "value": "(", "isRegex": True}], timedelta(hours=1), "regular expression"),
    ],
)
def test_invalid_downtimes_are_refused_and_leave_no_silence(
    spicerack: Spicerack,
    alertmanager_server: AlertmanagerServer,
    reason: Reason,
    target_hosts: list[str],
    matchers: MatchersType,
    duration: timedelta,
    message: str,
) -> None:
    with pytest.raises(AlertmanagerError, match=message) as error:
        spicerack.alertmanager_hosts(target_hosts).downtime(reason, matchers=matchers, duration=duration)

    assert "\n" not in str(error.value)
    assert alertmanager_server.silences(reason.reason) == []


def test_alertmanager_refusing_a_silence_is_a_clear_error(
    spicerack: Spicerack, alertmanager_server: AlertmanagerServer, reason: Reason
) -> None:
    matches_everything: MatchersType = [{"name": "alertname", "value": ".*", "isRegex": True}]

    with pytest.raises(AlertmanagerError, match=r"HTTP 400.*must not match the empty string") as error:
        spicerack.alertmanager().downtime(reason, matchers=matches_everything)

    assert "\n" not in str(error.value)
    assert error.value.response is not None
    assert error.value.response.status_code == 400
    assert alertmanager_server.silences(reason.reason) == []


def test_removing_an_unknown_silence_is_a_clear_error(spicerack: Spicerack) -> None:
    with pytest.raises(AlertmanagerError, match=r"Unable to DELETE to any Alertmanager.*silence not found") as error:
        spicerack.alertmanager().remove_downtime(str(uuid.uuid4()))

    assert "\n" not in str(error.value)


@pytest.mark.usefixtures("fast_retries")
def test_unreachable_alertmanager_is_a_clear_error(spicerack: Spicerack, reason: Reason) -> None:
    hosts = spicerack.alertmanager_hosts(["am-host9001"], instance_name="unreachable")

    with (
        pytest.raises(AlertmanagerError, match="Unable to POST to any Alertmanager") as error,
        hosts.downtimed(reason),
    ):
        pytest.fail("The body must not run without a silence")

    assert "\n" not in str(error.value)
    assert "Connection refused" in str(error.value)


@pytest.mark.usefixtures("fast_retries")
def test_the_next_cluster_member_is_used_when_one_is_down(
    spicerack: Spicerack, alertmanager_server: AlertmanagerServer, reason: Reason
) -> None:
    hosts = spicerack.alertmanager_hosts(["am-host9002"], instance_name="fallback")

    with hosts.downtimed(reason):
        assert len(alertmanager_server.active_silences(reason.reason)) == 1

    assert alertmanager_server.active_silences(reason.reason) == []


@pytest.mark.parametrize(
    ("instance_name", "message"),
    [
        ("missing", "No such alertmanager instance 'missing'"),
        ("no-urls", "At least one alertmanager URL is required"),
    ],
)
def test_bad_instances_are_clear_errors(tmp_path: Path, instance_name: str, message: str) -> None:
    (tmp_path / "alertmanager").mkdir()
    config = {
        "default_instance": "local",
        "instances": {"local": {"urls": ["http://127.0.0.1:9"]}, "no-urls": {"urls": []}},
    }
    (tmp_path / "alertmanager" / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    spicerack = Spicerack(dry_run=False, spicerack_config_dir=str(tmp_path))

    with pytest.raises(AlertmanagerError, match=message):
        spicerack.alertmanager(instance_name)


def test_proxy_and_basic_authentication_from_the_config(tmp_path: Path, http_server: HTTPTestServer) -> None:
    (tmp_path / "alertmanager").mkdir()
    config = {
        "default_instance": "cloud",
        "instances": {
            "cloud": {
                "urls": ["http://alertmanager.example.invalid"],
                "http_use_proxy": True,
                "http_username": "spicerack",
                "http_password": "secret",
            }
        },
    }
    (tmp_path / "alertmanager" / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    silences_url = "http://alertmanager.example.invalid/api/v2/silences"
    http_server.script(silences_url, 200, body={"silenceID": "4b1f2c1e-0000-4000-8000-000000000001"})
    spicerack = Spicerack(dry_run=False, spicerack_config_dir=str(tmp_path), http_proxy=http_server.url)

    silence_id = spicerack.alertmanager_hosts(["cloudvirt1001.eqiad.wmnet"]).downtime(spicerack.admin_reason("upgrade"))

    assert silence_id == "4b1f2c1e-0000-4000-8000-000000000001"
    (request,) = http_server.requests_to(silences_url)
    assert request.method == "POST"
    assert request.headers["Authorization"] == "Basic c3BpY2VyYWNrOnNlY3JldA=="
    assert request.json()["matchers"][0]["value"] == r"^(cloudvirt1001)(\..+)?(:[0-9]+)?$"
    assert "spicerack.alertmanager.Alertmanager" in request.headers["User-Agent"]
