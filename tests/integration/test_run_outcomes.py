"""Per-host outcomes of real remote executions on the sshd fleet, as the run journal records them."""

import json
from types import SimpleNamespace

import pytest

from spicerack import _extra_runs, _journal
from spicerack.remote import Remote, RemoteExecutionError
from tests.integration.test_cookbook_cli import COOKBOOK, Env, write_tree

FIVE = "test-host[01-05]"
FAILING = ("test-host02", "test-host04")
# Fails (exit 3) on two of the five hosts, through the host name each sshd session gets.
COMMAND = 'case "$FLEET_HOST" in test-host02|test-host04) exit 3;; esac; echo ok'


@pytest.fixture
def journal(tmp_path):
    _journal.activate(tmp_path)
    yield tmp_path / "journal.jsonl"
    _journal.deactivate()


class Run:
    """A journaled run whose body is a function of the remote."""

    def __init__(self, name, body, *, dry_run=False):
        self.full_name = name
        self.args = ["--db-password", "hunter2PW", FIVE]
        self.spicerack = SimpleNamespace(username="op", current_hostname="cumin", dry_run=dry_run)
        self.status = "PASS"
        self.body = body

    @_journal.journaled
    def run(self):
        return self.body()


def entry(journal):
    (line,) = journal.read_text().splitlines()
    return json.loads(line)


def test_two_failing_hosts_of_five_are_recorded_by_outcome(ssh_fleet, journal):
    hosts = Remote(str(ssh_fleet.cumin_config), dry_run=False).query(f"D{{{FIVE}}}")

    def body():
        with pytest.raises(RemoteExecutionError):
            hosts.run_sync(COMMAND, print_output=False, print_progress_bars=False)
        hosts.run_sync("echo hunter2PW >/dev/null", print_output=False, print_progress_bars=False)
        return 1

    Run("g.roll", body).run()
    recorded = entry(journal)
    first, second = recorded["executions"]
    assert first["hosts"] == FIVE
    assert first["succeeded"] == "test-host[01,03,05]"
    assert first["failed"] == {"3": "test-host[02,04]"}
    assert (first["timeout"], first["not_run"], first["executed"]) == ("", "", True)
    assert second["succeeded"] == FIVE
    assert second["commands"] == ["echo *** >/dev/null"]
    assert "hunter2PW" not in journal.read_text()
    run_id = recorded["run_id"]
    assert _extra_runs.failed_hosts(journal, run_id) == "test-host[02,04]"
    assert _extra_runs.failed_hosts(journal, run_id, ("failed",), query=True) == "D{test-host[02,04]}"
    assert "failed (3) test-host[02,04]" in _extra_runs.show_run(journal, run_id, as_json=False)


def test_hosts_never_reached_after_a_failed_batch_are_not_run(ssh_fleet, journal):
    hosts = Remote(str(ssh_fleet.cumin_config), dry_run=False).query(f"D{{{FIVE}}}")

    def body():
        with pytest.raises(RemoteExecutionError):
            hosts.run_sync(COMMAND, batch_size=1, success_threshold=1.0, print_output=False, print_progress_bars=False)
        return 1

    Run("g.batches", body).run()
    (execution,) = entry(journal)["executions"]
    assert execution["succeeded"] == "test-host01"
    assert execution["failed"] == {"3": "test-host02"}
    assert execution["not_run"] == "test-host[03-05]"
    assert _extra_runs.failed_hosts(journal, entry(journal)["run_id"], ("not-run",)) == "test-host[03-05]"


def test_dry_run_records_what_would_have_run(ssh_fleet, journal):
    hosts = Remote(str(ssh_fleet.cumin_config), dry_run=True).query(f"D{{{FIVE}}}")

    def body():
        hosts.run_sync("reboot", print_output=False, print_progress_bars=False)
        return 0

    Run("g.dry", body, dry_run=True).run()
    (execution,) = entry(journal)["executions"]
    assert (execution["executed"], execution["commands"], execution["not_run"]) == (False, ["reboot"], FIVE)
    with pytest.raises(_extra_runs.RunExtraError, match="executed no remote command"):
        _extra_runs.failed_hosts(journal, entry(journal)["run_id"])


# --- the cookbook command: a real run, then --failed-hosts, --history RUN_ID and --rerun ----------------------

ROLL = f'''"""Runs a command failing on two of five hosts."""
import argparse


def argument_parser():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db-password")
    parser.add_argument("query")
    return parser


def run(args, spicerack):
    hosts = spicerack.remote().query(args.query)
    hosts.run_sync({COMMAND!r}, print_output=False, print_progress_bars=False)
    return 0
'''


@pytest.fixture
def cli(ssh_fleet, tmp_path):
    env = Env(tmp_path)
    tree = write_tree(tmp_path / "tree", {"fleet/__init__.py": "", "fleet/roll.py": ROLL})
    env.write_config([tree], instance_params={"cumin_config": str(ssh_fleet.cumin_config), "etcd_config": None})
    return env


def test_the_cookbook_command_shows_and_reruns_the_failed_hosts_of_a_run(cli):
    import pexpect

    result = cli.run("fleet.roll", "--db-password", "hunter2PW", f"D{{{FIVE}}}")
    assert result.returncode == 99, result.stderr
    (first,) = [json.loads(line) for line in (cli.logs / "journal.jsonl").read_text().splitlines()]
    run_id = first["run_id"]

    failed = cli.run("--failed-hosts", run_id)
    assert (failed.returncode, failed.stdout) == (0, "test-host[02,04]\n")
    query = cli.run("--failed-hosts", run_id[:8], "--only", "failed", "--query")
    assert query.stdout == "D{test-host[02,04]}\n"
    shown = cli.run("--history", run_id)
    assert "failed (3) test-host[02,04]" in shown.stdout
    assert cli.run("--failed-hosts", "0123456789ab").returncode == 1

    child = pexpect.spawn(
        str(COOKBOOK),
        ["-c", str(cli.config), "--rerun", run_id, "--", "D{test-host[02,04]}"],
        env=cli.environ,
        encoding="utf-8",
        timeout=120,
    )
    try:
        child.expect_exact("D{test-host[02,04]}")
        child.expect("proceed")
        child.sendline("go")
        child.expect("db-password")  # the secret value was never stored: it is asked again
        child.sendline("hunter2PW")
        child.expect(pexpect.EOF)
        child.close()
    finally:
        if child.isalive():
            child.terminate(force=True)
    assert child.exitstatus == 99
    entries = [json.loads(line) for line in (cli.logs / "journal.jsonl").read_text().splitlines()]
    assert entries[-1]["rerun_of"] == run_id
    assert entries[-1]["executions"][0]["hosts"] == "test-host[02,04]"
    assert entries[-1]["executions"][0]["failed"] == {"3": "test-host[02,04]"}
    assert [path for path in cli.logs.rglob("*") if path.is_file() and b"hunter2PW" in path.read_bytes()] == []
