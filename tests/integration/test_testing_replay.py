"""Integration tests of the record and replay seams: a real exchange with a real server, then replayed offline.

Each test records what a client really got from a server of the integration suite, then replays it with every
``socket.connect`` refused: the client gives the same result without opening any connection.
"""

import socket
from pathlib import Path

import etcd
import pytest
import requests
import yaml
from wmflib.dns import DnsNotFound

from spicerack import Spicerack
from spicerack.mysql import Instance
from spicerack.remote import Remote
from spicerack.testing._exchanges import ExchangeStore, MissingExchange
from spicerack.testing._seams import NetworkBlocked, recording, replaying
from tests.integration.servers import free_port
from tests.integration.servers.dns import DOMAIN
from tests.integration.servers.mariadb import CLIENT_PASSWORD, PRIMARY_HOST
from tests.integration.servers.redis import REDIS_PASSWORD


class ConnectAttempted(AssertionError):
    """A replay tried to open a connection."""


def refuse_connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Refuse (and list) every ``socket.connect`` from now on, loopback included."""
    attempts: list[object] = []

    def connect(_sock: socket.socket, address: object) -> None:
        attempts.append(address)
        raise ConnectAttempted(f"connect to {address} during a replay")

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def written(store: ExchangeStore, tmp_path: Path) -> tuple[ExchangeStore, str]:
    """Write the store to a file and read it back, as a recorded fleet description is."""
    path = tmp_path / "fleet.yaml"
    store.write(path)
    text = path.read_text(encoding="utf-8")
    return ExchangeStore.from_dict(yaml.safe_load(text)["exchanges"]), text


def test_requests_exchanges_replay_with_their_status_body_and_errors(http_server, tmp_path, monkeypatch):
    http_server.script("/api/devices/?name=x&token=s3cr3t-t0k3n", 200, body={"results": [{"name": "x"}]})
    http_server.script("/api/missing/", 404, body={"detail": "Not found."})
    refused = f"http://127.0.0.1:{free_port()}/"
    session = requests.Session()
    session.headers["Authorization"] = "Token s3cr3t-t0k3n"

    def observe() -> tuple[object, ...]:
        found = session.get(f"{http_server.url}/api/devices/", params={"name": "x", "token": "s3cr3t-t0k3n"}, timeout=5)
        missing = session.get(f"{http_server.url}/api/missing/", timeout=5)
        with pytest.raises(requests.exceptions.ConnectionError) as excinfo:
            session.get(refused, timeout=5)
        return found.status_code, found.json(), missing.status_code, missing.json(), type(excinfo.value)

    with recording(ExchangeStore()) as store:
        recorded = observe()
    replay_store, text = written(store, tmp_path)
    assert "s3cr3t-t0k3n" not in text

    attempts = refuse_connections(monkeypatch)
    with replaying(replay_store):
        assert observe() == recorded
    assert recorded[:4] == (200, {"results": [{"name": "x"}]}, 404, {"detail": "Not found."})
    assert attempts == []


def test_a_missing_http_exchange_names_the_request(monkeypatch):
    attempts = refuse_connections(monkeypatch)
    with replaying(ExchangeStore()), pytest.raises(MissingExchange) as excinfo:
        requests.get("https://netbox.example.org/api/dcim/devices/?name=x", timeout=5)
    assert str(excinfo.value) == (
        "no recorded answer for GET https://netbox.example.org/api/dcim/devices/?name=x: add an `http` exchange"
    )
    assert attempts == []


def test_urllib3_exchanges_of_python_etcd_replay(etcd_v2_server, tmp_path, monkeypatch):
    host, port = etcd_v2_server.url.removeprefix("http://").split(":")
    client = etcd.Client(host=host, port=int(port))
    with recording(ExchangeStore()) as store:
        client.write("/spicerack-replay/key", "recorded value")
        value = client.read("/spicerack-replay/key").value
        with pytest.raises(etcd.EtcdKeyNotFound):
            client.read("/spicerack-replay/absent")
    replay_store, _ = written(store, tmp_path)
    assert any("/v2/keys/spicerack-replay/key" in entry.request["url"] for entry in replay_store.entries["http"])

    attempts = refuse_connections(monkeypatch)
    with replaying(replay_store):
        replayed_client = etcd.Client(host=host, port=int(port))
        assert replayed_client.read("/spicerack-replay/key").value == value == "recorded value"
        with pytest.raises(etcd.EtcdKeyNotFound):
            replayed_client.read("/spicerack-replay/absent")
    assert attempts == []


def test_dns_answers_cnames_and_nxdomain_replay(dns_server, tmp_path, monkeypatch):
    def observe() -> tuple[object, ...]:
        dns = Spicerack(spicerack_config_dir=str(dns_server.config_dir), dry_run=False).dns()
        with pytest.raises(DnsNotFound):
            dns.resolve_ipv4(f"absent.{DOMAIN}")
        return sorted(dns.resolve_ipv4(f"multi.{DOMAIN}")), dns.resolve_ipv4(f"alias.{DOMAIN}")

    with recording(ExchangeStore()) as store:
        recorded = observe()
    replay_store, _ = written(store, tmp_path)

    attempts = refuse_connections(monkeypatch)
    with replaying(replay_store):
        assert observe() == recorded == (["10.0.0.1", "10.0.0.2"], ["10.0.0.10"])
    assert attempts == []


def test_mysql_rows_replay(mariadb_client_env, tmp_path, monkeypatch):
    mariadb_client_env.primary.sql("DELETE FROM testdb.items; INSERT INTO testdb.items VALUES (7, 'seven')")

    def observe() -> tuple[object, ...]:
        primary = Instance(Remote(str(mariadb_client_env.fleet.cumin_config)).query(PRIMARY_HOST))
        row = primary.fetch_one_row("SELECT * FROM items WHERE id = %s", (7,), database="testdb")
        empty = primary.fetch_one_row("SELECT * FROM items WHERE id = 8", database="testdb")
        return row, empty

    with recording(ExchangeStore()) as store:
        recorded = observe()
    mariadb_client_env.primary.sql("DELETE FROM testdb.items")
    replay_store, text = written(store, tmp_path)
    assert CLIENT_PASSWORD not in text

    attempts = refuse_connections(monkeypatch)
    with replaying(replay_store):
        assert observe() == recorded == ({"id": 7, "name": "seven"}, {})
        primary = Instance(Remote(str(mariadb_client_env.fleet.cumin_config)).query(PRIMARY_HOST))
        with pytest.raises(MissingExchange, match="mysql query 'SELECT 1'"):
            primary.fetch_one_row("SELECT 1", database="testdb")
    assert attempts == []


def test_redis_commands_replay(redis_servers, tmp_path, monkeypatch):
    redis_servers.reset()
    server = redis_servers.shards["dc1"]["shard01"]

    def observe() -> tuple[object, ...]:
        client = server.client()
        return client.get("replayed"), client.exists("absent"), client.incr("counter")

    server.client().set("replayed", "value")
    with recording(ExchangeStore()) as store:
        recorded = observe()
    replay_store, text = written(store, tmp_path)
    assert REDIS_PASSWORD not in text

    attempts = refuse_connections(monkeypatch)
    with replaying(replay_store):
        assert observe() == recorded == ("value", 0, 1)
    assert attempts == []


def test_cumin_queries_replay(ssh_fleet, tmp_path, monkeypatch):
    with recording(ExchangeStore()) as store:
        recorded = Remote(str(ssh_fleet.cumin_config)).query("test-host[01-03]").hosts
    replay_store, _ = written(store, tmp_path)

    attempts = refuse_connections(monkeypatch)
    with replaying(replay_store):
        assert Remote(str(ssh_fleet.cumin_config)).query("test-host[01-03]").hosts == recorded
        with pytest.raises(MissingExchange, match="cumin query 'A:other'"):
            Remote(str(ssh_fleet.cumin_config)).query("A:other")
    assert attempts == []


def test_replay_blocks_connections_outside_loopback():
    with replaying(ExchangeStore()), socket.socket() as sock, pytest.raises(NetworkBlocked, match=r"192\.0\.2\.1:80"):
        sock.connect(("192.0.2.1", 80))
