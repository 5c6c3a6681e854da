"""Test harness for cookbook authors: run a cookbook against a described fleet and assert its plan.

Nothing here is imported by ``import spicerack`` or by the ``cookbook`` command: import it from tests only. The
names are loaded on first use, so that the pytest plugin (:py:mod:`spicerack.testing.plugin`) costs nothing to
test sessions that do not use the harness.

Example::

    from spicerack.testing import Fleet, run_cookbook

    def test_uptime():
        fleet = Fleet(queries={"A:web": "web[1-2].example.org"}).reply("cat /proc/uptime", "3600.0 7200.0")
        result = run_cookbook("sre.hosts.uptime", ["A:web"], fleet=fleet, cookbooks_dir="path/of/the/tree")
        assert result.exit_code == 0
        assert result.plan.commands(on="web1.example.org") == ["cat /proc/uptime"]
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spicerack.testing._calls import Outcome, RemoteCall
    from spicerack.testing._fleet import Fleet, FleetError, HttpReply, Reply
    from spicerack.testing._plan import NORMALIZERS, Action, Plan
    from spicerack.testing._run import (
        DEFAULT_CONFIG,
        TEST_HOSTNAME,
        TEST_USERNAME,
        FleetRemote,
        RunResult,
        TestingSpicerack,
        run_cookbook,
    )
    from spicerack.testing._snapshot import PlanMismatchError, check_snapshot

_EXPORTS = {
    "_calls": ("Outcome", "RemoteCall"),
    "_fleet": ("Fleet", "FleetError", "HttpReply", "Reply"),
    "_plan": ("NORMALIZERS", "Action", "Plan"),
    "_run": (
        "DEFAULT_CONFIG",
        "TEST_HOSTNAME",
        "TEST_USERNAME",
        "FleetRemote",
        "RunResult",
        "TestingSpicerack",
        "run_cookbook",
    ),
    "_snapshot": ("PlanMismatchError", "check_snapshot"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "DEFAULT_CONFIG",
    "NORMALIZERS",
    "TEST_HOSTNAME",
    "TEST_USERNAME",
    "Action",
    "Fleet",
    "FleetError",
    "FleetRemote",
    "HttpReply",
    "Outcome",
    "Plan",
    "PlanMismatchError",
    "RemoteCall",
    "Reply",
    "RunResult",
    "TestingSpicerack",
    "check_snapshot",
    "run_cookbook",
]


def __getattr__(name: str) -> Any:
    """Load the harness' public names on first use."""
    if name in _MODULE_OF:
        return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names."""
    return sorted(__all__)
