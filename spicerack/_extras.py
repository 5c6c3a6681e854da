"""What the ``cookbook`` command offers beyond the reference: JSON listing, run history, visible locks.

The flags are hidden from ``cookbook --help`` (whose text stays the reference's) and count only before COOKBOOK
(after it every argument belongs to the cookbook, as always):

* ``cookbook -l --json [PREFIX]``: the cookbooks and groups, and the modules that failed to import, as one JSON
  document (see :py:func:`listing_document`);
* ``cookbook --history [PREFIX] [--since DURATION] [--user USER] [--failed] [--json]``: the most recent runs
  recorded in the journal (see :py:mod:`spicerack._journal`);
* ``cookbook --locks [PREFIX] [--json]``: the lock slots held now in the configured backend;
* ``cookbook --history RUN_ID`` and ``cookbook --failed-hosts RUN_ID``: one run (see :py:mod:`spicerack._extra_runs`).

The flags themselves are in :py:mod:`spicerack._flags`; ``--plan`` and ``--rerun`` are run by the ``cookbook``
command itself, through the run layer.

A meaningless combination, a bad value or a backend that can't be read is one line on stderr, never a traceback:
exit code 2 for a usage error, 1 for a failure.
"""

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spicerack import _extra_runs

if TYPE_CHECKING:
    from spicerack import Spicerack
    from spicerack._journal import HistoryQuery
    from spicerack._menu import CookbookItem, TreeItem
    from spicerack.locking import KeyLocks

LISTING_SCHEMA_VERSION = 1
"""Version of the ``cookbook -l --json`` document; it changes only when a field is removed or changes meaning."""
LOCKS_TIMEOUT = 5.0
"""Seconds ``cookbook --locks`` waits for etcd before giving up."""
USAGE_ERROR = 2
"""Exit code of a meaningless or invalid use of the extra flags."""
FAILURE = 1
"""Exit code when the journal or the lock backend can't be read."""


class UsageError(Exception):
    """A meaningless combination of flags or an invalid value."""


def usage_error(args: argparse.Namespace) -> str | None:
    """Return what is wrong with the combination of extra flags of the command line, if anything."""
    try:
        _check_combination(args)
    except UsageError as e:
        return str(e)
    return None


def handle_extra_flags(args: argparse.Namespace, config: dict[str, Any], spicerack: "Spicerack") -> int:
    """Carry out the extra flags of the command line (once :py:func:`usage_error` found nothing wrong).

    Arguments:
        args: the parsed ``cookbook`` command line.
        config: the loaded configuration.
        spicerack: the accessor of the run.

    Returns:
        The exit code.

    """
    try:
        if args.extra_failed_hosts is not None:
            return _failed_hosts(args, config)
        if args.extra_history:
            return _history(args, config)
        if args.extra_locks:
            return _locks(args, config)
        return _json_listing(args, config, spicerack)
    except UsageError as e:
        print(f"cookbook: error: {e}", file=sys.stderr)
        return USAGE_ERROR


