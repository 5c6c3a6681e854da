"""Run a cookbook in DRY-RUN with the real configuration and print its plan at the end: ``cookbook --plan``.

Usage::

    cookbook --plan [--json] [GLOBAL OPTIONS] COOKBOOK [COOKBOOK_ARGS]
    python -m spicerack.testing.plan [--json] [GLOBAL OPTIONS] COOKBOOK [COOKBOOK_ARGS]

The cookbook runs exactly as ``cookbook --dry-run ...`` runs it (the same configuration, hosts and services, its
usual output), and the plan of what it did and would have done follows, as text (one line per action, see
:py:class:`spicerack.testing.Plan`) or with ``--json`` as JSON. The run goes through the run layer
(:py:mod:`spicerack._runtime`) with the recording hooks of :py:mod:`spicerack.testing._live`.
"""

import json
import logging
import sys
from collections.abc import Sequence

from spicerack import _runtime
from spicerack.testing._live import recording
from spicerack.testing._run import RecordingHooks

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
            exit_code = _runtime.run_named(loaded, spicerack, base_dirs, name, args, locks=locks)
        except _runtime.RunError as e:
            if e.logged:
                logging.getLogger("spicerack._cookbook").error(e)
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
    """``python -m spicerack.testing.plan``: the same as ``cookbook --plan`` with these arguments.

    Arguments:
        argv: ``[--json]`` then the arguments of the ``cookbook`` command, those of the process by default.

    """
    from spicerack import _cookbook  # noqa: PLC0415 - the command line, only when run as a program

    args = list(sys.argv[1:] if argv is None else argv)
    code = _cookbook.main(["--plan", *args])
    return 0 if code is None else int(code)


if __name__ == "__main__":
    sys.exit(main())
