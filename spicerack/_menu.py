"""The items of the cookbook tree: single cookbooks and groups of them, with the interactive menu of a group."""

import argparse
import logging
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any, cast

from spicerack import Spicerack, _journal, _log, cookbook
from spicerack._hooks import hooks_of
from spicerack._signals import termination_raises
from spicerack.exceptions import SpicerackError

if TYPE_CHECKING:
    from spicerack._module_api import CookbooksModuleInterface

logger = logging.getLogger(__name__)

COOKBOOKS_PREFIX = "cookbooks"
"""Prefix of the keys of the locks taken by cookbook runs (see :py:mod:`spicerack.locking`)."""

# The text printed by the menu's help command is part of what operators see: it is kept as the reference prints it.
HELP_MESSAGE = """Cookbooks interactive menu help

Available cookbooks and cookbook groups are shown in the menu with the format:
  [STATUS] NAME: DESCRIPTION
Additional control commands are also shown.
To select an item just input its name and press Enter.

Group of cookbooks:
  They have a status that represent the number of the executed cookbooks over
  the total number of cookbooks in that group and its child groups
  (i.e. [2/11]) or the status 'DONE' in case all cookbooks in that group were
  executed during the current session.
  When selected the child cookbooks group is shown.

Single cookbooks:
  Their status has one of the following values:
  {statuses}
  When selected the cookbook is executed and then the current menu is shown
  again after its execution, with the status updated based on the result of the
  execution.

Control commands:
  b: shown when inside a child group of cookbooks to go back one level to the
     parent menu.
  q: shown when at the top level of the current session menu to exit the
     program.
  h: always shown, print this help message.

  Note: 'q' and 'b' are mutually exclusive, only one of them is shown.

CLI arguments:
  It's possible to pass CLI arguments to cookbooks and group of cookbooks
  when selecting them (e.g. cookbook_name -a param value1 value2).
  Passing arguments to cookbook groups propagate them also to their cookbooks
  and child cookbook groups.
  Passing arguments override any other argument that might have been passed
  to the cookbook executable or to any of the parent groups when selected.

Interrupting execution:
  Pressing Ctrl+c/d while executing a cookbook interrupts it and show the
  current menu, marking the cookbook status as ERROR.
  Pressing Ctrl+c/d while in a menu is equivalent to select 'b' or 'q'.
"""
"""The help of the interactive menu, with a ``{statuses}`` placeholder for the cookbook statuses."""

_EXECUTING = "raised while executing cookbook"


def __getattr__(name: str) -> Any:
    """Give ``get_lock_instance`` (as the reference module does) without importing spicerack.locking early."""
    if name == "get_lock_instance":
        from spicerack.locking import get_lock_instance  # noqa: PLC0415 - the lock backend is loaded only to run

        return get_lock_instance
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class MenuError(SpicerackError):
    """An item of the cookbook tree is invalid."""


class BaseItem:
    """An item of the cookbook tree: a cookbook or a group."""

    fallback_title: str = "-"
    """The title shown when the item has none."""

    def __init__(self, args: Sequence[str], spicerack: Spicerack) -> None:
        """Set up an item; subclasses fill its name, path and full name.

        Arguments:
            args: the command line arguments to pass to the item when run.
            spicerack: the accessor given to the cookbooks.

        """
        self.args = args
        self.spicerack = spicerack
        self.name = ""
        self.path = ""
        """The dotted path of the item's group, empty at the top level."""
        self.full_name = ""
        """The dotted name of the item, without the ``cookbooks.`` prefix."""
        self.items: dict[str, BaseItem] = {}
        self._status = ""

    def run(self) -> int:
        """Run the item and return its exit code."""
        raise NotImplementedError

    @property
    def status(self) -> str:
        """The status of the item in this session, as the menu shows it."""
        return self._status

    @property
    def title(self) -> str:
        """The one-line title of the item."""
        raise NotImplementedError

    @property
    def verbose_title(self) -> str:
        """The title, or the item's name when it has no title."""
        title = self.title
        return self.name if title == self.fallback_title else title

    @staticmethod
    def _get_line_prefix(level: int, cont_levels: list[bool], is_final: bool) -> str:
        """The tree drawing before an item's line: one column per parent level, then the branch."""
        branch = "`-- " if is_final else "|-- "
        if level == 0:
            return branch
        return "".join("|   " if cont else "    " for cont in cont_levels) + branch


