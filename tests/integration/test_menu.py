"""The interactive menu, driven through the real ``cookbook`` command in a pseudo-terminal."""

import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

COOKBOOK = Path(sys.executable).with_name("cookbook")
MENU_TREE = Path(__file__).parent.parent / "fixtures" / "menu_tree"
PROMPT = ">>> "
TIMEOUT = 30  # seconds, only so that a hanging menu fails the test instead of blocking the suite
Spawn = Callable[..., "MenuSession"]


class MenuSession:
    """A ``cookbook`` process showing its menu in a pseudo-terminal."""

    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child

    def read_menu(self) -> str:
        """Wait for the prompt and return everything printed since the previous one."""
        self.child.expect_exact(PROMPT)
        return str(self.child.before).replace("\r\n", "\n")

    def answer(self, line: str) -> str:
        """Type a line at the prompt and return what is printed up to the next prompt."""
        self.child.sendline(line)
        return self.read_menu()

    def interrupt(self) -> None:
        """Press Ctrl+C."""
        self.child.sendintr()

    def end_of_input(self) -> None:
        """Press Ctrl+D."""
        self.child.sendeof()

    def wait_exit(self) -> tuple[str, int]:
        """Wait for the process to end; return its last output and exit code."""
        self.child.expect(pexpect.EOF)
        output = str(self.child.before).replace("\r\n", "\n")
        self.child.close()
        return output, self.child.exitstatus


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A configuration with only the menu fixture tree, logging under tmp_path."""
    assert COOKBOOK.is_file(), f"the cookbook console script is missing next to {sys.executable}"
    path = tmp_path / "config.yaml"
    path.write_text(f"cookbooks_base_dirs: [{MENU_TREE}]\nlogs_base_dir: {tmp_path / 'logs'}\n", encoding="utf-8")
    return path


@pytest.fixture
def child_env(tmp_path: Path) -> dict[str, str]:
    """The environment of the cookbook processes: local lock files go under tmp_path, not the user's state dir."""
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}


@pytest.fixture
def spawn(config_file: Path, child_env: dict[str, str]) -> Iterator[Spawn]:
    """Start ``cookbook -c CONFIG ARGS...`` in a pseudo-terminal; the processes left are killed at the end."""
    children: list[pexpect.spawn] = []

    def start(*args: str) -> MenuSession:
        child = pexpect.spawn(
            str(COOKBOOK),
            ["-c", str(config_file), *args],
            encoding="utf-8",
            timeout=TIMEOUT,
            dimensions=(50, 200),
            env=child_env,
        )
        children.append(child)
        return MenuSession(child)

    yield start
    for child in children:
        if child.isalive():
            child.terminate(force=True)


def test_top_menu_lists_the_tree_root(spawn: Spawn) -> None:
    """With no COOKBOOK the menu of the whole tree is shown, with q to quit."""
    menu = spawn()
    output = menu.read_menu()
    assert "#--- cookbooks args=[] ---#\n[0/5] menutest: Menu test group\nq - Quit\nh - Help\n" in output
    menu.child.sendline("q")
    assert menu.wait_exit()[1] == 0


def test_navigate_into_groups_and_back(spawn: Spawn) -> None:
    """Groups open their menu, b goes back, and group statuses count the cookbooks run below them."""
    menu = spawn()
    menu.read_menu()
    output = menu.answer("menutest")
    assert "#--- Menu test group args=[] ---#" in output
    assert "[0/1] nested: Nested test group\n" in output
    assert "b - Back to parent menu\nh - Help\n" in output
    assert "q - Quit" not in output
    output = menu.answer("nested")
    assert "#--- Nested test group args=[] ---#\n[NOTRUN] inner: Inner cookbook\nb - Back to parent menu\n" in output
    output = menu.answer("inner")
    assert "inner cookbook ran" in output
    assert "[PASS] inner: Inner cookbook" in output
    output = menu.answer("b")
    assert "[DONE] nested: Nested test group" in output
    output = menu.answer("passing")
    assert "[PASS] passing: Always passes" in output
    output = menu.answer("b")
    assert "[2/5] menutest: Menu test group\nq - Quit\n" in output
    output = menu.answer("menutest")  # statuses are kept for the whole session
    assert "[DONE] nested: Nested test group" in output
    assert "[PASS] passing: Always passes" in output
    menu.answer("b")
    menu.child.sendline("q")
    assert menu.wait_exit()[1] == 0


