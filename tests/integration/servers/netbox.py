"""A stand-in Netbox REST API on loopback, written from Netbox's public API documentation.

No Netbox server installs here (it needs PostgreSQL, Redis and a Django deployment), so the tests talk, through
the real pynetbox and requests, to this HTTP server that answers the endpoints pynetbox calls the way Netbox 4 does:

- ``GET /api/`` (with the ``API-Version`` header) and ``GET /api/status/``;
- lists ``GET /api/<app>/<endpoint>/`` with filters (exact values, ``__n`` negations, ``_id`` references,
  repeated parameters meaning "any of"), ``brief``, and the ``count/next/previous/results`` pagination with
  ``limit`` (0 meaning the maximum page size) and ``offset``;
- objects ``GET`` and ``PATCH /api/<app>/<endpoint>/<id>/``: the nested objects are the brief representations with
  absolute ``url`` fields, as pynetbox needs to fetch their details and to save them; a ``PATCH`` is validated
  (choices, addresses, references) and kept, so that updates can be read back;
- custom scripts ``POST /api/extras/scripts/<id or module.Name>/`` and their jobs ``GET /api/core/jobs/<id>/``;
- the ``Authorization: Token <key>`` header: an unknown token gets 403, a read-only one gets 403 for any write.

Tests can inject faults (an error status, a delay, a malformed body) per path prefix, and read the writes received.
"""

import copy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_interface
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.integration.servers._base import StandInHandler, ThreadedHTTPServer, reset_around, serve

__all__ = ["RO_TOKEN", "RW_TOKEN", "FakeNetbox", "fake_netbox", "fake_netbox_session"]

RO_TOKEN = "0123456789abcdef0123456789abcdef01234567"
RW_TOKEN = "fedcba9876543210fedcba9876543210fedcba98"
API_VERSION = "4.1"
MAX_PAGE_SIZE = 2
"""Small, so that the lists of a few objects already span several pages."""

_BRIEF_FIELDS: dict[str, tuple[str, ...]] = {
    "dcim/devices": ("name",),
    "virtualization/virtual-machines": ("name",),
    "dcim/interfaces": ("device", "name", "cable"),
    "virtualization/interfaces": ("virtual_machine", "name"),
    "ipam/ip-addresses": ("family", "address"),
    "ipam/vlans": ("vid", "name"),
    "dcim/device-roles": ("name", "slug"),
    "dcim/manufacturers": ("name", "slug"),
    "dcim/device-types": ("manufacturer", "model", "slug"),
    "dcim/sites": ("name", "slug"),
    "dcim/racks": ("name",),
    "virtualization/clusters": ("name",),
    "extras/scripts": ("name",),
    "core/jobs": ("status",),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "status": ("offline", "active", "planned", "staged", "failed", "inventory", "decommissioning", "spare",
               "decommissioned", "deprecated", "reserved", "pending", "running", "completed", "errored"),
    "type": ("virtual", "bridge", "lag", "1000base-t", "10gbase-x-sfpp", "25gbase-x-sfp28"),
    "mode": ("access", "tagged"),
}  # fmt: skip
_REFERENCES: dict[str, str] = {
    "primary_ip4": "ipam/ip-addresses",
    "primary_ip6": "ipam/ip-addresses",
    "untagged_vlan": "ipam/vlans",
    "role": "dcim/device-roles",
    "device_type": "dcim/device-types",
    "site": "dcim/sites",
    "rack": "dcim/racks",
    "cluster": "virtualization/clusters",
    "device": "dcim/devices",
    "bridge": "dcim/interfaces",
}
_GENERIC_TYPES = {"dcim.interface": "dcim/interfaces", "virtualization.vminterface": "virtualization/interfaces"}


@dataclass(frozen=True)
class Ref:
    """A reference from a stored object to another one."""

    endpoint: str
    id: int


@dataclass
class Fault:
    """How to answer the requests whose path starts with ``prefix`` instead of answering them normally."""

    prefix: str
    status: int = 500
    body: bytes = b'{"error": "Internal Server Error"}'
    delay: float = 0.0
    method: str = ""


@dataclass(frozen=True)
class Write:
    """A write request the server accepted."""

    method: str
    path: str
    body: Any


@dataclass
class _Job:
    log: list[dict[str, str]]
    polls_left: int


