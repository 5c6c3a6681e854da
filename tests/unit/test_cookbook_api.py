"""Unit tests of the cookbook API classes and the reserved exit codes."""

import argparse

import pytest

from spicerack import cookbook
from spicerack.cookbook import ArgparseFormatter, CookbookBase, CookbookRunnerBase, LockArgs


class Documented(CookbookBase):
    """First line of the title.

    More description.
    """

    def get_runner(self, args):
        return Runner()


class Undocumented(CookbookBase):
    def get_runner(self, args):
        return Runner()


class Runner(CookbookRunnerBase):
    def run(self):
        return 0


def test_reserved_exit_codes_match_the_reference():
    assert cookbook.ROLLBACK_FAIL_RETCODE == 93
    assert cookbook.CLASS_FAIL_INIT_RETCODE == 94
    assert cookbook.GET_ARGS_PARSER_FAIL_RETCODE == 95
    assert cookbook.PARSE_ARGS_FAIL_RETCODE == 96
    assert cookbook.INTERRUPTED_RETCODE == 97
    assert cookbook.NOT_FOUND_RETCODE == 98
    assert cookbook.EXCEPTION_RETCODE == 99
    assert 90 <= cookbook.LOCK_TIMEOUT_RETCODE < 93


def test_title_is_the_first_docstring_line_or_a_dash():
    assert Documented(spicerack=None).title == "First line of the title."
    assert Undocumented(spicerack=None).title == "-"


def test_default_parser_accepts_no_arguments_and_uses_the_docstring():
    parser = Documented(spicerack=None).argument_parser()
    assert parser.formatter_class is ArgparseFormatter
    assert "More description." in parser.format_help()
    assert parser.parse_args([]) == argparse.Namespace()
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["extra"])
    assert exit_info.value.code == 2


def test_reason_and_task_arguments_follow_the_class_attributes():
    class Both(Documented):
        argument_reason_required = True
        argument_task_required = False

    parser = Both(spicerack=None).argument_parser()
    args = parser.parse_args(["-r", "why", "--task-id", "T123"])
    assert (args.reason, args.task_id) == ("why", "T123")
    assert parser.parse_args(["--reason", "why"]).task_id == ""  # optional task ID: empty by default
    with pytest.raises(SystemExit):
        parser.parse_args([])  # the reason is required
    with pytest.raises(SystemExit):
        parser.parse_args(["-r", "why", "-t", "123"])  # not a Phabricator task ID
    with pytest.raises(SystemExit):
        parser.parse_args(["-r", ""])  # an empty reason
    with pytest.raises(SystemExit):
        parser.parse_args(["-r", 'with "quotes"'])
    actions = [action.dest for action in parser._actions]
    assert actions == ["help", "task_id", "reason"]  # the reference's order in --help


def test_runner_defaults():
    runner = Runner()
    assert runner.runtime_description == ""
    assert runner.max_concurrency == 20
    assert runner.lock_ttl == 1800
    assert runner.skip_start_sal is False
    assert runner.lock_args == LockArgs(suffix="", concurrency=20, ttl=1800)
    assert runner.rollback() is None


def test_skip_start_sal_is_a_property_subclasses_override_either_way():
    class AsProperty(Runner):
        @property
        def skip_start_sal(self) -> bool:
            return True

    class AsAttribute(Runner):
        skip_start_sal = True

    assert isinstance(vars(CookbookRunnerBase)["skip_start_sal"], property)  # as the reference's
    assert AsProperty().skip_start_sal is True
    assert AsAttribute().skip_start_sal is True


def test_lock_args_follow_overridden_class_attributes():
    class Limited(Runner):
        max_concurrency = 2
        lock_ttl = 60

    assert Limited().lock_args == LockArgs(suffix="", concurrency=2, ttl=60)
    with pytest.raises(AttributeError):
        LockArgs("a", 1, 1).suffix = "b"  # type: ignore[misc]


def test_cookbook_base_is_abstract():
    with pytest.raises(TypeError):
        CookbookBase(spicerack=None)  # type: ignore[abstract]


class FakeItem:
    def __init__(self, code: int) -> None:
        self.code = code
        self.runs = 0

    def run(self) -> int:
        self.runs += 1
        return self.code


def test_run_cookbook_passes_the_accessor_and_returns_or_raises(monkeypatch):
    from spicerack import Spicerack
    from spicerack.exceptions import RunCookbookError, SpicerackError

    item = FakeItem(3)
    calls = []

    def callback(spicerack, name, args):
        calls.append((spicerack, name, list(args)))
        return item if name == "a.b" else None

    spicerack = Spicerack(get_cookbook_callback=callback)
    assert spicerack.run_cookbook("a.b", ["x"]) == 3
    assert calls == [(spicerack, "a.b", ["x"])]
    message = r"run_cookbook returned exit code 3 when running cookbook a.b with args: \['x'\]"
    with pytest.raises(RunCookbookError, match=message):
        spicerack.run_cookbook("a.b", ["x"], raises=True)
    with pytest.raises(SpicerackError, match=r"Unable to find cookbook c\.d"):
        spicerack.run_cookbook("c.d")
    with pytest.raises(SpicerackError, match="get_cookbook_callback is not set"):
        Spicerack().run_cookbook("a.b")

    failures = []

    def fake_confirm_on_failure(func):  # as wmflib's: call, and on failure ask (here: record and give up)
        try:
            return func()
        except RunCookbookError as e:
            failures.append(str(e))
            return -1

    monkeypatch.setattr("wmflib.interactive.confirm_on_failure", fake_confirm_on_failure)
    assert spicerack.run_cookbook("a.b", confirm=True) == -1
    assert failures == ["run_cookbook returned exit code 3 when running cookbook a.b with args: ()"]
    item.code = 0
    assert spicerack.run_cookbook("a.b", confirm=True) == 0
