"""Bad inputs and faults against the real ``cookbook`` command: the exit code, the rollback and the audit trail hold.

Each test runs ``cookbook`` as a real process on a small tree written in ``tmp_path``, against real servers: the
session's etcd (v2 API), HTTP servers answering what etcd would not, a proxy that stops answering in the middle
of a lock, and a tcpircbot relay reading slowly.
"""

import contextlib
import http.client
import marshal
import os
import resource
import signal
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from tests.integration.servers import wait_until
from tests.integration.servers.etcd import EtcdServer
from tests.integration.test_cookbook_cli import COOKBOOK, Env, write_tree

pytestmark = pytest.mark.integration

LOCK_PATH = "/v2/keys/spicerack/locks/cookbooks/"

TREE = {
    "rel/__init__.py": '"""Reliability cookbooks."""\n',
    "rel/passing.py": '"""Passing."""\ndef run(args, spicerack):\n    return 0\n',
    "rel/self_runner.py": '''"""Runs itself."""
from spicerack.cookbook import CookbookBase, CookbookRunnerBase


class Runner(CookbookRunnerBase):
    max_concurrency = 1

    def __init__(self, spicerack):
        self.spicerack = spicerack

    def run(self):
        return self.spicerack.run_cookbook("rel.self_runner")


class SelfRunner(CookbookBase):
    def get_runner(self, args):
        return Runner(self.spicerack)
''',
    "rel/nested_lock.py": '''"""Takes its own lock twice."""
def run(args, spicerack):
    with spicerack.lock().acquired("rel.nested", concurrency=1, ttl=60):
        with spicerack.lock().acquired("rel.nested", concurrency=1, ttl=60):
            return 0
''',
    "rel/returns.py": '''"""Returns or raises what $RET says, rolls back loudly."""
import asyncio
import os

from spicerack.cookbook import CookbookBase, CookbookRunnerBase


class CustomBase(BaseException):
    pass


class Runner(CookbookRunnerBase):
    def run(self):
        return eval(os.environ["RET"])

    def rollback(self):
        print("ROLLBACK")


class Returns(CookbookBase):
    def get_runner(self, args):
        return Runner()
''',
    "rel/exits_in_parser.py": '''"""Exits from its argument parser."""
import sys

from spicerack.cookbook import CookbookBase


class ExitsInParser(CookbookBase):
    def argument_parser(self):
        sys.exit(3)

    def get_runner(self, args):
        raise AssertionError("not reached")
''',
    "rel/titled.py": """import os

__title__ = os.environ.get("RELIABILITY_TITLE", "no title")


def run(args, spicerack):
    return 0
""",
    "rel/fills_disk.py": '''"""Fills the disk of its log files, if asked, then logs a lot."""
import logging
import os


def run(args, spicerack):
    fill = os.environ.get("RELIABILITY_FILL")
    if fill:
        with open(fill, "wb", buffering=0) as stream:
            try:
                while True:
                    stream.write(b"0" * 4096)
            except OSError:
                pass
    for number in range(200):
        logging.getLogger(__name__).info("line %d of a run whose disk is full %s", number, "x" * 80)
    spicerack.sal_logger.info("still here")
    return 0
''',
    "rel/slow_start.py": '''"""Waits in argument_parser() or get_runner(), as $SLOW_IN says, once it wrote $READY."""
import os
import time
from pathlib import Path

from spicerack.cookbook import CookbookBase, CookbookRunnerBase


def wait_in(place):
    if os.environ.get("SLOW_IN") == place:
        Path(os.environ["READY"]).write_text(place)
        time.sleep(60)


class Runner(CookbookRunnerBase):
    def run(self):
        return 0


class SlowStart(CookbookBase):
    def argument_parser(self):
        wait_in("argument_parser")
        return super().argument_parser()

    def get_runner(self, args):
        wait_in("get_runner")
        return Runner()
''',
    "rel/no_runner.py": '''"""Its get_runner() returns what $RUNNER says instead of a runner."""
import os

from spicerack.cookbook import CookbookBase


class NoRunner(CookbookBase):
    def get_runner(self, args):
        return eval(os.environ.get("RUNNER", "None"))
''',
    "rel/secret.py": '''"""Takes a password."""
import argparse


def argument_parser():
    parser = argparse.ArgumentParser()
    parser.add_argument("-p", "--password")
    parser.add_argument("--db-pw")
    parser.add_argument("host")
    return parser


def run(args, spicerack):
    return 0
''',
    "rel/slow_rollback.py": '''"""Waits in run() once it wrote $READY; its rollback takes 3 s, marking $ROLLBACK."""
import os
import time
from pathlib import Path

from spicerack.cookbook import CookbookBase, CookbookRunnerBase


class Runner(CookbookRunnerBase):
    def run(self):
        Path(os.environ["READY"]).write_text("run")
        time.sleep(60)
        return 0

    def rollback(self):
        marks = Path(os.environ["ROLLBACK"])
        marks.write_text("started\\n")
        time.sleep(3)
        marks.write_text("started\\ndone\\n")


class SlowRollback(CookbookBase):
    def get_runner(self, args):
        return Runner()
''',
    "rel/chatty.py": '''"""Logs many IRC messages."""
def run(args, spicerack):
    for number in range(60):
        spicerack.irc_logger.info("progress %d", number)
    return 0
''',
}


