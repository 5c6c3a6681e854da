"""DNS Discovery: pool and depool ``<record>.discovery.wmnet`` records per datacenter, and check what DNS answers.

The pooled state and the TTL of each record live in conftool's ``discovery`` entity (tags ``dnsdisc`` and ``name``,
the datacenter); the checks ask every active authoritative nameserver directly.
"""

import logging
import warnings
from collections import defaultdict
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

import dns.edns
import dns.message
import dns.query
import dns.rdataclass
import dns.rdatatype
from dns import resolver
from dns.exception import DNSException

from spicerack.confctl import ConftoolEntity
from spicerack.decorators import retry
from spicerack.exceptions import SpicerackCheckError, SpicerackError

logger = logging.getLogger(__name__)

AUTHDNS_PORT = 5353
"""The port the authoritative nameservers answer on, unless an address in ``authdns_servers`` gives another."""

DISCOVERY_DOMAIN = "discovery.wmnet"
"""The domain of the Discovery records."""


class DiscoveryError(SpicerackError):
    """Raised when a Discovery operation fails or a record does not resolve as expected."""


class DiscoveryCheckError(SpicerackCheckError):
    """Raised when a check on the Discovery records does not pass (retried by the checks)."""


class Discovery:
    """Pool, depool and check a set of DNS Discovery records."""

    def __init__(
        self,
        *,
        conftool: ConftoolEntity,
        authdns_servers: dict[str, str],
        records: list[str],
        dry_run: bool = True,
    ) -> None:
        """Set up one resolver per authoritative nameserver.

        Arguments:
            conftool: the conftool client of the ``discovery`` entity.
            authdns_servers: the active authoritative nameservers, host name to IP address. An address may carry
                its port (``192.0.2.53:5300``, ``[2001:db8::53]:5300``); the default port is :py:data:`AUTHDNS_PORT`.
            records: the Discovery records' names, without the ``.discovery.wmnet`` suffix.
            dry_run: whether this is a DRY-RUN.

        Raises:
            spicerack.dnsdisc.DiscoveryError: if a nameserver's address is invalid.

        """
        self._conftool = conftool
        self._records = records
        self._dry_run = dry_run
        self._resolvers: dict[str, resolver.Resolver] = {}
        for nameserver, address in authdns_servers.items():
            ip, port = _split_address(nameserver, address)
            dns_resolver = resolver.Resolver(configure=False)
            dns_resolver.nameservers = [ip]
            dns_resolver.port = port
            self._resolvers[nameserver] = dns_resolver

    @property
    def _conftool_selector(self) -> str:
        """The conftool ``dnsdisc`` tag selecting all the records."""
        return "(" + "|".join(self._records) + ")"

    @property
    def active_datacenters(self) -> defaultdict[Any, Any]:
        """The datacenters where each record is pooled, e.g. ``{"svc_foo": ["dc1", "dc2"], "svc_bar": ["dc1"]}``.

        Typed as loosely as the reference's (a plain ``defaultdict``), which cookbooks' type checks rely on.

        Raises:
            spicerack.confctl.ConfctlError: if conftool has no such records.

        """
        services: defaultdict[str, list[str]] = defaultdict(list)
        for obj in self._conftool.get(dnsdisc=self._conftool_selector):
            if obj.pooled:
                services[obj.tags["dnsdisc"]].append(obj.name)
        return services

    def resolve_address(self, name: str) -> str:
        """Return the first IP address of a name, as the first authoritative nameserver answers.

        Arguments:
            name: the fully qualified name to resolve.

        Raises:
            spicerack.dnsdisc.DiscoveryError: if the name cannot be resolved.

        """
        dns_resolver = self._first_resolver()
        try:
            return str(_query(dns_resolver, name)[0].address)
        except DNSException as e:
            raise DiscoveryError(f"Unable to resolve {name}: {e}") from e

    def update_ttl(self, ttl: int) -> None:
        """Set the TTL of all the records in conftool, then check that every nameserver serves it.

        Arguments:
            ttl: the new TTL, in seconds.

        Raises:
            spicerack.dnsdisc.DiscoveryCheckError: if the nameservers do not serve the new TTL (not in DRY-RUN).
            spicerack.confctl.ConfctlError: if conftool cannot be updated.

        """
        logger.debug("Updating the TTL of %s to %d seconds", self._conftool_selector, ttl)
        self._conftool.set_and_verify("ttl", ttl, dnsdisc=self._conftool_selector)
        try:
            self.check_ttl(ttl)
        except DiscoveryCheckError:
            if not self._dry_run:
                raise

    @retry(
        tries=10,
        backoff_mode="constant",
        exceptions=(DiscoveryCheckError,),
        failure_message="Waiting for DNS TTL update...",
    )
    def check_ttl(self, ttl: int) -> None:
        """Check that every nameserver answers with the given TTL for all the records (retried).

        Arguments:
            ttl: the expected TTL, in seconds.

        Raises:
            spicerack.dnsdisc.DiscoveryCheckError: if a nameserver answers with another TTL.
            spicerack.dnsdisc.DiscoveryError: if a record cannot be resolved.

        """
        logger.debug("Checking that TTL=%d for %s %s records", ttl, self._records, DISCOVERY_DOMAIN)
        for answer in self.resolve():
            if answer.ttl != ttl:
                raise DiscoveryCheckError(f"Expected TTL '{ttl}', got '{answer.ttl}' for record {answer[0].address}")
        if len(self._records) == 1:
            logger.info("%s.%s TTL is correct.", self._records[0], DISCOVERY_DOMAIN)
        else:
            logger.info("%s %s TTLs are correct.", self._records, DISCOVERY_DOMAIN)

    @retry(
        tries=10,
        backoff_mode="constant",
        exceptions=(DiscoveryError,),
        failure_message="Waiting for DNS record update...",
    )
    def check_record(self, name: str, expected_name: str) -> None:
        """Check that a Discovery record resolves, on every nameserver, to the address of another name (retried).

        For example ``check_record("servicename-rw", "servicename.svc.eqiad.wmnet")`` resolves the second name and
        checks that ``servicename-rw.discovery.wmnet`` has its address on every authoritative nameserver. In DRY-RUN
        a different address is not an error (the change was not made).

        Arguments:
            name: the Discovery record's name, without the ``.discovery.wmnet`` suffix.
            expected_name: the fully qualified name whose address the record must have.

        Raises:
            spicerack.dnsdisc.DiscoveryError: if a name cannot be resolved or the record has another address.

        """
        expected_address = self.resolve_address(expected_name)
        logger.info(
            "Checking that %s.%s records matches %s (%s)", name, DISCOVERY_DOMAIN, expected_name, expected_address
        )
        failed = False
        for answer in self.resolve(name=name):
            address = answer[0].address
            if not self._dry_run and address != expected_address:
                failed = True
                logger.error("Expected IP '%s', got '%s' for record %s", expected_address, address, name)
        if failed:
            raise DiscoveryError(f"Resolved record {name} with the wrong IP")
        logger.info("%s.%s record is correct.", name, DISCOVERY_DOMAIN)

    def resolve(self, name: str | None = None) -> Iterator[resolver.Answer]:
        """Yield the answer of every nameserver for every record (or for the given record only).

        Arguments:
            name: a Discovery record's name to resolve instead of the instance's records.

        Yields:
            Each nameserver's answer, nameserver by nameserver.

        Raises:
            spicerack.dnsdisc.DiscoveryError: if a record cannot be resolved.

        """
        records = [name] if name is not None else self._records
        for nameserver, dns_resolver in self._resolvers.items():
            for record in records:
                record_name = f"{record}.{DISCOVERY_DOMAIN}"
                try:
                    answer = _query(dns_resolver, record_name)
                except DNSException as e:
                    raise DiscoveryError(f"Unable to resolve {record_name} from {nameserver}: {e}") from e
                logger.debug("[%s] %s -> %s TTL %d", nameserver, record, answer[0].address, answer.ttl)
                yield answer

    def pool(self, datacenter: str) -> None:
        """Pool all the records in a datacenter (through conftool, which handles DRY-RUN).

        Arguments:
            datacenter: the datacenter to pool the records in.

        Raises:
            spicerack.confctl.ConfctlError: if conftool cannot be updated.

        """
        self._conftool.set_and_verify("pooled", True, dnsdisc=self._conftool_selector, name=datacenter)

    def depool(self, datacenter: str) -> None:
        """Depool all the records from a datacenter, refusing when one would be left pooled nowhere.

        Arguments:
            datacenter: the datacenter to depool the records from.

        Raises:
            spicerack.dnsdisc.DiscoveryError: if a record is pooled only in that datacenter (not in DRY-RUN).
            spicerack.confctl.ConfctlError: if conftool cannot be updated.

        """
        self.check_if_depoolable(datacenter)
        self._conftool.set_and_verify("pooled", False, dnsdisc=self._conftool_selector, name=datacenter)

    def check_if_depoolable(self, datacenter: str) -> None:
        """Check that depooling a datacenter leaves every record pooled somewhere.

        Records already pooled nowhere are not a reason to refuse. In DRY-RUN a refusal is only logged.

        Arguments:
            datacenter: the datacenter to depool.

        Raises:
            spicerack.dnsdisc.DiscoveryError: if a record is pooled only in that datacenter (not in DRY-RUN).

        """
        only_there = sorted(record for record, dcs in self.active_datacenters.items() if dcs == [datacenter])
        if not only_there:
            return
        message = f"Services {', '.join(only_there)} cannot be depooled as they are only active in {datacenter}"
        if self._dry_run:
            logger.debug(message)
        else:
            raise DiscoveryError(message)

    def resolve_with_client_ip(
        self, record: str, client_ip: IPv4Address | IPv6Address, timeout: float | None = 2.0
    ) -> dict[str, IPv4Address | IPv6Address]:
        """Resolve a record on every nameserver as a client with the given IP would see it (EDNS Client Subnet).

        Arguments:
            record: one of the instance's records, without the ``.discovery.wmnet`` suffix.
            client_ip: the client address to send in the EDNS Client Subnet option.
            timeout: seconds to wait for each nameserver's answer; :py:data:`None` waits forever.

        Returns:
            The address each nameserver answered, by nameserver.

        Raises:
            spicerack.dnsdisc.DiscoveryError: if the record is not one of the instance's, or cannot be resolved.

        """
        if record not in self._records:
            raise DiscoveryError(f"Record '{record}' not found")
        record_name = f"{record}.{DISCOVERY_DOMAIN}"
        query = dns.message.make_query(record_name, dns.rdatatype.A)
        query.use_edns(options=[dns.edns.ECSOption(str(client_ip))])

        addresses: dict[str, IPv4Address | IPv6Address] = {}
        for nameserver, dns_resolver in self._resolvers.items():
            try:  # dns.query raises many kinds of exceptions, none of which should escape as is
                response, _ = dns.query.udp_with_fallback(
                    query, str(dns_resolver.nameservers[0]), port=dns_resolver.port, timeout=timeout
                )
            except Exception as e:
                raise DiscoveryError(f"Unable to resolve {record_name} from {nameserver}: {e}") from e
            found = [
                rdata.address
                for rrset in response.answer
                if rrset.rdtype == dns.rdatatype.A and rrset.rdclass == dns.rdataclass.IN
                for rdata in rrset
            ]
            if not found:
                raise DiscoveryError(f"Unable to resolve {record_name} from {nameserver}: no A record in the answer")
            addresses[nameserver] = ip_address(found[0])
        return addresses

    def _first_resolver(self) -> resolver.Resolver:
        try:
            return next(iter(self._resolvers.values()))
        except StopIteration:
            raise DiscoveryError("No authoritative nameserver configured") from None


