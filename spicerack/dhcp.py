"""Temporary ISC dhcpd host entries on the install servers, for reimages and new management consoles.

Each :py:class:`DHCPConfiguration` renders one ISC dhcpd snippet and names the file it goes to, relative to the
automation directory of the install servers (:py:data:`DHCP_TARGET_PATH`). :py:class:`DHCP` writes it there, has
the install servers regenerate their include files and reload the DHCP server (:py:data:`DHCP_REFRESH_COMMAND`),
and removes it again when it is no longer needed.
"""

import base64
import logging
import re
import textwrap
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from hashlib import sha256
from ipaddress import AddressValueError, IPv4Address
from typing import TYPE_CHECKING, ClassVar

from wmflib.constants import ALL_DATACENTERS

from spicerack.exceptions import SpicerackError
from spicerack.locking import Lock, NoLock
from spicerack.remote import RemoteExecutionError, RemoteHosts

if TYPE_CHECKING:
    from spicerack.locking import LocalLock

__all__ = [
    "DHCP",
    "DHCP_REFRESH_COMMAND",
    "DHCP_TARGET_PATH",
    "MGMT_HOSTNAME_RE",
    "DHCPConfMac",
    "DHCPConfMgmt",
    "DHCPConfOpt82",
    "DHCPConfUUID",
    "DHCPConfiguration",
    "DHCPError",
    "DHCPRestartError",
]

logger = logging.getLogger(__name__)

DHCP_TARGET_PATH: str = "/etc/dhcp/automation"
"""The automation directory of the install servers: every snippet's file name is relative to it."""
DHCP_REFRESH_COMMAND: str = "/usr/local/sbin/dhcpincludes -r commit"
"""Regenerates the include files of the automation directory, checks the configuration and reloads dhcpd."""
MGMT_HOSTNAME_RE: str = r"\.mgmt\.{dc}\.wmnet"
"""Matches a management console FQDN once formatted with the datacenter as ``dc``."""

PUSH_LOCK_TTL = 120
REMOVE_LOCK_TTL = 60
TTYS_VALUES = (0, 1)

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_MAC_RE = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
_UUID_RE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_SWITCH_IFACE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9/:.-]*")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_OPTION_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*(?:\.[a-z0-9][a-z0-9-]*)?")
_UNQUOTABLE_RE = re.compile(r'["\\\x00-\x1f\x7f]')
_SERIAL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

_INDENT = "        "  # A body line of the snippets' templates, which are dedented once rendered


class DHCPError(SpicerackError):
    """A DHCP snippet is invalid, or could not be pushed, checked or removed."""


class DHCPRestartError(DHCPError):
    """The install servers failed to regenerate their include files or to reload the DHCP server."""


def _check_match(pattern: re.Pattern[str], value: object, what: str) -> None:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise DHCPError(f"Invalid {what} {value!r}, must match {pattern.pattern}.")


def _check_quotable(value: object, what: str) -> None:
    if not isinstance(value, str) or _UNQUOTABLE_RE.search(value):
        raise DHCPError(f"Invalid {what} {value!r}: double quotes, backslashes and control characters are not allowed.")


def _as_ipv4(value: object) -> IPv4Address:
    if isinstance(value, IPv4Address):
        return value
    try:
        return IPv4Address(str(value))
    except AddressValueError as exc:
        raise DHCPError(f"Invalid IPv4 address {value!r}: {exc}.") from exc


