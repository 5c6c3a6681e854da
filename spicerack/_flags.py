"""The flags of the ``cookbook`` command beyond the reference's, hidden from ``cookbook --help``.

``cookbook --help`` stays the reference's text; like the reference's flags, these count only before COOKBOOK
(after it, every argument belongs to the cookbook).

One table for the parser (:py:func:`add_hidden_flags`), the shell completion and ``cookbook --extras``
(:py:data:`DESCRIPTIONS`); each extra that handles them is a front door of its own.
"""

import argparse
from typing import Any

FLAGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--json", {"dest": "extra_json", "action": "store_true"}),
    ("--history", {"dest": "extra_history", "action": "store_true"}),
    ("--since", {"dest": "extra_since", "metavar": "DURATION", "default": None}),
    ("--user", {"dest": "extra_user", "metavar": "USER", "default": None}),
    ("--failed", {"dest": "extra_failed", "action": "store_true"}),
    ("--failed-hosts", {"dest": "extra_failed_hosts", "metavar": "RUN_ID", "default": None}),
    ("--only", {"dest": "extra_only", "metavar": "OUTCOMES", "default": None}),
    ("--query", {"dest": "extra_query", "action": "store_true"}),
    ("--rerun", {"dest": "extra_rerun", "metavar": "RUN_ID", "default": None}),
    ("--locks", {"dest": "extra_locks", "action": "store_true"}),
    ("--plan", {"dest": "extra_plan", "action": "store_true"}),
    ("--extras", {"dest": "extra_extras", "action": "store_true"}),
    ("--version", {"dest": "extra_version", "action": "store_true"}),
)
"""The hidden flags and their argparse settings; each sets a ``extra_*`` destination."""

DESCRIPTIONS = {
    "--json": "With -l, --history, --locks or --plan: print JSON.",
    "--history": "Show the most recent cookbook runs from the journal, optionally those starting with COOKBOOK; "
    "with a RUN_ID instead, that run in full.",
    "--since": "With --history: only the runs started in the last DURATION (e.g. 30m, 2h, 1d, 1h30m).",
    "--user": "With --history: only the runs of USER.",
    "--failed": "With --history: only the runs whose exit code is not 0.",
    "--failed-hosts": "Print the hosts that failed, timed out or were not run in the run RUN_ID.",
    "--only": "With --failed-hosts: only the hosts of these outcomes (failed, timeout, not-run; comma separated).",
    "--query": "With --failed-hosts: print them as a cumin query, D{...}.",
    "--rerun": "Run the cookbook of the run RUN_ID again with its arguments, changed by those that follow.",
    "--locks": "Show the locks held now, optionally those starting with COOKBOOK.",
    "--plan": "Run COOKBOOK in DRY-RUN and print its plan at the end (with --json: as JSON).",
    "--extras": "Show these flags, which cookbook --help does not show.",
    "--version": "Show the versions of Spicerack and Python.",
}
"""What the hidden flags do, for ``cookbook --extras`` and the shell completion (they are not in ``--help``)."""


def add_hidden_flags(parser: argparse.ArgumentParser) -> None:
    """Register the hidden flags on the ``cookbook`` parser, hidden from its help and usage."""
    for flag, options in FLAGS:
        parser.add_argument(flag, help=argparse.SUPPRESS, **options)


def any_set(args: argparse.Namespace) -> bool:
    """Whether the parsed command line uses any of the hidden flags."""
    return any(getattr(args, str(options["dest"]), None) for _, options in FLAGS)


def extras_help() -> str:
    """The text of ``cookbook --extras``: each hidden flag with what it does."""
    width = max(len(_usage(flag, options)) for flag, options in FLAGS)
    lines = [
        "Flags of cookbook beyond those of cookbook --help, to give before COOKBOOK:",
        *(f"  {_usage(flag, options):<{width}}  {DESCRIPTIONS[flag]}" for flag, options in FLAGS),
        "See the operator extras page of the documentation for the details.",
    ]
    return "\n".join(lines) + "\n"


def _usage(flag: str, options: dict[str, Any]) -> str:
    metavar = options.get("metavar")
    return f"{flag} {metavar}" if metavar else flag
