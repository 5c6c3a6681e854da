"""The listing cache: what ``cookbook -l`` learnt by importing each cookbook module, kept for the next listings.

A listing has to import every module of the tree to read the titles, which costs far more than the listing
itself. The outcome of each import (the cookbooks it defines with their titles, owners and descriptions, or the
errors it reported) is stored in a per-user file (``$XDG_CACHE_HOME/spicerack``, in :py:mod:`marshal` format like
Python's own bytecode cache). A later listing reuses an outcome only while nothing it may depend on has changed:

* the module's own file (path, modification time in nanoseconds and size);
* every other file of the trees (packages' ``__init__.py``, private ``_*.py`` helpers);
* every non-standard-library module loaded by the process that recorded the outcomes (Spicerack itself,
  wmflib, cumin, ``external_modules_dir`` modules...), the directories of their packages and the ``sys.path``
  directories (a new module or package appearing there can change an import's outcome);
* the interpreter and ``sys.path``;
* for a module that imports other modules of the trees (``cookbooks...``, relative imports, dynamic imports), all
  the files of the trees.

Anything else is imported again and its outcome stored. The last few printed listings are kept too, and printed
again while all their modules keep a valid outcome. The file is replaced atomically, so concurrent runs never read
a partial cache; a cache that can't be read or written is ignored.
"""

import contextlib
import marshal
import os
import re
import sys
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from spicerack._menu import BaseItem, CookbookItem, MenuError

if TYPE_CHECKING:
    from spicerack import Spicerack

FORMAT_VERSION = 3
MAX_LISTINGS = 4
"""How many rendered listings (by prefix and verbosity) are kept."""
COOKBOOKS_PACKAGE = "cookbooks"
FileStat = tuple[str, int, int]
"""A file's path, modification time (ns) and size."""
_TREE_IMPORT = re.compile(
    rf"^\s*(from\s+(\.|{COOKBOOKS_PACKAGE}\b)|import\s+{COOKBOOKS_PACKAGE}\b)|import_module|__import__|run_path",
    re.MULTILINE,
)


@dataclass
class TreeFiles:
    """The Python files of the cookbook trees: cookbook modules by dotted name, and all the others."""

    modules: dict[str, list[FileStat]] = field(default_factory=dict)
    support: list[FileStat] = field(default_factory=list)

    def digest(self) -> bytes:
        """A hash of every file's stat in the trees, for the outcomes that depend on other modules of the trees."""
        import hashlib  # noqa: PLC0415 - only needed by trees with such modules

        entries = sorted(stat for stats in self.modules.values() for stat in stats)
        return hashlib.blake2b(repr((entries, sorted(self.support))).encode(), digest_size=16).digest()


class ModuleRecord(NamedTuple):
    """The outcome of loading one cookbook module, as the listing needs it."""

    files: list[FileStat]
    grouped: bool
    """Whether its group (all its parent packages) could be imported."""
    items: list[tuple[str, str, str, str, str]]
    """The cookbooks it defines: name, group path, title, owner team and description."""
    errors: list[str]
    """The errors reported while loading it, in order, repeated ones included."""
    tree_digest: bytes | None = None
    """For a module importing other modules of the trees: the checksum of the trees' files when it was loaded."""


def scan_trees(base_dirs: Sequence[Path]) -> TreeFiles:
    """Find every Python file of the ``cookbooks`` trees, with the rules of the listing.

    Directories named ``__pycache__`` or starting with ``.`` or ``_`` are skipped, like symbolic links to
    directories; ``.py`` files not starting with ``_`` or ``.`` are cookbook modules.
    """
    files = TreeFiles()
    for base in base_dirs:
        _scan_dir(str(base / COOKBOOKS_PACKAGE), COOKBOOKS_PACKAGE, files)
    files.support.sort()
    return files


