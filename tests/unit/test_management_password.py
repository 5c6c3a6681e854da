"""Unit tests of the management_password() accessor and its users: the configuration file first, else a prompt."""

import getpass
import io
import subprocess
import sys
from pathlib import Path

import pytest

from spicerack import Spicerack


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


def write_config(config_dir: Path, text: str) -> None:
    (config_dir / "management").mkdir()
    (config_dir / "management" / "config.yaml").write_text(text)


def test_password_from_the_configuration_is_not_asked(tmp_path, fake_stdin):
    write_config(tmp_path, "mgmt_password: from-the-file\n")
    spicerack = Spicerack(dry_run=True, spicerack_config_dir=str(tmp_path))
    assert spicerack.management_password() == "from-the-file"
    assert fake_stdin.prompts == []


@pytest.mark.parametrize("text", [None, "other_key: value\n", "mgmt_password: ''\n", "- not a mapping\n"])
def test_password_is_asked_without_a_usable_configuration(tmp_path, fake_stdin, text):
    if text is not None:
        write_config(tmp_path, text)
    fake_stdin.write("short\ntyped-secret\n")  # wmflib asks again for a too short secret
    fake_stdin.seek(0)
    spicerack = Spicerack(dry_run=True, spicerack_config_dir=str(tmp_path))
    assert spicerack.management_password() == "typed-secret"
    assert fake_stdin.prompts[0] == "Management Password: "
    assert len(fake_stdin.prompts) == 2


def test_the_environment_is_not_a_source(tmp_path, fake_stdin, monkeypatch):
    monkeypatch.setenv("MGMT_PASSWORD", "from-env")
    fake_stdin.write("typed-secret\n")
    fake_stdin.seek(0)
    assert Spicerack(dry_run=True, spicerack_config_dir=str(tmp_path)).management_password() == "typed-secret"


def test_accessor_asks_once_per_instance(tmp_path, fake_stdin):
    fake_stdin.write("first-answer\nsecond-answer\n")
    fake_stdin.seek(0)
    spicerack = Spicerack(dry_run=True, spicerack_config_dir=str(tmp_path))
    assert spicerack.management_password() == "first-answer"
    assert spicerack.management_password() == "first-answer"
    assert len(fake_stdin.prompts) == 1


def test_ipmi_accessor_uses_the_management_password_and_the_username(tmp_path):
    write_config(tmp_path, "mgmt_password: mgmt-secret\n")
    ipmi = Spicerack(dry_run=True, spicerack_config_dir=str(tmp_path)).ipmi(
        "db1001.mgmt.example.org", "wmfroot", port=6230
    )
    assert ipmi.env == {"IPMITOOL_PASSWORD": "mgmt-secret"}
    assert ipmi._target == "db1001.mgmt.example.org"
    assert ipmi._username == "wmfroot"
    assert ipmi._port == 6230
    assert ipmi._dry_run is True


def test_ipmi_accessor_requires_the_username(tmp_path):
    with pytest.raises(TypeError):
        Spicerack(dry_run=True, spicerack_config_dir=str(tmp_path)).ipmi("db1001.mgmt.example.org")  # type: ignore[call-arg]


def test_redfish_accessor_uses_the_management_password(tmp_path):
    write_config(tmp_path, "mgmt_password: mgmt-secret\n")
    client = Spicerack(dry_run=True, spicerack_config_dir=str(tmp_path)).redfish("db1001", mgmt_address="10.0.0.4")
    assert client._api_client.http_session.auth == ("root", "mgmt-secret")


def test_import_spicerack_loads_no_management_module():
    code = (
        "import sys, spicerack; "
        "loaded = [m for m in ('spicerack.ipmi', 'spicerack.redfish', 'wmflib.interactive') if m in sys.modules]; "
        "print(loaded)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
