"""Black-box tests of the ``cookbook`` command, run as real processes on fixture trees.

The expected outputs are those printed by the reference runner (v13.1) on the same trees: listing, ``--help``,
argument errors, console and log file lines.
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

COOKBOOK = Path(sys.executable).with_name("cookbook")
FIXTURES = Path(__file__).parent.parent / "fixtures"
TREE = FIXTURES / "cli_tree"
TREE2 = FIXTURES / "cli_tree2"

LISTING = """cookbooks
|-- broken
|   `-- broken.fine [unowned]
|-- extra
|   `-- extra.other [unowned]
|-- group1
|   |-- group1.caller [team-one]
|   |-- group1.failing [team-one]
|   |-- group1.init_raises [team-one]
|   |-- group1.init_success [team-one]
|   |-- group1.interrupted [team-one]
|   |-- group1.multi.First [team-one]
|   |-- group1.multi.Second [team-one]
|   |-- group1.no_args [team-one]
|   |-- group1.owned [team-own]
|   |-- group1.parse_raises [team-one]
|   |-- group1.parser_raises [team-one]
|   |-- group1.passing [team-one]
|   |-- group1.raising [team-one]
|   |-- group1.rollback_raises [team-one]
|   |-- group1.skip_start [team-one]
|   |-- group1.sys_exit [team-one]
|   |-- group1.sys_exit_str [team-one]
|   |-- group1.sys_exit_zero [team-one]
|   |-- group1.task [team-one]
|   `-- group1.with-dash [team-one]
|-- group2
|   `-- group2.sub
|       `-- group2.sub.deep [team-two]
`-- toplevel [unowned]
"""
LISTING_VERBOSE_HEAD = """cookbooks
|-- broken: Broken modules
|   `-- broken.fine: Fine neighbour [unowned]
|-- extra: Extra group from a second base dir
|   `-- extra.other: Other tree cookbook [unowned]
|-- group1: Group one
|   |-- group1.caller: Nested caller. [team-one]
"""
LISTING_VERBOSE_TAIL = """|   `-- group1.with-dash: Dashed module API cookbook [team-one]
|-- group2: Group two
|   `-- group2.sub: Sub group
|       `-- group2.sub.deep: Deep cookbook title. [team-two]
`-- toplevel: Top level cookbook [unowned]
"""
LISTING_ERRORS = """Failed to import module cookbooks.broken.syntax_error: expected ':' (syntax_error.py, line 3)
Failed to import module cookbooks.broken.import_error: No module named 'module_that_does_not_exist'
Unable to find run function in module cookbooks.group1.no_run
"""
TASK_USAGE = "usage: cookbook [GLOBAL_ARGS] group1.task [-h] -t TASK_ID [-r REASON]\n"
TASK_HELP = (
    TASK_USAGE
    + """
Task and reason.

options:
  -h, --help            show this help message and exit
  -t TASK_ID, --task-id TASK_ID
                        The Phabricator task ID (e.g. T12345). (default: None)
  -r REASON, --reason REASON
                        Administrative Reason. The current username and
                        originating host are automatically added. (default:
                        None)

