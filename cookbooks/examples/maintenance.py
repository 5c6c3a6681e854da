"""Run a maintenance on a set of items, with a rollback when it fails (class API example).

The "items" are lines of a state file, so the example can really change something and undo it:
each run marks the items as in maintenance, and the rollback clears the marks if a step fails.
"""

import argparse
import logging
from pathlib import Path

from spicerack.cookbook import CookbookBase, CookbookRunnerBase, LockArgs

logger = logging.getLogger(__name__)


class Maintenance(CookbookBase):
    """Mark items as in maintenance, then unmark them; roll back on failure.

    Shows the class API: arguments, a runtime description in the START/END messages, a per-target lock,
    DRY-RUN awareness and a rollback.
    """

    owner_team = "Spicerack maintainers"
    argument_reason_required = False

    def argument_parser(self) -> argparse.ArgumentParser:
        """Add the cookbook's own arguments to the default parser (which has --reason)."""
        parser = super().argument_parser()
        parser.add_argument("items", nargs="+", help="The items to put in maintenance.")
        parser.add_argument("--state-file", type=Path, default=Path("maintenance-state.txt"), help="Where marks go.")
        parser.add_argument("--fail-at", help="Simulate a failure when this item is reached (to see the rollback).")
        return parser

    def get_runner(self, args: argparse.Namespace) -> "MaintenanceRunner":
        """Validate the arguments and return the runner; nothing is changed here."""
        if len(set(args.items)) != len(args.items):
            raise ValueError("the same item was given twice")
        return MaintenanceRunner(args, dry_run=self.spicerack.dry_run)


class MaintenanceRunner(CookbookRunnerBase):
    """Put the items in maintenance, one at a time."""

    max_concurrency = 1

    def __init__(self, args: argparse.Namespace, *, dry_run: bool) -> None:
        """Keep what the run needs."""
        self.items: list[str] = args.items
        self.state_file: Path = args.state_file
        self.fail_at: str | None = args.fail_at
        self.reason: str | None = args.reason
        self.dry_run = dry_run
        self.marked: list[str] = []

    @property
    def runtime_description(self) -> str:
        """Shown in the START/END messages."""
        reason = f" - {self.reason}" if self.reason else ""
        return f"for {len(self.items)} items ({', '.join(self.items)}){reason}"

    @property
    def lock_args(self) -> LockArgs:
        """One run at a time per state file."""
        return LockArgs(suffix=self.state_file.name, concurrency=1, ttl=600)

    def run(self) -> int:
        """Mark every item, failing on ``--fail-at``."""
        for item in self.items:
            if item == self.fail_at:
                logger.error("Simulated failure on item %s", item)
                return 1
            self._mark(item)
        logger.info("All %d items are in maintenance", len(self.items))
        return 0

    def rollback(self) -> None:
        """Clear the marks this run added."""
        logger.warning("Rolling back the marks on: %s", ", ".join(self.marked) or "nothing")
        if self.dry_run or not self.state_file.exists():
            return
        lines = self.state_file.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if line not in self.marked]
        self.state_file.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")

    def _mark(self, item: str) -> None:
        if self.dry_run:
            logger.info("Would mark %s as in maintenance in %s", item, self.state_file)
            return
        with self.state_file.open("a", encoding="utf-8") as state:
            state.write(f"{item}\n")
        self.marked.append(item)
        logger.info("Marked %s as in maintenance", item)
