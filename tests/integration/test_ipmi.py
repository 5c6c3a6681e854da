"""spicerack.ipmi against a real BMC: OpenIPMI's ipmi_sim over IPMI LAN-plus, driven by the real ipmitool.

The simulator does not implement boot parameter 3, which ``ipmitool chassis bootparam set bootflag`` reads after
writing the boot flags: that command exits 1 there although the boot device did change (see
``tests/integration/servers/ipmi.py``). The boot override tests accept that one error and check the BMC's state.
"""

import logging

import pytest

from spicerack import Spicerack
from spicerack.ipmi import Ipmi, IpmiCheckError, IpmiError
from tests.integration.servers import wait_until
from tests.integration.servers.ipmi import IpmiSimulator

pytestmark = pytest.mark.integration

SIMULATOR_BOOTFLAG_ERROR = "Failed to read boot valid flag"


def client(bmc: IpmiSimulator, *, dry_run: bool = False, password: str = "") -> Ipmi:
    return Ipmi(bmc.host, password or bmc.root_password, dry_run=dry_run, port=bmc.port)


def set_boot_flag(method_name: str, ipmi: Ipmi, capfd: pytest.CaptureFixture[str]) -> None:
    """Call force_pxe or remove_boot_override, tolerating only the simulator's known bootparam 3 error.

    As in the reference, ipmitool's standard error is not captured: it reaches the operator's terminal.
    """
    try:
        getattr(ipmi, method_name)()
    except IpmiError as e:
        assert "failed (exit=1)" in str(e)
        assert SIMULATOR_BOOTFLAG_ERROR in capfd.readouterr().err


def test_power_status_follows_the_chassis(ipmi_bmc):
    ipmi = client(ipmi_bmc)
    ipmi.check_connection()
    assert ipmi.power_status() == "on"
    ipmi_bmc.reset(power="off")
    assert ipmi.power_status() == "off"


def test_power_status_runs_in_dry_run(ipmi_bmc, caplog):
    caplog.set_level(logging.INFO, logger="spicerack.ipmi")
    ipmi_bmc.reset(power="off")
    assert client(ipmi_bmc, dry_run=True).power_status() == "off"
    expected = f"Running IPMI command: ipmitool -I lanplus -H 127.0.0.1 -p {ipmi_bmc.port} -U root -E chassis power"
    assert expected in caplog.text


def test_reboot_powers_on_a_host_that_is_off(ipmi_bmc):
    ipmi_bmc.reset(power="off")
    client(ipmi_bmc).reboot()
    assert ipmi_bmc.power() == "on"
    assert ipmi_bmc.history() == ["power 1"]


def test_reboot_power_cycles_a_host_that_is_on(ipmi_bmc):
    client(ipmi_bmc).reboot()
    # The simulator powers off at once and back on after its one-second power cycle timer.
    wait_until(lambda: ipmi_bmc.history() == ["power 0", "power 1"], timeout=10, what="the power cycle")
    assert ipmi_bmc.power() == "on"


def test_dry_run_reboot_changes_nothing(ipmi_bmc, caplog):
    caplog.set_level(logging.INFO, logger="spicerack.ipmi")
    ipmi_bmc.reset(power="off")
    client(ipmi_bmc, dry_run=True).reboot()
    assert "-U root -E chassis power on" in caplog.text
    assert ipmi_bmc.power() == "off"
    assert ipmi_bmc.history() == []


def test_check_bootparams_passes_without_override(ipmi_bmc):
    client(ipmi_bmc).check_bootparams()


def test_check_bootparams_fails_with_a_pxe_override(ipmi_bmc):
    ipmi_bmc.reset(boot_device="pxe")
    with pytest.raises(IpmiCheckError, match="got: 0004000000"):
        client(ipmi_bmc).check_bootparams()


def test_force_pxe_sets_the_next_boot_to_pxe(ipmi_bmc, capfd):
    ipmi = client(ipmi_bmc)
    set_boot_flag("force_pxe", ipmi, capfd)
    assert ipmi_bmc.boot_device() == "pxe"
    assert ipmi._get_boot_parameter("Boot Device Selector") == "Force PXE"
    with pytest.raises(IpmiCheckError):
        ipmi.check_bootparams()


def test_remove_boot_override_clears_pxe(ipmi_bmc, capfd):
    ipmi_bmc.reset(boot_device="pxe")
    ipmi = client(ipmi_bmc)
    set_boot_flag("remove_boot_override", ipmi, capfd)
    assert ipmi_bmc.boot_device() == "none"
    ipmi.check_bootparams()


