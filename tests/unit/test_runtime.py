"""The run layer (spicerack._runtime): each step a run takes, on real files and a real cookbook tree."""

import logging
import sys
import textwrap
from pathlib import Path

import pytest

from spicerack import Spicerack, _collection, _hooks, _runtime, cookbook

HELLO = '''
"""Say hello."""
from spicerack.cookbook import CookbookBase, CookbookRunnerBase


class Runner(CookbookRunnerBase):
    max_concurrency = 2

    def run(self):
        return 7


class Hello(CookbookBase):
    """Say hello."""

    def get_runner(self, args):
        return Runner()
'''


def _cookbooks_modules() -> dict[str, object]:
    return {name: module for name, module in sys.modules.items() if name.split(".")[0] == "cookbooks"}


@pytest.fixture(autouse=True)
def _restore_trees(monkeypatch):
    """Each test leaves sys.path, the active trees and the imported cookbooks as it found them."""
    monkeypatch.setattr("sys.path", list(sys.path))
    monkeypatch.setattr(_collection, "_active_base_dirs", list(_collection._active_base_dirs))
    imported = _cookbooks_modules()
    yield
    for name in _cookbooks_modules():
        del sys.modules[name]
    sys.modules.update(imported)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A tree with one group and one cookbook: grp.hello, whose run returns 7."""
    base = tmp_path / "tree"
    (base / "cookbooks" / "grp").mkdir(parents=True)
    (base / "cookbooks" / "__init__.py").write_text("", encoding="utf-8")
    (base / "cookbooks" / "grp" / "__init__.py").write_text('"""The group."""\n', encoding="utf-8")
    (base / "cookbooks" / "grp" / "hello.py").write_text(textwrap.dedent(HELLO), encoding="utf-8")
    return base


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


class TestLoadConfig:
    def test_a_named_file_that_is_missing_is_an_error_naming_it(self, tmp_path):
        with pytest.raises(_runtime.RunError, match=r"Unable to load the configuration file .*missing\.yaml") as e:
            _runtime.load_config(str(tmp_path / "missing.yaml"))
        assert e.value.exit_code == 1
        assert not e.value.logged

    def test_a_file_that_is_not_a_mapping_is_an_error(self, tmp_path):
        with pytest.raises(_runtime.RunError, match="must be a YAML mapping"):
            _runtime.load_config(write(tmp_path / "c.yaml", "- a\n- b\n"))

    def test_a_run_needs_logs_base_dir_a_listing_does_not(self, tmp_path, tree):
        path = write(tmp_path / "c.yaml", f"cookbooks_base_dirs: [{tree}]\n")
        with pytest.raises(_runtime.RunError, match="logs_base_dir"):
            _runtime.load_config(path, for_run=True)
        loaded = _runtime.load_config(path, for_run=False)
        assert loaded.path == path
        assert loaded.config == {"cookbooks_base_dirs": [str(tree)]}

    def test_the_loader_given_reads_the_file(self, tmp_path):
        path = str(tmp_path / "anything")
        loaded = _runtime.load_config(path, loader=lambda name: {"cookbooks_base_dirs": [name]}, for_run=False)
        assert loaded.config == {"cookbooks_base_dirs": [path]}

    def test_an_empty_file_is_an_empty_configuration(self, tmp_path):
        assert _runtime.read_yaml_file(write(tmp_path / "c.yaml", "")) == {}


class TestTreesAndAccessor:
    def test_trees_go_first_on_sys_path(self, tree, monkeypatch):
        monkeypatch.setattr("sys.path", ["/elsewhere"])
        assert _runtime.activate_config_trees({"cookbooks_base_dirs": [str(tree)]}) == [tree]
        assert sys.path == [str(tree), "/elsewhere"]

    def test_no_tree_is_an_error(self):
        with pytest.raises(_runtime.RunError):
            _runtime.activate_config_trees({"cookbooks_base_dirs": []})

    def test_the_accessor_gets_the_run_settings_and_hooks(self, tree):
        hooks = _hooks.RunHooks()
        accessor = _runtime.build_accessor({}, [tree], verbose=True, dry_run=False, hooks=hooks)
        assert isinstance(accessor, Spicerack)
        assert accessor.verbose is True
        assert accessor.dry_run is False
        assert accessor._run_hooks is hooks

    def test_an_unknown_instance_param_is_one_line(self, tree):
        with pytest.raises(_runtime.RunError, match="Unable to instantiate Spicerack, check your configuration"):
            _runtime.build_accessor({"instance_params": {"no_such_param": 1}}, [tree])

    def test_an_extender_class_that_does_not_import_is_one_line(self, tree):
        config = {"instance_params": {"extender_class": "no.such.module.Extender"}}
        with pytest.raises(_runtime.RunError, match=r"Failed to import the extender_class no\.such\.module\.Extender"):
            _runtime.build_accessor(config, [tree])


class TestFindAndRun:
    def accessor(self, tree: Path) -> Spicerack:
        _runtime.activate_config_trees({"cookbooks_base_dirs": [str(tree)]})
        return _runtime.build_accessor({}, [tree])

    def test_the_item_found_runs_and_its_outcome_is_the_exit_code(self, tree):
        collection = _runtime.collect([tree], self.accessor(tree), path_filter="grp.hello")
        item = _runtime.find_item(collection, "grp.hello")
        assert item.full_name == "grp.hello"
        assert _runtime.run_item(item) == 7

    def test_a_name_that_names_nothing_is_exit_98_and_lists_what_exists(self, tree):
        collection = _runtime.collect([tree], self.accessor(tree), path_filter="grp.nothing")
        with pytest.raises(_runtime.NotFoundError) as e:
            _runtime.find_item(collection, "grp.nothing")
        assert str(e.value) == "Unable to find cookbook grp.nothing"
        assert e.value.exit_code == cookbook.NOT_FOUND_RETCODE
        assert e.value.logged
        assert sorted(e.value.known()) == ["grp", "grp.hello"]

    def test_trees_without_cookbooks_package_are_exit_98(self, tmp_path, monkeypatch):
        empty = tmp_path / "empty"
        empty.mkdir()
        other_trees = [path for path in sys.path if not path or (Path(path) / "cookbooks").is_dir()]
        monkeypatch.setattr("sys.path", [path for path in sys.path if path not in other_trees])
        _runtime.activate_config_trees({"cookbooks_base_dirs": [str(empty)]})
        with pytest.raises(_runtime.RunError) as e:
            _runtime.collect([empty], _runtime.build_accessor({}, [empty]))
        assert e.value.exit_code == cookbook.NOT_FOUND_RETCODE


class TestLocksOff:
    @pytest.mark.parametrize(
        "config, off",
        [
            ({}, True),
            ({"instance_params": {}}, True),
            ({"instance_params": {"etcd_config": None}}, False),  # null: local locks
            ({"instance_params": {"etcd_config": "/etc/etcd.conf"}}, False),
        ],
    )
    def test_locks_are_off_only_without_etcd_config(self, config, off):
        assert _runtime.locks_off(config) is off

    def test_a_runner_limiting_concurrency_is_warned_about_once(self, caplog):
        hooks = _runtime.LocksOffWarning("/srv/config.yaml")
        limited = type("Limited", (), {"max_concurrency": 2})()
        with caplog.at_level(logging.WARNING, logger="spicerack._cookbook"):
            assert hooks.runner(limited, "grp.hello") is limited
            hooks.runner(limited, "grp.hello")
        assert [record.getMessage() for record in caplog.records] == [
            "Distributed locks are off: no etcd_config in /srv/config.yaml, the limit of 2 concurrent runs of "
            "grp.hello is not kept"
        ]

    def test_a_runner_with_the_default_limit_is_not_warned_about(self, caplog):
        hooks = _runtime.LocksOffWarning(None)
        default = type("Default", (), {"max_concurrency": cookbook.CookbookRunnerBase.max_concurrency})()
        with caplog.at_level(logging.WARNING, logger="spicerack._cookbook"):
            hooks.runner(default, "grp.hello")
        assert caplog.records == []


class TestRunSettings:
    @pytest.mark.parametrize("port", [None, "abc", True, 0, 70000])
    def test_an_irc_relay_without_a_usable_port_is_an_error(self, port):
        with pytest.raises(_runtime.RunError, match="tcpircbot_port"):
            _runtime.check_run_settings({"tcpircbot_host": "localhost", "tcpircbot_port": port})

    def test_an_unreadable_etcd_config_is_an_error_only_with_locks(self, tmp_path):
        config = {"instance_params": {"etcd_config": str(tmp_path / "missing.conf")}}
        with pytest.raises(_runtime.RunError, match=r"instance_params\.etcd_config"):
            _runtime.check_run_settings(config)
        _runtime.check_run_settings(config, locks=False)

    def test_the_settings_lines_are_debug_and_for_the_files_only(self, caplog):
        loaded = _runtime.LoadedConfig({}, "/srv/config.yaml")
        with caplog.at_level(logging.DEBUG, logger="spicerack._cookbook"):
            _runtime.log_settings(loaded)
        assert [(record.levelno, record.getMessage()) for record in caplog.records] == [
            (logging.DEBUG, "Configuration file: /srv/config.yaml"),
            (logging.DEBUG, "Distributed locks are off: no etcd_config in /srv/config.yaml"),
        ]
        assert all(getattr(record, "spicerack_file_only", False) for record in caplog.records)
