"""The service catalog against real servers: its Discovery records pool and depool conftool's ``discovery`` objects
in etcd (v2), its DNS checks ask real authoritative nameservers (Knot), its downtimes are Alertmanager silences.
"""

import logging
import shutil
import uuid
from ipaddress import ip_address
from pathlib import Path

import pytest
import yaml

from spicerack import Spicerack
from spicerack.dnsdisc import DiscoveryError
from spicerack.service import (
    Catalog,
    DiscoveryStateError,
    ServiceError,
    ServiceNotFoundError,
    TooManyDiscoveryRecordsError,
)
from tests.integration.servers.alertmanager import AlertmanagerServer
from tests.integration.servers.authdns import AuthDns
from tests.integration.servers.etcd_v2 import ConftoolFiles
from tests.unit.test_service import SERVICE_CATALOG_YAML

pytestmark = pytest.mark.integration

# The Knot fixture's discovery.wmnet zone answers appservers-rw with codfw's IP and api-ro with codfw's IP to every
# client, as the nameservers do when only codfw is pooled.
CLIENT_IPS = {"eqiad": ip_address("10.64.0.10"), "codfw": ip_address("10.192.0.10")}


def catalog_yaml() -> str:
    """The unit tests' catalog, with appservers-https's records being the ones the etcd fixture has."""
    return SERVICE_CATALOG_YAML.replace("dnsdisc: appservers-ro", "dnsdisc: api-ro")


@pytest.fixture
def config_dir(tmp_path: Path, authdns: AuthDns, alertmanager_server: AlertmanagerServer) -> Path:
    """Spicerack's configuration directory: the catalog, the nameservers and the Alertmanager instance."""
    config = tmp_path / "spicerack"
    (config / "service").mkdir(parents=True)
    (config / "service" / "service.yaml").write_text(catalog_yaml())
    authdns.write_authdns_yaml(config)
    shutil.copytree(alertmanager_server.config_dir / "alertmanager", config / "alertmanager")
    return config


def make_spicerack(files: ConftoolFiles, config_dir: Path, *, dry_run: bool = False) -> Spicerack:
    return Spicerack(
        conftool_config=str(files.config),
        conftool_schema=str(files.schema),
        spicerack_config_dir=str(config_dir),
        dry_run=dry_run,
    )


def pooled(files: ConftoolFiles, record: str) -> dict[str, bool]:
    result = {}
    for datacenter in ("eqiad", "codfw"):
        value = files.read(f"discovery/{record}/{datacenter}")
        if value is not None:
            result[datacenter] = value["pooled"]
    return result


def test_accessor_loads_the_catalog_once(conftool_files, config_dir):
    spicerack = make_spicerack(conftool_files, config_dir)

    catalog = spicerack.service_catalog()

    assert isinstance(catalog, Catalog)
    assert spicerack.service_catalog() is catalog
    assert len(catalog) == 4
    assert catalog.get("api-https").ip.get("codfw") == ip_address("10.2.1.22")


def test_accessor_refresh_reads_the_file_again(conftool_files, config_dir):
    spicerack = make_spicerack(conftool_files, config_dir)
    catalog = spicerack.service_catalog()
    catalog_file = config_dir / "service" / "service.yaml"
    services = yaml.safe_load(catalog_file.read_text())
    del services["api-https"]
    catalog_file.write_text(yaml.safe_dump(services))

    assert spicerack.service_catalog() is catalog  # Kept until asked
    refreshed = spicerack.service_catalog(refresh=True)
    assert refreshed is not catalog
    assert len(refreshed) == 3
    with pytest.raises(ServiceNotFoundError):
        refreshed.get("api-https")
    assert spicerack.service_catalog() is refreshed


def test_accessor_with_a_bad_catalog(conftool_files, config_dir):
    (config_dir / "service" / "service.yaml").write_text("api-https: [\n")

    with pytest.raises(ServiceError, match=r"The service catalog .*service\.yaml is not valid YAML at line 2"):
        make_spicerack(conftool_files, config_dir).service_catalog()


def test_pool_and_depool_change_the_discovery_objects(conftool_files, config_dir):
    discovery = make_spicerack(conftool_files, config_dir).service_catalog().get("api-https").discovery
    assert discovery is not None
    before = pooled(conftool_files, "appservers-rw")

    discovery.pool("eqiad")
    discovery.pool("codfw")
    assert pooled(conftool_files, "api-ro") == {"eqiad": True, "codfw": True}
    assert discovery.get().state == {"eqiad", "codfw"}

    discovery.depool("eqiad")

    assert pooled(conftool_files, "api-ro") == {"eqiad": False, "codfw": True}
    assert discovery.get().is_pooled_in("eqiad") is False
    assert pooled(conftool_files, "appservers-rw") == before  # another service's record
    with pytest.raises(DiscoveryError, match="Services api-ro cannot be depooled as they are only active in codfw"):
        discovery.depool("codfw")
    assert pooled(conftool_files, "api-ro") == {"eqiad": False, "codfw": True}


