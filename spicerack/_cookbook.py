"""The ``cookbook`` command: find the cookbooks in the configured trees, list them, run one or show a menu."""

import argparse
import gc
import importlib
import logging
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TypeGuard

from spicerack import Spicerack, SpicerackExtenderBase, _log, cookbook
from spicerack._config import ConfigError, RunnerConfig, load_config
from spicerack._listing_cache import (
    ListedCookbook,
    ListingCache,
    ModuleRecord,
    is_tree_dependent,
    scan_trees,
    summarize,
)
from spicerack._menu import BaseItem, CookbookItem, TreeItem
from spicerack._module_api import module_title, module_to_cookbook_class
from spicerack.exceptions import SpicerackError

logger = logging.getLogger(__name__)
COOKBOOKS_PACKAGE = "cookbooks"
_VALID_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


class CookbookError(SpicerackError):
    """A cookbook or group could not be found or loaded."""


def argument_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``cookbook`` command line."""
    parser = argparse.ArgumentParser(prog="cookbook", description="Spicerack Cookbook Runner", allow_abbrev=False)
    parser.add_argument(
        "-l",
        "--list",
        action="store_true",
        help=(
            "List the available cookbooks with their title; with -v/--verbose also their owner team and "
            "description. A COOKBOOK, if given, filters the list as a prefix."
        ),
    )
    parser.add_argument(
        "-c",
        "--config-file",
        default=None,
        help=(
            "Path of the Spicerack configuration file to load (default: $SPICERACK_CONFIG, else "
            "~/.config/spicerack/config.yaml, else /etc/spicerack/config.yaml, else the embedded default)."
        ),
    )
    parser.add_argument("-d", "--dry-run", action="store_true", help="Set the DRY-RUN mode, also for the cookbook.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Verbose output, also for the cookbook.")
    parser.add_argument(
        "--no-locks",
        action="store_true",
        help="Don't acquire or check the distributed locks, for the cookbook and its own locks.",
    )
    parser.add_argument(
        "cookbook",
        metavar="COOKBOOK",
        nargs="?",
        type=cookbook_path_type,
        default="",
        help=(
            "Either the relative path of the Python file to run (group/cookbook.py) or its module name "
            "(group.cookbook). A group, or nothing, opens the interactive menu of that group."
        ),
    )
    parser.add_argument(
        "cookbook_args",
        metavar="COOKBOOK_ARGS",
        nargs=argparse.REMAINDER,
        help="The arguments passed to the cookbook or to the menu.",
    )
    return parser


def cookbook_path_type(path: str) -> str:
    """Convert a COOKBOOK given as a file path (``group/name.py``) to its dotted name (``group.name``)."""
    if path.startswith(("/", "~", ".")) or "/." in path:
        return path  # left as given, to be rejected by validate_cookbook_name() with the operator's own words
    stem, ext = os.path.splitext(path)
    if ext == ".py":
        path = stem.replace("/", ".")
    return path.rstrip("/").replace("/", ".") if "/" in path else path


def validate_cookbook_name(name: str) -> None:
    """Reject a COOKBOOK that is not a dotted name inside the tree (e.g. ``../x`` or an absolute path).

    Raises:
        CookbookError: if the name could point outside the tree.

    """
    if name and ("/" in name or not all(_VALID_NAME.match(part) for part in name.split("."))):
        raise CookbookError(f"invalid cookbook name {name!r}: expected a dotted path inside the cookbooks tree")


class CookbookCollection:
    """The cookbooks found in one or more base directories, each holding a ``cookbooks/`` package tree.

    Trees from several base directories merge. Modules are imported only where needed: the whole tree for a
    listing, only the selected module (and its parent packages) to run one cookbook.
    """

    def __init__(self, base_dirs: Sequence[Path], spicerack: Spicerack, args: Sequence[str] = ()) -> None:
        """Make the trees importable as the ``cookbooks`` package."""
        self.base_dirs = [Path(base_dir) for base_dir in base_dirs]
        self.spicerack = spicerack
        self.args = list(args)
        self.errors: list[str] = []
        self.root = TreeItem("", "", self.args, spicerack)
        self._recorded_errors: list[str] | None = None
        _activate_trees(self.base_dirs)

    def collect(self, prefix: str = "") -> TreeItem:
        """Load every cookbook whose full name starts with ``prefix`` (all when empty) and return the root."""
        for module_name in self._module_names():
            relative = module_name[len(COOKBOOKS_PACKAGE) + 1 :]
            if prefix and not _under(relative, prefix):
                continue
            self._load_module(module_name)
        return self.root

    def listing(self, prefix: str = "", verbose: bool = False, cache_dir: Path | None = None) -> str:
        """The text of ``cookbook -l``, as ``collect(prefix).get_tree(verbose)`` gives it, through the listing cache.

        The errors are reported as :py:meth:`collect` reports them. When nothing changed since the same listing was
        printed, its text is reused as a whole.
        """
        cache = ListingCache(self.base_dirs, scan_trees(self.base_dirs), cache_dir)
        modules = _selected_modules(cache.files.modules, prefix)
        listing = cache.get_listing(prefix, verbose, modules)
        if listing is not None:
            text, errors = listing
            for message in errors:
                self._report(message)
            return text
        reported = len(self.errors)
        text = self._collect_cached(modules, cache).get_tree(verbose=verbose)
        cache.store_listing(prefix, verbose, modules, text, self.errors[reported:])
        cache.save()
        return text

    def collect_listing(self, prefix: str = "", cache_dir: Path | None = None) -> TreeItem:
        """Like :py:meth:`collect`, for a listing: modules unchanged since a previous listing are not imported.

        Their cookbooks and errors come from the listing cache (see :py:mod:`spicerack._listing_cache`); the items
        of such modules can be listed, not run.
        """
        cache = ListingCache(self.base_dirs, scan_trees(self.base_dirs), cache_dir)
        root = self._collect_cached(_selected_modules(cache.files.modules, prefix), cache)
        cache.save()
        return root

    def _collect_cached(self, modules: list[str], cache: ListingCache) -> TreeItem:
        replayed_groups: dict[str, TreeItem] = {}
        gc_was_enabled = gc.isenabled()
        gc.disable()  # thousands of small objects and no cycles to collect: the collector would only slow it down
        try:
            for module_name in modules:
                record = cache.get(module_name)
                if record is None or not self._replay(module_name, record, cache.groups, replayed_groups):
                    replayed_groups.clear()  # a real import may reshape the tree
                    self._load_and_record(module_name, cache)
        finally:
            if gc_was_enabled:
                gc.enable()
        return self.root

    def _load_and_record(self, module_name: str, cache: ListingCache) -> None:
        self._recorded_errors = []
        try:
            items = self._load_module(module_name)
            errors = self._recorded_errors
        finally:
            self._recorded_errors = None
        if items is None and not errors:
            return  # already in the tree under another base dir: nothing to learn
        files = cache.files.modules[module_name]
        try:
            summaries = [summarize(item) for item in items or []]
        except Exception:  # e.g. an owner_team property raising: list it as usual, but don't remember it
            return
        digest = cache.digest if any(is_tree_dependent(path) for path, _, _ in files) else None
        cache.store(module_name, ModuleRecord(files, items is not None, summaries, errors, digest))
        self._store_groups(module_name, cache)

    def _store_groups(self, module_name: str, cache: ListingCache) -> None:
        group = self.root
        parts = module_name.split(".")[1:-1]
        for index, part in enumerate(parts):
            item = group.items.get(part)
            if not isinstance(item, TreeItem):
                return
            cache.store_group(".".join((COOKBOOKS_PACKAGE, *parts[: index + 1])), item._title, item.owner_team)
            group = item

    def _replay(
        self,
        module_name: str,
        record: ModuleRecord,
        groups: dict[str, tuple[str, str]],
        replayed_groups: dict[str, TreeItem],
    ) -> bool:
        """Add a module's cookbooks and report its errors as stored; False if the stored groups are incomplete."""
        package, leaf = module_name.rsplit(".", 1)
        if not record.grouped:
            for message in record.errors:
                self._report(message)
            return True
        group = replayed_groups.get(package) or self._replay_group(package, groups)
        if group is None:
            return False
        replayed_groups[package] = group
        if leaf in group.items or any(key.startswith(f"{leaf}.") for key in group.items):
            return True
        for message in record.errors:
            self._report(message)
        for item in record.items:
            group.append(ListedCookbook(item, self.args, self.spicerack))
        return True

    def _replay_group(self, package: str, groups: dict[str, tuple[str, str]]) -> TreeItem | None:
        """The group of a package, created with its parents from the stored titles; None if one is missing."""
        parts = package.split(".")[1:]
        packages = [".".join((COOKBOOKS_PACKAGE, *parts[: index + 1])) for index in range(len(parts))]
        if any(name not in groups for name in packages):
            return None
        group = self.root
        for part, name in zip(parts, packages, strict=True):
            existing = group.items.get(part)
            if isinstance(existing, TreeItem):
                group = existing
                continue
            title, owner_team = groups[name]
            subgroup = TreeItem(part, group.full_name, self.args, self.spicerack, title=title, owner_team=owner_team)
            group.append(subgroup)
            group = subgroup
        return group

    def get_item(self, name: str, args: Sequence[str] | None = None) -> BaseItem | None:
        """Return the cookbook or group with the given dotted full name (empty: the root group), or None."""
        validate_cookbook_name(name)
        if not name:
            self.collect()
            item: BaseItem | None = self.root
        elif self._is_group(name):
            self.collect(name)
            item = self._find_loaded(name)
        else:
            item = self._find_cookbook(name)
        if item is not None and args is not None:
            item.args = list(args)
        return item

    def _find_cookbook(self, name: str) -> BaseItem | None:
        parts = name.split(".")
        candidates = [".".join(parts)]
        if len(parts) > 1:  # module.ClassName in a module with several cookbook classes
            candidates.append(".".join(parts[:-1]))
        for module_path in candidates:
            if self._module_file(module_path) is not None:
                self._load_module(f"{COOKBOOKS_PACKAGE}.{module_path}")
                found = self._find_loaded(name)
                if found is not None:
                    return found
        return None

    def _find_loaded(self, name: str) -> BaseItem | None:
        group = self.root
        parts = name.split(".")
        for index, part in enumerate(parts):
            item = group.items.get(part)
            if item is None:
                return group.items.get(".".join(parts[index:])) if index == len(parts) - 2 else None
            if index == len(parts) - 1:
                return item
            if not isinstance(item, TreeItem):
                return None
            group = item
        return None

    def _is_group(self, name: str) -> bool:
        relative = Path(*name.split("."))
        return any((base / COOKBOOKS_PACKAGE / relative).is_dir() for base in self.base_dirs)

    def _module_file(self, name: str) -> Path | None:
        relative = Path(*name.split("."))
        for base in self.base_dirs:
            path = (base / COOKBOOKS_PACKAGE / relative).with_suffix(".py")
            if path.is_file():
                return path
        return None

    def _module_names(self) -> list[str]:
        """Every cookbook module name in the trees, sorted, without duplicates."""
        names: set[str] = set()
        for base in self.base_dirs:
            root = base / COOKBOOKS_PACKAGE
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith((".", "_")))
                relative = Path(dirpath).relative_to(root)
                package = ".".join((COOKBOOKS_PACKAGE, *relative.parts))
                for filename in filenames:
                    if filename.endswith(".py") and not filename.startswith(("_", ".")):
                        names.add(f"{package}.{filename[:-3]}")
        return sorted(names)

    def _group_for(self, package: str) -> TreeItem | None:
        """Return the group of a package (``cookbooks.a.b``), creating it and its parents as needed."""
        group = self.root
        parts = package.split(".")[1:]
        for index, part in enumerate(parts):
            existing = group.items.get(part)
            if isinstance(existing, TreeItem):
                group = existing
                continue
            module_name = ".".join((COOKBOOKS_PACKAGE, *parts[: index + 1]))
            module = self._import(module_name)
            if module is None:
                return None
            subgroup = TreeItem(
                part,
                ".".join(parts[:index]),
                self.args,
                self.spicerack,
                title=module_title(module, ""),
                owner_team=str(getattr(module, "__owner_team__", "") or group.owner_team),
            )
            group.append(subgroup)
            group = subgroup
        return group

    def _load_module(self, module_name: str) -> list[CookbookItem] | None:
        """Import a cookbook module into its group; return the cookbooks added, None if its group failed."""
        package = module_name.rsplit(".", 1)[0]
        group = self._group_for(package)
        if group is None:
            return None
        leaf = module_name.rsplit(".", 1)[1]
        if leaf in group.items or any(key.startswith(f"{leaf}.") for key in group.items):
            return None
        module = self._import(module_name)
        if module is None:
            return []
        try:
            classes = self._cookbook_classes(module, group)
        except AttributeError as e:
            self._report(f"Unable to load cookbook {module_name[len(COOKBOOKS_PACKAGE) + 1 :]}: {e}")
            return []
        added: list[CookbookItem] = []
        for class_obj in classes:
            try:
                added.append(CookbookItem(class_obj, self.args, self.spicerack))
            except Exception as e:
                self._report(f"Unable to load cookbook {class_obj.__module__}: {_one_line(e)}")
            else:
                group.append(added[-1])
        return added

    def _cookbook_classes(self, module: ModuleType, group: TreeItem) -> list[type[cookbook.CookbookBase]]:
        classes = [value for value in vars(module).values() if _is_cookbook_class(value, module.__name__)]
        classes.sort(key=lambda class_obj: class_obj.__name__)
        if not classes:
            classes = [module_to_cookbook_class(module, CookbookItem.fallback_title)]
        group_path, leaf = module.__name__[len(COOKBOOKS_PACKAGE) + 1 :].rpartition(".")[::2]
        for class_obj in classes:
            class_obj.spicerack_path = group_path
            class_obj.spicerack_name = leaf if len(classes) == 1 else f"{leaf}.{class_obj.__name__}"
            if "owner_team" not in vars(class_obj) and group.owner_team:
                class_obj.owner_team = group.owner_team
        return classes

    def _import(self, module_name: str) -> ModuleType | None:
        try:
            return importlib.import_module(module_name)
        except Exception as e:
            self._report(f"Failed to import module {module_name}: {_one_line(e)}")
        except SystemExit as e:
            self._report(f"Failed to import module {module_name}: SystemExit({e.code!r}) raised on import")
        return None

    def _report(self, message: str) -> None:
        if self._recorded_errors is not None:
            self._recorded_errors.append(message)
        if message not in self.errors:
            self.errors.append(message)
            logger.error(message)


