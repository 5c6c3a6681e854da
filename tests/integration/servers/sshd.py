"""A fleet of real SSH hosts on loopback: one ``sshd`` per host, each on its own 127.0.1.x address.

The hosts share this machine's filesystem, so each has its own state directory, and every SSH session gets
``FLEET_HOST`` (its host name) and ``FLEET_STATE_DIR`` (its state directory) in the environment, plus a ``PATH``
that starts with the fleet's ``bin_dir`` where tests drop stand-in executables.

:py:class:`SSHFleet` is plain Python (no pytest) so that benchmarks can reuse it.
"""

import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.integration.servers import free_port, require_binary

if TYPE_CHECKING:
    from spicerack.remote import Remote

__all__ = ["SSHFleet", "remote_fleet", "ssh_fleet"]

FLEET_SIZE = 12
"""How many hosts the session fleet has: tests may stop or break one host at a time, but must restore it."""

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Answers `cat /proc/uptime` from the host's simulated boot time, so that a simulated reboot resets it.
CAT_STAND_IN = """#!/bin/sh
if [ "$#" -eq 1 ] && [ "$1" = /proc/uptime ] && [ -f "$FLEET_STATE_DIR/boot_time" ]; then
    exec awk -v boot="$(/bin/cat "$FLEET_STATE_DIR/boot_time")" -v now="$(date +%s.%N)" \\
        'BEGIN { printf "%.2f %.2f\\n", now - boot, (now - boot) * 2 }'
fi
exec /bin/cat "$@"
"""

# Simulates `reboot-host`: the host's sshd goes away now and comes back a moment later with a new boot time.
REBOOT_STAND_IN = """#!/bin/sh
echo "reboot requested" >> "$FLEET_STATE_DIR/reboots"
setsid sh -c '
    kill "$(/bin/cat "$FLEET_SSHD_PIDFILE")"
    sleep "${FLEET_REBOOT_DOWNTIME:-0.5}"
    date +%s.%N > "$FLEET_STATE_DIR/boot_time"
    "$FLEET_SSHD" -f "$FLEET_SSHD_CONFIG" -E "$FLEET_SSHD_LOG"
' </dev/null >/dev/null 2>&1 &
exit 0
"""


