"""Stand-ins for the Puppet and Icinga tools on the SSH fleet's hosts, so that the real commands travel and act.

Puppet: the shell scripts in ``puppet/`` (``disable-puppet``, ``enable-puppet``, ``run-puppet-agent``, ``puppet``,
``puppetserver``, ``systemctl`` and the ``puppet-common.sh`` library) are copied into the fleet's ``bin_dir``; each
keeps its state in ``<state_dir(host)>/puppet`` (disable lock, run summary, runs, CSR) and the CA's certificates in
``<state_dir(server)>/puppetca``.

Icinga: :py:class:`FakeIcinga` plays the Icinga daemon of one fleet host: it reads the external commands written to
its command file (a FIFO, as Icinga's) and applies them to ``<state_dir(host)>/icinga/status.json``, which the
``icinga-status`` stand-in (``icinga_status.py``) reports from. Every received command is appended to
``commands.log`` next to it.
"""

import json
import os
import re
import shutil
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.servers.sshd import SSHFleet

__all__ = [
    "ICINGA_MASTER",
    "MONITORED_HOSTS",
    "PUPPET_HOSTS",
    "PUPPET_SERVER",
    "FakeIcinga",
    "PuppetTools",
    "fake_icinga",
    "icinga_env",
    "puppet_env",
    "puppet_tools",
]

TOOLS_DIR = Path(__file__).parent
PUPPET_HOSTS = ("test-host09", "test-host10", "test-host11")
"""The fleet hosts the Puppet tests act on."""
PUPPET_SERVER = "test-host12"
"""The fleet host playing the Puppet server and CA."""
ICINGA_MASTER = "test-host12"
"""The fleet host playing the Icinga master."""
MONITORED_HOSTS = ("test-host09", "test-host10", "test-host11")
"""The hosts the fake Icinga knows after :py:meth:`FakeIcinga.reset`."""


class PuppetTools:
    """The Puppet stand-ins installed on a fleet, and readers of their state on each host."""

    def __init__(self, fleet: SSHFleet) -> None:
        self.fleet = fleet
        for script in sorted((TOOLS_DIR / "puppet").iterdir()):
            target = fleet.bin_dir / script.name
            if script.name == "systemctl" and target.exists() and target.read_bytes() != script.read_bytes():
                continue  # Somebody else's systemctl stand-in: keep it
            shutil.copyfile(script, target)
            target.chmod(0o755)
        self.common_script = fleet.bin_dir / "puppet-common.sh"

    def state(self, host: str) -> Path:
        """The host's Puppet state directory."""
        return self.fleet.state_dir(host) / "puppet"

    def reset(self, host: str) -> None:
        """Forget every Puppet state of the host: enabled, never run, no certificate, default settings."""
        shutil.rmtree(self.state(host), ignore_errors=True)
        shutil.rmtree(self.fleet.state_dir(host) / "puppetca", ignore_errors=True)
        shutil.rmtree(self.fleet.state_dir(host) / "hiera", ignore_errors=True)
        self.state(host).mkdir(parents=True)

    def disabled_message(self, host: str) -> str | None:
        """The message Puppet is disabled with on the host, or None when enabled."""
        lock = self.state(host) / "agent_disabled.lock"
        if not lock.exists():
            return None
        message: str = json.loads(lock.read_text(encoding="utf-8"))["disabled_message"]
        return message

    def runs(self, host: str) -> list[tuple[int, int]]:
        """The simulated agent runs of the host: (time, failures) each."""
        runs_file = self.state(host) / "runs"
        if not runs_file.exists():
            return []
        return [
            (int(when), int(failures))
            for when, failures in (line.split() for line in runs_file.read_text(encoding="utf-8").splitlines())
        ]

    def set_setting(self, host: str, name: str, value: str) -> None:
        """Set an agent setting of the host, as ``puppet config print`` reports it."""
        config_dir = self.state(host) / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / name).write_text(f"{value}\n", encoding="utf-8")

    def certificate(self, server: str, certname: str) -> dict[str, Any] | None:
        """The CA's record of a certificate on the server, or None."""
        cert = self.fleet.state_dir(server) / "puppetca" / f"{certname}.json"
        if not cert.exists():
            return None
        record: dict[str, Any] = json.loads(cert.read_text(encoding="utf-8"))
        return record


