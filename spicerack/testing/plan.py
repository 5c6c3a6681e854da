"""Run a cookbook in DRY-RUN with the real configuration and print its plan at the end.

Usage::

    python -m spicerack.testing.plan [--json] [COOKBOOK GLOBAL OPTIONS] COOKBOOK [COOKBOOK_ARGS]

The cookbook runs exactly as ``cookbook --dry-run ...`` runs it (the same configuration, hosts and services, its
usual output), and the plan of what it did and would have done follows, as text (one line per action, see
:py:class:`spicerack.testing.Plan`) or with ``--json`` as JSON. This is the machinery of a ``cookbook --plan``
option: the ``cookbook`` command could call :py:func:`main` for it.
"""

import json
import sys
from collections.abc import Sequence

PLAN_HEADER = "----- PLAN -----"
"""The line printed before the plan, after the run's own output."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the cookbook in DRY-RUN, print its plan and return its exit code.

    Arguments:
        argv: ``[--json]`` then the arguments of the ``cookbook`` command (``--dry-run`` is added), those of the
            process by default.

    """
    from spicerack import _cookbook  # noqa: PLC0415 - the runner, loaded only to run
    from spicerack.testing._live import recording  # noqa: PLC0415

    args = list(sys.argv[1:] if argv is None else argv)
    as_json = bool(args) and args[0] == "--json"
    if as_json:
        args = args[1:]
    with recording(dry_run=True) as recorder:
        code = _cookbook.main(["--dry-run", *args])
    exit_code = 0 if code is None else int(code)
    recorder.add("exit_code", str(exit_code), code=exit_code)

    print(PLAN_HEADER)
    if as_json:
        print(json.dumps(recorder.plan.as_data(), indent=2))
    else:
        print(recorder.plan.text, end="")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