@pytest.fixture
def env(tmp_path: Path) -> Env:
    assert COOKBOOK.is_file(), "the cookbook console script is missing"
    environment = Env(tmp_path)
    environment.write_config([write_tree(tmp_path / "tree", TREE)])
    return environment


def with_etcd(env: Env, port: int, **settings: object) -> Path:
    """Point the configuration's etcd_config to a server on loopback at the given port."""
    etcd_config = env.root / "etcd.yaml"
    etcd_config.write_text(yaml.safe_dump({"host": "127.0.0.1", "port": port, **settings}))
    env.write_config([env.root / "tree"], instance_params={"etcd_config": str(etcd_config)})
    return etcd_config


def start(env: Env, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(COOKBOOK), "-c", str(env.config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env.environ,
    )


# --- servers ------------------------------------------------------------------------------------------------


class _Threaded(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class NotEtcd:
    """An HTTP server on loopback answering every request with 200 and the same body, as a non-etcd service would."""

    def __init__(self, body: bytes) -> None:
        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while _read_request(self.rfile) is not None:
                    self.wfile.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode()
                        + body
                    )

        self.server = _Threaded(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class StallingEtcdProxy:
    """Forwards HTTP requests to a real etcd, except those to the cookbook locks' keys: it never answers them."""

    def __init__(self, etcd_port: int) -> None:
        self.stalled = threading.Event()
        stalled = self.stalled

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                upstream = http.client.HTTPConnection("127.0.0.1", etcd_port, timeout=30)
                while (request := _read_request(self.rfile)) is not None:
                    method, path, headers, body = request
                    if path.startswith(LOCK_PATH):
                        stalled.set()
                        self.rfile.read()  # until the client goes away
                        return
                    upstream.request(method, path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    head = [f"HTTP/1.1 {answer.status} {answer.reason}"]
                    head += [f"{name}: {value}" for name, value in answer.getheaders() if name.lower() != "connection"]
                    self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)

        self.server = _Threaded(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _read_request(rfile: object) -> tuple[str, str, dict[str, str], bytes] | None:
    """Read one HTTP/1.1 request; None when the client closed the connection."""
    line = rfile.readline()  # type: ignore[attr-defined]
    if not line.strip():
        return None
    method, path, _ = line.decode().split(" ", 2)
    headers: dict[str, str] = {}
    while (header := rfile.readline().decode().strip()) != "":  # type: ignore[attr-defined]
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    body = rfile.read(int(headers.get("Content-Length", "0") or 0))  # type: ignore[attr-defined]
    return method, path, headers, body


class SlowRelay:
    """A tcpircbot relay taking one connection at a time, after a pause, with a backlog of one: about 3 lines a second.

    The client's connections wait in the kernel until the relay takes them, as with a relay slowed down by its
    IRC server.
    """

    def __init__(self, pause: float = 0.15) -> None:
        self.lines: list[str] = []
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=1)
        self.port = self._socket.getsockname()[1]
        self._pause = pause
        self._running = True
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self._running:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with connection:
                time.sleep(self._pause)
                data = b""
                while chunk := connection.recv(4096):
                    data += chunk
                self.lines += data.decode().splitlines()

    def stop(self) -> None:
        self._running = False
        self._socket.close()


# --- locks (defects 6, 8, 9, 11) -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"path": "/v2/keys"}',
        b"<html>not etcd</html>",
        b"[1, 2]",
        b'{"action": "get", "node": {"key": "/spicerack/locks/etcd", "dir": true}}',
    ],
)
def test_etcd_endpoint_answering_something_else_is_one_line_exit_92(env: Env, body: bytes) -> None:
    server = NotEtcd(body)
    try:
        with_etcd(env, server.port)
        result = env.run("rel.passing")
    finally:
        server.stop()
    assert result.returncode == 92
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"Unexpected answer from etcd at http://127.0.0.1:{server.port}" in lines[0]
    assert "rel.passing" in lines[0]
    assert "START" not in result.stderr


