"""Black-box tests of the ``cookbook`` command on fixture trees: listing, every lifecycle path, bad input."""

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spicerack import _cookbook, cookbook
from spicerack._log import KeptRotatingFileHandler

FIXTURES = Path(__file__).parent.parent / "fixtures"
TREE = FIXTURES / "cli_tree"
TREE2 = FIXTURES / "cli_tree2"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An isolated environment: HOME, XDG dirs, the markers file and a config file for the fixture tree."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "home" / ".state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))
    monkeypatch.setenv("USER", "operator")
    monkeypatch.delenv("SUDO_USER", raising=False)
    monkeypatch.delenv("SPICERACK_CONFIG", raising=False)
    markers = tmp_path / "markers.txt"
    monkeypatch.setenv("CLI_TEST_MARKERS", str(markers))
    config = tmp_path / "config.yaml"
    logs = tmp_path / "logs"
    write_config(config, {"cookbooks_base_dirs": [str(TREE), str(TREE2)], "logs_base_dir": str(logs)})
    return Env(tmp_path, config, logs, markers)


class Env:
    def __init__(self, root: Path, config: Path, logs: Path, markers: Path) -> None:
        self.root = root
        self.config = config
        self.logs = logs
        self.markers_file = markers

    def markers(self) -> list[str]:
        return self.markers_file.read_text().splitlines() if self.markers_file.exists() else []

    def log(self, group: str, name: str, extended: bool = False) -> str:
        suffix = "-extended" if extended else ""
        return (self.logs.joinpath(*group.split(".")) / f"{name}{suffix}.log").read_text()


def write_config(path: Path, data: object) -> None:
    path.write_text(yaml.safe_dump(data))


def run_main(env: Env, capsys, *args: str) -> tuple[int, str, str]:
    code = _cookbook.main(["-c", str(env.config), *args])
    out, err = capsys.readouterr()
    return code, out, err


# --- listing ---------------------------------------------------------------------------------------------------


def test_list_shows_tree_with_titles_merging_base_dirs(env, capsys):
    code, out, _ = run_main(env, capsys, "-l")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "cookbooks"
    assert "|-- group1: Group one" in lines
    assert "|   |-- group1.passing: Fixture passing title." in lines
    assert "|   `-- group1.with-dash: Dashed module API cookbook" in lines
    assert "|   |-- group1.multi.First: First of two." in lines
    assert "|   |-- group1.multi.Second: Second of two." in lines
    assert "|-- extra: Extra group from a second base dir" in lines
    assert "|   `-- extra.other: Other tree cookbook" in lines
    assert "`-- toplevel: Top level cookbook" in lines
    assert "|-- group2: Group two" in lines
    assert "|       `-- group2.sub.deep: Deep cookbook title." in lines
    assert not any("_private" in line or "_helpers" in line for line in lines)


def test_list_reports_broken_modules_and_keeps_the_rest(env, capsys):
    code, out, err = run_main(env, capsys, "-l")
    assert code == 0
    assert "broken.fine: Fine neighbour" in out
    assert "syntax_error" not in out
    assert "import_error" not in out
    error_lines = err.splitlines()
    assert any(
        line.startswith("Failed to import module cookbooks.broken.syntax_error: SyntaxError") for line in error_lines
    )
    assert any(
        "cookbooks.broken.import_error: ModuleNotFoundError: No module named 'module_that_does_not_exist'" in line
        for line in error_lines
    )
    assert any("group1.no_run" in line and "run()" in line for line in error_lines)
    assert "Traceback" not in err


def test_list_with_prefix_filter(env, capsys):
    code, out, _ = run_main(env, capsys, "-l", "group2")
    assert code == 0
    assert "group2.sub.deep" in out
    assert "group1" not in out
    assert "toplevel" not in out


def test_list_verbose_adds_owner_and_description(env, capsys):
    code, out, _ = run_main(env, capsys, "-l", "-v", "group1")
    assert code == 0
    assert "group1.passing: Fixture passing title. (owner: team-one)" in out
    assert "group1.owned: Owned title. (owner: team-own)" in out
    assert "Fixture passing description." in out


def test_list_with_unknown_prefix_prints_nothing(env, capsys):
    code, out, _ = run_main(env, capsys, "-l", "nonexistent")
    assert code == 0
    assert out == ""


# --- lifecycle -----------------------------------------------------------------------------------------------


