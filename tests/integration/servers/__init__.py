"""Real servers for the integration tests: each submodule starts one kind on loopback, in a temp dir.

Every fixture picks free ports, waits for readiness with a bounded poll and stops its process by PID.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def require_binary(name: str, *extra_dirs: str) -> str:
    """Return the path of a server binary; skip the test when it is missing, except in CI where it fails."""
    candidates = (os.path.join(directory, name) for directory in ("/usr/sbin", "/sbin", *extra_dirs))
    path = shutil.which(name) or next((path for path in candidates if os.access(path, os.X_OK)), None)
    if path:
        return path
    message = f"{name} is not installed (make test installs it with scripts/install-test-servers.sh)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on the given loopback address right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float = 15.0, what: str = "server") -> None:
    """Poll ``check`` until it returns True, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail(f"{what} not ready after {timeout}s")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a server this test run started: SIGTERM, then SIGKILL if it is still there after ``timeout``."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def logged_process(
    command: list[str], log_path: Path, ready: Callable[[], bool], *, what: str, timeout: float = 15.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server with its output in ``log_path``, wait until it is ``ready`` and stop it by PID at the end.

    Arguments:
        command: the server's command line.
        log_path: where its standard output and error go.
        ready: whether it answers (see :py:func:`wait_until`); its process must also still be running.
        what: the server's name in the failure when it is not ready after ``timeout`` seconds.
        timeout: how long to wait for it.

    """
    log = log_path.open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: process.poll() is None and ready(), timeout=timeout, what=what)
        yield process
    finally:
        stop_process(process)
        log.close()