def _check_combination(args: argparse.Namespace) -> None:
    """Refuse the combinations that make no sense.

    Raises:
        spicerack._extras.UsageError: naming the problem.

    """
    commands = [
        flag
        for flag, on in (
            ("-l", args.list),
            ("--history", args.extra_history),
            ("--locks", args.extra_locks),
            ("--failed-hosts", args.extra_failed_hosts is not None),
        )
        if on
    ]
    if args.extra_plan:
        if commands:
            raise UsageError(f"--plan cannot be used with {commands[0]}")
        if not args.cookbook:
            raise UsageError("--plan needs the COOKBOOK to run")
        commands.append("--plan")
    if len(commands) > 1:
        raise UsageError(f"{' and '.join(commands)} cannot be used together")
    if args.extra_json and not commands:
        raise UsageError("--json needs -l/--list, --history, --locks or --plan")
    history_only = [
        flag
        for flag, value in (("--since", args.extra_since), ("--user", args.extra_user), ("--failed", args.extra_failed))
        if value
    ]
    if history_only and not args.extra_history:
        raise UsageError(f"{', '.join(history_only)} can be used only with --history")
    if history_only and _extra_runs.looks_like_run_id(args.cookbook):
        raise UsageError(f"{', '.join(history_only)} cannot be used with the RUN_ID of one run")
    failed_hosts_only = [flag for flag, value in (("--only", args.extra_only), ("--query", args.extra_query)) if value]
    if failed_hosts_only and args.extra_failed_hosts is None:
        raise UsageError(f"{', '.join(failed_hosts_only)} can be used only with --failed-hosts")
    if args.extra_failed_hosts is not None and (args.cookbook or args.cookbook_args):
        raise UsageError("--failed-hosts takes only the RUN_ID of a run")
    if args.extra_json and args.extra_failed_hosts is not None:
        raise UsageError("--json cannot be used with --failed-hosts")
    if args.extra_rerun is not None:
        raise UsageError("--rerun must come after the options of cookbook, before the arguments of the re-run")
    if (args.extra_history or args.extra_locks) and args.cookbook_args:
        raise UsageError(
            f"{commands[0]} takes at most one PREFIX of cookbook names, got also: {' '.join(args.cookbook_args)}"
        )


# --- JSON listing --------------------------------------------------------------------------------------------


def _json_listing(args: argparse.Namespace, config: dict[str, Any], spicerack: "Spicerack") -> int:
    import json  # noqa: PLC0415 - not loaded by the other commands

    from spicerack import _config  # noqa: PLC0415 - the extra flags load what they use
    from spicerack._collection import CookbookCollection, CookbookError  # noqa: PLC0415 - only for the listing
    from spicerack._listing_cache import cached_listing, default_cache_dir  # noqa: PLC0415 - only for the listing

    base_dirs = _config.base_dirs(config)
    prefix = str(args.cookbook)

    def produce() -> str:
        failures = _Failures()
        collector = logging.getLogger("spicerack._cookbook")
        collector.addHandler(failures)
        try:
            menu = CookbookCollection(base_dirs=base_dirs, args=[], spicerack=spicerack, path_filter=prefix).menu
        finally:
            collector.removeHandler(failures)
        failed = [entry for entry in failures.failed if not _outside(entry["module"], prefix)]
        return json.dumps(listing_document(menu, prefix, failed), indent=2) + "\n"

    try:
        return cached_listing(base_dirs, prefix, False, produce, cache_dir=default_cache_dir() / "json")
    except CookbookError as e:  # e.g. a base directory without a cookbooks package
        print(f"cookbook: {e}", file=sys.stderr)
        return FAILURE


def _outside(name: str, prefix: str) -> bool:
    """Whether a dotted name is outside a listing's filter: neither of them starts with the other."""
    return not (name.startswith(prefix) or prefix.startswith(name))


