"""The ``cookbook`` command: list the cookbooks of the configured trees, run one, show a menu, or an extra.

The front door of the command line: it parses it, chooses what to do and prints; every step of a run is the run
layer's (:py:mod:`spicerack._runtime`), every extra flag's work an extra's own module. The reference's names stay
here: :py:class:`CookbookCollection` (built on the items of this module, so that ``CookbookItem`` can be patched
here), :py:func:`argument_parser`, :py:func:`load_yaml_config` (looked up here at each run) and :py:func:`main`.
"""

import argparse
import contextlib
import io
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spicerack import __version__, _collection, _config, _extra_runs, _flags, _runtime, _suggest, cookbook
from spicerack._collection import CookbookError, cookbook_path_type, get_cookbook_callback, import_module
from spicerack._menu import BaseItem, CookbookItem, TreeItem

__all__ = [
    "CookbookCollection",
    "CookbookError",
    "CookbookItem",
    "TreeItem",
    "argument_parser",
    "cookbook_path_type",
    "get_cookbook_callback",
    "import_module",
    "load_yaml_config",
    "main",
]

logger = logging.getLogger(__name__)


class CookbookCollection(_collection.CookbookCollection):
    """The cookbooks of one or more trees, as a menu tree (see :py:class:`spicerack._collection.CookbookCollection`).

    Its items are built with this module's ``CookbookItem``, looked up at each item.
    """

    def _make_item(self, class_obj: type[cookbook.CookbookBase]) -> CookbookItem:
        return CookbookItem(class_obj, self.args, self.spicerack)


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
    _flags.add_hidden_flags(parser)  # --json, --history, --locks...: see cookbook --extras, not in --help
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


def load_yaml_config(config_file: str) -> dict[str, Any]:
    """Read a YAML configuration file, as :py:func:`wmflib.config.load_yaml_config` does (an empty file is empty).

    Without importing wmflib, whose import costs more than the whole of a cached listing.

    Raises:
        spicerack._config.ConfigError: if the file can't be read or parsed.

    """
    config: dict[str, Any] = _runtime.read_yaml_file(config_file)
    return config


@dataclass
class _Prepared:
    """A cookbook or group ready to run, its logs and journal set up."""

    item: BaseItem
    name: str
    args: Sequence[str]
    loaded: "_runtime.LoadedConfig"
    locks: bool


def main(argv: Sequence[str] | None = None) -> int | None:
    """Run the ``cookbook`` command: list the cookbooks, run one, show a menu, or carry out an extra flag.

    Arguments:
        argv: the command line arguments, those of the process by default.

    Returns:
        the exit code.

    """
    parser = argument_parser()
    _complete_if_asked(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        rerun = _extra_runs.split_rerun(argv, parser)
    except _extra_runs.RunExtraError as e:
        return _extra_runs.print_error(e)
    prepared = _rerun(parser, rerun) if rerun is not None else _dispatch(parser.parse_args(argv), argv)
    if isinstance(prepared, int):
        return prepared
    logger.debug("Executing cookbook %s with args: %s", prepared.name, _runtime.shown_args(prepared.args))
    _runtime.log_settings(prepared.loaded, locks=prepared.locks)
    return _runtime.run_item(prepared.item)


def _complete_if_asked(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request and exit, if one is being made.

    argcomplete's shell function sets both ``_ARGCOMPLETE`` and ``COMP_LINE``: a stray ``_ARGCOMPLETE`` left in the
    environment alone is no request, the command runs as usual.
    """
    if "_ARGCOMPLETE" in os.environ and "COMP_LINE" in os.environ:
        from spicerack._completion import complete  # noqa: PLC0415 - only when completing

        complete(parser)


def _dispatch(args: argparse.Namespace, argv: Sequence[str], rerun_of: str | None = None) -> "int | _Prepared":
    """Carry out the parsed command line, up to the run (``argv`` as typed, for the hints of a wrong name).

    Returns:
        The exit code, or the cookbook or group to run.

    """
    if args.extra_version:
        print(_versions())
        return 0
    if args.extra_extras:
        print(_flags.extras_help(), end="")
        return 0
    extras = _flags.any_set(args)
    if extras:
        from spicerack import _extras  # noqa: PLC0415 - the extras load what they use, only when asked

        usage = _extras.usage_error(args)
        if usage is not None:
            print(f"cookbook: error: {usage}", file=sys.stderr)
            return _extras.USAGE_ERROR
    base_dirs: list[Path] = []
    try:
        loaded = _runtime.load_config(
            getattr(args, "config_file", None), loader=_loader, for_run=not (args.list or extras) or args.extra_plan
        )
        for warning in loaded.warnings:
            print(f"cookbook: warning: {warning}", file=sys.stderr)
        base_dirs = _runtime.activate_config_trees(loaded.config)
        if args.extra_plan:
            return _plan(args, loaded)
        locks = not args.no_locks
        spicerack = _runtime.build_accessor(
            loaded.config,
            base_dirs,
            verbose=args.verbose,
            dry_run=args.dry_run,
            locks=locks,
            hooks=_runtime.LocksOffWarning(loaded.path) if locks and _runtime.locks_off(loaded.config) else None,
        )
        if extras:
            return _extras.handle_extra_flags(args, loaded.config, spicerack)
        if args.list:
            return _list(args, base_dirs, spicerack)
        item = _runtime.prepare_named(
            loaded,
            spicerack,
            base_dirs,
            args.cookbook,
            args.cookbook_args,
            locks=locks,
            collection_class=CookbookCollection,
            rerun_of=rerun_of,
        )
        return _Prepared(item, args.cookbook, args.cookbook_args, loaded, locks)
    except _runtime.NotFoundError as e:
        return _not_found(e, argv, base_dirs)
    except _runtime.RunError as e:
        return _report(e)


def _loader(path: str) -> Any:
    return load_yaml_config(path)  # looked up at each call: the reference's tests patch it


def _report(error: "_runtime.RunError") -> int:
    if error.logged:
        logger.error(error)
    else:
        print(error, file=sys.stderr)
    return error.exit_code


def _not_found(error: "_runtime.NotFoundError", argv: Sequence[str], base_dirs: list[Path]) -> int:
    """Log the reference's error line, then the hints of what the name may have meant (on stderr)."""
    logger.error(error)
    typed = next((arg for arg in argv if not arg.startswith("-") and cookbook_path_type(arg) == error.name), error.name)
    known = _quietly(error.known) or []
    for line in _suggest.not_found_hints(typed, known, base_dirs):
        print(line, file=sys.stderr)
    return error.exit_code


def _quietly(produce: Callable[[], list[str]]) -> list[str] | None:
    """Call ``produce()`` with what the imports print or log kept off the terminal; None if it fails."""
    sink = io.StringIO()
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            return produce()
    except Exception:  # the hints are a help, never a new failure
        return None
    finally:
        logging.disable(previous)


def _list(args: argparse.Namespace, base_dirs: list[Any], spicerack: Any) -> int:
    from spicerack._listing_cache import cached_listing  # noqa: PLC0415 - only for listings

    try:
        return cached_listing(
            base_dirs,
            args.cookbook,
            spicerack.verbose,
            lambda: _runtime.collect(
                base_dirs,
                spicerack,
                path_filter=args.cookbook,
                args=args.cookbook_args,
                collection_class=CookbookCollection,
            ).menu.get_tree(),
        )
    except _runtime.RunError as e:  # the trees have no importable cookbooks package
        return _report(e)


def _plan(args: argparse.Namespace, loaded: "_runtime.LoadedConfig") -> int:
    """``--plan``: run the cookbook in DRY-RUN through the harness's recorder and print its plan."""
    # The one import that goes up a layer: the recorder of the plan is the test harness's.
    from spicerack.testing.plan import run_plan  # noqa: PLC0415 - only for --plan

    return run_plan(
        loaded,
        args.cookbook,
        args.cookbook_args,
        as_json=args.extra_json,
        verbose=args.verbose,
        locks=not args.no_locks,
    )


def _rerun(parser: argparse.ArgumentParser, rerun: "_extra_runs.Rerun") -> "int | _Prepared":
    """``--rerun RUN_ID [ARGS]``: confirm the command line of the run again, then run it."""
    args = parser.parse_args(rerun.global_args)
    try:
        prepared = _extra_runs.prepare_rerun(args, rerun, loader=_loader, collection_class=CookbookCollection)
    except _extra_runs.RunExtraError as e:
        return _extra_runs.print_error(e)
    except _runtime.RunError as e:
        return _report(e)
    argv, run_id = prepared
    return _dispatch(parser.parse_args(argv), argv, rerun_of=run_id)


def _versions() -> str:
    import platform  # noqa: PLC0415 - only for --version

    return f"cookbook (Spicerack) {__version__}\nPython {platform.python_version()} ({sys.executable})"


if __name__ == "__main__":
    sys.exit(main())
