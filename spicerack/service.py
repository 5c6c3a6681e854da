"""Service catalog: the services of Puppet's ``service::catalog`` hieradata, with their IPs, LVS and DNS Discovery.

The catalog is read from ``<spicerack_config_dir>/service/service.yaml``, a copy of Puppet's
``hieradata/common/service.yaml`` content (the mapping under ``service::catalog``). Each service's Discovery records
are driven through :py:class:`spicerack.dnsdisc.Discovery` (conftool's ``discovery`` objects) and its downtimes go
to Alertmanager.
"""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import MISSING, dataclass, field, fields
from datetime import timedelta
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

from spicerack.administrative import Reason
from spicerack.alertmanager import Alertmanager, AlertmanagerHosts, MatchersType
from spicerack.confctl import ConftoolEntity
from spicerack.decorators import retry, set_tries
from spicerack.dnsdisc import DISCOVERY_DOMAIN, Discovery, DiscoveryError
from spicerack.exceptions import SpicerackError

logger = logging.getLogger(__name__)

CATALOG_PATH = ("service", "service.yaml")
"""Where the catalog is, relative to Spicerack's configuration directory."""


class ServiceError(SpicerackError):
    """Raised on errors of the service catalog: invalid catalog, unknown datacenter for a service, ..."""


class ServiceNotFoundError(ServiceError):
    """Raised when the catalog has no service with the given name."""


class TooManyDiscoveryRecordsError(ServiceError):
    """Raised when a service has several DNS Discovery records and none was named."""


class DiscoveryRecordNotFoundError(ServiceError):
    """Raised when a service has no DNS Discovery record, or none with the given name."""


class DiscoveryStateError(ServiceError):
    """Raised when what DNS answers for a Discovery record does not match its pooled state in conftool."""


@dataclass(frozen=True)
class ServiceDiscoveryRecord:
    """One DNS Discovery record of a service (Puppet's ``Wmflib::Service::Discovery``).

    Arguments:
        active_active: whether the service is served from all its pooled datacenters at once.
        dnsdisc: the record's name in conftool (``<dnsdisc>.discovery.wmnet``).
        instance: the Discovery client acting on this record.

    """

    active_active: bool
    dnsdisc: str
    instance: Discovery

    @property
    def state(self) -> set[str]:
        """The datacenters where the record is pooled, from conftool."""
        return set(self.instance.active_datacenters[self.dnsdisc])

    @property
    def fqdn(self) -> str:
        """The record's fully qualified name."""
        return f"{self.dnsdisc}.{DISCOVERY_DOMAIN}"

    def is_pooled_in(self, datacenter: str) -> bool:
        """Tell whether the record is pooled in a datacenter, according to conftool."""
        return datacenter in self.state

    def check_service_ips(self, service_ips: "ServiceIPs", ip_per_dc_map: dict[str, IPv4Address | IPv6Address]) -> None:
        """Check that DNS answers each datacenter's clients as conftool says it should.

        For every datacenter of the service, a client there must get the service's local IP if the record is pooled
        in that datacenter, and another IP if it is not. Asked from every authoritative nameserver.

        Arguments:
            service_ips: the service's IPs.
            ip_per_dc_map: a client IP in each datacenter, sent as EDNS Client Subnet.

        Raises:
            spicerack.service.DiscoveryStateError: if an answer does not match, or a record cannot be resolved.

        """
        for datacenter in service_ips.sites:
            if datacenter not in ip_per_dc_map:
                raise DiscoveryStateError(f"No client IP given for datacenter {datacenter} to check {self.fqdn}")
            pooled = self.is_pooled_in(datacenter)
            local_ip = service_ips.get(datacenter)
            try:
                answers = self.instance.resolve_with_client_ip(self.dnsdisc, ip_per_dc_map[datacenter])
            except DiscoveryError as e:
                raise DiscoveryStateError(str(e)) from e

            for nameserver, answer in answers.items():
                is_local = ip_address(answer) == local_ip
                if pooled and not is_local:
                    raise DiscoveryStateError(
                        f"Error checking auth dns for {self.fqdn} from {datacenter}: "
                        f"nameserver {nameserver} resolved to {answer}, expected: {local_ip}"
                    )
                if not pooled and is_local:
                    raise DiscoveryStateError(
                        f"Error checking auth dns for {self.fqdn} in {datacenter}: "
                        f"resolved to {local_ip}, a different IP was expected."
                    )


