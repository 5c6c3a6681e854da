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
    the system file chosen by default may be missing.
    """
    for named in (explicit, os.environ.get(ENV_CONFIG_FILE)):
        if named:
            return named, False
    user_file = user_config_file()
    if user_file.is_file():
        return str(user_file), False
    return SYSTEM_CONFIG_FILE, True


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
    return [Path(base_dir).expanduser() for base_dir in raw]


def logs_base_dir(config: dict[str, Any]) -> Path:
    """The ``logs_base_dir`` of a configuration, ``~`` expanded.

    Raises:
        spicerack._config.ConfigError: if the key is missing.

    """
    if not config.get("logs_base_dir"):
        raise ConfigError("Missing key `logs_base_dir` in the configuration file.")
    return Path(config["logs_base_dir"]).expanduser()


def check_run_settings(config: dict[str, Any], *, locks: bool = True) -> None:
    """Check the settings that a run uses only once started: the IRC relay and, with locks, the etcd settings.

    So that a mistake there stops the run before it starts, instead of silently turning IRC off or failing at
    the lock.

    Arguments:
        config: the configuration.
        locks: whether the run takes locks (not with ``--no-locks``).

    Raises:
        spicerack._config.ConfigError: naming the key, if a setting is unusable.

    """
    if config.get("tcpircbot_host"):
        port = config.get("tcpircbot_port")
        if isinstance(port, bool) or not (isinstance(port, int) or (isinstance(port, str) and port.isdigit())):
            raise ConfigError(
                f"Invalid key `tcpircbot_port` in the configuration file: {port!r}, expected the port (1-65535) of "
                f"the tcpircbot relay set in `tcpircbot_host`."
            )
        if not 0 < int(port) < 65536:
            raise ConfigError(f"Invalid key `tcpircbot_port` in the configuration file: {port}, expected 1-65535.")
    etcd_config = (config.get("instance_params") or {}).get("etcd_config")
    if locks and etcd_config:
        from spicerack.locking import LockError, load_etcd_config  # noqa: PLC0415 - only to run a cookbook

        try:
            load_etcd_config(Path(etcd_config))
        except LockError as e:
            raise ConfigError(f"Invalid key `instance_params.etcd_config` in the configuration file: {e}") from None
