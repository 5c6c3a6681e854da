"""Black-box tests of what ``cookbook`` offers beyond the reference, through the real command.

Shell completion (through argcomplete's own protocol), ``-l --json``, the run journal and ``--history``, and
``--locks`` against local locks and a real etcd while runs hold slots. And that none of it changes what the
reference prints: ``cookbook --help``, ``-l`` and ``-l -v``.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
import yaml

from tests.integration.servers import free_port
from tests.integration.test_cookbook_cli import LISTING, LISTING_ERRORS, TREE, TREE2, isolated_environ

COOKBOOK = Path(sys.executable).with_name("cookbook")

HOLDING = '''"""Holds its lock until released."""
import os
import time

MAX_CONCURRENCY = 3
LOCK_TTL = 600


def run(args, spicerack):
    directory = os.environ["HOLD_DIR"]
    open(os.path.join(directory, f"started-{os.getpid()}"), "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(directory, "release")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return 0
'''
MARKING_INIT = '''"""Marked group."""
import os
open(os.environ["IMPORT_MARKERS"], "a").write(__name__ + "\\n")
'''
CHOICES = '''"""Cookbook with choices."""
import argparse
import os
open(os.environ["IMPORT_MARKERS"], "a").write(__name__ + "\\n")


def argument_parser():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["drain", "depool", "restart"])
    parser.add_argument("--db-password")
    parser.add_argument("--pin")
    parser.add_argument("-r", "--reason")
    parser.add_argument("-t", "--task-id")
    parser.add_argument("--exit", type=int, default=0)
    return parser


def run(args, spicerack):
    if args.exit == 42:
        spicerack.run_cookbook("marked.other", [])
        return 0
    return args.exit
'''
OTHER = '''"""Other cookbook."""
import os
open(os.environ["IMPORT_MARKERS"], "a").write(__name__ + "\\n")


def run(args, spicerack):
    return 0
'''
CLASS_API = '''"""Class API module."""
import os
from spicerack.cookbook import CookbookBase, CookbookRunnerBase
open(os.environ["IMPORT_MARKERS"], "a").write(__name__ + "\\n")


class Deploy(CookbookBase):
    """Deploy things.

    The longer description.
    """

    owner_team = "team-deploy"

    def argument_parser(self):
        parser = super().argument_parser()
        parser.add_argument("--canary", action="store_true")
        return parser

    def get_runner(self, args):
        raise RuntimeError("not run in these tests")
'''


class Env:
    """An isolated home, a configuration file, a tree of its own and the markers its modules write."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "config.yaml"
        self.logs = root / "logs"
        self.journal = self.logs / "journal.jsonl"
        self.hold_dir = root / "hold"
        self.hold_dir.mkdir()
        self.import_markers = root / "imports.txt"
        self.tree = root / "tree"
        for relative, content in {
            "marked/__init__.py": MARKING_INIT,
            "marked/choices.py": CHOICES,
            "marked/other.py": OTHER,
            "marked/deploy.py": CLASS_API,
            "hold/__init__.py": '"""Holding group."""\n',
            "hold/slot.py": HOLDING,
        }.items():
            path = self.tree / "cookbooks" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        self.environ = isolated_environ(
            root,
            HOLD_DIR=str(self.hold_dir),
            IMPORT_MARKERS=str(self.import_markers),
            CLI_TEST_MARKERS=str(root / "markers.txt"),
        )
        self.write_config()

    def write_config(self, base_dirs: list[Path] | None = None, **extra: object) -> None:
        data = {
            "cookbooks_base_dirs": [str(path) for path in base_dirs or [self.tree]],
            "logs_base_dir": str(self.logs),
            **extra,
        }
        self.config.write_text(yaml.safe_dump(data))

    def command(self, *args: str) -> list[str]:
        return [str(COOKBOOK), "-c", str(self.config), *args]

    def run(self, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            env={**self.environ, **environ},
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.environ,
            stdin=subprocess.DEVNULL,
        )

    def imports(self) -> list[str]:
        return self.import_markers.read_text().splitlines() if self.import_markers.exists() else []

    def complete(self, line: str, **environ: str) -> list[str]:
        """Ask the completions of a command line, as argcomplete's shell function does, cursor at the end."""
        output = self.root / "completions.txt"
        output.unlink(missing_ok=True)
        result = subprocess.run(
            [str(COOKBOOK)],
            capture_output=True,
            text=True,
            env={
                **self.environ,
                "_ARGCOMPLETE": "1",
                "_ARGCOMPLETE_IFS": "\n",
                "COMP_LINE": line,
                "COMP_POINT": str(len(line)),
                "_ARGCOMPLETE_STDOUT_FILENAME": str(output),
                **environ,
            },
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        text = output.read_text()
        return [word.rstrip(" ") for word in text.split("\n")] if text else []  # a single one ends with a space

    def journal_entries(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.journal.read_text().splitlines()]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    assert COOKBOOK.is_file(), f"the cookbook console script is missing next to {sys.executable}"
    return Env(tmp_path)


def wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- nothing of the reference changes ------------------------------------------------------------------------


def test_help_and_listings_are_the_reference_ones_with_the_extras_around(env):
    env.write_config([TREE, TREE2])
    help_text = env.run("--help").stdout
    for flag in ("--json", "--history", "--since", "--user", "--failed", "--locks"):
        assert flag not in help_text
    assert help_text.startswith("usage: cookbook [-h] [-l] [-c CONFIG_FILE] [-d] [-v] [--no-locks]")
    before = env.run("-l"), env.run("-l", "-v")
    assert (before[0].stdout, before[0].stderr) == (LISTING, LISTING_ERRORS)
    env.run("-l", "--json")
    env.run("group1.passing")
    env.complete(f"cookbook -c {env.config} group1.")
    after = env.run("-l"), env.run("-l", "-v")
    assert [(result.stdout, result.stderr) for result in after] == [(result.stdout, result.stderr) for result in before]


def test_extra_flags_after_the_cookbook_belong_to_the_cookbook(env):
    result = env.run("marked.choices", "--json")
    assert result.returncode == 2
    assert "cookbook [GLOBAL_ARGS] marked.choices: error: unrecognized arguments: --json" in result.stderr


# --- shell completion ----------------------------------------------------------------------------------------


def test_completion_offers_global_options_with_the_hidden_ones(env):
    options = env.complete(f"cookbook -c {env.config} --")
    assert {"--list", "--config-file", "--dry-run", "--no-locks", "--json", "--history", "--locks"} <= set(options)
    assert env.complete(f"cookbook -c {env.config} --his") == ["--history"]
    assert env.complete(f"cookbook -c {env.config} --history --since ") == ["30m", "1h", "6h", "1d", "1w"]
    assert env.complete(f"cookbook -c {env.config} --history --user ") == []
    assert env.complete(f"cookbook -c {env.config} --u") == ["--user"]
    zsh = env.complete(f"cookbook -c {env.config} --l", _ARGCOMPLETE_SHELL="zsh")
    assert zsh[1] == "--locks:Show the locks held now, optionally those starting with COOKBOOK."
    assert zsh[0].startswith("--list:List all available cookbooks")


def test_completion_of_names_reads_the_warm_listing_cache_without_importing(env):
    listing = env.run("-l")
    assert listing.returncode == 0
    imported = env.imports()
    assert "cookbooks.marked.choices" in imported
    names = env.complete(f"cookbook -c {env.config} mar")
    assert names == ["marked", "marked.choices", "marked.deploy", "marked.other"]
    assert env.complete(f"cookbook -c {env.config} -l hold") == ["hold", "hold.slot"]
    assert env.imports() == imported  # nothing imported: the names came from the cache
    assert env.complete(f"cookbook -c {env.config} hold", SPICERACK_LISTING_CACHE="off") == ["hold", "hold.slot"]
    assert len(env.imports()) > len(imported)  # asked not to use the cache


def test_completion_of_names_with_a_cold_cache_fills_it_as_a_listing_does(env):
    assert env.complete(f"cookbook -c {env.config} hold.") == ["hold.slot"]
    imported = env.imports()
    assert "cookbooks.marked.other" in imported
    assert env.run("-l").stdout.startswith("cookbooks\n|-- hold\n")
    assert env.imports() == imported  # the listing found the cache the completion filled


def test_completion_of_a_cookbook_imports_only_its_module_and_offers_its_options_and_choices(env):
    options = env.complete(f"cookbook -c {env.config} -d marked.choices -")
    assert {"--mode", "--db-password", "-r", "--reason", "--exit"} <= set(options)
    assert env.complete(f"cookbook -c {env.config} marked.choices --reason x --mode d") == ["drain", "depool"]
    assert env.imports() == ["cookbooks.marked", "cookbooks.marked.choices"] * 2  # one process each
    assert env.complete(f"cookbook -c {env.config} marked.deploy --ca") == ["--canary"]


def test_completion_never_fails_at_the_prompt(env):
    assert env.complete("cookbook -c /nonexistent/config.yaml mar") == []
    assert env.complete(f"cookbook -c {env.config} no.such.cookbook --") == []
    assert env.complete(f"cookbook -c {env.config} marked.deploy.Deploy --") == []
    assert env.complete(f"cookbook -c {env.config} marked --") == []  # a group: its arguments go to its menu


def test_without_completion_argcomplete_is_not_even_imported(env):
    script = (
        "import sys\nfrom spicerack._cookbook import main\n"
        f"code = main(['-c', {str(env.config)!r}, '-l'])\n"
        "print('argcomplete' in sys.modules, 'spicerack._completion' in sys.modules, code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env.environ, check=False, timeout=120
    )
    assert result.stdout.splitlines()[-1] == "False False 0"


# --- JSON listing --------------------------------------------------------------------------------------------


def test_json_listing_documents_cookbooks_groups_and_failures(env):
    env.write_config([TREE, TREE2])
    result = env.run("-l", "--json")
    assert result.returncode == 0
    document = json.loads(result.stdout)
    assert document["schema"] == 1
    assert document["prefix"] == ""
    cookbooks = {entry["name"]: entry for entry in document["cookbooks"]}
    listed = re.findall(r"-- (\S+) \[", LISTING)
    assert sorted(cookbooks) == sorted(listed)
    assert cookbooks["group1.passing"] == {
        "name": "group1.passing",
        "title": "Fixture passing title.",
        "owner_team": "team-one",
        "description": "Fixture passing title.\n\nFixture passing description.",
        "api": "class",
        "path": str(TREE / "cookbooks" / "group1" / "passing.py"),
    }
    assert cookbooks["broken.fine"]["api"] == "module"
    assert cookbooks["broken.fine"]["path"] == str(TREE / "cookbooks" / "broken" / "fine.py")
    assert cookbooks["group1.multi.Second"]["path"] == str(TREE / "cookbooks" / "group1" / "multi.py")
    assert cookbooks["extra.other"]["path"].startswith(str(TREE2))
    groups = {entry["name"]: entry for entry in document["groups"]}
    assert sorted(groups) == ["broken", "extra", "group1", "group2", "group2.sub"]
    assert groups["group1"]["title"] == "Group one"
    assert groups["group1"]["owner_team"] == "team-one"
    assert {(entry["module"], entry["error"]) for entry in document["failed"]} == {
        ("broken.syntax_error", "expected ':' (syntax_error.py, line 3)"),
        ("broken.import_error", "No module named 'module_that_does_not_exist'"),
        ("group1.no_run", "Unable to find run function in module cookbooks.group1.no_run"),
    }
    again = env.run("-l", "--json")
    assert (again.stdout, again.stderr) == (result.stdout, result.stderr)


def test_json_listing_with_a_prefix(env):
    result = env.run("-l", "--json", "marked.d")
    document = json.loads(result.stdout)
    assert [entry["name"] for entry in document["cookbooks"]] == ["marked.deploy"]
    assert document["cookbooks"][0]["owner_team"] == "team-deploy"
    assert document["cookbooks"][0]["description"] == "Deploy things.\n\nThe longer description."
    assert [entry["name"] for entry in document["groups"]] == ["marked"]
    assert document["failed"] == []


def test_json_listing_of_a_tree_without_cookbooks_package_is_one_line(env, tmp_path):
    env.write_config([tmp_path / "empty"])
    result = env.run("-l", "--json")
    assert result.returncode == 1
    assert result.stderr == "cookbook: Failed to import module cookbooks: No module named 'cookbooks'\n"
    assert result.stdout == ""


# --- journal and history -------------------------------------------------------------------------------------


def test_every_run_appends_one_journal_line_with_secrets_hidden(env):
    env.write_config(journal_secret_arguments=["--pin"])
    result = env.run(
        "-d",
        "marked.choices",
        "-r",
        "maintenance",
        "-t",
        "T123",
        "--db-password",
        "hunter2",
        "--pin=1234",
        "--exit",
        "3",
    )
    assert result.returncode == 3
    assert env.run("marked.choices", "--help").returncode == 0
    assert env.run("-l").returncode == 0
    (entry,) = env.journal_entries()
    assert list(entry) == [
        "run_id",
        "parent_run_id",
        "start",
        "end",
        "duration",
        "user",
        "host",
        "pid",
        "cookbook",
        "args",
        "dry_run",
        "reason",
        "task_id",
        "exit_code",
        "status",
        "log_files",
        "config_file",
        "executions",
        "executions_dropped",
        "rerun_of",
    ]
    assert entry["cookbook"] == "marked.choices"
    assert entry["args"] == ["-r", "maintenance", "-t", "T123", "--db-password", "***", "--pin=***", "--exit", "3"]
    assert "hunter2" not in env.journal.read_text()
    assert "1234" not in env.journal.read_text()
    assert (entry["user"], entry["dry_run"], entry["reason"], entry["task_id"]) == (
        "operator",
        True,
        "maintenance",
        "T123",
    )
    assert (entry["exit_code"], entry["status"], entry["parent_run_id"]) == (3, "FAIL", None)
    assert entry["log_files"] == [
        str(env.logs / "marked" / "choices.log"),
        str(env.logs / "marked" / "choices-extended.log"),
    ]
    assert entry["duration"] >= 0
    assert entry["start"] <= entry["end"]


def test_child_runs_name_their_parent_and_the_summary_is_logged_beside_the_stats(env):
    assert env.run("marked.choices", "--exit", "42").returncode == 0
    child, parent = env.journal_entries()
    assert (child["cookbook"], parent["cookbook"]) == ("marked.other", "marked.choices")
    assert child["parent_run_id"] == parent["run_id"]
    assert parent["parent_run_id"] is None
    extended = (env.logs / "marked" / "choices-extended.log").read_text().splitlines()
    summaries = [index for index, line in enumerate(extended) if "__COOKBOOK_SUMMARY__:" in line]
    assert len(summaries) == 2
    for index in summaries:
        assert "__COOKBOOK_STATS__:" in extended[index + 1]
        summary = json.loads(extended[index].split("__COOKBOOK_SUMMARY__:", 1)[1])
        assert summary["run_id"] in (child["run_id"], parent["run_id"])
    assert "__COOKBOOK_SUMMARY__" not in (env.logs / "marked" / "choices.log").read_text()


def test_runs_selected_in_the_menu_are_journaled(env):
    child = pexpect.spawn(
        str(COOKBOOK), ["-c", str(env.config), "marked"], encoding="utf-8", timeout=60, env=env.environ
    )
    try:
        for answer in ("other", "choices --exit 3 --db-password abc", "q"):
            child.expect_exact(">>> ")
            child.sendline(answer)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    entries = env.journal_entries()
    assert [(entry["cookbook"], entry["args"], entry["exit_code"]) for entry in entries] == [
        ("marked.other", [], 0),
        ("marked.choices", ["--exit", "3", "--db-password", "***"], 3),
    ]
    assert all(entry["parent_run_id"] is None for entry in entries)


def test_concurrent_runs_leave_one_well_formed_line_each(env):
    runs = [env.start("marked.choices", "--exit", str(index % 3)) for index in range(20)]
    codes = [process.wait(timeout=120) for process in runs]
    for process in runs:
        process.communicate()
    assert codes == [index % 3 for index in range(20)]
    lines = env.journal.read_text().splitlines()
    assert len(lines) == 20
    entries = [json.loads(line) for line in lines]
    assert sorted(entry["pid"] for entry in entries) == sorted(process.pid for process in runs)
    assert len({entry["run_id"] for entry in entries}) == 20


def test_history_table_filters_and_json(env):
    env.run("marked.choices", "--exit", "1")
    env.run("marked.other")
    env.run("marked.choices", "--exit", "0", USER="someone")
    table = env.run("--history")
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["START", "(UTC)", "DURATION", "EXIT", "USER", "HOST", "COOKBOOK", "RUN", "ID", "ARGS"]
    assert [line.split()[4] for line in lines[1:]] == ["operator", "operator", "someone"]
    assert lines[1].split()[6] == "marked.choices"
    assert lines[1].endswith("--exit 1")
    failed = json.loads(env.run("--history", "--failed", "--json").stdout)
    assert [(entry["cookbook"], entry["exit_code"]) for entry in failed] == [("marked.choices", 1)]
    mine = json.loads(env.run("--history", "--user", "someone", "--json").stdout)
    assert [entry["user"] for entry in mine] == ["someone"]
    prefixed = json.loads(env.run("--json", "--history", "marked.o").stdout)
    assert [entry["cookbook"] for entry in prefixed] == ["marked.other"]
    assert json.loads(env.run("--history", "--since", "1h", "--json").stdout) == json.loads(
        env.run("--history", "--json").stdout
    )


def test_history_since_skips_older_runs_and_corrupt_lines_with_one_warning(env):
    env.logs.mkdir()
    old = {"cookbook": "marked.other", "start": "2020-01-01T00:00:00.000+00:00", "exit_code": 0, "user": "x"}
    env.journal.write_text(json.dumps(old) + '\n{"cookbook": "trunc\nnot json at all\n')
    env.run("marked.other")
    result = env.run("--history", "--since", "2d", "--json")
    assert result.returncode == 0
    assert [entry["start"] > "2021" for entry in json.loads(result.stdout)] == [True]
    assert result.stderr == f"cookbook: warning: skipped 2 corrupt line(s) of the journal {env.journal}\n"
    everything = json.loads(env.run("--history", "--json").stdout)
    assert [entry["user"] for entry in everything] == ["x", "operator"]


def test_history_of_an_unreadable_journal_is_one_line_and_exit_1(env):
    env.journal.mkdir(parents=True)  # a directory where the file should be
    result = env.run("--history")
    assert result.returncode == 1
    assert result.stderr.startswith(f"cookbook: Unable to read the journal {env.journal}:")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "args, message",
    (
        (["--json"], "--json needs -l/--list, --history, --locks or --plan"),
        (["--history", "marked.other", "--exit", "1"], "--history takes at most one PREFIX of cookbook names"),
        (["--locks", "marked", "extra"], "--locks takes at most one PREFIX of cookbook names"),
        (["--history", "--locks"], "--history and --locks cannot be used together"),
        (["-l", "--history"], "-l and --history cannot be used together"),
        (["--failed"], "--failed can be used only with --history"),
        (["--since", "1d", "-l"], "--since can be used only with --history"),
        (["--history", "--since", "yesterday"], "--since: invalid duration 'yesterday'"),
    ),
)
def test_meaningless_combinations_are_one_line_and_exit_2(env, args, message):
    result = env.run(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(f"cookbook: error: {message}")
    assert len(result.stderr.splitlines()) == 1
    assert result.stdout == ""
    assert not env.journal.exists()


# --- locks ---------------------------------------------------------------------------------------------------


def _hold(env: Env, count: int) -> list[subprocess.Popen[str]]:
    runs = [env.start("hold.slot") for _ in range(count)]
    wait_for(lambda: len(list(env.hold_dir.glob("started-*"))) == count, f"{count} runs holding their slot")
    return runs


def _release(env: Env, runs: list[subprocess.Popen[str]]) -> None:
    (env.hold_dir / "release").touch()
    for process in runs:
        process.communicate(timeout=120)
        assert process.returncode == 0


def test_locks_lists_the_local_slots_held_now(env):
    env.write_config(instance_params={"etcd_config": None})
    runs = _hold(env, 2)
    try:
        rows = json.loads(env.run("--locks", "--json").stdout)
        table = env.run("--locks", "hold").stdout
    finally:
        _release(env, runs)
    assert sorted(row["holder"] for row in rows) == sorted(f"operator@{os.uname().nodename} [{p.pid}]" for p in runs)
    assert {(row["key"], row["used"], row["concurrency"], row["ttl"]) for row in rows} == {
        ("/spicerack/locks/cookbooks/hold.slot", 2, 3, 600)
    }
    assert all(0 < row["ttl_left"] <= 600 for row in rows)
    assert table.splitlines()[0].split() == ["KEY", "HOLDER", "SINCE", "(UTC)", "TTL", "LEFT", "USED"]
    assert all(line.endswith("2/3") for line in table.splitlines()[1:])
    assert json.loads(env.run("--locks", "--json").stdout) == []


def test_locks_lists_the_etcd_slots_held_now(env, etcd_server):
    etcd_config = etcd_server.write_config(env.root / "etcd.yaml")
    env.write_config(instance_params={"etcd_config": str(etcd_config)})
    runs = _hold(env, 3)
    try:
        rows = json.loads(env.run("--locks", "--json", "hold.").stdout)
        others = json.loads(env.run("--locks", "--json", "marked").stdout)
        table = env.run("--locks").stdout
        blocked = env.run("--no-locks", "--locks")
    finally:
        _release(env, runs)
    assert sorted(row["holder"] for row in rows) == sorted(f"operator@{os.uname().nodename} [{p.pid}]" for p in runs)
    assert {(row["prefix"], row["name"], row["used"], row["concurrency"]) for row in rows} == {
        ("cookbooks", "hold.slot", 3, 3)
    }
    assert others == []
    assert sum(line.endswith("3/3") for line in table.splitlines()) == 3
    assert blocked.stdout == ""
    assert "locks are disabled" in blocked.stderr
    assert json.loads(env.run("--locks", "--json", "hold.").stdout) == []


def test_locks_with_etcd_unreachable_is_one_line_and_exit_1(env, tmp_path):
    etcd_config = tmp_path / "etcd.yaml"
    etcd_config.write_text(yaml.safe_dump({"host": "127.0.0.1", "port": free_port()}))
    env.write_config(instance_params={"etcd_config": str(etcd_config)})
    result = env.run("--locks")
    assert result.returncode == 1
    assert result.stderr.startswith("cookbook: unable to list the locks: Unable to reach etcd (")
    assert str(etcd_config) in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert result.stdout == ""


def test_locks_with_etcd_not_answering_gives_up_after_the_bounded_timeout(env, tmp_path):
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the backlog, nothing ever answers
        etcd_config = tmp_path / "etcd.yaml"
        etcd_config.write_text(yaml.safe_dump({"host": "127.0.0.1", "port": silent.getsockname()[1]}))
        env.write_config(instance_params={"etcd_config": str(etcd_config)})
        result = env.run("--locks", "--json")
    finally:
        silent.close()
    assert result.returncode == 1
    assert result.stderr.startswith("cookbook: unable to list the locks: Unable to reach etcd (")
    assert "): no answer within 5s. Check the etcd settings in " in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_summary_line_stays_off_the_dry_run_console(env):
    result = env.run("-d", "marked.choices", "--exit", "0")
    assert "__COOKBOOK_STATS__:" in result.stderr + result.stdout  # the reference's DEBUG line is on the console
    assert "__COOKBOOK_SUMMARY__" not in result.stderr + result.stdout
    extended = (env.logs / "marked" / "choices-extended.log").read_text()
    assert "__COOKBOOK_SUMMARY__:" in extended


def test_plan_runs_the_cookbook_in_dry_run_and_prints_its_plan(env):
    result = env.run("--plan", "marked.choices", "--exit", "0")
    assert result.returncode == 0
    header, plan = result.stdout.split("----- PLAN -----\n", 1)
    assert "DRY-RUN: START - Cookbook marked.choices" in result.stderr + header
    assert plan.splitlines()[-1] == "exit_code: 0"
    assert any(line.startswith("sal: START - Cookbook marked.choices") for line in plan.splitlines())


def test_plan_as_json_and_the_cookbook_exit_code(env):
    result = env.run("--plan", "--json", "marked.choices", "--exit", "3")
    assert result.returncode == 3
    plan = json.loads(result.stdout.split("----- PLAN -----\n", 1)[1])
    assert plan[-1]["kind"] == "exit_code"
    assert plan[-1]["code"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plan"], "--plan needs the COOKBOOK to run"),
        (["--plan", "-l"], "--plan cannot be used with -l"),
        (["--plan", "--history"], "--plan cannot be used with --history"),
    ],
)
def test_plan_misuse_is_one_line(env, args, message):
    result = env.run(*args)
    assert result.returncode == 2
    assert result.stderr.strip() == f"cookbook: error: {message}"
    assert "PLAN" not in result.stdout
