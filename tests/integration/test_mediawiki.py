"""MediaWiki against real servers: conftool's ``mwconfig`` objects in etcd (v2), siteinfo and the published config
files on a local HTTP server, scap and the periodic jobs on SSH fleet hosts (stand-ins in ``fleet_tools/mediawiki``).
"""

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from spicerack import Spicerack, mediawiki
from spicerack.confctl import ConfctlError
from spicerack.mediawiki import MediaWiki, MediaWikiCheckError, MediaWikiError
from spicerack.remote import RemoteExecutionError
from tests.integration.servers.etcd_v2 import ConftoolFiles
from tests.integration.servers.http import HTTPTestServer
from tests.integration.servers.sshd import SSHFleet

pytestmark = pytest.mark.integration

TOOLS_DIR = Path(__file__).parent / "fleet_tools" / "mediawiki"
DEPLOYMENT_HOST = "test-host04"
MAINTENANCE_HOSTS = {"eqiad": "test-host05", "codfw": "test-host06"}
SITEINFO_QUERY = "/w/api.php?action=query&meta=siteinfo&format=json&formatversion=2"
JOB_UNITS = ("mediawiki_job_update_stats.timer", "mediawiki_job_purge_parsercache.timer")


def siteinfo_path(datacenter: str) -> str:
    return f"/{datacenter}{SITEINFO_QUERY}"


def siteinfo(*, readonly: bool = False, reason: str = "", master: str = "eqiad") -> dict[str, object]:
    general: dict[str, object] = {"sitename": "Wikipedia", "readonly": readonly, "wmf-config": {}}
    general["wmf-config"] = {"wmfMasterDatacenter": master}
    if readonly:
        general["readonlyreason"] = reason
    return {"batchcomplete": True, "query": {"general": general}}


@pytest.fixture
def no_retry_wait(monkeypatch):
    """Retries of the siteinfo checks go on at once (the waits are wmflib's)."""
    monkeypatch.setattr("wmflib.decorators.time.sleep", lambda seconds: None)