class DHCPConfiguration(ABC):
    """A DHCP snippet: what it renders to (``str()``) and where it goes (:py:attr:`filename`).

    The default rendering formats the class attribute ``_template`` with the instance as ``s`` and dedents it.
    """

    dhcp_filename: str = ""
    dhcp_filename_exclude_vendor: str = ""
    dhcp_filename_ipxe: str = ""
    dhcp_options: dict[str, str] = {}  # Never mutated: __post_init__ sets a new dict
    distro: str = ""
    media_type: str = "installer"
    _template: ClassVar[str] = ""

    def __post_init__(self) -> None:
        """Check the common fields; add the PXE path prefix option for a distro without options nor iPXE filename."""
        _check_quotable(self.dhcp_filename, "DHCP filename")
        _check_quotable(self.dhcp_filename_exclude_vendor, "vendor to exclude from the DHCP filename")
        _check_quotable(self.dhcp_filename_ipxe, "iPXE DHCP filename")
        if self.distro:
            _check_match(_NAME_RE, self.distro, "distro")
            _check_match(_NAME_RE, self.media_type, "media type")
        options = dict(self.dhcp_options)
        for name, value in options.items():
            _check_match(_OPTION_NAME_RE, name, "DHCP option name")
            _check_quotable(value, f"value of DHCP option {name}")
        if not options and self.distro and not self.dhcp_filename_ipxe:
            options["pxelinux.pathprefix"] = f"http://apt.wikimedia.org/tftpboot/{self.distro}-{self.media_type}/"
        object.__setattr__(self, "dhcp_options", options)

    def __str__(self) -> str:
        """Return the rendered snippet, as written on the install servers."""
        return textwrap.dedent(self._template.format(s=self))

    @property
    @abstractmethod
    def filename(self) -> str:
        """The snippet's file path, relative to the automation directory."""

    @property
    def rendered_dhcp_options(self) -> str:
        """The ``option name "value";`` lines of :py:attr:`dhcp_options`, each starting with a newline."""
        return "".join(f'\n{_INDENT}option {name} "{value}";' for name, value in self.dhcp_options.items())

    @property
    def rendered_dhcp_filename(self) -> str:
        """The ``filename`` statement, or an empty string without :py:attr:`dhcp_filename`.

        With :py:attr:`dhcp_filename_exclude_vendor` that vendor class gets an empty filename; otherwise, with
        :py:attr:`dhcp_filename_ipxe`, iPXE clients get that one instead (iPXE chainloaded from the first filename
        must not be sent it again, or it would loop).
        """
        if not self.dhcp_filename:
            return ""
        if self.dhcp_filename_exclude_vendor:
            lines = _if_else(
                f'option vendor-class-identifier = "{self.dhcp_filename_exclude_vendor}"', "", self.dhcp_filename
            )
        elif self.dhcp_filename_ipxe:
            lines = _if_else(
                'exists user-class and option user-class = "iPXE"', self.dhcp_filename_ipxe, self.dhcp_filename
            )
        else:
            lines = [f'filename "{self.dhcp_filename}";']
        return "".join(f"\n{_INDENT}{line}" for line in lines)


def _if_else(condition: str, filename_if: str, filename_else: str) -> list[str]:
    return [
        f"if {condition} {{",
        f'    filename "{filename_if}";',
        "} else {",
        f'    filename "{filename_else}";',
        "}",
    ]


class _InstallerConfiguration(DHCPConfiguration):
    """The fields and checks shared by the snippets that boot a host into the installer."""

    hostname: str
    ipv4: IPv4Address
    ttys: int

    def __post_init__(self) -> None:
        """Check the host name, the IPv4 address and the serial console."""
        _check_match(_HOSTNAME_RE, self.hostname, "hostname")
        object.__setattr__(self, "ipv4", _as_ipv4(self.ipv4))
        if self.ttys not in TTYS_VALUES:
            raise DHCPError(f"Invalid ttys {self.ttys!r}, must be one of {TTYS_VALUES}.")
        super().__post_init__()

    @property
    def filename(self) -> str:
        """The snippet's file path: in the directory of the host's serial console, named after the host."""
        return f"ttyS{self.ttys}-115200/{self.hostname}.conf"


def _host_template(identifier: str) -> str:
    return f"""
    host {{s.hostname}} {{{{
{_INDENT}{identifier}
{_INDENT}fixed-address {{s.ipv4}};{{s.rendered_dhcp_filename}}{{s.rendered_dhcp_options}}
    }}}}
    """


