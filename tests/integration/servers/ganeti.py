"""A stand-in of a Ganeti cluster: its RAPI over HTTPS, the Netbox records that describe it, and ``gnt-instance``.

Debian's ``ganeti`` package installs, but ``gnt-cluster init`` refuses a node whose hostname resolves to a loopback
address ("This host's IP (127.0.0.1) resolves to a loopback address. Please fix DNS or /etc/hosts."), and the tests
may use neither a non-loopback address nor an edited /etc/hosts: without an initialised cluster the real
``ganeti-rapi`` has nothing to serve. So this module serves what the documented RAPI (version 2) answers for the
resources Spicerack reads, from a JSON state file:

- ``GET /2/info``, ``/2/groups``, ``/2/nodes``, ``/2/instances`` (``?bulk=1`` for every detail, else ``id``/``name``
  and ``uri``), ``/2/instances/<name>``; unknown resources answer RAPI's JSON 404, other methods 501;
- HTTP basic authentication against a users table (RAPI's ``rapi_users``), 401 otherwise;
- faults on demand: HTTP 500, an answer that never comes (until reset), a body that is not JSON.

The cluster is changed as production does it, with ``gnt-instance`` on the master: :py:data:`GNT_INSTANCE` is a
stand-in of that command (add, startup, shutdown, modify, remove, with gnt-instance's options and its error for an
unknown instance) dropped on the SSH fleet; it edits the same state file and logs each call.

``/api/...`` serves, read-only and token-authenticated, the Netbox records a Ganeti cluster is found with (cluster
groups with their ``ip_address`` and ``routed`` custom fields, IP addresses, clusters, virtual machines), in Netbox's
paginated list format, so that Spicerack's real Netbox client (pynetbox) reads them.
"""

import base64
import json
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.integration.servers._base import StandInHandler, ThreadedHTTPServer, reset_around, serve
from tests.integration.servers.https import TLSFiles
from tests.integration.servers.sshd import SSHFleet

__all__ = [
    "GANETI_MASTER",
    "GanetiStandIn",
    "ganeti_cluster",
    "ganeti_cluster_session",
]

GANETI_MASTER = "test-host12"
"""The fleet host that is the cluster master: ``gnt-instance`` runs there."""

RAPI_USERS = {"rapi-ro": "rapi-secret"}
NETBOX_TOKEN = "netbox-test-token"
COLLECTIONS = ("groups", "nodes", "instances")
INSTANCE = "vm1001.eqiad.example.org"
"""The instance the cluster has at start."""


def initial_state() -> dict[str, Any]:
    """The cluster at start: master ``GANETI_MASTER``, two groups, two nodes, one running instance."""
    nodes = {
        name: {
            "name": name,
            "uuid": f"node-{name}",
            "group.uuid": "group-row_A",
            "role": "M" if name == GANETI_MASTER else "C",
            "master_candidate": True,
            "offline": False,
            "drained": False,
            "mtotal": 64000,
            "mfree": 48000,
            "dtotal": 900000,
            "dfree": 700000,
            "ctotal": 32,
        }
        for name in (GANETI_MASTER, "test-host11")
    }
    groups = {
        "row_A": {"name": "row_A", "uuid": "group-row_A", "alloc_policy": "preferred", "node_list": sorted(nodes)},
        "row_B": {"name": "row_B", "uuid": "group-row_B", "alloc_policy": "preferred", "node_list": []},
    }
    instance = {
        "name": INSTANCE,
        "status": "running",
        "admin_state": "up",
        "oper_state": True,
        "pnode": GANETI_MASTER,
        "snodes": ["test-host11"],
        "disk_template": "drbd",
        "disk.sizes": [10240],
        "nic.macs": ["aa:00:00:5e:10:01"],
        "nic.links": ["private"],
        "nic.ips": [None],
        "beparams": {"vcpus": 2, "memory": 4096},
        "hvparams": {"boot_order": "disk"},
        "os": "debootstrap+default",
    }
    return {
        "info": {
            "name": "ganeti01.svc.eqiad.example.org",
            "master": GANETI_MASTER,
            "software_version": "3.0.2",
            "protocol_version": 2030000,
            "enabled_hypervisors": ["kvm"],
            "default_hypervisor": "kvm",
        },
        "groups": groups,
        "nodes": nodes,
        "instances": {INSTANCE: instance},
    }