def test_depooled_context_repools(conftool_files, config_dir):
    discovery = make_spicerack(conftool_files, config_dir).service_catalog().get("appservers-https").discovery
    assert discovery is not None
    for datacenter in ("eqiad", "codfw"):
        discovery.pool(datacenter, name="appservers-rw")

    with discovery.depooled("eqiad", name="appservers-rw"):
        assert pooled(conftool_files, "appservers-rw") == {"eqiad": False, "codfw": True}

    assert pooled(conftool_files, "appservers-rw") == {"eqiad": True, "codfw": True}
    with pytest.raises(RuntimeError), discovery.depooled("codfw", name="appservers-rw"):
        raise RuntimeError("the maintenance failed")
    assert pooled(conftool_files, "appservers-rw") == {"eqiad": True, "codfw": False}  # left for the operator


def test_ambiguous_record_changes_nothing(conftool_files, config_dir):
    before = conftool_files.keys()
    discovery = make_spicerack(conftool_files, config_dir).service_catalog().get("appservers-https").discovery
    assert discovery is not None

    with pytest.raises(TooManyDiscoveryRecordsError, match="There are 2 DNS Discovery records but dnsdisc was not set"):
        discovery.depool("eqiad")

    assert conftool_files.keys() == before


def test_dry_run_writes_nothing(conftool_files, config_dir, caplog):
    before = conftool_files.keys()
    discovery = make_spicerack(conftool_files, config_dir, dry_run=True).service_catalog().get("search-https").discovery
    assert discovery is not None
    caplog.set_level(logging.DEBUG, logger="spicerack")

    discovery.pool("eqiad")
    with discovery.depooled("eqiad"):
        pass

    assert conftool_files.keys() == before
    assert "Skipping conftool update on dry-run mode" in caplog.text


def test_check_dns_state_compares_nameservers_with_conftool(conftool_files, config_dir):
    service = make_spicerack(conftool_files, config_dir).service_catalog().get("api-https")
    assert service.discovery is not None
    service.discovery.pool("codfw")

    # Nobody pooled in eqiad and codfw pooled: DNS answers codfw's IP everywhere, as the nameservers do.
    service.check_dns_state(CLIENT_IPS, tries=1)

    service.discovery.pool("eqiad")  # the nameservers (static here) do not follow: eqiad clients still get codfw
    with pytest.raises(DiscoveryStateError, match=r"api-ro\.discovery\.wmnet from eqiad: nameserver ns1 resolved to "):
        service.check_dns_state(CLIENT_IPS, tries=1)


def test_downtime_silences_the_service_probes(conftool_files, config_dir, alertmanager_server):
    spicerack = make_spicerack(conftool_files, config_dir)
    service = spicerack.service_catalog().get("api-https")
    reason = spicerack.admin_reason(f"service test {uuid.uuid4()}")

    with service.downtimed("codfw", reason):
        (silence,) = alertmanager_server.active_silences(reason.reason)
        matchers = {matcher["name"]: (matcher["value"], matcher["isRegex"]) for matcher in silence["matchers"]}
        assert matchers["site"] == ("codfw", False)
        assert matchers["job"] == ("^probes/.*", True)
        assert "api\\-https:443" in matchers["instance"][0]

    assert alertmanager_server.active_silences(reason.reason) == []
    with pytest.raises(ServiceError, match="Service api-https is not present in site esams"):
        service.downtime("esams", reason)


@pytest.mark.parametrize(("remove_on_error", "left"), [({}, 1), ({"remove_on_error": True}, 0)])
def test_downtime_is_kept_when_the_body_fails_unless_asked(
    conftool_files, config_dir, alertmanager_server, remove_on_error, left
):
    spicerack = make_spicerack(conftool_files, config_dir)
    service = spicerack.service_catalog().get("api-https")
    reason = spicerack.admin_reason(f"service test {uuid.uuid4()}")

    with pytest.raises(RuntimeError, match="failed"), service.downtimed("codfw", reason, **remove_on_error):
        raise RuntimeError("failed")

    assert len(alertmanager_server.active_silences(reason.reason)) == left
