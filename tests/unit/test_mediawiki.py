"""Unit tests of spicerack.mediawiki's pure logic: configuration, commands and queries, siteinfo checks, DRY-RUN.

Conftool in etcd, siteinfo over HTTP and the commands on real hosts are in tests/integration/test_mediawiki.py.
"""

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cumin.transports import Command

from spicerack.mediawiki import (
    MediaWiki,
    MediaWikiCheckError,
    MediaWikiConfig,
    MediaWikiError,
    load_mediawiki_config,
)
from spicerack.remote import RemoteExecutionError

SITEINFO = {"query": {"general": {"readonly": False, "wmf-config": {"wmfMasterDatacenter": "eqiad"}}}}


class FakeHosts:
    """Records the commands run, as (mode, [(command, ok_codes)], kwargs); raises for commands in ``failing``."""

    def __init__(self, query: str, log: list[Any], failing: tuple[str, ...] = ()) -> None:
        self.query = query
        self.log = log
        self.failing = failing

    def _run(self, mode: str, commands: tuple[str | Command, ...], kwargs: dict[str, Any]) -> list[Any]:
        recorded = [
            (command.command, command.ok_codes) if isinstance(command, Command) else (command, None)
            for command in commands
        ]
        self.log.append((self.query, mode, recorded, kwargs))
        if any(part in command for command, _ in recorded for part in self.failing):
            raise RemoteExecutionError(retcode=1, message="failed")
        return []

    def run_sync(self, *commands: str | Command, **kwargs: Any) -> list[Any]:
        return self._run("sync", commands, kwargs)

    def run_async(self, *commands: str | Command, **kwargs: Any) -> list[Any]:
        return self._run("async", commands, kwargs)


class FakeRemote:
    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self.log: list[Any] = []
        self.queries: list[str] = []
        self.failing = failing

    def query(self, query: str) -> FakeHosts:
        self.queries.append(query)
        return FakeHosts(query, self.log, self.failing)


class FakeConftool:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    def set_and_verify(self, key: str, value: Any, **tags: str) -> None:
        self.calls.append((key, value, tags))

    def get(self, **tags: str) -> Any:
        return iter([SimpleNamespace(val="codfw", tags=tags)])


def make_mediawiki(
    *, dry_run: bool = False, remote: FakeRemote | None = None, config: MediaWikiConfig | None = None
) -> MediaWiki:
    return MediaWiki(FakeConftool(), remote or FakeRemote(), "deployer", dry_run=dry_run, config=config)  # type: ignore[arg-type]


@pytest.fixture
def no_retry_wait(monkeypatch):
    monkeypatch.setattr("wmflib.decorators.time.sleep", lambda seconds: None)


def serve_siteinfo(monkeypatch, mediawiki: MediaWiki, *answers: Any) -> list[str]:
    """Make get_siteinfo return the answers in turn (an exception is raised); return the datacenters asked."""
    asked: list[str] = []
    remaining = list(answers)

    def get_siteinfo(datacenter: str) -> Any:
        asked.append(datacenter)
        answer = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(mediawiki, "get_siteinfo", get_siteinfo)
    return asked


def test_default_config_is_production(tmp_path: Path):
    config = load_mediawiki_config(tmp_path)

    assert config == MediaWikiConfig()
    assert config.siteinfo_url.format(dc="eqiad") == (
        "https://mw-api-int.svc.eqiad.wmnet:4446/w/api.php?action=query&meta=siteinfo&format=json&formatversion=2"
    )
    assert config.config_file_base_url == "https://mw-misc.discovery.wmnet:30443/conf/"
    assert config.maintenance_query.format(dc="codfw") == "A:mw-maintenance and A:codfw"
    assert config.deployment_query == "C:Deployment::Rsync and R:Class%cron_ensure = absent"


