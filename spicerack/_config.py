"""The configuration of the ``cookbook`` runner: which file to read, and the embedded default.

The file's content is used as the reference runner uses it (no validation beyond what a run needs). What this
module adds only applies where the reference would fail: without ``-c``, ``$SPICERACK_CONFIG`` and the user's
``~/.config/spicerack/config.yaml`` come before the system file, and when none of them exists the runner uses
the embedded default (the bundled example cookbooks, logs in the user's state directory).
"""

import os
import sys
from pathlib import Path
from typing import Any

from spicerack._paths import user_config_file, user_state_dir
from spicerack.exceptions import SpicerackError

__all__ = ["ConfigError", "user_config_file", "user_state_dir"]

SYSTEM_CONFIG_FILE = "/etc/spicerack/config.yaml"
ENV_CONFIG_FILE = "SPICERACK_CONFIG"


class ConfigError(SpicerackError):
    """The configuration is missing or unusable."""


def bundled_cookbooks_base_dir() -> Path:
    """The base directory holding the bundled example ``cookbooks/`` tree (source checkout or installed copy)."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir.parent, Path(sys.prefix) / "share" / "spicerack"):
        if (candidate / "cookbooks").is_dir():
            return candidate
    return package_dir.parent


def embedded_default() -> dict[str, Any]:
    """The configuration used when no file is given or found: bundled cookbooks, per-user logs, local locks."""
    return {
        "cookbooks_base_dirs": [str(bundled_cookbooks_base_dir())],
        "logs_base_dir": str(user_state_dir() / "logs"),
        "instance_params": {
            "cumin_config": str(Path(__file__).resolve().parent / "_defaults" / "cumin.yaml"),
            "spicerack_config_dir": str(user_config_file().parent),
            "etcd_config": None,  # Locks local to this machine; a configuration file without it has no locks
        },
    }


def find_config_file(explicit: str | None) -> tuple[str, bool]:
    """Return the configuration file to load, and whether the embedded default may replace it when missing.

    The first of: the ``-c`` option, ``$SPICERACK_CONFIG``, the user's file if it exists, the system file. Only
    the system file chosen by default may be missing. As root (or under ``sudo``), a file chosen through the
    environment (``$SPICERACK_CONFIG``, ``$XDG_CONFIG_HOME``) must be owned by root and writable by no one else.

    Raises:
        spicerack._config.ConfigError: if the file chosen through the environment is not trusted.

    """
    if explicit:
        return explicit, False
    from_env = os.environ.get(ENV_CONFIG_FILE)
    if from_env:
        _check_trusted(from_env, f"${ENV_CONFIG_FILE}")
        return from_env, False
    user_file = user_config_file()
    if user_file.is_file():
        _check_trusted(str(user_file), "the user's configuration directory")
        return str(user_file), False
    return SYSTEM_CONFIG_FILE, True


def _is_privileged() -> bool:
    return os.geteuid() == 0 or bool(os.environ.get("SUDO_USER"))


def _check_trusted(path: str, origin: str) -> None:
    """As root or under sudo, refuse a configuration file not owned by root or writable by group or others."""
    if not _is_privileged():
        return
    try:
        info = os.stat(path)
    except OSError:
        return  # loading it says why it can't be read
    if info.st_uid != 0 or info.st_mode & 0o022:
        raise ConfigError(
            f"Refusing the configuration file {path} (from {origin}): as root or under sudo it must be owned by "
            f"root and writable by no one else; use -c to name it explicitly"
        )


def base_dirs(config: dict[str, Any]) -> list[Path]:
    """The ``cookbooks_base_dirs`` of a configuration (``~`` expanded); ``cookbooks_base_dir`` is accepted too.

    Raises:
        spicerack._config.ConfigError: if neither key is there.

    """
    raw = config.get("cookbooks_base_dirs")
    if raw is None and config.get("cookbooks_base_dir"):
        raw = [config["cookbooks_base_dir"]]
    if raw is None:
        raise ConfigError("Missing key `cookbooks_base_dirs` in the configuration file.")
    if isinstance(raw, str | os.PathLike):
        raw = [raw]
    if not isinstance(raw, list):
        raise _invalid("cookbooks_base_dirs", "", raw, "a list of directories")
    return [_check_path(str(base_dir), "cookbooks_base_dirs", "") for base_dir in raw]


def logs_base_dir(config: dict[str, Any]) -> Path:
    """The ``logs_base_dir`` of a configuration, ``~`` expanded.

    Raises:
        spicerack._config.ConfigError: if the key is missing.

    """
    if not config.get("logs_base_dir"):
        raise ConfigError("Missing key `logs_base_dir` in the configuration file.")
    return _check_path(config["logs_base_dir"], "logs_base_dir", "")


KNOWN_KEYS = (
    "cookbooks_base_dirs",
    "cookbooks_base_dir",
    "logs_base_dir",
    "tcpircbot_host",
    "tcpircbot_port",
    "user_input_notifications_enabled",
    "external_modules_dir",
    "instance_params",
    "journal_secret_arguments",
    "secret_option_words",
)
"""The top-level keys of the configuration file; any other is warned about."""
_PATH_KEYS = ("logs_base_dir", "external_modules_dir", "cookbooks_base_dir")
_STRING_LIST_KEYS = ("journal_secret_arguments", "secret_option_words")
_MAX_SHOWN_VALUE = 60


def validate(config: Any, path: str, *, require_logs: bool = True) -> list[str]:
    """Check the types of a loaded configuration; return the warnings to print (unknown keys, empty trees).

    Arguments:
        config: the configuration as loaded from the file.
        path: the file it was loaded from, named in the messages.
        require_logs: whether ``logs_base_dir`` must be set (to run a cookbook; listings need no logs).

    Raises:
        spicerack._config.ConfigError: with one line naming the file and the key, if a setting is unusable.

    """
    if not isinstance(config, dict):
        raise ConfigError(f"The configuration file {path} must be a YAML mapping, not {_kind(config)}")
    warnings = [_unknown_key_warning(key, path) for key in config if key not in KNOWN_KEYS]
    warnings.extend(_check_base_dirs(config, path))
    if require_logs and config.get("logs_base_dir") in (None, ""):
        raise ConfigError(f"Missing key `logs_base_dir` in the configuration file {path}.")
    for key in _PATH_KEYS:
        if config.get(key) is not None:
            _check_path(config[key], key, path)
    for key in ("tcpircbot_host",):
        if config.get(key) is not None and not isinstance(config[key], str):
            raise _invalid(key, path, config[key], "a host name")
    notifications = config.get("user_input_notifications_enabled")
    if notifications is not None and not isinstance(notifications, bool):
        raise _invalid("user_input_notifications_enabled", path, notifications, "true or false")
    params = config.get("instance_params")
    if params is not None and not isinstance(params, dict):
        raise _invalid("instance_params", path, params, "a mapping of parameter names to values")
    for key in _STRING_LIST_KEYS:
        value = config.get(key)
        if value is not None and not isinstance(value, str) and not _is_string_list(value):
            raise _invalid(key, path, value, "a list of strings")
    return warnings


def _check_base_dirs(config: dict[str, Any], path: str) -> list[str]:
    raw = config.get("cookbooks_base_dirs")
    if raw is None:
        if config.get("cookbooks_base_dir") is None:
            raise ConfigError(f"Missing key `cookbooks_base_dirs` in the configuration file {path}.")
        return []
    if not _is_string_list(raw):
        raise _invalid("cookbooks_base_dirs", path, raw, "a list of directories")
    warnings = []
    expanded_dirs = [_check_path(base_dir, "cookbooks_base_dirs", path) for base_dir in raw]
    with_cookbooks = [(expanded / "cookbooks").is_dir() for expanded in expanded_dirs]
    if not any(with_cookbooks):
        return []  # the collection's own error says it: the trees have no cookbooks package
    for base_dir, has_cookbooks in zip(raw, with_cookbooks, strict=True):
        if not has_cookbooks:
            warnings.append(
                f"The base directory {base_dir} of `cookbooks_base_dirs` in the configuration file {path} has no "
                "cookbooks/ directory: it holds no cookbook"
            )
    return warnings


def _check_path(value: Any, key: str, path: str) -> Path:
    if not isinstance(value, str) or not value:
        raise _invalid(key, path, value, "a path")
    try:
        return Path(value).expanduser()
    except RuntimeError:
        path = f" {path}" if path else ""
        raise ConfigError(
            f"Invalid key `{key}` in the configuration file{path}: {value!r}, no such user's home directory"
        ) from None


def _is_string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _kind(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "empty" if value is None else names.get(type(value), type(value).__name__)


def _invalid(key: str, path: str, value: Any, expected: str) -> ConfigError:
    path = f" {path}" if path else ""
    shown = repr(value) if len(repr(value)) <= _MAX_SHOWN_VALUE else _kind(value)
    return ConfigError(f"Invalid key `{key}` in the configuration file{path}: {shown}, expected {expected}.")


def _unknown_key_warning(key: Any, path: str) -> str:
    import difflib  # noqa: PLC0415 - only with an unknown key

    close = difflib.get_close_matches(str(key), KNOWN_KEYS, n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return f"Unknown key `{key}` in the configuration file {path}, ignored{hint}"


def describe_yaml_error(error: Exception) -> str:
    """One line saying why a YAML file could not be read or parsed, with the line and column where it broke."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if mark is None or problem is None:
        return " ".join(str(error).split()) or type(error).__name__
    context = getattr(error, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    return f"{problem} at {where}" + (f" ({context})" if context else "")
