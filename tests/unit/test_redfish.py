"""spicerack.redfish logic that needs no Redfish service: request building, response parsing, DRY-RUN, Dell SCP.

Requests go through the real requests sessions of the clients, answered in-process by a transport adapter that
plays a scripted management console (no network). The vendor OEM endpoints (Dell SCP, iDRAC logs, Supermicro
network adapters) exist on no emulator, so these tests are where they are covered.
"""

import ipaddress
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from packaging import version
from requests.adapters import BaseAdapter

from spicerack import Spicerack
from spicerack.exceptions import SpicerackError
from spicerack.redfish import (
    ChassisResetPolicy,
    DellSCP,
    DellSCPPowerStatePolicy,
    DellSCPRebootPolicy,
    DellSCPTargetPolicy,
    Redfish,
    RedfishDell,
    RedfishError,
    RedfishSupermicro,
    RedfishTaskNotCompletedError,
    RedfishUserRoles,
    create_redfish,
    resolve_management_interface,
)

ADDRESS = ipaddress.ip_interface("10.0.0.1/16")
BASE = "https://10.0.0.1"
DELL_SYSTEM = "/redfish/v1/Systems/System.Embedded.1"
DELL_MANAGER = "/redfish/v1/Managers/iDRAC.Embedded.1"
SCP_ACTIONS = "/redfish/v1/Managers/iDRAC.Embedded.1/Actions/Oem/EID_674_Manager"
SCP_ACTIONS_IDRAC10 = "/redfish/v1/Managers/iDRAC.Embedded.1/Actions/Oem/OemManager"
DELL_ATTRIBUTES = "/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/DellAttributes/iDRAC.Embedded.1"
TASK = "/redfish/v1/TaskService/Tasks/JID_1"


