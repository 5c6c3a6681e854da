"""Snapshot files of plans: compare a plan with ``NAME.txt``, or write it there."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spicerack.testing._plan import Plan
    from spicerack.testing._run import RunResult


class PlanMismatchError(AssertionError):
    """The plan differs from its snapshot file, or the snapshot file is missing."""


def check_snapshot(plan: Plan | RunResult, path: Path, *, update: bool = False) -> None:
    """Compare a plan (or a run's plan) with a snapshot file; with ``update``, write it instead.

    Raises:
        spicerack.testing.PlanMismatchError: if the file is missing or differs, with a unified diff.

    """
    actual = plan if not hasattr(plan, "plan") else plan.plan
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != actual.text:
            path.write_text(actual.text, encoding="utf-8")
        return
    if not path.exists():
        raise PlanMismatchError(
            f"No snapshot plan {path}: run pytest with --update-plans to create it. The plan is:\n{actual.text}"
        )
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = actual.diff(expected, expected_name=str(path))
        raise PlanMismatchError(
            f"The plan differs from the snapshot {path} (refresh it with pytest --update-plans):\n{diff}"
        )
