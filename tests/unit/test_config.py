"""Unit tests of the runner configuration: sources, validation and the embedded default."""

from pathlib import Path

import pytest

from spicerack import _config
from spicerack._config import ConfigError, parse_config


@pytest.fixture
def base_dir(tmp_path):
    (tmp_path / "tree" / "cookbooks").mkdir(parents=True)
    return tmp_path / "tree"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.delenv("SPICERACK_CONFIG", raising=False)
    monkeypatch.setattr(_config, "SYSTEM_CONFIG_FILE", str(tmp_path / "etc" / "config.yaml"))


def test_full_config_is_parsed(base_dir, tmp_path):
    config = parse_config(
        {
            "cookbooks_base_dirs": [str(base_dir)],
            "logs_base_dir": "~/logs",
            "tcpircbot_host": "irc.example.org",
            "tcpircbot_port": 1234,
            "user_input_notifications_enabled": True,
            "external_modules_dir": str(tmp_path),
            "instance_params": {"cumin_config": "~/cumin.yaml", "http_proxy": "http://proxy:8080", "etcd_config": ""},
        },
        "file.yaml",
    )
    assert config.cookbooks_base_dirs == [base_dir]
    assert config.logs_base_dir == Path.home() / "logs"
    assert (config.tcpircbot_host, config.tcpircbot_port) == ("irc.example.org", 1234)
    assert config.user_input_notifications_enabled is True
    assert config.external_modules_dir == tmp_path
    assert config.instance_params == {
        "cumin_config": str(Path.home() / "cumin.yaml"),
        "http_proxy": "http://proxy:8080",
        "etcd_config": "",
    }


def test_legacy_single_base_dir_key(base_dir):
    config = parse_config({"cookbooks_base_dir": str(base_dir), "logs_base_dir": "/l"}, "f")
    assert config.cookbooks_base_dirs == [base_dir]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"logs_base_dir": "/l", "cookbooks_base_dirs": []}, "missing required key cookbooks_base_dirs in f"),
        ({"logs_base_dir": "/l", "cookbooks_base_dirs": [1]}, "must be a list of directory paths"),
        ({"cookbooks_base_dirs": ["BASE"], "logs_base_dir": "/l", "tcpircbot_port": True}, "tcpircbot_port in f must"),
        ({"cookbooks_base_dirs": ["BASE"], "logs_base_dir": "/l", "tcpircbot_port": 70000}, "TCP port number"),
        ({"cookbooks_base_dirs": ["BASE"], "logs_base_dir": "/l", "instance_params": []}, "instance_params in f"),
        ({"cookbooks_base_dirs": ["BASE"], "logs_base_dir": "/l", "instance_params": {"dry_run": True}}, "unknown key"),
        ({"cookbooks_base_dirs": ["BASE"], "logs_base_dir": "/l", "instance_params": {"cumin_config": 3}}, "string"),
        ({"cookbooks_base_dirs": ["BASE"], "logs_base_dir": "/l", "external_modules_dir": "/nope"}, "not a directory"),
        ({"cookbooks_base_dirs": ["BASE"], "logs_base_dir": ""}, "missing required key logs_base_dir"),
    ],
)
def test_invalid_configs(base_dir, data, message):
    if "cookbooks_base_dirs" in data and data["cookbooks_base_dirs"] == ["BASE"]:
        data["cookbooks_base_dirs"] = [str(base_dir)]
    with pytest.raises(ConfigError, match=message):
        parse_config(data, "f")


def test_base_dir_without_cookbooks_package_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="has no cookbooks/ directory"):
        parse_config({"cookbooks_base_dirs": [str(tmp_path)], "logs_base_dir": "/l"}, "f")


def test_sources_in_order(tmp_path, monkeypatch, base_dir):
    system = Path(_config.SYSTEM_CONFIG_FILE)
    user = tmp_path / "home" / ".config" / "spicerack" / "config.yaml"
    env = tmp_path / "env.yaml"
    explicit = tmp_path / "explicit.yaml"
    assert _config.find_config_file(None) is None
    for path in (system, user, env, explicit):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"cookbooks_base_dirs: [{base_dir}]\nlogs_base_dir: /l\n")
    assert _config.find_config_file(None) == user
    monkeypatch.setenv("SPICERACK_CONFIG", str(env))
    assert _config.find_config_file(None) == env
    assert _config.find_config_file(str(explicit)) == explicit
    monkeypatch.setenv("SPICERACK_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match=r"missing\.yaml not found"):
        _config.find_config_file(None)


def test_embedded_default_uses_bundled_tree_and_user_dirs(tmp_path):
    config = _config.load_config(None)
    assert config.source == "embedded default"
    assert (config.cookbooks_base_dirs[0] / "cookbooks" / "examples" / "hello.py").is_file()
    assert config.logs_base_dir == tmp_path / "home" / ".local" / "state" / "spicerack" / "logs"
    assert config.tcpircbot_host is None
    assert "etcd_config" not in config.instance_params  # None: locks local to this machine
    assert config.instance_params["cumin_config"].endswith("cumin.yaml")
