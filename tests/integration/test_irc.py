"""IRC and SAL announcements of real ``cookbook`` runs, through a tcpircbot relay and a real IRC server (ngircd)."""

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest

from spicerack.irc import MAX_LINE_BYTES, TRUNCATION_MARK, TcpIrcRelay
from tests.integration.servers.ngircd import IRCChannelRelay
from tests.integration.servers.tcpircbot import CLOSE_AT_ONCE, NEVER_READ, TcpIrcBotRelay

COOKBOOK = Path(sys.executable).with_name("cookbook")
IRC_TREE = Path(__file__).parent.parent / "fixtures" / "irc_tree"
USER = "irc-tester"
HOST = socket.gethostname()
TIMEOUT = 60  # seconds, only so that a hanging run fails the test instead of blocking the suite
INJECTION = "evil\r\nQUIT :owned\r\nPRIVMSG #ops :fake\nJOIN #other\x01ACTION\x01\x03\x02\u2028end"
INJECTION_ONE_LINE = "evil QUIT :owned PRIVMSG #ops :fake JOIN #other ACTION end"
Run = Callable[..., subprocess.CompletedProcess[str]]


def sal(message: str) -> str:
    """The line the relay gets for a SAL message."""
    return f"!log {USER}@{HOST} {message}"


def plain(message: str) -> str:
    """The line the relay gets for a plain IRC message."""
    return f"{USER}@{HOST} {message}"


