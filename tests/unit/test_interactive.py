"""Unit tests of spicerack.interactive and the management_password() accessor (the prompt reads a fake stdin)."""

import getpass
import io
import logging
import subprocess
import sys

import pytest

from spicerack import Spicerack
from spicerack.exceptions import SpicerackError
from spicerack.interactive import get_management_password


@pytest.fixture
def fake_stdin(monkeypatch):
    """A stdin the password prompt reads from, recording the prompts it shows."""
    stdin = io.StringIO()
    prompts: list[str] = []

    def fake_getpass(prompt: str = "Password: ", stream: object = None) -> str:
        prompts.append(prompt)
        return stdin.readline().rstrip("\n")

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    stdin.prompts = prompts  # type: ignore[attr-defined]
    return stdin


def test_password_from_the_environment_is_not_asked(monkeypatch, fake_stdin, caplog):
    caplog.set_level(logging.DEBUG, logger="spicerack.interactive")
    monkeypatch.setenv("MGMT_PASSWORD", "secret-from-env")
    assert get_management_password() == "secret-from-env"
    assert fake_stdin.prompts == []
    assert "Using the management password from the MGMT_PASSWORD environment variable" in caplog.text
    assert "secret-from-env" not in caplog.text


def test_empty_password_in_the_environment_is_an_error(monkeypatch, fake_stdin):
    monkeypatch.setenv("MGMT_PASSWORD", "")
    with pytest.raises(SpicerackError, match="Empty management password"):
        get_management_password()
    assert fake_stdin.prompts == []


def test_password_is_asked_without_the_environment_variable(monkeypatch, fake_stdin, caplog):
    caplog.set_level(logging.DEBUG, logger="spicerack.interactive")
    monkeypatch.delenv("MGMT_PASSWORD", raising=False)
    fake_stdin.write("short\ntyped-secret\n")  # wmflib asks again for a too short secret
    fake_stdin.seek(0)
    assert get_management_password() == "typed-secret"
    assert fake_stdin.prompts[0] == "Management Password: "
    assert len(fake_stdin.prompts) == 2
    assert "typed-secret" not in caplog.text


def test_accessor_asks_once_per_instance(monkeypatch, fake_stdin):
    monkeypatch.delenv("MGMT_PASSWORD", raising=False)
    fake_stdin.write("first-answer\nsecond-answer\n")
    fake_stdin.seek(0)
    spicerack = Spicerack(dry_run=True)
    assert spicerack.management_password() == "first-answer"
    assert spicerack.management_password() == "first-answer"
    assert len(fake_stdin.prompts) == 1


def test_ipmi_accessor_uses_the_management_password(monkeypatch):
    monkeypatch.setenv("MGMT_PASSWORD", "mgmt-secret")
    ipmi = Spicerack(dry_run=True).ipmi("db1001.mgmt.example.org", port=6230)
    assert ipmi.env == {"IPMITOOL_PASSWORD": "mgmt-secret"}
    assert ipmi._target == "db1001.mgmt.example.org"
    assert ipmi._port == 6230
    assert ipmi._dry_run is True


def test_import_spicerack_loads_neither_module():
    code = (
        "import sys, spicerack; "
        "loaded = [m for m in ('spicerack.ipmi', 'spicerack.interactive', 'wmflib.interactive') if m in sys.modules]; "
        "print(loaded)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