def test_dry_run_force_pxe_changes_nothing(ipmi_bmc, caplog):
    caplog.set_level(logging.INFO, logger="spicerack.ipmi")
    client(ipmi_bmc, dry_run=True).force_pxe()  # One try only in DRY-RUN: no 20 s retries
    assert "chassis bootparam set bootflag force_pxe options=reset" in caplog.text
    assert "Unable to verify that Force PXE is set" in caplog.text  # The real state was read back
    assert ipmi_bmc.boot_device() == "none"
    assert ipmi_bmc.history() == []


def test_wrong_password_is_a_clear_error_without_the_password(ipmi_bmc, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-password"
    with pytest.raises(IpmiError, match=r"Remote IPMI for 127\.0\.0\.1 failed \(exit=1\)") as error:
        client(ipmi_bmc, password=wrong).check_connection()
    assert "Unable to establish IPMI v2 / RMCP+ session" in capfd.readouterr().err  # ipmitool's own error
    assert wrong not in str(error.value)
    assert wrong not in caplog.text
    assert ipmi_bmc.root_password not in caplog.text


def test_reset_password_of_another_account(ipmi_bmc, caplog):
    caplog.set_level(logging.DEBUG)
    new_password = "operator-new-pw-1"  # 17 characters: stored in the 20-byte format
    try:
        client(ipmi_bmc).reset_password("operator", new_password)
        login = ipmi_bmc.ipmitool("chassis", "power", "status", user="operator", password=new_password)
        assert login.returncode == 0, login.stderr
        assert "user set password 3 __REDACTED__ 20" in caplog.text
        assert new_password not in caplog.text
        assert ipmi_bmc.root_password not in caplog.text
    finally:
        ipmi_bmc.ipmitool("user", "set", "password", "3", ipmi_bmc.operator_password, "20")


def test_reset_root_password_switches_the_client_to_it(ipmi_bmc):
    new_password = "root-new-passwd1"  # 16 characters, as the current one (see the fixture's module)
    ipmi = client(ipmi_bmc)
    try:
        ipmi.reset_password("root", new_password)
        assert ipmi.env["IPMITOOL_PASSWORD"] == new_password
        assert ipmi.power_status() == "on"
        assert ipmi_bmc.ipmitool("chassis", "power", "status").returncode != 0  # the old password is refused
    finally:
        ipmi_bmc.ipmitool("user", "set", "password", "2", ipmi_bmc.root_password, "16", password=new_password)
    assert client(ipmi_bmc).power_status() == "on"


def test_dry_run_reset_password_changes_nothing(ipmi_bmc, caplog):
    caplog.set_level(logging.DEBUG)
    new_password = "never-set-pw-123"
    client(ipmi_bmc, dry_run=True).reset_password("operator", new_password)
    assert "user set password 3 __REDACTED__ 16" in caplog.text
    assert new_password not in caplog.text
    login = ipmi_bmc.ipmitool("chassis", "power", "status", user="operator", password=ipmi_bmc.operator_password)
    assert login.returncode == 0, login.stderr


def test_operator_account_from_the_accessor(ipmi_bmc, tmp_path):
    (tmp_path / "management").mkdir()
    (tmp_path / "management" / "config.yaml").write_text(f"mgmt_password: {ipmi_bmc.operator_password}\n")
    ipmi = Spicerack(dry_run=False, spicerack_config_dir=str(tmp_path)).ipmi(
        ipmi_bmc.host, username="operator", port=ipmi_bmc.port
    )
    assert ipmi.power_status() == "on"  # Only the operator's password works with the operator's name
    with pytest.raises(IpmiError):
        Ipmi(ipmi_bmc.host, ipmi_bmc.operator_password, "root", False, port=ipmi_bmc.port).power_status()


def test_reset_password_of_an_unknown_account(ipmi_bmc):
    with pytest.raises(IpmiError, match="Unable to find ID for username: nobody"):
        client(ipmi_bmc).reset_password("nobody", "a-long-enough-pw")


def test_accessor_uses_the_management_password_from_the_configuration(ipmi_bmc, tmp_path):
    (tmp_path / "management").mkdir()
    (tmp_path / "management" / "config.yaml").write_text(f"mgmt_password: {ipmi_bmc.root_password}\n")
    spicerack = Spicerack(dry_run=False, spicerack_config_dir=str(tmp_path))
    ipmi = spicerack.ipmi(ipmi_bmc.host, "root", port=ipmi_bmc.port)
    ipmi_bmc.reset(power="off")
    ipmi.reboot()
    assert ipmi_bmc.power() == "on"
    assert spicerack.management_password() == ipmi_bmc.root_password