def test_config_overrides(tmp_path: Path):
    (tmp_path / "mediawiki").mkdir()
    (tmp_path / "mediawiki" / "config.yaml").write_text("siteinfo_url: http://127.0.0.1:8080/{dc}/api.php\n")

    config = load_mediawiki_config(tmp_path)

    assert config.siteinfo_url == "http://127.0.0.1:8080/{dc}/api.php"
    assert config.config_file_base_url == MediaWikiConfig().config_file_base_url


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("siteinfo: http://x\n", "Unknown key 'siteinfo' in .*config.yaml, expected some of: siteinfo_url, "),
        ("siteinfo_url: 8080\n", "Key siteinfo_url in .*config.yaml must be a non-empty string"),
        ("maintenance_query: ''\n", "Key maintenance_query in .*config.yaml must be a non-empty string"),
        ("- a\n", "MediaWiki configuration .*config.yaml must be a YAML mapping, got list"),
        ("a: [\n", "MediaWiki configuration .*config.yaml is not valid YAML at line 2"),
    ],
)
def test_bad_config_is_a_one_line_error(tmp_path: Path, content, message):
    (tmp_path / "mediawiki").mkdir()
    (tmp_path / "mediawiki" / "config.yaml").write_text(content)

    with pytest.raises(MediaWikiError, match=message) as error:
        load_mediawiki_config(tmp_path)
    assert "\n" not in str(error.value)


def test_scap_sync_config_file_command():
    remote = FakeRemote()
    make_mediawiki(remote=remote).scap_sync_config_file("db-eqiad", "Depool db1001")

    assert remote.log == [
        (
            "C:Deployment::Rsync and R:Class%cron_ensure = absent",
            "sync",
            [("su - deployer -c 'scap sync-file --force wmf-config/db-eqiad.php \"Depool db1001\"'", None)],
            {},
        )
    ]


def test_queries_follow_the_config():
    remote = FakeRemote()
    config = MediaWikiConfig(deployment_query="A:deploy", maintenance_query="A:maint-{dc}")
    mediawiki = make_mediawiki(remote=remote, config=config)

    mediawiki.scap_sync_config_file("x", "y")
    mediawiki.get_maintenance_host("codfw")

    assert remote.queries == ["A:deploy", "A:maint-codfw"]


def test_conftool_changes(monkeypatch):
    mediawiki = make_mediawiki(dry_run=True)
    conftool = mediawiki._conftool
    serve_siteinfo(monkeypatch, mediawiki, SITEINFO)

    mediawiki.set_readonly("codfw", "Maintenance")
    mediawiki.set_readwrite("codfw")
    mediawiki.set_master_datacenter("codfw")

    assert conftool.calls == [  # type: ignore[attr-defined]
        ("val", "Maintenance", {"scope": "codfw", "name": "ReadOnly"}),
        ("val", False, {"scope": "codfw", "name": "ReadOnly"}),
        ("val", "codfw", {"scope": "common", "name": "WMFMasterDatacenter"}),
    ]
    assert mediawiki.get_master_datacenter() == "codfw"


def test_periodic_jobs_commands():
    remote = FakeRemote()
    mediawiki = make_mediawiki(remote=remote)

    mediawiki.check_periodic_jobs_enabled("eqiad")
    mediawiki.stop_periodic_jobs("eqiad")

    queries = {query for query, _, _, _ in remote.log}
    assert queries == {"A:mw-maintenance and A:eqiad"}
    enabled, stop, kill, disabled, stray = remote.log
    listing = "systemctl list-units 'mediawiki_job_*' --no-legend | awk '{print $1}'"
    assert enabled[1:] == (
        "sync",
        [(f"{listing} | xargs -n 1 sh -c 'systemctl is-enabled $0'", None)],
        {"is_safe": True},
    )
    assert stop[1:] == ("async", [("systemctl stop mediawiki_job_*", None)], {})
    assert kill[2] == [
        ('pkill --full "/usr/local/bin/foreachwiki"', [0, 1]),
        ('pkill --full "/usr/local/bin/foreachwikiindblist"', [0, 1]),
        ('pkill --full "/usr/local/bin/expanddblist"', [0, 1]),
        ('pkill --full "/usr/local/bin/mwscript"', [0, 1]),
        ('pkill --full "/usr/local/bin/mwscriptwikiset"', [0, 1]),
        ("killall -r 'php$'", []),
        ("sleep 5", None),
        ("killall -9 -r 'php$'", []),
        ("sleep 1", None),
    ]
    assert disabled[1:] == (
        "async",
        [(f"{listing} | xargs -n 1 sh -c 'systemctl is-enabled $0 && exit 255 || exit 0'", [0])],
        {"is_safe": True},
    )
    assert stray[1:] == ("sync", [("! pgrep -c 'php$'", None)], {"is_safe": True})


