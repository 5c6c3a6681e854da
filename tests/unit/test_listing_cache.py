"""The listing cache: warm listings identical to real imports, and never stale."""

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spicerack import Spicerack, _cookbook
from spicerack._listing_cache import ListedCookbook, ListingCache, scan_trees
from spicerack._menu import CookbookItem, MenuError

FIXTURES = Path(__file__).parent.parent / "fixtures"
FIXTURE_TREES = [FIXTURES / "cli_tree", FIXTURES / "cli_tree2"]


@pytest.fixture(autouse=True)
def _forget_trees():
    yield
    _cookbook._activate_trees([])


def fresh_collection(base_dirs: list[Path]) -> _cookbook.CookbookCollection:
    _cookbook._activate_trees([])  # forget the modules a previous listing imported, as a new process would
    return _cookbook.CookbookCollection(base_dirs, Spicerack(dry_run=True))


def reference_listing(base_dirs: list[Path], prefix: str = "", verbose: bool = False) -> tuple[str, list[str], int]:
    """The listing from real imports, the errors, and how many cookbooks it has."""
    collection = fresh_collection(base_dirs)
    root = collection.collect(prefix)
    cookbooks = sum(isinstance(item, CookbookItem) for item in root.walk())
    return root.get_tree(verbose=verbose), collection.errors, cookbooks


def cached_listing(
    base_dirs: list[Path], cache_dir: Path, prefix: str = "", verbose: bool = False
) -> tuple[str, list[str], int]:
    """The listing through the cache, the errors, and how many cookbooks came from the cache."""
    collection = fresh_collection(base_dirs)
    root = collection.collect_listing(prefix, cache_dir=cache_dir)
    from_cache = sum(isinstance(item, ListedCookbook) for item in root.walk())
    return root.get_tree(verbose=verbose), collection.errors, from_cache


def write(path: Path, source: str) -> None:
    """Write a file and move its modification time on, so that an edit is seen even within one clock tick."""
    previous = path.stat().st_mtime_ns if path.exists() else 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    mtime = max(previous + 1_000_000_000, path.stat().st_mtime_ns)
    os.utime(path, ns=(mtime, mtime))


def module_cookbook(title: str, extra: str = "") -> str:
    return f'{extra}\n__title__ = "{title}"\n\ndef run(args, spicerack):\n    return 0\n'


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    base = tmp_path / "tree"
    write(base / "cookbooks" / "grp" / "__init__.py", '__title__ = "The group"\n__owner_team__ = "team-a"\n')
    for name in ("one", "two", "three"):
        write(base / "cookbooks" / "grp" / f"{name}.py", module_cookbook(f"Cookbook {name}"))
    write(base / "cookbooks" / "top.py", module_cookbook("Top level"))
    return base


def test_scan_follows_the_listing_rules(tmp_path):
    cookbooks = tmp_path / "cookbooks"
    for relative in (
        "a/b.py",
        "a/__init__.py",
        "a/_helper.py",
        "a/__pycache__/b.py",
        "a/_private/c.py",
        "a/.hidden/d.py",
        "a/notes.txt",
        "e.py",
    ):
        write(cookbooks / relative, "")
    (cookbooks / "linked").symlink_to(cookbooks / "a", target_is_directory=True)
    files = scan_trees([tmp_path])
    assert sorted(files.modules) == ["cookbooks.a.b", "cookbooks.e"]
    assert [Path(path).name for path, _, _ in files.support] == ["__init__.py", "_helper.py"]
    path, mtime, size = files.modules["cookbooks.e"][0]
    assert (mtime, size) == (os.stat(path).st_mtime_ns, 0)


def test_scan_finds_the_modules_the_collection_lists():
    collection = _cookbook.CookbookCollection(FIXTURE_TREES, Spicerack(dry_run=True))
    assert sorted(scan_trees(FIXTURE_TREES).modules) == collection._module_names()


@pytest.mark.parametrize(("prefix", "verbose"), [("", False), ("", True), ("group1", True), ("gro", False)])
def test_cold_and_warm_listings_are_identical_to_real_imports(tmp_path, prefix, verbose):
    expected_tree, expected_errors, cookbooks = reference_listing(FIXTURE_TREES, prefix, verbose)
    assert expected_errors, "the fixture trees have broken modules: their errors must be replayed too"
    assert cached_listing(FIXTURE_TREES, tmp_path, prefix, verbose) == (expected_tree, expected_errors, 0)
    assert cached_listing(FIXTURE_TREES, tmp_path, prefix, verbose) == (expected_tree, expected_errors, cookbooks)


