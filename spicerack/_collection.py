"""The cookbooks of the configured trees: finding, importing and arranging them as a menu tree.

The run layer (:py:mod:`spicerack._runtime`) builds a :py:class:`CookbookCollection` to list the cookbooks or
find the one to run; ``spicerack._cookbook`` keeps the reference's names for it.
"""

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from spicerack import Spicerack, _module_api, cookbook
from spicerack._menu import BaseItem, CookbookItem, MenuError, TreeItem, get_module_title
from spicerack.exceptions import SpicerackError

logger = logging.getLogger("spicerack._cookbook")  # the logger of the reference's collection, for its import errors


class CookbookError(SpicerackError):
    """A cookbook or a group of cookbooks could not be loaded."""


_RUNNER_SETTINGS: tuple[tuple[str, str], ...] = (("MAX_CONCURRENCY", "max_concurrency"), ("LOCK_TTL", "lock_ttl"))
"""Module-API constants and the runner attributes they set (the runner base class gives the defaults)."""


def _package_modules(base_dir: Path, package_prefix: str) -> Iterator[tuple[str, str, list[str]]]:
    """Walk one tree: for each package, its path relative to the tree, dotted name and public modules, in walk order.

    The walk is depth first, every package before its subpackages; ``__pycache__`` directories are no packages.
    """
    for directory in base_dir.rglob(""):  # directories only, the tree's root first
        if directory.name == "__pycache__":
            continue
        relative = directory.relative_to(base_dir)
        dotted = str(relative).replace(os.sep, ".").rstrip(".") if relative.name else ""
        package = ".".join(filter(None, (package_prefix, dotted)))
        # files starting with an underscore (__init__.py included) are no cookbooks
        yield dotted, package, [f"{package}.{file.stem}" for file in directory.glob("[!_]*.py")]


def _inherits_owner(parent_owner: str, own_owner: str) -> bool:
    """Whether an item keeps the default owner team while its group has another one, that it then takes."""
    default = cookbook.CookbookBase.owner_team
    return own_owner == default and parent_owner != default


def _cookbook_location(module_name: str, class_name: str, shared_module: bool) -> tuple[str, str]:
    """The group path and the name of a class-API cookbook, from its module (``cookbooks.<path>.<leaf>``).

    A class sharing its module with other cookbook classes is named ``<leaf>.<class>``, in the module's group.
    """
    group, _, leaf = module_name.partition(".")[2].rpartition(".")
    return group, f"{leaf}.{class_name}" if shared_module else leaf


