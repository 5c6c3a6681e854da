"""The pytest plugin of :py:mod:`spicerack.testing` (registered as ``spicerack`` in the ``pytest11`` entry point).

* ``--update-plans``: write the plans compared with ``plan_snapshot`` to their snapshot files instead of failing.
* the ``plan_snapshot`` fixture: ``plan_snapshot(result, "name")`` compares the plan with ``<plans dir>/name.txt``
  (without a name: ``<test module>.<test name>.txt``);
  the directory is the ``spicerack_plans_dir`` ini option, relative to the rootdir (``tests/plans`` by default).
* the ``fleet`` fixture: an empty :py:class:`spicerack.testing.Fleet` to describe.
* ``assert plan == [...]`` failures show a line diff.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from spicerack.testing import Fleet, Plan, RunResult


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--update-plans`` and the ``spicerack_plans_dir`` ini option."""
    group = parser.getgroup("spicerack", "spicerack cookbook test harness")
    group.addoption(
        "--update-plans",
        action="store_true",
        default=False,
        help="Write the plans compared by the plan_snapshot fixture to their snapshot files instead of comparing.",
    )
    parser.addini(
        "spicerack_plans_dir", "Directory of the snapshot plans, relative to the rootdir.", default="tests/plans"
    )


@pytest.fixture
def plan_snapshot(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Return ``check(plan_or_result, name=None)``: compare with the snapshot file ``name.txt``, or write it.

    Without a name, the file is named after the test: ``<module>.<test name>.txt`` (parameters included).
    """
    from spicerack.testing._snapshot import check_snapshot  # noqa: PLC0415 - loaded only by tests using it

    config = request.config
    plans_dir = Path(config.rootpath) / str(config.getini("spicerack_plans_dir"))
    update = bool(config.getoption("update_plans"))
    default_name = f"{request.node.module.__name__.rsplit('.', 1)[-1]}.{request.node.name}"

    def check(plan: Plan | RunResult, name: str | None = None) -> None:
        file_name = re.sub(r"[^\w.\-]+", "_", name or default_name).strip("_")
        check_snapshot(plan, plans_dir / f"{file_name}.txt", update=update)

    return check


@pytest.fixture
def fleet() -> Fleet:
    """An empty fleet to describe."""
    from spicerack.testing import Fleet  # noqa: PLC0415 - loaded only by tests using it

    return Fleet()


def pytest_assertrepr_compare(op: str, left: Any, right: Any) -> list[str] | None:
    """Show a line diff when ``assert plan == expected`` fails."""
    if op != "==" or type(left).__name__ != "Plan" or type(left).__module__ != "spicerack.testing._plan":
        return None
    if not isinstance(right, str | list | tuple):
        return None
    return ["the plan differs from the expected lines:", *left.diff(right).splitlines()]