Cookbook owner team: team-one
"""
)


def isolated_environ(root: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``cookbook`` process whose home, caches, configuration and state are under ``root``."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root / "home"),
        "XDG_CACHE_HOME": str(root / "home" / ".cache"),
        "XDG_CONFIG_HOME": str(root / "home" / ".config"),
        "XDG_STATE_HOME": str(root / "home" / ".state"),
        "USER": "operator",
        "COLUMNS": "80",
        **extra,
    }


class Env:
    """An isolated home, a configuration file and the markers the fixture cookbooks write."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "config.yaml"
        self.logs = root / "logs"
        self.markers_file = root / "markers.txt"
        self.environ = isolated_environ(root, CLI_TEST_MARKERS=str(self.markers_file))
        self.write_config([TREE, TREE2])

    def write_config(self, base_dirs: list[Path], **extra: object) -> None:
        data = {"cookbooks_base_dirs": [str(path) for path in base_dirs], "logs_base_dir": str(self.logs), **extra}
        self.config.write_text(yaml.safe_dump(data))

    def run(self, *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
        """Run ``cookbook -c CONFIG ARGS``; ``options`` go to :py:func:`subprocess.run` (e.g. ``preexec_fn``)."""
        return subprocess.run(
            [str(COOKBOOK), "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            env=self.environ,
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
            **options,
        )

    def markers(self) -> list[str]:
        return self.markers_file.read_text().splitlines() if self.markers_file.exists() else []

    def log(self, group: str, name: str, extended: bool = False) -> str:
        suffix = "-extended" if extended else ""
        return (self.logs.joinpath(*group.split(".")) / f"{name}{suffix}.log").read_text()


@pytest.fixture
def env(tmp_path: Path) -> Env:
    assert COOKBOOK.is_file(), f"the cookbook console script is missing next to {sys.executable}"
    return Env(tmp_path)


def write_tree(base: Path, files: dict[str, str]) -> Path:
    for relative, content in files.items():
        path = base / "cookbooks" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return base


# --- listing -------------------------------------------------------------------------------------------------


def test_listing_shows_names_and_owners_and_reports_import_errors(env):
    result = env.run("-l")
    assert result.returncode == 0
    assert result.stdout == LISTING
    assert result.stderr == LISTING_ERRORS


def test_verbose_listing_shows_titles_then_owners(env):
    result = env.run("-l", "-v")
    assert result.returncode == 0
    assert result.stdout.startswith(LISTING_VERBOSE_HEAD)
    assert result.stdout.endswith(LISTING_VERBOSE_TAIL)
    assert "|   |-- group1.multi.First: First of two. [team-one]\n" in result.stdout
    assert "|   |-- group1.owned: Owned title. [team-own]\n" in result.stdout
    assert len(result.stdout.splitlines()) == len(LISTING.splitlines())


def test_listing_filter_is_a_prefix_of_full_names(env):
    result = env.run("-l", "group1.m")
    assert (
        result.stdout
        == "cookbooks\n`-- group1\n    |-- group1.multi.First [team-one]\n    `-- group1.multi.Second [team-one]\n"
    )
    assert env.run("-l", "nothing.here").stdout == ""


def test_titles_come_from_title_or_first_docstring_line_and_owners_are_inherited(env, tmp_path):
    tree = write_tree(
        tmp_path / "tree",
        {
            "team/__init__.py": '"""Team group.\n\nMore text."""\n__owner_team__ = "Team A"\n',
            "team/sub/__init__.py": "",
            "team/sub/mod.py": '"""Module docstring title.\n\nDescription."""\n'
            "def run(args, spicerack):\n    return 0\n",
            "team/titled.py": '"""Docstring."""\n__title__ = "Explicit title\\nsecond line"\n'
            "def run(args, spicerack):\n    return 0\n",
            "team/blank.py": '"""\nTitle on line two."""\nfrom spicerack.cookbook import CookbookBase\n'
            "class Blank(CookbookBase):\n    '''\n    Title on line two.'''\n    def get_runner(self, args):\n"
            "        raise RuntimeError\n",
            "nodoc.py": "def run(args, spicerack):\n    return 0\n",
        },
    )
    env.write_config([tree])
    result = env.run("-l", "-v")
    assert result.returncode == 0
    assert result.stdout == (
        "cookbooks\n"
        "|-- nodoc: UNKNOWN (unable to detect title) [unowned]\n"
        "`-- team: Team group.\n"
        "    |-- team.blank:  [Team A]\n"
        "    |-- team.sub: -\n"
        "    |   `-- team.sub.mod: Module docstring title. [Team A]\n"
        "    `-- team.titled: Explicit title [Team A]\n"
    )


def test_warm_listing_prints_the_same_bytes_without_importing(env, tmp_path):
    tree = write_tree(
        tmp_path / "tree",
        {
            "grp/__init__.py": '"""Group."""\n',
            "grp/noisy.py": (
                '"""Noisy."""\nimport logging, os\n'
                "open(os.environ['CLI_TEST_MARKERS'], 'a').write('imported\\n')\n"
                "logging.getLogger('lib').warning('warned at import')\n"
                "print('printed at import')\n"
                "def run(args, spicerack):\n    return 0\n"
            ),
            "grp/broken.py": "import no_such_module_anywhere\n",
        },
    )
    env.write_config([tree])
    first = env.run("-l", "-v")
    second = env.run("-l", "-v")
    assert (second.stdout, second.stderr) == (first.stdout, first.stderr)
    assert first.stdout == "printed at import\ncookbooks\n`-- grp: Group.\n    `-- grp.noisy: Noisy. [unowned]\n"
    assert first.stderr == (
        "warned at import\nFailed to import module cookbooks.grp.broken: No module named 'no_such_module_anywhere'\n"
    )
    assert env.markers() == ["imported"]  # the second listing came from the cache

    noisy = tree / "cookbooks" / "grp" / "noisy.py"
    noisy.write_text(noisy.read_text().replace('"""Noisy."""', '"""Changed."""'))
    third = env.run("-l", "-v")
    assert "grp.noisy: Changed. [unowned]" in third.stdout
    assert env.markers() == ["imported", "imported"]


# --- help and arguments --------------------------------------------------------------------------------------


def test_help_has_the_reference_program_name_injected_arguments_and_owner_epilog(env):
    result = env.run("group1.task", "--help")
    assert result.returncode == 0
    assert result.stdout == TASK_HELP


def test_help_of_a_module_api_cookbook_without_parser(env):
    result = env.run("toplevel", "-h")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: cookbook [GLOBAL_ARGS] toplevel [-h]\n")
    assert result.stdout.endswith("\nCookbook owner team: unowned\n")


@pytest.mark.parametrize(
    "args, error",
    (
        (["-t", "T1234567"], "argument -t/--task-id: invalid <lambda> value: 'T1234567'"),
        (["-t", "12345"], "argument -t/--task-id: invalid <lambda> value: '12345'"),
        (["-t", "T1", "-r", ""], "argument -r/--reason: The administrative reason cannot be empty."),
        (
            ["-t", "T1", "-r", 'a "b"'],
            "argument -r/--reason: The administrative reason cannot contain double quotes, got 'a \"b\"'.",
        ),
        ([], "the following arguments are required: -t/--task-id"),
    ),
)
def test_invalid_task_id_or_reason_exit_2_with_argparse_message(env, args, error):
    result = env.run("group1.task", *args)
    assert result.returncode == 2
    assert result.stderr.endswith(f"{TASK_USAGE}cookbook [GLOBAL_ARGS] group1.task: error: {error}\n")
    assert env.markers() == []


def test_valid_task_and_reason_reach_the_cookbook(env):
    result = env.run("group1.task", "-r", "maintenance", "-t", "T123456")
    assert result.returncode == 0
    assert env.markers() == ["task=T123456 reason=maintenance"]


def test_a_directory_path_is_not_a_cookbook(env):
    result = env.run("group1/passing")
    assert result.returncode == 98
    assert "Unable to find cookbook group1/passing\n" in result.stderr
    assert result.stderr.endswith("not file paths: did you mean group1.passing?\n")  # a hint after the error


def test_a_file_path_is_converted_to_the_dotted_name(env):
    result = env.run("group1/passing.py")
    assert result.returncode == 0
    assert "END (PASS) - Cookbook group1.passing (exit_code=0) on fixture-host" in result.stderr


# --- logging -------------------------------------------------------------------------------------------------


@pytest.fixture
def noisy_env(env, tmp_path):
    tree = write_tree(
        tmp_path / "tree",
        {
            "grp/__init__.py": '"""Group."""\n',
            "grp/other.py": (
                "import logging\nlogging.getLogger('somelib').info('info at import')\n"
                "logging.getLogger('somelib').warning('warning at import')\n"
                "def run(args, spicerack):\n    return 0\n"
            ),
            "grp/boom.py": (
                '"""Boom."""\nimport logging\nlogger = logging.getLogger(__name__)\n'
                "def run(args, spicerack):\n    logger.debug('debug line')\n    logger.info('info line')\n"
                "    raise RuntimeError('kaboom')\n"
            ),
        },
    )
    env.write_config([tree])
    return env


def test_import_time_logs_before_the_cookbook_is_loaded_show_only_warnings_bare(noisy_env):
    result = noisy_env.run("grp.boom")
    assert result.returncode == 99
    lines = result.stderr.splitlines()
    assert lines[0] == "warning at import"
    assert "info at import" not in result.stderr
    assert "debug line" not in result.stderr
    assert lines[1:3] == ["START - Cookbook grp.boom", "info line"]
    assert "Exception raised while executing cookbook grp.boom:" in lines
    assert "Traceback (most recent call last):" in lines
    assert "RuntimeError: kaboom" in lines
    assert lines[-1] == "END (FAIL) - Cookbook grp.boom (exit_code=99)"


def test_dry_run_console_shows_debug_and_tracebacks_with_prefix(noisy_env):
    result = noisy_env.run("-d", "grp.boom")
    assert result.returncode == 99
    lines = result.stderr.splitlines()
    assert lines[:5] == [
        "warning at import",
        "DRY-RUN: Executing cookbook grp.boom with args: []",
        "DRY-RUN: START - Cookbook grp.boom",
        "DRY-RUN: debug line",
        "DRY-RUN: info line",
    ]
    assert "DRY-RUN: Exception raised while executing cookbook grp.boom:" in lines
    assert "Traceback (most recent call last):" in lines
    assert re.fullmatch(r"DRY-RUN: __COOKBOOK_STATS__:name=grp\.boom,exit_code=99,duration=\d+\.\d{3}", lines[-2])
    assert lines[-1] == "DRY-RUN: END (FAIL) - Cookbook grp.boom (exit_code=99)"


def test_log_files_name_the_logger_and_hold_the_stats_line(noisy_env):
    noisy_env.run("grp.boom")
    line_start = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} operator \d+ "
    extended = noisy_env.log("grp", "boom", extended=True).splitlines()
    assert re.fullmatch(
        line_start + r"\[DEBUG spicerack\._cookbook:\d+ in main\] Executing cookbook grp\.boom .*", extended[0]
    )
    assert re.fullmatch(
        line_start + r"\[DEBUG spicerack\._cookbook:\d+ in log_settings\] Configuration file: .*config\.yaml",
        extended[1],
    )
    assert re.fullmatch(
        line_start + r"\[DEBUG spicerack\._cookbook:\d+ in log_settings\] Distributed locks are off: no etcd_config .*",
        extended[2],
    )
    assert re.fullmatch(
        line_start + r"\[INFO spicerack_sal_announce:\d+ in log_task_start\] START - Cookbook grp\.boom", extended[3]
    )
    assert re.fullmatch(line_start + r"\[DEBUG cookbooks\.grp\.boom:5 in run\] debug line", extended[4])
    assert any(
        re.fullmatch(
            line_start + r"\[DEBUG spicerack\._menu:\d+ in run\] __COOKBOOK_STATS__:name=grp\.boom,exit_code=99,"
            r"duration=\d+\.\d{3}",
            line,
        )
        for line in extended
    )
    main_log = noisy_env.log("grp", "boom")
    assert re.search(line_start + r"\[INFO\] START - Cookbook grp\.boom\n", main_log)
    assert "debug line" not in main_log
    assert "__COOKBOOK_STATS__" not in main_log


# --- lifecycle -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, code, markers",
    (
        ("group1.passing", 0, ["run"]),
        ("group1.failing", 3, ["run", "rollback"]),
        ("group1.raising", 99, ["run", "rollback"]),
        ("group1.rollback_raises", 93, ["run", "rollback"]),
        ("group1.init_raises", 94, []),
        ("group1.parser_raises", 95, []),
        ("group1.sys_exit", 5, ["run", "rollback"]),
        ("group1.sys_exit_zero", 0, ["run"]),
        ("group1.sys_exit_str", 99, ["run", "rollback"]),
        ("group1.init_success", 0, []),
    ),
)
def test_reserved_and_cookbook_exit_codes(env, name, code, markers):
    result = env.run(name)
    assert result.returncode == code, result.stderr
    assert env.markers() == markers


