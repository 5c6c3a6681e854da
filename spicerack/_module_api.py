"""Support for module-API cookbooks: a module with ``__title__``, ``argument_parser()`` and ``run()``."""

import argparse
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from spicerack.cookbook import ArgparseFormatter, CookbookBase, CookbookRunnerBase

if TYPE_CHECKING:
    from spicerack import Spicerack

RunFunction = Callable[[argparse.Namespace, "Spicerack"], int | None]


class CookbookModuleRunnerBase(CookbookRunnerBase):
    """Runner of a module-API cookbook: calls the module's ``run(args, spicerack)``."""

    _run: RunFunction

    def __init__(self, args: argparse.Namespace, spicerack: "Spicerack") -> None:
        """Keep the parsed arguments and the accessor for ``run()``."""
        self._args = args
        self._spicerack = spicerack

    def run(self) -> int | None:
        """Call the module's ``run()`` function."""
        return type(self)._run(self._args, self._spicerack)


def module_title(module: ModuleType, fallback: str) -> str:
    """Return the first line of a module's ``__title__``, or ``fallback`` when it has none."""
    title = getattr(module, "__title__", None)
    if not isinstance(title, str) or not title.strip():
        return fallback
    return title.strip().splitlines()[0]


def module_to_cookbook_class(module: ModuleType, fallback_title: str) -> type[CookbookBase]:
    """Build the class-API equivalent of a module-API cookbook module.

    Raises:
        AttributeError: if the module has no ``run()`` function.

    """
    run = getattr(module, "run", None)
    if not callable(run):
        raise AttributeError(f"module {module.__name__} has no run() function and no CookbookBase class")
    group_module, name = module.__name__.rsplit(".", 1)
    runner_attributes: dict[str, Any] = {
        "_run": staticmethod(run),
        "__module__": group_module,
        "max_concurrency": getattr(module, "MAX_CONCURRENCY", CookbookRunnerBase.max_concurrency),
        "lock_ttl": getattr(module, "LOCK_TTL", CookbookRunnerBase.lock_ttl),
    }
    runner_class = type(f"{name}Runner", (CookbookModuleRunnerBase,), runner_attributes)
    parser_function = getattr(module, "argument_parser", None)

    def argument_parser(self: CookbookBase) -> argparse.ArgumentParser:
        if callable(parser_function):
            parser: argparse.ArgumentParser = parser_function()
            return parser
        return argparse.ArgumentParser(description=module.__doc__, formatter_class=ArgparseFormatter)

    def get_runner(self: CookbookBase, args: argparse.Namespace) -> CookbookRunnerBase:
        runner: CookbookRunnerBase = runner_class(args, self.spicerack)
        return runner

    attributes: dict[str, Any] = {
        "__module__": module.__name__,
        "__doc__": module.__doc__,
        "title": module_title(module, fallback_title),
        "argument_parser": argument_parser,
        "get_runner": get_runner,
        "spicerack_module": module,
    }
    if hasattr(module, "__owner_team__"):
        attributes["owner_team"] = module.__owner_team__
    return type(name, (CookbookBase,), attributes)