class ServiceDiscovery:
    """The DNS Discovery records of a service: iterable, with ``len()``, and helpers to pool and depool them."""

    def __init__(self, records: Sequence[ServiceDiscoveryRecord]) -> None:
        """Keep the records.

        Arguments:
            records: the service's DNS Discovery records.

        """
        self.records = records

    def __iter__(self) -> Iterator[ServiceDiscoveryRecord]:
        """Iterate over the records."""
        return iter(self.records)

    def __len__(self) -> int:
        """Return how many records the service has."""
        return len(self.records)

    def depool(self, site: str, *, name: str = "") -> None:
        """Depool a record from a datacenter (refused if it would be left pooled nowhere).

        Arguments:
            site: the datacenter.
            name: the record's ``dnsdisc`` name; empty for the service's only record.

        Raises:
            spicerack.service.DiscoveryRecordNotFoundError: if there is no such record (or no record at all).
            spicerack.service.TooManyDiscoveryRecordsError: if ``name`` is empty and there are several records.
            spicerack.dnsdisc.DiscoveryError: if the record would be pooled nowhere.

        """
        self.get(name).instance.depool(site)

    def pool(self, site: str, *, name: str = "") -> None:
        """Pool a record in a datacenter.

        Arguments:
            site: the datacenter.
            name: the record's ``dnsdisc`` name; empty for the service's only record.

        Raises:
            spicerack.service.DiscoveryRecordNotFoundError: if there is no such record (or no record at all).
            spicerack.service.TooManyDiscoveryRecordsError: if ``name`` is empty and there are several records.

        """
        self.get(name).instance.pool(site)

    @contextmanager
    def depooled(self, site: str, *, name: str = "", repool_on_error: bool = False) -> Iterator[None]:
        """Keep a record depooled from a datacenter for the duration of the context, then pool it again.

        If the body raises, the record stays depooled unless ``repool_on_error`` is set.

        Arguments:
            site: the datacenter.
            name: the record's ``dnsdisc`` name; empty for the service's only record.
            repool_on_error: pool the record again even if the body raised.

        Raises:
            spicerack.service.DiscoveryRecordNotFoundError: if there is no such record (or no record at all).
            spicerack.service.TooManyDiscoveryRecordsError: if ``name`` is empty and there are several records.

        """
        self.depool(site, name=name)
        try:
            yield
        except Exception:
            if repool_on_error:
                self.pool(site, name=name)
            raise
        self.pool(site, name=name)

    def get(self, name: str = "") -> ServiceDiscoveryRecord:
        """Return a record by its ``dnsdisc`` name, or the only record when ``name`` is empty.

        Arguments:
            name: the record's ``dnsdisc`` name.

        Raises:
            spicerack.service.DiscoveryRecordNotFoundError: if there is no such record (or no record at all).
            spicerack.service.TooManyDiscoveryRecordsError: if ``name`` is empty and there are several records, or
                several records have that name.

        """
        if not self.records:
            raise DiscoveryRecordNotFoundError("No DNS Discovery record present.")
        if not name:
            if len(self.records) > 1:
                raise TooManyDiscoveryRecordsError(
                    f"There are {len(self.records)} DNS Discovery records but dnsdisc was not set."
                )
            return self.records[0]

        matching = [record for record in self.records if record.dnsdisc == name]
        if not matching:
            raise DiscoveryRecordNotFoundError(f"Unable to find DNS Discovery record {name}.")
        if len(matching) > 1:
            raise TooManyDiscoveryRecordsError(f"There are {len(matching)} DNS Discovery records matching name {name}.")
        return matching[0]


@dataclass(frozen=True)
class ServiceIPs:
    """The IPs of a service (Puppet's ``Wmflib::Service::Ipblock``): by datacenter, then by label.

    Arguments:
        data: the service's ``ip`` mapping, e.g. ``{"eqiad": {"default": "10.2.2.1"}}``.

    """

    data: dict[str, dict[str, str]]

    @property
    def all(self) -> list[IPv4Address | IPv6Address]:
        """All the service's IPs."""
        return [ip_address(address) for labels in self.data.values() for address in labels.values()]

    @property
    def sites(self) -> list[str]:
        """The datacenters where the service has at least one IP."""
        return list(self.data)

    def get(self, site: str, label: str = "default") -> IPv4Address | IPv6Address | None:
        """Return the service's IP with a label in a datacenter, :py:data:`None` if there is none.

        Arguments:
            site: the datacenter.
            label: the IP's label.

        """
        address = self.data.get(site, {}).get(label, "")
        return ip_address(address) if address else None


