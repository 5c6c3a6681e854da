"""Unit tests of spicerack.service: the catalog's parsing and model, record selection, retries, bad catalogs.

Pooling and depooling in etcd, DNS checks on real nameservers and downtimes on Alertmanager are in
tests/integration/test_service.py.
"""

from collections.abc import Iterator
from datetime import timedelta
from ipaddress import ip_address
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from wmflib.decorators import RetryParams

from spicerack import decorators
from spicerack import service as service_module
from spicerack.alertmanager import Alertmanager
from spicerack.dnsdisc import Discovery
from spicerack.service import (
    Catalog,
    DiscoveryRecordNotFoundError,
    DiscoveryStateError,
    Service,
    ServiceDiscovery,
    ServiceDiscoveryRecord,
    ServiceError,
    ServiceIPs,
    ServiceLVS,
    ServiceLVSConftool,
    ServiceMonitoring,
    ServiceNotFoundError,
    TooManyDiscoveryRecordsError,
    load_catalog,
)

SERVICE_CATALOG_YAML = """\
# The content of Puppet's service::catalog for a few services, as in hieradata/common/service.yaml.
appservers-https:
  description: Main MediaWiki application server cluster, appservers.svc.%{::site}.wmnet
  encryption: true
  ip:
    codfw:
      default: 10.2.1.1
    eqiad:
      default: 10.2.2.1
  lvs:
    enabled: true
    class: high-traffic1
    conftool:
      cluster: appserver
      service: nginx
    depool_threshold: '.95'
    monitors:
      IdleConnection:
        max-delay: 300
        timeout-clean-reconnect: 3
      ProxyFetch:
        url:
        - https://en.wikipedia.org/wiki/Special:BlankPage
  monitoring:
    check_command: check_https_url!en.wikipedia.org!/wiki/Special:BlankPage
    sites:
      codfw:
        hostname: appservers.svc.codfw.wmnet
      eqiad:
        hostname: appservers.svc.eqiad.wmnet
  port: 443
  sites:
  - eqiad
  - codfw
  state: production
  discovery:
  - dnsdisc: appservers-rw
    active_active: false
  - dnsdisc: appservers-ro
    active_active: true
  page: true
  probes:
  - type: http
    path: /wiki/Special:BlankPage
    host: en.wikipedia.org
  role: mediawiki::appserver
  team: serviceops
  httpbb_dir: appserver
api-https:
  description: MediaWiki API cluster, api.svc.%{::site}.wmnet
  encryption: true
  ip:
    codfw:
      default: 10.2.1.22
    eqiad:
      default: 10.2.2.22
  lvs:
    enabled: true
    class: high-traffic1
    conftool:
      cluster: api_appserver
      service: nginx
    depool_threshold: '.5'
    bgp: false
    scheduler: mh
    scheduler_flag: mh-port
    ipip_encapsulation: true
    protocol: tcp
  port: 443
  sites:
  - eqiad
  - codfw
  state: production
  discovery:
  - dnsdisc: api-ro
    active_active: true
  aliases:
  - api-ro
  public_aliases:
  - api.wikimedia.org
  public_endpoint: api
search-https:
  description: Elasticsearch, search.svc.eqiad.wmnet
  encryption: true
  ip:
    eqiad:
      default: 10.2.2.30
      ipv6: 2620:0:861:ed1a::3:1
  port: 9243
  sites:
  - eqiad
  state: lvs_setup
  discovery:
  - dnsdisc: search
    active_active: false
  exclude_from_switchover: true
  page: false
kibana:
  description: Kibana dashboards, kibana.svc.eqiad.wmnet
  encryption: false
  ip:
    eqiad:
      default: 10.2.2.40
  port: 80
  sites:
  - eqiad
  state: service_setup
"""
"""A realistic ``service/service.yaml``: LVS, several or one Discovery record(s), monitoring, no extras at all."""


class FakeConftool:
    """The ``discovery`` objects a ConftoolEntity would return, and the values set on them."""

    def __init__(self, pooled: dict[tuple[str, str], bool]) -> None:
        self.pooled = pooled
        self.calls: list[tuple[str, Any, dict[str, str]]] = []

    def get(self, **tags: str) -> Iterator[SimpleNamespace]:
        for (record, dc), pooled in self.pooled.items():
            if record in tags["dnsdisc"].strip("()").split("|"):
                yield SimpleNamespace(name=dc, tags={"dnsdisc": record}, pooled=pooled)

    def set_and_verify(self, key: str, value: Any, **tags: str) -> None:
        self.calls.append((key, value, tags))