class CookbookCollection:
    """The cookbooks of one or more trees (base directories holding a ``cookbooks/`` package), as a menu tree.

    Every package and module of the trees matching ``path_filter`` is imported; the trees merge (``cookbooks`` is
    a namespace package).
    """

    cookbooks_module_prefix: str = "cookbooks"
    """The name of the top package of every tree."""

    def __init__(
        self, *, base_dirs: list[Path], args: Sequence[str], spicerack: Spicerack, path_filter: str = ""
    ) -> None:
        """Collect the cookbooks.

        Arguments:
            base_dirs: the directories holding a ``cookbooks/`` tree.
            args: the command line arguments for the collected items.
            spicerack: the accessor given to the cookbooks.
            path_filter: the dotted path of a group or cookbook: only what is in that subtree is collected.

        Raises:
            spicerack._cookbook.CookbookError: if the ``cookbooks`` package cannot be imported.

        """
        self.path_filter = path_filter
        self.spicerack = spicerack
        self.args = args
        self.base_dirs = [Path(base_dir) / self.cookbooks_module_prefix for base_dir in base_dirs]
        self.menu = TreeItem(
            import_module(self.cookbooks_module_prefix), self.args, self.spicerack, self.cookbooks_module_prefix
        )
        # First what to load, in order (the import errors are printed in that order), then the loading itself.
        for package, module_names in self._load_plan():
            self._collect(package, module_names)

    def get_item(self, path: str) -> BaseItem | None:
        """Return the group or cookbook at a dotted path (empty: the top group), or :py:data:`None`.

        Arguments:
            path: the dotted path, e.g. ``sre.hosts.reboot`` or ``sre.hosts``, or ``module.Class`` for a module with
                several cookbook classes.

        """
        names = path.split(".") if path else []
        current: BaseItem = self.menu
        for depth, name in enumerate(names):
            child = current.items.get(name)
            if child is None and depth == len(names) - 2:
                # the cookbook named ``module.Class``, one of the several cookbooks of a module
                return current.items.get(".".join(names[depth:]))
            if child is None:
                return None
            current = child
        return current

    def _load_plan(self) -> Iterator[tuple[str, list[str]]]:
        """The packages of all the trees inside or above the filter, each with its modules to import."""
        for base_dir in self.base_dirs:
            for dotted, package, module_names in _package_modules(base_dir, self.cookbooks_module_prefix):
                if not self._should_filter(dotted):
                    yield package, module_names

    def _collect(self, package: str, module_names: list[str]) -> None:
        """Add a package's group (and the missing groups above it), then the cookbooks of its modules."""
        try:
            group = self._create_menu_for_path(package)
        except CookbookError as e:
            logger.error(e)
            return
        for module_name in module_names:
            self._collect_filename(module_name, group)

    def _create_menu_for_path(self, package: str) -> TreeItem:
        """Return the group of a package, creating it after its missing parents if needed."""
        if package == self.cookbooks_module_prefix:
            return self.menu
        parent_package, _, name = package.rpartition(".")
        parent = self._create_menu_for_path(parent_package)
        if name in parent.items:
            return cast(TreeItem, parent.items[name])

        group = TreeItem(import_module(package), self.args, self.spicerack, self.cookbooks_module_prefix)
        if _inherits_owner(parent.owner_team, group.owner_team):
            group.module.__owner_team__ = parent.owner_team
        # A group above the filtered path is only there to hold it: the menu must not go back to it, nor from the
        # filtered group itself to its parent.
        reachable = group.full_name != self.path_filter and group.full_name.startswith(self.path_filter)
        parent.append(group, add_parent=reachable)
        return group

    def _collect_filename(self, module_name: str, menu: TreeItem) -> None:
        """Add the cookbooks of one module, inside the filter, to its group."""
        try:
            classes = self._collect_module_cookbooks(import_module(module_name))
        except CookbookError as e:
            logger.error(e)
            return

        for class_obj in classes:
            try:
                item = self._make_item(class_obj)
            except MenuError as e:
                logger.error(e)
                continue
            if _inherits_owner(menu.owner_team, item.owner_team):
                item.instance.owner_team = menu.owner_team
            if not self._should_filter(item.full_name):
                menu.append(item)

    def _make_item(self, class_obj: type[cookbook.CookbookBase]) -> CookbookItem:
        """Build the menu item of a cookbook class (``spicerack._cookbook`` builds it from its own names)."""
        return CookbookItem(class_obj, self.args, self.spicerack)

    def _should_filter(self, name: str) -> bool:
        """Whether a dotted name is outside the filter: the two differ within the length of the shorter one.

        A plain string comparison: a group above the filter is kept, as is anything below it.
        """
        common = min(len(name), len(self.path_filter))
        return name[:common] != self.path_filter[:common]

    def _collect_module_cookbooks(
        self, module: _module_api.CookbooksModuleInterface
    ) -> list[type[cookbook.CookbookBase]]:
        """The cookbook classes defined in a module (alphabetically), or the class made from a module-API one."""
        classes: list[type[cookbook.CookbookBase]] = [
            value
            for value in (getattr(module, name) for name in dir(module))
            # the MRO test is issubclass() without ABCMeta's cache of negative answers, which grows with every class
            # checked and makes each check cost O(subclasses) on big trees
            if isinstance(value, type)
            and cookbook.CookbookBase in value.__mro__
            and value.__module__ == module.__name__
        ]
        if not classes:
            return [self._convert_module_in_cookbook(module)]

        for class_obj in classes:
            class_obj.spicerack_path, class_obj.spicerack_name = _cookbook_location(
                module.__name__, class_obj.__name__, len(classes) > 1
            )
        return classes

    def _convert_module_in_cookbook(self, module: _module_api.CookbooksModuleInterface) -> type[cookbook.CookbookBase]:
        """Build the class-API cookbook of a module-API cookbook module (see :py:func:`cookbook_class_from_module`)."""
        return cookbook_class_from_module(module, self.spicerack)


