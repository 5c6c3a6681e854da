"""Unit tests of spicerack.netbox: configuration, status transitions, DRY-RUN and error mapping, on stand-in objects.

The behaviour against real answers of the Netbox API is in tests/integration/test_netbox.py.
"""

import importlib
import logging
import subprocess
import sys
from types import SimpleNamespace
from unittest import mock

import pytest
import requests

from spicerack import Spicerack, netbox
from spicerack.exceptions import SpicerackError
from spicerack.netbox import (
    MANAGEMENT_IFACE_NAME,
    Netbox,
    NetboxAPIError,
    NetboxError,
    NetboxHostNotFoundError,
    NetboxScriptError,
    NetboxServer,
    load_netbox_config,
    redfish_target,
)

URL = "https://netbox.example.org"
pynetbox = importlib.import_module("pynetbox")  # Untyped: no stubs nor py.typed


class Saved(SimpleNamespace):
    """A stand-in pynetbox object: attributes, and a save() that records the calls."""

    def save(self):
        self.saves = getattr(self, "saves", 0) + 1
        return True


def stub_server(name="host1001", *, status="active", virtual=False, role="server"):
    fields = {
        "name": name,
        "id": 7,
        "status": SimpleNamespace(value=status),
        "role": SimpleNamespace(slug=role),
        "primary_ip4": Saved(address="10.0.0.1/24", dns_name=f"{name}.eqiad.wmnet"),
        "primary_ip6": None,
        "asset_tag": "WMF9999",
        "custom_fields": {"bgp": False},
    }
    if not virtual:
        fields["rack"] = SimpleNamespace(name="A1")
    return Saved(**fields)


def write_config(tmp_path, content):
    (tmp_path / "netbox").mkdir(exist_ok=True)
    (tmp_path / "netbox" / "config.yaml").write_text(content)
    return tmp_path


CONFIG = f"api_url: {URL}\napi_token_ro: ro\napi_token_rw: rw\n"


# -- configuration


@pytest.mark.parametrize(
    "read_write, dry_run, token",
    ((False, False, "ro"), (True, False, "rw"), (True, True, "ro"), (False, True, "ro")),
)
def test_config_token_choice(tmp_path, read_write, dry_run, token):
    assert load_netbox_config(write_config(tmp_path, CONFIG), read_write=read_write, dry_run=dry_run) == (URL, token)


def test_config_without_file(tmp_path):
    with pytest.raises(NetboxError, match="Unable to read the Netbox config file"):
        load_netbox_config(tmp_path)


@pytest.mark.parametrize("content, key", (("api_token_ro: ro\n", "api_url"), (f"api_url: {URL}\n", "api_token_ro")))
def test_config_missing_key(tmp_path, content, key):
    with pytest.raises(NetboxError, match=f"must set {key} to a non-empty string"):
        load_netbox_config(write_config(tmp_path, content))


def test_config_not_a_mapping(tmp_path):
    with pytest.raises(NetboxError, match="must be a YAML mapping"):
        load_netbox_config(write_config(tmp_path, "- a list\n"))


def test_accessor_builds_the_client_with_the_configured_url_and_token(tmp_path):
    spicerack = Spicerack(spicerack_config_dir=str(write_config(tmp_path, CONFIG)), dry_run=False)

    client = spicerack.netbox(read_write=True)

    assert isinstance(client, Netbox)
    assert (client.api.base_url, client.api.token) == (f"{URL}/api", "rw")


def test_netbox_master_host_is_the_ptr_of_the_discovery_record():
    spicerack = Spicerack(dry_run=False)
    dns = mock.Mock()
    dns.resolve_ips.return_value = ["10.0.0.5"]
    dns.resolve_ptr.return_value = ["netbox1001.eqiad.wmnet"]
    remote = mock.Mock()
    with (
        mock.patch.object(Spicerack, "dns", return_value=dns),
        mock.patch.object(Spicerack, "remote", return_value=remote),
    ):
        assert spicerack.netbox_master_host() is remote.query.return_value

    dns.resolve_ips.assert_called_once_with("netbox.discovery.wmnet")
    dns.resolve_ptr.assert_called_once_with("10.0.0.5")
    remote.query.assert_called_once_with("netbox1001.eqiad.wmnet")


def test_import_spicerack_does_not_import_pynetbox():
    code = "import sys, spicerack, spicerack.netbox, spicerack.hosts; print('pynetbox' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# -- lookups and error mapping


def client_with(api):
    client = Netbox(URL, "token", dry_run=False)
    client._api = api
    return client


