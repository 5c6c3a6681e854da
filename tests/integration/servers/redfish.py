"""A real Redfish service on loopback: OpenStack's sushy-emulator with its in-memory (fake) systems driver.

It serves HTTPS with a self-signed certificate made for the session and HTTP basic authentication. Two fake
computer systems carry the identifiers the vendor classes use: ``1`` (Supermicro: ``/redfish/v1/Systems/1`` and
its manager ``/redfish/v1/Managers/1``) and ``System.Embedded.1`` (Dell), plus a chassis ``System.Embedded.1``.
Power changes requested with ``ComputerSystem.Reset`` take effect after 1 to 11 seconds, as the emulator does it.
Every request it receives is written to its log, which tests read through :py:meth:`RedfishEmulator.requests`.
"""

import base64
import json
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.servers import free_port, require_binary, stop_process, wait_until

__all__ = ["RedfishEmulator", "redfish_emulator"]

SUPERMICRO_SYSTEM = "1"
DELL_SYSTEM = "System.Embedded.1"

_UNVERIFIED = ssl.create_default_context()
_UNVERIFIED.check_hostname = False
_UNVERIFIED.verify_mode = ssl.CERT_NONE
# Direct connections only, whatever the environment's proxy settings.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=_UNVERIFIED))


@dataclass(frozen=True)
class RedfishEmulator:
    """A running sushy-emulator: where it listens, its account, and its request log."""

    host: str
    port: int
    username: str
    password: str
    log_file: Path

    @property
    def url(self) -> str:
        """The base URL of the service."""
        return f"https://{self.host}:{self.port}"

    def get(self, path: str) -> Any:
        """Return the decoded JSON of an authenticated ``GET <path>``, read independently of the code under test."""
        request = urllib.request.Request(f"{self.url}{path}")
        token = f"{self.username}:{self.password}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
        with _OPENER.open(request, timeout=5) as response:
            return json.load(response)

    def power_state(self, system: str = SUPERMICRO_SYSTEM) -> str:
        """Return the power state of one of the fake systems."""
        return str(self.get(f"/redfish/v1/Systems/{system}")["PowerState"])

    def requests(self, method: str, path: str) -> int:
        """Return how many ``method path`` requests the service has received so far."""
        needle = f'"{method.upper()} {path} HTTP/'
        return self.log_file.read_text(encoding="utf-8", errors="replace").count(needle)


def _write_config(base_dir: Path, port: int, auth_file: Path, cert: Path, key: Path) -> Path:
    systems = [
        {"uuid": SUPERMICRO_SYSTEM, "name": "supermicro-host", "power_state": "Off", "nics": []},
        {"uuid": DELL_SYSTEM, "name": "dell-host", "power_state": "On", "nics": []},
    ]
    chassis = [{"Id": DELL_SYSTEM, "Name": "dell-chassis", "UUID": "48295861-2522-3561-6729-621118518810"}]
    settings = {
        "SUSHY_EMULATOR_LISTEN_IP": "127.0.0.1",
        "SUSHY_EMULATOR_LISTEN_PORT": port,
        "SUSHY_EMULATOR_SSL_CERT": str(cert),
        "SUSHY_EMULATOR_SSL_KEY": str(key),
        "SUSHY_EMULATOR_AUTH_FILE": str(auth_file),
        "SUSHY_EMULATOR_FAKE_DRIVER": True,
        "SUSHY_EMULATOR_FAKE_SYSTEMS": systems,
        "SUSHY_EMULATOR_CHASSIS": chassis,
        "SUSHY_EMULATOR_STATE_DIR": str(base_dir / "state"),
    }
    config_file = base_dir / "emulator.conf"
    # The configuration is a Python file: JSON literals are valid Python once the booleans are spelled its way.
    lines = [f"{name} = {json.dumps(value)}".replace("true", "True") for name, value in settings.items()]
    config_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config_file


def _make_certificate(base_dir: Path) -> tuple[Path, Path]:
    openssl = require_binary("openssl")
    cert, key = base_dir / "cert.pem", base_dir / "key.pem"
    options = ["-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        [openssl, "req", *options, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


# sushy-emulator leaves /redfish out of its authentication, as the Redfish specification says, but does not serve the
# versions document there that the specification requires (and real consoles serve): add it before starting.
_LAUNCHER = """
import sys
from sushy_tools.emulator import main
main.app.add_url_rule("/redfish", "redfish_versions", lambda: {"v1": "/redfish/v1/"})
sys.exit(main.main())
"""


def _is_ready(url: str) -> bool:
    with _OPENER.open(f"{url}/redfish/v1/", timeout=1) as response:
        return bool(response.status == 200)


@pytest.fixture(scope="session")
def redfish_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedfishEmulator]:
    """Start one sushy-emulator for the session and stop it by PID at the end."""
    require_binary("sushy-emulator", str(Path(sys.executable).parent))  # Installed with its Python package
    import bcrypt  # A dependency of sushy-tools: the emulator accepts only bcrypt password hashes

    base_dir = tmp_path_factory.mktemp("redfish")
    username, password = "root", "calvin-test"
    auth_file = base_dir / "htpasswd"
    password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    auth_file.write_text(f"{username}:{password_hash}\n", encoding="utf-8")
    cert, key = _make_certificate(base_dir)
    port = free_port()
    config_file = _write_config(base_dir, port, auth_file, cert, key)
    log_file = base_dir / "emulator.log"
    log = log_file.open("wb")
    command = [sys.executable, "-c", _LAUNCHER, "--config", str(config_file)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    emulator = RedfishEmulator(host="127.0.0.1", port=port, username=username, password=password, log_file=log_file)
    try:
        wait_until(lambda: process.poll() is None and _is_ready(emulator.url), what="sushy-emulator")
        yield emulator
    finally:
        stop_process(process)
        log.close()