@dataclass(frozen=True)
class ServiceLVSConftool:
    """The conftool tags of the service's backends on the load balancers.

    Arguments:
        cluster: the ``cluster`` tag.
        service: the ``service`` tag.

    """

    cluster: str
    service: str


@dataclass(frozen=True)
class ServiceLVS:
    """The load balancer settings of a service (Puppet's ``Wmflib::Service::Lvs``); defaults are Puppet's.

    Arguments:
        conftool: the conftool tags of the backends.
        depool_threshold: the fraction of the backends that PyBal keeps pooled whatever their health.
        enabled: whether the service is on the load balancers.
        lvs_class: the traffic class (``class`` in Puppet), e.g. ``low-traffic``.
        monitors: the PyBal monitors, by name.
        bgp: whether PyBal announces the service over BGP.
        protocol: the IP protocol.
        scheduler: the IPVS scheduler.
        scheduler_flag: the IPVS scheduler flag, if any.
        ipip_encapsulation: whether the backends receive the traffic IPIP-encapsulated.

    """

    conftool: ServiceLVSConftool
    depool_threshold: float
    enabled: bool
    lvs_class: str
    monitors: dict[str, dict[str, Any]] | None = None
    bgp: bool = True
    protocol: str = "tcp"
    scheduler: str = "wrr"
    scheduler_flag: str | None = None
    ipip_encapsulation: bool = False


@dataclass(frozen=True)
class ServiceMonitoringHostnames:
    """The Icinga host names (or FQDNs) monitoring the service in each datacenter.

    Arguments:
        data: the ``monitoring.sites`` mapping, e.g. ``{"eqiad": {"hostname": "foo.svc.eqiad.wmnet"}}``.

    """

    data: dict[str, dict[str, str]]

    @property
    def all(self) -> list[str]:
        """All the monitoring host names."""
        return [name for entry in self.data.values() for name in entry.values()]

    @property
    def sites(self) -> list[str]:
        """The datacenters where the service is monitored."""
        return list(self.data)

    def get(self, site: str) -> str:
        """Return the monitoring host name in a datacenter, empty if the service is not monitored there."""
        return self.data.get(site, {}).get("hostname", "")


@dataclass(frozen=True)
class ServiceMonitoring:
    """The monitoring of a service (Puppet's ``Wmflib::Service::Monitoring``).

    Arguments:
        check_command: the Icinga check command.
        sites: the monitoring host names in each datacenter.
        contact_group: the Icinga contact group.
        notes_url: the runbook URL.

    """

    check_command: str
    sites: ServiceMonitoringHostnames
    contact_group: str = ""
    notes_url: str = ""