class CookbookItem(BaseItem):
    """A single cookbook, ready to run with its arguments."""

    fallback_title: str = "UNKNOWN (unable to detect title)"
    statuses: tuple[str, str, str, str] = ("NOTRUN", "PASS", "FAIL", "ERROR")
    not_run, success, failed, error = statuses

    def __init__(self, class_obj: type[cookbook.CookbookBase], args: Sequence[str], spicerack: Spicerack) -> None:
        """Instantiate the cookbook class with the accessor.

        Arguments:
            class_obj: the cookbook class, with ``spicerack_path`` and ``spicerack_name`` set by the collection.
            args: the command line arguments of the cookbook.
            spicerack: the accessor given to the cookbook.

        Raises:
            spicerack._menu.MenuError: if the class does not derive from CookbookBase.

        """
        super().__init__(args, spicerack)
        if not (isinstance(class_obj, type) and issubclass(class_obj, cookbook.CookbookBase)):
            raise MenuError(f"Class {class_obj} is not a subclass of CookbookBase")
        self._status = self.not_run
        self.name = class_obj.spicerack_name
        self.path = class_obj.spicerack_path
        self.full_name = f"{self.path}.{self.name}" if self.path else self.name
        self.instance = class_obj(spicerack)

    @property
    def title(self) -> str:
        """The cookbook's title."""
        return self.instance.title

    @property
    def owner_team(self) -> str:
        """The team owning the cookbook."""
        return self.instance.owner_team

    @_journal.journaled
    def run(self) -> int:
        """Run the cookbook through its whole lifecycle and return its exit code (see the reserved codes).

        SIGTERM and SIGHUP interrupt a running cookbook as Ctrl+C does, so that its rollback runs, its lock is
        released and its end is logged.
        """
        with termination_raises():
            prepared = self._prepare()
            if isinstance(prepared, int):
                return prepared
            runner, description = prepared
            unwritable = _log.start_log_files()
            if unwritable is not None:
                print(
                    f"Not running cookbook {self.full_name} without an audit trail, unable to write its log file "
                    f"{unwritable}",
                    file=sys.stderr,
                )
                self._status = self.error
                return 1

            lock_args = runner.lock_args
            skip_start_sal = runner.skip_start_sal
            lock_error = _lock_error_class()
            code: int | None = None
            try:
                with self._lock(lock_args):
                    start = datetime.now(UTC)
                    rerun_of = _journal.running_rerun_of()
                    rerun = f" (re-run of {rerun_of})" if rerun_of else ""
                    _log.log_task_start(
                        skip_start_sal=skip_start_sal,
                        message=f"Cookbook {self.full_name} {description}".strip() + rerun,
                    )
                    code = self._run(runner)
            except lock_error as e:
                logger.error("Unable to run cookbook %s: %s", self.full_name, e)
                self._status = self.error
                return cookbook.LOCK_TIMEOUT_RETCODE
            except KeyboardInterrupt as e:  # Only while the lock is taken or released: run() handles its own
                if code is None:
                    logger.error(
                        "Unable to run cookbook %s: %s while acquiring its lock", self.full_name, _interruption(e)
                    )
                    self._status = self.error
                    return cookbook.INTERRUPTED_RETCODE
                logger.error(
                    "%s while releasing the lock of cookbook %s, it expires by itself", _interruption(e), self.full_name
                )

            duration = (datetime.now(UTC) - start).total_seconds()
            _journal.log_summary(code, self.status)
            logger.debug("__COOKBOOK_STATS__:name=%s,exit_code=%d,duration=%.3f", self.full_name, code, duration)
            _log.log_task_end(
                skip_start_sal=skip_start_sal,
                status=self.status,
                message=f"Cookbook {self.full_name} (exit_code={code}) {description}".strip(),
            )
            return code

    def _prepare(self) -> tuple[cookbook.CookbookRunnerBase, str] | int:
        """Parse the arguments and get the runner and its description, or the exit code when it must not run."""
        code, args = self._parse_args()
        _journal.note_parsed(code, args)
        if code >= 0:
            return code

        try:
            runner = hooks_of(self.spicerack).runner(self.instance.get_runner(args), self.full_name)
        except cookbook.CookbookInitSuccess as e:
            if str(e):
                logger.info(e)
            return 0
        except KeyboardInterrupt as e:
            self._interrupted_before_start(e)
            return cookbook.INTERRUPTED_RETCODE
        except BaseException:
            logger.exception("Exception raised while initializing the Cookbook %s:", self.full_name)
            return cookbook.CLASS_FAIL_INIT_RETCODE
        if not callable(getattr(runner, "run", None)):
            logger.error(
                "Cookbook %s: get_runner() returned %r instead of a runner (a spicerack.cookbook.CookbookRunnerBase)",
                self.full_name,
                runner,
            )
            return cookbook.CLASS_FAIL_INIT_RETCODE

        try:
            description = runner.runtime_description
        except BaseException:
            logger.exception("Failed to get runtime_description from Cookbook %s:", self.full_name)
            description = ""
        return runner, description

    def _interrupted_before_start(self, error: KeyboardInterrupt) -> None:
        logger.error("Cookbook %s not run: %s before it started", self.full_name, _interruption(error))
        self._status = self.error

    def _lock(self, lock_args: cookbook.LockArgs) -> AbstractContextManager[Any]:
        cookbook_lock: Callable[[str, cookbook.LockArgs], AbstractContextManager[Any]] | None = getattr(
            self.spicerack, "_cookbook_lock", None
        )
        if cookbook_lock is None:
            return nullcontext()
        return cookbook_lock(self.full_name, lock_args)

    def _run(self, runner: cookbook.CookbookRunnerBase) -> int:
        """Call the runner's ``run()`` (and ``rollback()`` on failure); set the status and return the exit code."""
        try:
            raw_ret = runner.run()
        except KeyboardInterrupt as e:
            logger.error(_interruption(e))
            self._status = self.error
            code = cookbook.INTERRUPTED_RETCODE
        except SystemExit as e:
            code = self._system_exit_code(e)
        except BaseException:
            logger.exception("Exception %s %s:", _EXECUTING, self.full_name)
            self._status = self.failed
            code = cookbook.EXCEPTION_RETCODE
        else:
            code = self._checked_exit_code(raw_ret, "returned")
            self._status = self.success if code == 0 else self.failed

        if code != 0:
            try:
                runner.rollback()
            except BaseException:
                logger.exception("Exception %s %s rollback() (exit_code=%d):", _EXECUTING, self.full_name, code)
                code = cookbook.ROLLBACK_FAIL_RETCODE
        return code

    def _system_exit_code(self, exit_: SystemExit) -> int:
        if not isinstance(exit_.code, int):
            logger.exception("SystemExit('%s') %s %s:", exit_.code, _EXECUTING, self.full_name)
            self._status = self.error
            return cookbook.EXCEPTION_RETCODE
        if exit_.code == 0:
            logger.info("SystemExit(0) %s %s, assuming success:", _EXECUTING, self.full_name)
            self._status = self.success
        else:
            logger.exception("SystemExit(%d) %s %s:", exit_.code, _EXECUTING, self.full_name)
            self._status = self.error
        return self._checked_exit_code(exit_.code, "exited with")

    def _checked_exit_code(self, value: object, verb: str) -> int:
        """The process exit code for what ``run()`` gave: never 0 unless it gave 0 or None.

        Anything but an int of 0-255 (a bool included) becomes EXCEPTION_RETCODE, with one error line; a code
        reserved for the framework (90-99) is kept, with a warning.
        """
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
            logger.error(
                "Cookbook %s %s %r, not an exit code between 0 and 255: exiting with %d instead",
                self.full_name,
                verb,
                value,
                cookbook.EXCEPTION_RETCODE,
            )
            return cookbook.EXCEPTION_RETCODE
        if cookbook.LOCK_TIMEOUT_RETCODE - 2 <= value <= cookbook.EXCEPTION_RETCODE:
            logger.warning(
                "Cookbook %s %s %d, an exit code reserved for the framework (90-99): cookbooks should not use them",
                self.full_name,
                verb,
                value,
            )
        return value

    def _parse_args(self) -> tuple[int, argparse.Namespace]:
        """Parse the cookbook's arguments: ``(-1, args)`` to go on, else the exit code (``--help``, bad args)."""
        code, parser = self._safe_call(
            self.instance.argument_parser,
            (),
            "raised while getting argument parser for cookbook",
            cookbook.GET_ARGS_PARSER_FAIL_RETCODE,
        )
        if code >= 0 or parser is None:
            return code, argparse.Namespace()

        parser.prog = f"cookbook [GLOBAL_ARGS] {self.full_name}"
        parser.epilog = f"Cookbook owner team: {self.owner_team}"
        _journal.note_parser(parser)  # before parsing: its short aliases and secret arguments are hidden everywhere
        code, args = self._safe_call(
            parser.parse_args,
            (self.args,),
            "raised while parsing arguments for cookbook",
            cookbook.PARSE_ARGS_FAIL_RETCODE,
        )
        return code, args if args is not None else argparse.Namespace()

    def _safe_call(self, func: Callable[..., Any], args: Sequence[Any], message: str, err_code: int) -> tuple[int, Any]:
        """Call ``func``; return ``(-1, result)``, or the exit code it asked for, or ``err_code`` if it raised."""
        try:
            return -1, func(*args)
        except SystemExit as e:
            if isinstance(e.code, int):
                if func == self.instance.argument_parser:  # argparse's own exits (--help, errors) speak for themselves
                    logger.warning("SystemExit(%d) %s %s", e.code, message, self.full_name)
                return e.code, None
            logger.exception("SystemExit('%s') %s %s:", e.code, message, self.full_name)
        except KeyboardInterrupt as e:  # Ctrl+C, SIGTERM or SIGHUP before the cookbook started: nothing to undo
            self._interrupted_before_start(e)
            return cookbook.INTERRUPTED_RETCODE, None
        except BaseException:
            logger.exception("Exception %s %s:", message, self.full_name)
        return err_code, None


