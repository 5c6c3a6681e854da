"""Authoritative nameservers for the DNS Discovery tests: one Knot DNS process answering on two loopback addresses.

Each address plays one of the ``authdns_servers`` (``ns1``, ``ns2``), both on the same free port. The zones are in
:py:data:`AUTHDNS_ZONES`: ``discovery.wmnet`` and the ``svc`` zones of two datacenters.
"""

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.integration.servers import require_binary, wait_until

__all__ = ["AUTHDNS_ZONES", "AuthDns", "authdns"]

_HEADER = """\
@ 3600 SOA ns1.wmnet. hostmaster.wmnet. 1 3600 600 86400 300
@ 3600 NS ns1.wmnet.
"""

AUTHDNS_ZONES = {
    "discovery.wmnet": _HEADER
    + """\
appservers-rw 10 A 10.2.1.1
api-ro 10 A 10.2.1.22
search 300 A 10.2.2.30
""",
    "svc.eqiad.wmnet": _HEADER + "appservers 300 A 10.2.2.1\n",
    "svc.codfw.wmnet": _HEADER + "appservers 300 A 10.2.1.1\n",
}
"""The zones served, by name. ``appservers-rw`` and ``api-ro`` have a TTL of 10 s, ``search`` of 300 s."""

ADDRESSES = ("127.0.53.1", "127.0.53.2")


@dataclass(frozen=True)
class AuthDns:
    """The running nameservers: ``servers`` is ``{"ns1": "127.0.53.1:PORT", "ns2": ...}`` (``authdns_servers``)."""

    port: int
    servers: dict[str, str]

    def write_authdns_yaml(self, config_dir: Path) -> Path:
        """Write ``discovery/authdns.yaml`` listing the nameservers in a Spicerack configuration directory."""
        path = config_dir / "discovery" / "authdns.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{name}: '{address}'\n" for name, address in self.servers.items()), "utf-8")
        return path


def _port_free_on_all(port: int) -> bool:
    for address in ADDRESSES:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                try:
                    sock.bind((address, port))
                except OSError:
                    return False
    return True


def _free_shared_port() -> int:
    """Return a port free for UDP and TCP on every address of :py:data:`ADDRESSES`."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((ADDRESSES[0], 0))
            port = int(sock.getsockname()[1])
        if _port_free_on_all(port):
            return port
    raise RuntimeError("no port free on all the test nameserver addresses")


def _knot_conf(base_dir: Path, port: int) -> str:
    listen = ", ".join(f"{address}@{port}" for address in ADDRESSES)
    zones = "".join(f"  - domain: {zone}\n" for zone in AUTHDNS_ZONES)
    return (
        f'server:\n    rundir: "{base_dir}"\n    listen: [ {listen} ]\n'
        "    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n"
        f'database:\n    storage: "{base_dir / "db"}"\n'
        "log:\n  - target: stderr\n    any: warning\n"
        f'template:\n  - id: default\n    storage: "{base_dir / "zones"}"\n    file: "%s.zone"\n'
        "    zonefile-sync: -1\n    journal-content: none\n"
        f"zone:\n{zones}"
    )


def _answers_everywhere(port: int) -> bool:
    for address in ADDRESSES:
        for zone in AUTHDNS_ZONES:
            try:
                response = dns.query.udp(dns.message.make_query(zone, "SOA"), address, port=port, timeout=0.5)
            except dns.exception.Timeout:  # still starting
                return False
            if response.rcode() != dns.rcode.NOERROR or not response.answer:
                return False
    return True


@pytest.fixture(scope="session")
def authdns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthDns]:
    """Start Knot DNS with the Discovery zones for the session; stopped by PID at the end."""
    binary = require_binary("knotd")
    base_dir = tmp_path_factory.mktemp("authdns")
    (base_dir / "db").mkdir()
    (base_dir / "zones").mkdir()
    for zone, records in AUTHDNS_ZONES.items():
        (base_dir / "zones" / f"{zone}.zone").write_text(f"$ORIGIN {zone}.\n{records}", encoding="utf-8")
    port = _free_shared_port()
    config = base_dir / "knot.conf"
    config.write_text(_knot_conf(base_dir, port), encoding="utf-8")
    with (base_dir / "knotd.log").open("wb") as log:
        process = subprocess.Popen([binary, "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: process.poll() is None and _answers_everywhere(port), what="knotd")
        yield AuthDns(port=port, servers={f"ns{i}": f"{a}:{port}" for i, a in enumerate(ADDRESSES, start=1)})
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
