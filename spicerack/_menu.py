"""The items of the cookbook tree: single cookbooks, groups of them, and the interactive menu of a group."""

import argparse
import inspect
import logging
import shlex
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

from spicerack import _log, cookbook
from spicerack._signals import termination_raises
from spicerack.exceptions import SpicerackError

if TYPE_CHECKING:
    from spicerack import Spicerack

logger = logging.getLogger(__name__)
T = TypeVar("T")

HELP_MESSAGE = """Cookbooks interactive menu

Each line shows an item as [STATUS] NAME: TITLE, followed by the commands of the menu.
Type a NAME and press Enter to select it. Arguments may follow the name, quoted as in a shell
(e.g. `reboot --hosts 'db[1-3]'`).

Cookbooks: their status is one of {statuses}. Selecting one runs it, then the menu is shown
  again with its new status. Statuses are kept until the program exits.
Groups: their status is [done/total], the cookbooks run in this session over all the cookbooks of the
  group and of its sub-groups, or [DONE] once all of them have run. Selecting one opens its menu.

Arguments: a menu's arguments (args=[...] in its header, from the command line or the parent menu) are
  given to every cookbook or group selected without arguments. Arguments typed after a name replace
  them for that selection only: for a cookbook, for that run; for a group, they become the arguments
  of its menu, passed on to its cookbooks and sub-groups.

Commands:
  {back}  back to the parent menu (inside a group only)
  {quit}  quit (at the top menu only)
  {help}  print this help

Ctrl+C while a cookbook runs interrupts it: it is marked ERROR and the menu is shown again.
Ctrl+C or Ctrl+D at the prompt is the same as {back} (or {quit} at the top menu). The program ends when its
input is closed, or at once when its output is not a terminal."""


class MenuError(SpicerackError):
    """An item of the cookbook tree is invalid."""


class BaseItem:
    """An item of the cookbook tree: a cookbook or a group."""

    fallback_title = "-"

    def __init__(self, name: str, path: str, args: list[str], spicerack: "Spicerack") -> None:
        """Set up an item named ``name`` in the group at dotted ``path`` (empty for the top level)."""
        self.name = name
        self.path = path
        self.args = args
        self.spicerack = spicerack

    @property
    def full_name(self) -> str:
        """The dotted name of the item in the tree, without the ``cookbooks.`` prefix."""
        return f"{self.path}.{self.name}" if self.path else self.name

    @property
    def title(self) -> str:
        """The one-line title of the item."""
        return self.fallback_title

    @property
    def status(self) -> str:
        """The status of the item in this session, as shown in the menu."""
        raise NotImplementedError

    def run(self) -> int:
        """Run the item and return the exit code."""
        raise NotImplementedError


