"""Unit tests of spicerack.reposync with local git repositories (file remotes, no SSH)."""

import subprocess

import pytest
import yaml
from git import Repo

from spicerack import reposync
from spicerack.reposync import RepoSync, RepoSyncError, RepoSyncNoChangeError, RepoSyncPushError, load_repo

NAME = "repo"


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def bare(path):
    path.mkdir(parents=True)
    git("init", "--quiet", "--bare", "--initial-branch=main", cwd=path)
    return path


@pytest.fixture
def source(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    asked: list[str] = []
    monkeypatch.setattr(reposync, "ask_confirmation", asked.append)
    repo_dir = bare(tmp_path / "srv" / NAME)
    for name in ("one", "two"):
        git("remote", "add", name, str(bare(tmp_path / "copies" / name)), cwd=repo_dir)
    return tmp_path, asked


def sync(tmp_path, *, dry_run=False):
    return RepoSync(Repo(tmp_path / "srv" / NAME), "jdoe", None, dry_run=dry_run)  # type: ignore[arg-type]


def branch_head(path):
    result = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", "refs/heads/main"], cwd=path, capture_output=True, text=True
    )
    return result.stdout.strip() or None


def test_update_commits_as_the_user_and_pushes_to_each_remote(source):
    tmp_path, asked = source
    client = sync(tmp_path)
    assert client.hexsha is None
    with client.update("import") as data_dir:
        (data_dir / "data.yaml").write_text("x: 1\n")

    assert client.hexsha == branch_head(tmp_path / "srv" / NAME)
    for name in ("one", "two"):
        assert branch_head(tmp_path / "copies" / name) == client.hexsha
    author = git("log", "-1", "--format=%an <%ae>|%cn", "main", cwd=tmp_path / "srv" / NAME)
    assert author == "jdoe <noc@wikimedia.org>|jdoe"
    assert asked == [f"Ok to push changes to {tmp_path / 'srv' / NAME}"]


def test_files_not_written_are_removed(source):
    tmp_path, _ = source
    client = sync(tmp_path)
    with client.update("first") as data_dir:
        (data_dir / "a").write_text("a\n")
        (data_dir / "b").write_text("b\n")
    with client.update("second") as data_dir:
        (data_dir / "b").write_text("b\n")
    assert git("ls-tree", "--name-only", "main", cwd=tmp_path / "copies" / "one") == "b"


def test_no_change(source):
    tmp_path, asked = source
    client = sync(tmp_path)
    with client.update("first") as data_dir:
        (data_dir / "a").write_text("a\n")
    with pytest.raises(RepoSyncNoChangeError), client.update("again") as data_dir:
        (data_dir / "a").write_text("a\n")
    assert len(asked) == 1


def test_error_in_the_block_commits_nothing(source):
    tmp_path, _ = source
    with pytest.raises(ValueError, match="boom"), sync(tmp_path).update("x") as data_dir:
        (data_dir / "a").write_text("a\n")
        raise ValueError("boom")
    assert branch_head(tmp_path / "srv" / NAME) is None


def test_empty_data_dir(source):
    tmp_path, _ = source
    with pytest.raises(RepoSyncError, match="No data written"), sync(tmp_path).update("x"):
        pass


def test_dry_run_commits_in_a_clone_only(source, capsys):
    tmp_path, asked = source
    client = sync(tmp_path, dry_run=True)
    with client.update("preview") as data_dir:
        (data_dir / "a").write_text("new content\n")

    assert client.hexsha is not None
    assert "new content" in capsys.readouterr().out  # the diff is shown
    assert branch_head(tmp_path / "srv" / NAME) is None
    assert asked == []
    client.force_sync()
    assert branch_head(tmp_path / "copies" / "one") is None


def test_push_failure(source):
    tmp_path, _ = source
    git("remote", "set-url", "two", str(tmp_path / "missing"), cwd=tmp_path / "srv" / NAME)
    with pytest.raises(RepoSyncPushError, match="Error pushing to two"), sync(tmp_path).update("x") as data_dir:
        (data_dir / "a").write_text("a\n")


def test_remote_with_its_own_push_settings(source):
    tmp_path, _ = source
    repo_dir = tmp_path / "srv" / NAME
    git("config", "remote.one.push", "refs/heads/main:refs/heads/published", cwd=repo_dir)
    client = sync(tmp_path)
    with client.update("x") as data_dir:
        (data_dir / "a").write_text("a\n")
    copy = tmp_path / "copies" / "one"
    assert git("rev-parse", "refs/heads/published", cwd=copy) == client.hexsha
    assert branch_head(copy) is None


def write_config(tmp_path, config):
    (tmp_path / "config" / "reposync").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "reposync" / "config.yaml").write_text(yaml.safe_dump(config))
    return str(tmp_path / "config")


def test_load_repo(source):
    tmp_path, _ = source
    config_dir = write_config(tmp_path, {"base_dir": str(tmp_path / "srv"), "repos": [NAME], "remotes": ["A:x", "B"]})
    repo, remotes = load_repo(config_dir, NAME)
    assert repo.bare
    assert remotes == ["A:x", "B"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"repos": [NAME], "remotes": []}, "Missing key 'base_dir'"),
        ({"base_dir": "srv", "remotes": []}, "Missing key 'repos'"),
        ({"base_dir": "srv", "repos": ["other"], "remotes": []}, f"Unknown repo {NAME}"),
        ({"base_dir": "nowhere", "repos": [NAME], "remotes": []}, "does not exist"),
    ],
)
def test_load_repo_errors(tmp_path, config, message):
    with pytest.raises(RepoSyncError, match=message):
        load_repo(write_config(tmp_path, config), NAME)


def test_load_repo_refuses_non_bare_and_non_git(tmp_path):
    config_dir = write_config(tmp_path, {"base_dir": str(tmp_path / "srv"), "repos": [NAME], "remotes": []})
    (tmp_path / "srv" / NAME).mkdir(parents=True)
    with pytest.raises(RepoSyncError, match="not a git repository"):
        load_repo(config_dir, NAME)
    git("init", "--quiet", cwd=tmp_path / "srv" / NAME)
    with pytest.raises(RepoSyncError, match="not a bare git repository"):
        load_repo(config_dir, NAME)


def test_module_exposes_remote_hosts():
    from spicerack.remote import RemoteHosts

    assert reposync.RemoteHosts is RemoteHosts


def test_commit_without_a_valid_hexsha_is_an_error(tmp_path):
    class NoHexsha:
        hexsha = None

    class Index:
        def diff(self, _other):
            return ["changed"]

        def commit(self, *_args, **_kwargs):
            return NoHexsha()

    class Head:
        commit = None

        def is_valid(self):
            return True

    class Git:
        def add(self, **_kwargs):
            pass

    class Clone:
        git = Git()
        head = Head()
        index = Index()

    sync = RepoSync(Repo.init(tmp_path, bare=True), "user", None, dry_run=True)  # type: ignore[arg-type]
    with pytest.raises(RepoSyncError, match="No valid commit hexsha from commit"):
        sync._commit(Clone(), "message")  # type: ignore[arg-type]
    assert sync.hexsha is None