def test_get_server_falls_back_to_virtual_machines():
    api = mock.Mock()
    api.dcim.devices.get.return_value = None
    api.virtualization.virtual_machines.get.return_value = stub_server("vm1", virtual=True)

    server = client_with(api).get_server("vm1")

    assert server.virtual
    api.dcim.devices.get.assert_called_once_with(name="vm1")


def test_get_server_not_found():
    api = mock.Mock()
    api.dcim.devices.get.return_value = None
    api.virtualization.virtual_machines.get.return_value = None

    with pytest.raises(NetboxHostNotFoundError, match="nohost"):
        client_with(api).get_server("nohost")


@pytest.mark.parametrize(
    "error",
    (
        requests.exceptions.ConnectionError("refused"),
        requests.exceptions.ReadTimeout("read timed out"),
        pynetbox.RequestError(mock.Mock(status_code=404, url=f"{URL}/api/dcim/devices/")),
    ),
)
def test_request_failures_are_api_errors(error):
    api = mock.Mock()
    api.dcim.devices.get.side_effect = error

    with pytest.raises(NetboxAPIError, match="Error retrieving Netbox device") as excinfo:
        client_with(api).get_server("host1001")

    assert excinfo.value.__cause__ is error
    assert "\n" not in str(excinfo.value)


def test_several_matches_are_a_malformed_answer():
    api = mock.Mock()
    api.dcim.devices.get.side_effect = ValueError("get() returned more than one result.")

    with pytest.raises(NetboxAPIError, match="several devices named host1001"):
        client_with(api).get_server("host1001")


def test_object_without_role_is_a_malformed_answer():
    api = mock.Mock()
    api.dcim.devices.get.return_value = SimpleNamespace(name="host1001", rack=None)

    with pytest.raises(NetboxAPIError, match="Malformed Netbox answer for host1001"):
        client_with(api).get_server("host1001")


def test_api_errors_are_netbox_and_spicerack_errors():
    assert issubclass(NetboxAPIError, NetboxError)
    assert issubclass(NetboxHostNotFoundError, NetboxError)
    assert issubclass(NetboxError, SpicerackError)


def test_virtual_is_read_from_the_answer_fields_of_pynetbox_records():
    api = mock.Mock(base_url=f"{URL}/api")
    device = pynetbox.core.response.Record({"id": 1, "name": "host1001", "rack": None}, api, None)
    vm = pynetbox.core.response.Record(
        {"id": 2, "name": "vm1", "url": f"{URL}/api/virtualization/virtual-machines/2/"}, api, None
    )

    assert not netbox._is_virtual(device)
    assert netbox._is_virtual(vm)
    api.http_session.get.assert_not_called()  # No request for the VM's full details


# -- NetboxServer


@pytest.mark.parametrize("current, allowed", sorted(NetboxServer.allowed_status_transitions.items()))
def test_status_transitions(current, allowed):
    for new in ("spare", "planned", "failed", "active", "decommissioned"):
        server = stub_server(status=current)
        netbox_server = NetboxServer(api=mock.Mock(), server=server, dry_run=False)
        if new in allowed:
            netbox_server.status = new.upper()
            assert (server.status, server.saves) == (new, 1)
        else:
            with pytest.raises(NetboxError, match=f"Forbidden Netbox status transition between {current} and {new}"):
                netbox_server.status = new
            assert not hasattr(server, "saves")


def test_status_in_dry_run_only_logs(caplog):
    caplog.set_level(logging.INFO, logger="spicerack.netbox")
    server = stub_server()

    NetboxServer(api=mock.Mock(), server=server, dry_run=True).status = "failed"

    assert server.status.value == "active"
    assert not hasattr(server, "saves")
    assert "Skipping Netbox status change from active to failed for device host1001 in DRY-RUN." in caplog.text


@pytest.mark.parametrize("attribute, value", (("fqdn", "x.eqiad.wmnet"), ("mgmt_fqdn", "x.mgmt"), ("bgp", True)))
def test_updates_in_dry_run_save_nothing(attribute, value):
    api = mock.Mock()
    mgmt = Saved(dns_name="host1001.mgmt.eqiad.wmnet")
    api.ipam.ip_addresses.get.return_value = mgmt
    server = stub_server()

    setattr(NetboxServer(api=api, server=server, dry_run=True), attribute, value)

    assert not hasattr(server, "saves")
    assert not hasattr(server.primary_ip4, "saves")
    assert not hasattr(mgmt, "saves")


def test_name_of_a_virtual_machine_cannot_change():
    with pytest.raises(NetboxError, match="Server vm1 is a virtual machine, changing the name is only for physical"):
        NetboxServer(api=mock.Mock(), server=stub_server("vm1", virtual=True), dry_run=False).name = "vm2"


