"""The run layer: the steps every run takes, whoever starts it.

The ``cookbook`` command (:py:mod:`spicerack._cookbook`), the operator extras, the shell completion and the test
harness (:py:mod:`spicerack.testing`) are front doors on top of these steps, in this order:

1. :py:func:`load_config`: the configuration file (``-c``, the environment, the user's, the system's) or the
   embedded default, checked;
2. :py:func:`activate_config_trees`: the cookbook trees (and ``external_modules_dir``) on ``sys.path``;
3. :py:func:`build_accessor`: the :py:class:`spicerack.Spicerack` accessor from ``instance_params``, with the run's
   hooks (:py:class:`spicerack._hooks.RunHooks`);
4. :py:func:`collect` and :py:func:`find_item`: the cookbooks, and the one to run;
5. :py:func:`start_logging`: the run's log files, IRC/SAL relay and journal (4 and 5 together:
   :py:func:`prepare_named`);
6. :py:func:`run_item`: the run itself, its outcome the exit code.

No argument parsing, no printing, no exit here: a step that fails raises :py:class:`RunError` with the one line to
show and the exit code to return.
"""

import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spicerack import Spicerack, SpicerackExtenderBase, _config, _journal, _log, _redact, cookbook
from spicerack._collection import CookbookCollection, CookbookError, activate_trees, get_cookbook_callback
from spicerack._collection import import_module as import_tree_module
from spicerack._hooks import RunHooks
from spicerack._menu import BaseItem
from spicerack._signals import termination_raises
from spicerack.exceptions import SpicerackError

logger = logging.getLogger("spicerack._cookbook")  # the reference logs the run's start from its runner module

NO_BASE_DIRS = "No cookbooks paths are specified in the `cookbooks_base_dirs` key of the configuration file."
"""The error of a configuration without cookbook trees (the reference's words)."""


class RunError(SpicerackError):
    """A step of a run failed before the cookbook ran: the message is the one line to show."""

    def __init__(self, message: str, exit_code: int = 1, *, logged: bool = False) -> None:
        """Keep the exit code the run ends with.

        Arguments:
            message: what failed, on one line.
            exit_code: the exit code of the run.
            logged: whether a front door shows it as an error log record (as the reference does for cookbooks
                not found), rather than as a plain line on stderr.

        """
        super().__init__(message)
        self.exit_code = exit_code
        self.logged = logged


class NotFoundError(RunError):
    """No cookbook or group has the name given."""

    def __init__(self, name: str, known: Callable[[], list[str]]) -> None:
        """Keep the name and how to list the names that exist (for the hints of a front door).

        Arguments:
            name: the name that was looked for.
            known: returns the full names of the cookbooks and groups of the trees.

        """
        super().__init__(f"Unable to find cookbook {name}", cookbook.NOT_FOUND_RETCODE, logged=True)
        self.name = name
        self.known = known


@dataclass
class LoadedConfig:
    """The configuration of a run and where it comes from."""

    config: dict[str, Any]
    """The settings."""
    path: str | None
    """The file they were read from, :py:data:`None` for the embedded default."""
    warnings: list[str] = field(default_factory=list)
    """What the checks found questionable but usable (unknown keys, trees without ``cookbooks/``)."""


def read_yaml_file(path: str) -> Any:
    """Read a YAML file (an empty one is empty), as :py:func:`wmflib.config.load_yaml_config` does.

    Without importing wmflib, whose import costs more than the whole of a cached listing. PyYAML's C loader is used
    where it is built, with the same results.

    Raises:
        spicerack._config.ConfigError: if the file can't be read or parsed, on one line.

    """
    import yaml  # noqa: PLC0415 - only needed when a file is read

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, encoding="utf-8") as stream:
            config = yaml.load(stream, Loader=loader)  # noqa: S506 - a safe loader
    except IsADirectoryError as e:
        raise _config.ConfigError("it is a directory") from e
    except UnicodeDecodeError as e:  # its repr would quote the whole file, secrets included
        raise _config.ConfigError(f"it is not UTF-8 text (invalid byte at offset {e.start})") from e
    except Exception as e:
        raise _config.ConfigError(_config.describe_yaml_error(e)) from e
    return {} if config is None else config