def test_passing_cookbook_logs_start_and_end_to_files(env, capsys):
    code, _, err = run_main(env, capsys, "group1.passing")
    assert code == 0
    assert env.markers() == ["run"]
    log = env.log("group1", "passing")
    assert " operator " in log
    assert "[INFO] START - Cookbook group1.passing on fixture-host" in log
    assert "[INFO] passing ran" in log
    assert "[INFO] END (PASS) - Cookbook group1.passing (exit_code=0) on fixture-host" in log
    assert "DRY-RUN" not in log
    extended = env.log("group1", "passing", extended=True)
    assert "passing.py:" in extended
    assert "in act] passing ran" in extended
    assert "START - Cookbook group1.passing on fixture-host" in err


def test_file_path_form_is_accepted(env, capsys):
    code, _, _ = run_main(env, capsys, "group1/passing.py")
    assert code == 0
    assert env.markers() == ["run"]


def test_dry_run_marks_every_line(env, capsys):
    code, _, err = run_main(env, capsys, "-d", "group1.with-dash")
    assert code == 0
    log = env.log("group1", "with-dash")
    for line in log.splitlines():
        assert " DRY-RUN operator " in line
    assert "dashed ran, dry_run=True" in log
    assert "DRY-RUN: START - Cookbook group1.with-dash" in err


def test_failing_cookbook_rolls_back(env, capsys):
    code, _, _ = run_main(env, capsys, "group1.failing")
    assert code == 3
    assert env.markers() == ["run", "rollback"]
    assert "END (FAIL) - Cookbook group1.failing (exit_code=3) on fixture-host" in env.log("group1", "failing")


def test_raising_cookbook_exits_99_with_one_line_and_rolls_back(env, capsys):
    code, _, err = run_main(env, capsys, "group1.raising")
    assert code == cookbook.EXCEPTION_RETCODE == 99
    assert env.markers() == ["run", "rollback"]
    assert "Exception raised while executing cookbook group1.raising: RuntimeError: boom second line" in err
    assert "Traceback" not in err
    assert "Traceback" in env.log("group1", "raising", extended=True)
    assert "END (FAIL) - Cookbook group1.raising (exit_code=99)" in env.log("group1", "raising")


def test_rollback_raising_exits_93(env, capsys):
    code, _, err = run_main(env, capsys, "group1.rollback_raises")
    assert code == cookbook.ROLLBACK_FAIL_RETCODE == 93
    assert env.markers() == ["run", "rollback"]
    assert "ValueError: rollback boom" in err
    assert "END (ERROR) - Cookbook group1.rollback_raises (exit_code=93)" in env.log("group1", "rollback_raises")


def test_get_runner_raising_exits_94_without_start(env, capsys):
    code, _, err = run_main(env, capsys, "group1.init_raises")
    assert code == cookbook.CLASS_FAIL_INIT_RETCODE == 94
    assert env.markers() == []
    assert "ValueError: bad target" in err
    assert "START" not in env.log("group1", "init_raises")


def test_init_success_exits_0_without_sal(env, capsys):
    code, _, err = run_main(env, capsys, "group1.init_success")
    assert code == 0
    assert "nothing to do, all hosts already done" in err
    log = env.log("group1", "init_success")
    assert "START" not in log
    assert "END" not in log


def test_argument_parser_raising_exits_95(env, capsys):
    code, _, err = run_main(env, capsys, "group1.parser_raises")
    assert code == cookbook.GET_ARGS_PARSER_FAIL_RETCODE == 95
    assert "RuntimeError: no parser for you" in err


def test_parse_args_raising_exits_96(env, capsys):
    code, _, err = run_main(env, capsys, "group1.parse_raises", "x")
    assert code == cookbook.PARSE_ARGS_FAIL_RETCODE == 96
    assert "RuntimeError: cannot parse x" in err


def test_argparse_error_exits_2_with_usage(env, capsys):
    code, _, err = run_main(env, capsys, "group1.with-dash", "--exit-code", "notanumber")
    assert code == 2
    assert "usage:" in err
    assert "invalid int value: 'notanumber'" in err


def test_cookbook_without_arguments_rejects_some(env, capsys):
    code, _, err = run_main(env, capsys, "group1.no_args", "unexpected")
    assert code == 2
    assert "unrecognized arguments: unexpected" in err


def test_help_exits_0(env, capsys):
    code, out, _ = run_main(env, capsys, "group1.with-dash", "--help")
    assert code == 0
    assert "--exit-code" in out


