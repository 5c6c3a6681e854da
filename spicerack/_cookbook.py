"""The ``cookbook`` command: find the cookbooks in the configured trees, list them, run one or show a menu."""

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from spicerack import Spicerack, SpicerackExtenderBase, _config, _extras, _journal, _log, _module_api, cookbook
from spicerack._menu import BaseItem, CookbookItem, MenuError, TreeItem, get_module_title
from spicerack.exceptions import SpicerackError

logger = logging.getLogger(__name__)


class CookbookError(SpicerackError):
    """A cookbook or a group of cookbooks could not be loaded."""


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
        self.base_dirs = [Path(base_dir) / self.cookbooks_module_prefix for base_dir in base_dirs]
        self.args = args
        self.spicerack = spicerack
        self.path_filter = path_filter
        root = import_module(self.cookbooks_module_prefix)
        self.menu = TreeItem(root, self.args, self.spicerack, self.cookbooks_module_prefix)
        for base_dir in self.base_dirs:
            self._collect(base_dir)

    def get_item(self, path: str) -> BaseItem | None:
        """Return the group or cookbook at a dotted path (empty: the top group), or :py:data:`None`.

        Arguments:
            path: the dotted path, e.g. ``sre.hosts.reboot`` or ``sre.hosts``, or ``module.Class`` for a module with
                several cookbook classes.

        """
        parts = [self.cookbooks_module_prefix, *path.split(".")] if path else [self.cookbooks_module_prefix]
        class_key = ".".join(parts[-2:])
        item: BaseItem | None = self.menu
        for index, part in enumerate(parts[1:], start=1):
            if item is None:
                break
            if part in item.items:
                item = item.items[part]
            elif index == len(parts) - 2 and class_key in item.items:
                return item.items[class_key]
            else:
                item = None
        return item

    def _collect(self, base_dir: Path) -> None:
        """Add the groups and cookbooks of one tree."""
        for dirpath in base_dir.rglob(""):  # directories only, the tree's root included
            if dirpath.name == "__pycache__":
                continue
            relative = dirpath.relative_to(base_dir)
            prefix = str(relative).replace("/", ".").rstrip(".") if relative.name else ""
            if self._should_filter(prefix):
                continue
            package = f"{self.cookbooks_module_prefix}.{prefix}" if prefix else self.cookbooks_module_prefix
            try:
                menu = self._create_menu_for_path(package)
            except CookbookError as e:
                logger.error(e)
                continue
            for filepath in dirpath.glob("[!_]*.py"):
                self._collect_filename(f"{package}.{filepath.stem}", menu)

    def _create_menu_for_path(self, package: str) -> TreeItem:
        """Return the group of a package, creating it and its missing parents."""
        item = self.menu
        names = package.split(".")
        for index in range(1, len(names)):
            part = names[index]
            if part in item.items:
                item = cast(TreeItem, item.items[part])
                continue
            submenu = TreeItem(
                import_module(".".join(names[: index + 1])), self.args, self.spicerack, self.cookbooks_module_prefix
            )
            default_owner = cookbook.CookbookBase.owner_team
            if item.owner_team != default_owner and submenu.owner_team == default_owner:
                submenu.module.__owner_team__ = item.owner_team  # inherited from the parent package
            # The groups above the filtered path are there only to hold it: the menu must not go back to them.
            add_parent = submenu.full_name.startswith(self.path_filter) and submenu.full_name != self.path_filter
            item.append(submenu, add_parent=add_parent)
            item = submenu
        return item

    def _collect_filename(self, module_name: str, menu: TreeItem) -> None:
        """Add the cookbooks of one module to its group."""
        try:
            classes = self._collect_module_cookbooks(import_module(module_name))
        except CookbookError as e:
            logger.error(e)
            return

        default_owner = cookbook.CookbookBase.owner_team
        for class_obj in classes:
            try:
                item = CookbookItem(class_obj, self.args, self.spicerack)
            except MenuError as e:
                logger.error(e)
                continue
            if menu.owner_team != default_owner and item.owner_team == default_owner:
                item.instance.owner_team = menu.owner_team
            if self._should_filter(item.full_name):
                continue
            menu.append(item)

    def _should_filter(self, name: str) -> bool:
        """Whether a dotted name is outside the filter (it must be a prefix of it, or start with it)."""
        if not self.path_filter:
            return False
        return not name.startswith(self.path_filter[: len(name)])

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

        relative = module.__name__.split(".", 1)[1]
        path, _, leaf = relative.rpartition(".")
        for class_obj in classes:
            class_obj.spicerack_path = path
            # several classes in one module are named module.Class, in the module's group
            class_obj.spicerack_name = leaf if len(classes) == 1 else f"{leaf}.{class_obj.__name__}"
        return classes

    def _convert_module_in_cookbook(self, module: _module_api.CookbooksModuleInterface) -> type[cookbook.CookbookBase]:
        """Build the class-API cookbook of a module-API cookbook module.

        Raises:
            spicerack._cookbook.CookbookError: if the module has no ``run()`` function.

        """
        package, name = module.__name__.rsplit(".", 1)
        if not hasattr(module, "run"):
            raise CookbookError(f"Unable to find run function in module {module.__name__}")
        run = module.run

        runner = type(
            f"{name}Runner",
            (_module_api.CookbookModuleRunnerBase,),
            {
                "_run": staticmethod(run),
                "max_concurrency": getattr(module, "MAX_CONCURRENCY", cookbook.CookbookRunnerBase.max_concurrency),
                "lock_ttl": getattr(module, "LOCK_TTL", cookbook.CookbookRunnerBase.lock_ttl),
            },
        )
        runner.__module__ = package
        spicerack = self.spicerack

        if hasattr(module, "argument_parser"):
            module_parser = module.argument_parser

            def argument_parser(_self: cookbook.CookbookBase) -> argparse.ArgumentParser:
                return module_parser()

        else:

            def argument_parser(_self: cookbook.CookbookBase) -> argparse.ArgumentParser:
                return argparse.ArgumentParser(description=module.__doc__, formatter_class=cookbook.ArgparseFormatter)

        def get_runner(_self: cookbook.CookbookBase, args: argparse.Namespace) -> cookbook.CookbookRunnerBase:
            return cast(cookbook.CookbookRunnerBase, runner(args, spicerack))

        attributes: dict[str, Any] = {
            "__module__": package,
            "__name__": name,
            "owner_team": getattr(module, "__owner_team__", cookbook.CookbookBase.owner_team),
            "spicerack_name": name,
            "spicerack_path": package.split(".", 1)[1] if "." in package else "",
            "title": get_module_title(module) or CookbookItem.fallback_title,
            "argument_parser": argument_parser,
            "get_runner": get_runner,
        }
        return type(name, (cookbook.CookbookBase,), attributes)


