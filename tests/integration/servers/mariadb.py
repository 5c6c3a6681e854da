"""Two real MariaDB servers with GTID replication, living on two hosts of the SSH fleet.

The primary runs "on" ``test-host11`` and the replica "on" ``test-host12``: each listens with TLS on its fleet host's
loopback address (same port for both, as production hosts share one port in ``~/.my.cnf``), keeps its data and socket
in that host's state directory, and is reached over SSH by the fleet's ``mysql`` stand-in (the real client, reading
the host's own ``my.cnf``) just like a production host's ``mysql`` reaches its local instance as root through the
socket. The replica replicates from the primary with ``MASTER_USE_GTID=slave_pos`` from the very first event, so
every user and table created on the primary exists on both.

Native connections (PyMySQL) authenticate as a real user with a password, over TLS verified against the test CA,
so the fixture :py:func:`mariadb_client_env` gives the test a ``~/.my.cnf``, the CA bundle, the fleet's names
resolving to their addresses, and ``spicerack.mysql``'s host paths pointing at each host's state directory.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.servers import free_port, require_binary, wait_until
from tests.integration.servers.sshd import SSHFleet

__all__ = ["MariaDBPair", "MariaDBServer", "mariadb_client_env", "mariadb_pair"]

PRIMARY_HOST = "test-host11"
REPLICA_HOST = "test-host12"
CLIENT_USER = "spicerack"
CLIENT_PASSWORD = "cl13nt-s3cr3t"
REPLICATION_USER = "repl"
REPLICATION_PASSWORD = "r3pl-s3cr3t"

# The fleet's `mysql`: the real client with the host's own settings (its socket), as root's ~/.my.cnf does.
MYSQL_STAND_IN = """#!/bin/sh
exec /usr/bin/mariadb --defaults-file="$FLEET_STATE_DIR/my.cnf" "$@"
"""

# The fleet's `systemctl` for the MariaDB unit (tests point spicerack.mysql.SYSTEMCTL at it): acts on the server
# whose files are in the host's state directory, started again from the command line its fixture saved.
SYSTEMCTL_STAND_IN = """#!/bin/sh
state="${FLEET_STATE_DIR:?not a fleet host}"
echo "$*" >> "$state/mariadb-systemctl.log"
running() { pid=$(cat "$state/mysqld.pid" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
wait_for() { i=0; while ! "$@"; do i=$((i + 1)); [ "$i" -gt 300 ] && return 1; sleep 0.1; done; }
stopped() { ! running; }
ready() { running && [ -S "$state/mysqld.sock" ]; }
stop() { if running; then kill "$pid"; wait_for stopped; fi; }
start() {
    running && return 0
    rm -f "$state/mysqld.pid"
    setsid xargs -d '\\n' -a "$state/mysqld.args" env </dev/null >/dev/null 2>&1 &
    wait_for ready
}
case "$1" in
    show)
        if running; then printf 'ActiveState=active\\nSubState=running\\n'
        else printf 'ActiveState=inactive\\nSubState=dead\\n'; fi ;;
    status) if running; then echo "Active: active (running)"; else echo "Active: inactive (dead)"; exit 3; fi ;;
    stop) stop ;;
    start) start ;;
    restart) stop && start ;;
    set-environment) ;;
    *) echo "unsupported: $*" >&2; exit 1 ;;