def make_catalog(content: dict[str, Any] | None = None, conftool: FakeConftool | None = None, *, dry_run=False):
    return Catalog(
        yaml.safe_load(SERVICE_CATALOG_YAML) if content is None else content,
        alertmanager=Alertmanager(alertmanager_urls=["http://127.0.0.1:9"], dry_run=dry_run),
        confctl=conftool or FakeConftool({}),  # type: ignore[arg-type]
        authdns_servers={"ns1": "127.0.0.1:5353"},
        dry_run=dry_run,
    )


def test_catalog_is_iterable_and_sized():
    catalog = make_catalog()

    assert len(catalog) == 4
    assert catalog.service_names == ["appservers-https", "api-https", "search-https", "kibana"]
    assert [service.name for service in catalog] == catalog.service_names
    assert [service.name for service in catalog if "codfw" in service.sites] == ["appservers-https", "api-https"]


def test_full_service_model():
    service = make_catalog().get("appservers-https")

    assert isinstance(service, Service)
    assert service.port == 443
    assert service.encryption is True
    assert service.state == "production"
    assert service.ip.get("eqiad") == ip_address("10.2.2.1")
    assert service.lvs == ServiceLVS(
        conftool=ServiceLVSConftool(cluster="appserver", service="nginx"),
        depool_threshold=".95",  # type: ignore[arg-type]  # kept as Puppet has it
        enabled=True,
        lvs_class="high-traffic1",
        monitors={
            "IdleConnection": {"max-delay": 300, "timeout-clean-reconnect": 3},
            "ProxyFetch": {"url": ["https://en.wikipedia.org/wiki/Special:BlankPage"]},
        },
    )
    assert service.lvs.bgp is True
    assert service.lvs.scheduler == "wrr"
    assert isinstance(service.monitoring, ServiceMonitoring)
    assert service.monitoring.sites.get("codfw") == "appservers.svc.codfw.wmnet"
    assert service.monitoring.sites.get("esams") == ""
    assert service.monitoring.sites.sites == ["codfw", "eqiad"]
    assert sorted(service.monitoring.sites.all) == ["appservers.svc.codfw.wmnet", "appservers.svc.eqiad.wmnet"]
    assert service.monitoring.contact_group == ""
    assert service.probes == [{"type": "http", "path": "/wiki/Special:BlankPage", "host": "en.wikipedia.org"}]
    assert (service.role, service.team, service.httpbb_dir) == ("mediawiki::appserver", "serviceops", "appserver")
    assert service.discovery is not None
    assert len(service.discovery) == 2
    assert [(record.dnsdisc, record.active_active) for record in service.discovery] == [
        ("appservers-rw", False),
        ("appservers-ro", True),
    ]
    assert service.discovery.get("appservers-ro").fqdn == "appservers-ro.discovery.wmnet"
    assert isinstance(service.discovery.get("appservers-rw").instance, Discovery)


def test_lvs_settings_override_puppet_defaults():
    service = make_catalog().get("api-https")

    assert service.lvs is not None
    assert (service.lvs.bgp, service.lvs.scheduler, service.lvs.scheduler_flag) == (False, "mh", "mh-port")
    assert service.lvs.ipip_encapsulation is True
    assert service.aliases == ["api-ro"]
    assert (service.public_aliases, service.public_endpoint) == (["api.wikimedia.org"], "api")


def test_minimal_service_gets_puppet_defaults():
    service = make_catalog().get("kibana")

    assert (service.discovery, service.lvs, service.monitoring) == (None, None, None)
    assert service.page is True
    assert service.exclude_from_switchover is False
    assert (service.aliases, service.probes, service.public_aliases) == ([], [], [])
    assert (service.public_endpoint, service.role, service.team) == ("", "", "")