class _Failures(logging.Handler):
    """Collects the modules the collection could not load (it logs them as errors)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.failed: list[dict[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        error = record.msg if isinstance(record.msg, BaseException) else None
        message = record.getMessage()
        module = next((word for word in message.replace(":", " ").split() if word.startswith("cookbooks")), "")
        cause = error.__cause__ if error is not None and error.__cause__ is not None else None
        self.failed.append(
            {
                "module": module.split(".", 1)[1] if "." in module else module,
                "error": str(cause) if cause is not None else message,
                "message": message,
            }
        )


def listing_document(menu: "TreeItem", prefix: str, failed: Sequence[dict[str, str]]) -> dict[str, Any]:
    """The JSON document of ``cookbook -l --json``.

    Arguments:
        menu: the top group of the collected trees.
        prefix: the filter of the listing.
        failed: the modules that could not be loaded: ``module`` (dotted, without ``cookbooks.``), ``error`` (the
            exception's message) and ``message`` (the line ``cookbook -l`` prints).

    Returns:
        ``{"schema": 1, "prefix": ..., "cookbooks": [...], "groups": [...], "failed": [...]}``; each cookbook has
        ``name``, ``title``, ``owner_team``, ``description``, ``api`` (``class`` or ``module``) and ``path`` (its
        source file); each group ``name``, ``title``, ``owner_team``, ``description``, ``path``. Sorted by name.

    """
    cookbooks: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    _walk(menu, cookbooks, groups)
    return {
        "schema": LISTING_SCHEMA_VERSION,
        "prefix": prefix,
        "cookbooks": sorted(cookbooks, key=lambda entry: entry["name"]),
        "groups": sorted(groups, key=lambda entry: entry["name"]),
        "failed": sorted(failed, key=lambda entry: entry["module"]),
    }


def _walk(group: "TreeItem", cookbooks: list[dict[str, Any]], groups: list[dict[str, Any]]) -> None:
    from spicerack._menu import CookbookItem, TreeItem  # noqa: PLC0415 - loaded by the collection anyway

    for item in group.items.values():
        if isinstance(item, CookbookItem):
            cookbooks.append(_cookbook_entry(item))
        elif isinstance(item, TreeItem) and item.items:
            groups.append(
                {
                    "name": item.full_name,
                    "title": item.title,
                    "owner_team": item.owner_team,
                    "description": _doc(item.module),
                    "path": str(getattr(item.module, "__file__", "") or ""),
                }
            )
            _walk(item, cookbooks, groups)


def _cookbook_entry(item: "CookbookItem") -> dict[str, Any]:
    cls = type(item.instance)
    module_name = f"cookbooks.{item.full_name}"
    module = sys.modules.get(module_name)
    is_module_api = module is not None and cls.__module__ != module_name
    source = module if is_module_api else sys.modules.get(cls.__module__)
    return {
        "name": item.full_name,
        "title": item.title,
        "owner_team": item.owner_team,
        "description": _doc(module) if is_module_api else _doc(cls),
        "api": "module" if is_module_api else "class",
        "path": str(getattr(source, "__file__", "") or ""),
    }


def _doc(obj: object) -> str:
    import inspect  # noqa: PLC0415 - only for the JSON listing

    doc = getattr(obj, "__doc__", None)  # not inspect.getdoc(): a class without docstring has no description
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


# --- history -------------------------------------------------------------------------------------------------


def _journal_path(config: dict[str, Any]) -> Path:
    from spicerack import _config, _journal  # noqa: PLC0415 - the extra flags load what they use

    return _config.logs_base_dir(config) / _journal.JOURNAL_FILE_NAME


def _failed_hosts(args: argparse.Namespace, config: dict[str, Any]) -> int:
    def produce(journal: Path) -> str:
        only = _extra_runs.parse_only(args.extra_only)
        return _extra_runs.failed_hosts(journal, args.extra_failed_hosts, only, query=args.extra_query) + "\n"

    return _print_of_one_run(config, produce)


def _one_run(args: argparse.Namespace, config: dict[str, Any]) -> int:
    return _print_of_one_run(
        config, lambda journal: _extra_runs.show_run(journal, str(args.cookbook), as_json=args.extra_json)
    )


def _print_of_one_run(config: dict[str, Any], produce: Callable[[Path], str]) -> int:
    """Print what ``produce(journal)`` says of one journaled run; each failure is one line and exit 1."""
    from spicerack import _config  # noqa: PLC0415 - the extra flags load what they use

    try:
        print(produce(_journal_path(config)), end="")
    except _extra_runs.RunExtraError as e:
        return _extra_runs.print_error(e)
    except _config.ConfigError as e:
        print(f"cookbook: {e}", file=sys.stderr)
        return FAILURE
    return 0


def _history(args: argparse.Namespace, config: dict[str, Any]) -> int:
    import json  # noqa: PLC0415 - not loaded by the other commands

    from spicerack import _config, _journal  # noqa: PLC0415 - the extra flags load what they use

    if _extra_runs.looks_like_run_id(args.cookbook):
        return _one_run(args, config)

    query = _journal.HistoryQuery(prefix=str(args.cookbook), user=args.extra_user, failed=args.extra_failed)
    if args.extra_since is not None:
        try:
            query.since = datetime.now(UTC) - _journal.parse_duration(args.extra_since)
        except ValueError as e:
            raise UsageError(f"--since: {e}") from None
    try:
        path = _config.logs_base_dir(config) / _journal.JOURNAL_FILE_NAME
        entries, corrupt = _journal.read_history(path, query)
    except (_config.ConfigError, _journal.JournalError) as e:
        print(f"cookbook: {e}", file=sys.stderr)
        return FAILURE
    if corrupt:
        print(f"cookbook: warning: skipped {corrupt} corrupt line(s) of the journal {path}", file=sys.stderr)
    if args.extra_json:
        print(json.dumps(entries, indent=2))
    elif entries:
        print(_journal.format_table(entries), end="")
    else:
        print(f"No runs recorded in {path}" + (" matching the filters" if _filtered(query) else ""), file=sys.stderr)
    return 0


def _filtered(query: "HistoryQuery") -> bool:
    return bool(query.prefix or query.since or query.user or query.failed)


# --- locks ---------------------------------------------------------------------------------------------------


def _locks(args: argparse.Namespace, config: dict[str, Any]) -> int:
    import json  # noqa: PLC0415 - not loaded by the other commands

    from spicerack import locking  # noqa: PLC0415 - the extra flags load what they use

    params = config.get("instance_params") or {}
    etcd_config = params.get("etcd_config", "") if isinstance(params, dict) else ""
    if args.no_locks or etcd_config == "":
        print("cookbook: locks are disabled (no etcd_config in the instance_params, or --no-locks)", file=sys.stderr)
        held: list[KeyLocks] = []
    else:
        try:
            held = _local_locks() if etcd_config is None else _etcd_locks(Path(str(etcd_config)))
        except locking.LockError as e:
            print(f"cookbook: unable to list the locks: {e}", file=sys.stderr)
            return FAILURE
    rows = lock_rows(held, str(args.cookbook), datetime.now(UTC))
    if args.extra_json:
        print(json.dumps(rows, indent=2))
    elif rows:
        print(format_lock_table(rows), end="")
    elif etcd_config != "" and not args.no_locks:
        print("No locks held" + (f" matching {args.cookbook}" if args.cookbook else ""), file=sys.stderr)
    return 0


def _local_locks() -> list["KeyLocks"]:
    from urllib.parse import unquote  # noqa: PLC0415 - only for the locks view

    from spicerack.locking import ALLOWED_PREFIXES, LocalLock  # noqa: PLC0415 - only for the locks view

    held = []
    for prefix in ALLOWED_PREFIXES:
        lock = LocalLock(prefix=prefix, owner="", dry_run=True)
        directory = lock.lock_dir / prefix
        if not directory.is_dir():
            continue
        for key_dir in sorted(directory.glob("*.lock")):
            key_locks = lock.get(unquote(key_dir.name[: -len(".lock")]))
            if key_locks.locks:
                held.append(key_locks)
    return held


def _etcd_locks(config_file: Path) -> list["KeyLocks"]:
    """The slots stored in etcd under the lock keys of every prefix.

    Raises:
        spicerack.locking.LockError: if etcd can't be reached or answers what isn't locks.

    """
    from spicerack import locking  # noqa: PLC0415 - only for the locks view

    etcd = locking.etcd
    settings, source = locking.load_etcd_config(config_file)
    settings = {**settings, "lock_prefix": locking.KEYS_BASE_PATH, "read_timeout": LOCKS_TIMEOUT}
    try:
        client = etcd.Client(**settings)
        pool_settings = getattr(getattr(client, "http", None), "connection_pool_kw", None)
        if isinstance(pool_settings, dict):
            pool_settings["retries"] = False  # one attempt: the timeout bounds the wait
        result = client.read(locking.KEYS_BASE_PATH, recursive=True, timeout=LOCKS_TIMEOUT)
    except etcd.EtcdKeyNotFound:
        return []
    except TypeError as e:
        raise locking.LockError(f"Invalid etcd settings in {source}: {e}") from None
    except Exception as e:  # python-etcd raises many kinds of errors, none of them needs a traceback here
        where = getattr(locals().get("client"), "base_uri", None) or settings.get("host", "etcd")
        raise locking.LockError(
            f"Unable to reach etcd ({where}): {_one_line(e)}. Check the etcd settings in {source}"
        ) from None
    held = []
    for node in result.leaves:
        key = str(node.key)
        parts = key[len(locking.KEYS_BASE_PATH) + 1 :].split("/")
        if len(parts) != 2 or parts[0] not in locking.ALLOWED_PREFIXES or node.dir or not node.value:
            continue  # the writer lock's queue, or the directory itself
        held.append(locking.KeyLocks.from_json(key, node.value))
    return held


def _one_line(error: Exception) -> str:
    """The gist of an etcd client error: urllib3's messages are long and nested."""
    import re  # noqa: PLC0415 - only when etcd fails

    text = " ".join(str(getattr(error, "cause", None) or error).split()) or type(error).__name__
    if "timed out" in text.lower():
        return f"no answer within {LOCKS_TIMEOUT:g}s"
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    return text if len(text) <= 200 else text[:197] + "..."


def lock_rows(held: Sequence["KeyLocks"], prefix: str, now: datetime) -> list[dict[str, Any]]:
    """One row per live slot of the lock names starting with ``prefix``, sorted by key then start.

    Each row: ``key``, ``prefix``, ``name``, ``holder`` (``user@host [pid]``), ``lock_id``, ``since`` (ISO 8601
    UTC), ``ttl``, ``ttl_left`` (seconds), ``used`` (live slots of the key) and ``concurrency`` (allowed, 0 for
    no limit).
    """
    rows: list[dict[str, Any]] = []
    for key_locks in held:
        lock_path, _, name = key_locks.key.rpartition("/")
        if not name.startswith(prefix):
            continue
        live = [slot for slot in key_locks.locks.values() if slot.expires > now]
        for slot in sorted(live, key=lambda slot: slot.created):
            rows.append(
                {
                    "key": key_locks.key,
                    "prefix": lock_path.rsplit("/", 1)[-1],
                    "name": name,
                    "holder": slot.owner,
                    "lock_id": slot.uuid,
                    "since": slot.created.astimezone(UTC).isoformat(timespec="seconds"),
                    "ttl": slot.ttl,
                    "ttl_left": int((slot.expires - now).total_seconds()),
                    "used": len(live),
                    "concurrency": slot.concurrency,
                }
            )
    return sorted(rows, key=lambda row: (row["key"], row["since"]))


def format_lock_table(rows: Sequence[dict[str, Any]]) -> str:
    """The lock rows as a text table, one line per slot (and a header line)."""
    header = ("KEY", "HOLDER", "SINCE (UTC)", "TTL LEFT", "USED")
    lines = [header]
    for row in rows:
        allowed = str(row["concurrency"]) if row["concurrency"] else "unlimited"
        since = row["since"].replace("T", " ").split("+")[0]
        lines.append((row["key"], row["holder"], since, f"{row['ttl_left']}s", f"{row['used']}/{allowed}"))
    widths = [max(len(line[index]) for line in lines) for index in range(len(header))]
    return "".join(
        "  ".join(
            cell.rjust(width) if index == 3 else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        + "\n"
        for line in lines
    )