class CookbookItem(BaseItem):
    """A single cookbook, ready to run with its arguments."""

    statuses = ("NOTRUN", "PASS", "FAIL", "ERROR")
    not_run, success, failed, error = statuses

    def __init__(self, class_obj: type[cookbook.CookbookBase], args: list[str], spicerack: "Spicerack") -> None:
        """Instantiate the cookbook class (with the accessor) for listing or running it."""
        if not (isinstance(class_obj, type) and issubclass(class_obj, cookbook.CookbookBase)):
            raise MenuError(f"{class_obj!r} is not a subclass of CookbookBase")
        super().__init__(class_obj.spicerack_name, class_obj.spicerack_path, args, spicerack)
        self.instance = class_obj(spicerack)
        self._status = self.not_run

    @property
    def title(self) -> str:
        """The cookbook's title."""
        try:
            return str(self.instance.title)
        except Exception:
            return self.fallback_title

    @property
    def owner_team(self) -> str:
        """The team owning the cookbook."""
        return str(self.instance.owner_team)

    @property
    def description(self) -> str:
        """The cookbook's description: its docstring without the title line."""
        lines = inspect.cleandoc(type(self.instance).__doc__ or "").splitlines()[1:]
        return "\n".join(lines).strip()

    @property
    def status(self) -> str:
        """NOTRUN, PASS, FAIL or ERROR."""
        return self._status

    def run(self) -> int:
        """Run the cookbook through its whole lifecycle and return the exit code (see the reserved codes).

        SIGTERM and SIGHUP interrupt it as Ctrl+C does, so that its rollback runs, its lock is released and its
        end is logged.
        """
        try:
            with termination_raises():
                return self._run()
        except KeyboardInterrupt as e:
            logger.error("%s, cookbook %s interrupted", _interruption(e), self.full_name)
            self._status = self.error
            return cookbook.INTERRUPTED_RETCODE

    def _run(self) -> int:
        parsed = self._parse_args()
        if isinstance(parsed, int):
            return parsed
        runner = self._get_runner(parsed)
        if isinstance(runner, int):
            return runner
        try:
            lock_args = runner.lock_args
            description = str(runner.runtime_description)
        except Exception as e:
            self._log_exception(e, "initializing")
            self._status = self.error
            return cookbook.CLASS_FAIL_INIT_RETCODE
        lock_error = _lock_error_class()
        try:
            with self._lock(lock_args):
                return self._execute(runner, description)
        except lock_error as e:
            logger.error("Unable to run cookbook %s: %s", self.full_name, e)
            self._status = self.error
            return cookbook.LOCK_TIMEOUT_RETCODE

    def _parse_args(self) -> argparse.Namespace | int:
        try:
            parser = self.instance.argument_parser()
        except SystemExit as e:
            return self._system_exit_code(e, "getting the argument parser of", cookbook.GET_ARGS_PARSER_FAIL_RETCODE)
        except Exception as e:
            self._log_exception(e, "getting the argument parser of")
            return cookbook.GET_ARGS_PARSER_FAIL_RETCODE
        try:
            return parser.parse_args(self.args)
        except SystemExit as e:  # --help (0) or an argparse error (2)
            return self._system_exit_code(e, "parsing the arguments of", cookbook.PARSE_ARGS_FAIL_RETCODE)
        except Exception as e:
            self._log_exception(e, "parsing the arguments of")
            return cookbook.PARSE_ARGS_FAIL_RETCODE

    def _system_exit_code(self, exit_: SystemExit, doing: str, fallback: int) -> int:
        if exit_.code is None:
            return 0
        if isinstance(exit_.code, int):
            return exit_.code
        logger.error("SystemExit(%r) raised while %s cookbook %s", exit_.code, doing, self.full_name)
        return fallback

    def _get_runner(self, args: argparse.Namespace) -> cookbook.CookbookRunnerBase | int:
        try:
            return self.instance.get_runner(args)
        except cookbook.CookbookInitSuccess as e:
            if str(e):
                logger.info("%s", e)
            self._status = self.success
            return 0
        except SystemExit as e:
            if e.code in (0, None):
                self._status = self.success
                return 0
            logger.error("SystemExit(%r) raised while initializing cookbook %s", e.code, self.full_name)
        except Exception as e:
            self._log_exception(e, "initializing")
        self._status = self.error
        return cookbook.CLASS_FAIL_INIT_RETCODE

    def _lock(self, lock_args: cookbook.LockArgs) -> AbstractContextManager[Any]:
        cookbook_lock: Callable[[str, cookbook.LockArgs], AbstractContextManager[Any]] | None = getattr(
            self.spicerack, "_cookbook_lock", None
        )
        if cookbook_lock is None:
            return nullcontext()
        return cookbook_lock(self.full_name, lock_args)

    def _execute(self, runner: cookbook.CookbookRunnerBase, description: str) -> int:
        message = f"Cookbook {self.full_name} {description}".strip()
        skip_start = bool(getattr(runner, "skip_start_sal", False))
        _log.log_task_start(message, skip_sal=skip_start)
        exit_code = self._call_run(runner)
        if exit_code != 0:
            exit_code = self._call_rollback(runner, exit_code)
        end_message = f"Cookbook {self.full_name} (exit_code={exit_code}) {description}".strip()
        _log.log_task_end(self._status, end_message, start_skipped=skip_start)
        return exit_code

    def _call_run(self, runner: cookbook.CookbookRunnerBase) -> int:
        try:
            result = runner.run()
        except KeyboardInterrupt as e:
            logger.error("%s, cookbook %s interrupted", _interruption(e), self.full_name)
            self._status = self.error
            return cookbook.INTERRUPTED_RETCODE
        except SystemExit as e:
            return self._run_system_exit(e)
        except Exception as e:
            self._log_exception(e, "executing")
            self._status = self.failed
            return cookbook.EXCEPTION_RETCODE
        exit_code = 0 if result is None else result
        if not isinstance(exit_code, int):
            logger.error("Cookbook %s returned %r instead of an integer exit code", self.full_name, exit_code)
            exit_code = cookbook.EXCEPTION_RETCODE
        self._status = self.success if exit_code == 0 else self.failed
        return exit_code

    def _run_system_exit(self, exit_: SystemExit) -> int:
        if exit_.code is None or exit_.code == 0:
            logger.info("SystemExit(0) raised while executing cookbook %s, assuming success", self.full_name)
            self._status = self.success
            return 0
        self._status = self.error
        if isinstance(exit_.code, int):
            logger.error("SystemExit(%d) raised while executing cookbook %s", exit_.code, self.full_name)
            return exit_.code
        logger.error("SystemExit(%r) raised while executing cookbook %s", exit_.code, self.full_name)
        return cookbook.EXCEPTION_RETCODE

    def _call_rollback(self, runner: cookbook.CookbookRunnerBase, exit_code: int) -> int:
        try:
            runner.rollback()
        except KeyboardInterrupt as e:
            logger.error("%s during the rollback of cookbook %s", _interruption(e), self.full_name)
            self._status = self.error
            return cookbook.ROLLBACK_FAIL_RETCODE
        except Exception as e:
            self._log_exception(e, f"executing the rollback (after exit_code={exit_code}) of")
            self._status = self.error
            return cookbook.ROLLBACK_FAIL_RETCODE
        return exit_code

    def _log_exception(self, error: BaseException, doing: str) -> None:
        """Log a cookbook's exception as one line, with the traceback in the DEBUG (extended) log."""
        logger.error("Exception raised while %s cookbook %s: %s", doing, self.full_name, _describe(error))
        logger.debug("Traceback:\n%s", "".join(traceback.format_exception(error)).rstrip())


