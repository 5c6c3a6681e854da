"""Real servers for the integration tests: each submodule starts one kind on loopback, in a temp dir.

Every fixture picks free ports, waits for readiness with a bounded poll and stops its process by PID.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable

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
