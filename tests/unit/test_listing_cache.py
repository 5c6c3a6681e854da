"""Unit tests of the listing cache: what invalidates a recorded listing, and the recording of stdout/stderr."""

import os
import sys
from pathlib import Path

import pytest

from spicerack import _listing_cache
from spicerack._listing_cache import ListingCache, cached_listing, scan_trees


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    base = tmp_path / "tree"
    (base / "cookbooks" / "grp" / "__pycache__").mkdir(parents=True)
    (base / "cookbooks" / "grp" / "__init__.py").write_text("")
    (base / "cookbooks" / "grp" / "one.py").write_text("x = 1\n")
    (base / "cookbooks" / "grp" / "__pycache__" / "ignored.py").write_text("")
    return base


def produce_with_output(text: str) -> str:
    print("printed while importing")
    print("warned while importing", file=sys.stderr)  # as logging's last-resort handler does
    return text


def test_scan_lists_directories_and_python_files_but_not_pycache(tree):
    dirs, files = scan_trees([tree])
    assert dirs == [str(tree / "cookbooks"), str(tree / "cookbooks" / "grp")]
    assert [Path(path).name for path, _, _ in files] == ["__init__.py", "one.py"]


def test_first_listing_is_recorded_with_its_output_and_replayed(tree, tmp_path, capsys):
    calls = []

    def produce() -> str:
        calls.append(1)
        return produce_with_output("cookbooks\n`-- grp\n")

    assert cached_listing([tree], "", False, produce, cache_dir=tmp_path / "cache") == 0
    first = capsys.readouterr()
    assert first.out == "printed while importing\ncookbooks\n`-- grp\n"
    assert first.err == "warned while importing\n"
    recorded = ListingCache([tree], "", False, tmp_path / "cache").load()
    assert recorded == [(1, "printed while importing\n"), (2, "warned while importing\n"), (1, "cookbooks\n`-- grp\n")]
    cached_listing([tree], "", False, produce, cache_dir=tmp_path / "cache")
    second = capsys.readouterr()
    assert (second.out, second.err) == (first.out, first.err)
    assert calls == [1]


@pytest.mark.parametrize(
    "change",
    (
        lambda tree: (tree / "cookbooks" / "grp" / "one.py").write_text("x = 22\n"),
        lambda tree: (tree / "cookbooks" / "grp" / "two.py").write_text(""),
        lambda tree: (tree / "cookbooks" / "grp" / "_helper.py").write_text(""),
        lambda tree: (tree / "cookbooks" / "new_dir").mkdir(),
    ),
)
def test_a_change_in_the_tree_invalidates_the_record(tree, tmp_path, capsys, change):
    calls = []

    def produce() -> str:
        calls.append(1)
        return "cookbooks\n"

    cached_listing([tree], "", False, produce, cache_dir=tmp_path / "cache")
    change(tree)
    cached_listing([tree], "", False, produce, cache_dir=tmp_path / "cache")
    assert calls == [1, 1]


def test_filter_and_verbosity_have_their_own_records(tree, tmp_path):
    paths = {ListingCache([tree], prefix, verbose, tmp_path).path for prefix in ("", "grp") for verbose in (0, 1)}
    assert len(paths) == 4


def test_a_changed_dependency_invalidates_the_record(tree, tmp_path, monkeypatch):
    library = tmp_path / "lib" / "listing_cache_dep_mod.py"
    library.parent.mkdir()
    library.write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(library.parent))
    __import__("listing_cache_dep_mod")
    try:
        cache = ListingCache([tree], "", False, tmp_path / "cache")
        cache.save([(1, "out"), (2, "err")])
        assert ListingCache([tree], "", False, tmp_path / "cache").load() == [(1, "out"), (2, "err")]
        library.write_text("VALUE = 22\n")
        assert ListingCache([tree], "", False, tmp_path / "cache").load() is None
    finally:
        sys.modules.pop("listing_cache_dep_mod", None)


def test_an_unreadable_or_foreign_cache_is_ignored(tree, tmp_path):
    cache = ListingCache([tree], "", False, tmp_path / "cache")
    cache.path.parent.mkdir(parents=True)
    cache.path.write_bytes(b"not marshal data")
    assert cache.load() is None
    cache.save([(1, "out"), (2, "err")])
    assert cache.load() == [(1, "out"), (2, "err")]


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _listing_cache.default_cache_dir() == tmp_path / "spicerack"


@pytest.fixture
def recorded(tree, tmp_path) -> ListingCache:
    cache = ListingCache([tree], "", False, tmp_path / "cache")
    cache.save([(1, "out")])
    assert cache.load() == [(1, "out")]
    return cache


def test_a_symlink_to_an_endless_device_is_no_cache(recorded):
    recorded.path.unlink()
    recorded.path.symlink_to("/dev/zero")
    assert recorded.load() is None


def test_a_fifo_is_no_cache_and_does_not_block(recorded):
    recorded.path.unlink()
    os.mkfifo(recorded.path)
    assert recorded.load() is None


def test_a_file_over_the_size_cap_is_no_cache(recorded, monkeypatch):
    monkeypatch.setattr(_listing_cache, "MAX_FILE_BYTES", 8)
    assert recorded.load() is None


def test_a_file_of_another_user_is_no_cache(recorded):
    if os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    os.chown(recorded.path, 65534, 65534)
    assert recorded.load() is None


@pytest.mark.parametrize("mode", (0o777, 0o775, 0o757))
def test_a_cache_directory_writable_by_others_is_neither_read_nor_written(tree, tmp_path, mode):
    cache = ListingCache([tree], "", False, tmp_path / "cache")
    cache.save([(1, "out")])
    cache.path.parent.chmod(mode)
    assert cache.load() is None
    cache.path.unlink()
    cache.save([(1, "out")])
    assert not cache.path.exists()


def test_a_cache_directory_of_another_user_is_neither_read_nor_written(tree, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root can give a directory to another user")
    cache = ListingCache([tree], "", False, tmp_path / "cache")
    cache.save([(1, "out")])
    os.chown(cache.path.parent, 65534, 65534)
    assert cache.load() is None
    cache.path.unlink()
    cache.save([(1, "out")])
    assert not cache.path.exists()


def test_a_symlinked_cache_directory_is_ignored(tree, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "cache").symlink_to(tmp_path / "elsewhere")
    cache = ListingCache([tree], "", False, tmp_path / "cache")
    cache.save([(1, "out")])
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert cache.load() is None


def test_a_subdirectory_of_a_foreign_cache_directory_is_neither_read_nor_written(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = _listing_cache.default_cache_dir()
    cache = ListingCache([tree], "", False, root / "json")
    cache.save([(1, "out")])
    assert cache.load() == [(1, "out")]
    root.chmod(0o777)
    assert cache.load() is None
    cache.path.unlink()
    cache.save([(1, "out")])
    assert not cache.path.exists()


def test_cache_directories_are_created_private_whatever_the_umask(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    previous = os.umask(0o002)
    try:
        cache = ListingCache([tree], "", False, _listing_cache.default_cache_dir() / "json")
        cache.save([(1, "out")])
    finally:
        os.umask(previous)
    assert cache.load() == [(1, "out")]
    assert (_listing_cache.default_cache_dir().stat().st_mode & 0o777) == 0o700