def cookbook_class_from_module(
    module: _module_api.CookbooksModuleInterface, spicerack: Spicerack
) -> type[cookbook.CookbookBase]:
    """Build the class-API cookbook of a module-API cookbook module, whose runner gets the given accessor.

    Arguments:
        module: the imported module, with its ``run()`` function (and optionally ``argument_parser()``,
            ``MAX_CONCURRENCY``, ``LOCK_TTL``, ``__owner_team__``).
        spicerack: the accessor the runner is built with.

    Raises:
        spicerack._cookbook.CookbookError: if the module has no ``run()`` function.

    """
    if not hasattr(module, "run"):
        raise CookbookError(f"Unable to find run function in module {module.__name__}")
    package, name = module.__name__.rsplit(".", 1)
    runner_attributes: dict[str, Any] = {
        attribute: getattr(module, constant, getattr(cookbook.CookbookRunnerBase, attribute))
        for constant, attribute in _RUNNER_SETTINGS
    }
    runner_attributes["_run"] = staticmethod(module.run)
    runner = type(f"{name}Runner", (_module_api.CookbookModuleRunnerBase,), runner_attributes)
    runner.__module__ = package
    make_parser = _module_parser_factory(module)

    def argument_parser(_self: cookbook.CookbookBase) -> argparse.ArgumentParser:
        return make_parser()

    def get_runner(_self: cookbook.CookbookBase, args: argparse.Namespace) -> cookbook.CookbookRunnerBase:
        return cast(cookbook.CookbookRunnerBase, runner(args, spicerack))

    group_path = package.partition(".")[2]
    return type(
        name,
        (cookbook.CookbookBase,),
        {
            "__module__": package,
            "__name__": name,
            "spicerack_path": group_path,
            "spicerack_name": name,
            "owner_team": getattr(module, "__owner_team__", cookbook.CookbookBase.owner_team),
            "title": get_module_title(module) or CookbookItem.fallback_title,
            "argument_parser": argument_parser,
            "get_runner": get_runner,
        },
    )


def _module_parser_factory(module: _module_api.CookbooksModuleInterface) -> Callable[[], argparse.ArgumentParser]:
    """The module's own ``argument_parser()``, or one making a parser without arguments that shows its docstring."""
    if hasattr(module, "argument_parser"):
        return module.argument_parser
    return lambda: argparse.ArgumentParser(description=module.__doc__, formatter_class=cookbook.ArgparseFormatter)


def cookbook_path_type(path: str) -> str:
    """Convert a COOKBOOK given as a file path (``group/name.py``) to its dotted name (``group.name``)."""
    if path.endswith(".py"):
        return path[:-3].replace("/", ".")
    return path


def import_module(module_name: str) -> _module_api.CookbooksModuleInterface:
    """Import a module of the cookbook trees.

    Raises:
        spicerack._cookbook.CookbookError: if the import fails, whatever the exception.

    """
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise CookbookError(f"Failed to import module {module_name}: {e}") from e
    return cast(_module_api.CookbooksModuleInterface, module)


def get_cookbook_callback(
    cookbooks_base_dirs: list[Path],
) -> Callable[[Spicerack, str, Sequence[str]], BaseItem | None]:
    """Return the function with which ``Spicerack.run_cookbook()`` finds another cookbook of the trees."""

    def get_cookbook(spicerack: Spicerack, cookbook_path: str, cookbook_args: Sequence[str] = ()) -> BaseItem | None:
        """Collect the cookbook (a dotted name or a file path) with its arguments; :py:data:`None` if not found."""
        path = cookbook_path_type(cookbook_path)
        activate_trees(cookbooks_base_dirs)  # already done by main(), needed when used on its own
        collection = CookbookCollection(
            base_dirs=cookbooks_base_dirs, args=cookbook_args, spicerack=spicerack, path_filter=path
        )
        return collection.get_item(path)

    return get_cookbook


_active_base_dirs: list[str] = []


def activate_trees(base_dirs: Sequence[Path]) -> None:
    """Put the base directories first on sys.path, forgetting a ``cookbooks`` package loaded from other trees.

    First, not last: an installed or bundled ``cookbooks`` package elsewhere on sys.path must not shadow them.
    """
    global _active_base_dirs
    wanted = [str(base_dir) for base_dir in base_dirs]
    if wanted == _active_base_dirs:
        return
    for path in _active_base_dirs:
        while path in sys.path:
            sys.path.remove(path)
    for name in [name for name in sys.modules if name == "cookbooks" or name.startswith("cookbooks.")]:
        del sys.modules[name]
    sys.path[0:0] = wanted
    importlib.invalidate_caches()
    _active_base_dirs = wanted
