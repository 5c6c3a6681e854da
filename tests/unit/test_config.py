"""Unit tests of the runner configuration: which file is read, the base directories, the embedded default."""

import os
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


VALID = {"cookbooks_base_dirs": ["/srv/spicerack"], "logs_base_dir": "/var/log/spicerack"}


@pytest.fixture
def base_dir(tmp_path) -> str:
    (tmp_path / "base" / "cookbooks").mkdir(parents=True)
    return str(tmp_path / "base")


def test_validate_accepts_a_valid_configuration_silently(base_dir):
    config = {
        "cookbooks_base_dirs": [base_dir],
        "logs_base_dir": "~/logs",
        "tcpircbot_host": "localhost",
        "tcpircbot_port": 9200,
        "user_input_notifications_enabled": True,
        "external_modules_dir": "/etc/spicerack/modules",
        "instance_params": {"cumin_config": "/etc/cumin/config.yaml"},
        "journal_secret_arguments": ["-k"],
        "secret_option_words": ["otp"],
    }
    assert _config.validate(config, "/c.yaml") == []


def test_validate_warns_about_an_unknown_key_naming_the_nearest_known_one(base_dir):
    config = {"cookbooks_base_dirs": [base_dir], "logs_base_dir": "/l", "tcpircbot_hots": "relay", "zzz": 1}
    assert _config.validate(config, "/c.yaml") == [
        "Unknown key `tcpircbot_hots` in the configuration file /c.yaml, ignored (did you mean `tcpircbot_host`?)",
        "Unknown key `zzz` in the configuration file /c.yaml, ignored",
    ]


def test_validate_warns_about_a_base_directory_without_cookbooks(tmp_path):
    (tmp_path / "tree" / "cookbooks").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    config = {"cookbooks_base_dirs": [str(tmp_path / "tree"), str(tmp_path / "empty")], "logs_base_dir": "/l"}
    (warning,) = _config.validate(config, "/c.yaml")
    assert f"The base directory {tmp_path / 'empty'} of `cookbooks_base_dirs`" in warning
    assert "/c.yaml" in warning


def test_validate_leaves_trees_without_any_cookbooks_to_the_collection_error(tmp_path):
    assert _config.validate({"cookbooks_base_dirs": [str(tmp_path)], "logs_base_dir": "/l"}, "/c.yaml") == []


def test_validate_requires_logs_base_dir_only_for_runs(tmp_path):
    assert _config.validate({"cookbooks_base_dirs": [str(tmp_path)]}, "/c.yaml", require_logs=False) == []
    with pytest.raises(ConfigError, match="Missing key `logs_base_dir`"):
        _config.validate({"cookbooks_base_dirs": [str(tmp_path)]}, "/c.yaml")


@pytest.mark.parametrize(
    "change, message",
    (
        (
            {"cookbooks_base_dirs": 5},
            "Invalid key `cookbooks_base_dirs` in the configuration file /c.yaml: 5, expected",
        ),
        (
            {"cookbooks_base_dirs": "/srv"},
            "Invalid key `cookbooks_base_dirs` in the configuration file /c.yaml: '/srv'",
        ),
        ({"cookbooks_base_dirs": [5]}, "Invalid key `cookbooks_base_dirs` in the configuration file /c.yaml: [5]"),
        ({"logs_base_dir": ["a", "b"]}, "Invalid key `logs_base_dir` in the configuration file /c.yaml: ['a', 'b']"),
        ({"logs_base_dir": "~nosuchuser/logs"}, "Invalid key `logs_base_dir` in the configuration file /c.yaml: "),
        ({"instance_params": 5}, "Invalid key `instance_params` in the configuration file /c.yaml: 5, expected a map"),
        ({"instance_params": "oops"}, "Invalid key `instance_params` in the configuration file /c.yaml: 'oops'"),
        ({"user_input_notifications_enabled": "yes"}, "Invalid key `user_input_notifications_enabled`"),
        ({"secret_option_words": {"a": 1}}, "Invalid key `secret_option_words`"),
        ({"logs_base_dir": None}, "Missing key `logs_base_dir` in the configuration file /c.yaml."),
        ({"cookbooks_base_dirs": None}, "Missing key `cookbooks_base_dirs` in the configuration file /c.yaml."),
    ),
)
def test_validate_refuses_wrong_types_with_one_line_naming_the_file_and_key(change, message):
    config = {**VALID, **change}
    config = {key: value for key, value in config.items() if value is not None}
    with pytest.raises(ConfigError) as error:
        _config.validate(config, "/c.yaml")
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("config", ([], "text", 5))
def test_validate_refuses_a_file_that_is_not_a_mapping(config):
    with pytest.raises(ConfigError, match=r"^The configuration file /c.yaml must be a YAML mapping"):
        _config.validate(config, "/c.yaml")