class FakeIcinga:
    """The Icinga daemon of one fleet host: external commands in through a FIFO, status out in a JSON file."""

    def __init__(self, fleet: SSHFleet, host: str, tools_dir: Path) -> None:
        self.fleet = fleet
        self.host = host
        self.dir = fleet.state_dir(host) / "icinga"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.command_file = self.dir / "rw" / "icinga.cmd"
        self.config_file = self.dir / "icinga.cfg"
        self.status_file = self.dir / "status.json"
        self.commands_log = self.dir / "commands.log"
        self.status_command = tools_dir / "icinga-status"
        self._status: dict[str, Any] = {"hosts": {}}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # Set while the reader waits for the next writer: what was written before has been applied by then.
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"fake-icinga-{host}", daemon=True)

        self.command_file.parent.mkdir(exist_ok=True)
        if self.command_file.exists():
            self.command_file.unlink()
        os.mkfifo(self.command_file, 0o660)
        self.config_file.write_text(
            f"# Icinga configuration (stand-in)\nlog_file=/dev/null\ncommand_file={self.command_file}\n",
            encoding="utf-8",
        )
        tools_dir.mkdir(parents=True, exist_ok=True)
        self.status_command.write_text(
            f'#!/bin/sh\nexec "{sys.executable}" "{TOOLS_DIR / "icinga_status.py"}" "$@"\n', encoding="utf-8"
        )
        self.status_command.chmod(0o755)
        self.reset()

    def write_spicerack_config(self, config_dir: Path) -> None:
        """Write ``icinga/config.yaml`` in a Spicerack configuration directory, pointing at this fake."""
        (config_dir / "icinga").mkdir(parents=True, exist_ok=True)
        config = {
            "master_host": self.host,
            "config_file": str(self.config_file),
            "status_command": str(self.status_command),
        }
        (config_dir / "icinga" / "config.yaml").write_text(json.dumps(config), encoding="utf-8")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the reader thread: wake it up with an empty write if it waits for a writer."""
        self._stopping.set()
        deadline = time.monotonic() + 10
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:
                fd = os.open(self.command_file, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
            except OSError:
                pass
            self._thread.join(0.05)

    def reset(self, hosts: tuple[str, ...] = MONITORED_HOSTS) -> None:
        """Know only the given hosts, up with OK ``ssh`` and ``disk`` services, no downtimes, no commands."""
        with self._lock:
            self._status = {"hosts": {}}
            for name in hosts:
                self._status["hosts"][name] = _new_host(("ssh", "disk"))
            self._write()
        self.commands_log.write_text("", encoding="utf-8")

    def set_service(
        self, host: str, service: str, current_state: int, *, acked: bool = False, recovers_on_check: bool = False
    ) -> None:
        """Set a service's state (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), adding it if new."""
        with self._lock:
            services = self._status["hosts"][host]["services"]
            entry = services.setdefault(service, _new_service())
            entry.update(current_state=current_state, acked=acked, recovers_on_check=recovers_on_check)
            self._write()

    def set_host_state(self, host: str, current_state: int) -> None:
        """Set a host's state (0 UP, 1 DOWN, 2 UNREACHABLE)."""
        with self._lock:
            self._status["hosts"][host]["current_state"] = current_state
            self._write()

    def status(self) -> dict[str, Any]:
        """The status as stored in the host's ``status.json``, once the commands written so far are applied.

        The commands are applied by the reader thread after the writer (a remote ``echo``) has closed the pipe, so a
        test reading the status right after a command waits for the reader to be idle again (bounded).
        """
        self._idle.wait(timeout=10)
        status: dict[str, Any] = json.loads(self.status_file.read_text(encoding="utf-8"))
        return status

    def commands(self) -> list[str]:
        """The external commands received since the last reset, without their timestamp."""
        self._idle.wait(timeout=10)  # as status(): the commands written so far are logged
        lines = self.commands_log.read_text(encoding="utf-8").splitlines()
        return [re.sub(r"^\[\d+\] ", "", line) for line in lines]

    def host_downtimes(self, host: str) -> list[dict[str, Any]]:
        downtimes: list[dict[str, Any]] = self.status()["hosts"][host]["downtimes"]
        return downtimes

    def service_downtimes(self, host: str, service: str) -> list[dict[str, Any]]:
        downtimes: list[dict[str, Any]] = self.status()["hosts"][host]["services"][service]["downtimes"]
        return downtimes

    def _serve(self) -> None:
        while not self._stopping.is_set():
            self._idle.set()
            with open(self.command_file, "rb") as fifo:  # Blocks until a writer opens it, as Icinga's reader
                self._idle.clear()
                data = fifo.read().decode(errors="replace")
            for line in data.splitlines():
                if line.strip():
                    self._apply(line.strip())

    def _apply(self, line: str) -> None:
        with self._lock:
            with self.commands_log.open("a", encoding="utf-8") as log:
                log.write(line + "\n")
            match = re.fullmatch(r"\[\d+\] ([A-Z_]+)((?:;.*)?)", line)
            if match is None:
                return  # Icinga ignores (and logs) malformed lines
            command, args = match[1], match[2][1:].split(";") if match[2] else []
            host = self._status["hosts"].get(args[0]) if args else None
            if host is None:
                return  # Icinga ignores (and logs) commands for unknown hosts
            try:
                _apply_command(host, command, args[1:])
            except (ValueError, IndexError, KeyError):
                return  # Icinga rejects (and logs) commands with bad arguments
            self._write()

    def _write(self) -> None:
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._status, indent=1), encoding="utf-8")
        tmp.replace(self.status_file)