def test_pass_fail_and_interrupted_statuses_and_logs(spawn: Spawn, tmp_path: Path) -> None:
    """A group given on the command line is the top menu; run results show as statuses and in its log files."""
    menu = spawn("menutest")
    output = menu.read_menu()
    assert "#--- Menu test group args=[] ---#" in output
    assert "q - Quit\nh - Help\n" in output
    assert "b - Back" not in output
    assert "[NOTRUN] passing: Always passes" in output

    output = menu.answer("passing")
    assert "END (PASS) - Cookbook menutest.passing (exit_code=0)" in output
    assert "[PASS] passing: Always passes" in output

    output = menu.answer("failing")
    assert "END (FAIL) - Cookbook menutest.failing (exit_code=1)" in output
    assert "[FAIL] failing: Always fails" in output

    menu.child.sendline("waiting")
    menu.child.expect_exact("waiting for Ctrl+C")
    menu.interrupt()
    output = menu.read_menu()
    assert "Ctrl+c pressed" in output
    assert "END (ERROR) - Cookbook menutest.waiting (exit_code=97)" in output
    assert "[ERROR] waiting: Waits for Ctrl+C" in output
    assert "[PASS] passing: Always passes" in output
    assert "[FAIL] failing: Always fails" in output
    assert "[NOTRUN] echo_args: Logs its arguments" in output
    assert "[0/1] nested: Nested test group" in output

    menu.child.sendline("q")
    assert menu.wait_exit()[1] == 0

    for log_name in ("menutest.log", "menutest-extended.log"):
        log = (tmp_path / "logs" / log_name).read_text(encoding="utf-8")
        for line in (
            "START - Cookbook menutest.passing",
            "passing cookbook ran",
            "END (PASS) - Cookbook menutest.passing (exit_code=0)",
            "START - Cookbook menutest.failing",
            "END (FAIL) - Cookbook menutest.failing (exit_code=1)",
            "START - Cookbook menutest.waiting",
            "END (ERROR) - Cookbook menutest.waiting (exit_code=97)",
        ):
            assert line in log, f"{line!r} missing from {log_name}"
    assert "passing cookbook ran" in (tmp_path / "logs" / "menutest-extended.log").read_text(encoding="utf-8")


def test_cookbooks_run_from_the_root_menu_log_into_its_files(spawn: Spawn, tmp_path: Path) -> None:
    """The whole tree's menu logs into logs_base_dir/cookbooks.log, also for cookbooks of sub-groups."""
    menu = spawn()
    menu.read_menu()
    menu.answer("menutest")
    menu.answer("nested")
    menu.answer("inner")
    menu.answer("b")
    menu.answer("b")
    menu.child.sendline("q")
    assert menu.wait_exit()[1] == 0
    log = (tmp_path / "logs" / "cookbooks.log").read_text(encoding="utf-8")
    assert "START - Cookbook menutest.nested.inner" in log
    assert "END (PASS) - Cookbook menutest.nested.inner (exit_code=0)" in log


def test_arguments_typed_after_a_name(spawn: Spawn) -> None:
    """Typed arguments replace the inherited ones for one selection; a group passes its arguments on."""
    menu = spawn("menutest", "from-cli")
    assert "#--- Menu test group args=['from-cli'] ---#" in menu.read_menu()
    assert "echo_args got ['from-cli']" in menu.answer("echo_args")
    assert "echo_args got ['typed', 'two words']" in menu.answer("echo_args typed 'two words'")
    assert "echo_args got ['from-cli']" in menu.answer("echo_args")

    output = menu.answer("nested group-arg")
    assert "#--- Nested test group args=['group-arg'] ---#" in output
    output = menu.answer("inner")  # inner takes no arguments: argparse refuses the group's one
    assert "unrecognized arguments: group-arg" in output
    assert "[NOTRUN] inner: Inner cookbook" in output
    output = menu.answer("inner")
    assert "unrecognized arguments: group-arg" in output
    menu.answer("b")
    output = menu.answer("nested")
    assert "#--- Nested test group args=['from-cli'] ---#" in output
    menu.answer("b")
    menu.child.sendline("q")
    assert menu.wait_exit()[1] == 0


TOP_MENU = "#--- cookbooks args=[] ---#\n[0/5] menutest: Menu test group\nq - Quit\nh - Help\n"
GROUP_MENU = (
    "#--- Menu test group args=[] ---#\n"
    "[NOTRUN] echo_args: Logs its arguments\n"
    "[NOTRUN] failing: Always fails\n"
    "[0/1] nested: Nested test group\n"
    "[NOTRUN] passing: Always passes\n"
    "[NOTRUN] waiting: Waits for Ctrl+C\n"
    "b - Back to parent menu\n"
    "h - Help\n"
)