# The Netbox records: cluster group "eqiad" (the Ganeti cluster) whose address' DNS name is localhost (the name the
# test certificate is for), cluster "row_A" (a Ganeti group) and the VM of the instance.
NETBOX_RECORDS: dict[str, list[dict[str, Any]]] = {
    "virtualization/cluster-groups": [
        {
            "id": 1,
            "name": "eqiad",
            "slug": "eqiad",
            "custom_fields": {"ip_address": {"id": 7, "address": "127.0.0.1/8"}, "routed": False},
        }
    ],
    "ipam/ip-addresses": [{"id": 7, "address": "127.0.0.1/8", "dns_name": "localhost"}],
    "virtualization/clusters": [
        {"id": 3, "name": "row_A", "group": {"id": 1, "name": "eqiad", "slug": "eqiad"}, "site": {"slug": "eqiad"}}
    ],
    "virtualization/virtual-machines": [
        {"id": 9, "name": "vm1001", "cluster": {"id": 3, "name": "row_A", "group": {"id": 1, "name": "eqiad"}}}
    ],
}

GNT_INSTANCE = r'''#!{python}
"""Stand-in of gnt-instance on a Ganeti master: changes the cluster's state file as the real command would."""
import argparse, json, os, sys
STATE, LOG = {state!r}, {log!r}

def fail(kind, details):
    print(f"Failure: prerequisites not met for this operation:\nerror type: {{kind}}, error details:\n{{details}}",
          file=sys.stderr)
    sys.exit(1)

with open(LOG, "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\n")
parser = argparse.ArgumentParser(prog="gnt-instance")
sub = parser.add_subparsers(dest="action", required=True)
add = sub.add_parser("add")
for option in ("-t", "-I", "--net", "--hypervisor-parameters", "-o", "-g", "-B", "--disk"):
    add.add_argument(option, required=True)
add.add_argument("--no-install", action="store_true")
add.add_argument("--no-wait-for-sync", action="store_true")
shutdown = sub.add_parser("shutdown")
shutdown.add_argument("--force", action="store_true")
shutdown.add_argument("--timeout", type=int, default=2)
startup = sub.add_parser("startup")
startup.add_argument("--force", action="store_true")
remove = sub.add_parser("remove")
remove.add_argument("--force", action="store_true")
remove.add_argument("--shutdown-timeout", type=int, default=2)
modify = sub.add_parser("modify")
modify.add_argument("--hypervisor-parameters", required=True)
for action in (add, shutdown, startup, remove, modify):
    action.add_argument("instance")
args = parser.parse_args()

with open(STATE) as stream:
    state = json.load(stream)
instances = state["instances"]
if args.action == "add":
    if args.instance in instances:
        fail("already_exists", f"Instance '{{args.instance}}' is already in the cluster")
    if args.g not in state["groups"]:
        fail("unknown_entity", f"Group '{{args.g}}' not found")
    net = dict(item.split("=", 1) for item in args.net.split(":", 1)[1].split(","))
    be = dict(item.split("=", 1) for item in args.B.split(","))
    hv = args.hypervisor_parameters.split(":", 1)[1]
    master = state["info"]["master"]
    print(f"- INFO: Selected nodes for instance {{args.instance}} via iallocator {{args.I}}: {{master}}")
    print("* creating instance disks...")
    print(f"adding instance {{args.instance}} to cluster config")
    instances[args.instance] = {{
        "name": args.instance, "status": "ADMIN_down", "admin_state": "down", "oper_state": False,
        "pnode": state["info"]["master"], "snodes": [], "disk_template": args.t,
        "disk.sizes": [int(args.disk.split("size=", 1)[1].rstrip("g")) * 1024],
        "nic.macs": ["aa:00:00:5e:10:%02x" % (len(instances) + 1)], "nic.links": [net.get("link")],
        "nic.ips": [net.get("ip")], "beparams": {{"vcpus": int(be["vcpus"]), "memory": int(be["memory"].rstrip("m"))}},
        "hvparams": {{"boot_order": hv.split(",", 1)[0].split("=", 1)[1], "raw": hv}}, "os": args.o, "group": args.g,
    }}
elif args.instance not in instances:
    fail("unknown_entity", f"Instance '{{args.instance}}' not known")
elif args.action == "remove":
    del instances[args.instance]
elif args.action == "modify":
    key, value = args.hypervisor_parameters.split("=", 1)
    instances[args.instance]["hvparams"][key] = value
    print(f"Modified instance {{args.instance}}\n - hv/{{key}} -> {{value}}")
else:
    running = args.action == "startup"
    instances[args.instance].update(status="running" if running else "ADMIN_down",
                                    admin_state="up" if running else "down", oper_state=running)
with open(STATE + ".new", "w") as stream:
    json.dump(state, stream)
os.replace(STATE + ".new", STATE)
'''