def test_user_unknown_to_the_system_still_takes_etcd_locks(env: Env, etcd_server: EtcdServer) -> None:
    with_etcd(env, etcd_server.port)
    env.environ["USER"] = "no-such-user-reliability"
    result = env.run("rel.passing")
    assert result.returncode == 0, result.stderr
    assert "Acquired lock for key /spicerack/locks/cookbooks/rel.passing" in env.log("rel", "passing")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_etcd_does_not_answer_interrupts_at_once(
    env: Env, etcd_server: EtcdServer, signum: signal.Signals
) -> None:
    proxy = StallingEtcdProxy(etcd_server.port)
    try:
        with_etcd(env, proxy.port, read_timeout=600)
        process = start(env, "rel.passing")
        try:
            assert proxy.stalled.wait(60), "the cookbook never asked etcd for its lock"
            process.send_signal(signum)
            _, stderr = process.communicate(timeout=60)  # The read timeout is 600 s
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    finally:
        proxy.stop()
    assert process.returncode == 97
    interruption = "Received SIGTERM" if signum == signal.SIGTERM else "Ctrl+c pressed"
    assert stderr == f"Unable to run cookbook rel.passing: {interruption} while acquiring its lock\n"
    # The writer lock was released on the way out: a new run takes it at once
    with_etcd(env, etcd_server.port)
    assert env.run("rel.passing").returncode == 0
    assert requests.get(f"{etcd_server.url}{LOCK_PATH}rel.passing", timeout=10).status_code == 404


def test_cookbook_running_itself_fails_at_once(env: Env, etcd_server: EtcdServer) -> None:
    with_etcd(env, etcd_server.port)
    result = env.run("rel.self_runner")
    assert result.returncode == 92, result.stderr
    assert "is already held by this process or the run that started it" in result.stderr
    assert "END (FAIL) - Cookbook rel.self_runner (exit_code=92)" in result.stderr
    assert requests.get(f"{etcd_server.url}{LOCK_PATH}rel.self_runner", timeout=10).status_code == 404


def test_cookbook_nesting_its_own_lock_fails_at_once(env: Env, etcd_server: EtcdServer) -> None:
    with_etcd(env, etcd_server.port)
    result = env.run("rel.nested_lock")
    assert result.returncode == 99, result.stderr
    assert "is already held by this process or the run that started it" in result.stderr
    assert "END (FAIL) - Cookbook rel.nested_lock (exit_code=99)" in result.stderr