@pytest.mark.parametrize(("prefix", "verbose"), [("", False), ("", True), ("group1", True)])
def test_the_printed_listing_is_reused_only_while_nothing_changed(tmp_path, prefix, verbose):
    expected_tree, expected_errors, _ = reference_listing(FIXTURE_TREES, prefix, verbose)
    for _ in range(3):  # cold, from the records, from the stored text
        collection = fresh_collection(FIXTURE_TREES)
        assert collection.listing(prefix, verbose, cache_dir=tmp_path) == expected_tree
        assert collection.errors == expected_errors
    cache = ListingCache(FIXTURE_TREES, scan_trees(FIXTURE_TREES), tmp_path)
    modules = _cookbook._selected_modules(cache.files.modules, prefix)
    assert cache.get_listing(prefix, verbose, modules) == (expected_tree, expected_errors)
    assert cache.get_listing(prefix, verbose, modules[1:]) is None


def test_the_printed_listing_follows_edits_additions_and_removals(tree, tmp_path):
    for title in ("First title", "Second title"):
        write(tree / "cookbooks" / "grp" / "one.py", module_cookbook(title))
        for verbose in (True, False, False):  # the verbose listing records the edit, the others must follow
            assert f"grp.one: {title}" in fresh_collection([tree]).listing(verbose=verbose, cache_dir=tmp_path)
    write(tree / "cookbooks" / "grp" / "four.py", module_cookbook("Cookbook four"))
    assert "grp.four: Cookbook four" in fresh_collection([tree]).listing(cache_dir=tmp_path)
    (tree / "cookbooks" / "grp" / "four.py").unlink()
    for prefix in ("", "grp"):
        assert fresh_collection([tree]).listing(prefix, cache_dir=tmp_path) == reference_listing([tree], prefix)[0]


def test_a_filtered_listing_fills_the_cache_for_its_part_only(tmp_path):
    cached_listing(FIXTURE_TREES, tmp_path, "group2")
    tree, errors, from_cache = cached_listing(FIXTURE_TREES, tmp_path)
    assert (tree, errors) == reference_listing(FIXTURE_TREES)[:2]
    assert from_cache == 1  # group2.sub.deep


def test_an_edited_cookbook_is_imported_again_the_others_are_not(tree, tmp_path):
    cached_listing([tree], tmp_path)
    write(tree / "cookbooks" / "grp" / "two.py", module_cookbook("Cookbook two, new title"))
    listing, _, from_cache = cached_listing([tree], tmp_path)
    assert "grp.two: Cookbook two, new title" in listing
    assert from_cache == 3
    assert cached_listing([tree], tmp_path)[2] == 4


def test_new_and_removed_cookbooks_are_seen(tree, tmp_path):
    cached_listing([tree], tmp_path)
    write(tree / "cookbooks" / "grp" / "four.py", module_cookbook("Cookbook four"))
    (tree / "cookbooks" / "grp" / "one.py").unlink()
    listing, _, _ = cached_listing([tree], tmp_path)
    assert "grp.four: Cookbook four" in listing
    assert "grp.one" not in listing
    cache = ListingCache([tree], scan_trees([tree]), tmp_path)
    assert sorted(cache.records) == ["cookbooks.grp.four", "cookbooks.grp.three", "cookbooks.grp.two", "cookbooks.top"]


def test_a_module_failing_to_import_is_reported_from_the_cache_until_fixed(tree, tmp_path):
    broken = tree / "cookbooks" / "grp" / "two.py"
    write(broken, module_cookbook("Broken", "import module_that_does_not_exist_anywhere"))
    for _ in range(2):
        listing, errors, _ = cached_listing([tree], tmp_path)
        assert "grp.two" not in listing
        assert errors == [
            "Failed to import module cookbooks.grp.two: ModuleNotFoundError: No module named "
            "'module_that_does_not_exist_anywhere'"
        ]
    write(broken, module_cookbook("Fixed"))
    listing, errors, _ = cached_listing([tree], tmp_path)
    assert "grp.two: Fixed" in listing
    assert errors == []


def test_a_changed_package_init_reloads_everything(tree, tmp_path):
    cached_listing([tree], tmp_path)
    write(tree / "cookbooks" / "grp" / "__init__.py", '__title__ = "Renamed group"\n__owner_team__ = "team-b"\n')
    listing, _, from_cache = cached_listing([tree], tmp_path, verbose=True)
    assert "grp: Renamed group (owner: team-b)" in listing
    assert "grp.one: Cookbook one (owner: team-b)" in listing
    assert from_cache == 0