def test_mgmt_fqdn_is_looked_up_once():
    api = mock.Mock()
    api.ipam.ip_addresses.get.return_value = Saved(dns_name="host1001.mgmt.eqiad.wmnet")
    netbox_server = NetboxServer(api=api, server=stub_server(), dry_run=False)

    assert netbox_server.mgmt_fqdn == netbox_server.mgmt_fqdn == "host1001.mgmt.eqiad.wmnet"
    assert netbox_server.asset_tag_fqdn == "wmf9999.mgmt.eqiad.wmnet"
    api.ipam.ip_addresses.get.assert_called_once_with(device="host1001", interface=MANAGEMENT_IFACE_NAME)


@pytest.mark.parametrize("value, message", (("nope", "nope is not a valid IP"), ("2001:db8::1/64", "is not an IPv4")))
def test_invalid_primary_ip4(value, message):
    with pytest.raises(NetboxError, match=message):
        NetboxServer(api=mock.Mock(), server=stub_server(), dry_run=False).primary_ip4_address = value


def test_rename_fqdn():
    assert netbox._rename_fqdn("old.eqiad.wmnet", "new") == "new.eqiad.wmnet"
    assert netbox._rename_fqdn("old", "new") == "new"


# -- the Redfish console of a server


def test_redfish_target():
    client = mock.Mock()
    client.get_server.return_value.virtual = False
    client.get_server.return_value.as_dict.return_value = {"device_type": {"manufacturer": {"slug": "supermicro"}}}
    client.api.ipam.ip_addresses.get.return_value.address = "10.65.0.1/16"

    assert redfish_target(client, "host1001") == ("10.65.0.1/16", "supermicro")
    client.api.ipam.ip_addresses.get.assert_called_once_with(device="host1001", interface="mgmt")


def test_redfish_target_without_management_address():
    client = mock.Mock()
    client.get_server.return_value.virtual = False
    client.api.ipam.ip_addresses.get.return_value = None

    with pytest.raises(NetboxError, match="Server host1001 has no management address in Netbox"):
        redfish_target(client, "host1001")


# -- scripts


@pytest.mark.parametrize("job", ({"data": {"output": ""}}, {"data": "text"}, ["not", "a", "job"]))
def test_run_script_with_a_malformed_job_result(requests_mock, job):
    api = mock.Mock(token="token")
    api.extras.scripts.get.return_value.url = f"{URL}/api/extras/scripts/1/"
    requests_mock.post(f"{URL}/api/extras/scripts/1/", json={"result": {"url": f"{URL}/api/core/jobs/5/"}})
    requests_mock.get(f"{URL}/api/core/jobs/5/", json=job)

    with (
        mock.patch("wmflib.decorators.time.sleep") as sleep,
        pytest.raises(NetboxScriptError, match="Failed to get Netbox script results from"),
    ):
        client_with(api).run_script("module.Script", params={})

    assert sleep.call_count == 29  # 30 tries


@pytest.mark.parametrize("job_status", (200, 500))
def test_run_script_closes_its_http_session(requests_mock, job_status):
    api = mock.Mock(token="token")
    api.extras.scripts.get.return_value.url = f"{URL}/api/extras/scripts/1/"
    requests_mock.post(f"{URL}/api/extras/scripts/1/", json={"result": {"url": f"{URL}/api/core/jobs/5/"}})
    requests_mock.get(f"{URL}/api/core/jobs/5/", json={"data": {"log": ["done"]}}, status_code=job_status)

    with (
        mock.patch.object(requests.Session, "close", autospec=True) as close,
        mock.patch("wmflib.decorators.time.sleep"),
        mock.patch("urllib3.util.retry.Retry.sleep"),
    ):
        try:
            client_with(api).run_script("module.Script", params={})
        except NetboxScriptError:
            assert job_status == 500

    assert close.call_count == 1


def test_run_script_sends_the_token_and_the_commit_flag(requests_mock):
    api = mock.Mock(token="secret")
    api.extras.scripts.get.return_value.url = f"{URL}/api/extras/scripts/1/"
    requests_mock.post(f"{URL}/api/extras/scripts/1/", json={"result": {"url": f"{URL}/api/core/jobs/5/"}})
    requests_mock.get(f"{URL}/api/core/jobs/5/", json={"data": {"log": ["done"]}})

    assert client_with(api).run_script("module.Script", commit=True, params={"a": 1}) == ["done"]
    post = requests_mock.request_history[0]
    assert (post.headers["Authorization"], post.json()) == ("Token secret", {"data": {"a": 1}, "commit": 1})