def argument_parser() -> argparse.ArgumentParser:
    """The parser of the ``cookbook`` command line; a COOKBOOK given as a file path becomes a dotted name."""
    parser = argparse.ArgumentParser(
        description="Spicerack Cookbook Runner",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="See also https://wikitech.wikimedia.org/wiki/Spicerack/Cookbooks",
        allow_abbrev=False,  # an abbreviation could swallow an option meant for the cookbook
    )
    parser.add_argument(
        "-l",
        "--list",
        action="store_true",
        help=(
            "List all available cookbooks and their owner team, if -v/--verbose is set print also their description. "
            "If a COOKBOOK is also specified, it will be used as a prefix filter."
        ),
    )
    parser.add_argument(
        "-c",
        "--config-file",
        # Absent unless given, so that the file search of spicerack._config applies; the help shows the default.
        default=argparse.SUPPRESS,
        help=f"Path to the Spicerack configuration file to load. (default: {_config.SYSTEM_CONFIG_FILE})",
    )
    parser.add_argument("-d", "--dry-run", action="store_true", help="Set the DRY-RUN mode, also for the cookbook.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Verbose output, also for the cookbook.")
    parser.add_argument(
        "--no-locks",
        action="store_true",
        help="Do not acquire or check distributed locks on etcd. To be used only if there are issues with etcd.",
    )
    _extras.add_hidden_flags(parser)  # --json, --history, --locks...: documented in the README, not in --help
    parser.add_argument(
        "cookbook",
        metavar="COOKBOOK",
        nargs="?",
        type=cookbook_path_type,
        default="",
        help=(
            "Either the name of the Python module to execute (sre.hosts.downtime) or the relative path of the Python "
            "file to execute (sre/hosts/downtime.py).  If the selected path/module is a directory (sre.hosts) or is "
            "not set, an interactive menu will be shown. Each directory listed in the `cookbooks_base_dirs` key of the"
            "configuration file represents a checked out cookbook repository containing a `cookbooks` subfolder. All "
            "paths specified must be relative to theses subfolders."
        ),
    )
    parser.add_argument(
        "cookbook_args",
        metavar="COOKBOOK_ARGS",
        nargs=argparse.REMAINDER,
        help="Collect all the remaining arguments to be passed to the cookbook or menu to execute.",
    )
    return parser


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