class TreeItem(BaseItem):
    """A group of cookbooks (a directory of the tree), and its interactive menu."""

    back_answer = "b"
    help_answer = "h"
    quit_answer = "q"
    help_message = HELP_MESSAGE.format(
        statuses=", ".join(CookbookItem.statuses), back=back_answer, quit=quit_answer, help=help_answer
    )

    def __init__(
        self,
        name: str,
        path: str,
        args: list[str],
        spicerack: "Spicerack",
        *,
        title: str = "",
        owner_team: str = "",
    ) -> None:
        """Set up an empty group; ``title`` and ``owner_team`` come from the package's ``__init__.py``."""
        super().__init__(name, path, args, spicerack)
        self.items: dict[str, BaseItem] = {}
        self.parent: TreeItem | None = None
        self._parent_menu: TreeItem | None = None  # the menu this one was opened from in this session
        self._title = title
        self.owner_team = owner_team

    @property
    def title(self) -> str:
        """The group's ``__title__``, or ``-``."""
        return self._title or self.fallback_title

    @property
    def verbose_title(self) -> str:
        """The title, or the name when there is no title."""
        return self._title or self.full_name or "cookbooks"

    @property
    def status(self) -> str:
        """``done/total`` over all the cookbooks below, or ``DONE`` when all have run."""
        done, total = self.calculate_status()
        return "DONE" if done == total else f"{done}/{total}"

    def calculate_status(self) -> tuple[int, int]:
        """Count the cookbooks below this group that have run in this session, and all of them."""
        done = total = 0
        for item in self.items.values():
            if isinstance(item, TreeItem):
                sub_done, sub_total = item.calculate_status()
                done += sub_done
                total += sub_total
            elif isinstance(item, CookbookItem):
                total += 1
                done += item.status != CookbookItem.not_run
        return done, total

    def append(self, item: BaseItem) -> None:
        """Add an item to the group."""
        if isinstance(item, TreeItem):
            item.parent = self
        self.items[item.name] = item

    def walk(self) -> Iterator[BaseItem]:
        """Yield every item below this group, depth first, in the tree's order."""
        for item in self.sorted_items():
            yield item
            if isinstance(item, TreeItem):
                yield from item.walk()

    def sorted_items(self) -> list[BaseItem]:
        """The items of the group sorted by name, empty groups left out."""
        return [
            self.items[name]
            for name in sorted(self.items)
            if not (isinstance(self.items[name], TreeItem) and not self.items[name].items)  # type: ignore[attr-defined]
        ]

    def get_tree(self, verbose: bool = False) -> str:
        """Return the tree of the group as text, one line per item, as printed by ``cookbook -l``."""
        lines = self._tree_lines(verbose, [])
        if not lines:
            return ""
        return "cookbooks\n" + "\n".join(lines) + "\n"

    def _tree_lines(self, verbose: bool, continuations: list[bool]) -> list[str]:
        lines: list[str] = []
        items = self.sorted_items()
        for index, item in enumerate(items):
            is_last = index == len(items) - 1
            indent = "".join("|   " if cont else "    " for cont in continuations)
            line = f"{indent}{'`-- ' if is_last else '|-- '}{item.full_name}: {item.title}"
            if verbose:
                owner = item.owner_team if isinstance(item, CookbookItem | TreeItem) else ""
                if owner:
                    line += f" (owner: {owner})"
            lines.append(line)
            child_indent = indent + ("    " if is_last else "|   ")
            if verbose and isinstance(item, CookbookItem) and item.description:
                lines.extend(f"{child_indent}    {text}".rstrip() for text in item.description.splitlines())
            if isinstance(item, TreeItem):
                lines.extend(item._tree_lines(verbose, [*continuations, not is_last]))
        return lines

    def run(self) -> int:
        """Show the menu of the group as the top menu of the session until the operator quits; return 0."""
        self._parent_menu = None
        self._menu_loop()
        return 0

    @property
    def is_top_menu(self) -> bool:
        """Whether this menu is the top of the session (``q`` quits) rather than a sub-menu (``b`` goes back)."""
        return self._parent_menu is None

    def show(self) -> None:
        """Print the items of the group with their status, then the commands."""
        for item in self.sorted_items():
            print(f"[{item.status}] {item.name}: {item.title}")
        if self.is_top_menu:
            print(f"{self.quit_answer} - Quit")
        else:
            print(f"{self.back_answer} - Back to parent menu")
        print(f"{self.help_answer} - Help")

    def run_once(self) -> bool:
        """Show the menu, read one answer and act on it; return False when the menu must be left."""
        print(f"#--- {self.verbose_title} args={self.args} ---#")
        self.show()
        if not sys.stdout.isatty():
            print("Not a tty, exiting.")
            return False
        answer = self._read_answer()
        if answer is None:
            return False
        return self._handle_answer(answer)

    def _menu_loop(self) -> None:
        while True:
            try:
                if not self.run_once():
                    return
            except KeyboardInterrupt:  # pressed while the menu was printed rather than at the prompt
                self._print_leaving()
                return

    def _read_answer(self) -> str | None:
        """Read one line from the operator; None when the menu must be left (Ctrl+C, Ctrl+D, end of input)."""
        flush_console()
        try:
            answer = input(">>> ")
        except (EOFError, KeyboardInterrupt):
            self._print_leaving()
            return None
        if not sys.stdin.isatty():  # echo answers that come from a pipe or a file, as a terminal would
            print(answer)
        return answer.strip()

    def _print_leaving(self) -> None:
        print()
        print("QUIT" if self.is_top_menu else "BACK")

    def _handle_answer(self, answer: str) -> bool:
        leave, wrong_leave = (
            (self.quit_answer, self.back_answer) if self.is_top_menu else (self.back_answer, self.quit_answer)
        )
        if answer == leave:
            return False
        if answer == self.help_answer:
            print(self.help_message)
        elif not answer:
            _print_invalid(f"empty input, type the name of an item, or {self.help_answer} for help")
        elif answer == wrong_leave:
            where = "this is the top menu" if self.is_top_menu else "this is a sub-menu"
            _print_invalid(f"{where}, type {leave} to {'quit' if self.is_top_menu else 'go back'}")
        else:
            self._select(answer)
        return True

    def _select(self, answer: str) -> None:
        try:
            name, *args = shlex.split(answer)
        except ValueError as e:
            _print_invalid(f"unable to split {answer!r} into a name and arguments: {e}")
            return
        item = self.items.get(name)
        if item is None or item not in self.sorted_items():
            _print_invalid(f"no item named {name!r}, type {self.help_answer} for help")
            return
        item.args = args or list(self.args)
        if isinstance(item, TreeItem):
            item._parent_menu = self
            item._menu_loop()
            return
        self._run_cookbook(item)

    def _run_cookbook(self, item: BaseItem) -> None:
        flush_console()
        try:
            item.run()
        except KeyboardInterrupt:  # the cookbook handles Ctrl+C itself: this one came just before or after it
            logger.error("Ctrl+c pressed while running cookbook %s", item.full_name)
        except Exception as e:  # the menu must survive whatever a cookbook run leaks
            logger.error("Unexpected error while running cookbook %s: %s", item.full_name, _describe(e))
            logger.debug("Traceback:\n%s", "".join(traceback.format_exception(e)).rstrip())


def _print_invalid(reason: str) -> None:
    print(f"==> Invalid input: {reason} <==")


def _lock_error_class() -> type[Exception]:
    from spicerack.locking import LockError  # noqa: PLC0415 - the lock backend is loaded only to run

    return LockError


def _interruption(error: KeyboardInterrupt) -> str:
    """Say what interrupted a run: Ctrl+c, or the signal named by a subclass (e.g. SIGTERM while holding a lock)."""
    return str(error) if type(error) is not KeyboardInterrupt and str(error) else "Ctrl+c pressed"


def _describe(error: BaseException) -> str:
    text = str(error).strip().replace("\n", " ")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def flush_console() -> None:
    """Flush stdout and stderr (used before prompts so the menu and the logs don't interleave)."""
    sys.stdout.flush()
    sys.stderr.flush()