def test_service_ips():
    ips = make_catalog().get("search-https").ip

    assert ips.sites == ["eqiad"]
    assert ips.all == [ip_address("10.2.2.30"), ip_address("2620:0:861:ed1a::3:1")]
    assert ips.get("eqiad", "ipv6") == ip_address("2620:0:861:ed1a::3:1")
    assert ips.get("codfw") is None
    assert ips.get("eqiad", "nolabel") is None


def test_get_does_not_change_the_catalog():
    content = yaml.safe_load(SERVICE_CATALOG_YAML)
    catalog = make_catalog(content)

    catalog.get("appservers-https")
    catalog.get("appservers-https")

    assert content == yaml.safe_load(SERVICE_CATALOG_YAML)


def test_unknown_service():
    with pytest.raises(ServiceNotFoundError, match="Service nope was not found in service::catalog"):
        make_catalog().get("nope")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("port"), "missing key port"),
        (lambda s: s.update(colour="blue"), "unknown key colour"),
        (lambda s: s.update(ip={"eqiad": {"default": "10.2.2.300"}}), "'10.2.2.300' does not appear to be an IP"),
        (lambda s: s.update(ip=["10.2.2.1"]), "ip must be a mapping of datacenters to mappings"),
        (lambda s: s["lvs"].pop("class"), "missing key lvs.class"),
        (lambda s: s["lvs"].update(weight=3), "unknown key lvs.weight"),
        (lambda s: s["lvs"]["conftool"].pop("service"), "missing key lvs.conftool.service"),
        (lambda s: s["discovery"][0].pop("dnsdisc"), "missing key discovery.dnsdisc"),
        (lambda s: s["discovery"][0].update(instance="x"), "unknown key discovery.instance"),
        (lambda s: s["monitoring"].pop("check_command"), "missing key monitoring.check_command"),
        (lambda s: s.update(name="other"), "unknown key name"),
    ],
)
def test_invalid_service_settings_are_one_line_errors(change, message):
    content = yaml.safe_load(SERVICE_CATALOG_YAML)
    change(content["appservers-https"])

    with pytest.raises(
        ServiceError, match=r"^Invalid settings for service appservers-https in service::catalog: "
    ) as e:
        make_catalog(content).get("appservers-https")

    assert message in str(e.value)
    assert "\n" not in str(e.value)
    assert make_catalog(content).get("kibana").name == "kibana"  # the other services are fine


def test_catalog_must_be_a_mapping_of_mappings():
    with pytest.raises(ServiceError, match="must be a mapping of service names to their settings"):
        make_catalog({"kibana": ["not", "a", "mapping"]})


def test_load_catalog(tmp_path: Path):
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "service.yaml").write_text(SERVICE_CATALOG_YAML)

    assert load_catalog(tmp_path) == yaml.safe_load(SERVICE_CATALOG_YAML)

    (tmp_path / "service" / "service.yaml").write_text("- a list\n")
    with pytest.raises(ServiceError, match=r"service catalog .*service\.yaml must be a YAML mapping, got list"):
        load_catalog(tmp_path)
    with pytest.raises(ServiceError, match="Unable to read the service catalog"):
        load_catalog(tmp_path / "missing")


def record(name: str, conftool: FakeConftool, active_active: bool = False) -> ServiceDiscoveryRecord:
    instance = Discovery(conftool=conftool, authdns_servers={}, records=[name], dry_run=False)  # type: ignore[arg-type]
    return ServiceDiscoveryRecord(active_active=active_active, dnsdisc=name, instance=instance)


def test_discovery_record_state():
    conftool = FakeConftool({("api-ro", "eqiad"): True, ("api-ro", "codfw"): False, ("search", "eqiad"): True})
    api = record("api-ro", conftool)

    assert api.state == {"eqiad"}
    assert api.is_pooled_in("eqiad") is True
    assert api.is_pooled_in("codfw") is False


def test_discovery_get_selects_by_name():
    conftool = FakeConftool({})
    one, two = record("appservers-rw", conftool), record("appservers-ro", conftool)

    assert ServiceDiscovery([one]).get() is one
    assert ServiceDiscovery([one, two]).get("appservers-ro") is two
    with pytest.raises(TooManyDiscoveryRecordsError, match="There are 2 DNS Discovery records but dnsdisc was not set"):
        ServiceDiscovery([one, two]).get()
    with pytest.raises(DiscoveryRecordNotFoundError, match="Unable to find DNS Discovery record nope"):
        ServiceDiscovery([one, two]).get("nope")
    with pytest.raises(DiscoveryRecordNotFoundError, match="No DNS Discovery record present"):
        ServiceDiscovery([]).get("appservers-rw")
    with pytest.raises(TooManyDiscoveryRecordsError, match="2 DNS Discovery records matching name appservers-rw"):
        ServiceDiscovery([one, record("appservers-rw", conftool)]).get("appservers-rw")


