"""Alertmanager logic that needs no server: host matchers, validation, configuration, DRY-RUN."""

import logging
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from cumin import nodeset

from spicerack import Spicerack
from spicerack.administrative import Reason
from spicerack.alertmanager import (
    Alertmanager,
    AlertmanagerError,
    AlertmanagerHosts,
    MatchersType,
    alertmanager_from_config,
)
from spicerack.exceptions import SpicerackError

# Nothing listens there; no test here reaches the network (validation and DRY-RUN happen before any request).
URLS = ["http://127.0.0.1:9"]
REASON = Reason("Maintenance", "jdoe", "cumin1001", task_id="T1")


def _hosts(hosts: Any, **kwargs: Any) -> AlertmanagerHosts:
    return AlertmanagerHosts(hosts, alertmanager_urls=URLS, **kwargs)


def _instance_regex(hosts: AlertmanagerHosts) -> str:
    return hosts._instance_regex()


@pytest.mark.parametrize(
    ("target_hosts", "verbatim", "expected"),
    [
        (["host1001.eqiad.wmnet"], False, r"^(host1001)(\..+)?(:[0-9]+)?$"),
        (["host1002.eqiad.wmnet", "host1001.eqiad.wmnet"], False, r"^(host1001|host1002)(\..+)?(:[0-9]+)?$"),
        (nodeset("host[1001-1002].eqiad.wmnet"), False, r"^(host1001|host1002)(\..+)?(:[0-9]+)?$"),
        (["host1001.eqiad.wmnet"], True, r"^(host1001\.eqiad\.wmnet)(\..+)?(:[0-9]+)?$"),
        (nodeset("host1001.eqiad.wmnet"), True, r"^(host1001\.eqiad\.wmnet)(\..+)?(:[0-9]+)?$"),
        (["host1001:9100"], True, r"^(host1001:9100)$"),
        (["host1001:9100", "host1002"], True, r"^(host1001:9100|host1002(\..+)?(:[0-9]+)?)$"),
        (["ms-fe1001"], False, r"^(ms\-fe1001)(\..+)?(:[0-9]+)?$"),
    ],
)
def test_instance_regex(target_hosts: Any, verbatim: bool, expected: str) -> None:
    assert _instance_regex(_hosts(target_hosts, verbatim_hosts=verbatim)) == expected


@pytest.mark.parametrize(
    ("instance", "matches"),
    [
        ("host1001", True),
        ("host1001:9100", True),
        ("host1001.eqiad.wmnet:9100", True),
        ("host10011:9100", False),
        ("otherhost1001", False),
        ("host1002", False),
    ],
)
def test_instance_regex_matches_the_instance_label(instance: str, matches: bool) -> None:
    regex = _instance_regex(_hosts(["host1001.eqiad.wmnet"]))

    assert bool(re.fullmatch(regex, instance)) is matches


@pytest.mark.parametrize("target_hosts", [[], nodeset()])
def test_no_hosts_is_an_error(target_hosts: Any) -> None:
    with pytest.raises(AlertmanagerError, match="Got empty target hosts list"):
        _hosts(target_hosts)


def test_a_string_of_hosts_is_an_error() -> None:
    with pytest.raises(AlertmanagerError, match="must be a NodeSet or a sequence of names"):
        _hosts("host1001")


def test_no_urls_is_an_error() -> None:
    with pytest.raises(AlertmanagerError, match="At least one alertmanager URL is required"):
        Alertmanager(alertmanager_urls=[])


def test_error_is_a_spicerack_error_carrying_the_response() -> None:
    error = AlertmanagerError("failed")

    assert isinstance(error, SpicerackError)
    assert error.response is None