class TreeItem(BaseItem):
    """A group of cookbooks (a package of the tree), and its interactive menu."""

    back_answer: str = "b"
    """Menu answer to go back to the parent menu."""
    help_answer: str = "h"
    """Menu answer to print the help."""
    quit_answer: str = "q"
    """Menu answer to quit, at the top menu."""
    help_message: str = HELP_MESSAGE.format(statuses=CookbookItem.statuses)
    """The menu's help."""

    def __init__(
        self, module: "CookbooksModuleInterface", args: Sequence[str], spicerack: Spicerack, menu_title: str
    ) -> None:
        """Set up an empty group for a package of the tree.

        Arguments:
            module: the package (``cookbooks`` or one below it).
            args: the command line arguments to pass to the menu's items.
            spicerack: the accessor given to the cookbooks.
            menu_title: the first line of the tree printed by :py:meth:`get_tree`.

        """
        super().__init__(args, spicerack)
        self.module = module
        self.parent: TreeItem | None = None
        self.menu_title = menu_title
        self.full_name = module.__name__.split(".", 1)[1] if "." in module.__name__ else module.__name__
        if "." in self.full_name:
            self.path, self.name = self.full_name.rsplit(".", 1)
        else:
            self.name = self.full_name

    @property
    def status(self) -> str:
        """``done/total`` over all the cookbooks below, or ``DONE`` when all have run."""
        completed, total = self.calculate_status()
        return "DONE" if completed == total else f"{completed}/{total}"

    @property
    def title(self) -> str:
        """The package's title (``__title__`` or the first line of its docstring), or ``-``."""
        return get_module_title(self.module) or self.fallback_title

    @property
    def owner_team(self) -> str:
        """The package's ``__owner_team__``, or the default owner."""
        return str(getattr(self.module, "__owner_team__", cookbook.CookbookBase.owner_team))

    def append(self, item: BaseItem, add_parent: bool = True) -> None:
        """Add an item to the group.

        Arguments:
            item: the cookbook or group to add.
            add_parent: make this group the parent of an added group (its menu then offers to go back here).

        """
        if add_parent and isinstance(item, TreeItem):
            item.parent = self
        self.items[item.name] = item

    def calculate_status(self) -> tuple[int, int]:
        """Count the cookbooks below this group that ran in this session, and all of them."""
        completed = total = 0
        for item in self.items.values():
            if isinstance(item, TreeItem):
                sub_completed, sub_total = item.calculate_status()
                completed += sub_completed
                total += sub_total
            elif isinstance(item, CookbookItem):
                total += 1
                completed += item.status != CookbookItem.not_run
            else:
                raise MenuError(f"Unknown item of type {type(item)}")
        return completed, total

    def get_tree(self) -> str:
        """The tree of the group as printed by ``cookbook -l`` (with titles when the accessor is verbose)."""
        lines = self.get_menu_tree(0, [])
        if not lines:
            return ""
        return self.menu_title + "\n" + "\n".join(lines) + "\n"

    def get_menu_tree(self, level: int, cont_levels: list[bool]) -> list[str]:
        """The lines of the tree below this group.

        Arguments:
            level: the depth of this group's items in the tree.
            cont_levels: for each parent level, whether its branch continues below (drawn with ``|``).

        """
        return list(self._tree_lines(level, cont_levels))

    def _tree_lines(self, level: int, cont_levels: list[bool]) -> Iterator[str]:
        """Yield the tree lines of the items, by full name, each group followed by its own items' lines.

        A group without cookbooks gets no line, but it still counts as the last item: the branch above it is then
        drawn as continuing.
        """
        ordered = sorted(self.items.values(), key=attrgetter("full_name"))
        for position, item in enumerate(ordered, start=1):
            if not (item.items or isinstance(item, CookbookItem)):
                continue
            last = position == len(ordered)
            yield self._get_line_prefix(level, cont_levels, last) + self._tree_label(item)
            if item.items:
                yield from cast(TreeItem, item).get_menu_tree(level + 1, [*cont_levels, not last])

    def _tree_label(self, item: BaseItem) -> str:
        """An item's text in the tree: its full name, its title if verbose, and a cookbook's owner team."""
        label = f"{item.full_name}: {item.title}" if self.spicerack.verbose else item.full_name
        if isinstance(item, CookbookItem):
            label += f" [{item.owner_team}]"
        return label

    def run(self) -> int:
        """Show the menu and run what the operator selects, until they leave; always 0."""
        try:
            while True:
                self.run_once()
        except StopIteration:
            pass
        return 0

    def show(self) -> None:
        """Print the menu's items and commands."""
        for name in sorted(self.items):
            item = self.items[name]
            print(f"[{item.status}] {name}: {item.title}")
        if self.parent is None:
            print(f"{self.quit_answer} - Quit")
        else:
            print(f"{self.back_answer} - Back to parent menu")
        print(f"{self.help_answer} - Help")

    def run_once(self) -> None:
        """Show the menu once and handle one answer.

        Raises:
            StopIteration: when the menu must be left.

        """
        print(f"#--- {self.verbose_title} args={self.args} ---#")
        self.show()
        if not sys.stdout.isatty():
            print("Not a tty, exiting.")
            raise StopIteration

        try:
            answer = input(">>> ")
        except (EOFError, KeyboardInterrupt) as e:
            print("QUIT")
            raise StopIteration from e

        if not answer:
            return
        if answer == self.help_answer:
            print(self.help_message)
            return
        if answer == (self.quit_answer if self.parent is None else self.back_answer):
            raise StopIteration

        try:
            name, *args = shlex.split(answer)
        except ValueError:  # e.g. an unbalanced quote
            name, args = "", []
        if name not in self.items:
            print("==> Invalid input <==")
            return

        item = self.items[name]
        item.args = self._get_item_args(item, args)
        item.run()

    def _get_item_args(self, item: BaseItem, args: Sequence[str]) -> Sequence[str]:
        """The arguments typed after the name, else this menu's arguments, else the item's own."""
        if args:
            return args
        if self.args:
            return self.args
        return item.args


def get_module_title(module: "CookbooksModuleInterface") -> str:
    """The title of a cookbook module or package: its ``__title__``, else its docstring, first line only.

    Returns:
        the title, or an empty string when the module has neither.

    """
    raw_title = getattr(module, "__title__", module.__doc__)
    if raw_title and isinstance(raw_title, str):
        return raw_title.splitlines()[0]
    logger.debug("Unable to detect title for module %s. Both __title__ and __doc__ are missing/empty", module.__name__)
    return ""


def _lock_error_class() -> type[Exception]:
    from spicerack.locking import LockError  # noqa: PLC0415 - the lock backend is loaded only to run

    return LockError


def _interruption(error: KeyboardInterrupt) -> str:
    """Say what interrupted a run: Ctrl+c, or the signal named by a subclass (SIGTERM, SIGHUP)."""
    return str(error) if type(error) is not KeyboardInterrupt and str(error) else "Ctrl+c pressed"