class SSHFleet:
    """A fleet of ``sshd`` hosts reachable by name through an ssh config file, ready for cumin.

    API (also used by other test modules, keep it stable):

    - ``hosts``: the host names, ``test-host01``, ``test-host02``, ...
    - ``addresses``: host name -> loopback address; ``ports``: host name -> TCP port.
    - ``cumin_config``: path of a cumin config (direct backend, ClusterShell transport over this fleet).
    - ``ssh_config``: path of the ssh client config resolving the host names (``ssh -F ssh_config test-host01``).
    - ``bin_dir``: a directory first on the ``PATH`` of every SSH session: drop stand-in executables there
      (it already has ``cat`` answering ``/proc/uptime`` from the host's ``boot_time`` and ``reboot-host``).
    - ``state_dir(host)``: the host's own directory (also ``$FLEET_STATE_DIR`` in its sessions, whose
      ``$FLEET_HOST`` is the host name); ``boot_time`` in it holds the simulated boot time (epoch seconds).
    - ``start(host)``, ``stop(host)``, ``restart(host)``: start/stop the host's sshd; ``start`` and ``restart``
      set a new boot time. ``is_up(host)`` tells whether it accepts connections, ``wait_up(host)`` waits for it.
    - ``start_all()``, ``stop_all()``: the whole fleet; ``stop_all`` is safe to call twice.
    """

    def __init__(
        self,
        base_dir: Path,
        size: int = FLEET_SIZE,
        *,
        sshd_binary: str = "/usr/sbin/sshd",
        name_prefix: str = "test-host",
        address_prefix: str = "127.0.1.",
    ) -> None:
        """Lay out the fleet's files under ``base_dir``; nothing is started until :py:meth:`start_all`."""
        if not 0 < size < 255:
            raise ValueError(f"A fleet has 1 to 254 hosts, got {size}")
        self.base_dir = base_dir
        self.sshd_binary = sshd_binary
        self.hosts = [f"{name_prefix}{index:02d}" for index in range(1, size + 1)]
        self.addresses = {host: f"{address_prefix}{index}" for index, host in enumerate(self.hosts, start=1)}
        self.ports: dict[str, int] = {}
        self.bin_dir = base_dir / "bin"
        self.ssh_config = base_dir / "ssh_config"
        self.cumin_config = base_dir / "cumin" / "config.yaml"
        self.client_key = base_dir / "client_key"
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._prepare()

    def state_dir(self, host: str) -> Path:
        """Return the host's own state directory (``$FLEET_STATE_DIR`` in its SSH sessions)."""
        self._check_host(host)
        return self.base_dir / "state" / host

    def start_all(self) -> None:
        """Start every host and wait until all accept connections."""
        for host in self.hosts:
            self._spawn(host)
        for host in self.hosts:
            self.wait_up(host)

    def stop_all(self) -> None:
        """Stop every host that is running."""
        for host in self.hosts:
            self.stop(host)

    def start(self, host: str) -> None:
        """Start the host's sshd (a new boot) and wait until it accepts connections."""
        self._spawn(host)
        self.wait_up(host)

    def restart(self, host: str) -> None:
        """Stop and start the host again, as a reboot would."""
        self.stop(host)
        self.start(host)

    def stop(self, host: str) -> None:
        """Stop the host's sshd by its PID (the one in its pid file) and wait until it is gone."""
        self._check_host(host)
        pid = self._read_pid(host)
        if pid is not None:
            _terminate(pid)
        process = self._processes.pop(host, None)
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
        self._pidfile(host).unlink(missing_ok=True)
        _poll(lambda: not self.is_up(host), f"sshd of {host} to stop")

    def is_up(self, host: str) -> bool:
        """Tell whether the host accepts SSH connections."""
        self._check_host(host)
        try:
            with socket.create_connection((self.addresses[host], self.ports[host]), timeout=1) as sock:
                return sock.recv(4).startswith(b"SSH-")
        except OSError:
            return False

    def wait_up(self, host: str, timeout: float = 15.0) -> None:
        """Wait until the host accepts SSH connections, raising :py:class:`TimeoutError` after ``timeout``."""
        _poll(lambda: self.is_up(host), f"sshd of {host}", timeout)

    def _prepare(self) -> None:
        """Create the keys, the per-host configs, the client ssh config, the cumin config and the stand-ins."""
        for path in (self.bin_dir, self.cumin_config.parent):
            path.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege separation directory
        _keygen(self.client_key)
        _write_executable(self.bin_dir / "cat", CAT_STAND_IN)
        _write_executable(self.bin_dir / "reboot-host", REBOOT_STAND_IN)
        user = _current_user()
        ssh_entries = []
        for host in self.hosts:
            self.ports[host] = free_port(self.addresses[host])
            self.state_dir(host).mkdir(parents=True, exist_ok=True)
            self._host_dir(host).mkdir(parents=True, exist_ok=True)
            _keygen(self._host_dir(host) / "host_key")
            self._sshd_config(host).write_text(self._render_sshd_config(host), encoding="utf-8")
            ssh_entries.append(
                f"Host {host}\n"
                f"    HostName {self.addresses[host]}\n"
                f"    Port {self.ports[host]}\n"
                f"    User {user}\n"
                f"    IdentityFile {self.client_key}\n"
                "    IdentitiesOnly yes\n"
                "    StrictHostKeyChecking no\n"
                "    UserKnownHostsFile /dev/null\n"
                "    LogLevel ERROR\n"
                "    BatchMode yes\n"
                "    ConnectTimeout 5\n"
            )
        self.ssh_config.write_text("\n".join(ssh_entries), encoding="utf-8")
        self.cumin_config.write_text(
            "transport: clustershell\n"
            "default_backend: direct\n"
            "log_file: " + str(self.base_dir / "cumin" / "cumin.log") + "\n"
            "clustershell:\n"
            f'    ssh_options: ["-F {self.ssh_config}"]\n'
            "    fanout: 64\n",
            encoding="utf-8",
        )

    def _render_sshd_config(self, host: str) -> str:
        """Return the sshd_config of one host."""
        host_dir = self._host_dir(host)
        environment = {
            "FLEET_HOST": host,
            "FLEET_STATE_DIR": self.state_dir(host),
            "FLEET_SSHD": self.sshd_binary,
            "FLEET_SSHD_CONFIG": self._sshd_config(host),
            "FLEET_SSHD_PIDFILE": self._pidfile(host),
            "FLEET_SSHD_LOG": host_dir / "sshd.log",
            "PATH": f"{self.bin_dir}:{SYSTEM_PATH}",
            "SHLVL": "1",  # bash sources ~/.bashrc for SSH commands only at level 0: keep hosts clean of it
        }
        return (
            f"ListenAddress {self.addresses[host]}:{self.ports[host]}\n"
            f"HostKey {host_dir / 'host_key'}\n"
            f"PidFile {self._pidfile(host)}\n"
            f"AuthorizedKeysFile {self.client_key}.pub\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "PrintMotd no\n"
            "MaxStartups 200\n"
            "LogLevel ERROR\n"
            "SetEnv " + " ".join(f"{name}={value}" for name, value in environment.items()) + "\n"
        )

    def _spawn(self, host: str) -> None:
        """Start the host's sshd in the foreground (our child) after recording a new boot time."""
        self._check_host(host)
        if host in self._processes and self._processes[host].poll() is None:
            raise RuntimeError(f"{host} is already running")
        (self.state_dir(host) / "boot_time").write_text(f"{time.time():.6f}\n", encoding="utf-8")
        log = self._host_dir(host) / "sshd.log"
        self._processes[host] = subprocess.Popen(
            [self.sshd_binary, "-D", "-f", str(self._sshd_config(host)), "-E", str(log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _read_pid(self, host: str) -> int | None:
        """Return the PID in the host's pid file, if any: it also covers an sshd restarted by ``reboot-host``."""
        try:
            return int(self._pidfile(host).read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None

    def _host_dir(self, host: str) -> Path:
        return self.base_dir / "sshd" / host

    def _sshd_config(self, host: str) -> Path:
        return self._host_dir(host) / "sshd_config"

    def _pidfile(self, host: str) -> Path:
        return self._host_dir(host) / "sshd.pid"

    def _check_host(self, host: str) -> None:
        if host not in self.addresses:
            raise ValueError(f"Unknown fleet host {host!r}, expected one of {self.hosts[0]}..{self.hosts[-1]}")


def _terminate(pid: int) -> None:
    """Send SIGTERM to a PID and wait (bounded) until it is gone or a zombie."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    _poll(lambda: not _is_alive(pid), f"PID {pid} to exit")


def _is_alive(pid: int) -> bool:
    """Tell whether a process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _poll(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll ``check`` every 20ms until it is true, raising :py:class:`TimeoutError` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"Timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def _keygen(path: Path) -> None:
    """Generate an ed25519 key pair without passphrase at ``path``."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def _write_executable(path: Path, content: str) -> None:
    path.write_text(content, encoding="utf-8")
    path.chmod(0o755)


def _current_user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture(scope="session")
def ssh_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHFleet]:
    """A running :py:class:`SSHFleet` of ``FLEET_SIZE`` hosts for the whole session (see its docstring for the API).

    Tests that stop, break or reboot a host must leave it running again (``start``/``wait_up``) before they end.
    """
    sshd = require_binary("sshd")
    require_binary("ssh")
    fleet = SSHFleet(tmp_path_factory.mktemp("ssh-fleet"), sshd_binary=sshd)
    try:
        fleet.start_all()
        yield fleet
    finally:
        fleet.stop_all()


@pytest.fixture
def remote_fleet(ssh_fleet: SSHFleet) -> "Remote":
    """A :py:class:`spicerack.remote.Remote` (not in DRY-RUN) on the session fleet's cumin config."""
    from spicerack.remote import Remote

    return Remote(str(ssh_fleet.cumin_config), dry_run=False)