esac
"""

SCHEMA = f"""
CREATE USER '{REPLICATION_USER}'@'%' IDENTIFIED BY '{REPLICATION_PASSWORD}';
GRANT REPLICATION SLAVE ON *.* TO '{REPLICATION_USER}'@'%';
CREATE USER '{CLIENT_USER}'@'%' IDENTIFIED BY '{CLIENT_PASSWORD}' REQUIRE SSL;
GRANT ALL PRIVILEGES ON *.* TO '{CLIENT_USER}'@'%';
CREATE DATABASE heartbeat;
CREATE TABLE heartbeat.heartbeat (
    ts VARCHAR(26) NOT NULL,
    server_id INT UNSIGNED NOT NULL,
    shard VARCHAR(10) NOT NULL,
    datacenter VARCHAR(10) NOT NULL,
    PRIMARY KEY (datacenter, shard)
);
CREATE DATABASE testdb;
CREATE TABLE testdb.items (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL);
"""


@dataclass
class MariaDBServer:
    """One ``mariadbd`` on a fleet host's address, its files in that host's state directory."""

    host: str
    address: str
    port: int
    server_id: int
    state_dir: Path
    tls_dir: Path
    binary: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "sqldata"

    @property
    def socket(self) -> Path:
        return self.state_dir / "mysqld.sock"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "mysqld.pid"

    def install(self) -> None:
        """Create an empty data directory (root authenticates through the socket only)."""
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        command = [
            require_binary("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={self.data_dir}",
            "--skip-test-db",
            "--auth-root-authentication-method=socket",
            *_run_as_user(),
        ]
        subprocess.run(command, check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)

    def start(self) -> None:
        """Start the server in the background and wait until it accepts connections."""
        command = [
            self.binary,
            "--no-defaults",
            f"--datadir={self.data_dir}",
            f"--socket={self.socket}",
            f"--pid-file={self.pid_file}",
            f"--log-error={self.state_dir / 'mysqld.err'}",
            f"--bind-address={self.address}",
            f"--port={self.port}",
            f"--server-id={self.server_id}",
            "--log-bin=mysql-bin",
            "--relay-log=relay-bin",
            "--binlog-format=ROW",
            "--log-slave-updates",
            "--skip-slave-start",
            "--skip-name-resolve",
            "--performance-schema=OFF",
            "--innodb-buffer-pool-size=32M",
            f"--ssl-ca={self.tls_dir / 'ca.crt'}",
            f"--ssl-cert={self.tls_dir / 'server.crt'}",
            f"--ssl-key={self.tls_dir / 'server.key'}",
            *_run_as_user(),
        ]
        (self.state_dir / "mysqld.args").write_text("\n".join(command) + "\n", encoding="utf-8")
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(self.is_ready, timeout=30, what=f"MariaDB on {self.host}")

    def is_ready(self) -> bool:
        """Whether the server greets TCP clients (and its socket is there)."""
        if self.process is not None and self.process.poll() is not None:
            log = (self.state_dir / "mysqld.err").read_text(errors="replace")[-2000:]
            pytest.fail(f"MariaDB on {self.host} exited with {self.process.returncode}: {log}")
        if not self.socket.exists():
            return False
        with socket.create_connection((self.address, self.port), timeout=1) as sock:
            return len(sock.recv(64)) > 4

    def stop(self) -> None:
        """Stop the server by its PID and wait (bounded) until it is gone.

        The PID is the one of the pid file when there is one: a test may have restarted the server through the
        ``systemctl`` stand-in, and then it is no longer the fixture's child.
        """
        pids = {self.process.pid} if self.process is not None and self.process.poll() is None else set()
        with contextlib.suppress(OSError, ValueError):
            pids.add(int(self.pid_file.read_text(encoding="utf-8").strip()))
        for pid in pids:
            _terminate(pid)
        if self.process is not None:
            self.process.wait(timeout=10)
        self.process = None

    def sql(self, statements: str, database: str = "") -> str:
        """Run SQL with the real client through the socket as the OS user (unix_socket), return the output."""
        command = [
            require_binary("mariadb"),
            "--no-defaults",
            f"--socket={self.socket}",
            "--batch",
            "--skip-column-names",
            "-e",
            statements,
        ]
        if database:
            command.append(database)
        result = subprocess.run(command, check=True, capture_output=True, text=True, timeout=30)
        return result.stdout.strip()


@dataclass
class MariaDBPair:
    """The running primary and replica, and what clients need to reach them."""

    primary: MariaDBServer
    replica: MariaDBServer
    port: int
    ca_cert: Path
    fleet: SSHFleet

    def wait_replica_in_sync(self) -> None:
        """Wait (bounded) until the replica has applied everything the primary has written so far."""
        position = self.primary.sql("SELECT @@gtid_binlog_pos")
        waited = self.replica.sql(f"SELECT MASTER_GTID_WAIT('{position}', 20)")
        if waited != "0":
            pytest.fail(f"The replica did not reach the primary's position {position} in 20s")

    def client_my_cnf(self, path: Path) -> Path:
        """Write a ``my.cnf`` with the client credentials (same port for both hosts) and return its path."""
        path.write_text(
            f"[client]\nuser={CLIENT_USER}\npassword={CLIENT_PASSWORD}\nport={self.port}\n", encoding="utf-8"
        )
        path.chmod(0o600)
        return path


@pytest.fixture(scope="session")
def mariadb_pair(ssh_fleet: SSHFleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBPair]:
    """A primary on ``test-host11`` and its GTID replica on ``test-host12``, for the whole session."""
    binary = require_binary("mariadbd")
    require_binary("mariadb")
    require_binary("openssl")
    tls_dir = tmp_path_factory.mktemp("mariadb-tls")
    _make_tls(
        tls_dir, [PRIMARY_HOST, REPLICA_HOST], [ssh_fleet.addresses[PRIMARY_HOST], ssh_fleet.addresses[REPLICA_HOST]]
    )
    port = _port_free_on(ssh_fleet.addresses[PRIMARY_HOST], ssh_fleet.addresses[REPLICA_HOST])
    servers = [
        MariaDBServer(
            host=host,
            address=ssh_fleet.addresses[host],
            port=port,
            server_id=server_id,
            state_dir=ssh_fleet.state_dir(host),
            tls_dir=tls_dir,
            binary=binary,
        )
        for server_id, host in enumerate((PRIMARY_HOST, REPLICA_HOST), start=1)
    ]
    primary, replica = servers
    _write_executable(ssh_fleet.bin_dir / "mysql", MYSQL_STAND_IN)
    _write_executable(ssh_fleet.bin_dir / "mariadb-systemctl", SYSTEMCTL_STAND_IN)
    try:
        for server in servers:
            server.install()
            server.start()
            write_host_my_cnf(ssh_fleet, server.host, server.socket)
        primary.sql(SCHEMA)
        replica.sql(
            f"CHANGE MASTER TO master_host='{primary.address}', master_port={port}, "
            f"master_user='{REPLICATION_USER}', master_password='{REPLICATION_PASSWORD}', "
            f"master_ssl=1, master_ssl_ca='{tls_dir / 'ca.crt'}', master_use_gtid=slave_pos; START SLAVE;"
        )
        pair = MariaDBPair(primary=primary, replica=replica, port=port, ca_cert=tls_dir / "ca.crt", fleet=ssh_fleet)
        pair.wait_replica_in_sync()
        yield pair
    finally:
        for server in reversed(servers):
            server.stop()


@pytest.fixture
def mariadb_client_env(mariadb_pair: MariaDBPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MariaDBPair:
    """Make ``spicerack.mysql`` reach the pair as it reaches production hosts.

    ``~/.my.cnf`` (a temporary ``HOME``) has the client's credentials and port, the CA bundle is the test CA, the
    fleet's host names resolve to their loopback addresses for native connections, and the paths on the hosts
    (client, sockets, data directories) are those of the fleet hosts, expanded by their shell.
    """
    from spicerack import mysql

    home = tmp_path / "home"
    home.mkdir()
    mariadb_pair.client_my_cnf(home / ".my.cnf")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(mysql, "WMF_CA_BUNDLE_PATH", str(mariadb_pair.ca_cert))
    monkeypatch.setattr(mysql, "MYSQL_CLIENT", "mysql")
    monkeypatch.setattr(mysql, "RUN_DIR", "$FLEET_STATE_DIR")
    monkeypatch.setattr(mysql, "DATA_DIR", "$FLEET_STATE_DIR/sqldata")
    monkeypatch.setattr(mysql, "SINGLE_INSTANCE_CONFIG", "$FLEET_STATE_DIR/etc/my.cnf")
    monkeypatch.setattr(mysql, "MULTI_INSTANCE_CONFIG_DIR", "$FLEET_STATE_DIR/etc/mysql/mysqld.conf.d")
    monkeypatch.setattr(socket, "getaddrinfo", _fleet_getaddrinfo(mariadb_pair.fleet.addresses, socket.getaddrinfo))
    return mariadb_pair


def write_host_my_cnf(fleet: SSHFleet, host: str, server_socket: Path) -> Path:
    """Point the fleet host's ``mysql`` (its ``my.cnf``) at a server's socket; return the file's path."""
    path = fleet.state_dir(host) / "my.cnf"
    path.write_text(f"[client]\nsocket={server_socket}\n", encoding="utf-8")
    return path


