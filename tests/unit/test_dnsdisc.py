"""Unit tests of spicerack.dnsdisc's pure logic: nameserver addresses, the authdns file, depool safety.

Resolution against real nameservers and changes in etcd are in tests/integration/test_dnsdisc.py.
"""

import logging
import re
import warnings
from collections.abc import Iterator
from ipaddress import ip_address
from types import SimpleNamespace
from typing import Any

import pytest

from spicerack.dnsdisc import AUTHDNS_PORT, Discovery, DiscoveryError, load_authdns_servers


class FakeConftool:
    """The ``discovery`` objects a ConftoolEntity would return, and the values set on them."""

    def __init__(self, pooled: dict[tuple[str, str], bool]) -> None:
        self.pooled = pooled
        self.calls: list[tuple[str, Any, dict[str, str]]] = []

    def get(self, **tags: str) -> Iterator[SimpleNamespace]:
        self.calls.append(("get", None, tags))
        for (record, dc), pooled in self.pooled.items():
            yield SimpleNamespace(name=dc, tags={"dnsdisc": record}, pooled=pooled)

    def set_and_verify(self, key: str, value: Any, **tags: str) -> None:
        self.calls.append((key, value, tags))


def make_discovery(conftool: FakeConftool, *records: str, dry_run: bool = False, **servers: str) -> Discovery:
    return Discovery(conftool=conftool, authdns_servers=servers, records=list(records), dry_run=dry_run)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("192.0.2.53", ("192.0.2.53", AUTHDNS_PORT)),
        ("192.0.2.53:5300", ("192.0.2.53", 5300)),
        ("2001:db8::53", ("2001:db8::53", AUTHDNS_PORT)),
        ("[2001:db8::53]:53", ("2001:db8::53", 53)),
        ("[2001:db8::53]", ("2001:db8::53", AUTHDNS_PORT)),
    ],
)
def test_nameserver_addresses(address, expected):
    discovery = make_discovery(FakeConftool({}), "svc", ns1=address)

    dns_resolver = discovery._resolvers["ns1"]
    assert (str(dns_resolver.nameservers[0]), dns_resolver.port) == expected


@pytest.mark.parametrize("address", ["ns1.example.org", "192.0.2.53:dns", "192.0.2.53:0", "[2001:db8::53]:70000", ""])
def test_invalid_nameserver_addresses(address):
    with pytest.raises(DiscoveryError, match=f"Invalid .*'{re.escape(address)}'.* nameserver ns1"):
        make_discovery(FakeConftool({}), "svc", ns1=address)


def test_pool_and_ttl_select_all_records():
    conftool = FakeConftool({})
    discovery = make_discovery(conftool, "svc-a", "svc-b")

    discovery.pool("eqiad")

    assert conftool.calls == [("pooled", True, {"dnsdisc": "(svc-a|svc-b)", "name": "eqiad"})]


def test_active_datacenters():
    conftool = FakeConftool({("a", "eqiad"): True, ("a", "codfw"): True, ("b", "eqiad"): False, ("c", "codfw"): True})

    assert make_discovery(conftool, "a", "b", "c").active_datacenters == {"a": ["eqiad", "codfw"], "c": ["codfw"]}


def test_depool_refuses_to_leave_a_record_pooled_nowhere():
    conftool = FakeConftool({("a", "eqiad"): True, ("b", "eqiad"): True, ("b", "codfw"): True, ("c", "eqiad"): False})
    discovery = make_discovery(conftool, "a", "b", "c")

    with pytest.raises(DiscoveryError, match="Services a cannot be depooled as they are only active in eqiad"):
        discovery.depool("eqiad")
    discovery.depool("codfw")  # a is pooled in eqiad, b stays pooled in eqiad, c is pooled nowhere already

    assert [call for call in conftool.calls if call[0] != "get"] == [
        ("pooled", False, {"dnsdisc": "(a|b|c)", "name": "codfw"})
    ]


def test_depool_in_dry_run_only_logs_the_refusal(caplog):
    conftool = FakeConftool({("a", "eqiad"): True})
    caplog.set_level(logging.DEBUG, logger="spicerack.dnsdisc")

    make_discovery(conftool, "a", dry_run=True).depool("eqiad")

    assert "Services a cannot be depooled as they are only active in eqiad" in caplog.text
    assert conftool.calls[-1] == ("pooled", False, {"dnsdisc": "(a)", "name": "eqiad"})


def test_resolve_needs_nameservers_and_known_records():
    discovery = make_discovery(FakeConftool({}), "svc")

    with pytest.raises(DiscoveryError, match="No authoritative nameserver configured"):
        discovery.resolve_address("svc.svc.eqiad.wmnet")
    with pytest.raises(DiscoveryError, match="Record 'other' not found"):
        discovery.resolve_with_client_ip("other", ip_address("192.0.2.1"))


def test_load_authdns_servers(tmp_path):
    path = tmp_path / "discovery" / "authdns.yaml"
    path.parent.mkdir()
    path.write_text("ns0.example.org: 192.0.2.1\nns1.example.org: '[2001:db8::1]:5353'\n", encoding="utf-8")

    assert load_authdns_servers(tmp_path) == {"ns0.example.org": "192.0.2.1", "ns1.example.org": "[2001:db8::1]:5353"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"Unable to read the authoritative DNS servers file .*authdns\.yaml"),
        ("- ns0\n", "must be a YAML mapping"),
        ("ns0: [192.0.2.1]\n", "The address of ns0 in .* must be a string, got list"),
        ("ns0: 'example.org'\n", "Invalid address 'example.org' for the nameserver ns0"),
        ("ns0: [\n", "is not valid YAML at line"),
    ],
)
def test_load_authdns_servers_errors(tmp_path, content, message):
    if content is not None:
        path = tmp_path / "discovery" / "authdns.yaml"
        path.parent.mkdir()
        path.write_text(content, encoding="utf-8")

    with pytest.raises(DiscoveryError, match=message):
        load_authdns_servers(tmp_path)


def test_resolve_with_client_ip_timeout_defaults_to_two_seconds(monkeypatch):
    timeouts: list[float | None] = []

    def no_answer(query: object, where: str, *, port: int, timeout: float | None) -> None:
        timeouts.append(timeout)
        raise TimeoutError("no answer")

    monkeypatch.setattr("dns.query.udp_with_fallback", no_answer)
    discovery = make_discovery(FakeConftool({}), "svc", ns1="192.0.2.53")
    for kwargs in ({}, {"timeout": 0.5}, {"timeout": None}):
        with pytest.raises(DiscoveryError, match=r"Unable to resolve svc\.discovery\.wmnet from ns1: no answer"):
            discovery.resolve_with_client_ip("svc", ip_address("192.0.2.1"), **kwargs)
    assert timeouts == [2.0, 0.5, None]


def test_resolution_shows_no_deprecation_warning(monkeypatch, recwarn):
    discovery = make_discovery(FakeConftool({}), "svc", ns1="192.0.2.53")
    answer = [SimpleNamespace(address="10.2.1.1")]

    def query(name: str, *args: object, **kwargs: object) -> list[SimpleNamespace]:
        warnings.warn("please use dns.resolver.Resolver.resolve() instead", DeprecationWarning, stacklevel=2)
        assert name == "svc.svc.eqiad.wmnet"
        return answer

    monkeypatch.setattr(discovery._resolvers["ns1"], "query", query)
    assert discovery.resolve_address("svc.svc.eqiad.wmnet") == "10.2.1.1"
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]
