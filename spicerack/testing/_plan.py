"""The plan: the ordered record of what a cookbook did, or would have done, that touches the outside."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cumin import NodeSet

if TYPE_CHECKING:
    from cumin.transports import Command

    from spicerack.testing._calls import RemoteCall

NORMALIZERS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:?\d{2}|Z)?"), "<datetime>"),
    (re.compile(r"(?<![\d.])1[5-9]\d{8}(\.\d+)?(?![\d.])"), "<epoch>"),
)
"""What the plan's lines replace because it changes at every run: dates and times, Unix times (2017 to 2033)."""

KINDS = (
    "remote",
    "http",
    "conftool",
    "dns",
    "sal",
    "irc",
    "lock",
    "cookbook",
    "end",
    "rollback",
    "prompt",
    "sleep",
    "network",
    "dry-run",
    "exit_code",
)
"""The kinds of actions, the first word of each line of the plan."""


@dataclass
class Action:
    """One action of the plan: its kind, its details, and how deep in ``run_cookbook()`` children it happened.

    For ``remote`` actions :py:attr:`call` holds the cumin call (hosts, batches, commands, per-host outcomes).
    """

    kind: str
    details: str = ""
    depth: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    call: RemoteCall | None = None
    dry_run: bool = False

    @property
    def text(self) -> str:
        """The action as one line: ``kind: details``, indented two spaces per level of child cookbook."""
        details = _remote_details(self.call, self.dry_run) if self.call is not None else self.details
        return f"{'  ' * self.depth}{self.kind}: {details}"

    @property
    def hosts(self) -> NodeSet:
        """The targets of a remote action (empty for other kinds)."""
        return self.call.hosts.copy() if self.call is not None else NodeSet()

    def __str__(self) -> str:
        """The action's line."""
        return self.text

    def as_dict(self) -> dict[str, Any]:
        """The action as JSON-serializable data: kind, depth, line details, and the kind's own fields."""
        data: dict[str, Any] = {"kind": self.kind, "depth": self.depth, "details": self.text.split(": ", 1)[1]}
        if self.call is not None:
            call = self.call
            data.update(
                hosts=str(call.hosts),
                mode=call.mode,
                commands=[command.command for command in call.commands],
                batch_size=call.batch_size,
                batch_sleep=call.batch_sleep,
                success_threshold=call.success_threshold,
                executed=call.executed,
                return_code=call.return_code,
                failed_hosts=str(call.failed_hosts),
            )
        else:
            data.update({key: value for key, value in self.data.items() if _is_json(value)})
        return data