def test_a_module_importing_a_sibling_follows_the_sibling(tree, tmp_path):
    write(tree / "cookbooks" / "grp" / "one.py", module_cookbook("ignored", "from cookbooks.grp import two"))
    with (tree / "cookbooks" / "grp" / "one.py").open("a") as source:
        source.write('__title__ = "After " + two.__title__\n')
    cached_listing([tree], tmp_path)
    write(tree / "cookbooks" / "grp" / "two.py", module_cookbook("Second version"))
    listing, _, _ = cached_listing([tree], tmp_path)
    assert "grp.one: After Second version" in listing


def test_a_changed_dependency_outside_the_trees_reloads_everything(tree, tmp_path, monkeypatch):
    library = tmp_path / "library"
    write(library / "listing_cache_helper_lib.py", 'TITLE = "Library title"\n')
    monkeypatch.syspath_prepend(str(library))
    write(
        tree / "cookbooks" / "grp" / "one.py",
        "from listing_cache_helper_lib import TITLE as __title__\n\ndef run(args, spicerack):\n    return 0\n",
    )
    try:
        assert "grp.one: Library title" in cached_listing([tree], tmp_path)[0]
        write(library / "listing_cache_helper_lib.py", 'TITLE = "New library title"\n')
        del sys.modules["listing_cache_helper_lib"]
        assert "grp.one: New library title" in cached_listing([tree], tmp_path)[0]
    finally:
        sys.modules.pop("listing_cache_helper_lib", None)


def test_a_module_appearing_on_sys_path_reloads_everything(tree, tmp_path, monkeypatch):
    library = tmp_path / "library"
    library.mkdir()
    monkeypatch.syspath_prepend(str(library))
    write(tree / "cookbooks" / "grp" / "one.py", module_cookbook("Needs a library", "import listing_cache_new_lib"))
    try:
        assert "grp.one" not in cached_listing([tree], tmp_path)[0]
        write(library / "listing_cache_new_lib.py", "")
        mtime = library.stat().st_mtime_ns + 1_000_000_000
        os.utime(library, ns=(mtime, mtime))
        importlib.invalidate_caches()
        listing, errors, _ = cached_listing([tree], tmp_path)
        assert "grp.one: Needs a library" in listing
        assert errors == []
    finally:
        sys.modules.pop("listing_cache_new_lib", None)


def test_a_corrupt_cache_file_is_ignored_and_replaced(tree, tmp_path):
    cache_dir = tmp_path / "cache"
    expected = cached_listing([tree], cache_dir)[0]
    (cache_file,) = cache_dir.iterdir()
    cache_file.write_bytes(b"\x00garbage")
    assert cached_listing([tree], cache_dir) == (expected, [], 0)
    assert cached_listing([tree], cache_dir) == (expected, [], 4)


def test_an_unwritable_cache_directory_only_costs_the_imports(tree, tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    expected = cached_listing([tree], tmp_path / "cache")[0]
    for _ in range(2):
        assert cached_listing([tree], not_a_directory) == (expected, [], 0)


def test_saving_leaves_one_file_and_no_temporary_ones(tree, tmp_path):
    cache_dir = tmp_path / "cache"
    for _ in range(3):
        cached_listing([tree], cache_dir)
    write(tree / "cookbooks" / "top.py", module_cookbook("Top level, edited"))
    cached_listing([tree], cache_dir)
    assert [path.suffix for path in cache_dir.iterdir()] == [".marshal"]


def test_a_listed_cookbook_cannot_be_run(tree, tmp_path):
    cached_listing([tree], tmp_path)
    collection = fresh_collection([tree])
    item = collection.collect_listing("", cache_dir=tmp_path).items["top"]
    assert isinstance(item, ListedCookbook)
    with pytest.raises(MenuError, match="listing only"):
        item.run()


def test_concurrent_listings_all_print_the_same_tree(tree, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"cookbooks_base_dirs: [{tree}]\nlogs_base_dir: {tmp_path / 'logs'}\n")
    environment = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    environment.pop("SPICERACK_CONFIG", None)
    command = [sys.executable, "-m", "spicerack._cookbook", "-c", str(config), "-l"]
    for _ in range(2):  # a cold start with all of them writing, then all of them reading
        processes = [subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, text=True) for _ in range(4)]
        outputs = {process.communicate(timeout=60)[0] for process in processes}
        assert [process.returncode for process in processes] == [0] * 4
        assert len(outputs) == 1
        assert "grp.three: Cookbook three" in outputs.pop()


def test_the_cache_is_per_user_under_xdg_cache_home(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = ListingCache([tree], scan_trees([tree]))
    assert cache.path.parent == tmp_path / "xdg" / "spicerack"