def _new_service() -> dict[str, Any]:
    return {"current_state": 0, "acked": False, "recovers_on_check": False, "downtimes": [], "forced_checks": 0}


def _new_host(services: tuple[str, ...]) -> dict[str, Any]:
    return {
        "current_state": 0,
        "notifications_enabled": True,
        "downtimes": [],
        "services": {name: _new_service() for name in services},
    }


def _downtime(args: list[str]) -> dict[str, Any]:
    """A downtime from the arguments start;end;fixed;trigger;duration;author;comment (the rest of the line)."""
    start, end, fixed, trigger, duration, author, *comment_parts = args
    return {
        "start": int(start),
        "end": int(end),
        "fixed": fixed,
        "trigger": trigger,
        "duration": int(duration),
        "author": author,
        "comment": ";".join(comment_parts),
    }


def _forced_check(service: dict[str, Any]) -> None:
    service["forced_checks"] += 1
    if service["recovers_on_check"]:
        service["current_state"] = 0


def _apply_command(host: dict[str, Any], command: str, args: list[str]) -> None:
    """Apply one external command to a host's status, as Icinga would."""
    services = host["services"]
    if command == "SCHEDULE_HOST_DOWNTIME":
        host["downtimes"].append(_downtime(args))
    elif command == "SCHEDULE_HOST_SVC_DOWNTIME":
        for service in services.values():
            service["downtimes"].append(_downtime(args))
    elif command == "SCHEDULE_SVC_DOWNTIME" and args[0] in services:
        services[args[0]]["downtimes"].append(_downtime(args[1:]))
    elif command == "DEL_DOWNTIME_BY_HOST_NAME":
        if args and args[0]:
            if args[0] in services:
                services[args[0]]["downtimes"] = []
        else:
            host["downtimes"] = []
            for service in services.values():
                service["downtimes"] = []
    elif command == "SCHEDULE_FORCED_SVC_CHECK" and args[0] in services:
        _forced_check(services[args[0]])
    elif command == "SCHEDULE_FORCED_HOST_SVC_CHECKS":
        for service in services.values():
            _forced_check(service)


@pytest.fixture(scope="session")
def puppet_tools(ssh_fleet: SSHFleet) -> PuppetTools:
    """The Puppet stand-ins, installed in the session fleet's ``bin_dir``."""
    return PuppetTools(ssh_fleet)


@pytest.fixture
def puppet_env(puppet_tools: PuppetTools, monkeypatch: pytest.MonkeyPatch) -> Iterator[PuppetTools]:
    """Clean Puppet state on the Puppet test hosts and server; spicerack.puppet pointed at the stand-in paths."""
    import spicerack.puppet

    monkeypatch.setattr(spicerack.puppet, "PUPPET_COMMON_SCRIPT", str(puppet_tools.common_script))
    monkeypatch.setattr(spicerack.puppet, "PUPPET_SSL_DIR", "$FLEET_STATE_DIR/puppet/ssl")
    for host in (*PUPPET_HOSTS, PUPPET_SERVER):
        puppet_tools.reset(host)
    yield puppet_tools


@pytest.fixture(scope="session")
def fake_icinga(ssh_fleet: SSHFleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeIcinga]:
    """The fake Icinga daemon of :py:data:`ICINGA_MASTER`, running for the whole session."""
    icinga = FakeIcinga(ssh_fleet, ICINGA_MASTER, tmp_path_factory.mktemp("icinga-tools"))
    icinga.start()
    try:
        yield icinga
    finally:
        icinga.stop()


@pytest.fixture
def icinga_env(fake_icinga: FakeIcinga) -> FakeIcinga:
    """The fake Icinga, reset: it knows only :py:data:`MONITORED_HOSTS`, all OK, no downtimes, no commands."""
    fake_icinga.reset()
    assert stat.S_ISFIFO(fake_icinga.command_file.stat().st_mode)
    return fake_icinga