@dataclass(frozen=True)
class DHCPConfOpt82(_InstallerConfiguration):
    """A host entry matched by the DHCP relay's Option 82 circuit id: its switch, switch interface and VLAN.

    Arguments:
        hostname: the host's name.
        ipv4: the IPv4 address to give it.
        switch_hostname: the switch the host is connected to.
        switch_iface: the switch interface the host is connected to.
        vlan: the VLAN's name or number.
        ttys: the host's serial console, 0 or 1.
        distro: the Debian codename of the PXE installer; empty for no PXE path prefix.
        media_type: the installer media: ``installer``, ``installer-11.0``, ``rescue``, ...
        dhcp_filename: the DHCP ``filename`` to send, if any.
        dhcp_filename_exclude_vendor: a vendor class (e.g. ``d-i``) that gets an empty filename instead.
        dhcp_filename_ipxe: the filename for iPXE clients (e.g. an iPXE script's URL), if any.
        dhcp_options: DHCP options to set; when empty, ``distro`` is set and there is no ``dhcp_filename_ipxe``, the
            PXE path prefix.

    """

    hostname: str
    ipv4: IPv4Address
    switch_hostname: str
    switch_iface: str
    vlan: str | int
    ttys: int
    distro: str
    media_type: str = "installer"
    dhcp_filename: str = ""
    dhcp_filename_exclude_vendor: str = ""
    dhcp_filename_ipxe: str = ""
    dhcp_options: dict[str, str] = field(default_factory=dict)

    _template: ClassVar[str] = _host_template(
        'host-identifier option agent.circuit-id "{s.switch_hostname}:{s.switch_iface}:{s.vlan}";'
    )

    def __post_init__(self) -> None:
        """Check the switch, its interface and the VLAN, then the common fields."""
        _check_match(_HOSTNAME_RE, self.switch_hostname, "switch hostname")
        _check_match(_SWITCH_IFACE_RE, self.switch_iface, "switch interface")
        if not (isinstance(self.vlan, int) and not isinstance(self.vlan, bool) and self.vlan >= 0):
            _check_match(_NAME_RE, self.vlan, "VLAN")
        super().__post_init__()


@dataclass(frozen=True)
class DHCPConfMac(_InstallerConfiguration):
    """A host entry matched by the MAC address of the host's interface.

    Arguments:
        hostname: the host's name.
        ipv4: the IPv4 address to give it.
        mac: the MAC address, six colon-separated hexadecimal bytes.
        ttys: the host's serial console, 0 or 1.
        distro: the Debian codename of the PXE installer; empty for no PXE path prefix.
        media_type: the installer media: ``installer``, ``installer-11.0``, ``rescue``, ...
        dhcp_filename: the DHCP ``filename`` to send, if any.
        dhcp_filename_exclude_vendor: a vendor class (e.g. ``d-i``) that gets an empty filename instead.
        dhcp_filename_ipxe: the filename for iPXE clients (e.g. an iPXE script's URL), if any.
        dhcp_options: DHCP options to set; when empty, ``distro`` is set and there is no ``dhcp_filename_ipxe``, the
            PXE path prefix.

    """

    hostname: str
    ipv4: IPv4Address
    mac: str
    ttys: int
    distro: str
    media_type: str = "installer"
    dhcp_filename: str = ""
    dhcp_filename_exclude_vendor: str = ""
    dhcp_filename_ipxe: str = ""
    dhcp_options: dict[str, str] = field(default_factory=dict)

    _template: ClassVar[str] = _host_template("hardware ethernet {s.mac};")

    def __post_init__(self) -> None:
        """Check the MAC address, then the common fields."""
        if not isinstance(self.mac, str) or _MAC_RE.fullmatch(self.mac) is None:
            raise DHCPError(f"Invalid MAC address {self.mac}, must match pattern {_MAC_RE.pattern}.")
        super().__post_init__()


@dataclass(frozen=True)
class DHCPConfUUID(_InstallerConfiguration):
    """A host entry matched by the SMBIOS UUID the host's PXE firmware sends as client identifier (option 97).

    Arguments:
        hostname: the host's name.
        ipv4: the IPv4 address to give it.
        uuid: the SMBIOS UUID as the host reports it (``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx``).
        ttys: the host's serial console, 0 or 1.
        distro: the Debian codename of the PXE installer; empty for no PXE path prefix.
        media_type: the installer media: ``installer``, ``installer-11.0``, ``rescue``, ...
        dhcp_filename: the DHCP ``filename`` to send, if any.
        dhcp_filename_exclude_vendor: a vendor class (e.g. ``d-i``) that gets an empty filename instead.
        dhcp_filename_ipxe: the filename for iPXE clients (e.g. an iPXE script's URL), if any.
        dhcp_options: DHCP options to set; when empty, ``distro`` is set and there is no ``dhcp_filename_ipxe``, the
            PXE path prefix.

    """

    hostname: str
    ipv4: IPv4Address
    uuid: str
    ttys: int
    distro: str
    media_type: str = "installer"
    dhcp_filename: str = ""
    dhcp_filename_exclude_vendor: str = ""
    dhcp_filename_ipxe: str = ""
    dhcp_options: dict[str, str] = field(default_factory=dict)

    # Option 97 is a type byte (0: UUID) then the UUID's 16 bytes.
    _template: ClassVar[str] = _host_template("host-identifier option pxe-client-id 00:{s.pxe_client_id};")

    def __post_init__(self) -> None:
        """Check the UUID, then the common fields."""
        _check_match(_UUID_RE, self.uuid, "SMBIOS UUID")
        super().__post_init__()

    @property
    def pxe_client_id(self) -> str:
        """The UUID's bytes as the PXE client sends them, colon-separated hexadecimal.

        SMBIOS stores the first three fields of the UUID little-endian, so their bytes come reversed compared to
        the text form.
        """
        return uuid.UUID(self.uuid).bytes_le.hex(":")


