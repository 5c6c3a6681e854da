"""Unit tests of spicerack.ipmi: command building, secrets, DRY-RUN and output parsing, on a fake ipmitool."""

import logging
import subprocess
from collections.abc import Callable

import pytest

from spicerack.ipmi import IPMI_SAFE_BOOT_PARAMS, Ipmi, IpmiCheckError, IpmiError

PASSWORD = "current-root-pw1"
BASE = ["ipmitool", "-I", "lanplus", "-H", "db1001.mgmt.example.org", "-U", "root", "-E"]
USER_LIST = """\
ID  Name\t     Callin  Link Auth\tIPMI Msg   Channel Priv Limit
1                    true    false      false      Unknown (0x00)
2   root             true    false      true       ADMINISTRATOR
3   operator         true    false      true       ADMINISTRATOR
"""
BOOTPARAMS = """\
Boot parameter version: 1
Boot parameter 5 is valid/unlocked
Boot parameter data: {data}
 Boot Flags :
   - Boot Flag Invalid
   - Options apply to only next boot
   - BIOS PC Compatible (legacy) boot
   - Boot Device Selector : {device}
   - BIOS verbosity : System Default
"""
NO_OVERRIDE = BOOTPARAMS.format(data="0000000000", device="No override")
FORCE_PXE = BOOTPARAMS.format(data="0004000000", device="Force PXE")


