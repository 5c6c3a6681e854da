"""The administrative Reason: its formats and its validation."""

import subprocess

import pytest

from spicerack import Spicerack
from spicerack.administrative import Reason, ReasonError
from spicerack.exceptions import SpicerackError


def test_str_without_task() -> None:
    reason = Reason("Rebooting for kernel upgrade", "jdoe", "cumin1001")

    assert str(reason) == "Rebooting for kernel upgrade - jdoe@cumin1001"
    assert reason.quoted() == '"Rebooting for kernel upgrade - jdoe@cumin1001"'
    assert reason.task_id is None


def test_str_with_task() -> None:
    reason = Reason("Rebooting", "jdoe", "cumin1001", task_id="T12345")

    assert str(reason) == "Rebooting - jdoe@cumin1001 - T12345"
    assert reason.quoted() == '"Rebooting - jdoe@cumin1001 - T12345"'
    assert reason.task_id == "T12345"


def test_properties() -> None:
    reason = Reason("Rebooting", "jdoe", "cumin1001")

    assert reason.reason == "Rebooting"
    assert reason.owner == "jdoe@cumin1001"
    assert reason.hostname == "cumin1001"


def test_quoted_reason_is_double_quoted_so_the_shell_expands_variables() -> None:
    reason = Reason("Don't page: $REIMAGED is being reimaged", "jdoe", "cumin1001")

    assert reason.quoted() == '"Don\'t page: $REIMAGED is being reimaged - jdoe@cumin1001"'
    echoed = subprocess.run(
        ["bash", "-c", f"printf %s {reason.quoted()}"],
        capture_output=True,
        text=True,
        check=True,
        env={"REIMAGED": "host1001"},
    )
    assert echoed.stdout == "Don't page: host1001 is being reimaged - jdoe@cumin1001"


@pytest.mark.parametrize("task_id", ["", None])
def test_empty_task_id_renders_without_a_trailing_separator(task_id: str | None) -> None:
    reason = Reason("Rebooting", "jdoe", "cumin1001", task_id=task_id)

    assert str(reason) == "Rebooting - jdoe@cumin1001"
    assert reason.quoted() == '"Rebooting - jdoe@cumin1001"'


@pytest.mark.parametrize(
    ("args", "task_id", "message"),
    [
        (('say "hi"', "jdoe", "cumin1001"), None, "Property _reason cannot contain double quotes"),
        (("ok", 'j"doe', "cumin1001"), None, "Property _username cannot contain double quotes"),
        (("ok", "jdoe", 'cumin"1001'), None, "Property _hostname cannot contain double quotes"),
        (("ok", "jdoe", "cumin1001"), 'T1"2', "Property _task_id cannot contain double quotes"),
    ],
)
def test_double_quotes_are_refused(args: tuple[str, str, str], task_id: str | None, message: str) -> None:
    with pytest.raises(ReasonError, match=message) as error:
        Reason(*args, task_id=task_id)

    assert isinstance(error.value, SpicerackError)


def test_double_quotes_are_refused_also_when_changing_a_part() -> None:
    reason = Reason("ok", "jdoe", "cumin1001")

    with pytest.raises(ReasonError, match="Property _reason cannot contain double quotes"):
        reason._reason = 'not "ok"'
    assert reason.reason == "ok"


def test_empty_and_multi_line_reasons_are_accepted_as_the_reference_does() -> None:
    assert str(Reason("", "jdoe", "cumin1001")) == " - jdoe@cumin1001"
    assert Reason("line one\nline two", "jdoe", "cumin1001").reason == "line one\nline two"


def test_accessor_signs_with_the_current_user_and_host() -> None:
    spicerack = Spicerack(dry_run=True)

    reason = spicerack.admin_reason("Maintenance", task_id="T1")

    assert reason.owner == f"{spicerack.username}@{spicerack.current_hostname}"
    assert str(reason) == f"Maintenance - {spicerack.username}@{spicerack.current_hostname} - T1"


def test_accessor_refuses_bad_reasons() -> None:
    with pytest.raises(ReasonError, match="double quotes"):
        Spicerack(dry_run=True).admin_reason('"quoted"')