@dataclass
class Fault:
    """What the RAPI does instead of answering: ``"500"``, ``"hang"`` or ``"malformed"``."""

    kind: str = ""


class GanetiStandIn(ThreadedHTTPServer):
    """The stand-in cluster: RAPI and Netbox records over HTTPS on 127.0.0.1 (as ``localhost``), state on disk."""

    scheme = "https"

    def __init__(self, tls: TLSFiles, directory: Path) -> None:
        """Write the initial state and bind the HTTPS server to a free loopback port; :py:meth:`start` serves."""
        self.state_file = directory / "cluster.json"
        self.gnt_log = directory / "gnt-instance.log"
        self.tls = tls
        self.requests: list[tuple[str, str]] = []
        self.fault = Fault()
        super().__init__(_handler_for(self), "ganeti-rapi")
        self.reset()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls.server_cert, tls.server_key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)

    @property
    def rapi_url(self) -> str:
        """The RAPI's base URL, as Spicerack builds it: ``https://<cluster FQDN>:<port>``."""
        return f"https://localhost:{self.port}"

    @property
    def netbox_url(self) -> str:
        """The base URL of the Netbox records (without ``/api``)."""
        return self.rapi_url

    def reset(self) -> None:
        """Back to the initial state: no fault, no recorded request, the ``gnt-instance`` log emptied."""
        super().reset()
        self.fault.kind = ""
        self.requests.clear()
        self.save(initial_state())
        self.gnt_log.write_text("")

    def wait_released(self, timeout: float = 60.0) -> None:
        """Block a hanging answer until the next reset or the end of the session (at most ``timeout`` seconds)."""
        self._release.wait(timeout=timeout)

    def load(self) -> dict[str, Any]:
        """Return the cluster's current state."""
        return dict(json.loads(self.state_file.read_text()))

    def save(self, state: dict[str, Any]) -> None:
        """Replace the cluster's state."""
        self.state_file.write_text(json.dumps(state))

    def gnt_calls(self) -> list[str]:
        """The arguments of every ``gnt-instance`` run since the last reset."""
        return self.gnt_log.read_text().splitlines()

    def install_gnt_instance(self, fleet: SSHFleet) -> None:
        """Drop the ``gnt-instance`` stand-in, working on this cluster's state, in the fleet's ``bin_dir``."""
        script = fleet.bin_dir / "gnt-instance"
        script.write_text(GNT_INSTANCE.format(python=sys.executable, state=str(self.state_file), log=str(self.gnt_log)))
        script.chmod(0o755)

    def answer_rapi(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        """Return the status and JSON body the RAPI answers to a GET of ``path``."""
        state = self.load()
        bulk = query.get("bulk") == ["1"]
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if parts == ["version"]:
            return 200, 2
        if parts == ["2", "info"]:
            return 200, state["info"]
        _derive_counts(state)
        if len(parts) == 2 and parts[0] == "2" and parts[1] in COLLECTIONS:
            key = "name" if parts[1] == "groups" else "id"
            items = state[parts[1]].values()
            if bulk:
                return 200, list(items)
            return 200, [{key: item["name"], "uri": f"/2/{parts[1]}/{item['name']}"} for item in items]
        if len(parts) == 3 and parts[0] == "2" and parts[1] in COLLECTIONS and parts[2] in state[parts[1]]:
            return 200, state[parts[1]][parts[2]]
        return 404, {"code": 404, "message": "Not Found", "explain": "Nothing matches the given URI"}

    @staticmethod
    def answer_netbox(path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        """Return Netbox's paginated list of the records of an endpoint matching the query's filters."""
        endpoint = path.removeprefix("/api/").strip("/")
        if endpoint not in NETBOX_RECORDS:
            return 404, {"detail": "Not found."}
        filters = {key: values[0] for key, values in query.items() if key not in ("limit", "offset")}
        results = [record for record in NETBOX_RECORDS[endpoint] if _matches(record, filters)]
        return 200, {"count": len(results), "next": None, "previous": None, "results": results}


def _derive_counts(state: dict[str, Any]) -> None:
    """Fill in what the RAPI computes: each node's primary and secondary instances, each group's node count."""
    instances = state["instances"].values()
    for name, node in state["nodes"].items():
        node["pinst_list"] = sorted(instance["name"] for instance in instances if instance["pnode"] == name)
        node["sinst_list"] = sorted(instance["name"] for instance in instances if name in instance["snodes"])
        node["pinst_cnt"], node["sinst_cnt"] = len(node["pinst_list"]), len(node["sinst_list"])
    for group in state["groups"].values():
        group["node_cnt"] = len(group["node_list"])


def _matches(record: dict[str, Any], filters: dict[str, str]) -> bool:
    """Whether a Netbox record matches every filter (a nested record matches by its name or slug)."""
    for key, wanted in filters.items():
        value = record.get(key)
        if isinstance(value, dict):
            if wanted not in (value.get("name"), value.get("slug")):
                return False
        elif str(value) != wanted:
            return False
    return True


def _handler_for(cluster: GanetiStandIn) -> type[StandInHandler]:
    """Return the request handler class serving the given cluster."""

    class Handler(StandInHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            cluster.requests.append(("GET", self.path))
            if url.path.startswith("/api/"):
                if self.headers.get("Authorization") != f"Token {NETBOX_TOKEN}":
                    self.send_json(403, {"detail": "Invalid token"})
                else:
                    self.send_json(*cluster.answer_netbox(url.path, query))
                return
            if not self._authenticated():
                self.send_json(
                    401,
                    {"code": 401, "message": "Unauthorized", "explain": "No valid credentials"},
                    headers={"WWW-Authenticate": 'Basic realm="Ganeti Remote API"'},
                )
                return
            fault = cluster.fault.kind
            if fault == "500":
                self.send_json(500, {"code": 500, "message": "Internal Server Error", "explain": "luxi error"})
            elif fault == "hang":
                cluster.wait_released()
            elif fault == "malformed":
                self.send_answer(200, b"<html>502 Bad Gateway</html>", "text/html")
            else:
                self.send_json(*cluster.answer_rapi(url.path, query))

        def _not_implemented(self) -> None:
            cluster.requests.append((self.command, self.path))
            self.send_json(501, {"code": 501, "message": "Not Implemented", "explain": "read-only stand-in"})

        do_POST = do_PUT = do_DELETE = _not_implemented  # noqa: N815

        def _authenticated(self) -> bool:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return False
            user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
            return RAPI_USERS.get(user) == password

    return Handler


@pytest.fixture(scope="session")
def ganeti_cluster_session(tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GanetiStandIn]:
    """The stand-in cluster, for the whole session."""
    yield from serve(GanetiStandIn(tls_files, tmp_path_factory.mktemp("ganeti")))


@pytest.fixture
def ganeti_cluster(ganeti_cluster_session: GanetiStandIn, ssh_fleet: SSHFleet) -> Iterator[GanetiStandIn]:
    """The stand-in cluster in its initial state, with ``gnt-instance`` on the fleet; reset again afterwards."""
    ganeti_cluster_session.install_gnt_instance(ssh_fleet)
    yield from reset_around(ganeti_cluster_session)
