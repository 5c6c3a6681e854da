"""The user's own directories (configuration, state, cache), after the XDG base directory rules.

A bottom module: it imports nothing of the package, so that the configuration, the locks and the listing cache
can all use it without importing each other.
"""

import os
from pathlib import Path


def _xdg_dir(variable: str, *default: str) -> Path:
    """The directory named by an XDG variable, or its default under the home directory, with ``spicerack`` added."""
    base = os.environ.get(variable) or os.path.join(os.path.expanduser("~"), *default)
    return Path(base) / "spicerack"


def user_config_file() -> Path:
    """The per-user configuration file: ``$XDG_CONFIG_HOME/spicerack/config.yaml``."""
    return _xdg_dir("XDG_CONFIG_HOME", ".config") / "config.yaml"


def user_state_dir() -> Path:
    """The per-user state directory: ``$XDG_STATE_HOME/spicerack``."""
    return _xdg_dir("XDG_STATE_HOME", ".local", "state")


def user_cache_dir() -> Path:
    """The per-user cache directory: ``$XDG_CACHE_HOME/spicerack``, by default ``~/.cache/spicerack``."""
    return _xdg_dir("XDG_CACHE_HOME", ".cache")