@dataclass(frozen=True)
class DHCPConfMgmt(DHCPConfiguration):
    """A pool of one address for a management console, matched by what its DHCP client sends (see ``manufacturer``).

    Arguments:
        datacenter: the host's datacenter.
        serial: the host's vendor serial number.
        manufacturer: the host's manufacturer: Dell consoles send ``idrac-<serial>`` as host name, Nokia devices a
            NUL byte and the serial as client identifier, the others the serial as host name.
        fqdn: the management console's FQDN (``<host>.mgmt.<datacenter>.wmnet``).
        ipv4: the IPv4 address to give the management console.

    """

    datacenter: str
    serial: str
    manufacturer: str
    fqdn: str
    ipv4: IPv4Address
    distro: str = ""  # Not used by management entries
    dhcp_options: dict[str, str] = field(default_factory=dict)

    _template: ClassVar[str] = """
    class "{s.fqdn}" {{
        match if (lcase(option {s.match_option}) = "{s.hostname}");
    }}
    pool {{
        allow members of "{s.fqdn}";
        range {s.ipv4} {s.ipv4};
    }}
    """

    def __post_init__(self) -> None:
        """Check the datacenter, the FQDN, the serial and the IPv4 address."""
        if self.datacenter not in ALL_DATACENTERS:
            raise DHCPError(f"Invalid datacenter {self.datacenter}, must be one of {ALL_DATACENTERS}.")
        pattern = MGMT_HOSTNAME_RE.format(dc=self.datacenter)
        _check_match(_HOSTNAME_RE, self.fqdn, "management FQDN")
        if not re.search(pattern, self.fqdn):
            raise DHCPError(f"Invalid management FQDN {self.fqdn}, must match {pattern}.")
        _check_match(_SERIAL_RE, self.serial, "serial")
        _check_quotable(self.manufacturer, "manufacturer")
        object.__setattr__(self, "ipv4", _as_ipv4(self.ipv4))
        super().__post_init__()

    @property
    def filename(self) -> str:
        """The snippet's file path: in the datacenter's management directory, named after the FQDN."""
        return f"mgmt-{self.datacenter}/{self.fqdn}.conf"

    @property
    def hostname(self) -> str:
        """The value the console's DHCP client sends in :py:attr:`match_option`, lowercase."""
        serial = self.serial.lower()
        manufacturer = self.manufacturer.lower()
        if manufacturer == "dell":
            return f"idrac-{serial}"
        if manufacturer == "nokia":
            return f"\0{serial}"
        return serial

    @property
    def match_option(self) -> str:
        """The DHCP option matched against :py:attr:`hostname`: ``dhcp-client-identifier`` (Nokia) or ``host-name``."""
        return "dhcp-client-identifier" if self.manufacturer.lower() == "nokia" else "host-name"