def test_interrupted_exits_97_and_rolls_back(env, capsys):
    code, _, err = run_main(env, capsys, "group1.interrupted")
    assert code == cookbook.INTERRUPTED_RETCODE == 97
    assert env.markers() == ["run", "rollback"]
    assert "Ctrl+c pressed" in err
    assert "END (ERROR) - Cookbook group1.interrupted (exit_code=97)" in env.log("group1", "interrupted")


@pytest.mark.parametrize(("name", "expected", "status"), [("sys_exit", 5, "ERROR"), ("sys_exit_zero", 0, "PASS")])
def test_system_exit_gives_its_code(env, capsys, name, expected, status):
    code, _, _ = run_main(env, capsys, f"group1.{name}")
    assert code == expected
    assert f"END ({status}) - Cookbook group1.{name} (exit_code={expected})" in env.log("group1", name)


def test_system_exit_with_a_message_exits_99(env, capsys):
    code, _, err = run_main(env, capsys, "group1.sys_exit_str")
    assert code == 99
    assert "a message" in err


def test_skip_start_sal_logs_done(env, capsys):
    code, _, _ = run_main(env, capsys, "group1.skip_start")
    assert code == 0
    log = env.log("group1", "skip_start")
    assert "DONE (PASS) - Cookbook group1.skip_start (exit_code=0) on fixture-host" in log
    assert " END " not in log


def test_multiple_classes_per_module(env, capsys):
    assert run_main(env, capsys, "group1.multi.Second")[0] == 0
    assert env.markers() == ["multi second"]
    assert "END (PASS) - Cookbook group1.multi.Second" in env.log("group1", "multi.Second")


def test_module_api_exit_code_and_other_base_dir(env, capsys):
    assert run_main(env, capsys, "group1.with-dash", "--exit-code", "4")[0] == 4
    assert run_main(env, capsys, "extra.other")[0] == 7


def test_task_and_reason_arguments(env, capsys):
    code, _, err = run_main(env, capsys, "group1.task")
    assert code == 2
    assert "-t/--task-id" in err
    code, _, err = run_main(env, capsys, "group1.task", "-t", "12345")
    assert code == 2
    assert "invalid task ID '12345'" in err
    assert run_main(env, capsys, "group1.task", "-t", "T12345", "-r", "maintenance")[0] == 0
    assert env.markers() == ["task=T12345 reason=maintenance"]


def test_nested_run_cookbook(env, capsys):
    code, _, _ = run_main(env, capsys, "group1.caller", "group1.failing")
    assert code == 3
    assert env.markers() == ["run", "rollback", "nested returned 3"]
    log = env.log("group1", "caller")
    assert "END (FAIL) - Cookbook group1.failing (exit_code=3)" in log
    assert "END (FAIL) - Cookbook group1.caller (exit_code=3)" in log


def test_nested_run_of_unknown_cookbook_fails_the_caller(env, capsys):
    code, _, err = run_main(env, capsys, "group1.caller", "group1.nope")
    assert code == 99
    assert "Unable to find cookbook group1.nope" in err


# --- bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["group1.nope", "nope", "group1.multi.Third", "broken.syntax_error"])
def test_unknown_cookbook_exits_98(env, capsys, name):
    code, _, err = run_main(env, capsys, name)
    assert code == cookbook.NOT_FOUND_RETCODE == 98
    assert f"Unable to find cookbook {name}" in err


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "group1/../../x", "group1..passing", "~/x"])
def test_cookbook_escaping_the_tree_is_rejected(env, capsys, name):
    code, _, err = run_main(env, capsys, name)
    assert code == 98
    assert f"invalid cookbook name {name!r}" in err
    assert "Traceback" not in err


def test_missing_config_file(env, capsys):
    code = _cookbook.main(["-c", str(env.root / "missing.yaml"), "-l"])
    _, err = capsys.readouterr()
    assert code == 1
    assert err.strip() == f"cookbook: error: configuration file {env.root / 'missing.yaml'} not found"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("cookbooks_base_dirs: [unterminated\n", "is not valid YAML at line"),
        ("- a\n- b\n", "must be a YAML mapping"),
        ("logs_base_dir: /tmp/x\n", "missing required key cookbooks_base_dirs"),
        ("cookbooks_base_dirs: FIXTURE\n", "key cookbooks_base_dirs in CONFIG must be of type list"),
        ("cookbooks_base_dirs: [FIXTURE]\n", "missing required key logs_base_dir in CONFIG"),
        ("cookbooks_base_dirs: [FIXTURE]\nlogs_base_dir: LOGS\ntcpircbot_port: 'x'\n", "key tcpircbot_port"),
        ("cookbooks_base_dirs: [FIXTURE]\nlogs_base_dir: LOGS\ninstance_params: {bogus: 1}\n", "instance_params.bogus"),
        ("cookbooks_base_dirs: [/nonexistent/dir]\nlogs_base_dir: LOGS\n", "/nonexistent/dir does not exist"),
        (
            "cookbooks_base_dirs: [FIXTURE]\nlogs_base_dir: LOGS\ninstance_params: {extender_class: nope.Nope}\n",
            "unable to load instance_params.extender_class nope.Nope",
        ),
    ],
)
def test_bad_config_is_one_line_exit_1(env, capsys, content, message):
    env.config.write_text(content.replace("FIXTURE", str(TREE)).replace("LOGS", str(env.logs)))
    code = _cookbook.main(["-c", str(env.config), "-l"])
    _, err = capsys.readouterr()
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert message.replace("CONFIG", str(env.config)) in err