def _is_cookbook_class(value: object, module_name: str) -> TypeGuard[type[cookbook.CookbookBase]]:
    """Whether a module attribute is a concrete cookbook class defined in that module."""
    return (
        isinstance(value, type)
        and value.__module__ == module_name
        and cookbook.CookbookBase in value.__mro__  # not issubclass(): ABCMeta's negative checks cost O(subclasses)
        and not getattr(value, "__abstractmethods__", None)
    )


def _selected_modules(module_names: Iterable[str], prefix: str) -> list[str]:
    """The module names matching the listing filter (all when empty), sorted."""
    start = len(COOKBOOKS_PACKAGE) + 1
    return sorted(name for name in module_names if not prefix or _under(name[start:], prefix))


def _under(name: str, prefix: str) -> bool:
    """Whether a module's dotted name matches the listing filter, a plain string prefix as in the reference."""
    return name.startswith(prefix) or prefix.startswith(f"{name}.")


def _one_line(error: BaseException) -> str:
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg} ({os.path.basename(error.filename or '?')}, line {error.lineno})"
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


_active_base_dirs: list[str] = []


def _activate_trees(base_dirs: Sequence[Path]) -> None:
    """Put the base directories first on sys.path and forget any ``cookbooks`` package loaded from others."""
    global _active_base_dirs
    wanted = [str(base.resolve()) for base in base_dirs]
    if wanted == _active_base_dirs:
        return
    for path in _active_base_dirs:
        while path in sys.path:
            sys.path.remove(path)
    for name in [name for name in sys.modules if name == COOKBOOKS_PACKAGE or name.startswith("cookbooks.")]:
        del sys.modules[name]
    sys.path[0:0] = wanted
    importlib.invalidate_caches()
    _active_base_dirs = wanted


