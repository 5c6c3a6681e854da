"""Show the uptime of a set of hosts over SSH (a read-only command: it runs in DRY-RUN too)."""

import argparse
import logging

from spicerack.cookbook import CookbookBase, CookbookRunnerBase

logger = logging.getLogger(__name__)


class Uptime(CookbookBase):
    """Show the uptime of hosts selected by a cumin query."""

    def argument_parser(self) -> argparse.ArgumentParser:
        """Take the cumin query."""
        parser = super().argument_parser()
        parser.add_argument("query", help="The cumin query selecting the hosts, e.g. 'host10[01-10].example.org'.")
        return parser

    def get_runner(self, args: argparse.Namespace) -> "UptimeRunner":
        """Resolve the hosts (this only reads)."""
        return UptimeRunner(self.spicerack.remote().query(args.query))


class UptimeRunner(CookbookRunnerBase):
    """Print each host's uptime."""

    def __init__(self, hosts: object) -> None:
        """Keep the hosts."""
        self.hosts = hosts

    @property
    def runtime_description(self) -> str:
        """The hosts, for the START/END messages."""
        return f"on {self.hosts}"

    def run(self) -> int:
        """Read the uptimes."""
        for nodes, seconds in self.hosts.uptime():  # type: ignore[attr-defined]
            logger.info("%s: up %.0f seconds", nodes, seconds)
        return 0
