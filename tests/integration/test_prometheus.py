"""Integration tests of ``spicerack.prometheus()``: wmflib's client, unchanged, against a real Prometheus.

The client queries the production URL of the site and instance; the server is reached as the HTTP proxy given in
the environment (see ``tests/integration/servers/prometheus.py``). Queries are read-only, so they run in DRY-RUN.
"""

import pytest
from wmflib.prometheus import Prometheus, PrometheusError

from spicerack import Spicerack
from tests.integration.servers import wait_until
from tests.integration.servers.prometheus import PrometheusServer


@pytest.fixture
def prometheus(prometheus_server: PrometheusServer, monkeypatch: pytest.MonkeyPatch) -> Prometheus:
    """The client of ``spicerack.prometheus()`` in DRY-RUN, with the test server as its HTTP proxy."""
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, prometheus_server.proxy_url)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return Spicerack(dry_run=True).prometheus()


def test_the_accessor_returns_wmflib_prometheus(prometheus: Prometheus) -> None:
    assert isinstance(prometheus, Prometheus)


def test_query_evaluates_an_expression(prometheus: Prometheus) -> None:
    [sample] = prometheus.query("vector(42)", "eqiad")
    assert sample["metric"] == {}
    assert sample["value"][1] == "42"


def test_query_returns_scraped_series(prometheus: Prometheus, prometheus_server: PrometheusServer) -> None:
    wait_until(prometheus_server.has_scraped, timeout=30, what="prometheus' first scrape")

    [sample] = prometheus.query('up{job="prometheus"}', "codfw")

    assert sample["metric"] == {"__name__": "up", "instance": prometheus_server.target, "job": "prometheus"}
    assert sample["value"][1] == "1"


def test_query_without_results_is_empty(prometheus: Prometheus) -> None:
    assert prometheus.query('up{job="no-such-job"}', "eqiad") == []


def test_an_invalid_query_is_an_error(prometheus: Prometheus) -> None:
    with pytest.raises(PrometheusError, match="Unable to get metric: HTTP 400"):
        prometheus.query("up{", "eqiad")


def test_the_instance_selects_the_path(prometheus: Prometheus) -> None:
    # This server only serves the "ops" instance's prefix: another instance's URL is not found.
    with pytest.raises(PrometheusError, match="Unable to get metric: HTTP 404"):
        prometheus.query("vector(1)", "eqiad", instance="k8s")
