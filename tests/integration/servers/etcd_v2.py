"""A real etcd server serving its v2 API (the one conftool uses), and conftool's files pointing to it.

The server is :py:class:`tests.integration.servers.etcd.EtcdServer`, started with ``--enable-v2``. Each test gets
its own conftool namespace (``conftool_files``), loaded with conftool's own syncer, so tests never see each other's
objects.
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.integration.servers import require_binary, wait_until
from tests.integration.servers.etcd import EtcdServer

__all__ = ["ConftoolFiles", "conftool_files", "etcd_v2_server"]

SCHEMA: dict[str, Any] = {
    "service": {
        "path": "services",
        "tags": ["dc", "cluster"],
        "schema": {
            "default_values": {"type": "dict", "default": {"pooled": "no", "weight": 0}},
            "datacenters": {"type": "list", "default": []},
        },
    },
    "discovery": {
        "path": "discovery",
        "tags": ["dnsdisc"],
        "schema": {
            "pooled": {"type": "bool", "default": False},
            "references": {"type": "list", "default": []},
            "ttl": {"type": "int", "default": 300},
        },
    },
    "mwconfig": {
        "path": "mediawiki-config",
        "tags": ["scope"],
        "free_form": True,
        "schema": {"val": {"type": "any", "default": None}},
    },
    "dbconfig-instance": {
        "path": "dbconfig-instance",
        "tags": ["datacenter"],
        "schema": {
            "host_ip": {"type": "string", "default": "0.0.0.0"},
            "port": {"type": "int", "default": 3306},
            "sections": {"type": "dict", "default": {}},
            "note": {"type": "string", "default": ""},
        },
    },
    "dbconfig-section": {
        "path": "dbconfig-section",
        "tags": ["datacenter"],
        "schema": {
            "master": {"type": "string", "default": "PLACEHOLDER"},
            "min_replicas": {"type": "int", "default": 0},
            "readonly": {"type": "bool", "default": False},
            "ro_reason": {"type": "string", "default": "PLACEHOLDER"},
            "flavor": {"type": "string", "default": "regular"},
            "omit_replicas_in_mwconfig": {"type": "bool", "default": False},
        },
    },
}
"""Conftool's built-in ``node`` entity plus the entities Spicerack's modules expect, with WMF's tags."""

DATA: dict[str, Any] = {
    "service": {"eqiad": {"appserver": {"nginx": {}, "apache2": {}}}, "codfw": {"appserver": {"nginx": {}}}},
    "node": {
        "eqiad": {"appserver": {"mw1001": ["nginx", "apache2"], "mw1002": ["nginx", "apache2"]}},
        "codfw": {"appserver": {"mw2001": ["nginx"]}},
    },
    "discovery": {"appservers-rw": ["eqiad", "codfw"], "api-ro": ["eqiad", "codfw"], "search": ["eqiad"]},
    "dbconfig-instance": {"eqiad": ["db1001", "db1002"]},
    "dbconfig-section": {"eqiad": ["s1"]},
}
"""The objects each test namespace starts with (conftool-sync's data layout: one directory per entity)."""


