"""The calls of cumin a fake or recorded run makes, and what each command did on each host.

Shared by the fake fleet (:py:mod:`spicerack.testing._fleet`), the live recorder (:py:mod:`spicerack.testing._live`)
and the plan (:py:mod:`spicerack.testing._plan`), none of which needs another for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cumin import NodeSet
from cumin.transports import Command


@dataclass
class Outcome:
    """What one command did on one host."""

    exit_code: int | None
    output: str
    timed_out: bool = False


@dataclass
class RemoteCall:
    """One call of cumin for a set of hosts: filled when the worker is set up, then when (if) it executes."""

    hosts: NodeSet
    batch_size: int
    batch_sleep: float
    commands: list[Command] = field(default_factory=list)
    mode: str = ""
    success_threshold: float = 1.0
    executed: bool = False
    return_code: int | None = None
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)
    """Per host, the outcome of each command that ran on it."""

    @property
    def failed_hosts(self) -> NodeSet:
        """The hosts on which a command failed or timed out."""
        return NodeSet.fromlist(
            [host for host, outcomes in self.outcomes.items() if _host_state(self, outcomes) in ("failed", "timeout")]
        )

    def host_state(self, host: str) -> str:
        """``ok``, ``failed``, ``timeout`` or ``stopped`` (not all commands ran) for a host, else ``pending``."""
        if host not in self.outcomes:
            return "pending"
        return _host_state(self, self.outcomes[host])


def _host_state(call: RemoteCall, outcomes: list[Outcome]) -> str:
    if outcomes and outcomes[-1].timed_out:
        return "timeout"
    if outcomes and not command_succeeded(call.commands[len(outcomes) - 1], outcomes[-1]):
        return "failed"
    if len(outcomes) < len(call.commands):
        return "stopped"  # the execution stopped before the next command (sync mode, below the threshold)
    return "ok"


def command_succeeded(command: Command, outcome: Outcome) -> bool:
    """Whether the command ended well on the host: in time, with one of its accepted exit codes."""
    if outcome.timed_out:
        return False
    return not command.ok_codes or outcome.exit_code in command.ok_codes
