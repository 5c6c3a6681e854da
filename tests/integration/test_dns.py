"""Integration tests of ``spicerack.dns()`` against a real authoritative DNS server (Knot) on loopback."""

import shutil
from pathlib import Path

import pytest
from wmflib.dns import Dns, DnsError, DnsNotFound

from spicerack import Spicerack
from tests.integration.servers.dns import DOMAIN, DnsServer


@pytest.fixture
def dns(dns_server: DnsServer) -> Dns:
    """The client of ``spicerack.dns()``, configured through ``dns/config.yaml`` to ask the test server."""
    return Spicerack(spicerack_config_dir=str(dns_server.config_dir), dry_run=False).dns()


def test_the_accessor_returns_wmflib_dns_asking_the_configured_server(dns: Dns) -> None:
    assert isinstance(dns, Dns)
    assert dns.resolve_ipv4(f"ns1.{DOMAIN}") == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("host1", ["10.0.0.10"]),
        ("host2", ["10.0.0.20"]),
        ("multi", ["10.0.0.1", "10.0.0.2"]),
        ("alias", ["10.0.0.10"]),  # Followed through the CNAME
    ],
)
def test_resolve_ipv4(dns: Dns, name: str, expected: list[str]) -> None:
    assert sorted(dns.resolve_ipv4(f"{name}.{DOMAIN}")) == expected


def test_resolve_ipv6(dns: Dns) -> None:
    assert dns.resolve_ipv6(f"host1.{DOMAIN}") == ["2001:db8::10"]
    assert dns.resolve_ipv6(f"host3.{DOMAIN}") == ["2001:db8::30"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("host1", ["10.0.0.10", "2001:db8::10"]),  # Dual stack: IPv4 first
        ("host2", ["10.0.0.20"]),  # IPv4 only
        ("host3", ["2001:db8::30"]),  # IPv6 only
    ],
)
def test_resolve_ips(dns: Dns, name: str, expected: list[str]) -> None:
    assert dns.resolve_ips(f"{name}.{DOMAIN}") == expected


def test_resolve_ips_without_any_address_is_not_found(dns: Dns) -> None:
    with pytest.raises(DnsNotFound, match=f"Record A or AAAA not found for text-only.{DOMAIN}"):
        dns.resolve_ips(f"text-only.{DOMAIN}")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.10", ["host1.spicerack.test"]),
        ("2001:db8::10", ["host1.spicerack.test"]),
        ("2001:db8::30", ["host3.spicerack.test"]),
    ],
)
def test_resolve_ptr(dns: Dns, address: str, expected: list[str]) -> None:
    assert dns.resolve_ptr(address) == expected


def test_resolve_ptr_with_several_names(dns: Dns) -> None:
    assert sorted(dns.resolve_ptr("10.0.0.20")) == ["host2-alt.spicerack.test", "host2.spicerack.test"]


def test_resolve_ptr_of_an_unknown_address_is_not_found(dns: Dns) -> None:
    with pytest.raises(DnsNotFound, match="Record PTR not found"):
        dns.resolve_ptr("10.0.0.99")


def test_resolve_cname(dns: Dns) -> None:
    assert dns.resolve_cname(f"alias.{DOMAIN}") == f"host1.{DOMAIN}"
    assert dns.resolve_cname(f"alias-of-alias.{DOMAIN}") == f"alias.{DOMAIN}"  # One step only
    assert dns.resolve_cname(f"dangling.{DOMAIN}") == f"nowhere.{DOMAIN}"


def test_resolve_cname_of_a_name_without_cname_is_not_found(dns: Dns) -> None:
    with pytest.raises(DnsNotFound, match=f"Record CNAME not found for host1.{DOMAIN}"):
        dns.resolve_cname(f"host1.{DOMAIN}")


def test_resolve_srv_record(dns: Dns) -> None:
    answer = dns.resolve(f"_x-puppet-ca._tcp.{DOMAIN}", "SRV")
    assert [(rdata.port, rdata.target.to_text()) for rdata in answer] == [(8140, f"host1.{DOMAIN}.")]


@pytest.mark.parametrize(
    ("name", "resolve"),
    [
        ("missing", Dns.resolve_ipv4),  # NXDOMAIN
        ("missing", Dns.resolve_ipv6),
        ("host2", Dns.resolve_ipv6),  # The name exists, without that record type
        ("host3", Dns.resolve_ipv4),
        ("dangling", Dns.resolve_ips),  # The CNAME's target does not exist
        ("missing", Dns.resolve_cname),
    ],
)
def test_missing_records_are_not_found(dns: Dns, name: str, resolve: object) -> None:
    with pytest.raises(DnsNotFound, match="not found for"):
        resolve(dns, f"{name}.{DOMAIN}")  # type: ignore[operator]


def test_a_refused_query_is_a_dns_error_but_not_a_not_found(dns: Dns) -> None:
    # The server is authoritative only for its own zones and does not recurse: it refuses the rest.
    with pytest.raises(DnsError, match=r"Unable to resolve A record for example\.org") as raised:
        dns.resolve_ipv4("example.org")
    assert not isinstance(raised.value, DnsNotFound)


def test_icinga_master_host_is_the_cname_target_from_the_configured_server(
    tmp_path: Path, dns_server: DnsServer
) -> None:
    # Without a master_host in icinga/config.yaml, the master is the target of the Icinga name's CNAME.
    config_dir = tmp_path / "spicerack"
    shutil.copytree(dns_server.config_dir, config_dir)
    cumin_config = tmp_path / "cumin.yaml"
    cumin_config.write_text("transport: clustershell\ndefault_backend: direct\n", encoding="utf-8")
    spicerack = Spicerack(cumin_config=str(cumin_config), spicerack_config_dir=str(config_dir))

    assert str(spicerack.icinga_master_host()) == "alert1001.spicerack.test"
