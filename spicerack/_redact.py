"""Redaction of secret argument values, for every place a cookbook's command line is written to.

An option is secret when its long name contains one of the :py:data:`DEFAULT_SECRET_WORDS` (or of the words set in
the configuration's ``secret_option_words``), when it is listed explicitly, or when the cookbook declared it with
``type=spicerack.cookbook.secret``. With the cookbook's parser, the short aliases of secret options (``-p`` for
``-p/--pin``) and unambiguous abbreviations (``--pass`` for ``--password``) are secret too. The value of a secret
option, given as the next argument, ``--option=value`` or ``-pvalue``, is written as :py:data:`REDACTED`.

This module imports nothing of the package, so that any module can use it.
"""

import argparse
import shlex
from collections.abc import Callable, Iterable, Sequence
from typing import Any

REDACTED = "***"
"""What is written instead of a secret value."""
DEFAULT_SECRET_WORDS = ("password", "passwd", "pass", "pw", "pin", "secret", "token", "key", "credential", "auth")
"""An option whose long name contains one of these words (in any case) is secret."""
SECRET_WORDS_CONFIG_KEY = "secret_option_words"  # noqa: S105 - a key name
"""Configuration key: the words that make an option secret, replacing :py:data:`DEFAULT_SECRET_WORDS`."""


class SecretType:
    """An argparse ``type=`` marking its argument secret, converting the value as ``convert`` does."""

    def __init__(self, convert: Callable[[str], Any] = str) -> None:
        """Mark an argument secret, its value converted by ``convert`` (``str`` by default)."""
        self.convert = convert
        self.__name__ = getattr(convert, "__name__", repr(convert))  # argparse names the type in its errors

    def __call__(self, value: str) -> Any:
        """Convert the value as the wrapped type does."""
        return self.convert(value)


def secret_words(config: dict[str, Any] | None) -> tuple[str, ...]:
    """The secret words of a configuration: its ``secret_option_words`` if set, else the default ones."""
    words = (config or {}).get(SECRET_WORDS_CONFIG_KEY)
    if isinstance(words, str):
        return (words,)
    if isinstance(words, list) and words:
        return tuple(str(word) for word in words)
    return DEFAULT_SECRET_WORDS


def redact(
    args: Sequence[str],
    parser: argparse.ArgumentParser | None = None,
    secret_names: Iterable[str] = DEFAULT_SECRET_WORDS,
    secret_options: Iterable[str] = (),
) -> list[str]:
    """Return the arguments with the values of secret options replaced by ``***``.

    Arguments:
        args: the cookbook's command line arguments.
        parser: the cookbook's argument parser, to resolve short aliases, abbreviations and explicitly secret
            arguments; without it only long options are recognized by name.
        secret_names: the words that make an option secret when its long name contains one.
        secret_options: option names whose values are secret whatever their name, e.g. ``["-k"]``.

    """
    words = tuple(word.lower() for word in secret_names if word)
    secret = set(secret_options)
    flags: set[str] = set()
    multi: set[str] = set()
    long_options: list[str] = []
    if parser is not None:
        secret_from_parser, flags, multi, long_options = _parser_options(parser, words)
        secret |= secret_from_parser
    redacted: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            redacted.extend(args[index - 1 :])
            break
        hidden = _redact_one(arg, secret, flags, long_options, words)
        if hidden is None:
            redacted.append(arg)
        elif hidden == arg:  # the value is the next argument, or the next ones
            redacted.append(arg)
            if index < len(args):
                redacted.append(REDACTED)
                index += 1
            while _takes_many(arg, multi, long_options) and index < len(args) and not args[index].startswith("-"):
                redacted.append(REDACTED)
                index += 1
        else:
            redacted.append(hidden)
    return redacted


def _parser_options(
    parser: argparse.ArgumentParser, words: Sequence[str]
) -> tuple[set[str], set[str], set[str], list[str]]:
    """A parser's secret option strings, its options taking no value, those taking several, all its long options."""
    secret: set[str] = set()
    flags: set[str] = set()
    multi: set[str] = set()
    long_options: list[str] = []
    for action in parser._actions:  # argparse has no public accessor
        strings = list(action.option_strings)
        long_options.extend(string for string in strings if string.startswith("--"))
        if action.nargs == 0:
            flags.update(strings)
            continue
        if action.nargs in ("+", "*", argparse.REMAINDER) or (isinstance(action.nargs, int) and action.nargs > 1):
            multi.update(strings)
        if isinstance(action.type, SecretType) or any(_long_name_is_secret(string, words) for string in strings):
            secret.update(strings)
    return secret, flags, multi, long_options


def _takes_many(arg: str, multi: set[str], long_options: Sequence[str]) -> bool:
    """Whether the option given as ``arg`` (alone, its values following it) may take several values."""
    if not arg.startswith("--"):
        return f"-{arg[-1]}" in multi  # the last option of a cluster takes the values
    if arg in multi:
        return True
    matches = [option for option in long_options if option.startswith(arg)]
    return len(matches) == 1 and matches[0] in multi


def _long_name_is_secret(option: str, words: Sequence[str]) -> bool:
    return option.startswith("--") and any(word in option.lower() for word in words)


def _redact_one(
    arg: str, secret: set[str], flags: set[str], long_options: Sequence[str], words: Sequence[str]
) -> str | None:
    """The argument redacted (itself when the next argument is the value), None if it holds no secret."""
    if not arg.startswith("-") or arg == "-":
        return None
    if arg.startswith("--"):
        name, equal, _ = arg.partition("=")
        if not _is_secret_long(name, secret, long_options, words):
            return None
        return f"{name}={REDACTED}" if equal else arg
    return _redact_short(arg, secret, flags)


def _is_secret_long(name: str, secret: set[str], long_options: Sequence[str], words: Sequence[str]) -> bool:
    if name in secret or _long_name_is_secret(name, words):
        return True
    if name in long_options:
        return False
    matches = [option for option in long_options if option.startswith(name)]
    return len(matches) == 1 and matches[0] in secret  # argparse accepts unambiguous abbreviations


def _redact_short(arg: str, secret: set[str], flags: set[str]) -> str | None:
    """A short option, alone (``-p``), with its value attached (``-pVALUE``, ``-p=VALUE``) or after flags (``-vp``)."""
    name, equal, _ = arg.partition("=")
    if name in secret:
        return f"{name}={REDACTED}" if equal else arg
    for position in range(1, len(arg)):
        option = f"-{arg[position]}"
        if option in secret:
            rest = arg[position + 1 :]
            return arg if not rest else f"{arg[: position + 1]}{REDACTED}"
        if option not in flags:
            return None
    return None


def secret_values(args: Sequence[str], redacted: Sequence[str]) -> list[str]:
    """Return the secret values that :py:func:`redact` took out of ``args`` to give ``redacted``."""
    values = []
    for raw, hidden in zip(args, redacted, strict=False):
        if raw == hidden:
            continue
        if hidden == REDACTED:
            values.append(raw)
        elif hidden.endswith(REDACTED) and raw.startswith(hidden[: -len(REDACTED)]):
            values.append(raw[len(hidden) - len(REDACTED) :])
    return [value for value in values if value]


def redact_values(text: str, values: Iterable[str]) -> str:
    """Return the text with every occurrence of each of the values replaced by :py:data:`REDACTED`."""
    for value in sorted({value for value in values if value}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def redact_command(command: str, secret_names: Iterable[str] = DEFAULT_SECRET_WORDS) -> str:
    """Return a shell command with the values of its secret-looking options (``--password X``) replaced.

    The command keeps its quoting; a command that does not parse as shell words is returned as it is.
    """
    try:
        tokens = shlex.split(command)
    except ValueError:
        return command
    return redact_values(command, secret_values(tokens, redact(tokens, secret_names=secret_names)))


class Deferred:
    """A log argument whose text is computed when the record is formatted, e.g. once more secrets are known."""

    def __init__(self, produce: Callable[[], object]) -> None:
        """Compute the text with ``produce()`` at formatting time."""
        self._produce = produce

    def __str__(self) -> str:
        """The text of what ``produce()`` returns now."""
        return str(self._produce())

    __repr__ = __str__