@dataclass(frozen=True)
class Service:
    """A service of Puppet's ``service::catalog`` (``Wmflib::Service``); defaults are Puppet's.

    Arguments:
        name: the service's name.
        description: its description.
        encryption: whether it is served over TLS.
        ip: its IPs.
        port: its port.
        sites: the datacenters where it runs.
        state: its production state, e.g. ``production``, ``lvs_setup``.
        _dry_run: whether this is a DRY-RUN.
        _alertmanager: the Alertmanager client of the service's probes, for downtimes.
        aliases: its alias names.
        discovery: its DNS Discovery records, if any.
        exclude_from_switchover: whether a datacenter switchover leaves it to be handled by hand.
        httpbb_dir: the httpbb tests directory.
        lvs: its load balancer settings, if any.
        monitoring: its monitoring, if any.
        page: whether its alerts page.
        probes: its probes' settings.
        public_aliases: its public alias names.
        public_endpoint: its public endpoint name, empty if none.
        role: its Puppet role, empty if none.
        team: its owner team in Alertmanager.

    """

    name: str
    description: str
    encryption: bool
    ip: ServiceIPs
    port: int
    sites: list[str]
    state: str
    _dry_run: bool
    _alertmanager: AlertmanagerHosts
    aliases: list[str] = field(default_factory=list)
    discovery: ServiceDiscovery | None = None
    exclude_from_switchover: bool = False
    httpbb_dir: str = ""
    lvs: ServiceLVS | None = None
    monitoring: ServiceMonitoring | None = None
    page: bool = True
    probes: list[dict[str, Any]] = field(default_factory=list)
    public_aliases: list[str] = field(default_factory=list)
    public_endpoint: str = ""
    role: str = ""
    team: str = ""

    def downtime(self, site: str, reason: Reason, *, duration: timedelta = timedelta(hours=4)) -> str:
        """Silence the service's probes in a datacenter on Alertmanager and return the silence's ID.

        Arguments:
            site: the datacenter.
            reason: why.
            duration: for how long.

        Raises:
            spicerack.service.ServiceError: if the service does not run in that datacenter.
            spicerack.alertmanager.AlertmanagerError: if Alertmanager refuses the silence.

        """
        return self._alertmanager.downtime(reason, matchers=self._get_downtime_matchers(site), duration=duration)

    @contextmanager
    def downtimed(
        self, site: str, reason: Reason, *, duration: timedelta = timedelta(hours=4), remove_on_error: bool = False
    ) -> Iterator[None]:
        """Keep the service's probes in a datacenter silenced for the duration of the context.

        Arguments:
            site: the datacenter.
            reason: why.
            duration: the silence's maximum duration.
            remove_on_error: remove the silence also when the body raises; by default it is left in place, so that
                the service stays silenced while the failure is looked into.

        Raises:
            spicerack.service.ServiceError: if the service does not run in that datacenter.
            spicerack.alertmanager.AlertmanagerError: if Alertmanager refuses the silence.

        """
        matchers = self._get_downtime_matchers(site)
        with self._alertmanager.downtimed(
            reason, matchers=matchers, duration=duration, remove_on_error=remove_on_error
        ):
            yield

    @retry(backoff_mode="constant", exceptions=(DiscoveryStateError,), dynamic_params_callbacks=(set_tries,))
    def check_dns_state(
        self, ip_per_dc_map: dict[str, IPv4Address | IPv6Address], record_name: str = "", tries: int = 15
    ) -> None:
        """Check that DNS answers for a Discovery record of the service as its conftool state says, with retries.

        Arguments:
            ip_per_dc_map: a client IP in each datacenter, sent as EDNS Client Subnet.
            record_name: the record's ``dnsdisc`` name; empty for the service's only record.
            tries: how many times to try before failing.

        Raises:
            ValueError: if ``tries`` is not positive.
            spicerack.service.DiscoveryStateError: if DNS does not match conftool after all tries.
            spicerack.service.DiscoveryRecordNotFoundError: if there is no such record.
            spicerack.service.TooManyDiscoveryRecordsError: if ``record_name`` is empty and there are several records.

        """
        if tries <= 0:
            raise ValueError("The tries argument must be a positive integer.")
        if self.discovery is None:  # Nothing to check
            return
        self.discovery.get(record_name).check_service_ips(self.ip, ip_per_dc_map)

    def _get_downtime_matchers(self, site: str) -> MatchersType:
        """Return the Alertmanager matchers of the service's probes in a datacenter."""
        if site not in self.sites:
            raise ServiceError(f"Service {self.name} is not present in site {site}. Available sites are {self.sites}")
        return [
            {"name": "site", "value": site, "isRegex": False},
            {"name": "job", "value": r"^probes/.*", "isRegex": True},
        ]