def test_pool_and_depool_act_on_the_selected_record_only():
    conftool = FakeConftool({("appservers-ro", "eqiad"): True, ("appservers-ro", "codfw"): True})
    discovery = ServiceDiscovery([record("appservers-rw", conftool), record("appservers-ro", conftool)])

    discovery.pool("eqiad", name="appservers-rw")
    discovery.depool("codfw", name="appservers-ro")

    assert conftool.calls == [
        ("pooled", True, {"dnsdisc": "(appservers-rw)", "name": "eqiad"}),
        ("pooled", False, {"dnsdisc": "(appservers-ro)", "name": "codfw"}),
    ]
    with pytest.raises(TooManyDiscoveryRecordsError):
        discovery.pool("eqiad")
    assert len(conftool.calls) == 2


@pytest.mark.parametrize(("repool_on_error", "calls"), [(False, 1), (True, 2)])
def test_depooled_on_error(repool_on_error, calls):
    conftool = FakeConftool({("search", "eqiad"): True, ("search", "codfw"): True})
    discovery = ServiceDiscovery([record("search", conftool)])

    with pytest.raises(RuntimeError, match="boom"), discovery.depooled("eqiad", repool_on_error=repool_on_error):
        raise RuntimeError("boom")

    assert [value for _, value, _ in conftool.calls] == [False, True][:calls]


def test_depooled_repools_at_the_end():
    conftool = FakeConftool({("search", "eqiad"): True, ("search", "codfw"): True})
    discovery = ServiceDiscovery([record("search", conftool)])

    with discovery.depooled("codfw"):
        assert [value for _, value, _ in conftool.calls] == [False]

    assert [value for _, value, _ in conftool.calls] == [False, True]


def test_downtime_matchers_and_unknown_site():
    service = make_catalog().get("search-https")

    assert service._get_downtime_matchers("eqiad") == [
        {"name": "site", "value": "eqiad", "isRegex": False},
        {"name": "job", "value": r"^probes/.*", "isRegex": True},
    ]
    with pytest.raises(ServiceError, match=r"Service search-https is not present in site codfw\. Available sites"):
        service.downtime("codfw", None, duration=timedelta(minutes=1))


def test_check_dns_state_validates_tries_and_skips_services_without_discovery():
    catalog = make_catalog()

    with pytest.raises(ValueError, match="The tries argument must be a positive integer"):
        catalog.get("search-https").check_dns_state({}, tries=0)
    catalog.get("kibana").check_dns_state({})  # nothing to check, nothing raised
    with pytest.raises(TooManyDiscoveryRecordsError):
        catalog.get("appservers-https").check_dns_state({}, tries=1)


def test_check_service_ips_needs_a_client_ip_per_site():
    conftool = FakeConftool({("search", "eqiad"): True})
    ips = ServiceIPs(data={"eqiad": {"default": "10.2.2.30"}})

    with pytest.raises(DiscoveryStateError, match="No client IP given for datacenter eqiad"):
        record("search", conftool).check_service_ips(ips, {})


def check(ip_per_dc_map: dict[str, Any], record_name: str = "", tries: int = 15) -> None:
    """A callable with the signature of Service.check_dns_state (less ``self``)."""


def test_set_tries_is_the_decorators_one():
    assert service_module.set_tries is decorators.set_tries


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [(({},), {}, 15), (({},), {"tries": 4}, 4), (({}, "", 2), {}, 15), (({},), {"tries": 0}, 15)],
)
def test_set_tries_follows_the_tries_keyword_or_the_default(args, kwargs, expected):
    params = RetryParams(
        tries=3, delay=timedelta(seconds=1), backoff_mode="constant", exceptions=(), failure_message=""
    )

    service_module.set_tries(params, check, args, kwargs)

    assert params.tries == expected