@pytest.mark.parametrize(
    ("matchers", "message"),
    [
        ([], "No matchers provided"),
        (["alertname"], "it must be a dict"),
        ([{"value": "x", "isRegex": False}], "non-empty string 'name'"),
        ([{"name": "", "value": "x", "isRegex": False}], "non-empty string 'name'"),
        ([{"name": "job", "isRegex": False}], "string 'value'"),
        ([{"name": "job", "value": 3, "isRegex": False}], "string 'value'"),
        ([{"name": "job", "value": "x"}], "boolean 'isRegex'"),
        ([{"name": "job", "value": "x", "isRegex": "yes"}], "boolean 'isRegex'"),
        ([{"name": "job", "value": "x", "isRegex": False, "isEqual": 0}], "'isEqual' must be a boolean"),
        ([{"name": "job", "value": "x", "isRegex": False, "regex": True}], "unknown keys"),
        ([{"name": "job", "value": "[", "isRegex": True}], "bad regular expression"),
    ],
)
def test_invalid_matchers(matchers: Any, message: str) -> None:
    alertmanager = Alertmanager(alertmanager_urls=URLS, dry_run=False)

    with pytest.raises(AlertmanagerError, match=message) as error:
        alertmanager.downtime(REASON, matchers=matchers)

    assert "\n" not in str(error.value)


def test_hosts_matchers_cannot_target_the_instance() -> None:
    matchers: MatchersType = [{"name": "instance", "value": "host1001", "isRegex": False}]

    with pytest.raises(AlertmanagerError, match="Matchers cannot target the instance property"):
        _hosts(["host1001"], dry_run=False).downtime(REASON, matchers=matchers)


def test_reason_must_be_a_reason() -> None:
    with pytest.raises(AlertmanagerError, match="The reason must be a Reason instance"):
        _hosts(["host1001"], dry_run=False).downtime("maintenance")  # type: ignore[arg-type]


def test_remove_downtime_needs_an_id() -> None:
    with pytest.raises(AlertmanagerError, match="No silence ID given to remove"):
        Alertmanager(alertmanager_urls=URLS, dry_run=False).remove_downtime("")


@pytest.mark.parametrize("duration", [timedelta(0), timedelta(seconds=-1)])
def test_duration_must_be_positive(duration: timedelta) -> None:
    with pytest.raises(AlertmanagerError, match="The downtime duration must be positive"):
        _hosts(["host1001"], dry_run=False).downtime(REASON, duration=duration)


def test_dry_run_downtime_sends_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="spicerack.alertmanager")
    hosts = _hosts(["host1001"], dry_run=True)

    assert hosts.downtime(REASON, duration=timedelta(minutes=10)) == ""
    hosts.remove_downtime("")

    assert "Would have created a silence for 0:10:00" in caplog.text
    assert "Would have called POST http://127.0.0.1:9/api/v2/silences" in caplog.text
    assert "Would have called DELETE http://127.0.0.1:9/api/v2/silence/" in caplog.text
    assert "Failed" not in caplog.text


def test_dry_run_is_the_default() -> None:
    with Alertmanager(alertmanager_urls=URLS).downtimed(
        REASON, matchers=[{"name": "job", "value": "x", "isRegex": False}]
    ):
        pass


def test_hosts_inherit_the_client_settings() -> None:
    alertmanager = Alertmanager(alertmanager_urls=URLS, http_proxies={"http": "http://proxy:8080"}, dry_run=False)

    hosts = alertmanager.hosts(["host1001.eqiad.wmnet"])

    assert isinstance(hosts, AlertmanagerHosts)
    assert hosts._alertmanager_urls == URLS
    assert hosts._http_session.proxies == {"http": "http://proxy:8080"}
    assert hosts._dry_run is False


def _write_config(config_dir: Path, content: Any) -> None:
    (config_dir / "alertmanager").mkdir(exist_ok=True)
    text = content if isinstance(content, str) else yaml.safe_dump(content)
    (config_dir / "alertmanager" / "config.yaml").write_text(text, encoding="utf-8")


CONFIG = {
    "default_instance": "production",
    "instances": {
        "production": {"urls": ["http://am1.example.org", "http://am2.example.org/"]},
        "cloud": {
            "urls": ["http://am.cloud.example.org"],
            "http_use_proxy": True,
            "http_username": "spicerack",
            "http_password": "secret",
        },
    },
}
PROXIES = {"http": "http://proxy:8080", "https": "http://proxy:8080"}


