"""Unit tests of the accessors handing out wmflib's clients: dns(), phabricator(), prometheus(), thanos()."""

import subprocess
import sys
from pathlib import Path

import pytest
from dns import resolver
from wmflib.dns import Dns
from wmflib.phabricator import Phabricator, PhabricatorError
from wmflib.prometheus import Prometheus, Thanos

from spicerack import Spicerack, SpicerackError
from spicerack.dns import DnsConfigError


def write_dns_config(config_dir: Path, content: str) -> Path:
    """Write ``dns/config.yaml`` under ``config_dir`` and return its path."""
    config_file = config_dir / "dns" / "config.yaml"
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(content, encoding="utf-8")
    return config_file


def test_import_spicerack_imports_none_of_these_clients() -> None:
    modules = ("wmflib.dns", "wmflib.phabricator", "wmflib.prometheus", "dns", "phabricator", "spicerack.dns")
    code = f"import sys, spicerack; print([m for m in {modules!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_dns_without_configuration_uses_the_system_resolver(tmp_path: Path) -> None:
    dns = Spicerack(spicerack_config_dir=str(tmp_path)).dns()
    assert isinstance(dns, Dns)
    assert dns._resolver.nameservers == resolver.Resolver().nameservers


def test_dns_with_an_empty_configuration_uses_the_system_resolver(tmp_path: Path) -> None:
    write_dns_config(tmp_path, "")
    dns = Spicerack(spicerack_config_dir=str(tmp_path)).dns()
    assert dns._resolver.nameservers == resolver.Resolver().nameservers


def test_dns_asks_the_configured_nameservers(tmp_path: Path) -> None:
    write_dns_config(tmp_path, "nameserver_addresses: [10.3.0.1, '2001:db8::53']\nport: 5353\n")
    dns = Spicerack(spicerack_config_dir=str(tmp_path)).dns()
    assert dns._resolver.nameservers == ["10.3.0.1", "2001:db8::53"]
    assert dns._resolver.port == 5353


def test_dns_port_defaults_to_53(tmp_path: Path) -> None:
    write_dns_config(tmp_path, "nameserver_addresses: [10.3.0.1]\n")
    dns = Spicerack(spicerack_config_dir=str(tmp_path)).dns()
    assert dns._resolver.nameservers == ["10.3.0.1"]
    assert dns._resolver.port == 53


def test_dns_reads_the_configuration_at_each_call(tmp_path: Path) -> None:
    spicerack = Spicerack(spicerack_config_dir=str(tmp_path))
    write_dns_config(tmp_path, "nameserver_addresses: [10.3.0.1]\n")
    first = spicerack.dns()
    write_dns_config(tmp_path, "nameserver_addresses: [10.3.0.2]\n")
    assert spicerack.dns()._resolver.nameservers == ["10.3.0.2"]
    assert first._resolver.nameservers == ["10.3.0.1"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("nameservers: [10.3.0.1]\n", "Unknown key 'nameservers' in {file}, expected: nameserver_addresses, port"),
        ("port: 53\n", "Key 'nameserver_addresses' in {file} must be a non-empty list of IP addresses"),
        ("nameserver_addresses: 10.3.0.1\n", "Key 'nameserver_addresses' in {file} must be a non-empty list"),
        ("nameserver_addresses: []\n", "Key 'nameserver_addresses' in {file} must be a non-empty list"),
        ("nameserver_addresses: [ns1.example.org]\n", "invalid IP address: 'ns1.example.org'"),
        ("nameserver_addresses: [10.3.0.1]\nport: 0\n", "Key 'port' in {file} must be an integer between 1 and 65535"),
        ("nameserver_addresses: [10.3.0.1]\nport: 65536\n", "Key 'port' in {file} must be an integer between"),
        ("nameserver_addresses: [10.3.0.1]\nport: '53'\n", "Key 'port' in {file} must be an integer between"),
        ("nameserver_addresses: [10.3.0.1]\nport: true\n", "Key 'port' in {file} must be an integer between"),
        ("- 10.3.0.1\n", "The DNS configuration {file} must be a YAML mapping, got list"),
        ("nameserver_addresses: [10.3.0.1\n", "The DNS configuration {file} is not valid YAML at line 2"),
    ],
)
def test_dns_invalid_configuration_is_a_one_line_error(tmp_path: Path, content: str, message: str) -> None:
    config_file = write_dns_config(tmp_path, content)
    with pytest.raises(DnsConfigError) as raised:
        Spicerack(spicerack_config_dir=str(tmp_path)).dns()
    assert message.format(file=config_file) in str(raised.value)
    assert "\n" not in str(raised.value)


def test_dns_config_error_is_a_spicerack_error() -> None:
    assert issubclass(DnsConfigError, SpicerackError)


def test_dns_unreadable_configuration_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "dns" / "config.yaml").mkdir(parents=True)  # A directory where the file should be
    with pytest.raises(DnsConfigError, match="Unable to read the DNS configuration"):
        Spicerack(spicerack_config_dir=str(tmp_path)).dns()


@pytest.fixture
def bot_config(tmp_path: Path) -> Path:
    config = tmp_path / "phabricator.ini"
    config.write_text(
        "[phabricator_bot]\nhost = https://phabricator.example.org/api/\nusername = bot\ntoken = api-aaaa\n"
        "[other]\nhost = https://phabricator.example.org/api/\nusername = other\ntoken = api-bbbb\n",
        encoding="utf-8",
    )
    return config


@pytest.mark.parametrize("dry_run", [True, False])
def test_phabricator_passes_the_dry_run_mode(bot_config: Path, dry_run: bool) -> None:
    client = Spicerack(dry_run=dry_run).phabricator(str(bot_config))
    assert isinstance(client, Phabricator)
    assert client._dry_run is dry_run
    assert client._allow_empty_identifiers is True


def test_phabricator_reads_the_given_section(bot_config: Path) -> None:
    client = Spicerack().phabricator(str(bot_config), section="other")
    assert client._client.conduit_token == "api-bbbb"


def test_phabricator_missing_file_or_section_is_an_error(tmp_path: Path, bot_config: Path) -> None:
    with pytest.raises(PhabricatorError, match="Unable to find section phabricator_bot in config file"):
        Spicerack().phabricator(str(tmp_path / "missing.ini"))
    with pytest.raises(PhabricatorError, match="Unable to find section missing in config file"):
        Spicerack().phabricator(str(bot_config), section="missing")


def test_prometheus_and_thanos_are_wmflib_clients() -> None:
    spicerack = Spicerack()
    assert isinstance(spicerack.prometheus(), Prometheus)
    assert isinstance(spicerack.thanos(), Thanos)
    assert spicerack.prometheus() is not spicerack.prometheus()  # A new client, with its own session, each time