def _fleet_getaddrinfo(addresses: dict[str, str], real: Any) -> Any:
    """Return a ``getaddrinfo`` that resolves the fleet's host names to their addresses, as DNS would."""

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real(addresses.get(host, host), *args, **kwargs)

    return getaddrinfo


def _make_tls(directory: Path, names: list[str], addresses: list[str]) -> None:
    """Create a CA and a server certificate it signs, valid for the given names and addresses."""
    openssl = require_binary("openssl")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = {"check": True, "capture_output": True, "cwd": directory, "timeout": 30}
    subprocess.run(
        [openssl, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Test CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        **run,
    )  # fmt: skip
    subprocess.run(
        [openssl, "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={names[0]}"], **run
    )
    alt_names = ",".join([f"DNS:{name}" for name in names] + [f"IP:{address}" for address in addresses])
    (directory / "server.ext").write_text(f"subjectAltName={alt_names}\n", encoding="utf-8")
    subprocess.run(
        [openssl, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.crt", "-days", "2", "-extfile", "server.ext"],
        **run,
    )  # fmt: skip


def _port_free_on(*addresses: str) -> int:
    """Return a TCP port free on all the given addresses."""
    for _ in range(50):
        port = free_port(addresses[0])
        try:
            for address in addresses[1:]:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind((address, port))
        except OSError:
            continue
        return port
    pytest.fail(f"No TCP port free on all of {addresses}")


def _terminate(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM the PID, SIGKILL it if still there after ``timeout``; return once it is gone (or a zombie)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _is_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + timeout
        time.sleep(0.05)


def _is_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _run_as_user() -> list[str]:
    """mariadbd refuses to run as root unless told to."""
    return ["--user=root"] if os.geteuid() == 0 else []


def _write_executable(path: Path, content: str) -> None:
    path.write_text(content, encoding="utf-8")
    path.chmod(0o755)