# --- exit codes (defects 1 and 2, SystemExit in argument_parser) ---------------------------------------------


@pytest.mark.parametrize("value", ["256", "-1", "True", "'done'", "1.5", "raise_(SystemExit(300))"])
def test_a_run_giving_no_valid_exit_code_never_exits_0(env: Env, value: str) -> None:
    env.environ["RET"] = value.replace("raise_(", "(_ for _ in ()).throw(")
    result = env.run("rel.returns")
    assert result.returncode == 99, result.stderr
    assert result.stdout == "ROLLBACK\n"
    assert "not an exit code between 0 and 255: exiting with 99 instead" in result.stderr
    status = "ERROR" if "SystemExit" in value else "FAIL"  # As the reference marks a SystemExit
    assert f"END ({status}) - Cookbook rel.returns (exit_code=99)" in result.stderr


def test_a_reserved_exit_code_is_kept_with_a_warning(env: Env) -> None:
    env.environ["RET"] = "95"
    result = env.run("rel.returns")
    assert result.returncode == 95
    assert "Cookbook rel.returns returned 95, an exit code reserved for the framework (90-99)" in result.stderr
    assert "[WARNING] Cookbook rel.returns returned 95" in env.log("rel", "returns")


@pytest.mark.parametrize("exception", ["asyncio.CancelledError('stop')", "CustomBase('custom')"])
def test_a_base_exception_is_a_failure_with_rollback_and_end(env: Env, exception: str) -> None:
    env.environ["RET"] = f"(_ for _ in ()).throw({exception})"
    result = env.run("rel.returns")
    assert result.returncode == 99
    assert result.stdout == "ROLLBACK\n"
    assert "END (FAIL) - Cookbook rel.returns (exit_code=99)" in result.stderr


def test_system_exit_in_argument_parser_keeps_its_code_and_says_so(env: Env) -> None:
    result = env.run("rel.exits_in_parser")
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr == "SystemExit(3) raised while getting argument parser for cookbook rel.exits_in_parser\n"


# --- IRC (defect 4) ------------------------------------------------------------------------------------------


@pytest.fixture
def slow_relay() -> Iterator[SlowRelay]:
    relay = SlowRelay()
    yield relay
    relay.stop()


def test_slow_relay_gets_every_sal_line(env: Env, slow_relay: SlowRelay) -> None:
    env.write_config([env.root / "tree"], tcpircbot_host="127.0.0.1", tcpircbot_port=slow_relay.port)
    result = env.run("rel.chatty")
    assert result.returncode == 0, result.stderr
    # The relay reads the connections left in its backlog after the run is over
    wait_until(lambda: any("END (PASS)" in line for line in slow_relay.lines), timeout=30, what="the END line")
    sal = [line for line in slow_relay.lines if line.startswith("!log ")]
    assert [line.split(" - ")[0].split()[-1] for line in sal] == ["START", "(PASS)"], slow_relay.lines
    assert sal[-1].endswith("END (PASS) - Cookbook rel.chatty (exit_code=0)")
    assert "progress 0" in slow_relay.lines[1]  # ordinary messages go in order while time allows
    assert "dropped" in result.stderr
    assert os.path.exists(env.logs / "rel" / "chatty.log")


# --- configuration (defect 7 and the configuration's rough edges) --------------------------------------------


def test_a_configuration_file_not_in_utf8_is_one_line_naming_it_without_its_content(env: Env) -> None:
    env.config.write_bytes(env.config.read_bytes() + b"password: s3cret\xff\xfe\n")
    result = env.run("rel.passing")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Unable to load the configuration file {env.config}: it is not UTF-8 text")
    assert "s3cret" not in result.stderr


def test_a_configuration_file_that_is_a_directory_says_so(env: Env) -> None:
    env.config.unlink()
    env.config.mkdir()
    result = env.run("-l")
    assert result.returncode == 1
    assert result.stderr == f"Unable to load the configuration file {env.config}: it is a directory\n"


