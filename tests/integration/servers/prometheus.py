"""A real Prometheus on loopback, scraping itself, serving its API under ``/ops`` (the ``ops`` instance's prefix).

wmflib's clients query fixed production URLs (``http://prometheus.svc.<site>.wmnet/<instance>/api/v1/query``).
Tests reach this server with them unchanged by making it their HTTP proxy: a proxied request carries the absolute
URL, and Prometheus routes it by its path, so ``/ops/api/v1/query`` lands on its query API.
"""

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.servers import free_port, require_binary, stop_process, wait_until

__all__ = ["PrometheusServer", "prometheus_server"]

ROUTE_PREFIX = "/ops"

# Direct connections only, whatever the environment's proxy settings.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class PrometheusServer:
    """A running Prometheus: ``proxy_url`` is what to use as HTTP proxy to reach it through production URLs."""

    proxy_url: str
    target: str
    """The ``instance`` label of its scrape of itself."""

    def has_scraped(self) -> bool:
        """Whether its first scrape of itself is queryable."""
        url = f"{self.proxy_url}{ROUTE_PREFIX}/api/v1/query?query=up"
        with _OPENER.open(url, timeout=2) as response:
            return bool(json.load(response)["data"]["result"])


def _config(target: str) -> str:
    return json.dumps(  # JSON is valid YAML
        {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {
                    "job_name": "prometheus",
                    "metrics_path": f"{ROUTE_PREFIX}/metrics",
                    "static_configs": [{"targets": [target]}],
                }
            ],
        }
    )


def _is_ready(url: str) -> bool:
    with _OPENER.open(f"{url}{ROUTE_PREFIX}/-/ready", timeout=1) as response:
        return bool(response.status == 200)


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """Start one Prometheus for the session and stop it by PID at the end."""
    binary = require_binary("prometheus")
    base_dir: Path = tmp_path_factory.mktemp("prometheus")
    target = f"127.0.0.1:{free_port()}"
    url = f"http://{target}"
    config_file = base_dir / "prometheus.yml"
    config_file.write_text(_config(target), encoding="utf-8")
    log = (base_dir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={base_dir / 'data'}",
            f"--web.listen-address={target}",
            f"--web.route-prefix={ROUTE_PREFIX}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: process.poll() is None and _is_ready(url), what="prometheus")
        yield PrometheusServer(proxy_url=url, target=target)
    finally:
        stop_process(process)
        log.close()