@pytest.fixture
def mw_fleet(ssh_fleet: SSHFleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The MediaWiki stand-ins on the fleet, a cumin config with the aliases the queries use, a fresh host state."""
    for tool in TOOLS_DIR.iterdir():
        shutil.copy2(tool, ssh_fleet.bin_dir / tool.name)
    for name in ("SYSTEMCTL", "PKILL", "KILLALL", "PGREP", "SU", "SCAP"):
        monkeypatch.setattr(mediawiki, name, f"mw-{name.lower()}")
    monkeypatch.setattr(mediawiki, "PHP_TERM_GRACE_SECONDS", 0)

    config_dir = tmp_path / "cumin"
    config_dir.mkdir()
    (config_dir / "config.yaml").write_text(ssh_fleet.cumin_config.read_text())
    aliases = {
        "mw-maintenance": "D{" + ",".join(MAINTENANCE_HOSTS.values()) + "}",
        "eqiad": "D{test-host[01-05]}",
        "codfw": "D{test-host[06-08]}",
        "deployment": f"D{{{DEPLOYMENT_HOST}}}",
    }
    (config_dir / "aliases.yaml").write_text(yaml.safe_dump(aliases))
    for host in (DEPLOYMENT_HOST, *MAINTENANCE_HOSTS.values()):
        state = ssh_fleet.state_dir(host) / "mediawiki"
        shutil.rmtree(state, ignore_errors=True)
        (state / "units").mkdir(parents=True)
        (state / "processes").touch()
    yield config_dir / "config.yaml"
    for host in (DEPLOYMENT_HOST, *MAINTENANCE_HOSTS.values()):
        shutil.rmtree(ssh_fleet.state_dir(host) / "mediawiki", ignore_errors=True)


def mw_state(fleet: SSHFleet, host: str) -> Path:
    return fleet.state_dir(host) / "mediawiki"


def add_jobs(fleet: SSHFleet, host: str, *, enabled: bool = True, active: bool = True) -> None:
    for unit in JOB_UNITS:
        (mw_state(fleet, host) / "units" / unit).write_text("enabled\n" if enabled else "disabled\n")
        if active:
            (mw_state(fleet, host) / "units" / f"{unit}.active").touch()


def add_processes(fleet: SSHFleet, host: str, *lines: str) -> None:
    (mw_state(fleet, host) / "processes").write_text("".join(f"{line}\n" for line in lines))


def processes(fleet: SSHFleet, host: str) -> list[str]:
    return (mw_state(fleet, host) / "processes").read_text().splitlines()


@pytest.fixture
def mw_config_dir(tmp_path: Path, http_server: HTTPTestServer) -> Path:
    config_dir = tmp_path / "spicerack"
    (config_dir / "mediawiki").mkdir(parents=True)
    config = {
        "siteinfo_url": http_server.url + "/{dc}" + SITEINFO_QUERY,
        "config_file_base_url": http_server.url + "/conf/",
        "deployment_query": "A:deployment",
    }
    (config_dir / "mediawiki" / "config.yaml").write_text(yaml.safe_dump(config))
    (config_dir / "cumin.yaml").write_text("default_backend: direct\ntransport: clustershell\n")
    return config_dir


@pytest.fixture
def mwconfig(conftool_files: ConftoolFiles) -> ConftoolFiles:
    """The conftool namespace with MediaWiki's ``mwconfig`` objects: read-write everywhere, eqiad primary."""
    for datacenter in ("eqiad", "codfw"):
        conftool_files.write(f"mediawiki-config/{datacenter}/ReadOnly", {"val": False})
    conftool_files.write("mediawiki-config/common/WMFMasterDatacenter", {"val": "eqiad"})
    return conftool_files


def make_spicerack(files: ConftoolFiles, config_dir: Path, cumin_config: Path | None = None, *, dry_run: bool = False):
    return Spicerack(
        conftool_config=str(files.config),
        conftool_schema=str(files.schema),
        spicerack_config_dir=str(config_dir),
        cumin_config=str(cumin_config or config_dir / "cumin.yaml"),
        dry_run=dry_run,
    )


def test_accessor_returns_a_configured_client(mwconfig, mw_config_dir):
    client = make_spicerack(mwconfig, mw_config_dir).mediawiki()

    assert isinstance(client, MediaWiki)
    assert client.get_master_datacenter() == "eqiad"


def test_set_readonly_and_readwrite_change_etcd_and_check_siteinfo(mwconfig, mw_config_dir, http_server):
    client = make_spicerack(mwconfig, mw_config_dir).mediawiki()
    message = "MediaWiki is in read-only mode for maintenance. Please try again in a few minutes"
    http_server.script(siteinfo_path("codfw"), 200, body=siteinfo(readonly=True, reason=message))

    client.set_readonly("codfw", message)

    assert mwconfig.read("mediawiki-config/codfw/ReadOnly") == {"val": message}
    assert mwconfig.read("mediawiki-config/eqiad/ReadOnly") == {"val": False}
    requests = http_server.requests_to(siteinfo_path("codfw"))
    assert len(requests) == 10  # samples, each checked once as it matches
    assert requests[0].headers["Host"] == "en.wikipedia.org"

    http_server.script(siteinfo_path("codfw"), 200, body=siteinfo())
    client.set_readwrite("codfw")

    assert mwconfig.read("mediawiki-config/codfw/ReadOnly") == {"val": False}


def test_set_readonly_fails_when_siteinfo_does_not_follow(mwconfig, mw_config_dir, http_server, no_retry_wait):
    client = make_spicerack(mwconfig, mw_config_dir).mediawiki()
    http_server.script(siteinfo_path("eqiad"), 200, body=siteinfo())

    with pytest.raises(MediaWikiCheckError, match=r"Expected 'True', got 'False' for path: \('query', 'general'"):
        client.set_readonly("eqiad", "maintenance")

    assert len(http_server.requests_to(siteinfo_path("eqiad"))) == 5  # the retries of the first sample


def test_siteinfo_errors_are_mediawiki_errors(mwconfig, mw_config_dir, http_server, no_retry_wait):
    client = make_spicerack(mwconfig, mw_config_dir).mediawiki()
    http_server.script(siteinfo_path("eqiad"), 404, body={"error": "not found"})

    with pytest.raises(MediaWikiError, match="Failed to get siteinfo from eqiad"):
        client.check_siteinfo("eqiad", {("query", "general", "readonly"): False})

    http_server.script(siteinfo_path("eqiad"), 200, body={"query": {}})
    with pytest.raises(MediaWikiError, match="Failed to traverse siteinfo for key general"):
        client.check_siteinfo("eqiad", {("query", "general", "readonly"): False})


def test_dry_run_changes_nothing_and_only_logs_failed_checks(mwconfig, mw_config_dir, http_server, caplog):
    client = make_spicerack(mwconfig, mw_config_dir, dry_run=True).mediawiki()
    http_server.script(siteinfo_path("eqiad"), 200, body=siteinfo())
    before = mwconfig.keys()
    caplog.set_level(logging.INFO)

    client.set_readonly("eqiad", "maintenance")
    client.set_master_datacenter("codfw")

    assert mwconfig.keys() == before
    assert len(http_server.requests_to(siteinfo_path("eqiad"))) == 2  # one sample, one try, for each call
    assert "Expected 'True', got 'False'" in caplog.text
    assert "Expected 'codfw', got 'eqiad'" in caplog.text


def test_set_master_datacenter_checks_every_core_datacenter(mwconfig, mw_config_dir, http_server):
    client = make_spicerack(mwconfig, mw_config_dir).mediawiki()
    for datacenter in ("eqiad", "codfw"):
        http_server.script(siteinfo_path(datacenter), 200, body=siteinfo(master="codfw"))

    client.set_master_datacenter("codfw")

    assert mwconfig.read("mediawiki-config/common/WMFMasterDatacenter") == {"val": "codfw"}
    assert client.get_master_datacenter() == "codfw"
    assert len(http_server.requests_to(siteinfo_path("eqiad"))) == 10
    assert len(http_server.requests_to(siteinfo_path("codfw"))) == 10


def test_unknown_scope_is_a_conftool_error(mwconfig, mw_config_dir):
    client = make_spicerack(mwconfig, mw_config_dir).mediawiki()

    with pytest.raises(ConfctlError, match=r"No match found for the conftool tags .*'scope': 'nowhere'"):
        client.set_readwrite("nowhere")


def test_check_config_line_reads_the_published_file(mwconfig, mw_config_dir, http_server):
    client = make_spicerack(mwconfig, mw_config_dir).mediawiki()
    http_server.script("/conf/db-eqiad.php.txt", 200, body="'sectionsByDB' => [ 's1' => 'db1001' ]")

    assert client.check_config_line("db-eqiad", "'s1' => 'db1001'") is True
    assert client.check_config_line("db-eqiad", "'s1' => 'db1002'") is False
    assert http_server.requests_to("/conf/db-eqiad.php.txt")[0].headers["Host"] == "noc.wikimedia.org"


def test_scap_sync_config_file_runs_scap_as_the_user(mwconfig, mw_config_dir, mw_fleet, ssh_fleet):
    spicerack = make_spicerack(mwconfig, mw_config_dir, mw_fleet)

    spicerack.mediawiki().scap_sync_config_file("db-eqiad", "Depool db1001 T12345")

    scap_log = (mw_state(ssh_fleet, DEPLOYMENT_HOST) / "scap.log").read_text().splitlines()
    assert scap_log == [
        f"user={spicerack.username}",
        "arg=sync-file",
        "arg=--force",
        "arg=wmf-config/db-eqiad.php",
        "arg=Depool db1001 T12345",
    ]


def test_scap_failure_raises(mwconfig, mw_config_dir, mw_fleet, ssh_fleet):
    (mw_state(ssh_fleet, DEPLOYMENT_HOST) / "scap.fail").touch()

    with pytest.raises(RemoteExecutionError):
        make_spicerack(mwconfig, mw_config_dir, mw_fleet).mediawiki().scap_sync_config_file("db-eqiad", "msg")


def test_scap_is_not_run_in_dry_run(mwconfig, mw_config_dir, mw_fleet, ssh_fleet):
    make_spicerack(mwconfig, mw_config_dir, mw_fleet, dry_run=True).mediawiki().scap_sync_config_file("x", "msg")

    assert not (mw_state(ssh_fleet, DEPLOYMENT_HOST) / "scap.log").exists()


def test_stop_periodic_jobs_stops_units_and_kills_php(mwconfig, mw_config_dir, mw_fleet, ssh_fleet, caplog):
    eqiad, codfw = MAINTENANCE_HOSTS["eqiad"], MAINTENANCE_HOSTS["codfw"]
    for host in (eqiad, codfw):
        add_jobs(ssh_fleet, host)
    add_processes(
        ssh_fleet,
        eqiad,
        "/usr/local/bin/foreachwikiindblist all.dblist extensions/Foo/maintenance/run.php",
        "/usr/bin/php /srv/mediawiki/multiversion/MWScript.php updateSpecialPages.php",
        "~php /srv/mediawiki/multiversion/MWScript.php purgeParserCache.php",
        "php-fpm7.4 pool www",
    )
    client = make_spicerack(mwconfig, mw_config_dir, mw_fleet).mediawiki()
    client.check_periodic_jobs_enabled("eqiad")

    client.stop_periodic_jobs("eqiad")

    assert processes(ssh_fleet, eqiad) == ["php-fpm7.4 pool www"]  # php-fpm serves noc and stays
    assert not list((mw_state(ssh_fleet, eqiad) / "units").glob("*.active"))
    with pytest.raises(RemoteExecutionError):
        client.check_periodic_jobs_enabled("eqiad")
    client.check_periodic_jobs_enabled("codfw")  # the other datacenter is untouched
    assert "Stray php processes" not in caplog.text


def test_stop_periodic_jobs_reports_stray_php(mwconfig, mw_config_dir, mw_fleet, ssh_fleet, caplog):
    host = MAINTENANCE_HOSTS["codfw"]
    add_jobs(ssh_fleet, host)
    add_processes(ssh_fleet, host, "!php /srv/mediawiki/multiversion/MWScript.php stuckOnNFS.php")

    make_spicerack(mwconfig, mw_config_dir, mw_fleet).mediawiki().stop_periodic_jobs("codfw")

    assert processes(ssh_fleet, host) == ["!php /srv/mediawiki/multiversion/MWScript.php stuckOnNFS.php"]
    assert "Stray php processes still present on the codfw maintenance host" in caplog.text


def test_check_periodic_jobs_disabled_fails_on_an_enabled_job(mwconfig, mw_config_dir, mw_fleet, ssh_fleet):
    add_jobs(ssh_fleet, MAINTENANCE_HOSTS["eqiad"])
    client = make_spicerack(mwconfig, mw_config_dir, mw_fleet).mediawiki()

    with pytest.raises(RemoteExecutionError):
        client.check_periodic_jobs_disabled("eqiad")
    client.check_periodic_jobs_disabled("codfw")  # no job there


def test_periodic_jobs_are_not_stopped_in_dry_run(mwconfig, mw_config_dir, mw_fleet, ssh_fleet, caplog):
    host = MAINTENANCE_HOSTS["eqiad"]
    add_jobs(ssh_fleet, host)
    add_processes(ssh_fleet, host, "/usr/bin/php /srv/mediawiki/multiversion/MWScript.php foo.php")
    client = make_spicerack(mwconfig, mw_config_dir, mw_fleet, dry_run=True).mediawiki()

    client.stop_periodic_jobs("eqiad")  # the read-only checks run and fail, which DRY-RUN only logs

    assert len(list((mw_state(ssh_fleet, host) / "units").glob("*.active"))) == len(JOB_UNITS)
    assert processes(ssh_fleet, host) == ["/usr/bin/php /srv/mediawiki/multiversion/MWScript.php foo.php"]
    systemctl_calls = (mw_state(ssh_fleet, host) / "systemctl.log").read_text().splitlines()
    assert systemctl_calls[0].startswith("list-units")
    assert not [call for call in systemctl_calls if call.startswith("stop")]
    assert not (mw_state(ssh_fleet, host) / "killall.log").exists()
    assert "not raised in DRY-RUN mode" in caplog.text
