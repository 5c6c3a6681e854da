"""Greet the operator: the smallest module-API cookbook.

A module-API cookbook is a module with ``__title__``, an optional ``argument_parser()`` and ``run()``.
"""

import argparse
import logging

from spicerack import Spicerack
from spicerack.cookbook import ArgparseFormatter

__title__ = "Greet the operator (module API example)"
logger = logging.getLogger(__name__)


def argument_parser() -> argparse.ArgumentParser:
    """Accept an optional name to greet."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=ArgparseFormatter)
    parser.add_argument("--name", default="world", help="Who to greet.")
    return parser


def run(args: argparse.Namespace, spicerack: Spicerack) -> int:
    """Log a greeting and, outside DRY-RUN, record it in the audit log."""
    logger.info("Hello %s, from %s on %s", args.name, spicerack.username, spicerack.current_hostname)
    if spicerack.dry_run:
        logger.info("Nothing to change: the greeting is not sent to the audit log")
    else:
        spicerack.sal_logger.info("%s greeted %s", spicerack.username, args.name)
    return 0
