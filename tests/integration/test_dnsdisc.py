"""DNS Discovery against a real etcd (conftool's ``discovery`` objects) and real authoritative nameservers (Knot)."""

import inspect
import logging
import socket
from ipaddress import ip_address

import pytest

from spicerack import Spicerack
from spicerack.confctl import Confctl
from spicerack.dnsdisc import Discovery, DiscoveryCheckError, DiscoveryError
from tests.integration.servers.authdns import AuthDns
from tests.integration.servers.etcd_v2 import ConftoolFiles

pytestmark = pytest.mark.integration


def discovery(files: ConftoolFiles, dns: AuthDns, *records: str, dry_run: bool = False) -> Discovery:
    conftool = Confctl(config=str(files.config), schema=str(files.schema), dry_run=dry_run).entity("discovery")
    return Discovery(conftool=conftool, authdns_servers=dns.servers, records=list(records), dry_run=dry_run)


def test_resolve_asks_every_nameserver(conftool_files, authdns):
    answers = list(discovery(conftool_files, authdns, "appservers-rw", "search").resolve())

    assert [(str(answer.nameserver), answer.port) for answer in answers] == [
        ("127.0.53.1", authdns.port),
        ("127.0.53.1", authdns.port),
        ("127.0.53.2", authdns.port),
        ("127.0.53.2", authdns.port),
    ]
    assert [(answer[0].address, answer.ttl) for answer in answers[:2]] == [("10.2.1.1", 10), ("10.2.2.30", 300)]


def test_check_ttl(conftool_files, authdns, caplog):
    disc = discovery(conftool_files, authdns, "appservers-rw", "api-ro")
    caplog.set_level(logging.INFO, logger="spicerack.dnsdisc")

    disc.check_ttl(10)

    assert "['appservers-rw', 'api-ro'] discovery.wmnet TTLs are correct." in caplog.text
    with pytest.raises(DiscoveryCheckError, match=r"Expected TTL '300', got '10' for record 10\.2\.1\.1$"):
        inspect.unwrap(Discovery.check_ttl)(disc, 300)  # one try: the check itself, without the retries' waits


def test_update_ttl_writes_conftool_and_checks_dns(conftool_files, authdns):
    discovery(conftool_files, authdns, "appservers-rw", "api-ro").update_ttl(10)

    for record in ("appservers-rw", "api-ro"):
        for dc in ("eqiad", "codfw"):
            assert conftool_files.read(f"discovery/{record}/{dc}")["ttl"] == 10
    assert conftool_files.read("discovery/search/eqiad")["ttl"] == 300


def test_update_ttl_dry_run_writes_nothing_and_does_not_fail(conftool_files, authdns):
    before = conftool_files.keys()

    discovery(conftool_files, authdns, "appservers-rw", dry_run=True).update_ttl(60)  # DNS says 10: not an error

    assert conftool_files.keys() == before


def test_check_record(conftool_files, authdns):
    disc = discovery(conftool_files, authdns, "appservers-rw")

    disc.check_record("appservers-rw", "appservers.svc.codfw.wmnet")
    with pytest.raises(DiscoveryError, match="Resolved record appservers-rw with the wrong IP"):
        inspect.unwrap(Discovery.check_record)(disc, "appservers-rw", "appservers.svc.eqiad.wmnet")
    with pytest.raises(DiscoveryError, match=r"Unable to resolve appservers\.svc\.ulsfo\.wmnet"):
        inspect.unwrap(Discovery.check_record)(disc, "appservers-rw", "appservers.svc.ulsfo.wmnet")
    # In DRY-RUN the change was not made, so another address is expected and not an error.
    discovery(conftool_files, authdns, "appservers-rw", dry_run=True).check_record(
        "appservers-rw", "appservers.svc.eqiad.wmnet"
    )


def test_resolve_address_and_unknown_records(conftool_files, authdns):
    disc = discovery(conftool_files, authdns, "nope")

    assert disc.resolve_address("appservers.svc.eqiad.wmnet") == "10.2.2.1"
    with pytest.raises(DiscoveryError, match=r"Unable to resolve nope\.discovery\.wmnet from ns1"):
        list(disc.resolve())