def load_config(
    config_file: str | None,
    *,
    loader: Callable[[str], Any] = read_yaml_file,
    for_run: bool = True,
) -> LoadedConfig:
    """Load and check the configuration (see :py:func:`spicerack._config.find_config_file` for the file's search).

    Arguments:
        config_file: the file named on the command line, if any.
        loader: reads the file.
        for_run: whether a cookbook will run, for which the run's settings are required too (``logs_base_dir``).

    Raises:
        spicerack._runtime.RunError: if the file can't be used, naming the file and the key.

    """
    try:
        path, may_be_missing = _config.find_config_file(config_file)
    except _config.ConfigError as e:
        raise RunError(str(e)) from None
    try:
        config = loader(path)
    except _config.ConfigError as e:
        if may_be_missing and not os.path.exists(path):
            return LoadedConfig(_config.embedded_default(), None)
        raise RunError(f"Unable to load the configuration file {path}: {e}") from None
    if not isinstance(config, dict):
        raise RunError(f"The configuration file {path} must be a YAML mapping")
    try:
        warnings = _config.validate(config, path, require_logs=for_run)
    except _config.ConfigError as e:
        raise RunError(str(e)) from None
    return LoadedConfig(config, path, warnings)


def activate_config_trees(config: dict[str, Any]) -> list[Path]:
    """Put the configuration's cookbook trees first on ``sys.path`` (and its ``external_modules_dir`` last).

    Returns:
        The trees' base directories.

    Raises:
        spicerack._runtime.RunError: if the configuration has no tree.

    """
    try:
        base_dirs = _config.base_dirs(config)
    except _config.ConfigError as e:
        raise RunError(str(e)) from None
    if not base_dirs:
        raise RunError(NO_BASE_DIRS)
    activate_trees(base_dirs)
    external = config.get("external_modules_dir")
    if external is not None and str(Path(external).expanduser()) not in sys.path:
        sys.path.append(str(Path(external).expanduser()))
    return base_dirs


def build_accessor(
    config: dict[str, Any],
    base_dirs: list[Path],
    *,
    verbose: bool = False,
    dry_run: bool = True,
    locks: bool = True,
    hooks: RunHooks | None = None,
    accessor_class: type[Spicerack] = Spicerack,
    **overrides: Any,
) -> Spicerack:
    """Build the accessor of a run from the configuration's ``instance_params``.

    Arguments:
        config: the configuration.
        base_dirs: the trees, where ``spicerack.run_cookbook()`` finds the other cookbooks.
        verbose: whether the run is verbose.
        dry_run: whether the run is a DRY-RUN.
        locks: whether the run takes distributed locks (not with ``--no-locks``).
        hooks: the seams of the run, the defaults (doing nothing) if not given.
        accessor_class: the accessor's class: a harness gives its subclass.
        **overrides: more arguments of the accessor, replacing those of ``instance_params``.

    Raises:
        spicerack._runtime.RunError: if the ``extender_class`` can't be imported or the parameters are refused.

    """
    params = dict(config.get("instance_params") or {})
    params.update({"verbose": verbose, "dry_run": dry_run, "get_cookbook_callback": get_cookbook_callback(base_dirs)})
    if "extender_class" in params:
        try:
            params["extender_class"] = _import_extender_class(params["extender_class"])
        except Exception as e:
            raise RunError(f"Failed to import the extender_class {params['extender_class']}: {e}") from None
    if not locks:
        params["etcd_config"] = ""  # no distributed locks
    params.update(overrides)
    try:
        accessor = accessor_class(**params)
    except TypeError as e:
        raise RunError(f"Unable to instantiate Spicerack, check your configuration: {e}") from None
    if hooks is not None:
        accessor._run_hooks = hooks  # the seam the accessor documents for the run layer
    return accessor


def locks_off(config: dict[str, Any]) -> bool:
    """Whether the configuration says nothing of locks: no ``etcd_config`` at all (``null`` means local locks)."""
    params = config.get("instance_params") or {}
    return isinstance(params, dict) and "etcd_config" not in params


