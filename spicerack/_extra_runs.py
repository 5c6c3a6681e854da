"""The operator extras that read one journaled run: ``--history RUN_ID``, ``--failed-hosts`` and ``--rerun``.

* ``cookbook --history RUN_ID [--json]``: the run in full, with the per-host outcomes of each remote execution;
* ``cookbook --failed-hosts RUN_ID [--only failed|timeout|not-run] [--query]``: the hosts of the run that failed,
  timed out or were not run, as one folded NodeSet (``D{...}``, a cumin query, with ``--query``);
* ``cookbook [GLOBAL OPTIONS] --rerun RUN_ID [ARGS...]``: the same cookbook with the same arguments, the changes of
  ``ARGS`` applied (see :py:func:`spicerack._rerun.merge_arguments`) and the secret values asked again, after the
  operator confirmed the command line.

Each failure is one line on stderr and exit code 1, never a traceback.
"""

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spicerack import _config, _journal, _outcomes, _rerun, _runtime
from spicerack._menu import CookbookItem

FAILURE = 1
"""Exit code when the run is unknown, has no such hosts or the re-run is refused."""
RERUN_FLAG = "--rerun"
"""The flag that starts a re-run; what follows its RUN_ID belongs to the re-run."""
ONLY_CHOICES = _outcomes.OUTCOMES
"""What ``--failed-hosts --only`` accepts (several, comma separated)."""


class RunExtraError(Exception):
    """A journaled run can't be shown, selected from or re-run: the message is the one line to print."""


def looks_like_run_id(text: str | None) -> bool:
    """Whether ``--history``'s argument names a run (hexadecimal, as long as a run ID prefix) rather than a PREFIX."""
    if not text or len(text) < _journal.RUN_ID_MIN_PREFIX or len(text) > 16:
        return False
    return all(character in "0123456789abcdefABCDEF" for character in text)


def show_run(journal: Path, run_id: str, *, as_json: bool) -> str:
    """The text ``cookbook --history RUN_ID`` prints: the run in full, or its journal entry as JSON.

    Raises:
        spicerack._extra_runs.RunExtraError: if the run is unknown or the journal unreadable.

    """
    entry = _find(journal, run_id)
    if as_json:
        import json  # noqa: PLC0415 - not loaded by the other commands

        return json.dumps(entry, indent=2) + "\n"
    return _journal.format_run(entry)


def parse_only(text: str | None) -> tuple[str, ...]:
    """The outcomes ``--only`` selects (all of them when not given).

    Raises:
        spicerack._extra_runs.RunExtraError: if one of them is not an outcome.

    """
    if text is None:
        return ONLY_CHOICES
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [part for part in chosen if part not in ONLY_CHOICES]
    if unknown or not chosen:
        raise RunExtraError(
            f"--only: invalid outcome {', '.join(unknown) or repr(text)} (choose among {', '.join(ONLY_CHOICES)})"
        )
    return chosen


def failed_hosts(journal: Path, run_id: str, only: Sequence[str] = ONLY_CHOICES, *, query: bool = False) -> str:
    """The line ``cookbook --failed-hosts RUN_ID`` prints: the run's hosts with one of the outcomes ``only``.

    Raises:
        spicerack._extra_runs.RunExtraError: if the run is unknown, recorded no execution or has no such host.

    """
    entry = _find(journal, run_id)
    executions = [execution for execution in entry.get("executions") or [] if isinstance(execution, dict)]
    if not any(execution.get("executed") for execution in executions):
        raise RunExtraError(f"Run {entry.get('run_id')} ({entry.get('cookbook')}) executed no remote command")
    hosts = _outcomes.hosts_with(executions, only)
    if not hosts:
        raise RunExtraError(f"Run {entry.get('run_id')} ({entry.get('cookbook')}) has no host {'/'.join(only)}")
    return f"D{{{hosts}}}" if query else hosts


# --- re-run --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rerun:
    """A ``--rerun`` request of the command line."""

    run_id: str
    """The run to re-run."""
    global_args: list[str]
    """The ``cookbook`` options given before ``--rerun``."""
    changes: list[str]
    """The arguments after RUN_ID, to apply to the recorded ones."""


def split_rerun(argv: Sequence[str], parser: argparse.ArgumentParser) -> Rerun | None:
    """Find a ``--rerun RUN_ID [ARGS...]`` among the global options of a ``cookbook`` command line.

    ``--rerun`` counts only before COOKBOOK (after it, it is an argument of the cookbook).

    Arguments:
        argv: the command line arguments.
        parser: the ``cookbook`` parser, to know which global options take a value.

    Raises:
        spicerack._extra_runs.RunExtraError: if ``--rerun`` has no RUN_ID.

    """
    args = list(argv)
    index = _global_options_end(args, parser, stop_at=RERUN_FLAG)
    if index >= len(args):
        return None
    flag, equal, value = args[index].partition("=")
    if flag != RERUN_FLAG:
        return None
    if equal:
        run_id, changes = value, args[index + 1 :]
    elif index + 1 < len(args) and not args[index + 1].startswith("-"):
        run_id, changes = args[index + 1], args[index + 2 :]
    else:
        raise RunExtraError("--rerun needs the RUN_ID of the run to re-run (see cookbook --history)")
    return Rerun(run_id=run_id, global_args=args[:index], changes=changes)


def _global_options_end(args: list[str], parser: argparse.ArgumentParser, *, stop_at: str) -> int:
    """The index of ``stop_at`` among the global options, or of the first positional argument (COOKBOOK)."""
    index = 0
    while index < len(args):
        arg = args[index]
        name = arg.partition("=")[0]
        if name == stop_at or arg == "--" or not arg.startswith("-") or arg == "-":
            return index
        action = parser._option_string_actions.get(name)  # argparse has no public lookup by option string
        takes_value = action is not None and action.nargs != 0 and "=" not in arg
        index += 2 if takes_value else 1
    return index


