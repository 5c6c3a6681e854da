"""Test harness for cookbook authors: run a cookbook against a described fleet and assert its plan.

Nothing here is imported by ``import spicerack`` or by the ``cookbook`` command: import it from tests only.

Example::

    from spicerack.testing import Fleet, run_cookbook

    def test_uptime():
        fleet = Fleet(queries={"A:web": "web[1-2].example.org"}).reply("cat /proc/uptime", "3600.0 7200.0")
        result = run_cookbook("sre.hosts.uptime", ["A:web"], fleet=fleet, cookbooks_dir="path/of/the/tree")
        assert result.exit_code == 0
        assert result.plan.commands(on="web1.example.org") == ["cat /proc/uptime"]
"""

from spicerack.testing._fleet import Fleet, FleetError, Outcome, RemoteCall, Reply
from spicerack.testing._plan import Action, Plan
from spicerack.testing._run import TEST_HOSTNAME, TEST_USERNAME, FleetRemote, RunResult, TestingSpicerack, run_cookbook
from spicerack.testing._snapshot import PlanMismatchError, check_snapshot

__all__ = [
    "TEST_HOSTNAME",
    "TEST_USERNAME",
    "Action",
    "Fleet",
    "FleetError",
    "FleetRemote",
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