class LocksOffWarning(RunHooks):
    """The hooks of a run without distributed locks: a cookbook that limits its concurrent runs is warned about."""

    def __init__(self, config_path: str | None) -> None:
        """Name the configuration file in the warning."""
        self.config_path = config_path or "the configuration"
        self.warned = False

    def runner(self, runner: Any, name: str) -> Any:
        """Warn, once, that the runner's limit of concurrent runs is not enforced."""
        limit = getattr(runner, "max_concurrency", None)
        if not self.warned and isinstance(limit, int) and limit < cookbook.CookbookRunnerBase.max_concurrency:
            self.warned = True
            logger.warning(
                "Distributed locks are off: no etcd_config in %s, the limit of %d concurrent runs of %s is not kept",
                self.config_path,
                limit,
                name,
            )
        return runner


def _import_extender_class(dotted_name: str) -> type[SpicerackExtenderBase]:
    """Import the ``extender_class`` of the configuration.

    Raises:
        TypeError: if it is not a subclass of SpicerackExtenderBase.

    """
    module_name, class_name = dotted_name.rsplit(".", 1)
    extender = getattr(import_tree_module(module_name), class_name)
    if isinstance(extender, type) and issubclass(extender, SpicerackExtenderBase):
        return extender
    raise TypeError(f"Extender class {dotted_name} is not a subclass of spicerack.SpicerackExtenderBase.")


def collect(
    base_dirs: list[Path],
    spicerack: Spicerack,
    *,
    path_filter: str = "",
    args: Sequence[str] = (),
    collection_class: type[CookbookCollection] = CookbookCollection,
) -> CookbookCollection:
    """Collect the cookbooks of the trees inside ``path_filter`` (all of them by default).

    Raises:
        spicerack._runtime.RunError: if the trees have no importable ``cookbooks`` package (exit code 98).

    """
    try:
        return collection_class(base_dirs=base_dirs, args=args, spicerack=spicerack, path_filter=path_filter)
    except CookbookError as e:
        raise RunError(str(e), cookbook.NOT_FOUND_RETCODE, logged=True) from None


def find_item(collection: CookbookCollection, name: str) -> BaseItem:
    """Return the cookbook or group of a collection with that name.

    Raises:
        spicerack._runtime.NotFoundError: if there is none (exit code 98).

    """
    item = collection.get_item(name)
    if item is None:
        raise NotFoundError(name, lambda: all_names(collection))
    return item


def all_names(collection: CookbookCollection) -> list[str]:
    """The full names of every cookbook and group of the trees of a collection (all of them are imported)."""
    everything = type(collection)(base_dirs=_base_dirs_of(collection), args=(), spicerack=collection.spicerack)
    names: list[str] = []
    pending: list[BaseItem] = list(everything.menu.items.values())  # not the root: it has no name to type
    while pending:
        item = pending.pop()
        if item.full_name:
            names.append(item.full_name)
        pending.extend(item.items.values())
    return names


def _base_dirs_of(collection: CookbookCollection) -> list[Path]:
    return [Path(path).parent for path in collection.base_dirs]


def start_logging(
    item: BaseItem,
    loaded: LoadedConfig,
    spicerack: Spicerack,
    *,
    locks: bool = True,
    rerun_of: str | None = None,
) -> None:
    """Set up what the run leaves behind: its log files, the IRC/SAL relay and the journal.

    Raises:
        spicerack._runtime.RunError: if a setting of the run is unusable or the log directory can't be created.

    """
    config = loaded.config
    try:
        logs_dir = _config.logs_base_dir(config)
    except _config.ConfigError as e:
        raise RunError(str(e)) from None
    check_run_settings(config, locks=locks)
    logs_path = logs_dir / item.path.replace(".", os.sep)
    try:
        _log.setup_logging(
            logs_path,
            item.name,
            spicerack.username,
            dry_run=spicerack.dry_run,
            host=config.get("tcpircbot_host", None),
            port=int(config.get("tcpircbot_port", 0)),
            notify_logger_enabled=config.get("user_input_notifications_enabled", False),
        )
    except OSError as e:  # its log directory cannot be created
        raise RunError(
            f"Not running cookbook {item.full_name} without an audit trail, unable to create its log directory "
            f"{logs_path}: {e.strerror or e}"
        ) from None
    _journal.activate(logs_dir, config, loaded.path, rerun_of=rerun_of)