def test_nested_cookbook_runs_in_the_same_process(env):
    result = env.run("group1.caller", "group1.passing")
    assert result.returncode == 0
    assert env.markers() == ["run", "nested returned 0"]
    assert "END (PASS) - Cookbook group1.passing (exit_code=0) on fixture-host" in result.stderr
    assert result.stderr.rstrip().endswith("END (PASS) - Cookbook group1.caller (exit_code=0)")


def test_nested_cookbook_not_found_fails_the_caller(env):
    result = env.run("group1.caller", "group1.missing")
    assert result.returncode == 99
    assert "SpicerackError: Unable to find cookbook group1.missing" in result.stderr


def test_unknown_instance_params_are_reported_like_the_reference(env):
    env.write_config([TREE], instance_params={"invalid": True})
    result = env.run("group1.passing")
    assert result.returncode == 1
    assert result.stderr.startswith("Unable to instantiate Spicerack, check your configuration: ")


def test_empty_base_dirs_are_reported_like_the_reference(env):
    env.write_config([])
    result = env.run("-l")
    assert result.returncode == 1
    assert (
        result.stderr
        == "No cookbooks paths are specified in the `cookbooks_base_dirs` key of the configuration file.\n"
    )


@pytest.mark.parametrize("args", [("group1.passing",), ("-l",), ("-l", "-v")])
def test_trees_without_a_cookbooks_package_are_one_line_exit_98(env, tmp_path, args):
    empty = tmp_path / "empty"
    empty.mkdir()
    env.write_config([empty])
    result = env.run(*args)
    assert result.returncode == 98
    assert result.stdout == ""
    assert result.stderr == "Failed to import module cookbooks: No module named 'cookbooks'\n"