def _query(dns_resolver: resolver.Resolver, name: str) -> resolver.Answer:
    """Resolve a name the way the reference does, with :py:meth:`dns.resolver.Resolver.query`.

    ``query()`` is ``resolve()`` with the search list (empty here, resolvers are not configured); dnspython flags it
    as deprecated, which is not something to show to operators.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return dns_resolver.query(name)


def load_authdns_servers(config_dir: str | Path) -> dict[str, str]:
    """Load the active authoritative nameservers from ``discovery/authdns.yaml`` in the configuration directory.

    Arguments:
        config_dir: Spicerack's configuration directory.

    Returns:
        The nameservers' host names and their IP addresses (optionally with a port, see :py:class:`Discovery`).

    Raises:
        spicerack.dnsdisc.DiscoveryError: if the file cannot be read or is not a mapping of names to addresses.

    """
    from spicerack.config import load_yaml_mapping  # noqa: PLC0415 - keeps the module import light

    path = Path(config_dir) / "discovery" / "authdns.yaml"
    servers = load_yaml_mapping(path, description="authoritative DNS servers file", error=DiscoveryError)
    for name, address in servers.items():
        if not isinstance(address, str):
            raise DiscoveryError(f"The address of {name} in {path} must be a string, got {type(address).__name__}")
        _split_address(str(name), address)
    return {str(name): address for name, address in servers.items()}


def _split_address(nameserver: str, address: str) -> tuple[str, int]:
    """Split a nameserver's ``address``, ``address:port`` or ``[address]:port`` into a checked IP and a port."""
    host, port = address, str(AUTHDNS_PORT)
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        if rest:
            port = rest.removeprefix(":")
    elif address.count(":") == 1:
        host, port = address.split(":")
    try:
        ip = ip_address(host)
        port_number = int(port)
    except ValueError:
        raise DiscoveryError(f"Invalid address '{address}' for the nameserver {nameserver}") from None
    if not 0 < port_number < 65536:
        raise DiscoveryError(f"Invalid port in the address '{address}' of the nameserver {nameserver}")
    return str(ip), port_number