def test_stray_php_is_logged_not_raised(caplog):
    remote = FakeRemote(failing=("pgrep",))

    make_mediawiki(remote=remote).stop_periodic_jobs("codfw")

    assert "Stray php processes still present on the codfw maintenance host, please check" in caplog.text


def test_enabled_jobs_after_stop_raise():
    with pytest.raises(RemoteExecutionError):
        make_mediawiki(remote=FakeRemote(failing=("exit 255",))).stop_periodic_jobs("codfw")


def test_check_siteinfo_traverses_paths(monkeypatch):
    mediawiki = make_mediawiki()
    asked = serve_siteinfo(monkeypatch, mediawiki, SITEINFO)

    mediawiki.check_siteinfo(
        "eqiad",
        {("query", "general", "readonly"): False, ("query", "general", "wmf-config", "wmfMasterDatacenter"): "eqiad"},
        samples=3,
    )

    assert asked == ["eqiad"] * 3


def test_check_siteinfo_retries_then_raises(monkeypatch, no_retry_wait):
    mediawiki = make_mediawiki()
    asked = serve_siteinfo(monkeypatch, mediawiki, SITEINFO)

    with pytest.raises(MediaWikiCheckError, match=r"Expected 'True', got 'False' for path: \('query', 'general', 'r"):
        mediawiki.check_siteinfo("eqiad", {("query", "general", "readonly"): True})

    assert len(asked) == 5


def test_check_siteinfo_recovers(monkeypatch, no_retry_wait):
    mediawiki = make_mediawiki()
    readonly = {"query": {"general": {"readonly": True}}}
    asked = serve_siteinfo(monkeypatch, mediawiki, ValueError("no JSON"), SITEINFO, readonly)

    mediawiki.check_siteinfo("eqiad", {("query", "general", "readonly"): True})

    assert len(asked) == 3


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"query": {}}, "Failed to traverse siteinfo for key general"),
        ({"query": {"general": "text"}}, "Failed to traverse siteinfo for key readonly"),
        (ConnectionError("refused"), "Failed to get siteinfo from eqiad: refused"),
    ],
)
def test_check_siteinfo_errors(monkeypatch, no_retry_wait, answer, message):
    mediawiki = make_mediawiki()
    serve_siteinfo(monkeypatch, mediawiki, answer)

    with pytest.raises(MediaWikiError, match=message):
        mediawiki.check_siteinfo("eqiad", {("query", "general", "readonly"): True})


def test_dry_run_checks_once_and_logs(monkeypatch, caplog):
    mediawiki = make_mediawiki(dry_run=True)
    asked = serve_siteinfo(monkeypatch, mediawiki, SITEINFO)
    caplog.set_level(logging.INFO)

    mediawiki.set_readonly("eqiad", "Maintenance")

    assert asked == ["eqiad"]
    assert "Expected 'True', got 'False'" in caplog.text


def test_set_master_datacenter_checks_core_datacenters(monkeypatch):
    mediawiki = make_mediawiki()
    asked = serve_siteinfo(monkeypatch, mediawiki, SITEINFO)

    mediawiki.set_master_datacenter("eqiad")

    assert asked == ["eqiad"] * 10 + ["codfw"] * 10