class FakeNetbox(ThreadedHTTPServer):
    """The stand-in Netbox: its URL, tokens, objects (see :py:func:`seed`), injected faults and accepted writes.

    Its :py:attr:`url` is the Netbox base URL (without ``/api``).
    """

    def __init__(self) -> None:
        """Bind to a free loopback port, with no object yet (see :py:meth:`reset`); :py:meth:`start` serves."""
        self.objects: dict[str, dict[int, dict[str, Any]]] = {}
        self.faults: list[Fault] = []
        self.writes: list[Write] = []
        self.requests: list[tuple[str, str]] = []
        self.script_pending_polls = 0
        self.jobs: dict[int, _Job] = {}
        self.lock = threading.Lock()
        super().__init__(_handler_for(self), "fake-netbox")

    def write_config(self, config_dir: Path, *, url: str = "") -> Path:
        """Write ``netbox/config.yaml`` for this server (or ``url``) under ``config_dir`` and return ``config_dir``."""
        (config_dir / "netbox").mkdir(parents=True, exist_ok=True)
        (config_dir / "netbox" / "config.yaml").write_text(
            f"api_url: {url or self.url}\napi_token_ro: {RO_TOKEN}\napi_token_rw: {RW_TOKEN}\n", encoding="utf-8"
        )
        return config_dir

    def reset(self) -> None:
        """Restore the seed objects and forget faults, writes, requests and jobs; release delayed answers."""
        with self.lock:
            super().reset()
            self.objects = seed()
            self.faults.clear()
            self.writes.clear()
            self.requests.clear()
            self.jobs.clear()
            self.script_pending_polls = 0

    def fail(self, prefix: str, status: int = 500, *, body: bytes | None = None, delay: float = 0.0, method: str = ""):
        """Answer the requests (of ``method``, any if empty) whose path starts with ``prefix`` with a fault."""
        with self.lock:
            self.faults.append(Fault(prefix, status, body if body is not None else Fault.body, delay, method))

    def find(self, endpoint: str, **fields: Any) -> dict[str, Any]:
        """Return the stored object of ``endpoint`` with the given field values."""
        with self.lock:
            for obj in self.objects[endpoint].values():
                if all(obj.get(name) == value for name, value in fields.items()):
                    return obj
        raise KeyError(f"No {endpoint} with {fields}")

    # -- rendering

    def _url(self, endpoint: str, obj_id: int | str) -> str:
        return f"{self.url}/api/{endpoint}/{obj_id}/"

    def _brief(self, ref: Ref) -> dict[str, Any]:
        obj = self.objects[ref.endpoint][ref.id]
        brief = {"id": ref.id, "url": self._url(ref.endpoint, ref.id), "display": _display(obj)}
        for name in _BRIEF_FIELDS[ref.endpoint]:
            brief[name] = self._value(name, obj.get(name))
        return brief

    def _value(self, name: str, value: Any) -> Any:
        if isinstance(value, Ref):
            return self._brief(value)
        if isinstance(value, list):
            return [self._value(name, item) for item in value]
        if name in _CHOICES and isinstance(value, str):
            return {"value": value, "label": value.capitalize()}
        if name == "family" and isinstance(value, int):
            return {"value": value, "label": f"IPv{value}"}
        return copy.deepcopy(value)

    def _full(self, endpoint: str, obj_id: int) -> dict[str, Any]:
        obj = self.objects[endpoint][obj_id]
        data = {"id": obj_id, "url": self._url(endpoint, obj_id), "display": _display(obj)}
        data.update({name: self._value(name, value) for name, value in obj.items()})
        if endpoint in ("dcim/devices", "virtualization/virtual-machines"):  # PREFER_IPV4 is False by default
            data["primary_ip"] = self._value("primary_ip", obj.get("primary_ip6") or obj.get("primary_ip4"))
        if endpoint == "ipam/ip-addresses":
            assigned = self._assigned(obj)
            data["assigned_object"] = self._brief(assigned) if assigned else None
        if endpoint == "dcim/interfaces":
            data["connected_endpoints_type"] = "dcim.interface" if obj.get("connected_endpoints") else None
            data["connected_endpoints_reachable"] = bool(obj.get("connected_endpoints"))
        return data

    def _assigned(self, address: dict[str, Any]) -> Ref | None:
        object_type = address.get("assigned_object_type")
        if not object_type:
            return None
        return Ref(_GENERIC_TYPES[object_type], address["assigned_object_id"])

    # -- filtering

    def _filter_value(self, endpoint: str, obj: dict[str, Any], name: str) -> Any:
        """Return the value of ``obj`` that the filter ``name`` compares, :py:data:`KeyError` for unknown filters."""
        if endpoint == "ipam/ip-addresses" and name in ("device", "device_id", "interface", "interface_id",
                                                         "virtual_machine"):  # fmt: skip
            assigned = self._assigned(obj)
            if assigned is None:
                return None
            interface = self.objects[assigned.endpoint][assigned.id]
            if name == "interface":
                return interface["name"]
            if name == "interface_id":
                return assigned.id
            parent = interface.get("device") or interface.get("virtual_machine")
            if name == "device_id":
                return parent.id if parent and parent.endpoint == "dcim/devices" else None
            kind = "dcim/devices" if name == "device" else "virtualization/virtual-machines"
            return self.objects[kind][parent.id]["name"] if parent and parent.endpoint == kind else None
        if name == "cabled":
            return obj.get("cable") is not None
        if name == "connected":
            return bool(obj.get("connected_endpoints"))
        if name == "connected_endpoints_type":
            return "dcim.interface" if obj.get("connected_endpoints") else None
        if name.endswith("_id"):
            ref = obj.get(name[:-3])
            return ref.id if isinstance(ref, Ref) else None
        if name in ("device", "role", "site", "cluster", "manufacturer"):
            ref = obj.get(name)
            if not isinstance(ref, Ref):
                return None
            target = self.objects[ref.endpoint][ref.id]
            return target.get("slug") or target["name"]
        if name == "address" and endpoint == "ipam/ip-addresses":
            return ip_interface(obj["address"]).ip
        if name not in obj and name not in ("q",):
            raise KeyError(name)
        return obj.get(name)

    def _matches(self, endpoint: str, obj: dict[str, Any], params: dict[str, list[str]]) -> bool:
        for raw_name, wanted in params.items():
            negate = raw_name.endswith("__n")
            name = raw_name[:-3] if negate else raw_name
            try:
                value = self._filter_value(endpoint, obj, name)
            except KeyError:
                continue  # Netbox ignores the parameters that are not filters of the endpoint
            matched = any(_same(value, item) for item in wanted)
            if matched == negate:
                return False
        return True

    # -- request handling

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, float]:
        """Return the status, body and delay of the answer to a request."""
        split = urlsplit(raw_path)
        path = split.path
        with self.lock:
            self.requests.append((method, raw_path))
            for fault in self.faults:
                if path.startswith(fault.prefix) and fault.method in ("", method):
                    return fault.status, fault.body, fault.delay
            status, payload = self._dispatch(method, path, parse_qs(split.query), headers, body)
        return status, json.dumps(payload).encode(), 0.0

    def _dispatch(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        token = _token(headers)
        if token not in (RO_TOKEN, RW_TOKEN):
            return 403, {"detail": "Invalid token"}
        if method != "GET" and token != RW_TOKEN:
            return 403, {"detail": "You do not have permission to perform this action."}
        if path == "/api/":
            return 200, {app: f"{self.url}/api/{app}/" for app in ("core", "dcim", "extras", "ipam", "virtualization")}
        if path == "/api/status/":
            return 200, {"netbox-version": f"{API_VERSION}.0", "python-version": "3.11", "plugins": {}}
        parts = path.strip("/").split("/")
        if len(parts) not in (3, 4) or parts[0] != "api":
            return 404, {"detail": "Not found."}
        endpoint = f"{parts[1]}/{parts[2]}"
        if endpoint not in self.objects:
            return 404, {"detail": "Not found."}
        if len(parts) == 3:
            if method != "GET":
                return 405, {"detail": f'Method "{method}" not allowed.'}
            return 200, self._list(endpoint, path, query)
        obj_id = self._lookup(endpoint, parts[3])
        if obj_id is None:
            return 404, {"detail": "No such object."}
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return 400, {"detail": "JSON parse error"}
        if method == "GET":
            if endpoint == "core/jobs":
                self._poll(obj_id)
            return 200, self._full(endpoint, obj_id)
        if method == "PATCH" and isinstance(data, dict):
            errors = self._patch(endpoint, obj_id, data)
            if errors:
                return 400, errors
            self.writes.append(Write(method, path, data))
            return 200, self._full(endpoint, obj_id)
        if method == "POST" and endpoint == "extras/scripts" and isinstance(data, dict):
            self.writes.append(Write(method, path, data))
            return 200, self._run_script(obj_id, data)
        return 405, {"detail": f'Method "{method}" not allowed.'}

    def _lookup(self, endpoint: str, key: str) -> int | None:
        if key.isdigit():
            return int(key) if int(key) in self.objects[endpoint] else None
        if endpoint == "extras/scripts":  # Scripts are also addressed as module.ClassName
            return next((obj_id for obj_id, obj in self.objects[endpoint].items() if obj["full_name"] == key), None)
        return None

    def _list(self, endpoint: str, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        limit = int(query.pop("limit", ["50"])[0]) or MAX_PAGE_SIZE
        limit = min(limit, MAX_PAGE_SIZE)
        offset = int(query.pop("offset", ["0"])[0])
        brief = query.pop("brief", ["0"])[0] in ("1", "true", "True")
        query.pop("ordering", None)
        matching = [
            obj_id for obj_id, obj in sorted(self.objects[endpoint].items()) if self._matches(endpoint, obj, query)
        ]
        page = matching[offset : offset + limit]

        def link(new_offset: int) -> str:
            return f"{self.url}{path}?{urlencode({**query, 'limit': limit, 'offset': new_offset}, doseq=True)}"

        render = (
            (lambda obj_id: self._brief(Ref(endpoint, obj_id)))
            if brief
            else (lambda obj_id: self._full(endpoint, obj_id))
        )
        return {
            "count": len(matching),
            "next": link(offset + limit) if offset + limit < len(matching) else None,
            "previous": link(max(offset - limit, 0)) if offset else None,
            "results": [render(obj_id) for obj_id in page],
        }

    def _patch(self, endpoint: str, obj_id: int, data: dict[str, Any]) -> dict[str, list[str]]:
        """Validate and apply a PATCH; return the errors by field (nothing is changed if there is any)."""
        obj = self.objects[endpoint][obj_id]
        changes: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for name, value in data.items():
            if name in ("id", "url", "display"):
                continue
            if name in _REFERENCES:
                ref_id = value.get("id") if isinstance(value, dict) else value
                if ref_id is not None and ref_id not in self.objects[_REFERENCES[name]]:
                    errors[name] = [f"Related object not found using the provided numeric ID: {ref_id}"]
                    continue
                changes[name] = None if ref_id is None else Ref(_REFERENCES[name], ref_id)
            elif name in _CHOICES:
                if value not in _CHOICES[name]:
                    errors[name] = [f'"{value}" is not a valid choice.']
                    continue
                changes[name] = value
            elif name == "custom_fields":
                if not isinstance(value, dict):
                    errors[name] = ["Invalid data. Expected a dictionary."]
                    continue
                changes[name] = {**obj.get("custom_fields", {}), **value}
            elif name == "address":
                try:
                    ip_interface(value)
                except ValueError:
                    errors[name] = [f"Invalid IP address format: {value}"]
                    continue
                changes[name] = value
            elif name == "name":
                taken = any(
                    other.get("name") == value for oid, other in self.objects[endpoint].items() if oid != obj_id
                )
                if not value or (taken and endpoint in ("dcim/devices", "virtualization/virtual-machines")):
                    errors[name] = [f"A {endpoint.split('/')[1][:-1]} with this name already exists."]
                    continue
                changes[name] = value
            elif name in obj:
                changes[name] = value
        if not errors:
            obj.update(changes)
        return errors

    def _run_script(self, script_id: int, data: dict[str, Any]) -> dict[str, Any]:
        job_id = max(self.objects["core/jobs"], default=0) + 1
        script = self.objects["extras/scripts"][script_id]
        log = [
            {"status": "info", "message": f"commit={data.get('commit')}"},
            {"status": "info", "message": json.dumps(data.get("data"), sort_keys=True)},
        ]
        self.objects["core/jobs"][job_id] = {"name": script["full_name"], "status": "pending", "data": None}
        self.jobs[job_id] = _Job(log, self.script_pending_polls)
        full = self._full("extras/scripts", script_id)
        full["result"] = self._brief(Ref("core/jobs", job_id))
        return full

    def _poll(self, job_id: int) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            return
        if job.polls_left > 0:
            job.polls_left -= 1
            return
        self.objects["core/jobs"][job_id].update(status="completed", data={"log": job.log, "output": ""})


def _display(obj: dict[str, Any]) -> str:
    return str(obj.get("name") or obj.get("address") or obj.get("model") or "")


def _token(headers: dict[str, str]) -> str:
    value = next((value for name, value in headers.items() if name.lower() == "authorization"), "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme == "Token" else ""


def _same(value: Any, wanted: str) -> bool:
    if isinstance(value, (IPv4Address, IPv6Address)):  # Netbox matches addresses whatever their prefix length
        try:
            return value == ip_interface(wanted).ip
        except ValueError:
            return False
    if isinstance(value, bool):
        return wanted.lower() == str(value).lower()
    if value is None:
        return wanted.lower() in ("null", "")
    return str(value) == wanted


def seed() -> dict[str, dict[int, dict[str, Any]]]:
    """Return the objects the server starts with (and gets back at each :py:meth:`FakeNetbox.reset`).

    Servers (role ``server``), whose names are hosts of the SSH fleet, and whose primary IPs' DNS names are those
    names too so that cumin reaches them:

    - ``test-host01``: physical Dell in rack A1, active, ``bgp`` false, asset tag ``WMF1001``; ``eno1`` (primary
      IPs, MAC ``aa:00:00:00:00:01``) cabled to ``asw-a1-eqiad`` ``xe-0/0/1`` (access VLAN ``private1-a-eqiad``),
      ``eno2`` to ``asw2-a1-eqiad`` ``xe-0/0/1``, ``eno3`` to ``asw-a1-eqiad`` ``xe-0/0/3``; management address
      ``127.0.0.1/8`` named ``test-host01.mgmt.eqiad.wmnet``.
    - ``test-host02``: physical Supermicro, planned, primary IPv4 only on the bridge ``br0`` whose member ``eno1`` is
      cabled to ``asw-a1-eqiad`` ``xe-0/0/2`` (no access VLAN); management ``127.0.0.2/8`` without DNS name.
    - ``test-host03``: a virtual machine of the Ganeti cluster ``ganeti01``.
    - ``test-host04``: physical, failed, no primary IP nor management address.

    Others: the switches ``asw-a1-eqiad`` and ``asw2-a1-eqiad`` (role ``switch``), the VLANs ``private1-a-eqiad``
    and ``private1-b-eqiad`` (active) and ``old-vlan`` (deprecated), the script ``spicerack_test.EchoScript``.
    """
    dev, iface, ip = "dcim/devices", "dcim/interfaces", "ipam/ip-addresses"
    server_role, switch_role = Ref("dcim/device-roles", 1), Ref("dcim/device-roles", 2)

    def device(name: str, role: Ref, device_type: int, status: str, **extra: Any) -> dict[str, Any]:
        base = {
            "name": name, "role": role, "device_type": Ref("dcim/device-types", device_type),
            "site": Ref("dcim/sites", 1), "rack": Ref("dcim/racks", 1), "status": status, "asset_tag": None,
            "serial": "", "primary_ip4": None, "primary_ip6": None, "custom_fields": {"bgp": False}, "tags": [],
        }  # fmt: skip
        return {**base, **extra}

    def interface(device_id: int, name: str, kind: str, **extra: Any) -> dict[str, Any]:
        base = {
            "device": Ref(dev, device_id), "name": name, "type": kind, "mgmt_only": False, "mac_address": None,
            "cable": None, "connected_endpoints": [], "untagged_vlan": None, "bridge": None, "mode": None,
        }  # fmt: skip
        return {**base, **extra}

    def address(value: str, interface_id: int, dns_name: str, kind: str = "dcim.interface") -> dict[str, Any]:
        family = ip_interface(value).version
        return {"address": value, "family": family, "dns_name": dns_name, "status": "active",
                "assigned_object_type": kind, "assigned_object_id": interface_id}  # fmt: skip

    return {
        "dcim/manufacturers": {
            1: {"name": "Dell", "slug": "dell"},
            2: {"name": "Supermicro", "slug": "supermicro"},
            3: {"name": "Juniper", "slug": "juniper"},
        },
        "dcim/device-types": {
            1: {"manufacturer": Ref("dcim/manufacturers", 1), "model": "PowerEdge R440", "slug": "poweredge-r440"},
            2: {"manufacturer": Ref("dcim/manufacturers", 2), "model": "SYS-1029P", "slug": "sys-1029p"},
            3: {"manufacturer": Ref("dcim/manufacturers", 3), "model": "QFX5100", "slug": "qfx5100"},
        },
        "dcim/device-roles": {1: {"name": "Server", "slug": "server"}, 2: {"name": "Switch", "slug": "switch"}},
        "dcim/sites": {1: {"name": "eqiad", "slug": "eqiad"}},
        "dcim/racks": {1: {"name": "A1", "site": Ref("dcim/sites", 1)}},
        "virtualization/clusters": {1: {"name": "ganeti01"}},
        dev: {
            1: device(
                "test-host01",
                server_role,
                1,
                "active",
                asset_tag="WMF1001",
                primary_ip4=Ref(ip, 1),
                primary_ip6=Ref(ip, 2),
            ),
            2: device("test-host02", server_role, 2, "planned", primary_ip4=Ref(ip, 4)),
            4: device("test-host04", server_role, 1, "failed"),
            10: device("asw-a1-eqiad", switch_role, 3, "active"),
            11: device("asw2-a1-eqiad", switch_role, 3, "active"),
        },
        iface: {
            1: interface(
                1,
                "eno1",
                "10gbase-x-sfpp",
                mac_address="aa:00:00:00:00:01",
                cable=1,
                connected_endpoints=[Ref(iface, 101)],
            ),
            2: interface(1, "eno2", "10gbase-x-sfpp", cable=2, connected_endpoints=[Ref(iface, 111)]),
            3: interface(1, "eno3", "10gbase-x-sfpp", cable=3, connected_endpoints=[Ref(iface, 103)]),
            4: interface(1, "mgmt", "1000base-t", mgmt_only=True),
            5: interface(2, "br0", "bridge", mac_address="aa:00:00:00:00:02"),
            6: interface(
                2, "eno1", "10gbase-x-sfpp", bridge=Ref(iface, 5), cable=4, connected_endpoints=[Ref(iface, 102)]
            ),
            7: interface(2, "mgmt", "1000base-t", mgmt_only=True),
            101: interface(
                10,
                "xe-0/0/1",
                "10gbase-x-sfpp",
                cable=1,
                connected_endpoints=[Ref(iface, 1)],
                mode="access",
                untagged_vlan=Ref("ipam/vlans", 1),
            ),
            102: interface(
                10, "xe-0/0/2", "10gbase-x-sfpp", cable=4, connected_endpoints=[Ref(iface, 6)], mode="access"
            ),
            103: interface(10, "xe-0/0/3", "10gbase-x-sfpp", cable=3, connected_endpoints=[Ref(iface, 3)]),
            111: interface(11, "xe-0/0/1", "10gbase-x-sfpp", cable=2, connected_endpoints=[Ref(iface, 2)]),
        },
        "virtualization/virtual-machines": {
            1: {
                "name": "test-host03",
                "role": server_role,
                "cluster": Ref("virtualization/clusters", 1),
                "site": Ref("dcim/sites", 1),
                "status": "active",
                "primary_ip4": Ref(ip, 6),
                "primary_ip6": None,
                "custom_fields": {},
                "tags": [],
            },
        },
        "virtualization/interfaces": {
            1: {
                "virtual_machine": Ref("virtualization/virtual-machines", 1),
                "name": "ens5",
                "mac_address": "aa:00:00:00:00:03",
            },
        },
        ip: {
            1: address("10.64.0.1/22", 1, "test-host01"),
            2: address("2620:0:861:101:10:64:0:1/64", 1, "test-host01"),
            3: address("127.0.0.1/8", 4, "test-host01.mgmt.eqiad.wmnet"),
            4: address("10.64.16.2/22", 5, "test-host02"),
            5: address("127.0.0.2/8", 7, ""),
            6: address("10.64.32.3/22", 1, "test-host03", "virtualization.vminterface"),
        },
        "ipam/vlans": {
            1: {"vid": 1017, "name": "private1-a-eqiad", "status": "active"},
            2: {"vid": 1018, "name": "private1-b-eqiad", "status": "active"},
            3: {"vid": 1099, "name": "old-vlan", "status": "deprecated"},
        },
        "extras/scripts": {1: {"name": "EchoScript", "full_name": "spicerack_test.EchoScript"}},
        "core/jobs": {},
    }


def _handler_for(netbox: FakeNetbox) -> type[StandInHandler]:
    class Handler(StandInHandler):
        def _handle(self) -> None:
            body = self.read_body()
            status, payload, delay = netbox.handle(self.command, self.path, dict(self.headers.items()), body)
            if delay:
                netbox._release.wait(delay)
            self.send_answer(status, payload, headers={"API-Version": API_VERSION})

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815

    return Handler


@pytest.fixture(scope="session")
def fake_netbox_session() -> Iterator[FakeNetbox]:
    """One stand-in Netbox, in a thread on 127.0.0.1, for the whole session."""
    netbox = FakeNetbox()
    netbox.reset()
    yield from serve(netbox)


@pytest.fixture
def fake_netbox(fake_netbox_session: FakeNetbox) -> Iterator[FakeNetbox]:
    """The session's stand-in Netbox with its seed objects, no fault, no recorded write."""
    yield from reset_around(fake_netbox_session)
