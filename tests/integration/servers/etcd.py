"""A real etcd server on loopback (Debian's ``etcd-server``, 3.4), for the lock tests.

It serves etcd's v2 API too (``--enable-v2``): the locks, as the reference's, and conftool use it.

:py:class:`EtcdServer` is plain Python (no pytest) so that benchmarks can reuse it.
"""

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.integration.servers import free_port, require_binary, stop_process, wait_until

__all__ = ["EtcdServer", "etcd_server", "new_etcd_server"]


class EtcdServer:
    """One single-member etcd cluster listening on 127.0.0.1, with its data in ``base_dir``, v2 API enabled by default.

    API: ``start()``, ``stop()`` (safe to call twice), ``is_up()``, ``url`` (the client URL), ``port``,
    ``write_config(path, **settings)`` (an ``etcd_config`` YAML file pointing to this server),
    ``etcdctl(*args)`` (runs ``etcdctl`` against it, if installed, v3 API unless ``ETCDCTL_API=2`` is in ``env``).
    """

    def __init__(self, base_dir: Path, *, binary: str = "etcd", enable_v2: bool = True) -> None:
        self.base_dir = base_dir
        self.binary = binary
        self.enable_v2 = enable_v2
        self.port = free_port()
        self.peer_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = base_dir / "etcd.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        """Start the server and wait until it answers its health check."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        peer_url = f"http://127.0.0.1:{self.peer_port}"
        command = [
            self.binary,
            "--name=test",
            f"--data-dir={self.base_dir / 'data'}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=test={peer_url}",
            "--log-level=warn",
            f"--enable-v2={str(self.enable_v2).lower()}",
        ]
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.is_up():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"etcd did not start, see {self.log_file}")
            time.sleep(0.05)

    def is_up(self) -> bool:
        """Tell whether the server answers its health check."""
        try:
            return bool(requests.get(f"{self.url}/health", timeout=1).json().get("health") == "true")
        except (requests.RequestException, ValueError):
            return False

    def stop(self) -> None:
        """Stop the server (by PID) and wait for it to exit."""
        if self._process is None:
            return
        if self._process.poll() is None:
            stop_process(self._process)
        self._process = None

    def write_config(self, path: Path, **settings: Any) -> Path:
        """Write an ``etcd_config`` file for this server, with extra settings, and return its path."""
        path.write_text(yaml.safe_dump({"host": "127.0.0.1", "port": self.port, **settings}), encoding="utf-8")
        return path

    def etcdctl(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run etcdctl (v3 API) against this server and return its output."""
        command = [require_binary("etcdctl"), f"--endpoints={self.url}", *args]
        result = subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=30, env={**os.environ, **(env or {})}
        )
        return result.stdout


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """An etcd server shared by the whole session: use key names unique to each test."""
    server = EtcdServer(tmp_path_factory.mktemp("etcd"), binary=require_binary("etcd"))
    server.start()
    wait_until(server.is_up, what="etcd")
    yield server
    server.stop()


@pytest.fixture
def new_etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], EtcdServer]]:
    """A factory of private etcd servers, for tests that stop them or change their settings; stopped at the end."""
    binary = require_binary("etcd")
    servers: list[EtcdServer] = []

    def start() -> EtcdServer:
        server = EtcdServer(tmp_path_factory.mktemp("etcd-private"), binary=binary)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()
