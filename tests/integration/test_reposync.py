"""Integration tests of spicerack.reposync: real git repositories, pushed over SSH to hosts of the fleet.

The bare source repository lives under the test's directory (``base_dir`` of ``reposync/config.yaml``); its git
remotes point at a bare copy under each host's state directory, reached through the fleet's ssh config (set as
the source repository's ``core.sshCommand``).
"""

import shutil
import subprocess

import pytest
import yaml

from spicerack import Spicerack, reposync
from spicerack.reposync import RepoSyncError, RepoSyncNoChangeError
from tests.integration.servers import require_binary

HOSTS = ("test-host09", "test-host10")
NAME = "example-repo"


def git(*args, cwd):
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30)
    return result.stdout.strip()


@pytest.fixture
def sync_setup(ssh_fleet, tmp_path, monkeypatch):
    """A bare source repository with one remote per host, each host's bare copy, and the reposync config."""
    require_binary("git")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))  # no user settings
    copies = {}
    for host in HOSTS:
        copy = ssh_fleet.state_dir(host) / "reposync" / f"{NAME}.git"
        shutil.rmtree(copy, ignore_errors=True)
        copy.mkdir(parents=True)
        git("init", "--quiet", "--bare", "--initial-branch=main", cwd=copy)
        copies[host] = copy
    source = tmp_path / "srv" / NAME
    source.mkdir(parents=True)
    git("init", "--quiet", "--bare", "--initial-branch=main", cwd=source)
    git("config", "core.sshCommand", f"ssh -F {ssh_fleet.ssh_config}", cwd=source)
    for host, copy in copies.items():
        git("remote", "add", host, f"{host}:{copy}", cwd=source)
    config_dir = tmp_path / "config"
    (config_dir / "reposync").mkdir(parents=True)
    config = {"base_dir": str(tmp_path / "srv"), "repos": [NAME], "remotes": list(HOSTS)}
    (config_dir / "reposync" / "config.yaml").write_text(yaml.safe_dump(config))
    confirmations: list[str] = []
    monkeypatch.setattr(reposync, "ask_confirmation", confirmations.append)
    return {"fleet": ssh_fleet, "source": source, "copies": copies, "config_dir": config_dir, "asked": confirmations}


def client(setup, *, dry_run=False, name=NAME):
    spicerack = Spicerack(
        cumin_config=str(setup["fleet"].cumin_config), spicerack_config_dir=str(setup["config_dir"]), dry_run=dry_run
    )
    return spicerack.reposync(name)


def head(repo):
    return git("rev-parse", "refs/heads/main", cwd=repo)


def has_main(repo):
    return subprocess.run(["git", "rev-parse", "--verify", "--quiet", "refs/heads/main"], cwd=repo).returncode == 0


def test_update_commits_and_pushes_to_every_host(sync_setup):
    sync = client(sync_setup)
    assert sorted(sync.remote_hosts.hosts) == list(HOSTS)
    with sync.update("first import") as data_dir:
        (data_dir / "hosts.yaml").write_text("a: 1\n")
        (data_dir / "sub").mkdir()
        (data_dir / "sub" / "b.yaml").write_text("b: 2\n")

    assert sync.hexsha is not None
    assert head(sync_setup["source"]) == sync.hexsha
    for copy in sync_setup["copies"].values():
        assert head(copy) == sync.hexsha
        assert git("show", "main:sub/b.yaml", cwd=copy) == "b: 2"
        assert git("log", "-1", "--format=%s|%ae", "main", cwd=copy) == "first import|noc@wikimedia.org"
    assert len(sync_setup["asked"]) == 1

    with sync.update("drop a file") as data_dir:
        (data_dir / "hosts.yaml").write_text("a: 1\n")
    for copy in sync_setup["copies"].values():
        assert git("ls-tree", "-r", "--name-only", "main", cwd=copy) == "hosts.yaml"
        assert git("rev-list", "--count", "main", cwd=copy) == "2"


def test_unchanged_data_raises_no_change(sync_setup):
    sync = client(sync_setup)
    with sync.update("first") as data_dir:
        (data_dir / "file").write_text("same\n")
    first = sync.hexsha

    with pytest.raises(RepoSyncNoChangeError, match="Nothing to commit"), sync.update("second") as data_dir:
        (data_dir / "file").write_text("same\n")
    for repo in (sync_setup["source"], *sync_setup["copies"].values()):
        assert head(repo) == first


def test_empty_data_dir_is_refused(sync_setup):
    sync = client(sync_setup)
    with pytest.raises(RepoSyncError, match="No data written"), sync.update("nothing"):
        pass
    assert not has_main(sync_setup["source"])


def test_dry_run_pushes_nothing(sync_setup):
    sync = client(sync_setup, dry_run=True)
    with sync.update("would be committed") as data_dir:
        (data_dir / "file").write_text("content\n")

    assert sync.hexsha is not None  # committed in the throw-away clone only
    for repo in (sync_setup["source"], *sync_setup["copies"].values()):
        assert not has_main(repo)
    assert sync_setup["asked"] == []


def test_force_sync_pushes_the_source_as_it_is(sync_setup, tmp_path):
    work = tmp_path / "work"
    git("clone", "--quiet", str(sync_setup["source"]), str(work), cwd=tmp_path)
    (work / "manual").write_text("edited by hand\n")
    git("add", "manual", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "--quiet", "-m", "manual", cwd=work)
    git("push", "--quiet", "origin", "HEAD:refs/heads/main", cwd=work)

    client(sync_setup, dry_run=True).force_sync()
    assert not any(has_main(copy) for copy in sync_setup["copies"].values())

    client(sync_setup).force_sync()
    for copy in sync_setup["copies"].values():
        assert head(copy) == head(sync_setup["source"])


def test_rejected_push_raises(sync_setup):
    sync = client(sync_setup)
    with sync.update("first") as data_dir:
        (data_dir / "file").write_text("one\n")
    broken = sync_setup["copies"][HOSTS[1]]
    identity = ("-c", "user.name=t", "-c", "user.email=t@example.org")
    diverged = git(*identity, "commit-tree", "-m", "diverged", f"{sync.hexsha}^{{tree}}", cwd=broken)
    git("update-ref", "refs/heads/main", diverged, cwd=broken)

    with pytest.raises(reposync.RepoSyncPushError, match=HOSTS[1]), sync.update("second") as data_dir:
        (data_dir / "file").write_text("two\n")


@pytest.mark.parametrize(
    ("name", "config", "message"),
    [
        ("unknown", None, "Unknown repo unknown"),
        (NAME, {"repos": [NAME], "remotes": ["test-host09"]}, "Missing key 'base_dir'"),
        (NAME, {"repos": [NAME], "remotes": ["x"], "base_dir": "/nonexistent"}, "does not exist"),
    ],
)
def test_bad_configuration(sync_setup, name, config, message):
    if config is not None:
        (sync_setup["config_dir"] / "reposync" / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(RepoSyncError, match=message):
        client(sync_setup, name=name)


def test_non_bare_repository_is_refused(sync_setup):
    shutil.rmtree(sync_setup["source"])
    git("init", "--quiet", str(sync_setup["source"]), cwd=sync_setup["config_dir"])
    with pytest.raises(RepoSyncError, match="not a bare git repository"):
        client(sync_setup)