def test_config_default_instance(tmp_path: Path) -> None:
    _write_config(tmp_path, CONFIG)

    alertmanager = alertmanager_from_config(tmp_path, proxies=PROXIES, dry_run=False)

    assert alertmanager._alertmanager_urls == ["http://am1.example.org", "http://am2.example.org"]
    assert alertmanager._http_session.auth is None
    assert alertmanager._http_session.proxies == {}


def test_config_named_instance_with_proxy_and_authentication(tmp_path: Path) -> None:
    _write_config(tmp_path, CONFIG)

    alertmanager = alertmanager_from_config(tmp_path, "cloud", proxies=PROXIES, dry_run=False)

    assert alertmanager._alertmanager_urls == ["http://am.cloud.example.org"]
    assert alertmanager._http_session.proxies == PROXIES
    auth = alertmanager._http_session.auth
    assert (getattr(auth, "username", None), getattr(auth, "password", None)) == ("spicerack", "secret")


def test_accessors_read_the_config_dir(tmp_path: Path) -> None:
    _write_config(tmp_path, CONFIG)
    spicerack = Spicerack(dry_run=True, spicerack_config_dir=str(tmp_path), http_proxy="http://proxy:8080")

    hosts = spicerack.alertmanager_hosts(["host1001.eqiad.wmnet"], instance_name="cloud")

    assert hosts._alertmanager_urls == ["http://am.cloud.example.org"]
    assert hosts._http_session.proxies == PROXIES
    assert hosts._dry_run is True
    assert spicerack.alertmanager()._alertmanager_urls == ["http://am1.example.org", "http://am2.example.org"]


@pytest.mark.parametrize(
    ("content", "instance_name", "message"),
    [
        (None, "", "Unable to read the Alertmanager configuration .*config.yaml: No such file or directory"),
        ("instances: [unclosed", "", "The Alertmanager configuration .*config.yaml is not valid YAML at line 1"),
        ("- a list", "", "must be a YAML mapping, got list"),
        ({"instances": CONFIG["instances"]}, "", "An alertmanager instance name must be specified"),
        (CONFIG, "staging", "No such alertmanager instance 'staging' found in"),
        ({"instances": {"empty": {}}}, "empty", "No such alertmanager instance 'empty'"),
        ({"instances": {"bad": {"urls": "http://am"}}}, "bad", "Key instances.bad.urls in .* must be a list of URLs"),
        ({"instances": {"none": {"urls": []}}}, "none", "At least one alertmanager URL is required"),
    ],
)
def test_config_errors(tmp_path: Path, content: Any, instance_name: str, message: str) -> None:
    if content is not None:
        _write_config(tmp_path, content)

    with pytest.raises(AlertmanagerError, match=message) as error:
        alertmanager_from_config(tmp_path, instance_name)

    assert "\n" not in str(error.value)


class _RecordingSession:
    """Stands in for the HTTP session: records the requests and answers a silence ID."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []

    def request(self, method: str, url: str, json: Any = None) -> Any:
        self.requests.append((method, url, json))
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"silenceID": "abc"}'
        return response


def test_silence_times_are_sent_in_utc_whatever_the_local_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30, no daylight saving
    time.tzset()
    try:
        hosts = _hosts(["host1001"], dry_run=False)
        session = _RecordingSession()
        hosts._http_session = session  # type: ignore[assignment]

        assert hosts.downtime(REASON, duration=timedelta(hours=2)) == "abc"
    finally:
        monkeypatch.undo()
        time.tzset()

    payload = session.requests[0][2]
    start = datetime.fromisoformat(payload["startsAt"])
    assert payload["startsAt"].endswith("+00:00")
    assert payload["endsAt"].endswith("+00:00")
    assert datetime.fromisoformat(payload["endsAt"]) - start == timedelta(hours=2)
    assert abs(datetime.now(UTC) - start) < timedelta(minutes=5)
