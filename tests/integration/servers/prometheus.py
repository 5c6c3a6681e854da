"""A real Prometheus on loopback, scraping itself, serving its API under ``/ops`` (the ``ops`` instance's prefix).

wmflib's clients query fixed production URLs (``http://prometheus.svc.<site>.wmnet/<instance>/api/v1/query``).
Tests reach this server with them unchanged by making it their HTTP proxy: a proxied request carries the absolute
URL, and Prometheus routes it by its path, so ``/ops/api/v1/query`` lands on its query API.
"""

import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.integration.servers import free_port, logged_process, require_binary

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


def run_prometheus(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    config: Callable[[str], str],
    *,
    what: str = "prometheus",
    timeout: float = 15.0,
) -> Iterator[PrometheusServer]:
    """Body of a session fixture: a Prometheus on a free loopback port, its API under :py:data:`ROUTE_PREFIX`.

    Arguments:
        tmp_path_factory: pytest's factory of the temp dir with its configuration, data and log.
        name: the name of the temp dir.
        config: returns the configuration (YAML) given the ``host:port`` the server listens on.
        what: the server's name in the failure when it is not ready.
        timeout: how long to wait for it to be ready.

    """
    binary = require_binary("prometheus")
    base_dir = tmp_path_factory.mktemp(name)
    target = f"127.0.0.1:{free_port()}"
    url = f"http://{target}"
    config_file = base_dir / "prometheus.yml"
    config_file.write_text(config(target), encoding="utf-8")
    command = [
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={base_dir / 'data'}",
        f"--web.listen-address={target}",
        f"--web.route-prefix={ROUTE_PREFIX}",
        "--log.level=warn",
    ]
    with logged_process(command, base_dir / "prometheus.log", lambda: _is_ready(url), what=what, timeout=timeout):
        yield PrometheusServer(proxy_url=url, target=target)


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """Start one Prometheus for the session and stop it by PID at the end."""
    yield from run_prometheus(tmp_path_factory, "prometheus", _config)