def check_run_settings(config: dict[str, Any], *, locks: bool = True) -> None:
    """Check the settings that a run uses only once started: the IRC relay and, with locks, the etcd settings.

    So that a mistake there stops the run before it starts, instead of silently turning IRC off or failing at
    the lock.

    Arguments:
        config: the configuration.
        locks: whether the run takes locks (not with ``--no-locks``).

    Raises:
        spicerack._runtime.RunError: naming the key, if a setting is unusable.

    """
    if config.get("tcpircbot_host"):
        port = config.get("tcpircbot_port")
        if isinstance(port, bool) or not (isinstance(port, int) or (isinstance(port, str) and port.isdigit())):
            raise RunError(
                f"Invalid key `tcpircbot_port` in the configuration file: {port!r}, expected the port (1-65535) of "
                f"the tcpircbot relay set in `tcpircbot_host`."
            )
        if not 0 < int(port) < 65536:
            raise RunError(f"Invalid key `tcpircbot_port` in the configuration file: {port}, expected 1-65535.")
    etcd_config = (config.get("instance_params") or {}).get("etcd_config")
    if locks and etcd_config:
        from spicerack.locking import LockError, load_etcd_config  # noqa: PLC0415 - the lock backend, only to run

        try:
            load_etcd_config(Path(etcd_config))
        except LockError as e:
            raise RunError(f"Invalid key `instance_params.etcd_config` in the configuration file: {e}") from None


def log_settings(loaded: LoadedConfig, *, locks: bool = True) -> None:
    """Log, in the log files only, the configuration file of the run and whether it has distributed locks.

    Both lines are DEBUG, so that the log files hold them until the run starts: ``--help`` and refused arguments
    leave no file, and a file that cannot be written stops the run with its own error.
    """
    logger.debug("Configuration file: %s", loaded.path or "none, the embedded default", extra=_log.FILE_ONLY)
    if locks and locks_off(loaded.config):
        logger.debug(
            "Distributed locks are off: no etcd_config in %s", loaded.path or "the configuration", extra=_log.FILE_ONLY
        )


def shown_args(args: Sequence[str]) -> _redact.Deferred:
    """The cookbook's arguments for the ``Executing cookbook`` DEBUG line, the values of the secret ones hidden.

    The log files write the line once the cookbook's parser is known to the journal, so that the short aliases of
    its secret options are hidden too.
    """
    return _redact.Deferred(lambda: _journal.shown_args(args))


def run_item(item: BaseItem) -> int:
    """Run a cookbook or a group's menu; SIGTERM and SIGHUP interrupt it as Ctrl+C does, up to its very end."""
    with termination_raises():
        return item.run()


def prepare_named(
    loaded: LoadedConfig,
    spicerack: Spicerack,
    base_dirs: list[Path],
    name: str,
    args: Sequence[str],
    *,
    locks: bool = True,
    collection_class: type[CookbookCollection] = CookbookCollection,
    rerun_of: str | None = None,
) -> BaseItem:
    """Find the cookbook or group of that name and set up its logs and journal: the steps 4 and 5.

    Arguments:
        loaded: the configuration.
        spicerack: the accessor (:py:func:`build_accessor`).
        base_dirs: the trees (:py:func:`activate_config_trees`).
        name: the cookbook or group, a dotted name.
        args: its arguments.
        locks: whether the run takes distributed locks.
        collection_class: the collection to build.
        rerun_of: the run ID this run re-runs, for its journal entry.

    Returns:
        The item to give to :py:func:`run_item`.

    Raises:
        spicerack._runtime.RunError: if a step before the run fails.

    """
    collection = collect(base_dirs, spicerack, path_filter=name, args=args, collection_class=collection_class)
    item = find_item(collection, name)
    start_logging(item, loaded, spicerack, locks=locks, rerun_of=rerun_of)
    return item