def _scan_dir(directory: str, package: str, files: TreeFiles) -> None:
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if name.endswith(".py") and not entry.is_dir():
            try:
                result = entry.stat()
                stat = (entry.path, result.st_mtime_ns, result.st_size)
            except OSError:  # e.g. a dangling symbolic link: listed, and reported when imported
                stat = (entry.path, -1, -1)
            if name.startswith(("_", ".")):
                files.support.append(stat)
            else:
                files.modules.setdefault(f"{package}.{name[:-3]}", []).append(stat)
        elif entry.is_dir() and not entry.is_symlink() and name != "__pycache__" and not name.startswith((".", "_")):
            _scan_dir(entry.path, f"{package}.{name}", files)


def _stat(path: str) -> FileStat | None:
    try:
        result = os.stat(path)
    except OSError:
        return None
    return (path, result.st_mtime_ns, result.st_size)


def _dir_mtime(path: str) -> int:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return -1


def default_cache_dir() -> Path:
    """The per-user cache directory: ``$XDG_CACHE_HOME/spicerack``, by default ``~/.cache/spicerack``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "spicerack"


def is_tree_dependent(path: str) -> bool:
    """Whether a module's source imports other modules of the trees (or imports dynamically): conservative."""
    try:
        with open(path, encoding="utf-8", errors="replace") as source:
            return _TREE_IMPORT.search(source.read()) is not None
    except OSError:
        return True


class ListingCache:
    """The stored outcomes of the module imports of previous listings, valid for the current files."""

    def __init__(self, base_dirs: Sequence[Path], files: TreeFiles, cache_dir: Path | None = None) -> None:
        """Load the cache of these trees, keeping it only if nothing it depends on has changed."""
        self.files = files
        self.key = {
            "format": FORMAT_VERSION,
            "python": sys.version,
            "executable": sys.executable,
            "base_dirs": [str(base) for base in base_dirs],
            "sys_path": list(sys.path),
        }
        name = f"listing-{zlib.crc32(repr(self.key).encode()):08x}.marshal"
        self.path = (cache_dir or default_cache_dir()) / name
        self.records: dict[str, tuple[Any, ...]] = {}
        """The stored outcomes, as plain tuples of ModuleRecord's fields."""
        self.groups: dict[str, tuple[str, str]] = {}
        self.listings: dict[tuple[str, bool], tuple[list[str], str, list[str]]] = {}
        """The last listings printed from these records, by (prefix, verbose): their modules, text and errors."""
        self.deps: dict[str, FileStat] = {}
        self.dirs: dict[str, int] = {}
        self.changed = False
        self._digest: bytes | None = None
        self._load()

    @property
    def digest(self) -> bytes:
        """The hash of all the files of the trees (computed once)."""
        if self._digest is None:
            self._digest = self.files.digest()
        return self._digest

    def get(self, module_name: str) -> ModuleRecord | None:
        """The stored outcome of a module, if still valid for its current files."""
        values = self.records.get(module_name)
        if values is None or values[0] != self.files.modules.get(module_name):
            return None
        record = ModuleRecord(*values)
        if record.tree_digest is not None and record.tree_digest != self.digest:
            return None
        return record

    def store(self, module_name: str, record: ModuleRecord) -> None:
        """Keep the outcome of a module just loaded."""
        self.records[module_name] = tuple(record)
        self.listings.clear()
        self.changed = True

    def store_group(self, package: str, title: str, owner_team: str) -> None:
        """Keep the title and owner team of a group just created from its package."""
        if self.groups.get(package) != (title, owner_team):
            self.groups[package] = (title, owner_team)
            self.listings.clear()
            self.changed = True

    def get_listing(self, prefix: str, verbose: bool, modules: list[str]) -> tuple[str, list[str]] | None:
        """A listing printed before from these same modules, all with their record still valid: text and errors."""
        listing = self.listings.get((prefix, verbose))
        if listing is None or listing[0] != modules:
            return None
        if any(self.get(module_name) is None for module_name in modules):
            return None
        return listing[1], listing[2]

    def store_listing(self, prefix: str, verbose: bool, modules: list[str], text: str, errors: list[str]) -> None:
        """Keep a listing just printed from the records of these modules (the last few listings only)."""
        self.listings.pop((prefix, verbose), None)
        while len(self.listings) >= MAX_LISTINGS:
            del self.listings[next(iter(self.listings))]
        self.listings[(prefix, verbose)] = (modules, text, errors)
        self.changed = True

    def save(self) -> None:
        """Write the cache if it changed, atomically; failures are ignored (the cache is only an optimisation)."""
        if not self.changed:
            return
        self._add_loaded_modules()
        self.records = {name: values for name, values in self.records.items() if name in self.files.modules}
        data = {
            "key": self.key,
            "support": self.files.support,
            "dirs": self.dirs,
            "deps": self.deps,
            "groups": self.groups,
            "listings": self.listings,
            "modules": self.records,
        }
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as stream:
                stream.write(marshal.dumps(data))
            os.replace(temporary, self.path)
        except (OSError, ValueError):  # ValueError: a title that is not a plain str (unmarshallable)
            _remove_quietly(temporary)
        self.changed = False

    def _load(self) -> None:
        try:
            with open(self.path, "rb") as stream:
                if os.fstat(stream.fileno()).st_uid != os.geteuid():
                    return  # only trust a file written by this user (e.g. not the invoking user's under sudo)
                content = stream.read()  # at once: marshal.load() on a file reads it in tiny pieces
            data = marshal.loads(content)  # noqa: S302 - own private file, as trusted as __pycache__
            if self._is_valid(data):
                self.records, self.groups, self.listings, self.deps, self.dirs = (
                    data["modules"],
                    data["groups"],
                    data["listings"],
                    data["deps"],
                    data["dirs"],
                )
        except (OSError, EOFError, ValueError, TypeError, KeyError, AttributeError):
            pass  # unreadable or from another version: rebuilt from the imports

    def _is_valid(self, data: Any) -> bool:
        """Whether the stored data is for this interpreter and trees, and nothing it depends on has changed."""
        if not isinstance(data, dict) or data.get("key") != self.key or data["support"] != self.files.support:
            return False
        if any(_stat(path) != stat for path, stat in data["deps"].items()):
            return False
        return all(_dir_mtime(path) == mtime for path, mtime in data["dirs"].items())

    def _add_loaded_modules(self) -> None:
        """Add the modules loaded by this process (and their package directories) to what the cache depends on."""
        for path in sys.path:
            self.dirs.setdefault(path, _dir_mtime(path))
        for name, module in list(sys.modules.items()):
            top = name.partition(".")[0]
            if top in sys.stdlib_module_names or top in (COOKBOOKS_PACKAGE, "__main__"):
                continue
            module_file = getattr(module, "__file__", None)
            if isinstance(module_file, str) and module_file not in self.deps:
                stat = _stat(module_file)
                if stat is not None:
                    self.deps[module_file] = stat
            for directory in _package_dirs(module):
                self.dirs.setdefault(directory, _dir_mtime(directory))