class DHCP:
    """Add and remove snippets in the DHCP configuration of a datacenter's install servers."""

    def __init__(
        self, hosts: RemoteHosts, *, datacenter: str, lock: "Lock | LocalLock | NoLock", dry_run: bool = True
    ) -> None:
        """Act on the given install servers, one change at a time per datacenter.

        Arguments:
            hosts: the datacenter's install servers.
            datacenter: the datacenter's name.
            lock: the lock that serialises the changes to the datacenter's DHCP configuration.
            dry_run: whether this is a DRY-RUN: the checks run, the changes are only logged.

        Raises:
            spicerack.dhcp.DHCPError: if there are no hosts or the datacenter is unknown.

        """
        if len(hosts) < 1:
            raise DHCPError("No target hosts provided.")
        if datacenter not in ALL_DATACENTERS:
            raise DHCPError(f"Invalid datacenter {datacenter}, must be one of {ALL_DATACENTERS}.")
        self._hosts = hosts
        self._datacenter = datacenter
        self._lock = lock
        self._dry_run = dry_run
        self._lock_key = f"{__name__}.{type(self).__name__}:{datacenter}"

    def push_configuration(self, configuration: DHCPConfiguration) -> None:
        """Write the snippet on the install servers (replacing a previous version) and refresh the DHCP server.

        If the refresh fails, the snippet is removed and the servers refreshed again before raising.

        Arguments:
            configuration: the snippet.

        Raises:
            spicerack.dhcp.DHCPError: if the snippet cannot be written.
            spicerack.dhcp.DHCPRestartError: if the refresh fails (e.g. dhcpd rejects the configuration).

        """
        path = self._path(configuration)
        encoded = base64.b64encode(str(configuration).encode()).decode()
        logger.info("Pushing DHCP snippet %s to %s", path, self._hosts)
        with self._lock.acquired(self._lock_key, concurrency=1, ttl=PUSH_LOCK_TTL):
            try:
                self._hosts.run_sync(f"/bin/echo '{encoded}' | /usr/bin/base64 -d > {path}", print_progress_bars=False)
            except RemoteExecutionError as exc:
                raise DHCPError(f"Failed to create snippet {path}.") from exc

            try:
                self._refresh_dhcp()
            except DHCPRestartError:
                logger.error("Failed to refresh the DHCP server: removing snippet %s and refreshing again.", path)
                self._remove_file(path)
                self._refresh_dhcp()
                raise

    def remove_configuration(self, configuration: DHCPConfiguration, force: bool = False) -> None:
        """Remove the snippet from the install servers and refresh the DHCP server.

        Unless forced, the snippet is removed only if every install server has it with the same content.

        Arguments:
            configuration: the snippet.
            force: remove the file whatever its content.

        Raises:
            spicerack.dhcp.DHCPError: if the snippet differs, is missing or cannot be removed.
            spicerack.dhcp.DHCPRestartError: if the refresh fails.

        """
        path = self._path(configuration)
        if not force:
            self._check_same_content(configuration, path)
        logger.info("Removing DHCP snippet %s from %s", path, self._hosts)
        with self._lock.acquired(self._lock_key, concurrency=1, ttl=REMOVE_LOCK_TTL):
            self._remove_file(path)
            self._refresh_dhcp()

    @contextmanager
    def config(self, dhcp_config: DHCPConfiguration) -> Iterator[None]:
        """Keep the snippet on the install servers while the context is active, removing it even on errors.

        Arguments:
            dhcp_config: the snippet.

        """
        self.push_configuration(dhcp_config)
        try:
            yield
        finally:
            self.remove_configuration(dhcp_config)

    @staticmethod
    def _path(configuration: DHCPConfiguration) -> str:
        return f"{DHCP_TARGET_PATH}/{configuration.filename}"

    def _check_same_content(self, configuration: DHCPConfiguration, path: str) -> None:
        expected = sha256(str(configuration).encode()).hexdigest()
        try:
            results = self._hosts.run_sync(
                f"sha256sum {path}", is_safe=True, print_output=False, print_progress_bars=False
            )
        except RemoteExecutionError as exc:
            if self._dry_run:  # The snippet was not pushed in DRY-RUN: nothing to compare.
                logger.info("DRY-RUN: snippet %s not found on %s, not checking its content.", path, self._hosts)
                return
            raise DHCPError(f"Failed to checksum {path} for safe removal.") from exc

        outputs = [output for _, output in RemoteHosts.results_to_list(results)]
        if not outputs:
            raise DHCPError(f"No output when trying to checksum snippet {path}, refusing to remove it.")
        for output in outputs:
            if output.split()[0] != expected:
                if not self._dry_run:
                    raise DHCPError(f"Remote snippet {path} has a mismatched SHA256, refusing to remove it.")
                logger.info("DRY-RUN: remote snippet %s has a mismatched SHA256.", path)

    def _remove_file(self, path: str) -> None:
        try:
            self._hosts.run_sync(f"/bin/rm -v {path}", print_output=False, print_progress_bars=False)
        except RemoteExecutionError as exc:
            raise DHCPError(f"Failed to remove snippet {path}.") from exc

    def _refresh_dhcp(self) -> None:
        try:
            self._hosts.run_sync(DHCP_REFRESH_COMMAND, print_progress_bars=False)
        except RemoteExecutionError as exc:
            raise DHCPRestartError("Failed to refresh the DHCP server when running dhcpincludes.") from exc
