"""Run a cookbook in DRY-RUN with the real configuration and print its plan at the end: ``cookbook --plan``.

Usage::

    cookbook --plan [--json] [GLOBAL OPTIONS] COOKBOOK [COOKBOOK_ARGS]
    python -m spicerack.testing.plan [--json] [-c CONFIG_FILE] [-v] [--no-locks] COOKBOOK [COOKBOOK_ARGS]

The cookbook runs exactly as ``cookbook --dry-run ...`` runs it (the same configuration, hosts and services, its
usual output), and the plan of what it did and would have done follows, as text (one line per action, see
:py:class:`spicerack.testing.Plan`) or with ``--json`` as JSON. The run goes through the run layer
(:py:mod:`spicerack._runtime`) with the recording hooks of :py:mod:`spicerack.testing._live`.
"""

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from spicerack import _runtime
from spicerack.testing._live import recording
from spicerack.testing._run import RecordingHooks

logger = logging.getLogger("spicerack._cookbook")  # the run's lines, as the cookbook command logs them
PLAN_HEADER = "----- PLAN -----"
"""The line printed before the plan, after the run's own output."""


def run_plan(
    loaded: _runtime.LoadedConfig,
    name: str,
    args: Sequence[str],
    *,
    as_json: bool = False,
    verbose: bool = False,
    locks: bool = True,
) -> int:
    """Run the cookbook in DRY-RUN, print its plan and return its exit code.

    Arguments:
        loaded: the configuration (:py:func:`spicerack._runtime.load_config`).
        name: the cookbook to run.
        args: its arguments.
        as_json: print the plan as JSON.
        verbose: run as ``cookbook --verbose``.
        locks: take the locks (not with ``--no-locks``).

    """
    with recording(dry_run=True) as recorder:
        try:
            base_dirs = _runtime.activate_config_trees(loaded.config)
            spicerack = _runtime.build_accessor(
                loaded.config, base_dirs, verbose=verbose, dry_run=True, locks=locks, hooks=RecordingHooks(recorder)
            )
            item = _runtime.prepare_named(loaded, spicerack, base_dirs, name, args, locks=locks)
            logger.debug("Executing cookbook %s with args: %s", name, _runtime.shown_args(args))
            _runtime.log_settings(loaded, locks=locks)
            exit_code = _runtime.run_item(item)
        except _runtime.RunError as e:
            if e.logged:
                logger.error(e)
            else:
                print(e, file=sys.stderr)
            exit_code = e.exit_code
    recorder.add("exit_code", str(exit_code), code=exit_code)

    print(PLAN_HEADER)
    if as_json:
        print(json.dumps(recorder.plan.as_data(), indent=2))
    else:
        print(recorder.plan.text, end="")
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m spicerack.testing.plan``: what ``cookbook --plan`` does, with the global options a plan uses.

    Arguments:
        argv: ``[--json] [-c CONFIG_FILE] [-v] [--no-locks] COOKBOOK [COOKBOOK_ARGS]``, those of the process by
            default.

    """
    args = _parser().parse_args(argv)
    try:
        loaded = _runtime.load_config(args.config_file, for_run=True)
    except _runtime.RunError as e:
        print(e, file=sys.stderr)
        return e.exit_code
    for warning in loaded.warnings:
        print(f"cookbook: warning: {warning}", file=sys.stderr)
    return run_plan(
        loaded, args.cookbook, args.cookbook_args, as_json=args.json, verbose=args.verbose, locks=not args.no_locks
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m spicerack.testing.plan",
        description="Run a cookbook in DRY-RUN with the real configuration, then print the plan of what it did.",
    )
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument("-c", "--config-file", help="the configuration file (default: as the cookbook command)")
    parser.add_argument("-d", "--dry-run", action="store_true", help="accepted: a plan always runs in DRY-RUN")
    parser.add_argument("-v", "--verbose", action="store_true", help="as cookbook --verbose")
    parser.add_argument("--no-locks", action="store_true", help="as cookbook --no-locks")
    parser.add_argument("cookbook", help="the cookbook to run, as the cookbook command names it")
    parser.add_argument("cookbook_args", nargs=argparse.REMAINDER, help="its arguments")
    return parser


if __name__ == "__main__":
    sys.exit(main())