def _import_extender_class(dotted_name: str) -> type[SpicerackExtenderBase]:
    """Import the ``extender_class`` of the configuration.

    Raises:
        TypeError: if it is not a subclass of SpicerackExtenderBase.

    """
    module_name, class_name = dotted_name.rsplit(".", 1)
    extender = getattr(import_module(module_name), class_name)
    if isinstance(extender, type) and issubclass(extender, SpicerackExtenderBase):
        return extender
    raise TypeError(f"Extender class {dotted_name} is not a subclass of spicerack.SpicerackExtenderBase.")


def get_cookbook_callback(
    cookbooks_base_dirs: list[Path],
) -> Callable[[Spicerack, str, Sequence[str]], BaseItem | None]:
    """Return the function with which ``Spicerack.run_cookbook()`` finds another cookbook of the trees."""

    def get_cookbook(spicerack: Spicerack, cookbook_path: str, cookbook_args: Sequence[str] = ()) -> BaseItem | None:
        """Collect the cookbook (a dotted name or a file path) with its arguments; :py:data:`None` if not found."""
        path = cookbook_path_type(cookbook_path)
        _activate_trees(cookbooks_base_dirs)  # already done by main(), needed when used on its own
        collection = CookbookCollection(
            base_dirs=cookbooks_base_dirs, args=cookbook_args, spicerack=spicerack, path_filter=path
        )
        return collection.get_item(path)

    return get_cookbook


_active_base_dirs: list[str] = []


def _activate_trees(base_dirs: Sequence[Path]) -> None:
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


def load_yaml_config(config_file: str) -> dict[str, Any]:
    """Read a YAML configuration file, as :py:func:`wmflib.config.load_yaml_config` does (an empty file is empty).

    Without importing wmflib, whose import costs more than the whole of a cached listing.

    Raises:
        spicerack._config.ConfigError: if the file can't be read or parsed.

    """
    import yaml  # noqa: PLC0415 - only needed when a file is read

    try:
        with open(config_file, encoding="utf-8") as stream:
            config = yaml.safe_load(stream)
    except IsADirectoryError as e:
        raise _config.ConfigError("it is a directory") from e
    except UnicodeDecodeError as e:  # its repr would quote the whole file, secrets included
        raise _config.ConfigError(f"it is not UTF-8 text (invalid byte at offset {e.start})") from e
    except Exception as e:
        raise _config.ConfigError(repr(e)) from e
    return {} if config is None else config


