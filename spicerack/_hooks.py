"""The seams of a run: what the run layer lets a caller observe or replace, with defaults that do nothing.

The accessor (:py:class:`spicerack.Spicerack`) and the cookbook items call these hooks at the points a harness
needs: when a lock backend is opened, when a cookbook's runner is built and when a cookbook starts another one.
``cookbook --plan`` and :py:mod:`spicerack.testing` give their own subclass to record the plan; the ``cookbook``
command uses the defaults. A bottom module: it imports nothing of the package.
"""

from collections.abc import Callable, Sequence
from typing import Any


class RunHooks:
    """Hooks called by the accessor and the cookbook items of a run; each default returns what it is given."""

    def lock(self, lock: Any, prefix: str) -> Any:
        """Called with each lock backend the accessor opens (one per key prefix); returns the one to use.

        Arguments:
            lock: the backend, e.g. a :py:class:`spicerack.locking.Lock`.
            prefix: its key prefix (``cookbooks``, ``custom`` or ``modules``).

        """
        return lock

    def runner(self, runner: Any, name: str) -> Any:
        """Called with the runner that a cookbook's ``get_runner()`` returned; returns the one to run.

        Arguments:
            runner: the cookbook's runner.
            name: the cookbook's full name.

        """
        return runner

    def child(self, name: str, args: Sequence[str], run: Callable[[], int]) -> int:
        """Called when a cookbook starts another with ``spicerack.run_cookbook()``: must call ``run()``.

        Arguments:
            name: the child cookbook, as given to ``run_cookbook()``.
            args: its arguments.
            run: runs the child and returns its exit code.

        """
        return run()


DEFAULT_HOOKS = RunHooks()
"""The hooks of a plain run."""


def hooks_of(accessor: Any) -> RunHooks:
    """The run hooks of an accessor: its own, or the defaults for an accessor that has none (a test double)."""
    hooks = getattr(accessor, "_run_hooks", None)
    return hooks if isinstance(hooks, RunHooks) else DEFAULT_HOOKS