class Catalog:
    """Puppet's ``service::catalog``: iterable over its :py:class:`Service` instances, with ``len()``.

    Examples:
        >>> in_esams = [service for service in catalog if "esams" in service.sites]
        >>> appservers = catalog.get("appservers-https")

    """

    def __init__(
        self,
        catalog: dict[str, Any],
        *,
        alertmanager: Alertmanager,
        confctl: ConftoolEntity,
        authdns_servers: dict[str, str],
        dry_run: bool = True,
    ) -> None:
        """Keep the catalog; services are built when asked for.

        Arguments:
            catalog: the content of ``service::catalog``: service names to their settings.
            alertmanager: the Alertmanager client for the services' downtimes.
            confctl: the conftool client of the ``discovery`` entity.
            authdns_servers: the authoritative nameservers, host name to IP address.
            dry_run: whether this is a DRY-RUN.

        Raises:
            spicerack.service.ServiceError: if the catalog is not a mapping of names to mappings.

        """
        if not isinstance(catalog, dict) or not all(isinstance(value, dict) for value in catalog.values()):
            raise ServiceError("The service catalog must be a mapping of service names to their settings")
        self._catalog = catalog
        self._alertmanager = alertmanager
        self._confctl = confctl
        self._authdns_servers = authdns_servers
        self._dry_run = dry_run

    def __iter__(self) -> Iterator[Service]:
        """Iterate over the services."""
        return (self.get(name) for name in self._catalog)

    def __len__(self) -> int:
        """Return how many services the catalog has."""
        return len(self._catalog)

    @property
    def service_names(self) -> list[str]:
        """The names of all the services."""
        return list(self._catalog)

    def get(self, name: str) -> Service:
        """Return a service by name.

        Arguments:
            name: the service's name.

        Raises:
            spicerack.service.ServiceNotFoundError: if the catalog has no such service.
            spicerack.service.ServiceError: if the service's settings are invalid.

        """
        if name not in self._catalog:
            raise ServiceNotFoundError(f"Service {name} was not found in service::catalog")
        try:
            return self._build(name, deepcopy(self._catalog[name]))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ServiceError(f"Invalid settings for service {name} in service::catalog: {_describe(e)}") from None

    def _build(self, name: str, params: dict[str, Any]) -> Service:
        """Turn a service's settings into a :py:class:`Service`."""
        _check_keys("", params, Service, renamed={"name", "_dry_run", "_alertmanager"})
        params["name"] = name
        params["ip"] = ServiceIPs(data=_mapping_of_mappings("ip", params["ip"]))
        params["ip"].all  # noqa: B018 - parses every address, so that an invalid one is reported now
        params["_dry_run"] = self._dry_run
        params["_alertmanager"] = self._alertmanager.hosts([f"{name}:{params['port']}"], verbatim_hosts=True)
        if "discovery" in params:
            params["discovery"] = ServiceDiscovery([self._discovery_record(entry) for entry in params["discovery"]])
        if "monitoring" in params:
            monitoring = params["monitoring"]
            _check_keys("monitoring.", monitoring, ServiceMonitoring)
            monitoring["sites"] = ServiceMonitoringHostnames(data=_mapping_of_mappings("sites", monitoring["sites"]))
            params["monitoring"] = ServiceMonitoring(**monitoring)
        if "lvs" in params:
            lvs = params["lvs"]
            if not isinstance(lvs, dict) or "class" not in lvs:
                raise KeyError("missing key lvs.class")
            lvs["lvs_class"] = lvs.pop("class")  # A reserved word in Python
            _check_keys("lvs.", lvs, ServiceLVS)
            _check_keys("lvs.conftool.", lvs["conftool"], ServiceLVSConftool)
            lvs["conftool"] = ServiceLVSConftool(**lvs["conftool"])
            params["lvs"] = ServiceLVS(**lvs)
        return Service(**params)

    def _discovery_record(self, entry: dict[str, Any]) -> ServiceDiscoveryRecord:
        """Build a Discovery record with its own Discovery client."""
        _check_keys("discovery.", entry, ServiceDiscoveryRecord, renamed={"instance"})
        instance = Discovery(
            conftool=self._confctl,
            authdns_servers=self._authdns_servers,
            records=[entry["dnsdisc"]],
            dry_run=self._dry_run,
        )
        return ServiceDiscoveryRecord(instance=instance, **entry)


def load_catalog(config_dir: str | Path) -> dict[str, Any]:
    """Load the service catalog from ``service/service.yaml`` in Spicerack's configuration directory.

    Arguments:
        config_dir: Spicerack's configuration directory.

    Raises:
        spicerack.service.ServiceError: if the file cannot be read or is not a YAML mapping.

    """
    from spicerack.config import load_yaml_mapping  # noqa: PLC0415 - only needed when a file is read

    return load_yaml_mapping(Path(config_dir, *CATALOG_PATH), description="service catalog", error=ServiceError)


def _check_keys(prefix: str, params: Any, model: type, renamed: set[str] | None = None) -> None:
    """Check that a settings mapping has the model's required keys and no unknown one."""
    if not isinstance(params, dict):
        raise TypeError(f"{prefix.rstrip('.') or 'the service'} must be a mapping")
    known = {item.name for item in fields(model)} - (renamed or set())
    unknown = sorted(set(params) - known)
    if unknown:
        raise KeyError(f"unknown key {prefix}{unknown[0]}")
    required = [item.name for item in fields(model) if _is_required(item) and item.name in known]
    missing = [key for key in required if key not in params]
    if missing:
        raise KeyError(f"missing key {prefix}{missing[0]}")


def _is_required(item: Any) -> bool:
    return bool(item.default is MISSING and item.default_factory is MISSING)


def _mapping_of_mappings(key: str, value: Any) -> dict[str, dict[str, str]]:
    """Check that a value is a mapping of names to mappings of strings."""
    if not isinstance(value, dict) or not all(isinstance(entry, dict) for entry in value.values()):
        raise TypeError(f"{key} must be a mapping of datacenters to mappings")
    return value


def _describe(error: Exception) -> str:
    """Return an exception's message without the quotes KeyError adds."""
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    return str(error)