class Plan:
    """The ordered actions of a run, comparable with a list of lines: ``assert plan == ["sal: START - ...", ...]``."""

    __hash__ = None  # type: ignore[assignment] # mutable, compared by value

    def __init__(self, actions: Sequence[Action] = ()) -> None:
        """Hold the actions, in the order they happened."""
        self.actions: list[Action] = list(actions)
        self.normalizers: list[tuple[re.Pattern[str], str]] = list(NORMALIZERS)
        """The ``(pattern, replacement)`` substitutions of :py:attr:`lines`; add yours for other varying values."""

    @property
    def lines(self) -> list[str]:
        """One line per action (see :py:attr:`Action.text`), with the values varying between runs normalized."""
        lines = []
        for action in self.actions:
            line = action.text
            for pattern, replacement in self.normalizers:
                line = pattern.sub(replacement, line)
            lines.append(line)
        return lines

    @property
    def text(self) -> str:
        """The lines, newline-terminated: the content of a snapshot file."""
        return "".join(f"{line}\n" for line in self.lines)

    def __str__(self) -> str:
        """The plan as text."""
        return self.text

    def __repr__(self) -> str:
        """The lines, for failed assertions."""
        return f"Plan({self.lines!r})"

    def __len__(self) -> int:
        """The number of actions."""
        return len(self.actions)

    def __eq__(self, other: object) -> bool:
        """Compare with another plan, a list of lines, or a text (blank lines and trailing spaces ignored)."""
        if isinstance(other, Plan):
            return self.lines == other.lines
        if isinstance(other, str):
            return self.lines == _text_lines(other)
        if isinstance(other, list | tuple):
            return self.lines == [str(line) for line in other]
        return NotImplemented

    def as_data(self) -> list[dict[str, Any]]:
        """The actions as JSON-serializable data (see :py:meth:`Action.as_dict`), e.g. for ``json.dumps()``."""
        return [action.as_dict() for action in self.actions]

    def diff(self, expected: Sequence[str] | str, *, expected_name: str = "expected") -> str:
        """A unified diff from the expected lines (or text) to this plan's lines; empty when they are equal."""
        lines = _text_lines(expected) if isinstance(expected, str) else [str(line) for line in expected]
        return "\n".join(difflib.unified_diff(lines, self.lines, expected_name, "actual", lineterm=""))

    def of_kind(self, *kinds: str) -> list[Action]:
        """The actions of the given kinds, in order."""
        return [action for action in self.actions if action.kind in kinds]

    def remote(self, *, on: str | None = None, executed: bool | None = None) -> list[Action]:
        """The remote actions, optionally only those targeting a host and/or only those that ran (or not)."""
        return [
            action
            for action in self.of_kind("remote")
            if action.call is not None
            and (on is None or on in action.call.hosts)
            and (executed is None or action.call.executed == executed)
        ]

    def commands(self, *, on: str | None = None, executed: bool | None = None) -> list[str]:
        """The command strings of the remote actions (filtered as :py:meth:`remote`), in order."""
        return [
            command.command
            for action in self.remote(on=on, executed=executed)
            if action.call is not None
            for command in action.call.commands
        ]

    def sal(self) -> list[str]:
        """The messages logged to the Server Admin Log."""
        return [action.details for action in self.of_kind("sal")]

    def irc(self) -> list[str]:
        """The messages sent to IRC."""
        return [action.details for action in self.of_kind("irc")]

    def locks(self) -> list[str]:
        """The locks taken, as ``prefix/name``."""
        return [str(action.data["key"]) for action in self.of_kind("lock")]

    def prompts(self) -> list[tuple[str, str | None]]:
        """The prompts shown and their answers (:py:data:`None` when no answer was left)."""
        return [(action.data["message"], action.data["answer"]) for action in self.of_kind("prompt")]

    def cookbooks(self) -> list[tuple[str, list[str], int | None]]:
        """The child cookbooks run with ``run_cookbook()``: name, arguments and exit code."""
        return [
            (action.data["name"], action.data["args"], action.data.get("exit_code"))
            for action in self.of_kind("cookbook")
        ]

    def http(self, *, method: str | None = None) -> list[tuple[str, str, int]]:
        """The HTTP requests (method, URL, status), optionally of one method only."""
        return [
            (action.data["method"], action.data["url"], action.data["status"])
            for action in self.of_kind("http")
            if method is None or action.data["method"].upper() == method.upper()
        ]

    def conftool(self, *, executed: bool | None = None) -> list[tuple[str, dict[str, Any] | None]]:
        """The conftool writes (key, values; :py:data:`None` for a deletion), or only those done (or skipped)."""
        return [
            (action.data["key"], action.data["value"])
            for action in self.of_kind("conftool")
            if executed is None or action.details.endswith("-> ok") == executed
        ]

    def sleeps(self) -> list[float]:
        """The seconds of each ``time.sleep()`` (skipped by the harness), e.g. the waits between retries."""
        return [float(action.data["seconds"]) for action in self.of_kind("sleep")]

    @property
    def exit_code(self) -> int | None:
        """The exit code of the run (the last ``exit_code`` action), :py:data:`None` before it ends."""
        ends = [action for action in self.of_kind("exit_code") if action.depth == 0]
        return int(ends[-1].data["code"]) if ends else None


class Recorder:
    """Collects the actions of a run, tracking the nesting of child cookbooks."""

    def __init__(self) -> None:
        """Start with an empty plan."""
        self.plan = Plan()
        self.depth = 0

    def add(self, kind: str, details: str, **data: Any) -> Action:
        """Append an action at the current depth and return it."""
        action = Action(kind, details, self.depth, data)
        self.plan.actions.append(action)
        return action

    def remote(self, call: RemoteCall, *, dry_run: bool) -> Action:
        """Append a remote action, rendered from the call when the plan is read."""
        action = Action("remote", "", self.depth, {}, call, dry_run)
        self.plan.actions.append(action)
        return action


def _remote_details(call: RemoteCall, dry_run: bool) -> str:
    options = [call.mode]
    if call.batch_size < len(call.hosts):
        options.append(f"batch={call.batch_size}")
        if call.batch_sleep:
            options.append(f"sleep={call.batch_sleep:g}")
    if call.success_threshold != 1.0:
        options.append(f"threshold={call.success_threshold:g}")
    commands = "; ".join(_command_text(command) for command in call.commands)
    return f"{call.hosts} {' '.join(options)}: {commands} -> {_outcome_text(call, dry_run)}"


def _command_text(command: Command) -> str:
    extras = []
    if command.timeout:
        extras.append(f"timeout={command.timeout:g}")
    if command.ok_codes != [0]:
        extras.append(f"ok_codes={','.join(str(code) for code in command.ok_codes) or 'any'}")
    return f"{command.command} [{', '.join(extras)}]" if extras else command.command


def _outcome_text(call: RemoteCall, dry_run: bool) -> str:
    if not call.executed:
        return "skipped (DRY-RUN)" if dry_run else "not run"
    if call.return_code == 0:
        return "ok"
    failures = []
    for host in call.hosts:
        state = call.host_state(host)
        if state == "timeout":
            failures.append(f"{host} timeout")
        elif state == "failed":
            failures.append(f"{host} exit {call.outcomes[host][-1].exit_code}")
    pending = NodeSet.fromlist([host for host in call.hosts if call.host_state(host) in ("pending", "stopped")])
    text = f"failed (exit_code={call.return_code}): {', '.join(failures)}"
    return f"{text}; not run on {pending}" if pending else text


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_is_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_json(item) for key, item in value.items())
    return False


def _text_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]
