"""A real Prometheus Alertmanager on loopback, gossip off, with its data in a temp dir.

Tests see it through :py:class:`AlertmanagerServer`: its URL, a Spicerack configuration directory whose
``alertmanager/config.yaml`` points at it, and helpers reading its silences back through the v2 API.
"""

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.servers import free_port, logged_process, require_binary

__all__ = ["AlertmanagerServer", "alertmanager_server"]

ALERTMANAGER_CONFIG = """\
route:
  receiver: blackhole
receivers:
  - name: blackhole
"""

# Direct connections only, whatever the environment's proxy settings.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class AlertmanagerServer:
    """A running Alertmanager and a Spicerack configuration directory pointing at it.

    ``config_dir`` has ``alertmanager/config.yaml`` with the instances ``local`` (the default: this server),
    ``fallback`` (a closed port first, then this server) and ``unreachable`` (a closed port only).
    """

    url: str
    config_dir: Path
    closed_port_url: str

    def get(self, path: str) -> Any:
        """Return the decoded JSON answer to ``GET /api/v2/<path>``."""
        with _OPENER.open(f"{self.url}/api/v2/{path}", timeout=5) as response:
            return json.load(response)

    def silences(self, comment_contains: str = "") -> list[dict[str, Any]]:
        """Return every silence whose comment contains the given text."""
        silences: list[dict[str, Any]] = self.get("silences")
        return [silence for silence in silences if comment_contains in silence["comment"]]

    def active_silences(self, comment_contains: str = "") -> list[dict[str, Any]]:
        """Return the active silences whose comment contains the given text."""
        return [s for s in self.silences(comment_contains) if s["status"]["state"] == "active"]

    def silence(self, silence_id: str) -> dict[str, Any]:
        """Return one silence by ID."""
        silence: dict[str, Any] = self.get(f"silence/{silence_id}")
        return silence

    def fire_alert(self, labels: dict[str, str]) -> None:
        """Send Alertmanager a firing alert with the given labels, as Prometheus would."""
        body = json.dumps([{"labels": labels}]).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with _OPENER.open(request, timeout=5) as response:
            response.read()

    def silenced_by(self, labels: dict[str, str]) -> list[str]:
        """Return the IDs of the silences muting the alert with exactly these labels."""
        alerts: list[dict[str, Any]] = self.get("alerts")
        for alert in alerts:
            if alert["labels"] == labels:
                silenced_by: list[str] = alert["status"]["silencedBy"]
                return silenced_by
        raise AssertionError(f"No alert with labels {labels}")


def _is_ready(url: str) -> bool:
    with _OPENER.open(f"{url}/-/ready", timeout=1) as response:
        return bool(response.status == 200)


def _write_spicerack_config(config_dir: Path, url: str, closed_port_url: str) -> None:
    config_file = config_dir / "alertmanager" / "config.yaml"
    config_file.parent.mkdir(parents=True)
    config = {
        "default_instance": "local",
        "instances": {
            "local": {"urls": [url]},
            "fallback": {"urls": [closed_port_url, url]},
            "unreachable": {"urls": [closed_port_url]},
        },
    }
    config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is valid YAML


@pytest.fixture(scope="session")
def alertmanager_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertmanagerServer]:
    """Start one Alertmanager for the session and stop it by PID at the end."""
    binary = require_binary("prometheus-alertmanager")
    base_dir = tmp_path_factory.mktemp("alertmanager")
    config_file = base_dir / "alertmanager.yml"
    config_file.write_text(ALERTMANAGER_CONFIG, encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    closed_port_url = f"http://127.0.0.1:{free_port()}"
    command = [
        binary,
        f"--config.file={config_file}",
        f"--storage.path={base_dir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    with logged_process(command, base_dir / "alertmanager.log", lambda: _is_ready(url), what="alertmanager"):
        config_dir = base_dir / "spicerack"
        _write_spicerack_config(config_dir, url, closed_port_url)
        yield AlertmanagerServer(url=url, config_dir=config_dir, closed_port_url=closed_port_url)
