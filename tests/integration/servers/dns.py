"""A real authoritative DNS server (Knot DNS) on loopback, serving a test zone and its reverse zones.

Tests see it through :py:class:`DnsServer`: its address and port, and a Spicerack configuration directory whose
``dns/config.yaml`` points ``spicerack.dns()`` at it. The records are in :py:data:`ZONES`.
"""

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.integration.servers import free_port, require_binary, stop_process, wait_until

__all__ = ["DOMAIN", "ZONES", "DnsServer", "dns_server"]

DOMAIN = "spicerack.test"
"""The forward zone the server is authoritative for."""

_SOA_AND_NS = """\
$TTL 300
@ SOA ns1.spicerack.test. hostmaster.spicerack.test. 1 3600 600 86400 300
@ NS ns1.spicerack.test.
"""

ZONES = {
    DOMAIN: _SOA_AND_NS
    + """\
ns1 A 127.0.0.1
host1 A 10.0.0.10
host1 AAAA 2001:db8::10
host2 A 10.0.0.20
host3 AAAA 2001:db8::30
multi A 10.0.0.1
multi A 10.0.0.2
alias CNAME host1
alias-of-alias CNAME alias
dangling CNAME nowhere.spicerack.test.
text-only TXT "no address here"
_x-puppet-ca._tcp SRV 0 10 8140 host1
""",
    "10.in-addr.arpa": _SOA_AND_NS
    + """\
10.0.0 PTR host1.spicerack.test.
20.0.0 PTR host2.spicerack.test.
20.0.0 PTR host2-alt.spicerack.test.
""",
    # The name whose CNAME is the Icinga master (spicerack.icinga.ICINGA_DOMAIN)
    "wikimedia.org": _SOA_AND_NS
    + """\
icinga CNAME alert1001.spicerack.test.
""",
    # 2001:db8::/32: host1 is 2001:db8::10 and host3 is 2001:db8::30
    "8.b.d.0.1.0.0.2.ip6.arpa": _SOA_AND_NS
    + """\
0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 PTR host1.spicerack.test.
0.3.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 PTR host3.spicerack.test.
""",
}
"""The zone files the server loads, by zone name."""


@dataclass(frozen=True)
class DnsServer:
    """A running authoritative DNS server and a Spicerack configuration directory pointing at it."""

    address: str
    port: int
    config_dir: Path


def _knot_config(base_dir: Path, address: str, port: int) -> str:
    zones = "".join(f"  - domain: {zone}\n" for zone in ZONES)
    return f"""\
server:
    rundir: "{base_dir}"
    listen: {address}@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{base_dir / "db"}"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "{base_dir / "zones"}"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
zone:
{zones}"""


def _write_zones(zones_dir: Path) -> None:
    zones_dir.mkdir()
    for zone, records in ZONES.items():
        (zones_dir / f"{zone}.zone").write_text(f"$ORIGIN {zone}.\n{records}", encoding="utf-8")


def _serves_every_zone(address: str, port: int) -> bool:
    for zone in ZONES:
        try:
            answer = dns.query.udp(dns.message.make_query(zone, "SOA"), address, port=port, timeout=0.5)
        except dns.exception.Timeout:
            return False
        if answer.rcode() != dns.rcode.NOERROR or not answer.answer:
            return False
    return True


def _write_spicerack_config(config_dir: Path, address: str, port: int) -> None:
    config_file = config_dir / "dns" / "config.yaml"
    config_file.parent.mkdir(parents=True)
    config_file.write_text(f"nameserver_addresses: [{address}]\nport: {port}\n", encoding="utf-8")


@pytest.fixture(scope="session")
def dns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsServer]:
    """Start one Knot DNS server for the session and stop it by PID at the end."""
    binary = require_binary("knotd")
    base_dir = tmp_path_factory.mktemp("knot")
    (base_dir / "db").mkdir()
    _write_zones(base_dir / "zones")
    address = "127.0.0.1"
    port = free_port(address)
    config_file = base_dir / "knot.conf"
    config_file.write_text(_knot_config(base_dir, address, port), encoding="utf-8")
    log = (base_dir / "knotd.log").open("wb")
    process = subprocess.Popen([binary, "--config", str(config_file)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: process.poll() is None and _serves_every_zone(address, port), what="knotd")
        config_dir = base_dir / "spicerack"
        _write_spicerack_config(config_dir, address, port)
        yield DnsServer(address=address, port=port, config_dir=config_dir)
    finally:
        stop_process(process)
        log.close()