def test_bad_input_shows_the_reference_message_and_the_menu_again(spawn: Spawn) -> None:
    """Unknown names, misplaced commands and broken quoting print the reference's message; empty input redraws."""
    menu = spawn()
    assert menu.read_menu() == TOP_MENU
    for answer in ("nope", "b", "menutest 'unbalanced", "passing"):
        assert menu.answer(answer) == f"{answer}\n==> Invalid input <==\n{TOP_MENU}"
    assert menu.answer("") == f"\n{TOP_MENU}"

    output = menu.answer("h")
    assert output.startswith("h\nCookbooks interactive menu help\n\n")
    assert "  ('NOTRUN', 'PASS', 'FAIL', 'ERROR')\n" in output
    assert output.endswith(f"  Pressing Ctrl+c/d while in a menu is equivalent to select 'b' or 'q'.\n\n{TOP_MENU}")

    assert menu.answer("menutest") == f"menutest\n{GROUP_MENU}"
    assert menu.answer("q") == f"q\n==> Invalid input <==\n{GROUP_MENU}"
    assert menu.answer("b") == f"b\n{TOP_MENU}"
    menu.child.sendline("q")
    assert menu.wait_exit()[1] == 0


def test_ctrl_c_and_ctrl_d_at_the_prompt_leave_the_menu(spawn: Spawn) -> None:
    """At the prompt Ctrl+C or Ctrl+D prints QUIT and leaves the menu: back to the parent, or the program at the top."""
    menu = spawn()
    menu.read_menu()
    menu.answer("menutest")
    menu.interrupt()
    assert menu.read_menu().endswith(f"QUIT\n{TOP_MENU}")
    menu.answer("menutest")
    menu.end_of_input()
    assert menu.read_menu().endswith(f"QUIT\n{TOP_MENU}")
    menu.interrupt()
    output, exit_code = menu.wait_exit()
    assert output.endswith("QUIT\n")
    assert exit_code == 0


def test_ctrl_c_while_a_cookbook_runs_marks_it_error(spawn: Spawn) -> None:
    """Ctrl+C during a run interrupts the cookbook (exit code 97, status ERROR) and shows the menu again."""
    menu = spawn("menutest")
    menu.read_menu()
    menu.child.sendline("waiting")
    menu.child.expect_exact("waiting for Ctrl+C")
    menu.interrupt()
    output = menu.read_menu()
    assert "Ctrl+c pressed\n" in output
    assert "END (ERROR) - Cookbook menutest.waiting (exit_code=97)\n" in output
    assert "[ERROR] waiting: Waits for Ctrl+C\n" in output
    menu.child.sendline("q")
    assert menu.wait_exit()[1] == 0


@pytest.mark.parametrize(
    ("stdin", "cookbook_args", "expected"),
    (
        ("< /dev/null", ["menutest"], ["[NOTRUN] passing: Always passes", ">>> QUIT\n"]),
        (
            "<<< passing",
            ["menutest"],
            [">>> START - Cookbook menutest.passing", "[PASS] passing: Always passes", ">>> QUIT\n"],
        ),
    ),
)
def test_input_that_ends_ends_the_session(
    config_file: Path, child_env: dict[str, str], stdin: str, cookbook_args: list[str], expected: list[str]
) -> None:
    """With standard input closed or at its end (output still a terminal) the menu prints QUIT and exits 0."""
    command = shlex.join([str(COOKBOOK), "-c", str(config_file), *cookbook_args])
    child = pexpect.spawn("bash", ["-c", f"exec {command} {stdin}"], encoding="utf-8", timeout=TIMEOUT, env=child_env)
    try:
        child.expect(pexpect.EOF)
        output = str(child.before).replace("\r\n", "\n")
        child.close()
    finally:
        if child.isalive():
            child.terminate(force=True)
    for text in expected:
        assert text in output
    assert "Traceback" not in output
    assert child.exitstatus == 0


def test_output_not_a_terminal_exits(config_file: Path, child_env: dict[str, str]) -> None:
    """Like the reference, the menu is printed once and the program exits 0 when stdout is not a terminal."""
    result = subprocess.run(
        [str(COOKBOOK), "-c", str(config_file), "menutest"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env=child_env,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("#--- Menu test group args=[] ---#\n[NOTRUN] echo_args: Logs its arguments\n")
    assert result.stdout.endswith("q - Quit\nh - Help\nNot a tty, exiting.\n")