def test_base_dirs_and_logs_base_dir_raise_config_errors_not_tracebacks():
    with pytest.raises(ConfigError, match="cookbooks_base_dirs"):
        _config.base_dirs({"cookbooks_base_dirs": 5})
    with pytest.raises(ConfigError, match="no such user's home directory"):
        _config.logs_base_dir({"logs_base_dir": "~nosuchuser/logs"})
    with pytest.raises(ConfigError, match="logs_base_dir"):
        _config.logs_base_dir({"logs_base_dir": ["a", "b"]})


@pytest.mark.parametrize(
    "text, expected",
    (
        ("a: [1, 2\nb: 3\n", "line 2, column 2"),
        ("a: 1\n  b: 2\n", "mapping values are not allowed here at line 2, column 4"),
        ("a: 'x\n", "line 2, column 1"),
    ),
)
def test_describe_yaml_error_gives_the_line_not_the_mark_object(tmp_path, text, expected):
    import yaml

    with pytest.raises(yaml.YAMLError) as error:
        yaml.safe_load(text)
    description = _config.describe_yaml_error(error.value)
    assert expected in description
    assert "Mark object" not in description
    assert "\n" not in description


def test_load_yaml_config_errors_name_the_yaml_line(tmp_path):
    from spicerack._cookbook import load_yaml_config

    path = tmp_path / "bad.yaml"
    path.write_text("cookbooks_base_dirs:\n  - a\n - b\n")
    with pytest.raises(ConfigError, match=r"at line 3, column 2"):
        load_yaml_config(str(path))
    with pytest.raises(ConfigError, match=r"^No such file or directory$"):
        load_yaml_config(str(tmp_path / "missing.yaml"))


def _config_file(path: Path, mode: int, uid: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    path.chmod(mode)
    os.chown(path, uid, -1)
    return path


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")


@needs_root
@pytest.mark.parametrize(("mode", "uid"), ((0o666, 0), (0o664, 0), (0o644, 65534)))
def test_as_root_an_untrusted_file_from_the_environment_is_refused(tmp_path, monkeypatch, mode, uid):
    planted = _config_file(tmp_path / "planted.yaml", mode, uid)
    monkeypatch.setenv(_config.ENV_CONFIG_FILE, str(planted))
    with pytest.raises(ConfigError, match=rf"^Refusing the configuration file {planted} \(from \$SPICERACK_CONFIG\)"):
        _config.find_config_file(None)
    monkeypatch.delenv(_config.ENV_CONFIG_FILE)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    _config_file(tmp_path / "xdg" / "spicerack" / "config.yaml", mode, uid)
    with pytest.raises(ConfigError, match="Refusing the configuration file"):
        _config.find_config_file(None)
    assert _config.find_config_file(str(planted)) == (str(planted), False)  # -c is the operator's explicit choice


@needs_root
def test_as_root_a_root_owned_file_from_the_environment_is_used(tmp_path, monkeypatch):
    trusted = _config_file(tmp_path / "trusted.yaml", 0o644)
    monkeypatch.setenv(_config.ENV_CONFIG_FILE, str(trusted))
    assert _config.find_config_file(None) == (str(trusted), False)


@needs_root
def test_under_sudo_the_same_rule_applies(tmp_path, monkeypatch):
    planted = _config_file(tmp_path / "planted.yaml", 0o644, 65534)
    monkeypatch.setenv(_config.ENV_CONFIG_FILE, str(planted))
    monkeypatch.setenv("SUDO_USER", "operator")
    monkeypatch.setattr(os, "geteuid", lambda: 65534)
    with pytest.raises(ConfigError, match="Refusing the configuration file"):
        _config.find_config_file(None)
    monkeypatch.delenv("SUDO_USER")
    assert _config.find_config_file(None) == (str(planted), False)  # an unprivileged user keeps the convenience