def recorded_run(journal: Path, rerun: Rerun) -> dict[str, Any]:
    """The journal entry of the run to re-run.

    Raises:
        spicerack._extra_runs.RunExtraError: if the run is unknown or its entry has no usable arguments.

    """
    entry = _find(journal, rerun.run_id)
    if not isinstance(entry.get("args"), list) or not isinstance(entry.get("cookbook"), str):
        raise RunExtraError(f"Run {entry.get('run_id')} has no recorded cookbook arguments to re-run")
    return entry


def rerun_arguments(
    entry: dict[str, Any],
    rerun: Rerun,
    cookbook_parser: argparse.ArgumentParser | None,
) -> list[str]:
    """The cookbook's arguments for the re-run, still with :py:data:`spicerack._journal.REDACTED` for secrets."""
    recorded = [str(arg) for arg in entry["args"]]
    return _rerun.merge_arguments(recorded, rerun.changes, cookbook_parser)


def confirm_and_ask(
    entry: dict[str, Any],
    rerun: Rerun,
    arguments: list[str],
    *,
    confirm: Callable[[str], None],
    ask_secret: Callable[[str], str],
) -> list[str]:
    """Show the re-run's command line, have the operator confirm it, ask the secret values; return the full argv.

    Arguments:
        entry: the journal entry of the run to re-run.
        rerun: the request.
        arguments: the cookbook's arguments (:py:func:`rerun_arguments`).
        confirm: asks the operator to confirm the message, raising if refused (wmflib's ``ask_confirmation``).
        ask_secret: asks the value of a secret option (wmflib's ``get_secret``).

    Returns:
        The ``cookbook`` command line to run: the global options, the cookbook and its arguments.

    Raises:
        spicerack._extra_runs.RunExtraError: if the operator refused or could not be asked.

    """
    shown = shlex.join(["cookbook", *rerun.global_args, str(entry["cookbook"]), *arguments])
    try:
        confirm(f"Re-run of run {entry.get('run_id')} ({entry.get('start', '?')}):\n    {shown}\nRun it?")
        answered = _rerun.ask_secrets(arguments, _journal.REDACTED, ask_secret)
    except Exception as e:  # wmflib's AbortError, InputError (no TTY) and the like: all end the re-run
        raise RunExtraError(f"Not re-running run {entry.get('run_id')}: {e}") from None
    return [*rerun.global_args, str(entry["cookbook"]), *answered]


def _find(journal: Path, run_id: str) -> dict[str, Any]:
    try:
        return _journal.find_run(journal, run_id)
    except _journal.JournalError as e:
        raise RunExtraError(str(e)) from None


def print_error(error: RunExtraError) -> int:
    """Print the one line of an error of these extras; return the exit code."""
    print(f"cookbook: {error}", file=sys.stderr)
    return FAILURE


def prepare_rerun(
    args: argparse.Namespace,
    rerun: Rerun,
    *,
    loader: Callable[[str], Any],
    collection_class: Any,
) -> tuple[list[str], str]:
    """Everything ``--rerun`` does before the run: find the run, merge the arguments, confirm, ask the secrets.

    Arguments:
        args: the ``cookbook`` options given before ``--rerun``, parsed.
        rerun: the request.
        loader: reads the configuration file.
        collection_class: the collection that finds the cookbook (to read its parser).

    Returns:
        The ``cookbook`` command line of the re-run and the run ID it re-runs.

    Raises:
        spicerack._extra_runs.RunExtraError: if the run can't be re-run or the operator did not confirm.
        spicerack._runtime.RunError: if the configuration or the trees can't be used.

    """
    from wmflib.interactive import ask_confirmation, get_secret  # noqa: PLC0415 - only to re-run

    loaded = _runtime.load_config(getattr(args, "config_file", None), loader=loader)
    try:
        journal = _config.logs_base_dir(loaded.config) / _journal.JOURNAL_FILE_NAME
    except _config.ConfigError as e:
        raise RunExtraError(str(e)) from None
    entry = recorded_run(journal, rerun)
    parser = _cookbook_parser(loaded, args, str(entry["cookbook"]), collection_class)
    arguments = rerun_arguments(entry, rerun, parser)
    argv = confirm_and_ask(
        entry,
        rerun,
        arguments,
        confirm=ask_confirmation,
        ask_secret=lambda name: str(get_secret(f"Value of {name} (the journal does not keep it)")),
    )
    return argv, str(entry["run_id"])


def _cookbook_parser(
    loaded: Any, args: argparse.Namespace, name: str, collection_class: Any
) -> argparse.ArgumentParser | None:
    """The argument parser of the cookbook to re-run, to read its options; None if it can't be had."""
    base_dirs = _runtime.activate_config_trees(loaded.config)
    spicerack = _runtime.build_accessor(loaded.config, base_dirs, dry_run=True, locks=False)
    try:
        item = _runtime.find_item(
            _runtime.collect(base_dirs, spicerack, path_filter=name, collection_class=collection_class), name
        )
    except _runtime.NotFoundError:
        raise RunExtraError(f"Run of cookbook {name}, which is no longer in the trees: not re-running it") from None
    if not isinstance(item, CookbookItem):
        return None
    try:
        parser: argparse.ArgumentParser = item.instance.argument_parser()
    except BaseException:  # the run itself will say what is wrong with it
        return None
    return parser