class FakeIpmitool:
    """Stands in for subprocess.run: answers each ipmitool command from a table and records every call.

    Like ipmitool run with ``check=True``, a non-zero exit raises CalledProcessError carrying the standard output.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], dict[str, str]]] = []
        self.answers: dict[str, Callable[[], tuple[int, str, str]]] = {}

    def answer(self, command: str, stdout: str = "", *, returncode: int = 0, stderr: str = "") -> None:
        self.answers[command] = lambda: (returncode, stdout, stderr)

    def __call__(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        env = kwargs["env"]
        assert isinstance(env, dict)
        assert kwargs["stdout"] == subprocess.PIPE
        assert kwargs["check"] is True
        self.calls.append((args, env))
        command = " ".join(args[args.index("-E") + 1 :])
        returncode, stdout, _stderr = self.answers[command]()
        if returncode:
            raise subprocess.CalledProcessError(returncode, args, stdout.encode(), None)
        return subprocess.CompletedProcess(args, returncode, stdout.encode(), None)

    def commands(self) -> list[str]:
        return [" ".join(args[args.index("-E") + 1 :]) for args, _ in self.calls]


@pytest.fixture
def ipmitool(monkeypatch) -> FakeIpmitool:
    fake = FakeIpmitool()
    monkeypatch.setattr("spicerack.ipmi.run", fake)
    return fake


def make(*, dry_run: bool = False) -> Ipmi:
    return Ipmi("db1001.mgmt.example.org", PASSWORD, dry_run=dry_run)


def test_username_is_the_third_positional_argument_and_defaults_to_root(ipmitool):
    ipmitool.answer("chassis power status", "Chassis Power is on\n")
    Ipmi("10.0.0.1", PASSWORD).power_status()
    Ipmi("10.0.0.1", PASSWORD, "wmfroot", False).power_status()
    assert [args[args.index("-U") + 1] for args, _ in ipmitool.calls] == ["root", "wmfroot"]
    assert Ipmi("10.0.0.1", PASSWORD, "wmfroot", False)._dry_run is False


def test_environment_holds_only_the_password(ipmitool):
    ipmitool.answer("chassis power status", "Chassis Power is on\n")
    make().power_status()
    assert ipmitool.calls[0][1] == {"IPMITOOL_PASSWORD": PASSWORD}


def test_command_passes_the_password_only_in_the_environment(ipmitool, caplog):
    caplog.set_level(logging.DEBUG, logger="spicerack.ipmi")
    ipmitool.answer("chassis power status", "Chassis Power is on\n")
    assert make().command(["chassis", "power", "status"]) == "Chassis Power is on\n"
    args, env = ipmitool.calls[0]
    assert args == [*BASE, "chassis", "power", "status"]
    assert env["IPMITOOL_PASSWORD"] == PASSWORD
    assert PASSWORD not in " ".join(args)
    assert f"Running IPMI command: {' '.join(BASE)} chassis power status" in caplog.text
    assert PASSWORD not in caplog.text


def test_command_adds_the_port_before_the_user(ipmitool, caplog):
    caplog.set_level(logging.INFO, logger="spicerack.ipmi")
    ipmitool.answer("chassis power status", "Chassis Power is off\n")
    assert Ipmi("10.0.0.1", PASSWORD, dry_run=False, port=6230).power_status() == "off"
    assert ipmitool.calls[0][0][:8] == ["ipmitool", "-I", "lanplus", "-H", "10.0.0.1", "-p", "6230", "-U"]
    assert "ipmitool -I lanplus -H 10.0.0.1 -p 6230 -U root -E chassis power status" in caplog.text


def test_dry_run_skips_changes_but_runs_reads(ipmitool, caplog):
    caplog.set_level(logging.INFO, logger="spicerack.ipmi")
    ipmitool.answer("chassis power status", "Chassis Power is on\n")
    client = make(dry_run=True)
    assert client.command(["chassis", "power", "cycle"]) == ""
    assert client.power_status() == "on"
    assert ipmitool.commands() == ["chassis power status"]
    assert "chassis power cycle" in caplog.text


def test_failure_is_a_clear_error_without_secrets(ipmitool, caplog):
    caplog.set_level(logging.DEBUG)
    ipmitool.answer(
        "user set password 3 new-password-1234 16",
        "Set User Password command failed for new-password-1234 and current-root-pw1\n",
        returncode=1,
    )
    with pytest.raises(IpmiError, match=r"Remote IPMI for db1001\.mgmt\.example\.org failed \(exit=1\)") as error:
        make().command(["user", "set", "password", "3", "new-password-1234", "16"], hide_parts=(4,))
    assert "Set User Password command failed for __REDACTED__ and __REDACTED__" in str(error.value)
    assert "user set password 3 __REDACTED__ 16" in caplog.text
    for secret in ("new-password-1234", PASSWORD):
        assert secret not in str(error.value)
        assert secret not in caplog.text


def test_missing_ipmitool_is_an_ipmi_error(monkeypatch):
    def missing(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError(2, "No such file or directory", "ipmitool")

    monkeypatch.setattr("spicerack.ipmi.run", missing)
    with pytest.raises(IpmiError, match=r"Unable to run ipmitool for db1001\.mgmt\.example\.org"):
        make().check_connection()


@pytest.mark.parametrize("output", ["", "Error: something else\n"])
def test_unexpected_power_status(ipmitool, output):
    ipmitool.answer("chassis power status", output)
    with pytest.raises(IpmiError, match="Unexpected chassis status"):
        make().power_status()


@pytest.mark.parametrize(("status", "operation"), [("off", "on"), ("on", "cycle")])
def test_reboot(ipmitool, status, operation):
    ipmitool.answer("chassis power status", f"Chassis Power is {status}\n")
    ipmitool.answer(f"chassis power {operation}", f"Chassis Power Control: {operation}\n")
    make().reboot()
    assert ipmitool.commands() == ["chassis power status", f"chassis power {operation}"]


@pytest.mark.parametrize("data", IPMI_SAFE_BOOT_PARAMS)
def test_check_bootparams_accepts_the_safe_values(ipmitool, data):
    ipmitool.answer("chassis bootparam get 5", BOOTPARAMS.format(data=data, device="No override"))
    make().check_bootparams()


def test_check_bootparams_rejects_an_override(ipmitool):
    ipmitool.answer("chassis bootparam get 5", FORCE_PXE)
    with pytest.raises(IpmiCheckError, match="got: 0004000000"):
        make().check_bootparams()


def test_missing_boot_parameter(ipmitool):
    ipmitool.answer("chassis bootparam get 5", "Boot parameter version: 1\n")
    with pytest.raises(IpmiError, match="Unable to find the boot parameter 'Boot parameter data'"):
        make().check_bootparams()


def test_boot_parameter_without_value(ipmitool):
    ipmitool.answer("chassis bootparam get 5", "Boot parameter data\n")
    with pytest.raises(IpmiError, match="Unable to extract value for parameter 'Boot parameter data'"):
        make().check_bootparams()


def test_force_pxe(ipmitool):
    ipmitool.answer("chassis bootparam set bootflag force_pxe options=reset", "Set Boot Device to force_pxe\n")
    ipmitool.answer("chassis bootparam get 5", FORCE_PXE)
    make().force_pxe()
    assert ipmitool.commands() == ["chassis bootparam set bootflag force_pxe options=reset", "chassis bootparam get 5"]


def test_force_pxe_retries_until_verified(ipmitool, monkeypatch):
    monkeypatch.setattr("wmflib.decorators.time.sleep", lambda seconds: None)
    outputs = iter([NO_OVERRIDE, FORCE_PXE])
    ipmitool.answer("chassis bootparam set bootflag force_pxe options=reset")
    ipmitool.answers["chassis bootparam get 5"] = lambda: (0, next(outputs), "")
    make().force_pxe()
    assert ipmitool.commands().count("chassis bootparam set bootflag force_pxe options=reset") == 2


def test_force_pxe_fails_when_not_verified(ipmitool, monkeypatch):
    monkeypatch.setattr("wmflib.decorators.time.sleep", lambda seconds: None)
    ipmitool.answer("chassis bootparam set bootflag force_pxe options=reset")
    ipmitool.answer("chassis bootparam get 5", NO_OVERRIDE)
    with pytest.raises(IpmiCheckError, match="Unable to verify that Force PXE is set"):
        make().force_pxe()
    assert len(ipmitool.calls) == 6  # three tries


def test_dry_run_force_pxe_only_warns(ipmitool, caplog):
    ipmitool.answer("chassis bootparam get 5", NO_OVERRIDE)
    make(dry_run=True).force_pxe()
    assert ipmitool.commands() == ["chassis bootparam get 5"]
    assert "Unable to verify that Force PXE is set" in caplog.text


def test_remove_boot_override(ipmitool):
    ipmitool.answer("chassis bootparam set bootflag none options=reset")
    ipmitool.answer("chassis bootparam get 5", NO_OVERRIDE)
    make().remove_boot_override()
    assert ipmitool.commands()[0] == "chassis bootparam set bootflag none options=reset"


def test_remove_boot_override_not_verified(ipmitool):
    ipmitool.answer("chassis bootparam set bootflag none options=reset")
    ipmitool.answer("chassis bootparam get 5", FORCE_PXE)
    with pytest.raises(IpmiCheckError, match="The host might reboot in PXE"):
        make().remove_boot_override()


@pytest.mark.parametrize(("password", "size"), [("a" * 16, 16), ("a" * 17, 20), ("a" * 20, 20)])
def test_password_store_size(password, size):
    assert Ipmi._get_password_store_size(password) == size


@pytest.mark.parametrize(
    ("password", "message"), [("a" * 15, "must be 16 bytes minimum"), ("a" * 21, "greater then the 20 byte limit")]
)
def test_password_store_size_out_of_bounds(password, message):
    with pytest.raises(IpmiError, match=message):
        Ipmi._get_password_store_size(password)


def test_reset_password_rejects_bad_arguments_before_any_command(ipmitool):
    with pytest.raises(IpmiError, match="Username can not be an empty string"):
        make().reset_password("", "a" * 16)
    with pytest.raises(IpmiError, match="16 bytes minimum"):
        make().reset_password("operator", "short")
    assert ipmitool.calls == []


def test_reset_password_of_another_account(ipmitool):
    ipmitool.answer("user list 1", USER_LIST)
    ipmitool.answer("user set password 3 operator-new-pw-1 20", "Set User Password command successful (user 3)\n")
    client = make()
    client.reset_password("operator", "operator-new-pw-1")
    assert client.env["IPMITOOL_PASSWORD"] == PASSWORD


def test_reset_password_of_its_own_account_switches_to_it(ipmitool):
    ipmitool.answer("user list 1", USER_LIST)
    ipmitool.answer("user set password 3 operator-new-pw-1 20", "Set User Password command successful (user 3)\n")
    ipmitool.answer("chassis power status", "Chassis Power is on\n")
    client = Ipmi("db1001.mgmt.example.org", PASSWORD, username="operator", dry_run=False)
    client.reset_password("operator", "operator-new-pw-1")
    assert client.env["IPMITOOL_PASSWORD"] == "operator-new-pw-1"
    assert ipmitool.calls[-1][0][ipmitool.calls[-1][0].index("-U") + 1] == "operator"


def test_reset_password_looks_on_channel_2(ipmitool):
    ipmitool.answer("user list 1", "ID  Name\n")
    ipmitool.answer("user list 2", USER_LIST)
    ipmitool.answer("user set password 2 new-root-pw-1234 16", "Set User Password command successful (user 2)\n")
    ipmitool.answer("chassis power status", "Chassis Power is on\n")
    client = make()
    client.reset_password("root", "new-root-pw-1234")
    assert client.env["IPMITOOL_PASSWORD"] == "new-root-pw-1234"
    assert ipmitool.calls[-1][1]["IPMITOOL_PASSWORD"] == "new-root-pw-1234"


def test_reset_password_unexpected_output(ipmitool):
    ipmitool.answer("user list 1", USER_LIST)
    ipmitool.answer("user set password 3 operator-new-pw-1 20", "Something else\n")
    with pytest.raises(IpmiError, match="Password reset failed for username: operator"):
        make().reset_password("operator", "operator-new-pw-1")


def test_reset_root_password_goes_back_when_the_new_one_fails(ipmitool):
    ipmitool.answer("user list 1", USER_LIST)
    ipmitool.answer("user set password 2 new-root-pw-1234 16", "Set User Password command successful (user 2)\n")
    ipmitool.answer("chassis power status", returncode=1, stderr="Error: Unable to establish IPMI v2 / RMCP+ session")
    client = make()
    with pytest.raises(IpmiError, match="Password reset failed for username: root"):
        client.reset_password("root", "new-root-pw-1234")
    assert client.env["IPMITOOL_PASSWORD"] == PASSWORD


def test_dry_run_reset_password(ipmitool, caplog):
    caplog.set_level(logging.INFO, logger="spicerack.ipmi")
    ipmitool.answer("user list 1", USER_LIST)
    client = make(dry_run=True)
    client.reset_password("root", "new-root-pw-1234")
    assert ipmitool.commands() == ["user list 1"]
    assert client.env["IPMITOOL_PASSWORD"] == PASSWORD
    assert "user set password 2 __REDACTED__ 16" in caplog.text
    assert "new-root-pw-1234" not in caplog.text


def test_unknown_user(ipmitool):
    ipmitool.answer("user list 1", USER_LIST)
    ipmitool.answer("user list 2", USER_LIST)
    with pytest.raises(IpmiError, match="Unable to find ID for username: nobody"):
        make().reset_password("nobody", "a" * 16)
