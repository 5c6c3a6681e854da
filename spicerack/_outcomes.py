"""Per-host outcomes of a run's remote executions, summarised for the run's journal entry.

A bottom module: :py:mod:`spicerack.remote` reports each execution here, the journal installs the sink that keeps
them with the running cookbook's entry, and the operator extras read them back (``--history RUN_ID``,
``--failed-hosts``). Hosts are kept as folded ClusterShell NodeSet strings, so that an entry stays small whatever
the size of the fleet.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

MAX_EXECUTIONS = 50
"""How many executions a run's journal entry keeps at most; the others are only counted."""
MAX_COMMANDS = 5
"""How many commands of one execution are kept; the others are only counted."""
MAX_COMMAND_CHARS = 200
"""How much of one command is kept."""
OUTCOMES = ("failed", "timeout", "not-run")
"""The outcomes that ``--failed-hosts`` can select, in the order they are shown."""

Execution = dict[str, Any]
"""One execution as the journal keeps it: ``commands``, ``hosts``, ``executed`` and the hosts of each outcome."""
Sink = Callable[[Execution], None]

_sink: Sink | None = None


def set_sink(sink: Sink | None) -> None:
    """Send the summaries of the executions that follow to ``sink`` (:py:data:`None`: keep them nowhere)."""
    global _sink
    _sink = sink


def record(
    commands: Sequence[object],
    hosts: Iterable[str],
    hosts_results: Mapping[str, Any] | None,
    *,
    executed: bool,
    redact: Callable[[str], str] | None = None,
) -> None:
    """Summarise one execution and hand it to the sink, if there is one; never raises.

    Arguments:
        commands: the commands, as strings or cumin ``Command`` objects.
        hosts: the hosts the execution targeted.
        hosts_results: cumin's ``hosts_results`` mapping (host name to its ``HostResults``), :py:data:`None` if the
            execution never started.
        executed: whether the commands were sent (:py:data:`False` for those skipped in DRY-RUN).
        redact: what to apply to each command's text before it is kept.

    """
    sink = _sink
    if sink is None:
        return
    try:
        sink(summarize(commands, hosts, hosts_results, executed=executed, redact=redact))
    except Exception:  # the journal must never break a remote execution
        return


def summarize(
    commands: Sequence[object],
    hosts: Iterable[str],
    hosts_results: Mapping[str, Any] | None,
    *,
    executed: bool,
    redact: Callable[[str], str] | None = None,
) -> Execution:
    """Return the summary of one execution (see :py:func:`record` for the arguments)."""
    from ClusterShell.NodeSet import NodeSet  # noqa: PLC0415 - ClusterShell is loaded by cumin only when remote runs

    targeted = NodeSet.fromlist(list(hosts))
    texts = [str(getattr(command, "command", command)) for command in commands]
    if redact is not None:
        texts = [redact(text) for text in texts]
    summary: Execution = {
        "commands": [_cut(text) for text in texts[:MAX_COMMANDS]],
        "hosts": str(targeted),
        "executed": executed,
    }
    if len(texts) > MAX_COMMANDS:
        summary["more_commands"] = len(texts) - MAX_COMMANDS
    succeeded, timeout, not_run = NodeSet(), NodeSet(), NodeSet()
    failed: dict[str, Any] = {}
    results = hosts_results if executed and hosts_results is not None else {}
    for name in targeted:
        host = results.get(name)
        state = str(getattr(host, "state", "")) if host is not None else ""
        if state == "success":
            succeeded.add(name)
        elif state == "failed":
            codes = getattr(host, "return_codes", ())
            failed.setdefault(str(codes[-1]) if codes else "?", NodeSet()).add(name)
        elif state == "timeout":
            timeout.add(name)
        else:
            not_run.add(name)
    summary["succeeded"] = str(succeeded)
    summary["failed"] = {code: str(nodes) for code, nodes in sorted(failed.items())}
    summary["timeout"] = str(timeout)
    summary["not_run"] = str(not_run)
    return summary


def append_bounded(executions: list[Execution], execution: Execution, dropped: int) -> int:
    """Append an execution to a run's list unless it is full; return the new count of dropped executions."""
    if len(executions) < MAX_EXECUTIONS:
        executions.append(execution)
        return dropped
    return dropped + 1


def hosts_with(executions: Iterable[Execution], only: Iterable[str] = OUTCOMES) -> str:
    """Return, as a folded NodeSet string, the hosts of the executions whose outcome is among ``only``.

    Arguments:
        executions: the executions of a journal entry.
        only: some of :py:data:`OUTCOMES`.

    """
    from ClusterShell.NodeSet import NodeSet  # noqa: PLC0415 - only for the extras that read outcomes

    wanted = set(only)
    selected = NodeSet()
    for execution in executions:
        if not execution.get("executed"):
            continue
        if "failed" in wanted:
            for nodes in (execution.get("failed") or {}).values():
                selected.update(nodes)
        if "timeout" in wanted:
            selected.update(execution.get("timeout") or "")
        if "not-run" in wanted:
            selected.update(execution.get("not_run") or "")
    return str(selected)


def format_executions(executions: Sequence[Execution], dropped: int = 0) -> list[str]:
    """Return the lines that show each execution and its per-host outcomes, for ``--history RUN_ID``."""
    lines: list[str] = []
    for number, execution in enumerate(executions, start=1):
        commands = list(execution.get("commands") or [])
        more = execution.get("more_commands")
        if more:
            commands.append(f"... and {more} more")
        state = "" if execution.get("executed") else " (not executed: DRY-RUN)"
        lines.append(f"#{number} on {execution.get('hosts', '')}{state}: {' ; '.join(commands)}")
        lines.extend(f"    {label:<10} {hosts}" for label, hosts in _outcome_rows(execution))
    if dropped:
        lines.append(f"... and {dropped} more executions, not kept")
    return lines


def _outcome_rows(execution: Execution) -> list[tuple[str, str]]:
    rows = []
    if execution.get("succeeded"):
        rows.append(("succeeded", str(execution["succeeded"])))
    rows.extend((f"failed ({code})", str(nodes)) for code, nodes in (execution.get("failed") or {}).items())
    for key, label in (("timeout", "timed out"), ("not_run", "not run")):
        if execution.get(key):
            rows.append((label, str(execution[key])))
    return rows


def _cut(text: str) -> str:
    return text if len(text) <= MAX_COMMAND_CHARS else text[: MAX_COMMAND_CHARS - 3] + "..."