def test_resolve_with_client_ip(conftool_files, authdns):
    disc = discovery(conftool_files, authdns, "appservers-rw")

    assert disc.resolve_with_client_ip("appservers-rw", ip_address("192.0.2.1")) == {
        "ns1": ip_address("10.2.1.1"),
        "ns2": ip_address("10.2.1.1"),
    }
    with pytest.raises(DiscoveryError, match="Record 'search' not found"):
        disc.resolve_with_client_ip("search", ip_address("192.0.2.1"))


def test_resolve_with_client_ip_gives_up_after_the_timeout(conftool_files):
    # A UDP socket that receives the query and never answers: the timeout ends the wait.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        conftool = Confctl(config=str(conftool_files.config), schema=str(conftool_files.schema)).entity("discovery")
        disc = Discovery(conftool=conftool, authdns_servers={"mute": f"127.0.0.1:{port}"}, records=["appservers-rw"])
        with pytest.raises(DiscoveryError, match=r"Unable to resolve appservers-rw\.discovery\.wmnet from mute"):
            disc.resolve_with_client_ip("appservers-rw", ip_address("192.0.2.1"), timeout=0.2)
        assert silent.recv(4096)  # The query did reach the server


def test_pool_and_depool_write_conftool(conftool_files, authdns):
    disc = discovery(conftool_files, authdns, "appservers-rw", "api-ro")

    disc.pool("eqiad")
    disc.pool("codfw")
    active = {record: sorted(dcs) for record, dcs in disc.active_datacenters.items()}
    assert active == {"appservers-rw": ["codfw", "eqiad"], "api-ro": ["codfw", "eqiad"]}
    disc.depool("eqiad")

    for record in ("appservers-rw", "api-ro"):
        assert conftool_files.read(f"discovery/{record}/eqiad")["pooled"] is False
        assert conftool_files.read(f"discovery/{record}/codfw")["pooled"] is True
    with pytest.raises(DiscoveryError, match="Services api-ro, appservers-rw cannot be depooled as they are only "):
        disc.depool("codfw")
    assert conftool_files.read("discovery/api-ro/codfw")["pooled"] is True


def test_depool_dry_run_writes_nothing(conftool_files, authdns, caplog):
    conftool_files.write("discovery/search/eqiad", {"pooled": True, "references": [], "ttl": 300})
    before = conftool_files.keys()
    disc = discovery(conftool_files, authdns, "search", dry_run=True)
    caplog.set_level(logging.DEBUG, logger="spicerack")

    disc.depool("eqiad")  # the last datacenter: refused outside DRY-RUN, only logged here

    assert conftool_files.keys() == before
    assert "Services search cannot be depooled as they are only active in eqiad" in caplog.text


def test_spicerack_accessor(conftool_files, authdns, tmp_path):
    authdns.write_authdns_yaml(tmp_path)
    spicerack = Spicerack(
        conftool_config=str(conftool_files.config),
        conftool_schema=str(conftool_files.schema),
        spicerack_config_dir=str(tmp_path),
        dry_run=False,
    )

    disc = spicerack.discovery("search")
    disc.pool("eqiad")
    disc.check_ttl(300)

    assert spicerack.authdns_servers == authdns.servers
    assert conftool_files.read("discovery/search/eqiad")["pooled"] is True


def test_accessor_with_a_bad_authdns_file(conftool_files, tmp_path):
    spicerack = Spicerack(
        conftool_config=str(conftool_files.config),
        conftool_schema=str(conftool_files.schema),
        spicerack_config_dir=str(tmp_path),
    )
    with pytest.raises(DiscoveryError, match="Unable to read the authoritative DNS servers file"):
        spicerack.discovery("search")

    (tmp_path / "discovery").mkdir()
    (tmp_path / "discovery" / "authdns.yaml").write_text("ns1: not-an-ip\n", encoding="utf-8")
    with pytest.raises(DiscoveryError, match="Invalid address 'not-an-ip' for the nameserver ns1"):
        spicerack.discovery("search")
