"""The administrative Reason: its formats and its validation."""

import shlex
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


def test_single_quotes_and_shell_variables_are_allowed_and_quoted_verbatim() -> None:
    reason = Reason("Don't page: $HOSTNAME is being reimaged", "jdoe", "cumin1001")

    assert reason.quoted() == "'Don'\"'\"'t page: $HOSTNAME is being reimaged - jdoe@cumin1001'"
    assert shlex.split(reason.quoted()) == ["Don't page: $HOSTNAME is being reimaged - jdoe@cumin1001"]


@pytest.mark.parametrize("text", ["rm $(ls -l)", "run `id`", "a\\b", "$HOME and 'quotes'"])
def test_quoted_reason_reaches_a_shell_verbatim(text: str) -> None:
    reason = Reason(text, "jdoe", "cumin1001")
    echoed = subprocess.run(["bash", "-c", f"printf %s {reason.quoted()}"], capture_output=True, text=True, check=True)
    assert echoed.stdout == f"{text} - jdoe@cumin1001"


def test_plain_reason_keeps_double_quotes() -> None:
    assert Reason("Reimaging host", "jdoe", "cumin1001").quoted() == '"Reimaging host - jdoe@cumin1001"'


@pytest.mark.parametrize(
    ("args", "task_id", "message"),
    [
        (('say "hi"', "jdoe", "cumin1001"), None, "Property reason cannot contain double quotes"),
        (("ok", 'j"doe', "cumin1001"), None, "Property username cannot contain double quotes"),
        (("ok", "jdoe", 'cumin"1001'), None, "Property hostname cannot contain double quotes"),
        (("ok", "jdoe", "cumin1001"), 'T1"2', "Property task_id cannot contain double quotes"),
        (("line one\nline two", "jdoe", "cumin1001"), None, "Property reason cannot contain line breaks"),
        (("ok", "jdoe", "cumin1001"), "T1\r", "Property task_id cannot contain line breaks"),
        (("", "jdoe", "cumin1001"), None, "The reason cannot be empty"),
        (("   ", "jdoe", "cumin1001"), None, "The reason cannot be empty"),
    ],
)
def test_invalid_reasons_are_refused(args: tuple[str, str, str], task_id: str | None, message: str) -> None:
    with pytest.raises(ReasonError, match=message) as error:
        Reason(*args, task_id=task_id)

    assert "\n" not in str(error.value)
    assert isinstance(error.value, SpicerackError)


def test_accessor_signs_with_the_current_user_and_host() -> None:
    spicerack = Spicerack(dry_run=True)

    reason = spicerack.admin_reason("Maintenance", task_id="T1")

    assert reason.owner == f"{spicerack.username}@{spicerack.current_hostname}"
    assert str(reason) == f"Maintenance - {spicerack.username}@{spicerack.current_hostname} - T1"


def test_accessor_refuses_bad_reasons() -> None:
    with pytest.raises(ReasonError, match="double quotes"):
        Spicerack(dry_run=True).admin_reason('"quoted"')
