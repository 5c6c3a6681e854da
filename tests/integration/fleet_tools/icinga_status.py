"""Stand-in for icinga-status on the fleet's Icinga host: prints the JSON status of the requested hosts.

Usage: icinga_status.py [-j] [--verbatim-hosts] [--services REGEX] HOSTS

The status comes from ``$FLEET_STATE_DIR/icinga/status.json``, kept up to date by the fake Icinga daemon
(:py:class:`tests.integration.fleet_tools.FakeIcinga`). The output has the shape of the real script's: for each host
``null`` when unknown, else its name, state, optimal, failed_services, downtimed, notifications_enabled, plus
``services`` (the services matching REGEX) with ``--services``. The exit code is 1 when a host is unknown or not
optimal, as the real script's.
"""

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from ClusterShell.NodeSet import RESOLVER_NOGROUP, NodeSet

HOST_STATES = ("UP", "DOWN", "UNREACHABLE")


def active_downtimes(downtimes: list[dict[str, Any]], now: float) -> int:
    return sum(1 for downtime in downtimes if downtime["start"] <= now < downtime["end"])


def service_entry(host: str, name: str, service: dict[str, Any], now: float) -> dict[str, Any]:
    return {
        "name": name,
        "host": host,
        "status": {
            "service_description": name,
            "host_name": host,
            "current_state": service["current_state"],
            "scheduled_downtime_depth": active_downtimes(service["downtimes"], now),
            "problem_has_been_acknowledged": "1" if service.get("acked") else "0",
            "notifications_enabled": True,
        },
    }


def host_entry(name: str, host: dict[str, Any], services_re: str, now: float) -> dict[str, Any]:
    failed = [
        service_entry(name, service_name, service, now)
        for service_name, service in sorted(host["services"].items())
        if service["current_state"] != 0
    ]
    entry: dict[str, Any] = {
        "name": name,
        "state": HOST_STATES[host["current_state"]],
        "optimal": host["current_state"] == 0 and not failed,
        "failed_services": failed,
        "downtimed": active_downtimes(host["downtimes"], now) > 0,
        "notifications_enabled": host.get("notifications_enabled", True),
    }
    if services_re:
        entry["services"] = [
            service_entry(name, service_name, service, now)
            for service_name, service in sorted(host["services"].items())
            if re.search(services_re, service_name)
        ]
    return entry


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("hosts")
    parser.add_argument("-j", "--json", action="store_true")
    parser.add_argument("--verbatim-hosts", action="store_true")
    parser.add_argument("--services", default="")
    args = parser.parse_args()

    status_file = Path(os.environ["FLEET_STATE_DIR"], "icinga", "status.json")
    hosts = json.loads(status_file.read_text(encoding="utf-8"))["hosts"]
    requested = NodeSet(args.hosts, resolver=RESOLVER_NOGROUP)
    names = list(requested) if args.verbatim_hosts else [name.split(".")[0] for name in requested]

    now = time.time()
    output = {name: host_entry(name, hosts[name], args.services, now) if name in hosts else None for name in names}
    print(json.dumps(output))
    return 0 if all(entry and entry["optimal"] for entry in output.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