def _load_extender_class(dotted: str) -> type[SpicerackExtenderBase]:
    module_name, _, class_name = dotted.rpartition(".")
    if not module_name:
        raise ConfigError(f"instance_params.extender_class {dotted!r} must be a dotted path module.Class")
    try:
        extender = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"unable to load instance_params.extender_class {dotted}: {_one_line(e)}") from e
    if not (isinstance(extender, type) and issubclass(extender, SpicerackExtenderBase)):
        raise ConfigError(f"instance_params.extender_class {dotted} is not a subclass of SpicerackExtenderBase")
    return extender


def _build_spicerack(
    config: RunnerConfig, args: argparse.Namespace, collection_ref: list[CookbookCollection]
) -> Spicerack:
    params = dict(config.instance_params)
    extender_name = params.pop("extender_class", None)
    extender = _load_extender_class(extender_name) if extender_name else None
    if args.no_locks:
        params["etcd_config"] = ""

    def get_cookbook(name: str, cookbook_args: Sequence[str]) -> BaseItem | None:
        return collection_ref[0].get_item(cookbook_path_type(name), cookbook_args)

    return Spicerack(
        verbose=args.verbose,
        dry_run=args.dry_run,
        get_cookbook_callback=get_cookbook,
        extender_class=extender,
        **params,
    )