def _load_config(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration as a mapping: the file found (see spicerack._config), or the embedded default."""
    path, may_be_missing = _config.find_config_file(getattr(args, "config_file", None))
    try:
        config = load_yaml_config(path)
    except _config.ConfigError as e:
        if may_be_missing and not os.path.exists(path):
            return _config.embedded_default()
        raise _config.ConfigError(f"Unable to load the configuration file {path}: {e}") from e
    if not isinstance(config, dict):
        raise _config.ConfigError(f"The configuration file {path} must be a YAML mapping")
    return config


def main(argv: Sequence[str] | None = None) -> int | None:
    """Run the ``cookbook`` command: list the cookbooks, run one, or show a menu.

    Arguments:
        argv: the command line arguments, those of the process by default.

    Returns:
        the exit code.

    """
    parser = argument_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions: answer and exit
        from spicerack._completion import complete  # noqa: PLC0415 - only when completing

        complete(parser)
    args = parser.parse_args(argv)
    try:
        config = _load_config(args)
        base_dirs = _config.base_dirs(config)
    except _config.ConfigError as e:
        print(e, file=sys.stderr)
        return 1
    if not base_dirs:
        print(
            "No cookbooks paths are specified in the `cookbooks_base_dirs` key of the configuration file.",
            file=sys.stderr,
        )
        return 1
    _activate_trees(base_dirs)
    if config.get("external_modules_dir") is not None:
        sys.path.append(str(Path(config["external_modules_dir"]).expanduser()))

    spicerack = _build_spicerack(config, args, base_dirs)
    if spicerack is None:
        return 1
    extra_code = _extras.handle_extra_flags(args, config, spicerack)
    if extra_code is not None:
        return extra_code

    if args.list:
        from spicerack._listing_cache import cached_listing  # noqa: PLC0415 - only for listings

        try:
            return cached_listing(
                base_dirs,
                args.cookbook,
                spicerack.verbose,
                lambda: CookbookCollection(
                    base_dirs=base_dirs, args=args.cookbook_args, spicerack=spicerack, path_filter=args.cookbook
                ).menu.get_tree(),
            )
        except CookbookError as e:  # the trees have no importable cookbooks package
            logger.error(e)
            return cookbook.NOT_FOUND_RETCODE

    try:
        collection = CookbookCollection(
            base_dirs=base_dirs, args=args.cookbook_args, spicerack=spicerack, path_filter=args.cookbook
        )
    except CookbookError as e:
        logger.error(e)
        return cookbook.NOT_FOUND_RETCODE
    item = collection.get_item(args.cookbook)
    if item is None:
        logger.error("Unable to find cookbook %s", args.cookbook)
        return cookbook.NOT_FOUND_RETCODE

    try:
        logs_dir = _config.logs_base_dir(config)
        _config.check_run_settings(config, locks=not args.no_locks)
    except _config.ConfigError as e:
        print(e, file=sys.stderr)
        return 1
    logs_path = logs_dir / item.path.replace(".", os.sep)
    try:
        _log.setup_logging(
            logs_path,
            item.name,
            spicerack.username,
            dry_run=args.dry_run,
            host=config.get("tcpircbot_host", None),
            port=int(config.get("tcpircbot_port", 0)),
            notify_logger_enabled=config.get("user_input_notifications_enabled", False),
        )
    except OSError as e:  # its log directory cannot be created
        print(
            f"Not running cookbook {item.full_name} without an audit trail, unable to create its log directory "
            f"{logs_path}: {e.strerror or e}",
            file=sys.stderr,
        )
        return 1
    _journal.activate(logs_dir, config)
    logger.debug("Executing cookbook %s with args: %s", args.cookbook, args.cookbook_args)
    return item.run()


def _build_spicerack(config: dict[str, Any], args: argparse.Namespace, base_dirs: list[Path]) -> Spicerack | None:
    """The accessor for the run, from the configuration's ``instance_params``; None (error printed) on failure."""
    params = dict(config.get("instance_params") or {})
    params.update(
        {"verbose": args.verbose, "dry_run": args.dry_run, "get_cookbook_callback": get_cookbook_callback(base_dirs)}
    )
    if "extender_class" in params:
        try:
            params["extender_class"] = _import_extender_class(params["extender_class"])
        except Exception as e:
            print(f"Failed to import the extender_class {params['extender_class']}:", e, file=sys.stderr)
            return None
    if args.no_locks:
        params["etcd_config"] = ""  # no distributed locks
    try:
        return Spicerack(**params)
    except TypeError as e:
        print("Unable to instantiate Spicerack, check your configuration:", e, file=sys.stderr)
        return None


if __name__ == "__main__":
    sys.exit(main())