def test_unknown_top_level_key_is_a_warning(env, capsys):
    write_config(env.config, {"cookbooks_base_dirs": [str(TREE)], "logs_base_dir": str(env.logs), "typo_key": 1})
    code, out, err = run_main(env, capsys, "-l", "toplevel")
    assert code == 0
    assert f"Ignoring unknown key typo_key in {env.config}" in err
    assert "toplevel" in out


def test_spicerack_config_env_var(env, capsys, monkeypatch):
    monkeypatch.setenv("SPICERACK_CONFIG", str(env.config))
    assert _cookbook.main(["-l", "extra"]) == 0
    assert "extra.other" in capsys.readouterr().out


def test_user_config_file_is_used(env, capsys):
    user_config = env.root / "home" / ".config" / "spicerack" / "config.yaml"
    user_config.parent.mkdir(parents=True)
    user_config.write_text(env.config.read_text())
    assert _cookbook.main(["-l", "extra"]) == 0
    assert "extra.other" in capsys.readouterr().out


def test_embedded_default_lists_the_bundled_tree(env, capsys):
    assert _cookbook.main(["-l"]) == 0
    out = capsys.readouterr().out
    assert "examples.hello: Greet the operator (module API example)" in out
    assert "examples.maintenance" in out


def test_embedded_default_runs_and_logs_under_the_user_state_dir(env, capsys):
    assert _cookbook.main(["-d", "examples.hello", "--name", "tester"]) == 0
    log = (env.root / "home" / ".state" / "spicerack" / "logs" / "examples" / "hello.log").read_text()
    assert "DRY-RUN operator" in log
    assert "Hello tester" in log


def test_external_modules_dir_and_extender_class(env, capsys, tmp_path):
    modules = tmp_path / "external"
    modules.mkdir()
    (modules / "my_extender.py").write_text(
        "from spicerack import SpicerackExtenderBase\n\n"
        "class Extender(SpicerackExtenderBase):\n"
        "    def greeting(self):\n"
        "        return f'hello from {self._spicerack.username}'\n"
    )
    tree = tmp_path / "tree"
    (tree / "cookbooks").mkdir(parents=True)
    (tree / "cookbooks" / "uses_extender.py").write_text(
        "import logging\n\n__title__ = 'Uses the extender'\n\n\n"
        "def run(args, spicerack):\n"
        "    logging.getLogger(__name__).info('extender says: %s', spicerack.greeting())\n"
        "    return 0\n"
    )
    write_config(
        env.config,
        {
            "cookbooks_base_dirs": [str(tree)],
            "logs_base_dir": str(env.logs),
            "external_modules_dir": str(modules),
            "instance_params": {"extender_class": "my_extender.Extender"},
        },
    )
    code, _, err = run_main(env, capsys, "uses_extender")
    assert code == 0
    assert "extender says: hello from operator" in err


