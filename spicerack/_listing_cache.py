"""The listing cache: ``cookbook -l`` prints again what it printed last time, while nothing it depends on changed.

A listing has to import every module of the trees, which costs far more than printing it. The first listing for
given trees, filter and verbosity records everything it wrote (the tree on stdout, and on stderr the import errors
and whatever the modules printed or logged while imported) in a per-user file (``$XDG_CACHE_HOME/spicerack``, in
:py:mod:`marshal` format like Python's own bytecode cache). A later identical listing writes the same bytes without
importing anything, as long as none of these changed:

* the interpreter, ``sys.path``, the base directories, the filter and the verbosity;
* the directories of the trees and every Python file in them (path, modification time in nanoseconds, size);
* every non-standard-library module loaded by the process that recorded the listing (Spicerack, wmflib, cumin,
  ``external_modules_dir`` and ``PYTHONPATH`` modules...), and the directories of their packages and of
  ``sys.path`` (a module appearing there can change what an import does).

Otherwise the modules are imported and the new output recorded. The file is replaced atomically, so concurrent runs
never read a partial cache; a cache that can't be read or written is ignored. Only a regular file owned by the user,
in a directory owned by the user and writable by no one else, is read or written (see :py:meth:`ListingCache.load`).

What the cache cannot see (a module's import reading an environment variable, or another file outside
``sys.path``, or a remote service) is seen at the latest when the recorded listing expires, after
:py:const:`MAX_AGE_SECONDS`. ``SPICERACK_LISTING_CACHE=rebuild`` makes a listing import everything and record it
anew, ``SPICERACK_LISTING_CACHE=off`` makes it import everything without reading or writing the cache.
"""

import contextlib
import io
import marshal
import os
import stat
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from spicerack._paths import user_cache_dir

FORMAT_VERSION = 5
MAX_AGE_SECONDS = 600
MAX_FILE_BYTES = 32 * 1024 * 1024
"""The largest recorded listing read or written, in bytes."""
"""How long a recorded listing is used at most, in seconds."""
ENV_VARIABLE = "SPICERACK_LISTING_CACHE"
"""The environment variable that bypasses the cache (``off``) or rebuilds it (``rebuild``)."""
COOKBOOKS_PACKAGE = "cookbooks"
FileStat = tuple[str, int, int]
"""A file's path, modification time (ns) and size."""


def default_cache_dir() -> Path:
    """The per-user cache directory: ``$XDG_CACHE_HOME/spicerack``, by default ``~/.cache/spicerack``."""
    return user_cache_dir()


def scan_trees(base_dirs: Sequence[Path]) -> tuple[list[str], list[FileStat]]:
    """The directories and the Python files of the ``cookbooks`` trees, as the listing walks them.

    Symbolic links to directories are not followed and ``__pycache__`` directories are skipped, as in the
    collection of the cookbooks.
    """
    dirs: list[str] = []
    files: list[FileStat] = []
    for base in base_dirs:
        _scan_dir(str(base / COOKBOOKS_PACKAGE), dirs, files)
    return dirs, files


def _scan_dir(directory: str, dirs: list[str], files: list[FileStat]) -> None:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError:
        return
    dirs.append(directory)
    for entry in entries:
        if entry.name.endswith(".py") and not entry.is_dir():
            files.append(_stat(entry.path) or (entry.path, -1, -1))
        elif entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
            _scan_dir(entry.path, dirs, files)


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


class _Recorder(io.TextIOBase):
    """A text stream writing to another one and recording what was written, in order with the other streams."""

    def __init__(self, stream: TextIO, number: int, record: list[tuple[int, str]]) -> None:
        self.stream = stream
        self.number = number
        self.record = record

    def write(self, text: str) -> int:
        if self.record and self.record[-1][0] == self.number:
            self.record[-1] = (self.number, self.record[-1][1] + text)
        else:
            self.record.append((self.number, text))
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding


class ListingCache:
    """The recorded output of one listing (trees, filter, verbosity), valid while nothing it depends on changed."""

    def __init__(self, base_dirs: Sequence[Path], prefix: str, verbose: bool, cache_dir: Path | None = None) -> None:
        """Scan the trees and compute where the output of this listing is recorded."""
        self.key = {
            "format": FORMAT_VERSION,
            "python": sys.version,
            "executable": sys.executable,
            "base_dirs": [str(base) for base in base_dirs],
            "sys_path": list(sys.path),
            "prefix": prefix,
            "verbose": verbose,
        }
        self.dirs, self.files = scan_trees(base_dirs)
        name = f"listing-{zlib.crc32(repr(self.key).encode()):08x}.marshal"
        self.path = (cache_dir or default_cache_dir()) / name

    def load(self) -> list[tuple[int, str]] | None:
        """The recorded output of the listing, if still valid: ``(1 for stdout or 2 for stderr, text)`` in order.

        Only a regular file of at most :py:data:`MAX_FILE_BYTES`, owned by this user, in a cache directory that
        only this user can write (see :py:func:`is_private_dir`) is read; anything else is no cache.
        """
        try:
            if not _is_private_cache_dir(self.path.parent):
                return None
            content = _read_private_file(self.path)
            if content is None:
                return None
            data = marshal.loads(content)  # noqa: S302 - own private file, as trusted as __pycache__
            if not self._is_valid(data):
                return None
            return [(int(number), str(text)) for number, text in data["output"]]
        except Exception:  # whatever is wrong with the cache, the listing is made without it
            return None

    def _is_valid(self, data: Any) -> bool:
        if not isinstance(data, dict) or data.get("key") != self.key:
            return False
        if not 0 <= time.time() - data["created"] < MAX_AGE_SECONDS:
            return False
        if data["dirs"] != self.dirs or data["files"] != self.files:
            return False
        if any(_stat(path) != stat for path, stat in data["deps"].items()):
            return False
        return all(_dir_mtime(path) == mtime for path, mtime in data["dep_dirs"].items())

    def save(self, output: list[tuple[int, str]]) -> None:
        """Record the output of the listing just printed, atomically; failures are ignored."""
        deps, dep_dirs = _loaded_modules()
        data = {
            "key": self.key,
            "dirs": self.dirs,
            "files": self.files,
            "deps": deps,
            "dep_dirs": dep_dirs,
            "output": output,
            "created": time.time(),
        }
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            _make_private_dirs(self.path.parent)
            if not _is_private_cache_dir(self.path.parent):
                return
            content = marshal.dumps(data)
            if len(content) > MAX_FILE_BYTES:
                return
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            with open(temporary, "wb", opener=lambda path, _: os.open(path, flags, 0o600)) as stream:
                stream.write(content)
            os.replace(temporary, self.path)
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                temporary.unlink()


def is_private_dir(path: Path) -> bool:
    """Whether a directory (not a symbolic link) is owned by this user and not writable by group or others."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022


def _cache_levels(directory: Path) -> list[Path]:
    """The directory, and its ancestors up to the per-user cache directory when it is inside it, outermost first."""
    root = default_cache_dir()
    if root not in directory.parents:
        return [directory]
    inside = [parent for parent in directory.parents if root in parent.parents]
    return [root, *reversed(inside), directory]


def _is_private_cache_dir(directory: Path) -> bool:
    return all(is_private_dir(level) for level in _cache_levels(directory))


def _make_private_dirs(directory: Path) -> None:
    levels = _cache_levels(directory)
    levels[0].parent.mkdir(parents=True, exist_ok=True)
    for level in levels:
        level.mkdir(mode=0o700, exist_ok=True)


def _read_private_file(path: Path) -> bytes | None:
    """The content of a regular file owned by this user and of at most :py:data:`MAX_FILE_BYTES`, else None.

    Never follows a symbolic link nor waits on a FIFO or a device.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as stream:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_size > MAX_FILE_BYTES:
            return None  # only a file written by this user (e.g. not the invoking user's under sudo)
        content = stream.read(MAX_FILE_BYTES + 1)
    return content if len(content) <= MAX_FILE_BYTES else None


def _loaded_modules() -> tuple[dict[str, FileStat], dict[str, int]]:
    """The files of the non-standard-library modules loaded, and the directories of their packages and sys.path."""
    deps: dict[str, FileStat] = {}
    dirs = {path: _dir_mtime(path) for path in sys.path}
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top in (COOKBOOKS_PACKAGE, "__main__"):
            continue
        module_file = getattr(module, "__file__", None)
        if isinstance(module_file, str) and module_file not in deps:
            stat = _stat(module_file)
            if stat is not None:
                deps[module_file] = stat
        paths = getattr(module, "__path__", None)
        with contextlib.suppress(TypeError):
            for directory in paths or []:
                if isinstance(directory, str):
                    dirs.setdefault(directory, _dir_mtime(directory))
    return deps, dirs


def cached_listing(
    base_dirs: Sequence[Path], prefix: str, verbose: bool, produce: Callable[[], str], cache_dir: Path | None = None
) -> int:
    """Print the listing: the recorded output when still valid, else what ``produce()`` prints and returns.

    Arguments:
        base_dirs: the base directories of the trees.
        prefix: the listing's filter.
        verbose: whether the listing shows the titles.
        produce: imports the modules (they may print or log on stderr) and returns the tree text.
        cache_dir: where to record the listings, the per-user cache directory by default.

    Returns:
        the exit code, 0.

    """
    mode = os.environ.get(ENV_VARIABLE, "")
    cache = ListingCache(base_dirs, prefix, verbose, cache_dir)
    recorded = cache.load() if mode not in ("off", "rebuild") else None
    if recorded is not None:
        for number, text in recorded:
            stream = sys.stdout if number == 1 else sys.stderr
            stream.write(text)
            stream.flush()
        _say_if_nothing_matched(prefix, recorded)
        return 0

    output: list[tuple[int, str]] = []
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Recorder(stdout, 1, output), _Recorder(stderr, 2, output)
    try:
        print(produce(), end="")
    finally:
        sys.stdout, sys.stderr = stdout, stderr
    if mode != "off":
        cache.save(output)
    _say_if_nothing_matched(prefix, output)
    return 0


def _say_if_nothing_matched(prefix: str, output: list[tuple[int, str]]) -> None:
    """Say on stderr that a filter matched nothing (stdout stays empty, as the reference leaves it)."""
    if prefix and not any(number == 1 and text for number, text in output):
        print(f"No cookbook or group matches {prefix}", file=sys.stderr)