class ConftoolFiles:
    """Conftool's configuration, etcdrc and schema in ``base_dir``, for the namespace ``namespace`` of an etcd.

    API: ``config``, ``schema`` (paths), ``sync()`` (loads :py:data:`DATA` with conftool's syncer), ``read(path)``
    (an object's JSON value as stored in etcd, or :py:data:`None`), ``write(path, value)`` and ``keys()`` (every
    key under the namespace), all straight through etcd's v2 HTTP API.
    """

    def __init__(self, base_dir: Path, etcd_url: str, namespace: str) -> None:
        self.base_dir = base_dir
        self.etcd_url = etcd_url
        self.namespace = namespace
        self.config = base_dir / "config.yaml"
        self.schema = base_dir / "schema.yaml"
        self.etcdrc = base_dir / "etcdrc"
        base_dir.mkdir(parents=True, exist_ok=True)
        host, port = etcd_url.removeprefix("http://").split(":")
        self.etcdrc.write_text(yaml.safe_dump({"host": host, "port": int(port), "protocol": "http"}), "utf-8")
        config = {
            "namespace": namespace,
            "api_version": "v1",
            "pools_path": "pools",
            "cache_path": str(base_dir / "cache"),
            "extensions_config": {"dbctlconfig": {"parsercache_min_pooled_sections": 0}},  # no parsercache here
            "driver_options": {"etcd_config_file": str(self.etcdrc), "suppress_san_warnings": False},
        }
        self.config.write_text(yaml.safe_dump(config), "utf-8")
        self.schema.write_text(yaml.safe_dump(SCHEMA), "utf-8")

    def sync(self) -> None:
        """Load :py:data:`DATA` into the namespace with conftool's own syncer (conftool-sync's Python API)."""
        from conftool import configuration  # only the conftool tests need it
        from conftool.cli.syncer import Syncer
        from conftool.kvobject import Entity

        data_dir = self.base_dir / "data"
        for entity in ("node", *SCHEMA):  # an entity without a directory makes the syncer complain
            (data_dir / entity).mkdir(parents=True, exist_ok=True)
        for entity, content in DATA.items():
            (data_dir / entity / "objects.yaml").write_text(yaml.safe_dump(content), "utf-8")
        Entity.setup(configuration.get(str(self.config)))
        Syncer(str(self.schema), str(data_dir)).load()

    def _url(self, path: str) -> str:
        return f"{self.etcd_url}/v2/keys{self.namespace}/v1/{path.strip('/')}"

    def read(self, path: str) -> dict[str, Any] | None:
        """Return the value of the object at ``path`` (e.g. ``pools/eqiad/appserver/nginx/mw1001``) in etcd."""
        response = requests.get(self._url(path), timeout=5)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        value: dict[str, Any] = json.loads(response.json()["node"]["value"])
        return value

    def write(self, path: str, value: dict[str, Any]) -> None:
        """Write the value of the object at ``path`` straight into etcd."""
        requests.put(self._url(path), data={"value": json.dumps(value)}, timeout=5).raise_for_status()

    def keys(self) -> dict[str, Any]:
        """Return every object under the namespace, as ``{path: value}`` (to check that nothing changed)."""
        response = requests.get(f"{self.etcd_url}/v2/keys{self.namespace}", params={"recursive": "true"}, timeout=5)
        response.raise_for_status()
        found: dict[str, Any] = {}

        def walk(node: dict[str, Any]) -> None:
            if node.get("dir"):
                for child in node.get("nodes", []):
                    walk(child)
            else:
                found[node["key"]] = json.loads(node["value"])

        walk(response.json()["node"])
        return found


def _v2_is_up(server: EtcdServer) -> bool:
    return requests.get(f"{server.url}/v2/keys/", timeout=1).status_code == 200


@pytest.fixture(scope="session")
def etcd_v2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdServer]:
    """An etcd server with its v2 API enabled, shared by the session: use ``conftool_files`` for a namespace."""
    server = EtcdServer(tmp_path_factory.mktemp("etcd-v2"), binary=require_binary("etcd"), enable_v2=True)
    server.start()
    wait_until(lambda: _v2_is_up(server), what="etcd v2 API")
    yield server
    server.stop()


@pytest.fixture
def conftool_files(
    etcd_v2_server: EtcdServer, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ConftoolFiles]:
    """Conftool's files for a namespace of the v2 etcd private to this test, loaded with :py:data:`DATA`."""
    namespace = "/conftool-" + re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)
    files = ConftoolFiles(tmp_path / "conftool", etcd_v2_server.url, namespace)
    files.sync()
    yield files
    requests.delete(f"{etcd_v2_server.url}/v2/keys{namespace}", params={"recursive": "true", "dir": "true"}, timeout=5)
