"""Support for module-API cookbooks: modules with ``__title__``, ``__owner_team__``, ``argument_parser()``, ``run()``.

The framework turns such a module into a class-API cookbook (see ``spicerack._cookbook``), whose runner derives from
:py:class:`CookbookModuleRunnerBase`.
"""

import argparse

from spicerack import Spicerack
from spicerack.cookbook import CookbookRunnerBase


class CookbookModuleRunnerBase(CookbookRunnerBase):
    """Runner of a module-API cookbook: ``run()`` calls the module's ``run(args, spicerack)`` function."""

    def __init__(self, args: argparse.Namespace, spicerack: Spicerack) -> None:
        """Keep the parsed arguments and the accessor for the module's ``run()``.

        Arguments:
            args: the arguments parsed with the module's parser.
            spicerack: the accessor given to the module's ``run()``.

        """
        self.args = args
        self.spicerack = spicerack

    def run(self) -> int | None:
        """Call the module's ``run()`` function with the parsed arguments and the accessor."""
        return self._run(self.args, self.spicerack)

    @staticmethod
    def _run(args: argparse.Namespace, spicerack: Spicerack) -> int | None:
        """Replaced, in each generated subclass, by the module's ``run()`` function."""
        raise NotImplementedError


class CookbooksModuleInterface:
    """The attributes of a module-API cookbook module (or of a cookbooks package), for type annotations only."""

    __name__ = ""
    """The module's dotted name."""

    __title__: str = ""
    """The one-line title; the first line of the module's docstring when missing."""

    __owner_team__: str = "unowned"
    """The team owning the cookbook (or, for a package, the cookbooks below it that don't name their own)."""

    MAX_CONCURRENCY: int = CookbookModuleRunnerBase.max_concurrency
    """How many runs of the cookbook may hold its lock at the same time."""

    LOCK_TTL: int = CookbookModuleRunnerBase.lock_ttl
    """Seconds after which the lock slot of a vanished run expires."""

    @staticmethod
    def argument_parser() -> argparse.ArgumentParser:
        """Optional: the parser of the cookbook's arguments; a cookbook without it accepts none."""
        raise NotImplementedError

    @staticmethod
    def run(args: argparse.Namespace, spicerack: Spicerack) -> int | None:
        """Required: execute the cookbook and return its exit code (:py:data:`None` means 0)."""
        raise NotImplementedError