def test_a_log_directory_that_cannot_be_created_is_one_line_and_nothing_runs(env, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    env.write_config([TREE], logs_base_dir=str(blocker / "logs"))
    result = env.run("group1.passing")
    assert result.returncode == 1
    last_line = result.stderr.splitlines()[-1]  # after the import errors of group1's other modules
    assert last_line.startswith("Not running cookbook group1.passing without an audit trail, unable to create ")
    assert last_line.endswith(": Not a directory")
    assert "Traceback" not in result.stderr
    assert env.markers() == []


def test_without_any_config_file_the_bundled_tree_is_used(env):
    result = subprocess.run(
        [str(COOKBOOK), "-l"], capture_output=True, text=True, env=env.environ, check=False, timeout=120
    )
    assert result.returncode == 0
    assert result.stdout.startswith("cookbooks\n")
    assert "examples" in result.stdout


def test_run_cookbook_with_confirm_asks_after_a_failure(env, tmp_path):
    """run_cookbook(confirm=True): on failure wmflib asks retry/skip/abort; skip lets the caller go on."""
    import pexpect

    tree = write_tree(
        tmp_path / "tree",
        {
            "grp/__init__.py": "",
            "grp/fails.py": (
                "import os\ndef run(args, spicerack):\n"
                "    open(os.environ['CLI_TEST_MARKERS'], 'a').write('fails ran\\n')\n    return 3\n"
            ),
            "grp/caller.py": (
                "import os\ndef run(args, spicerack):\n"
                "    code = spicerack.run_cookbook('grp.fails', [], confirm=True)\n"
                "    open(os.environ['CLI_TEST_MARKERS'], 'a').write(f'caller got {code}\\n')\n"
            ),
        },
    )
    env.write_config([tree])
    child = pexpect.spawn(
        str(COOKBOOK), ["-c", str(env.config), "grp.caller"], env=env.environ, encoding="utf-8", timeout=60
    )
    try:
        question = 'completely "abort" the execution.\r\n> '
        failure = (
            "Failed to run spicerack.Spicerack.run_cookbook.<locals>.run_cookbook_item: run_cookbook returned exit "
            "code 3 when running cookbook grp.fails with args: []"
        )
        child.expect_exact(question)
        assert failure in str(child.before).replace("\r\n", "\n")
        child.sendline("retry")
        child.expect_exact(question)
        child.sendline("skip")
        child.expect(pexpect.EOF)
        output = str(child.before).replace("\r\n", "\n")
        child.close()
    finally:
        if child.isalive():
            child.terminate(force=True)
    assert child.exitstatus == 0
    assert "END (PASS) - Cookbook grp.caller (exit_code=0)" in output
    assert env.markers() == ["fails ran", "fails ran", "caller got None"]
