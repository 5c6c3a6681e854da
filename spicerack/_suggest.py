"""Hints for a cookbook name that names nothing: the nearest names, the name a file path meant, misplaced options.

What these functions return is printed on stderr after the error line the reference prints, which stays as it is.
Pure functions: the caller gives the names of the listing and the trees.
"""

import difflib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

MAX_SUGGESTIONS = 3
"""How many names a hint offers at most."""
_CUTOFF = 0.75
_LEAF_CUTOFF = 0.8


def nearest_names(name: str, known: Iterable[str]) -> list[str]:
    """Return the known names that the mistyped ``name`` most likely meant, best first.

    The names whose last part is ``name`` come first (``greet`` → ``ops.greet``), then the close matches of the
    whole name and of its last part.
    """
    names = sorted(set(known))
    if not name or not names:
        return []
    leaf = name.rsplit(".", 1)[-1]
    same_leaf = [candidate for candidate in names if candidate.rsplit(".", 1)[-1] == name]
    whole = difflib.get_close_matches(name, names, n=MAX_SUGGESTIONS, cutoff=_CUTOFF)
    leaves = {candidate.rsplit(".", 1)[-1]: candidate for candidate in names}
    by_leaf = [
        leaves[match] for match in difflib.get_close_matches(leaf, list(leaves), n=MAX_SUGGESTIONS, cutoff=_LEAF_CUTOFF)
    ]
    suggestions: list[str] = []
    for candidate in (*same_leaf, *whole, *([] if same_leaf or whole else by_leaf)):
        if candidate != name and candidate not in suggestions:
            suggestions.append(candidate)
    return suggestions[:MAX_SUGGESTIONS]


def looks_like_path(typed: str) -> bool:
    """Whether a COOKBOOK argument was typed as a file path rather than a dotted name."""
    return "/" in typed or typed.endswith(".py") or typed.startswith(".")


def name_of_path(typed: str, base_dirs: Sequence[Path], cwd: Path | None = None) -> str | None:
    """Return the dotted cookbook name a path-like COOKBOOK argument meant, if one can be told.

    ``cookbooks/ops/greet.py``, ``./ops/greet.py``, ``ops/greet`` and an absolute path inside a tree's
    ``cookbooks/`` all mean ``ops.greet``.
    """
    path = typed[:-3] if typed.endswith(".py") else typed
    path = path.rstrip("/")
    if not path:
        return None
    candidate = Path(path)
    absolute = candidate if candidate.is_absolute() else (cwd or Path.cwd()) / candidate
    for base_dir in base_dirs:
        root = Path(base_dir) / "cookbooks"
        relative = _relative_to(Path(os.path.normpath(absolute)), Path(os.path.normpath(root)))
        if relative is not None:
            return _dotted(relative.parts)
    if candidate.is_absolute():
        return None
    parts = [part for part in candidate.parts if part not in (".", "")]
    if parts and parts[0] == "cookbooks":
        parts = parts[1:]
    if any(part == ".." for part in parts):
        return None
    return _dotted(parts)


def _relative_to(path: Path, root: Path) -> Path | None:
    try:
        return path.relative_to(root)
    except ValueError:
        return None


def _dotted(parts: Sequence[str]) -> str | None:
    return ".".join(parts) if parts else None


def not_found_hints(typed: str, known: Iterable[str], base_dirs: Sequence[Path], cwd: Path | None = None) -> list[str]:
    """The lines to print after ``Unable to find cookbook NAME``.

    Arguments:
        typed: the COOKBOOK argument as the operator typed it.
        known: the full names of the cookbooks and groups of the trees.
        base_dirs: the trees' base directories, to read absolute paths.
        cwd: the directory relative paths are read from (the current one by default).

    """
    names = set(known)
    if looks_like_path(typed):
        meant = name_of_path(typed, base_dirs, cwd)
        line = "Cookbook names are dotted and relative to the cookbooks/ directory of the tree, not file paths"
        if meant is not None and meant in names:
            return [f"{line}: did you mean {meant}?"]
        suggestions = nearest_names(meant, names) if meant else []
        return [line + (f": did you mean {_either(suggestions)}?" if suggestions else "")]
    suggestions = nearest_names(typed, names)
    return [f"Did you mean {_either(suggestions)}?"] if suggestions else []


def _either(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def misplaced_global_options(unrecognized: Sequence[str], global_options: Iterable[str]) -> list[str]:
    """The options among a cookbook's unrecognized arguments that are ``cookbook``'s own (``ops.greet -d``)."""
    known = set(global_options)
    return [arg for arg in unrecognized if arg.partition("=")[0] in known]


def misplaced_hint(options: Sequence[str]) -> str:
    """The line that says where the misplaced global options go."""
    return f"{' '.join(options)}: the options of cookbook itself go before COOKBOOK (e.g. cookbook -d NAME ARGS)"