@pytest.mark.parametrize("port", [None, 0, 70000, "irc"])
def test_an_irc_relay_without_a_usable_port_is_refused(env: Env, port: object) -> None:
    settings = {"tcpircbot_host": "127.0.0.1"} | ({} if port is None else {"tcpircbot_port": port})
    env.write_config([env.root / "tree"], **settings)
    result = env.run("rel.passing")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Invalid key `tcpircbot_port` in the configuration file:")
    assert not env.logs.exists()


@pytest.mark.parametrize("content", [None, "host: [unclosed\n", "- a list\n"])
def test_an_unusable_etcd_config_is_a_configuration_error(env: Env, content: str | None) -> None:
    etcd_config = env.root / "etcd.yaml"
    if content is not None:
        etcd_config.write_text(content)
    env.write_config([env.root / "tree"], instance_params={"etcd_config": str(etcd_config)})
    result = env.run("rel.passing")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Invalid key `instance_params.etcd_config` in the configuration file:")
    assert str(etcd_config) in result.stderr
    assert env.run("--no-locks", "rel.passing").returncode == 0  # the file is not needed without locks


# --- names and listings (defects 5 and 10, -l PREFIX) ---------------------------------------------------------


@pytest.mark.parametrize("name", ["a" * 253, "rel." + "b" * 300, "rel/" + "c" * 300 + ".py"])
def test_a_very_long_cookbook_name_is_not_found(env: Env, name: str) -> None:
    result = env.run(name)
    assert result.returncode == 98
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Unable to find cookbook ")
    hints = ["Cookbook names are dotted and relative to the cookbooks/ directory of the tree, not file paths"]
    assert lines[1:] == (hints if "/" in name else [])


def test_a_listing_filter_matching_nothing_says_so_on_stderr_only(env: Env) -> None:
    for _ in ("cold", "cached"):
        result = env.run("-l", "nothing.here")
        assert (result.returncode, result.stdout) == (0, "")
        assert result.stderr == "No cookbook or group matches nothing.here\n"


def titles(env: Env, **variables: str) -> str:
    env.environ.update(variables)
    result = env.run("-l", "-v", "rel.titled")
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1].split(": ", 1)[1]


def test_the_listing_cache_can_be_bypassed_and_rebuilt_from_the_command_line(env: Env) -> None:
    assert titles(env, RELIABILITY_TITLE="first") == "first [unowned]"
    assert titles(env, RELIABILITY_TITLE="second") == "first [unowned]"  # an environment variable is not seen
    assert titles(env, SPICERACK_LISTING_CACHE="off") == "second [unowned]"
    assert titles(env, SPICERACK_LISTING_CACHE="") == "first [unowned]"  # off neither reads nor writes
    assert titles(env, SPICERACK_LISTING_CACHE="rebuild") == "second [unowned]"
    assert titles(env, SPICERACK_LISTING_CACHE="", RELIABILITY_TITLE="third") == "second [unowned]"


def test_a_recorded_listing_expires(env: Env) -> None:
    assert titles(env, RELIABILITY_TITLE="first") == "first [unowned]"
    (cache_file,) = (env.root / "home" / ".cache" / "spicerack").glob("listing-*.marshal")
    data = marshal.loads(cache_file.read_bytes())
    data["created"] -= 601  # older than the ten minutes a recorded listing lives
    cache_file.write_bytes(marshal.dumps(data))
    assert titles(env, RELIABILITY_TITLE="second") == "second [unowned]"


# --- log files (defect 3, --help, forged records) -------------------------------------------------------------


class FullDisk:
    """A filesystem for the log files that gets full.

    A small tmpfs when it can be mounted (as root); else the cookbook process is limited in file size with
    RLIMIT_FSIZE (writes beyond it fail with EFBIG, SIGXFSZ ignored).
    """

    LIMIT = 16384

    def __init__(self, root: Path) -> None:
        self.dir = root / "full"
        self.dir.mkdir()
        mount = ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(self.dir)]
        self.tmpfs = os.geteuid() == 0 and subprocess.run(mount, capture_output=True, check=False).returncode == 0

    def fill(self) -> None:
        """Leave no room for a log line (the log files of rel.* are in the rel directory)."""
        (self.dir / "rel").mkdir(exist_ok=True)
        if self.tmpfs:
            with contextlib.suppress(OSError), open(self.dir / "filler", "wb", buffering=0) as stream:
                while True:
                    stream.write(b"0" * 4096)
        else:
            for name in ("fills_disk.log", "fills_disk-extended.log"):
                (self.dir / "rel" / name).write_bytes(b"old line\n" * (self.LIMIT // 9 + 1))

    def preexec(self) -> None:
        if not self.tmpfs:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (self.LIMIT, self.LIMIT))

    def cleanup(self) -> None:
        if self.tmpfs:
            subprocess.run(["umount", str(self.dir)], check=False)


@pytest.fixture
def full_disk(env: Env) -> Iterator[FullDisk]:
    disk = FullDisk(env.root)
    env.write_config([env.root / "tree"], logs_base_dir=str(disk.dir))
    yield disk
    disk.cleanup()


def run_with(env: Env, disk: FullDisk, *args: str) -> subprocess.CompletedProcess[str]:
    return env.run(*args, preexec_fn=disk.preexec)


def without_journal(stderr: str) -> list[str]:
    """The lines of stderr but the warning of the run journal, a file of its own in the same directory."""
    return [line for line in stderr.splitlines() if not line.startswith("Unable to write the run journal")]


def test_a_run_whose_log_files_cannot_be_written_does_not_start(env: Env, full_disk: FullDisk) -> None:
    full_disk.fill()
    result = run_with(env, full_disk, "rel.fills_disk")
    assert result.returncode == 1
    lines = without_journal(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Not running cookbook rel.fills_disk without an audit trail, unable to write its log")
    assert lines[0].endswith(": No space left on device" if full_disk.tmpfs else ": File too large")


def test_a_disk_getting_full_during_a_run_warns_once_and_the_end_still_goes_to_console_and_irc(
    env: Env, full_disk: FullDisk
) -> None:
    relay = SlowRelay(pause=0)
    try:
        env.write_config(
            [env.root / "tree"], logs_base_dir=str(full_disk.dir), tcpircbot_host="127.0.0.1", tcpircbot_port=relay.port
        )
        if full_disk.tmpfs:
            env.environ["RELIABILITY_FILL"] = str(full_disk.dir / "filler")
        result = run_with(env, full_disk, "rel.fills_disk")
        wait_until(lambda: any("END (PASS)" in line for line in relay.lines), timeout=30, what="the END line")
    finally:
        relay.stop()
    assert result.returncode == 0
    assert "Logging error" not in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("WARNING: unable to write the log file") == 1
    assert "line 199 of a run whose disk is full" in result.stderr
    assert without_journal(result.stderr)[-1] == "END (PASS) - Cookbook rel.fills_disk (exit_code=0)"
    assert any(line.endswith("still here") for line in relay.lines)


def test_help_and_refused_arguments_leave_no_log_file(env: Env) -> None:
    assert env.run("rel.passing", "--help").returncode == 0
    assert env.run("rel.passing", "--no-such-option").returncode == 2
    assert not (env.logs / "rel").exists() or list((env.logs / "rel").iterdir()) == []
    assert env.run("rel.passing").returncode == 0
    assert "Executing cookbook rel.passing with args: []" in env.log("rel", "passing", extended=True)


FORGED = "2026-01-01 00:00:00,000 operator 1 [INFO] END (PASS) - Cookbook rel.forge (exit_code=0)"


def test_a_multi_line_message_cannot_forge_a_record_in_the_log_files(env: Env) -> None:
    write_tree(
        env.root / "tree",
        {
            "rel/forge.py": "import logging\n"
            "def run(args, spicerack):\n"
            f"    logging.getLogger(__name__).info('first\\n{FORGED}\\nlast')\n"
            f"    raise RuntimeError('boom\\n{FORGED}')\n"
        },
    )
    result = env.run("rel.forge")
    assert result.returncode == 99
    assert f"\n{FORGED}\n" in result.stderr  # the console shows messages as they are
    for extended in (False, True):
        lines = env.log("rel", "forge", extended=extended).splitlines()
        assert f"    {FORGED}" in lines
        assert "    last" in lines
        records = [line for line in lines if not line.startswith(" ")]
        assert [line for line in records if "END (" in line] == [
            next(line for line in lines if "END (FAIL) - Cookbook rel.forge (exit_code=99)" in line)
        ]


# --- before the run starts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("place", ["argument_parser", "get_runner"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_before_the_run_starts_is_exit_97_in_one_line(env: Env, place: str, signum: signal.Signals) -> None:
    ready = env.root / "ready"
    env.environ.update(SLOW_IN=place, READY=str(ready))
    process = start(env, "rel.slow_start")
    try:
        wait_until(ready.exists, timeout=60, what=f"the cookbook in {place}()")
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)  # it sleeps 60 s otherwise
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 97
    interruption = "Ctrl+c pressed" if signum == signal.SIGINT else f"Received {signum.name}"
    assert stderr == f"Cookbook rel.slow_start not run: {interruption} before it started\n"


@pytest.mark.parametrize("runner", ["None", "42", "object()"])
def test_get_runner_returning_no_runner_is_exit_94_in_one_line(env: Env, runner: str) -> None:
    env.environ["RUNNER"] = runner
    result = env.run("rel.no_runner")
    assert result.returncode == 94
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Cookbook rel.no_runner: get_runner() returned ")
    assert lines[0].endswith(" instead of a runner (a spicerack.cookbook.CookbookRunnerBase)")


def test_a_stray_argcomplete_variable_runs_the_cookbook(env: Env) -> None:
    """No completion request without COMP_LINE: the cookbook runs as if the variable were not there."""
    env.environ.update(_ARGCOMPLETE="1")
    result = env.run("rel.passing")
    assert result.returncode == 0, result.stderr
    assert "END (PASS) - Cookbook rel.passing (exit_code=0)" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--password", "hunter2PW", "host1"],
        ["--password=hunter2PW", "host1"],
        ["-p", "hunter2PW", "host1"],
        ["-phunter2PW", "host1"],
        ["--db-pw", "hunter2PW", "host1"],
    ],
)
def test_no_value_of_a_secret_argument_is_in_any_file(env: Env, args: list[str]) -> None:
    result = env.run("rel.secret", *args)
    assert result.returncode == 0, result.stderr
    extended = env.log("rel", "secret", extended=True)
    executing = [line for line in extended.splitlines() if "Executing cookbook rel.secret with args: " in line]
    assert len(executing) == 1
    assert "host1" in executing[0]
    files = [path for path in env.logs.rglob("*") if path.is_file()]
    assert files
    assert [path for path in files if b"hunter2PW" in path.read_bytes()] == []


def test_a_second_signal_during_the_rollback_lets_the_cleanup_finish_and_exits_97(env: Env) -> None:
    ready, rollback = env.root / "ready", env.root / "rollback"
    env.environ.update(READY=str(ready), ROLLBACK=str(rollback))
    process = start(env, "rel.slow_rollback")
    try:
        wait_until(ready.exists, timeout=60, what="the cookbook's run()")
        process.send_signal(signal.SIGTERM)
        wait_until(rollback.exists, timeout=60, what="the cookbook's rollback()")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 97
    assert rollback.read_text() == "started\ndone\n"
    assert "Received SIGTERM again, finishing the cleanup first" in stderr
    assert "END (ERROR) - Cookbook rel.slow_rollback (exit_code=97)" in stderr