@pytest.fixture
def run_cookbook(tmp_path: Path) -> Run:
    """Run ``cookbook -c CONFIG ARGS...`` with a config pointing at the given relay port, as user ``USER``."""
    assert COOKBOOK.is_file(), f"the cookbook console script is missing next to {sys.executable}"
    env = {**os.environ, "USER": USER, "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("SUDO_USER", None)

    def run(*args: str, port: int, notify: bool = False) -> subprocess.CompletedProcess[str]:
        config = write_config(tmp_path, port, notify=notify)
        command = [str(COOKBOOK), "-c", str(config), *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=TIMEOUT, check=False)

    return run


def write_config(tmp_path: Path, port: int, *, notify: bool = False) -> Path:
    """Write the configuration of the runs: the IRC fixture tree, logs under tmp_path, the relay on loopback."""
    path = tmp_path / "config.yaml"
    path.write_text(
        f"cookbooks_base_dirs: [{IRC_TREE}]\n"
        f"logs_base_dir: {tmp_path / 'logs'}\n"
        "tcpircbot_host: 127.0.0.1\n"
        f"tcpircbot_port: {port}\n"
        f"user_input_notifications_enabled: {'true' if notify else 'false'}\n",
        encoding="utf-8",
    )
    return path


def log_file(tmp_path: Path, name: str) -> str:
    """The content of a cookbook's INFO log file."""
    return (tmp_path / "logs" / "irctest" / f"{name}.log").read_text(encoding="utf-8")


def test_passing_run_announces_start_messages_and_end(run_cookbook: Run, tcpircbot_relay: TcpIrcBotRelay) -> None:
    """START, the cookbook's IRC and SAL messages and END (PASS) reach the relay in order, in the reference format."""
    result = run_cookbook(
        "irctest.announce", "--irc", "plain note", "--sal", "depooled db1001", "--description", "for T12345",
        port=tcpircbot_relay.port,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert tcpircbot_relay.wait_for_lines(4) == [
        sal("START - Cookbook irctest.announce for T12345"),
        plain("plain note"),
        sal("depooled db1001"),
        sal("END (PASS) - Cookbook irctest.announce (exit_code=0) for T12345"),
    ]
    assert all(connection.count(b"\n") == 1 for connection in tcpircbot_relay.connections)


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [(["--exit-code", "3"], 3), (["--raise"], 99)],
)
def test_failing_run_announces_end_fail(
    run_cookbook: Run, tcpircbot_relay: TcpIrcBotRelay, args: list[str], exit_code: int
) -> None:
    """A run returning non-zero or raising ends with END (FAIL) and its exit code on SAL."""
    result = run_cookbook("irctest.announce", *args, port=tcpircbot_relay.port)
    assert result.returncode == exit_code
    assert tcpircbot_relay.wait_for_lines(2) == [
        sal("START - Cookbook irctest.announce"),
        sal(f"END (FAIL) - Cookbook irctest.announce (exit_code={exit_code})"),
    ]


def test_skip_start_sal_announces_done_only(run_cookbook: Run, tcpircbot_relay: TcpIrcBotRelay, tmp_path: Path) -> None:
    """With skip_start_sal the START stays in the log files and SAL gets DONE instead of END."""
    result = run_cookbook("irctest.quiet_start", port=tcpircbot_relay.port)
    assert result.returncode == 0, result.stderr
    assert tcpircbot_relay.wait_for_lines(1) == [
        sal("DONE (PASS) - Cookbook irctest.quiet_start (exit_code=0) for a quiet start")
    ]
    assert "START - Cookbook irctest.quiet_start for a quiet start" in log_file(tmp_path, "quiet_start")


def test_dry_run_sends_nothing(run_cookbook: Run, tcpircbot_relay: TcpIrcBotRelay, tmp_path: Path) -> None:
    """A dry-run sends nothing to the relay; a real run after it is the first thing the relay gets."""
    dry = run_cookbook("-d", "irctest.announce", "--irc", "dry irc", "--sal", "dry sal", port=tcpircbot_relay.port)
    assert dry.returncode == 0, dry.stderr
    assert "dry sal" in log_file(tmp_path, "announce")
    real = run_cookbook("irctest.quiet_start", port=tcpircbot_relay.port)
    assert real.returncode == 0, real.stderr
    lines = tcpircbot_relay.wait_for_lines(1)
    assert lines == [sal("DONE (PASS) - Cookbook irctest.quiet_start (exit_code=0) for a quiet start")]
    assert len(tcpircbot_relay.connections) == 1


def test_injection_is_neutralised(run_cookbook: Run, tcpircbot_relay: TcpIrcBotRelay, tmp_path: Path) -> None:
    """Newlines and control characters in a description or a message never make extra lines or commands."""
    result = run_cookbook(
        "irctest.announce", "--description", INJECTION, "--irc", INJECTION, "--sal", INJECTION,
        port=tcpircbot_relay.port,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert tcpircbot_relay.wait_for_lines(4) == [
        sal(f"START - Cookbook irctest.announce {INJECTION_ONE_LINE}"),
        plain(INJECTION_ONE_LINE),
        sal(INJECTION_ONE_LINE),
        sal(f"END (PASS) - Cookbook irctest.announce (exit_code=0) {INJECTION_ONE_LINE}"),
    ]
    for connection in tcpircbot_relay.connections:
        assert connection.endswith(b"\n")
        assert not any(byte < 0x20 for byte in connection[:-1])
    assert "QUIT :owned" in log_file(tmp_path, "announce")  # the files keep the message as it was


def test_long_message_is_cut_on_a_character(run_cookbook: Run, tcpircbot_relay: TcpIrcBotRelay) -> None:
    """A message too long for IRC is cut to the limit on a UTF-8 boundary, marked as cut."""
    result = run_cookbook("irctest.announce", "--sal", "ü€" * 400, port=tcpircbot_relay.port)
    assert result.returncode == 0, result.stderr
    lines = tcpircbot_relay.wait_for_lines(3)
    long_line = lines[1]
    assert long_line.startswith(sal("ü€"))
    assert long_line.endswith(TRUNCATION_MARK)
    assert len(long_line.encode("utf-8")) <= MAX_LINE_BYTES
    assert len(tcpircbot_relay.connections[1]) <= MAX_LINE_BYTES + 1
    tcpircbot_relay.connections[1].decode("utf-8")  # strictly valid UTF-8


def _assert_relay_failure_is_harmless(result: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "Logging error" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if "IRC relay 127.0.0.1:" in line]
    assert len(warnings) <= 1
    logged = log_file(tmp_path, "announce")
    assert "START - Cookbook irctest.announce" in logged
    assert "audit me" in logged
    assert "END (PASS) - Cookbook irctest.announce (exit_code=0)" in logged


def test_relay_refusing_connections(run_cookbook: Run, refused_relay_port: int, tmp_path: Path) -> None:
    """A relay that is down costs one warning; the run succeeds and everything is in the log files."""
    result = run_cookbook("irctest.announce", "--sal", "audit me", port=refused_relay_port)
    _assert_relay_failure_is_harmless(result, tmp_path)
    warning = f"IRC relay 127.0.0.1:{refused_relay_port}: unable to send: Connection refused"
    assert result.stderr.count(warning) == 1
    assert warning in log_file(tmp_path, "announce")


@pytest.mark.parametrize("mode", [NEVER_READ, CLOSE_AT_ONCE])
def test_relay_misbehaving(run_cookbook: Run, tcpircbot_relay: TcpIrcBotRelay, tmp_path: Path, mode: str) -> None:
    """A relay that accepts and never reads, or closes at once, neither fails nor blocks the run."""
    tcpircbot_relay.reset(mode)
    result = run_cookbook("irctest.announce", "--sal", "audit me", port=tcpircbot_relay.port)
    _assert_relay_failure_is_harmless(result, tmp_path)
    assert tcpircbot_relay.lines == []


def test_relay_not_accepting_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    """A relay whose accept queue is full makes connections time out: close() still returns, with one warning."""
    with socket.socket() as stalled:
        stalled.bind(("127.0.0.1", 0))
        stalled.listen(0)  # never accepted: once the queue is full new connections hang until the timeout
        relay = TcpIrcRelay("127.0.0.1", stalled.getsockname()[1], timeout=0.2, flush_timeout=0.5)
        with caplog.at_level(logging.DEBUG, logger="spicerack.irc"):
            for number in range(5):
                relay.send(f"message {number}")
            relay.close()
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "timed out" in warnings[0].getMessage()
    assert relay.failed >= 1
    assert relay.sent + relay.failed < 5  # the rest was given up at close


def test_unanswered_prompt_is_announced(tcpircbot_relay: TcpIrcBotRelay, tmp_path: Path) -> None:
    """With user_input_notifications_enabled, a prompt left unanswered is announced on IRC as the reference does."""
    config = write_config(tmp_path, tcpircbot_relay.port, notify=True)
    env = {**os.environ, "USER": USER, "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("SUDO_USER", None)
    child = pexpect.spawn(
        str(COOKBOOK), ["-c", str(config), "irctest.prompt", "--notify-after", "0.1"],
        encoding="utf-8", timeout=TIMEOUT, env=env,
    )  # fmt: skip
    try:
        child.expect_exact("Proceed with the test?")
        lines = tcpircbot_relay.wait_for_lines(2)
        child.sendline("go")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert lines == [
        sal("START - Cookbook irctest.prompt"),
        plain(f"prompt (PID {child.pid}) is awaiting input"),
    ]
    assert tcpircbot_relay.wait_for_lines(3)[2] == sal("END (PASS) - Cookbook irctest.prompt (exit_code=0)")


def test_messages_reach_an_irc_channel_verbatim(run_cookbook: Run, ircbot_channel: IRCChannelRelay) -> None:
    """Through a relay bot on a real IRC server, each message is one PRIVMSG, verbatim, and nothing else happens."""
    result = run_cookbook(
        "irctest.announce", "--description", INJECTION, "--sal", "ü€" * 200, port=ircbot_channel.relay.port
    )
    assert result.returncode == 0, result.stderr
    relayed = ircbot_channel.relay.wait_for_lines(3)
    assert len(relayed) == 3
    assert ircbot_channel.wait_for_messages(3) == relayed
    assert relayed[0] == sal(f"START - Cookbook irctest.announce {INJECTION_ONE_LINE}")
    assert relayed[1].endswith(TRUNCATION_MARK)
    not_privmsg = [line for line in ircbot_channel.watcher.received() if " PRIVMSG " not in line]
    assert not_privmsg == []  # no QUIT, JOIN or anything else from the relay bot
