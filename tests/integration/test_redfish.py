"""spicerack.redfish against a real Redfish service: sushy-emulator over HTTPS with basic authentication.

The emulator has no Dell OEM actions (SCP), account service or log service: those paths are covered by the unit
tests. Its fixture adds the versions document at /redfish that the Redfish specification requires.
"""

import ipaddress
import logging

import pytest
from packaging import version

from spicerack import Spicerack
from spicerack.redfish import (
    ChassisResetPolicy,
    RedfishDell,
    RedfishError,
    RedfishSupermicro,
    RedfishTaskNotCompletedError,
)
from tests.integration.servers import free_port, wait_until
from tests.integration.servers.redfish import DELL_SYSTEM, SUPERMICRO_SYSTEM, RedfishEmulator

pytestmark = [
    pytest.mark.integration,
    # Management consoles have self-signed certificates: the module silences this warning, pytest shows it again.
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

LOCALHOST = ipaddress.ip_interface("127.0.0.1")
RESET_PATH = f"/redfish/v1/Systems/{SUPERMICRO_SYSTEM}/Actions/ComputerSystem.Reset"
TASK_PATH = "/redfish/v1/TaskService/Tasks/42"  # The emulator's one (completed) task


def supermicro(emulator: RedfishEmulator, *, dry_run: bool = False, password: str = "") -> RedfishSupermicro:
    return RedfishSupermicro(
        "sm-host",
        LOCALHOST,
        emulator.username,
        password or emulator.password,
        dry_run=dry_run,
        port=emulator.port,
    )


def dell(emulator: RedfishEmulator, *, dry_run: bool = False) -> RedfishDell:
    return RedfishDell(
        "dell-host", LOCALHOST, emulator.username, emulator.password, dry_run=dry_run, port=emulator.port
    )


def test_check_connection_reads_the_service_root(redfish_emulator, caplog):
    caplog.set_level(logging.INFO, logger="spicerack.redfish")
    before = redfish_emulator.requests("GET", "/redfish")
    supermicro(redfish_emulator).check_connection()
    assert redfish_emulator.requests("GET", "/redfish") == before + 1
    assert "Testing Redfish API connection to sm-host (127.0.0.1)" in caplog.text


def test_check_connection_fails_without_the_service(redfish_emulator):
    client = RedfishSupermicro("sm-host", LOCALHOST, "root", "pw", dry_run=False, port=free_port())
    with pytest.raises(RedfishError, match=r"^Failed to perform GET request to https://127\.0\.0\.1:\d+/redfish: "):
        client.check_connection()


def test_wrong_credentials_are_refused(redfish_emulator):
    with pytest.raises(RedfishError, match="returned HTTP 401"):
        supermicro(redfish_emulator, password="wrong").get_power_state()


def test_http_error_is_logged_with_the_payload(redfish_emulator, caplog):
    with pytest.raises(RedfishError, match="returned HTTP 404"):
        supermicro(redfish_emulator).request("get", "/redfish/v1/Systems/no-such-system")
    assert "Response payload: {'error'" in caplog.text


def test_system_and_manager_information(redfish_emulator):
    client = supermicro(redfish_emulator)
    assert client.manufacturer == "Sushy Emulator"
    assert client.uuid == SUPERMICRO_SYSTEM
    assert client.oob_model == "Joo Janta 200"
    assert client.firmware_version == version.Version("1.00")
    assert client.pushuri == "/redfish/v1/UpdateService/FirmwareInventory"


def test_missing_field_is_a_clear_error(redfish_emulator):
    with pytest.raises(RedfishError, match="has no MultipartHttpPushUri field"):
        supermicro(redfish_emulator).multipushuri  # noqa: B018 - the property's read is what is tested


def test_supermicro_power_state_is_the_systems(redfish_emulator):
    assert supermicro(redfish_emulator).get_power_state() == redfish_emulator.power_state(SUPERMICRO_SYSTEM)


def test_dell_power_state_is_the_chassis(redfish_emulator):
    # The emulator redirects the chassis name to its UUID and always reports the chassis On.
    assert dell(redfish_emulator).get_power_state() == "On"
    assert dell(redfish_emulator).system_info["Id"] == DELL_SYSTEM


def test_chassis_reset_changes_the_power_state(redfish_emulator):
    client = supermicro(redfish_emulator)
    before = client.get_power_state()
    action, expected = (ChassisResetPolicy.FORCE_OFF, "Off") if before == "On" else (ChassisResetPolicy.ON, "On")
    sent = redfish_emulator.requests("POST", RESET_PATH)

    client.chassis_reset(action)

    assert redfish_emulator.requests("POST", RESET_PATH) == sent + 1
    # The emulator applies power changes after a random delay of up to 11 seconds.
    wait_until(lambda: client.get_power_state() == expected, timeout=20, what=f"power state {expected}")
    assert redfish_emulator.power_state(SUPERMICRO_SYSTEM) == expected


def test_dry_run_reads_but_does_not_reset(redfish_emulator, caplog):
    caplog.set_level(logging.INFO)
    client = supermicro(redfish_emulator, dry_run=True)
    gets, posts = redfish_emulator.requests("GET", client.system_manager), redfish_emulator.requests("POST", RESET_PATH)

    state = client.get_power_state()
    client.chassis_reset(ChassisResetPolicy.FORCE_RESTART)

    assert state in ("On", "Off")
    assert redfish_emulator.requests("GET", client.system_manager) == gets + 1
    assert redfish_emulator.requests("POST", RESET_PATH) == posts
    assert f"Would have called post on {redfish_emulator.url}{RESET_PATH}" in caplog.text


def test_dry_run_submits_no_task(redfish_emulator):
    client = supermicro(redfish_emulator, dry_run=True)
    path = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"
    posts = redfish_emulator.requests("POST", path)
    assert client.submit_task(path, {"ImageURI": "http://example.org/fw.bin"}) == "/"
    assert client.poll_task(TASK_PATH) == {}
    assert redfish_emulator.requests("POST", path) == posts


def test_poll_task_returns_a_completed_task(redfish_emulator):
    polls = redfish_emulator.requests("GET", TASK_PATH)
    results = supermicro(redfish_emulator).poll_task(TASK_PATH)
    assert results["TaskState"] == "Completed"
    assert results["Id"] == "42"
    assert redfish_emulator.requests("GET", TASK_PATH) == polls + 1  # Completed at the first poll: no retry


def test_poll_task_of_a_missing_task_fails_at_once(redfish_emulator):
    with pytest.raises(RedfishError, match="returned HTTP 404") as error:
        supermicro(redfish_emulator).poll_task("/redfish/v1/TaskService/Tasks/404")
    assert not isinstance(error.value, RedfishTaskNotCompletedError)


def test_submit_task_refused_is_an_error(redfish_emulator):
    client = supermicro(redfish_emulator)  # SimpleUpdate without an ImageURI is a bad request
    with pytest.raises(RedfishError, match="returned HTTP 400"):
        client.submit_task("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate", {})


def test_find_account_fails_without_an_account_service(redfish_emulator):
    with pytest.raises(RedfishError, match="AccountService/Accounts returned HTTP 404"):
        supermicro(redfish_emulator).find_account("root")


def test_accessor_builds_the_vendor_client(redfish_emulator):
    spicerack = Spicerack(dry_run=False)
    client = spicerack.redfish(
        "sm-host",
        redfish_emulator.username,
        redfish_emulator.password,
        mgmt_address="localhost",
        manufacturer="Supermicro",
        port=redfish_emulator.port,
    )
    assert isinstance(client, RedfishSupermicro)
    assert client.interface.ip.is_loopback
    assert client.get_power_state() == redfish_emulator.power_state(SUPERMICRO_SYSTEM)


def test_accessor_dry_run_is_passed_on(redfish_emulator):
    client = Spicerack(dry_run=True).redfish(
        "127.0.0.1", redfish_emulator.username, redfish_emulator.password, port=redfish_emulator.port
    )
    assert isinstance(client, RedfishDell)
    posts = redfish_emulator.requests("POST", f"/redfish/v1/Systems/{DELL_SYSTEM}/Actions/ComputerSystem.Reset")
    client.chassis_reset(ChassisResetPolicy.FORCE_OFF)
    assert redfish_emulator.requests("POST", f"/redfish/v1/Systems/{DELL_SYSTEM}/Actions/ComputerSystem.Reset") == posts
    assert redfish_emulator.power_state(DELL_SYSTEM) == "On"