def test_log_files_rotate_and_keep_old_copies(tmp_path):
    handler = KeptRotatingFileHandler(tmp_path / "x.log", max_bytes=200)
    logger = logging.getLogger("rotation-test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for index in range(50):
            logger.warning("line %03d %s", index, "x" * 40)
    finally:
        logger.removeHandler(handler)
        handler.close()
    files = sorted(tmp_path.iterdir())
    assert len(files) > 5
    content = "".join(path.read_text() for path in files)
    for index in range(50):
        assert f"line {index:03d}" in content


# --- the installed console script ----------------------------------------------------------------------------


def cookbook_script() -> str:
    script = Path(sys.executable).parent / "cookbook"
    assert script.exists(), "the cookbook console script is not installed in this environment"
    return str(script)


def test_console_script_lists_and_runs(env):
    environment = dict(os.environ)
    listing = subprocess.run(
        [cookbook_script(), "-c", str(env.config), "-l"], capture_output=True, text=True, env=environment, check=False
    )
    assert listing.returncode == 0
    assert "group1.passing: Fixture passing title." in listing.stdout
    run = subprocess.run(
        [cookbook_script(), "-c", str(env.config), "group1.failing"],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert run.returncode == 3
    assert "END (FAIL) - Cookbook group1.failing (exit_code=3) on fixture-host" in run.stderr
    assert env.markers() == ["run", "rollback"]


def test_console_script_bad_option_and_help(env):
    bad = subprocess.run([cookbook_script(), "--no-such-option"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert "unrecognized arguments" in bad.stderr or "error:" in bad.stderr
    abbreviated = subprocess.run([cookbook_script(), "--dry", "-l"], capture_output=True, text=True, check=False)
    assert abbreviated.returncode == 2  # allow_abbrev=False: no prefix matching of options
    helped = subprocess.run([cookbook_script(), "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0
    for flag in (
        "-l, --list",
        "-c CONFIG_FILE, --config-file CONFIG_FILE",
        "-d, --dry-run",
        "-v, --verbose",
        "--no-locks",
    ):
        assert flag in helped.stdout


def test_console_script_keyboard_interrupt_mid_run(env, tmp_path):
    tree = tmp_path / "tree"
    (tree / "cookbooks").mkdir(parents=True)
    (tree / "cookbooks" / "sleeper.py").write_text(
        "import time\n\n__title__ = 'Sleeps'\n\n\ndef run(args, spicerack):\n"
        "    print('sleeping', flush=True)\n    time.sleep(30)\n    return 0\n"
    )
    write_config(env.config, {"cookbooks_base_dirs": [str(tree)], "logs_base_dir": str(env.logs)})
    process = subprocess.Popen(
        [cookbook_script(), "-c", str(env.config), "sleeper"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "sleeping"
    process.send_signal(2)  # SIGINT, as Ctrl+C
    _, err = process.communicate(timeout=20)
    assert process.returncode == 97
    assert "Traceback" not in err
    assert "END (ERROR) - Cookbook sleeper (exit_code=97)" in (env.logs / "sleeper.log").read_text()


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_console_script_terminated_mid_run_rolls_back_and_logs_the_end(env, tmp_path, signal_name):
    tree = tmp_path / "tree"
    (tree / "cookbooks").mkdir(parents=True)
    (tree / "cookbooks" / "sleeper.py").write_text(
        "import time\n\nfrom spicerack.cookbook import CookbookBase, CookbookRunnerBase\n\n\n"
        "class Sleeper(CookbookBase):\n    '''Sleeps.'''\n\n"
        "    def get_runner(self, args):\n        return Runner()\n\n\n"
        "class Runner(CookbookRunnerBase):\n    def run(self):\n        print('sleeping', flush=True)\n"
        "        time.sleep(30)\n\n    def rollback(self):\n        print('rolled back', flush=True)\n"
    )
    write_config(env.config, {"cookbooks_base_dirs": [str(tree)], "logs_base_dir": str(env.logs)})
    process = subprocess.Popen(
        [cookbook_script(), "-c", str(env.config), "--no-locks", "sleeper"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "sleeping"
    process.send_signal(getattr(signal, signal_name))
    out, err = process.communicate(timeout=20)
    assert process.returncode == 97
    assert "rolled back" in out
    assert "Traceback" not in err
    log = (env.logs / "sleeper.log").read_text()
    assert f"Received {signal_name}, cookbook sleeper interrupted" in log
    assert "END (ERROR) - Cookbook sleeper (exit_code=97)" in log


def test_a_log_call_with_wrong_arguments_is_kept_readable(env, capsys, tmp_path):
    tree = tmp_path / "tree"
    (tree / "cookbooks").mkdir(parents=True)
    (tree / "cookbooks" / "badlog.py").write_text(
        "import logging\n\n__title__ = 'Bad log call'\n\n\ndef run(args, spicerack):\n"
        "    logging.getLogger(__name__).info('restarted %s on %s', 'nginx')\n    return 0\n"
    )
    write_config(env.config, {"cookbooks_base_dirs": [str(tree)], "logs_base_dir": str(env.logs)})
    code, _, err = run_main(env, capsys, "badlog")
    assert code == 0
    assert "Logging error" not in err
    assert "Traceback" not in err
    assert "restarted %s on %s (unformattable arguments ('nginx',)" in (env.logs / "badlog.log").read_text()