def _package_dirs(module: object) -> Iterable[str]:
    paths = getattr(module, "__path__", None)
    try:
        return [path for path in paths if isinstance(path, str)] if paths is not None else []
    except TypeError:
        return []


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


class ListedCookbook(CookbookItem):
    """A cookbook known from the listing cache: what the listing shows, without importing its module."""

    def __init__(self, item: tuple[str, str, str, str, str], args: list[str], spicerack: "Spicerack") -> None:
        """Set up the item from its stored name, group path, title, owner team and description."""
        name, path, self._title, self._owner_team, self._description = item
        BaseItem.__init__(self, name, path, args, spicerack)  # not CookbookItem's: there is no class to instantiate
        self._status = self.not_run

    @property
    def title(self) -> str:
        """The cookbook's title, as stored."""
        return self._title

    @property
    def owner_team(self) -> str:
        """The team owning the cookbook, as stored."""
        return self._owner_team

    @property
    def description(self) -> str:
        """The cookbook's description, as stored."""
        return self._description

    def run(self) -> int:
        """A listed cookbook is only listed: running needs the real module.

        Raises:
            MenuError: always.

        """
        raise MenuError(f"cookbook {self.full_name} was loaded for listing only")


def summarize(item: CookbookItem) -> tuple[str, str, str, str, str]:
    """What the listing shows of a cookbook: name, group path, title, owner team and description."""
    return (item.name, item.path, item.title, item.owner_team, item.description)
