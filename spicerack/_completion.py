"""Shell completion of the ``cookbook`` command, with argcomplete.

The shell runs ``cookbook`` with argcomplete's environment (``_ARGCOMPLETE``, ``COMP_LINE``, ``COMP_POINT``...);
:py:func:`complete` writes the candidates where argcomplete's shell function reads them and ends the process.
The ``cookbook`` command imports this module only when ``_ARGCOMPLETE`` is set: completion costs nothing to the
other runs.

* Before COOKBOOK: the global options (the hidden extra flags too), and the names of the cookbooks and groups,
  read from the listing cache of ``cookbook -l`` (see :py:mod:`spicerack._listing_cache`): nothing of the trees is
  imported while it is warm. A cold cache is filled as ``cookbook -l`` would fill it.
* After COOKBOOK: the options and choices of that cookbook's own parser: only its module (and packages) is
  imported.

Enable it with argcomplete's ``register-python-argcomplete cookbook`` (see the README).
"""

import argparse
import contextlib
import io
import os
import re
import shlex
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

_TREE_LINE = re.compile(r"^(?:\|   |    )*[|`]-- ([^\s:]+)")
"""A line of the ``cookbook -l`` tree: the drawing, then the item's full name."""
SINCE_EXAMPLES = ("30m", "1h", "6h", "1d", "1w")
"""What completion offers for ``--since``."""


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request described by the environment, then end the process.

    Arguments:
        parser: the parser of the ``cookbook`` command line.

    """
    import argcomplete  # noqa: PLC0415 - only when completing
    from argcomplete.lexers import split_line  # noqa: PLC0415 - only when completing

    line = os.environ.get("COMP_LINE", "")
    point = _int(os.environ.get("COMP_POINT"), len(line))
    try:
        prequote, prefix, _, words, _ = split_line(line, point)
    except Exception:  # an unbalanced quote argcomplete can't handle: nothing to offer
        prequote, prefix, words = "", "", []
    words = words[max(_int(os.environ.get("_ARGCOMPLETE"), 1) - 1, 0) :][1:]  # without the program

    position = cookbook_position(parser, words)
    if position is None:
        _prepare_global(parser, words)
        argcomplete.autocomplete(parser, always_complete_options=False)
        return

    cookbook_parser = _quietly(lambda: cookbook_parser_of(words[position], _config_of(parser, words)))
    if cookbook_parser is None:
        cookbook_parser = argparse.ArgumentParser(add_help=False)  # nothing to offer
    rest = [shlex.quote(word) for word in words[position + 1 :]]
    new_line = " ".join(["cookbook", *rest, prequote + prefix])
    os.environ.update({"COMP_LINE": new_line, "COMP_POINT": str(len(new_line)), "_ARGCOMPLETE": "1"})
    argcomplete.autocomplete(cookbook_parser)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def cookbook_position(parser: argparse.ArgumentParser, words: Sequence[str]) -> int | None:
    """The index of the COOKBOOK word among the arguments, or :py:data:`None` if it is not complete yet.

    Arguments:
        parser: the ``cookbook`` parser, to know which options take a value.
        words: the complete words of the command line after the program.

    """
    with_value = {
        option
        for action in parser._actions  # argparse has no public list of its actions
        if action.nargs != 0
        for option in action.option_strings
    }
    skip = False
    for index, word in enumerate(words):
        if skip:
            skip = False
        elif word == "--":
            return index + 1 if index + 1 < len(words) else None
        elif word.startswith("-") and len(word) > 1:
            skip = word in with_value
        else:
            return index
    return None


def _prepare_global(parser: argparse.ArgumentParser, words: Sequence[str]) -> None:
    """Attach the completers of the global stage: cookbook names, ``--since`` examples, no files for ``--user``."""
    from argcomplete.completers import SuppressCompleter  # noqa: PLC0415 - only when completing

    def names(prefix: str, **_kwargs: Any) -> list[str]:
        if "--history" in words:  # --history takes a PREFIX of cookbooks or the RUN_ID of one run
            found = _quietly(
                lambda: [*cookbook_names(_config_of(parser, words)), *recent_run_ids(_config_of(parser, words))]
            )
        else:
            found = _quietly(lambda: cookbook_names(_config_of(parser, words)))
        return [name for name in found or [] if name.startswith(prefix)]

    def run_ids(prefix: str, **_kwargs: Any) -> list[str]:
        found = _quietly(lambda: recent_run_ids(_config_of(parser, words))) or []
        return [run_id for run_id in found if run_id.startswith(prefix)]

    from spicerack._flags import DESCRIPTIONS  # noqa: PLC0415 - only when completing

    for action in parser._actions:  # argparse has no public list of its actions
        if action.help == argparse.SUPPRESS and action.option_strings:  # described for zsh, not for --help
            action.help = DESCRIPTIONS.get(action.option_strings[0], "")
        if action.dest == "cookbook":
            action.completer = names  # type: ignore[attr-defined]
        elif action.dest == "cookbook_args":
            action.completer = SuppressCompleter()  # type: ignore[attr-defined]
        elif "--since" in action.option_strings:
            action.completer = lambda **_kwargs: list(SINCE_EXAMPLES)  # type: ignore[attr-defined]
        elif "--user" in action.option_strings:
            action.completer = lambda **_kwargs: []  # type: ignore[attr-defined] # no file names
        elif action.dest in ("extra_failed_hosts", "extra_rerun"):
            action.completer = run_ids  # type: ignore[attr-defined]
        elif action.dest == "extra_only":
            action.completer = lambda **_kwargs: ["failed", "timeout", "not-run"]  # type: ignore[attr-defined]


def _config_of(parser: argparse.ArgumentParser, words: Sequence[str]) -> dict[str, Any]:
    """The configuration the command line would load (its ``-c`` option, else the usual search)."""
    from spicerack import _runtime  # noqa: PLC0415 - only when completing

    config_file = None
    for index, word in enumerate(words):
        if word in ("-c", "--config-file") and index + 1 < len(words):
            config_file = words[index + 1]
        elif word.startswith("--config-file="):
            config_file = word.split("=", 1)[1]
        elif word.startswith("-c") and len(word) > 2:
            config_file = word[2:]
    return _runtime.load_config(config_file, for_run=False).config


def _activate(config: dict[str, Any]) -> list[Path]:
    """Put the trees on ``sys.path`` as the ``cookbook`` command does (the listing cache's key depends on it)."""
    from spicerack import _runtime  # noqa: PLC0415 - only when completing

    return _runtime.activate_config_trees(config)


def cookbook_names(config: dict[str, Any]) -> list[str]:
    """The full names of the cookbooks and groups, from the listing cache (filled as ``cookbook -l`` does)."""
    from spicerack import _listing_cache  # noqa: PLC0415 - only when completing
    from spicerack._listing_cache import ListingCache, cached_listing  # noqa: PLC0415 - only when completing

    base_dirs = _activate(config)
    bypass = os.environ.get(getattr(_listing_cache, "ENV_VARIABLE", ""), "") in ("off", "rebuild")
    for verbose in () if bypass else (False, True):
        recorded = ListingCache(base_dirs, "", verbose).load()
        if recorded is not None:
            return names_in_listing("".join(text for number, text in recorded if number == 1))

    from spicerack import _runtime  # noqa: PLC0415 - only when completing
    from spicerack._collection import CookbookCollection  # noqa: PLC0415 - only when completing

    spicerack = _runtime.build_accessor(config, base_dirs, dry_run=False)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        cached_listing(
            base_dirs,
            "",
            False,
            lambda: CookbookCollection(base_dirs=base_dirs, args=[], spicerack=spicerack).menu.get_tree(),
        )
    return names_in_listing(output.getvalue())


def recent_run_ids(config: dict[str, Any], limit: int = 50) -> list[str]:
    """The run IDs of the most recent runs of the journal, the most recent first."""
    from spicerack import _config, _journal  # noqa: PLC0415 - only when completing

    path = _config.logs_base_dir(config) / _journal.JOURNAL_FILE_NAME
    entries, _ = _journal.read_history(path, _journal.HistoryQuery(limit=limit))
    return [str(entry["run_id"]) for entry in reversed(entries) if entry.get("run_id")]


def names_in_listing(listing: str) -> list[str]:
    """The full names in the text of a ``cookbook -l`` (or ``-l -v``) listing."""
    return [match.group(1) for match in map(_TREE_LINE.match, listing.splitlines()) if match]


def cookbook_parser_of(name: str, config: dict[str, Any]) -> argparse.ArgumentParser | None:
    """The argument parser of the named cookbook, importing only its module; None for a group or unknown name."""
    import importlib  # noqa: PLC0415 - only when completing

    from spicerack import _runtime, cookbook  # noqa: PLC0415 - only when completing
    from spicerack._collection import cookbook_path_type  # noqa: PLC0415 - only when completing

    base_dirs = _activate(config)
    dotted = cookbook_path_type(name)
    candidates = [(dotted, "")]
    if "." in dotted:
        module_name, _, class_name = dotted.rpartition(".")
        candidates.append((module_name, class_name))
    for module_name, class_name in candidates:
        try:
            module = importlib.import_module(f"cookbooks.{module_name}")
        except Exception:  # noqa: S112 - not this one, or broken: nothing to offer
            continue
        if hasattr(module, "__path__"):
            return None  # a group: its arguments go to its menu
        classes = [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and cookbook.CookbookBase in value.__mro__
            and value.__module__ == module.__name__
        ]
        if class_name:  # module.Class names only the cookbooks of a module with several of them
            classes = [value for value in classes if value.__name__ == class_name] if len(classes) > 1 else []
            if not classes:
                continue
        if len(classes) > 1:
            return None  # several cookbooks in one module: each is named module.Class
        if classes:
            spicerack = _runtime.build_accessor(config, base_dirs, dry_run=True, locks=False)
            parser: argparse.ArgumentParser = classes[0](spicerack).argument_parser()
            return parser
        if class_name:
            continue
        module_parser = getattr(module, "argument_parser", None)
        return module_parser() if callable(module_parser) else argparse.ArgumentParser()
    return None


def _quietly(produce: Any) -> Any:
    """Call ``produce()`` with its prints and logs kept off the terminal; None if it fails whatever the error."""
    with _silenced():
        try:
            return produce()
        except BaseException:  # completion must never print a traceback at the operator's prompt
            return None


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield
