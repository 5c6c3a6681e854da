"""The cookbook API: the base classes a class-API cookbook extends, and the reserved exit codes."""

import argparse
import re
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass

from spicerack import Spicerack
from spicerack._redact import SecretType
from spicerack.exceptions import SpicerackError

LOCK_TIMEOUT_RETCODE = 92
"""int: Reserved exit code: the cookbook's distributed lock could not be acquired in time."""
ROLLBACK_FAIL_RETCODE = 93
"""int: Reserved exit code: the cookbook failed and then its ``rollback()`` raised too."""
CLASS_FAIL_INIT_RETCODE = 94
"""int: Reserved exit code: the cookbook could not be initialized (``get_runner()`` raised)."""
GET_ARGS_PARSER_FAIL_RETCODE = 95
"""int: Reserved exit code: getting the cookbook's argument parser failed."""
PARSE_ARGS_FAIL_RETCODE = 96
"""int: Reserved exit code: the cookbook's arguments could not be parsed."""
INTERRUPTED_RETCODE = 97
"""int: Reserved exit code: the cookbook was interrupted (Ctrl-C)."""
NOT_FOUND_RETCODE = 98
"""int: Reserved exit code: no cookbook matches the selection."""
EXCEPTION_RETCODE = 99
"""int: Reserved exit code: the cookbook raised an exception while running."""

_TASK_ID_PATTERN = r"T\d{1,6}"

secret = SecretType()
"""Declare an argument secret: ``parser.add_argument("--code", type=secret)``.

Its value is never written to the logs, the run journal or SAL (``***`` instead), whatever the option's name. The
argument parses and shows in ``--help`` as with no ``type``. For a converted value, wrap the conversion:
``type=SecretType(int)`` (from :py:mod:`spicerack._redact`) parses as ``type=int`` does.
"""


class CookbookInitSuccess(SpicerackError):
    """Raise it in a runner's constructor to end the run early with exit code 0, its message logged, no SAL."""


@dataclass(frozen=True)
class LockArgs:
    """How a cookbook run takes its distributed lock.

    Attributes:
        suffix: appended to the cookbook's name (as ``name:suffix``) to make the lock key, so that runs on
            different targets don't block each other. Empty for one lock per cookbook.
        concurrency: how many runs may hold the lock at the same time.
        ttl: seconds after which a slot held by a vanished process expires.

    """

    suffix: str
    concurrency: int
    ttl: int


class ArgparseFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Help formatter for cookbooks: shows argument defaults and keeps the description's own line breaks."""


def _validate_task_id(value: str, *, allow_empty: bool) -> str:
    """Accept a Phabricator task ID (``T12345``), and the empty string when ``allow_empty`` is set.

    Same check and message as :py:func:`wmflib.phabricator.validate_task_id`, without importing the Phabricator
    client library.

    Raises:
        ValueError: for anything else, reported by argparse as an invalid value.

    """
    if allow_empty and not value:
        return value
    if re.fullmatch(_TASK_ID_PATTERN, value) is None:
        raise ValueError(f"Invalid Phabricator task ID, expected to match pattern '{_TASK_ID_PATTERN}', got '{value}'")
    return value


def _validate_reason(value: str) -> str:
    """Argparse type of ``-r/--reason``: a non-empty administrative reason without double quotes."""
    if not value:
        raise argparse.ArgumentTypeError("The administrative reason cannot be empty.")
    if '"' in value:
        raise argparse.ArgumentTypeError(f"The administrative reason cannot contain double quotes, got '{value}'.")
    return value


class CookbookBase(metaclass=ABCMeta):
    """The class every class-API cookbook extends.

    The framework instantiates it with the :py:class:`spicerack.Spicerack` accessor, asks it for an argument
    parser, parses the command line and then asks ``get_runner()`` for the object that does the work.

    Class attributes a cookbook may set:

    * ``owner_team``: the team that owns the cookbook, shown by ``cookbook -l -v``.
    * ``argument_reason_required``: when not :py:data:`None`, the default parser gets a ``-r/--reason``
      option, required when :py:data:`True`.
    * ``argument_task_required``: when not :py:data:`None`, the default parser gets a ``-t/--task-id``
      option (a Phabricator task ID), required when :py:data:`True`.
    """

    spicerack_path: str
    """Set by the framework: the dotted path of the cookbook's group."""
    spicerack_name: str
    """Set by the framework: the cookbook's name inside its group."""
    owner_team: str = "unowned"
    argument_reason_required: bool | None = None
    argument_task_required: bool | None = None

    def __init__(self, spicerack: Spicerack) -> None:
        """Keep the accessor as ``self.spicerack``.

        Arguments:
            spicerack: the accessor to every Spicerack capability.

        """
        self.spicerack = spicerack

    @property
    def title(self) -> str:
        """The one-line title of the cookbook: the first line of the class docstring, or ``-`` if there is none."""
        if self.__doc__ is None:
            return "-"
        lines = self.__doc__.splitlines()
        return lines[0] if lines else ""

    def argument_parser(self) -> argparse.ArgumentParser:
        """Return the cookbook's argument parser.

        The default one accepts no arguments besides the optional reason and task ID ones (see the class
        attributes), and uses the class docstring as its description.
        """
        parser = argparse.ArgumentParser(description=self.__doc__, formatter_class=ArgparseFormatter)
        task_required = self.argument_task_required
        if task_required is not None:
            help_text = "The Phabricator task ID (e.g. T12345)."
            if not task_required:
                help_text = "The Phabricator task ID (e.g. T12345) or empty string to not make any updates."
            parser.add_argument(
                "-t",
                "--task-id",
                required=task_required,
                default=None if task_required else "",
                # a lambda, as argparse names the type in its error message ("invalid <lambda> value")
                type=lambda value: _validate_task_id(value, allow_empty=not task_required),
                help=help_text,
            )
        if self.argument_reason_required is not None:
            parser.add_argument(
                "-r",
                "--reason",
                required=self.argument_reason_required,
                type=_validate_reason,
                help="Administrative Reason. The current username and originating host are automatically added.",
            )
        return parser

    @abstractmethod
    def get_runner(self, args: argparse.Namespace) -> "CookbookRunnerBase":
        """Validate the parsed arguments and return the runner that will execute the cookbook.

        It must not change anything: if it raises, the cookbook is not run (exit code 94).

        Arguments:
            args: the arguments parsed with ``argument_parser()``.

        """


class CookbookRunnerBase(metaclass=ABCMeta):
    """The class a class-API cookbook's runner extends: it holds the execution of one run.

    Its constructor is the cookbook's own. Class attributes:

    * ``max_concurrency``: how many runs of the cookbook may hold its lock at once (default 20).
    * ``lock_ttl``: seconds after which the lock slot of a vanished run expires (default 1800).
    """

    max_concurrency: int = 20
    lock_ttl: int = 1800

    @property
    def skip_start_sal(self) -> bool:
        """Whether to keep the START message off SAL: the final message then reads ``DONE`` instead of ``END``.

        :py:data:`False` by default; a fast cookbook may override it (as a property or a class attribute) to log only
        its completion to SAL.
        """
        return False

    @property
    def runtime_description(self) -> str:
        """A description of this run (e.g. its targets) used in the START/END messages; empty by default."""
        return ""

    @property
    def lock_args(self) -> LockArgs:
        """The lock parameters of this run: by default no suffix, ``max_concurrency`` and ``lock_ttl``."""
        return LockArgs(suffix="", concurrency=self.max_concurrency, ttl=self.lock_ttl)

    @abstractmethod
    def run(self) -> int | None:
        """Execute the cookbook.

        Returns:
            :py:data:`None` or 0 on success, a positive integer below 128 and outside 90-99 on failure.

        """

    def rollback(self) -> None:  # noqa: B027 - optional hook, empty by design
        """Undo what a failed run left behind; called when ``run()`` raised or returned non-zero.

        The default does nothing. If it raises, the exit code becomes 93.
        """
