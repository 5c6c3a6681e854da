"""The configuration of the ``cookbook`` runner: which file, its validation, and the embedded default."""

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spicerack.config import load_yaml_mapping
from spicerack.exceptions import SpicerackError

SYSTEM_CONFIG_FILE = "/etc/spicerack/config.yaml"
ENV_CONFIG_FILE = "SPICERACK_CONFIG"
INSTANCE_PARAMS = {
    "cumin_config": str,
    "cumin_installer_config": str,
    "conftool_config": str,
    "conftool_schema": str,
    "debmonitor_config": str,
    "spicerack_config_dir": str,
    "http_proxy": str,
    "etcd_config": str,
    "extender_class": str,
}
TOP_LEVEL_KEYS: dict[str, type | tuple[type, ...]] = {
    "cookbooks_base_dirs": list,
    "cookbooks_base_dir": str,
    "logs_base_dir": str,
    "tcpircbot_host": str,
    "tcpircbot_port": int,
    "user_input_notifications_enabled": bool,
    "external_modules_dir": str,
    "instance_params": dict,
}


class ConfigError(SpicerackError):
    """The configuration is missing, unreadable or invalid."""


@dataclass
class RunnerConfig:
    """The validated configuration of a ``cookbook`` run."""

    source: str
    """The file it came from, or ``embedded default``."""
    cookbooks_base_dirs: list[Path]
    logs_base_dir: Path
    tcpircbot_host: str | None = None
    tcpircbot_port: int = 0
    user_input_notifications_enabled: bool = False
    external_modules_dir: Path | None = None
    instance_params: dict[str, Any] = field(default_factory=dict)
    unknown_keys: list[str] = field(default_factory=list)


def user_config_file() -> Path:
    """The per-user configuration file: ``$XDG_CONFIG_HOME/spicerack/config.yaml``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "spicerack" / "config.yaml"


def user_state_dir() -> Path:
    """The per-user state directory: ``$XDG_STATE_HOME/spicerack``."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "spicerack"


def bundled_cookbooks_base_dir() -> Path:
    """The base directory holding the bundled example ``cookbooks/`` tree (source checkout or installed copy)."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir.parent, Path(sys.prefix) / "share" / "spicerack"):
        if (candidate / "cookbooks").is_dir():
            return candidate
    return package_dir.parent


def embedded_default() -> RunnerConfig:
    """The configuration used when no file is given or found: bundled cookbooks, per-user logs, local locks."""
    return RunnerConfig(
        source="embedded default",
        cookbooks_base_dirs=[bundled_cookbooks_base_dir()],
        logs_base_dir=user_state_dir() / "logs",
        instance_params={
            "cumin_config": str(Path(__file__).resolve().parent / "_defaults" / "cumin.yaml"),
            "spicerack_config_dir": str(user_config_file().parent),
        },
    )


def find_config_file(explicit: str | None) -> Path | None:
    """Return the configuration file to load, or None for the embedded default.

    The first of: the ``-c`` option, ``$SPICERACK_CONFIG``, the user's file, the system file. A file named
    explicitly (option or environment) must exist; the others are used only when they exist.
    """
    for named in (explicit, os.environ.get(ENV_CONFIG_FILE)):
        if named:
            path = Path(named).expanduser()
            if not path.is_file():
                raise ConfigError(f"configuration file {named} not found")
            return path
    for candidate in (user_config_file(), Path(SYSTEM_CONFIG_FILE)):
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: str | None) -> RunnerConfig:
    """Find, load and validate the runner's configuration (see :py:func:`find_config_file`)."""
    path = find_config_file(explicit)
    if path is None:
        return embedded_default()
    return parse_config(load_yaml_mapping(path, description="configuration file", error=ConfigError), str(path))


def parse_config(data: Any, source: str) -> RunnerConfig:
    """Validate the content of a configuration file and return it as a :py:class:`RunnerConfig`."""
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {source} must be a YAML mapping of keys to values")
    for key, expected in TOP_LEVEL_KEYS.items():
        if key in data and not _is_instance(data[key], expected):
            raise ConfigError(f"key {key} in {source} must be of type {_type_name(expected)}")
    base_dirs = _base_dirs(data, source)
    if "logs_base_dir" not in data or not data["logs_base_dir"]:
        raise ConfigError(f"missing required key logs_base_dir in {source}")
    return RunnerConfig(
        source=source,
        cookbooks_base_dirs=base_dirs,
        logs_base_dir=Path(data["logs_base_dir"]).expanduser(),
        tcpircbot_host=data.get("tcpircbot_host") or None,
        tcpircbot_port=_port(data.get("tcpircbot_port", 0), source),
        user_input_notifications_enabled=data.get("user_input_notifications_enabled", False),
        external_modules_dir=_external_modules_dir(data.get("external_modules_dir"), source),
        instance_params=_instance_params(data.get("instance_params") or {}, source),
        unknown_keys=sorted(str(key) for key in data if key not in TOP_LEVEL_KEYS),
    )


def _base_dirs(data: dict[str, Any], source: str) -> list[Path]:
    raw = data.get("cookbooks_base_dirs")
    if raw is None and "cookbooks_base_dir" in data:
        raw = [data["cookbooks_base_dir"]]
    if not raw:
        raise ConfigError(f"missing required key cookbooks_base_dirs in {source}")
    if not all(isinstance(item, str) and item for item in raw):
        raise ConfigError(f"key cookbooks_base_dirs in {source} must be a list of directory paths")
    base_dirs = [Path(item).expanduser() for item in raw]
    for base_dir in base_dirs:
        if not (base_dir / "cookbooks").is_dir():
            raise ConfigError(
                f"key cookbooks_base_dirs in {source}: {base_dir} does not exist or has no cookbooks/ directory"
            )
    return base_dirs


def _port(value: int, source: str) -> int:
    if not 0 <= value <= 65535:
        raise ConfigError(f"key tcpircbot_port in {source} must be a TCP port number (1-65535)")
    return value


def _external_modules_dir(value: str | None, source: str) -> Path | None:
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ConfigError(f"key external_modules_dir in {source}: {value} is not a directory")
    return path


def _instance_params(params: dict[str, Any], source: str) -> dict[str, Any]:
    for key, value in params.items():
        if key not in INSTANCE_PARAMS:
            raise ConfigError(f"unknown key instance_params.{key} in {source}")
        if not isinstance(value, INSTANCE_PARAMS[key]):
            raise ConfigError(f"key instance_params.{key} in {source} must be of type {_type_name(str)}")
    return {
        key: os.path.expanduser(value) if key.endswith(("_config", "_dir", "_schema")) and value else value
        for key, value in params.items()
    }


def _is_instance(value: Any, expected: type | tuple[type, ...]) -> bool:
    """isinstance() that doesn't take a boolean for an integer."""
    if isinstance(value, bool) and expected is int:
        return False
    return isinstance(value, expected)


def _type_name(expected: type | tuple[type, ...]) -> str:
    names = {list: "list", str: "string", int: "integer", bool: "boolean", dict: "mapping"}
    if isinstance(expected, tuple):
        return " or ".join(names.get(item, item.__name__) for item in expected)
    return names.get(expected, expected.__name__)