def _setup_console_logging(verbose: bool) -> None:
    """Log to the console only (used until a run's log files are known, and for listings)."""
    _log.remove_handlers()
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.DEBUG if verbose else logging.INFO)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(_log.FilterOutCumin())
    _log._add_handler(_log.root_logger, handler)
    _log.root_logger.setLevel(logging.DEBUG)


def _log_location(config: RunnerConfig, item: BaseItem) -> tuple[Path, str]:
    """The directory and base name of the log files of an item: its group's path under logs_base_dir."""
    name = item.name or COOKBOOKS_PACKAGE
    return config.logs_base_dir.joinpath(*[part for part in item.path.split(".") if part]), name


def _error(message: str) -> None:
    print(f"cookbook: error: {message}", file=sys.stderr)


def run(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, then list, run a cookbook or show a menu; return the exit code."""
    args = argument_parser().parse_args(argv)
    _setup_console_logging(args.verbose)
    try:
        config = load_config(args.config_file)
        if config.external_modules_dir is not None and str(config.external_modules_dir) not in sys.path:
            sys.path.insert(0, str(config.external_modules_dir))
        collection_ref: list[CookbookCollection] = []
        spicerack = _build_spicerack(config, args, collection_ref)
    except ConfigError as e:
        _error(str(e))
        return 1
    for key in config.unknown_keys:
        logger.warning("Ignoring unknown key %s in %s", key, config.source)
    logger.debug("Configuration: %s", config.source)

    collection = CookbookCollection(config.cookbooks_base_dirs, spicerack, args.cookbook_args)
    collection_ref.append(collection)
    if args.list:
        return _list(collection, args)
    try:
        item = collection.get_item(args.cookbook, args.cookbook_args)
    except CookbookError as e:
        _error(str(e))
        return cookbook.NOT_FOUND_RETCODE
    if item is None:
        _error(f"Unable to find cookbook {args.cookbook}")
        return cookbook.NOT_FOUND_RETCODE

    base_path, name = _log_location(config, item)
    try:
        _log.setup_logging(
            base_path,
            name,
            spicerack.username,
            dry_run=args.dry_run,
            verbose=args.verbose,
            host=config.tcpircbot_host,
            port=config.tcpircbot_port,
            notify_logger_enabled=config.user_input_notifications_enabled,
        )
    except OSError as e:
        _error(f"unable to write the log files under {base_path}: {e.strerror}")
        return 1
    return item.run()


def _list(collection: CookbookCollection, args: argparse.Namespace) -> int:
    try:
        validate_cookbook_name(args.cookbook)
    except CookbookError as e:
        _error(str(e))
        return cookbook.NOT_FOUND_RETCODE
    print(collection.listing(args.cookbook, args.verbose), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cookbook`` console script."""
    try:
        return run(argv)
    except KeyboardInterrupt:
        _error("interrupted (Ctrl+c)")
        return cookbook.INTERRUPTED_RETCODE


if __name__ == "__main__":
    sys.exit(main())
