"""The arguments of a re-run: a journaled run's arguments, with the operator's changes and the secrets asked again.

Used by ``cookbook --rerun RUN_ID [ARGS...]``; imports nothing of the package. The cookbook's own parser, when
given, tells how many values each option takes, so that an option typed again replaces the recorded one with its
values; without it an option is taken to have one value unless the next argument is an option too.
"""

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

POSITIONALS_MARKER = "--"
"""What separates the options of ``--rerun`` from the positional arguments that replace the recorded ones."""


@dataclass
class _Group:
    """One option with its values (``option`` empty for a positional argument), as typed."""

    option: str
    tokens: list[str] = field(default_factory=list)


def merge_arguments(
    recorded: Sequence[str], changes: Sequence[str], parser: argparse.ArgumentParser | None = None
) -> list[str]:
    """Return the recorded arguments with the changes applied.

    An option in ``changes`` replaces, in place, every occurrence of the same option (by destination, so ``-r`` and
    ``--reason`` are the same) among the recorded arguments, or is appended when it was not there. Positional
    arguments in ``changes`` (those after ``--``) replace the recorded positional arguments in order.

    Arguments:
        recorded: the arguments of the earlier run, as the journal holds them.
        changes: the arguments the operator typed after ``--rerun RUN_ID``.
        parser: the cookbook's argument parser, if it could be built.

    """
    options, _, positionals = _split_marker(list(changes))
    replaced = {_destination(group.option, parser): group for group in _groups(options, parser) if group.option}
    extra_positionals = [*(group.tokens[0] for group in _groups(options, parser) if not group.option), *positionals]
    merged: list[str] = []
    used: set[str] = set()
    positional_index = 0
    for group in _groups(list(recorded), parser):
        if not group.option:
            if positional_index < len(extra_positionals):
                merged.append(extra_positionals[positional_index])
            else:
                merged.extend(group.tokens)
            positional_index += 1
            continue
        destination = _destination(group.option, parser)
        if destination in replaced:
            if destination not in used:
                merged.extend(replaced[destination].tokens)
                used.add(destination)
            continue
        merged.extend(group.tokens)
    for destination, group in replaced.items():
        if destination not in used:
            merged.extend(group.tokens)
    merged.extend(extra_positionals[positional_index:])
    return merged


def ask_secrets(args: Sequence[str], redacted: str, ask: Callable[[str], str]) -> list[str]:
    """Return the arguments with each redacted value replaced by what ``ask(option)`` answers.

    Arguments:
        args: the arguments, with ``redacted`` where the journal did not keep a value.
        redacted: the journal's placeholder of a secret value.
        ask: asks the operator the value of the named option, e.g. through :py:func:`getpass.getpass`.

    """
    answered: list[str] = []
    previous = ""
    for arg in args:
        name, equal, value = arg.partition("=")
        if arg.startswith("-") and equal and value == redacted:
            answered.append(f"{name}={ask(name)}")
        elif arg == redacted:
            answered.append(ask(previous or "the secret argument"))
        else:
            answered.append(arg)
        previous = arg if arg.startswith("-") else ""
    return answered


def _split_marker(args: list[str]) -> tuple[list[str], bool, list[str]]:
    if POSITIONALS_MARKER in args:
        index = args.index(POSITIONALS_MARKER)
        return args[:index], True, args[index + 1 :]
    return args, False, []


def _groups(args: list[str], parser: argparse.ArgumentParser | None) -> list[_Group]:
    """Split arguments into options with their values and positional arguments, as the parser would read them."""
    groups: list[_Group] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == POSITIONALS_MARKER:
            groups.extend(_Group("", [value]) for value in args[index + 1 :])
            break
        if not _is_option(arg):
            groups.append(_Group("", [arg]))
            index += 1
            continue
        name = arg.partition("=")[0]
        count = 0 if "=" in arg else _values_count(name, args[index + 1 :], parser)
        groups.append(_Group(name, args[index : index + 1 + count]))
        index += 1 + count
    return groups


def _is_option(arg: str) -> bool:
    return arg.startswith("-") and len(arg) > 1 and not arg[1:2].isdigit()


def _values_count(name: str, following: list[str], parser: argparse.ArgumentParser | None) -> int:
    """How many of the following arguments are the option's values."""
    action = _action(name, parser)
    nargs = action.nargs if action is not None else None
    if action is not None and nargs == 0:
        return 0
    if isinstance(nargs, int):
        return min(nargs, len(following))
    available = 0
    while available < len(following) and not _is_option(following[available]):
        available += 1
    if nargs in ("*", "+"):
        return available
    if nargs == "?" or action is None:
        return min(1, available)
    return min(1, len(following))  # one value, even if it starts with a dash ("--opt -x" gives "-x")


def _action(name: str, parser: argparse.ArgumentParser | None) -> argparse.Action | None:
    if parser is None:
        return None
    return parser._option_string_actions.get(name)  # argparse has no public lookup by option string


def _destination(name: str, parser: argparse.ArgumentParser | None) -> str:
    action = _action(name, parser)
    return action.dest if action is not None else name
