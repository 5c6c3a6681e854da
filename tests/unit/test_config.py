"""Unit tests of the runner configuration: which file is read, the base directories, the embedded default."""

from pathlib import Path

import pytest

from spicerack import _config
from spicerack._config import ConfigError


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.delenv(_config.ENV_CONFIG_FILE, raising=False)


def test_explicit_file_comes_first_and_must_exist(monkeypatch):
    monkeypatch.setenv(_config.ENV_CONFIG_FILE, "/from/env.yaml")
    assert _config.find_config_file("/explicit.yaml") == ("/explicit.yaml", False)


def test_environment_then_user_file_then_system_file(tmp_path, monkeypatch):
    assert _config.find_config_file(None) == (_config.SYSTEM_CONFIG_FILE, True)
    user_file = tmp_path / "home" / ".config" / "spicerack" / "config.yaml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text("{}")
    assert _config.find_config_file(None) == (str(user_file), False)
    monkeypatch.setenv(_config.ENV_CONFIG_FILE, "/from/env.yaml")
    assert _config.find_config_file(None) == ("/from/env.yaml", False)


def test_base_dirs_are_expanded_and_the_singular_key_is_accepted():
    assert _config.base_dirs({"cookbooks_base_dirs": ["~/a", "/b"]}) == [Path.home() / "a", Path("/b")]
    assert _config.base_dirs({"cookbooks_base_dir": "/c"}) == [Path("/c")]
    assert _config.base_dirs({"cookbooks_base_dirs": []}) == []
    with pytest.raises(ConfigError, match="cookbooks_base_dirs"):
        _config.base_dirs({})


def test_logs_base_dir_is_required_only_when_asked():
    assert _config.logs_base_dir({"logs_base_dir": "~/logs"}) == Path.home() / "logs"
    with pytest.raises(ConfigError, match="logs_base_dir"):
        _config.logs_base_dir({})


def test_embedded_default_points_to_the_bundled_tree_and_user_dirs(tmp_path):
    config = _config.embedded_default()
    (base,) = _config.base_dirs(config)
    assert (base / "cookbooks" / "examples").is_dir()
    assert _config.logs_base_dir(config) == tmp_path / "home" / ".local" / "state" / "spicerack" / "logs"
    assert Path(config["instance_params"]["cumin_config"]).is_file()
