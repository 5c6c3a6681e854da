"""DNS lookups: wmflib's :py:class:`wmflib.dns.Dns`, with its nameservers optionally set in ``dns/config.yaml``.

Without that file the operating system's resolver configuration is used, as in the reference. With it, every
``spicerack.dns()`` asks the listed nameservers instead::

    # <spicerack_config_dir>/dns/config.yaml
    nameserver_addresses: [10.3.0.1, 10.3.0.2]  # IPv4 or IPv6 addresses, at least one
    port: 53                                     # optional, 53 by default

"""

import ipaddress
from pathlib import Path
from typing import Any

from wmflib.dns import Dns, DnsError, DnsNotFound, DnsNotFoundError

from spicerack.config import load_yaml_mapping
from spicerack.exceptions import SpicerackError

__all__ = ["CONFIG_FILE", "Dns", "DnsConfigError", "DnsError", "DnsNotFound", "DnsNotFoundError", "dns_from_config"]

CONFIG_FILE = Path("dns", "config.yaml")
"""Where the optional nameserver settings are, relative to Spicerack's configuration directory."""

_KEYS = ("nameserver_addresses", "port")


class DnsConfigError(SpicerackError):
    """Raised when ``dns/config.yaml`` cannot be read or has an invalid setting."""


def dns_from_config(config_dir: str | Path, *, dns_class: type[Dns] = Dns) -> Dns:
    """Return a :py:class:`wmflib.dns.Dns` using the nameservers of ``dns/config.yaml``, else the system's ones.

    Arguments:
        config_dir: Spicerack's configuration directory (``spicerack_config_dir``).
        dns_class: the class to instantiate (the accessor passes ``spicerack.Dns``, which tests may patch).

    Raises:
        spicerack.dns.DnsConfigError: if the file exists but cannot be read or has an invalid setting.

    """
    config_file = Path(config_dir) / CONFIG_FILE
    if not config_file.exists():
        return dns_class()

    config = load_yaml_mapping(config_file, description="DNS configuration", error=DnsConfigError)
    if not config:
        return dns_class()

    unknown = sorted(str(key) for key in config if key not in _KEYS)
    if unknown:
        raise DnsConfigError(f"Unknown key {unknown[0]!r} in {config_file}, expected: {', '.join(_KEYS)}")

    addresses = _nameserver_addresses(config.get("nameserver_addresses"), config_file)
    port = _port(config.get("port"), config_file)
    return dns_class(nameserver_addresses=addresses, port=port)


def _nameserver_addresses(value: Any, config_file: Path) -> list[str]:
    """Return the validated nameserver addresses of the configuration."""
    if not isinstance(value, list) or not value:
        raise DnsConfigError(f"Key 'nameserver_addresses' in {config_file} must be a non-empty list of IP addresses")

    for address in value:
        try:
            ipaddress.ip_address(str(address))
        except ValueError:
            raise DnsConfigError(
                f"Key 'nameserver_addresses' in {config_file} has an invalid IP address: {address!r}"
            ) from None
    return [str(address) for address in value]


def _port(value: Any, config_file: Path) -> int | None:
    """Return the validated port of the configuration, :py:data:`None` when not set."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise DnsConfigError(f"Key 'port' in {config_file} must be an integer between 1 and 65535, got {value!r}")
    return value