class FakeConsole(BaseAdapter):
    """A scripted management console: answers (method, path) from its routes, records every request it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: dict[tuple[str, str], list[tuple[int, Any, dict[str, str]]]] = {}
        self.sent: list[requests.PreparedRequest] = []
        self.send_kwargs: list[dict[str, Any]] = []

    def add(self, method: str, path: str, body: Any = None, status: int = 200, headers: dict[str, str] | None = None):
        """Queue an answer; the last one queued for a route repeats."""
        self.routes.setdefault((method.upper(), path), []).append((status, body, headers or {}))

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        kwargs = {"stream": stream, "timeout": timeout, "verify": verify, "cert": cert, "proxies": proxies}
        self.sent.append(request)
        self.send_kwargs.append(kwargs)
        path = request.path_url
        answers = self.routes.get((str(request.method), path))
        headers: dict[str, str]
        if not answers:
            status, body, headers = 404, {"error": {"message": f"no route {request.method} {path}"}}, {}
        else:
            status, body, headers = answers.pop(0) if len(answers) > 1 else answers[0]
        response = requests.Response()
        response.status_code = status
        response.request = request
        response.url = str(request.url)
        response.headers.update(headers)
        if isinstance(body, bytes):
            response._content = body
        elif body is not None:
            response._content = json.dumps(body).encode()
            response.headers.setdefault("Content-Type", "application/json")
        else:
            response._content = b""
        return response

    def close(self) -> None:
        pass

    def requests_to(self, method: str, path: str) -> list[requests.PreparedRequest]:
        return [r for r in self.sent if r.method == method.upper() and r.path_url == path]


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    """Record the sleeps of retries and of the module instead of sleeping."""
    slept: list[float] = []
    monkeypatch.setattr("wmflib.decorators.time.sleep", slept.append)
    monkeypatch.setattr("spicerack.redfish.time.sleep", slept.append)
    return slept


@pytest.fixture
def console() -> FakeConsole:
    return FakeConsole()


def attach(client: Redfish, console: FakeConsole) -> Redfish:
    client._api_client.http_session.mount("https://", console)
    client._upload_session.mount("https://", console)
    return client


def make_dell(console: FakeConsole, *, dry_run: bool = False, model: str | None = "14G Monolithic") -> RedfishDell:
    client = RedfishDell("db1001", ADDRESS, "root", "secret", dry_run=dry_run)
    attach(client, console)
    if model is not None:
        console.add("GET", DELL_MANAGER, {"Model": model, "FirmwareVersion": "6.10.30.00"})
    console.add("GET", DELL_ATTRIBUTES, {"Attributes": {"Info.1.HWModel": "iDRAC 10"}})  # Read from generation 17
    return client


def make_supermicro(console: FakeConsole, *, dry_run: bool = False) -> RedfishSupermicro:
    client = RedfishSupermicro("ms1001", ADDRESS, "root", "secret", dry_run=dry_run)
    attach(client, console)
    return client


# Enums and construction


def test_enum_values():
    assert [p.value for p in ChassisResetPolicy] == [
        "ForceOff",
        "ForceRestart",
        "GracefulRestart",
        "GracefulShutdown",
        "On",
    ]
    assert [p.value for p in DellSCPRebootPolicy] == ["Forced", "Graceful", "NoReboot"]
    assert [p.value for p in DellSCPPowerStatePolicy] == ["Off", "On"]
    assert [p.value for p in DellSCPTargetPolicy] == ["ALL", "BIOS", "IDRAC", "NIC", "RAID"]
    assert [p.value for p in RedfishUserRoles] == ["Administrator", "Operator", "ReadOnly"]
    assert issubclass(RedfishTaskNotCompletedError, RedfishError)
    assert issubclass(RedfishError, SpicerackError)


def test_vendor_uris():
    dell = RedfishDell("db1001", ADDRESS, "root", "secret")
    supermicro = RedfishSupermicro("ms1001", ADDRESS, "root", "secret")
    assert str(dell) == "root@db1001 (10.0.0.1)"
    assert dell.hostname == "db1001"
    assert dell.interface == ADDRESS
    assert dell.system_manager == DELL_SYSTEM
    assert dell.oob_manager == DELL_MANAGER
    assert dell.storage_manager == f"{DELL_SYSTEM}/Storage"
    assert dell.account_manager == "/redfish/v1/AccountService"
    assert dell.update_service == "/redfish/v1/UpdateService"
    assert supermicro.system_manager == "/redfish/v1/Systems/1"
    assert supermicro.log_entries == "/redfish/v1/Managers/1/LogServices/Log1/Entries"


@pytest.mark.parametrize(
    ("interface", "kwargs", "url"),
    [
        ("10.0.0.1/16", {}, "https://10.0.0.1/redfish/v1/Systems/1"),
        ("10.0.0.1", {"scheme": "http", "port": 8000}, "http://10.0.0.1:8000/redfish/v1/Systems/1"),
        ("2001:db8::1/64", {"port": 8443}, "https://[2001:db8::1]:8443/redfish/v1/Systems/1"),
    ],
)
def test_base_url(console, interface, kwargs, url):
    client = attach(RedfishSupermicro("ms1001", ipaddress.ip_interface(interface), "root", "pw", **kwargs), console)
    console.routes[("GET", "/redfish/v1/Systems/1")] = [(200, {"PowerState": "On"}, {})]
    client._api_client.http_session.mount("http://", console)
    assert client.get_power_state() == "On"
    assert console.sent[0].url == url


def test_unsupported_scheme():
    with pytest.raises(RedfishError, match="Unsupported scheme 'ftp'"):
        RedfishDell("db1001", ADDRESS, "root", "secret", scheme="ftp")


# request()


def test_request_sends_basic_auth_json_accept_and_never_verifies(console, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")
    client = make_dell(console)
    console.add("GET", "/redfish", {"v1": "/redfish/v1/"})
    client.check_connection()
    assert console.sent[-1].path_url == "/redfish"
    sent = console.sent[-1]
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["Authorization"].startswith("Basic ")
    assert console.send_kwargs[-1]["verify"] is False


def test_request_error_logs_the_payload(console, caplog):
    client = make_dell(console)
    console.add("GET", "/redfish", {"error": {"code": "Base.1.0.AccessDenied"}}, status=401)
    with pytest.raises(RedfishError, match=f"GET {BASE}/redfish returned HTTP 401"):
        client.check_connection()
    assert "Response payload: {'error': {'code': 'Base.1.0.AccessDenied'}}" in caplog.text


def test_request_error_without_json(console, caplog):
    client = make_dell(console)
    console.add("GET", DELL_SYSTEM, b"<html>oops</html>", status=500)
    with pytest.raises(RedfishError, match="returned HTTP 500"):
        client.request("get", DELL_SYSTEM)
    assert "not valid JSON" in caplog.text


def test_request_connection_error():
    class Refusing(BaseAdapter):
        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
            raise requests.exceptions.ConnectionError("connection refused")

        def close(self) -> None:
            pass

    client = RedfishDell("db1001", ADDRESS, "root", "secret", dry_run=False)
    client._api_client.http_session.mount("https://", Refusing())
    with pytest.raises(RedfishError, match=f"Failed to perform GET request to {BASE}/redfish: connection refused"):
        client.request("get", "/redfish")


def test_request_uri_must_start_with_slash(console):
    with pytest.raises(RedfishError, match="must start with a /"):
        make_dell(console).request("get", "redfish/v1")


def test_dry_run_sends_reads_only(console, caplog):
    caplog.set_level(logging.INFO)
    client = make_supermicro(console, dry_run=True)
    console.add("GET", "/redfish/v1/Systems/1", {"PowerState": "Off"})
    assert client.get_power_state() == "Off"
    client.chassis_reset(ChassisResetPolicy.ON)
    client.request("patch", "/redfish/v1/Systems/1", json={"Boot": {}})
    assert [r.method for r in console.sent] == ["GET"]
    assert f"Would have called post on {BASE}/redfish/v1/Systems/1/Actions/ComputerSystem.Reset" in caplog.text


# Power


def test_chassis_reset_payload(console, caplog):
    caplog.set_level(logging.INFO)
    client = make_dell(console)
    uri = f"{DELL_SYSTEM}/Actions/ComputerSystem.Reset"
    console.add("POST", uri, status=204)
    client.chassis_reset(ChassisResetPolicy.GRACEFUL_RESTART)
    assert json.loads(console.requests_to("POST", uri)[0].body) == {"ResetType": "GracefulRestart"}
    assert "Resetting chassis power status for db1001 to GracefulRestart" in caplog.text


def test_chassis_reset_unexpected_status(console):
    client = make_dell(console)
    console.add("POST", f"{DELL_SYSTEM}/Actions/ComputerSystem.Reset", {"accepted": True}, status=202)
    with pytest.raises(RedfishError, match="Got unexpected response HTTP 202, expected HTTP 200/204"):
        client.chassis_reset(ChassisResetPolicy.FORCE_OFF)


def test_power_state_sources(console):
    console.add("GET", "/redfish/v1/Chassis/System.Embedded.1", {"PowerState": "On"})
    console.add("GET", "/redfish/v1/Systems/1", {"PowerState": "Off"})
    assert make_dell(console).get_power_state() == "On"
    assert make_supermicro(console).get_power_state() == "Off"


def test_power_state_missing_field(console):
    console.add("GET", "/redfish/v1/Systems/1", {"Id": "1"})
    with pytest.raises(RedfishError, match="/redfish/v1/Systems/1 of ms1001 has no PowerState field"):
        make_supermicro(console).get_power_state()


def test_generic_class_has_no_power_state():
    with pytest.raises(NotImplementedError):
        Redfish("host", ADDRESS, "root", "pw").get_power_state()


# Tasks


def test_submit_task(console):
    client = make_dell(console)
    console.add("POST", "/redfish/v1/SomeAction", status=202, headers={"Location": TASK})
    assert client.submit_task("/redfish/v1/SomeAction", {"a": 1}) == TASK
    assert json.loads(console.requests_to("POST", "/redfish/v1/SomeAction")[0].body) == {"a": 1}


def test_submit_task_wrong_status(console):
    client = make_dell(console)
    console.add("POST", "/redfish/v1/SomeAction", {"done": True}, status=200)
    with pytest.raises(
        RedfishError, match="Unable to start task for /redfish/v1/SomeAction, expected HTTP 202, got HTTP 200"
    ):
        client.submit_task("/redfish/v1/SomeAction")


def test_submit_task_without_location(console):
    client = make_dell(console)
    console.add("POST", "/redfish/v1/SomeAction", status=202)
    with pytest.raises(RedfishError, match="Unable to get the task URI to poll results"):
        client.submit_task("/redfish/v1/SomeAction")


def test_submit_task_dry_run(console):
    assert make_dell(console, dry_run=True).submit_task("/redfish/v1/SomeAction") == "/"
    assert console.sent == []


def test_poll_task_returns_task_output(console, no_sleep):
    client = make_dell(console)
    console.add("GET", TASK, {"SystemConfiguration": {"Model": "R440"}})
    assert client.poll_task(TASK) == {"SystemConfiguration": {"Model": "R440"}}
    assert no_sleep == []


def test_poll_task_waits_for_completion(console, no_sleep, caplog):
    caplog.set_level(logging.INFO)
    client = make_dell(console)
    running = {
        "@odata.id": TASK,
        "Id": "JID_1",
        "TaskState": "Running",
        "TaskStatus": "OK",
        "PercentComplete": 20,
        "EndTime": "TIME_NA",
        "Messages": [{"MessageId": "SYS057", "Message": "Importing"}, {"Oem": {"Dell": {}}, "Message": "skipped"}],
    }
    done = {
        **running,
        "TaskState": "Completed",
        "PercentComplete": 100,
        "EndTime": "2024-01-02T03:04:05-06:00",
        "Messages": [{"MessageID": "SYS054", "Message": "No changes"}],
    }
    console.add("GET", TASK, running, status=202)
    console.add("GET", TASK, done)
    assert client.poll_task(TASK) == done
    assert no_sleep == [30.0]
    assert "[SYS057] Importing" in caplog.text
    assert "[SYS054] No changes" in caplog.text
    assert "skipped" not in caplog.text


def test_poll_task_never_completes(console, no_sleep):
    client = make_dell(console)
    console.add("GET", TASK, {"@odata.id": TASK, "Id": "JID_1", "TaskState": "Running", "TaskStatus": "OK"}, status=202)
    with pytest.raises(RedfishTaskNotCompletedError, match="JID_1 not completed yet: status=OK, state=Running"):
        client.poll_task(TASK)
    assert len(console.requests_to("GET", TASK)) == 60
    assert len(no_sleep) == 59


@pytest.mark.parametrize(
    ("task", "completed"),
    [
        ({"TaskState": "Completed"}, True),  # No EndTime at all (e.g. sushy-emulator)
        ({"TaskState": "Exception", "EndTime": "TIME_NA"}, True),
        ({"TaskState": "Running", "EndTime": "2024-01-02T03:04:05"}, True),
        ({"TaskState": "Running", "EndTime": "1970-01-01T00:00:00"}, False),
        ({"TaskState": "New"}, False),
    ],
)
def test_poll_task_completion_rules(console, task, completed):
    client = make_dell(console)
    console.add("GET", TASK, {"@odata.id": TASK, "Id": "JID_1", **task}, status=202)
    if completed:
        assert client.poll_task(TASK)["Id"] == "JID_1"
    else:
        with pytest.raises(RedfishTaskNotCompletedError):
            client.poll_task(TASK)


def test_poll_task_dry_run(console):
    assert make_dell(console, dry_run=True).poll_task(TASK) == {}
    assert console.sent == []


# Accounts


def add_accounts(console: FakeConsole) -> None:
    accounts = "/redfish/v1/AccountService/Accounts"
    console.add("GET", accounts, {"Members": [{"@odata.id": f"{accounts}/1"}, {"@odata.id": f"{accounts}/2"}]})
    console.add("GET", f"{accounts}/1", {"UserName": "operator"}, headers={"ETag": '"etag1"'})
    console.add("GET", f"{accounts}/2", {"UserName": "root"}, headers={"ETag": '"etag2"'})


def test_find_account(console):
    client = make_dell(console)
    add_accounts(console)
    assert client.find_account("root") == ("/redfish/v1/AccountService/Accounts/2", '"etag2"')
    with pytest.raises(RedfishError, match="Unable to find account for username nobody"):
        client.find_account("nobody")


def test_change_own_password(console, caplog):
    caplog.set_level(logging.INFO)
    client = make_dell(console)
    add_accounts(console)
    info = {"@Message.ExtendedInfo": [{"MessageId": "Base.1.8.Success", "Severity": "OK", "Message": "Done"}]}
    console.add("PATCH", "/redfish/v1/AccountService/Accounts/2", info)
    client.change_user_password("root", "new-secret")

    patch = console.requests_to("PATCH", "/redfish/v1/AccountService/Accounts/2")[0]
    assert json.loads(patch.body) == {"Password": "new-secret"}
    assert patch.headers["If-Match"] == '"etag2"'
    assert console.send_kwargs[-1]["timeout"] == 30
    assert client._api_client.http_session.auth == ("root", "new-secret")
    assert client._upload_session.auth == ("root", "new-secret")
    assert "[Base.1.8.Success OK] Done | Resolution: " in caplog.text


def test_change_other_password_keeps_ours(console):
    client = make_dell(console)
    add_accounts(console)
    console.add("PATCH", "/redfish/v1/AccountService/Accounts/1", b"")
    client.change_user_password("operator", "new-secret")
    assert client._api_client.http_session.auth == ("root", "secret")


def test_change_password_unexpected_status(console):
    client = make_dell(console)
    add_accounts(console)
    console.add("PATCH", "/redfish/v1/AccountService/Accounts/2", status=204)
    with pytest.raises(RedfishError, match="Got unexpected HTTP 204, expected 200"):
        client.change_user_password("root", "new-secret")
    assert client._api_client.http_session.auth == ("root", "secret")


def test_change_password_dry_run(console):
    client = make_dell(console, dry_run=True)
    add_accounts(console)
    client.change_user_password("root", "new-secret")
    assert [r.method for r in console.sent] == ["GET", "GET", "GET"]
    assert client._api_client.http_session.auth == ("root", "secret")


ACCOUNTS = "/redfish/v1/AccountService/Accounts"


def account_slots(console: FakeConsole, slots: list[dict[str, Any]], *, allow: str = "GET, PATCH") -> None:
    """Script the accounts collection and one resource per slot (numbered from 1), each with a strong ETag."""
    console.add(
        "GET",
        ACCOUNTS,
        {"Members": [{"@odata.id": f"{ACCOUNTS}/{i}"} for i in range(1, len(slots) + 1)]},
        headers={"Allow": allow},
    )
    for number, slot in enumerate(slots, start=1):
        resource = {"@odata.id": f"{ACCOUNTS}/{number}", "UserName": "", "Enabled": False, **slot}
        console.add("GET", f"{ACCOUNTS}/{number}", resource, headers={"ETag": f'"etag-{number}"'})


def bodies(console: FakeConsole, method: str, path: str) -> list[Any]:
    return [json.loads(r.body) for r in console.requests_to(method, path)]


def test_factory_admin_names():
    assert (Redfish.admin, RedfishDell.admin, RedfishSupermicro.admin) == ("NAMAZU", "root", "ADMIN")


def test_find_accounts_leaves_free_slots_out(console):
    client = make_dell(console)
    account_slots(console, [{}, {"UserName": "root", "Enabled": True}, {}, {"UserName": "ops", "Enabled": True}])
    accounts = client.find_accounts()
    assert list(accounts) == ["root", "ops"]
    assert accounts["ops"]["@odata.id"] == f"{ACCOUNTS}/4"
    assert accounts["ops"]["ETag"] == '"etag-4"'


def test_delete_account(console):
    client = make_dell(console)
    account_slots(console, [{}, {"UserName": "root"}, {"UserName": "ops"}])
    console.add("DELETE", f"{ACCOUNTS}/3", status=204)
    client.delete_account("ops")
    assert len(console.requests_to("DELETE", f"{ACCOUNTS}/3")) == 1
    with pytest.raises(RedfishError, match=r"^The account nobody is not configured in the BMC\.$"):
        client.delete_account("nobody")


def test_delete_account_dry_run_sends_nothing(console):
    client = make_dell(console, dry_run=True)
    account_slots(console, [{}, {"UserName": "ops"}])
    client.delete_account("ops")
    assert {r.method for r in console.sent} == {"GET"}


@pytest.mark.parametrize("role", list(RedfishUserRoles))
def test_add_account_fills_the_first_free_slot_after_slot_1(console, role):
    client = make_dell(console)
    account_slots(console, [{}, {"UserName": "root", "Enabled": True}, {}, {}])
    console.add("PATCH", f"{ACCOUNTS}/3", {})
    client.add_account("batman", "secret-1", role)
    patches = console.requests_to("PATCH", f"{ACCOUNTS}/3")
    assert bodies(console, "PATCH", f"{ACCOUNTS}/3") == [
        {"UserName": "batman", "Password": "secret-1", "RoleId": role.value, "Enabled": True}
    ]
    assert patches[0].headers["If-Match"] == '"etag-3"'
    assert console.requests_to("POST", ACCOUNTS) == []


def test_add_account_weak_etag_sends_no_if_match(console):
    client = make_dell(console)
    console.add("GET", ACCOUNTS, {"Members": [{"@odata.id": f"{ACCOUNTS}/1"}, {"@odata.id": f"{ACCOUNTS}/2"}]})
    console.add("GET", f"{ACCOUNTS}/2", {"UserName": "", "Enabled": False}, headers={"ETag": 'W/"etag-2"'})
    console.add("PATCH", f"{ACCOUNTS}/2", {})
    client.add_account("batman", "secret-1", RedfishUserRoles.OPERATOR)
    assert "If-Match" not in console.requests_to("PATCH", f"{ACCOUNTS}/2")[0].headers
    assert console.requests_to("GET", f"{ACCOUNTS}/1") == []  # Slot 1 is reserved, never read


def test_add_account_without_a_free_slot(console):
    client = make_dell(console)
    account_slots(console, [{}, {"UserName": "root", "Enabled": True}, {"UserName": "ops", "Enabled": True}])
    with pytest.raises(RedfishError, match="No free account slot available to create user batman"):
        client.add_account("batman", "secret-1")


def test_add_account_posts_when_the_collection_allows_it(console):
    client = make_supermicro(console)
    account_slots(console, [{"UserName": "ADMIN", "AccountTypes": ["Redfish"]}], allow="GET,POST")
    console.add("POST", ACCOUNTS, {"@odata.id": f"{ACCOUNTS}/5"}, status=201)
    console.add("GET", f"{ACCOUNTS}/5", {"UserName": "ops", "AccountTypes": ["Redfish"]})
    client.add_account("ops", "pw", RedfishUserRoles.OPERATOR)
    assert bodies(console, "POST", ACCOUNTS) == [
        {"UserName": "ops", "Password": "pw", "RoleId": "Operator", "Enabled": True}
    ]
    assert console.send_kwargs[-1]["timeout"] == 30
    assert not any(r.method == "PATCH" for r in console.sent)


def test_add_account_dry_run_with_post_sends_nothing(console, caplog):
    caplog.set_level(logging.INFO, logger="spicerack.redfish")
    client = make_supermicro(console, dry_run=True)
    account_slots(console, [{"UserName": "ADMIN", "AccountTypes": ["Redfish", "IPMI"]}], allow="GET, POST")
    client.add_account("batman", "secret-1")
    assert {r.method for r in console.sent} == {"GET"}
    assert "Creating account batman" in caplog.text
    assert "secret-1" not in caplog.text


def test_add_account_post_answer_without_uri(console):
    client = make_supermicro(console)
    account_slots(console, [{"UserName": "ADMIN"}], allow="GET, POST")
    console.add("POST", ACCOUNTS, status=201)  # No body
    with pytest.raises(RedfishError, match=r"^Account batman created, but its URI is not in the answer"):
        client.add_account("batman", "secret-1")


def test_new_admin_gets_the_factory_admin_account_types(console, caplog):
    caplog.set_level(logging.INFO, logger="spicerack.redfish")
    client = make_supermicro(console)
    admin_types = ["Redfish", "IPMI", "ManagerConsole"]
    account_slots(console, [{}, {"UserName": "ADMIN", "AccountTypes": admin_types}], allow="GET, POST")
    console.add("POST", ACCOUNTS, {"@odata.id": f"{ACCOUNTS}/3"}, status=201)
    console.add("GET", f"{ACCOUNTS}/3", {"UserName": "batman", "AccountTypes": ["Redfish"]}, headers={"ETag": '"e3"'})
    console.add("PATCH", f"{ACCOUNTS}/3", {})
    client.add_account("batman", "secret-1")
    assert bodies(console, "PATCH", f"{ACCOUNTS}/3") == [{"AccountTypes": admin_types}]
    assert console.requests_to("PATCH", f"{ACCOUNTS}/3")[0].headers["If-Match"] == '"e3"'
    assert "Setting AccountTypes equal to the admin user" in caplog.text


def test_new_admin_copies_oem_account_types_only_when_they_differ(console):
    client = make_dell(console)
    types = {"AccountTypes": ["Redfish", "OEM"], "OEMAccountTypes": ["IPMI", "SOL"]}
    account_slots(console, [{}, {"UserName": "root", **types}, {**types}])
    console.add("PATCH", f"{ACCOUNTS}/3", {})
    client.add_account("batman", "secret-1")
    assert len(console.requests_to("PATCH", f"{ACCOUNTS}/3")) == 1  # The account only: its types already match


def test_new_admin_without_admin_account_types(console, caplog):
    caplog.set_level(logging.INFO, logger="spicerack.redfish")
    client = make_dell(console)
    account_slots(console, [{}, {"UserName": "root"}, {}])
    console.add("PATCH", f"{ACCOUNTS}/3", {})
    client.add_account("batman", "secret-1")
    assert len(console.requests_to("PATCH", f"{ACCOUNTS}/3")) == 1
    assert "No AccountTypes found for the admin user." in caplog.text


# Information and versions


def test_information_is_cached_versions_are_fresh(console):
    client = make_dell(console)
    console.add(
        "GET", DELL_SYSTEM, {"Model": "R440", "Manufacturer": "Dell Inc.", "UUID": "u-1", "BiosVersion": "2.1.8"}
    )
    assert (client.model, client.manufacturer, client.uuid) == ("R440", "Dell Inc.", "u-1")
    assert len(console.requests_to("GET", DELL_SYSTEM)) == 1
    assert client.bios_version == version.Version("2.1.8")
    assert client.firmware_version == version.Version("6.10.30.00")
    assert client.firmware_version > version.Version("4.10")
    assert len(console.requests_to("GET", DELL_SYSTEM)) == 2
    assert len(console.requests_to("GET", DELL_MANAGER)) == 2
    assert client.oob_model == "14G Monolithic"


def test_unparsable_version(console):
    client = make_dell(console, model=None)
    console.add("GET", DELL_MANAGER, {"FirmwareVersion": "not a version"})
    with pytest.raises(RedfishError, match="Unable to parse the firmware version 'not a version'"):
        client.firmware_version  # noqa: B018


@pytest.mark.parametrize(("model", "generation"), [("14G Monolithic", 14), ("17G Monolithic", 17), ("iDRAC", 1)])
def test_dell_generation(console, model, generation):
    client = make_dell(console, model=model)
    assert client.generation == generation
    assert client.generation == generation
    assert len(console.requests_to("GET", DELL_MANAGER)) == 1


def test_update_service_uris(console):
    client = make_dell(console)
    console.add(
        "GET", "/redfish/v1/UpdateService", {"MultipartHttpPushUri": "/redfish/v1/UpdateService/MultipartUpload"}
    )
    assert client.multipushuri == "/redfish/v1/UpdateService/MultipartUpload"
    with pytest.raises(NotImplementedError):
        client.pushuri  # noqa: B018


# Reboots


def test_last_reboot(console):
    client = make_supermicro(console)
    entries = "/redfish/v1/Managers/1/LogServices/Log1/Entries"
    members = [
        {"MessageId": "Event.1.0.SystemPowerAction", "Created": "2024-01-01T10:00:00+00:00"},
        {"MessageId": "Other", "Created": "2024-06-01T10:00:00+00:00"},
        {"MessageId": "Event.1.0.SystemPowerAction", "Created": "2024-03-01T10:00:00+00:00"},
    ]
    console.add("GET", entries, {"Members": members})
    assert client.last_reboot() == datetime(2024, 3, 1, 10, tzinfo=UTC)


def test_last_reboot_none_is_the_epoch(console):
    client = make_supermicro(console)
    console.add("GET", "/redfish/v1/Managers/1/LogServices/Log1/Entries", {"Members": []})
    assert client.last_reboot() == datetime(1970, 1, 1, tzinfo=UTC)


def test_dell_log_entries_by_firmware(console):
    client = make_dell(console, model=None)
    console.add("GET", DELL_MANAGER, {"Model": "14G Monolithic", "FirmwareVersion": "2.70"})  # The model, once
    console.add("GET", DELL_MANAGER, {"Model": "14G Monolithic", "FirmwareVersion": "2.70"})
    console.add("GET", DELL_MANAGER, {"Model": "14G Monolithic", "FirmwareVersion": "4.40"})
    assert client.log_entries == "/redfish/v1/Managers/Logs/Lclog"
    assert client.log_entries == f"{DELL_MANAGER}/LogServices/Lclog/Entries"


def test_dell_log_entries_of_idrac_10_ignore_the_firmware(console):
    client = make_dell(console, model=None)
    console.add("GET", DELL_MANAGER, {"Model": "17G Monolithic", "FirmwareVersion": "1.20.25.00"})
    assert client.log_entries == f"{DELL_MANAGER}/LogServices/Lclog/Entries"


def test_wait_reboot_since(console, no_sleep):
    client = make_supermicro(console)
    entries = "/redfish/v1/Managers/1/LogServices/Log1/Entries"
    console.add("GET", "/redfish", {})
    old = {"MessageId": "Event.1.0.SystemPowerAction", "Created": "2024-01-01T10:00:00+00:00"}
    new = {"MessageId": "Event.1.0.SystemPowerAction", "Created": "2024-01-01T11:00:00+00:00"}
    console.add("GET", entries, {"Members": [old]})
    console.add("GET", entries, {"Members": [old, new]})
    client.wait_reboot_since(datetime.fromisoformat(old["Created"]))
    assert no_sleep == [10.0]


def test_wait_reboot_since_dell_waits_for_the_api(console, no_sleep):
    client = make_dell(console)  # Generation 14: no extra wait before reading the log
    console.add("GET", "/redfish", {})
    new = {"MessageId": "IDRAC.2.7.RAC0182", "Created": "2024-01-01T11:00:00+00:00"}
    console.add("GET", f"{DELL_MANAGER}/LogServices/Lclog/Entries", {"Members": [new]})
    client.wait_reboot_since(datetime(2024, 1, 1, 10, tzinfo=UTC))
    assert no_sleep == [30]


def test_wait_reboot_since_old_idrac_waits_first(console, no_sleep):
    client = make_dell(console, model=None)
    console.add("GET", DELL_MANAGER, {"Model": "13G Monolithic", "FirmwareVersion": "2.70"})
    console.add("GET", "/redfish", {})
    new = {"MessageId": "RAC0182", "Created": "2024-01-01T11:00:00+00:00"}
    console.add("GET", "/redfish/v1/Managers/Logs/Lclog", {"Members": [new]})
    client.wait_reboot_since(datetime(2024, 1, 1, 10, tzinfo=UTC))
    assert no_sleep == [120, 30]


def test_wait_reboot_since_dry_run_tries_once(console, no_sleep):
    client = make_supermicro(console, dry_run=True)
    console.add("GET", "/redfish", {})
    console.add("GET", "/redfish/v1/Managers/1/LogServices/Log1/Entries", {"Members": []})
    with pytest.raises(RedfishError, match="no new reboot detected on ms1001"):
        client.wait_reboot_since(datetime(2024, 1, 1, tzinfo=UTC))
    assert no_sleep == []


def test_most_recent_member():
    members = [{"Created": "2024-01-01T10:00:00+00:00", "n": 1}, {"Created": "2024-02-01T10:00:00+01:00", "n": 2}]
    assert Redfish.most_recent_member(members, "Created")["n"] == 2


# Firmware uploads


def test_upload_file(console, tmp_path):
    client = make_dell(console)
    upload_uri = "/redfish/v1/UpdateService/MultipartUpload"
    console.add("GET", "/redfish/v1/UpdateService", {"MultipartHttpPushUri": upload_uri})
    console.add("POST", upload_uri, status=202, headers={"Location": TASK})
    firmware = tmp_path / "BIOS_1.2.3.EXE"
    firmware.write_bytes(b"firmware-bytes")

    assert client.upload_file(firmware, reboot=True) == TASK
    body = console.requests_to("POST", upload_uri)[0].body
    assert b'filename="BIOS_1.2.3.EXE"' in body
    assert b"firmware-bytes" in body
    assert b'"@Redfish.OperationApplyTime": "Immediate"' in body


def test_upload_file_on_reset_by_default(console, tmp_path):
    client = make_dell(console)
    console.add("GET", "/redfish/v1/UpdateService", {"MultipartHttpPushUri": "/up"})
    console.add("POST", "/up", status=202, headers={"Location": TASK})
    firmware = tmp_path / "fw.bin"
    firmware.write_bytes(b"x")
    client.upload_file(firmware)
    assert b'"OnReset"' in console.requests_to("POST", "/up")[0].body


def test_upload_missing_file(console, tmp_path):
    with pytest.raises(RedfishError, match=r"Unable to open .*missing\.bin for upload"):
        make_dell(console).upload_file(tmp_path / "missing.bin")


def test_upload_dry_run(console, tmp_path):
    firmware = tmp_path / "fw.bin"
    firmware.write_bytes(b"x")
    assert make_dell(console, dry_run=True).upload_file(firmware) == "/"
    assert console.sent == []


# Dell SCP


SCP_CONFIG = {
    "SystemConfiguration": {
        "Model": "PowerEdge R440",
        "ServiceTag": "ABC1234",
        "TimeStamp": "Tue Mar  5 10:20:30 2024",
        "Comments": [{"Comment": "Export type is Normal"}, {"Other": "x"}],
        "Components": [
            {
                "FQDD": "NIC.Integrated.1-1-1",
                "Attributes": [
                    {"Name": "LegacyBootProto", "Value": "PXE", "Set On Import": "True", "Comment": "Read and Write"},
                ],
            },
            {
                "FQDD": "BIOS.Setup.1-1",
                "Attributes": [
                    {"Name": "SetBootOrderEn", "Value": "NIC.PxeDevice.1-1, Disk.Bay.0", "Set On Import": "False"},
                    {"Name": "BootMode", "Value": "Bios", "Set On Import": "True"},
                ],
            },
        ],
    }
}


def scp(**kwargs: Any) -> DellSCP:
    return DellSCP(json.loads(json.dumps(SCP_CONFIG)), DellSCPTargetPolicy.ALL, **kwargs)


def test_scp_properties():
    config = scp()
    assert config.service_tag == "ABC1234"
    assert config.model == "PowerEdge R440"
    assert config.timestamp == datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)
    assert config.comments == ["Export type is Normal"]
    assert config.target is DellSCPTargetPolicy.ALL
    assert config.components == {
        "BIOS.Setup.1-1": {"BootMode": "Bios", "SetBootOrderEn": "NIC.PxeDevice.1-1, Disk.Bay.0"},
        "NIC.Integrated.1-1-1": {"LegacyBootProto": "PXE"},
    }
    assert list(config.components) == ["BIOS.Setup.1-1", "NIC.Integrated.1-1-1"]


def test_scp_set_changes_and_marks_set_on_import(caplog):
    caplog.set_level(logging.INFO)
    config = scp()
    assert config.set("BIOS.Setup.1-1", "SetBootOrderEn", "Disk.Bay.0") is True
    attribute = config.config["SystemConfiguration"]["Components"][1]["Attributes"][0]
    assert attribute == {"Name": "SetBootOrderEn", "Value": "Disk.Bay.0", "Set On Import": "True"}
    assert "(marked Set On Import to True)" in caplog.text


def test_scp_set_same_value_ignoring_comma_spaces():
    config = scp()
    assert config.set("BIOS.Setup.1-1", "SetBootOrderEn", "NIC.PxeDevice.1-1,Disk.Bay.0") is False
    assert config.components["BIOS.Setup.1-1"]["SetBootOrderEn"] == "NIC.PxeDevice.1-1, Disk.Bay.0"


def test_scp_set_missing_attribute_or_component():
    config = scp()
    with pytest.raises(RedfishError, match=r"Unable to find attribute BIOS\.Setup\.1-1 -> Missing"):
        config.set("BIOS.Setup.1-1", "Missing", "x")
    with pytest.raises(RedfishError, match=r"Unable to find component RAID\.Integrated\.1-1"):
        config.set("RAID.Integrated.1-1", "RAIDmode", "None")


def test_scp_set_new_attribute_when_allowed():
    config = scp(allow_new_attributes=True)
    assert config.set("BIOS.Setup.1-1", "UefiBootSeq", "NIC.PxeDevice.1-1") is True
    new = config.config["SystemConfiguration"]["Components"][1]["Attributes"][-1]
    assert new == {
        "Name": "UefiBootSeq",
        "Value": "NIC.PxeDevice.1-1",
        "Set On Import": "True",
        "Comment": "Read and Write",
    }
    with pytest.raises(RedfishError, match="Unable to find component"):
        config.set("RAID.Integrated.1-1", "RAIDmode", "None")


def test_scp_empty_components_allows_anything():
    config = scp()
    config.empty_components()
    assert config.components == {}
    assert config.update({"RAID.Integrated.1-1": {"RAIDmode": "None"}, "BIOS.Setup.1-1": {"BootMode": "Uefi"}}) is True
    assert config.components == {"BIOS.Setup.1-1": {"BootMode": "Uefi"}, "RAID.Integrated.1-1": {"RAIDmode": "None"}}
    assert config.set("BIOS.Setup.1-1", "SysProfile", "PerfOptimized") is True
    assert config.components["BIOS.Setup.1-1"] == {"BootMode": "Uefi", "SysProfile": "PerfOptimized"}


def test_scp_update_reports_changes():
    config = scp()
    assert config.update({"BIOS.Setup.1-1": {"BootMode": "Bios"}}) is False
    assert config.update({"BIOS.Setup.1-1": {"BootMode": "Bios"}, "NIC.Integrated.1-1-1": {"LegacyBootProto": "NONE"}})
    assert config.components["NIC.Integrated.1-1-1"] == {"LegacyBootProto": "NONE"}


def test_scp_without_system_configuration():
    with pytest.raises(RedfishError, match="no SystemConfiguration section"):
        DellSCP({}, DellSCPTargetPolicy.ALL).service_tag  # noqa: B018


@pytest.mark.parametrize(
    ("model", "actions", "target"),
    [("14G Monolithic", SCP_ACTIONS, "BIOS"), ("17G Monolithic", SCP_ACTIONS_IDRAC10, ["BIOS"])],
)
def test_scp_dump(console, no_sleep, model, actions, target):
    client = make_dell(console, model=model)
    console.add("POST", f"{actions}.ExportSystemConfiguration", status=202, headers={"Location": TASK})
    console.add("GET", TASK, SCP_CONFIG)

    config = client.scp_dump(DellSCPTargetPolicy.BIOS, allow_new_attributes=True)

    body = json.loads(console.requests_to("POST", f"{actions}.ExportSystemConfiguration")[0].body)
    assert body == {"ExportFormat": "JSON", "ShareParameters": {"Target": target}}
    assert config.target is DellSCPTargetPolicy.BIOS
    assert config.service_tag == "ABC1234"
    assert config.set("BIOS.Setup.1-1", "New", "1") is True  # allow_new_attributes was passed on
    assert no_sleep == [5]


def test_scp_dump_dry_run(console, no_sleep):
    client = make_dell(console, dry_run=True)
    config = client.scp_dump()
    assert config.config == {}
    assert [r.method for r in console.sent] == ["GET"]  # The iDRAC model, for the target's format
    assert no_sleep == []


def test_scp_push_preview_never_reboots(console):
    client = make_dell(console)
    console.add("POST", f"{SCP_ACTIONS}.ImportSystemConfigurationPreview", status=202, headers={"Location": TASK})
    console.add("GET", TASK, {"@odata.id": TASK, "Id": "JID_1", "TaskState": "Completed"})
    config = scp()

    result = client.scp_push(config, reboot=DellSCPRebootPolicy.FORCED)

    body = json.loads(console.requests_to("POST", f"{SCP_ACTIONS}.ImportSystemConfigurationPreview")[0].body)
    assert body["ShutdownType"] == "NoReboot"
    assert body["HostPowerState"] == "On"
    assert body["ShareParameters"] == {"Target": "ALL"}
    assert json.loads(body["ImportBuffer"]) == config.config
    assert result["TaskState"] == "Completed"


def test_scp_push_apply(console):
    client = make_dell(console, model="17G Monolithic")
    console.add("POST", f"{SCP_ACTIONS_IDRAC10}.ImportSystemConfiguration", status=202, headers={"Location": TASK})
    console.add("GET", TASK, {"@odata.id": TASK, "Id": "JID_1", "EndTime": "2024-01-01T00:00:01"})

    client.scp_push(scp(), reboot=DellSCPRebootPolicy.GRACEFUL, power_state=DellSCPPowerStatePolicy.OFF, preview=False)

    body = json.loads(console.requests_to("POST", f"{SCP_ACTIONS_IDRAC10}.ImportSystemConfiguration")[0].body)
    assert (body["ShutdownType"], body["HostPowerState"], body["ShareParameters"]) == (
        "Graceful",
        "Off",
        {"Target": ["ALL"]},
    )


def test_scp_push_dry_run(console):
    client = make_dell(console, dry_run=True)
    assert client.scp_push(scp(), preview=False) == {}
    assert [r.method for r in console.sent] == ["GET"]


# Primary MAC, boot mode, HTTP boot


def test_dell_primary_mac(console, no_sleep):
    client = make_dell(console)
    console.add("POST", f"{SCP_ACTIONS}.ExportSystemConfiguration", status=202, headers={"Location": TASK})
    nics = {
        "SystemConfiguration": {
            "Components": [
                {"FQDD": "NIC.Integrated.1-1-1", "Attributes": [{"Name": "LegacyBootProto", "Value": "NONE"}]},
                {"FQDD": "NIC.Integrated.1-2-1", "Attributes": [{"Name": "LegacyBootProto", "Value": "PXE"}]},
            ]
        }
    }
    console.add("GET", TASK, nics)
    interfaces = f"{DELL_SYSTEM}/EthernetInterfaces"
    console.add("GET", DELL_SYSTEM, {"EthernetInterfaces": {"@odata.id": interfaces}})
    console.add(
        "GET",
        interfaces,
        {
            "Members": [
                {"@odata.id": f"{interfaces}/NIC.Integrated.1-1-1"},
                {"@odata.id": f"{interfaces}/NIC.Integrated.1-2-1"},
            ]
        },
    )
    console.add("GET", f"{interfaces}/NIC.Integrated.1-2-1", {"MACAddress": "AA:BB:CC:00:11:22"})
    assert client.get_primary_mac() == "aa:bb:cc:00:11:22"


def supermicro_bios(console: FakeConsole, attributes: dict[str, str]) -> None:
    console.add("GET", "/redfish/v1/Systems/1/Bios", {"Attributes": attributes})


def test_supermicro_primary_mac(console):
    client = make_supermicro(console)
    supermicro_bios(console, {"OnboardLAN1OptionROM": "Disabled", "OnboardLAN2OptionROM": "EFI", "Other": "x"})
    adapters = "/redfish/v1/Chassis/1/NetworkAdapters"
    console.add("GET", adapters, {"Members": [{"@odata.id": f"{adapters}/1"}]})
    ports = f"{adapters}/1/Ports"
    console.add(
        "GET",
        f"{adapters}/1",
        {
            "Model": "AOC-S25G-b2S",
            "Controllers": [{"Links": {"Ports": [{"@odata.id": f"{ports}/1"}, {"@odata.id": f"{ports}/2"}]}}],
        },
    )
    console.add("GET", f"{ports}/2", {"Ethernet": {"AssociatedMACAddresses": ["3C:EC:EF:00:00:02"]}})
    assert client.get_primary_mac() == "3c:ec:ef:00:00:02"


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"OnboardLAN1OptionROM": "Disabled"}, "No PXE enabled NIC found"),
        ({"OnboardLAN1OptionROM": "EFI", "OnboardLAN2OptionROM": "EFI"}, "Found more than 1 NIC with PXE enabled"),
    ],
)
def test_supermicro_primary_mac_needs_one_pxe_nic(console, attributes, message):
    client = make_supermicro(console)
    supermicro_bios(console, attributes)
    with pytest.raises(RedfishError, match=message):
        client.get_primary_mac()


@pytest.mark.parametrize(
    ("attributes", "uefi"), [({}, True), ({"BootModeSelect": "UEFI"}, True), ({"BootModeSelect": "Legacy"}, False)]
)
def test_supermicro_is_uefi(console, attributes, uefi):
    client = make_supermicro(console)
    supermicro_bios(console, attributes)
    assert client.is_uefi is uefi


def test_supermicro_force_http_boot_once(console):
    client = make_supermicro(console)
    supermicro_bios(console, {"BootModeSelect": "UEFI"})
    console.add("PATCH", "/redfish/v1/Systems/1", {})
    client.force_http_boot_once()
    body = json.loads(console.requests_to("PATCH", "/redfish/v1/Systems/1")[0].body)
    assert body == {
        "Boot": {
            "BootSourceOverrideEnabled": "Once",
            "BootSourceOverrideTarget": "Pxe",
            "BootSourceOverrideMode": "UEFI",
        }
    }


@pytest.mark.parametrize(
    ("model", "uri", "mode"),
    [
        ("14G Monolithic", DELL_SYSTEM, {"BootSourceOverrideMode": "UEFI"}),
        ("17G Monolithic", f"{DELL_SYSTEM}/Settings", {}),
    ],
)
def test_dell_force_http_boot_once(console, model, uri, mode):
    client = make_dell(console, model=model)
    console.add("GET", f"{DELL_SYSTEM}/Bios", {"Attributes": {"BootMode": "Uefi"}})
    console.add("PATCH", uri, {})
    client.force_http_boot_once()
    body = json.loads(console.requests_to("PATCH", uri)[0].body)
    assert body == {"Boot": {"BootSourceOverrideEnabled": "Once", "BootSourceOverrideTarget": "UefiHttp", **mode}}


def test_http_boot_needs_uefi(console):
    client = make_dell(console)
    console.add("GET", f"{DELL_SYSTEM}/Bios", {"Attributes": {"BootMode": "Bios"}})
    with pytest.raises(RedfishError, match="HTTP boot is only possible for UEFI hosts"):
        client.force_http_boot_once()
    assert not any(r.method == "PATCH" for r in console.sent)


# Factory and accessor


def test_create_redfish_by_manufacturer():
    assert type(create_redfish("db1001", "root", "pw", mgmt_address="10.0.0.1")) is RedfishDell
    client = create_redfish("ms1001", "root", "pw", mgmt_address="10.0.0.2", manufacturer="SuperMicro", dry_run=False)
    assert type(client) is RedfishSupermicro
    assert client.interface == ipaddress.ip_interface("10.0.0.2/32")
    assert client._dry_run is False


def test_create_redfish_unsupported_manufacturer():
    with pytest.raises(RedfishError, match="The manufacturer hpe of db1001 is not supported by Redfish"):
        create_redfish("db1001", "root", "pw", manufacturer="hpe")


def test_resolve_management_interface():
    assert resolve_management_interface("192.0.2.1") == ipaddress.ip_interface("192.0.2.1/32")
    assert resolve_management_interface("2001:db8::2") == ipaddress.ip_interface("2001:db8::2/128")
    assert resolve_management_interface("localhost").ip.is_loopback
    with pytest.raises(RedfishError, match=r"Unable to resolve the management address bad\.\.name"):
        resolve_management_interface("bad..name")


def test_accessor():
    client = Spicerack(dry_run=True).redfish("db1001", password="pw", mgmt_address="10.0.0.4", port=8443)
    assert type(client) is RedfishDell
    assert client.hostname == "db1001"
    assert client._dry_run is True
    assert client._api_client.http_session.auth == ("root", "pw")
    assert client._base_url == "https://10.0.0.4:8443"


def test_accessor_uses_the_hostname_as_address():
    client = Spicerack(dry_run=False).redfish("127.0.0.1", "admin", "pw", manufacturer="supermicro")
    assert type(client) is RedfishSupermicro
    assert str(client) == "admin@127.0.0.1 (127.0.0.1)"
    assert client._dry_run is False


@pytest.mark.parametrize(
    ("model", "hw_model"), [("iDRAC", 7), ("12G Monolithic", 7), ("13G Monolithic", 8), ("16G Monolithic", 9)]
)
def test_dell_hw_model_from_the_generation(console, model, hw_model):
    client = make_dell(console, model=model)
    assert client.hw_model == hw_model
    assert client.hw_model == hw_model
    assert console.requests_to("GET", DELL_ATTRIBUTES) == []
    assert client.scp_base_uri == SCP_ACTIONS


def test_dell_hw_model_of_generation_17_is_read_once(console):
    client = make_dell(console, model="17G Monolithic")
    assert client.hw_model == 10
    assert client.hw_model == 10
    assert len(console.requests_to("GET", DELL_ATTRIBUTES)) == 1
    assert client.scp_base_uri == SCP_ACTIONS_IDRAC10


def test_dell_unrecognized_hw_model(console):
    client = make_dell(console, model="18G Monolithic")
    console.routes[("GET", DELL_ATTRIBUTES)] = [(200, {"Attributes": {"Info.1.HWModel": "iDRAC Next"}}, {})]
    with pytest.raises(RedfishError, match="db1001: Unrecognized iDRAC hardware model 'iDRAC Next'"):
        client.hw_model  # noqa: B018


@pytest.mark.parametrize(
    ("attributes", "uefi"), [({}, True), ({"BootMode": "Uefi"}, True), ({"BootMode": "Bios"}, False)]
)
def test_dell_is_uefi(console, attributes, uefi):
    client = make_dell(console)
    console.add("GET", f"{DELL_SYSTEM}/Bios", {"Attributes": attributes})
    assert client.is_uefi is uefi


def test_poll_task_no_content_is_completed(console):
    client = make_dell(console)
    console.add("GET", TASK, status=204)
    assert client.poll_task(TASK) == {}
