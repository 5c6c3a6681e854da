"""Integration tests of spicerack.puppet: real commands over SSH to the fleet, acting on Puppet stand-ins."""

from datetime import UTC, datetime, timedelta

import pytest

from spicerack import Spicerack
from spicerack.administrative import Reason
from spicerack.puppet import (
    PuppetHosts,
    PuppetHostsCheckError,
    PuppetHostsError,
    PuppetServer,
    PuppetServerCheckError,
    PuppetServerError,
)
from spicerack.remote import Remote, RemoteExecutionError
from tests.integration.fleet_tools import PUPPET_HOSTS, PUPPET_SERVER

HOSTS = "test-host[09-11]"
HOST = PUPPET_HOSTS[0]


def reason(text="maintenance", task_id=None):
    return Reason(text, "tester", "cumin1001", task_id=task_id)


@pytest.fixture
def puppet(remote_fleet, puppet_env):
    return PuppetHosts(remote_fleet.query(HOSTS))


@pytest.fixture
def dry_run_puppet(ssh_fleet, puppet_env):
    return PuppetHosts(Remote(str(ssh_fleet.cumin_config), dry_run=True).query(HOSTS))


def test_disable_writes_the_reason_on_every_host_and_enable_removes_it(puppet, puppet_env):
    puppet.disable(reason())
    assert {puppet_env.disabled_message(host) for host in PUPPET_HOSTS} == {"maintenance - tester@cumin1001"}
    puppet.check_disabled()
    with pytest.raises(PuppetHostsCheckError, match=r"not enabled on those hosts: test-host\[09-11\]"):
        puppet.check_enabled()

    puppet.enable(reason())
    assert [puppet_env.disabled_message(host) for host in PUPPET_HOSTS] == [None, None, None]
    puppet.check_enabled()


def test_check_names_only_the_hosts_in_the_other_state(puppet, remote_fleet):
    PuppetHosts(remote_fleet.query("test-host10")).disable(reason())
    with pytest.raises(PuppetHostsCheckError, match=r"not enabled on those hosts: test-host10$"):
        puppet.check_enabled()
    with pytest.raises(PuppetHostsCheckError, match=r"not disabled on those hosts: test-host\[09,11\]$"):
        puppet.check_disabled()


def test_verbatim_reason_uses_the_text_alone(puppet, puppet_env):
    puppet.disable(reason("upgrade", task_id="T12345"), verbatim_reason=True)
    assert puppet_env.disabled_message(HOST) == "upgrade"
    puppet.enable(reason("upgrade", task_id="T12345"))  # Not the same text: stays disabled
    assert puppet_env.disabled_message(HOST) == "upgrade"
    puppet.enable(reason("upgrade", task_id="T12345"), verbatim_reason=True)
    assert puppet_env.disabled_message(HOST) is None


def test_disabled_keeps_an_earlier_disable_with_another_reason(puppet, puppet_env, remote_fleet):
    PuppetHosts(remote_fleet.query(HOST)).disable(reason("someone else"))
    with puppet.disabled(reason()):
        puppet.check_disabled()
    assert puppet_env.disabled_message(HOST) == "someone else - tester@cumin1001"
    assert puppet_env.disabled_message(PUPPET_HOSTS[1]) is None


def test_disabled_enables_again_when_the_body_raises(puppet, puppet_env):
    with pytest.raises(RuntimeError, match="boom"), puppet.disabled(reason()):
        assert puppet_env.disabled_message(HOST) is not None
        raise RuntimeError("boom")
    puppet.check_enabled()


def test_run_then_wait_since_finds_the_successful_run(puppet, puppet_env):
    start = datetime.now(UTC) - timedelta(seconds=2)
    puppet.run(quiet=True, attempts=3)
    for host in PUPPET_HOSTS:
        assert len(puppet_env.runs(host)) == 1
    assert (puppet_env.state(HOST) / "run-puppet-agent.args").read_text() == "--quiet --attempts 3\n"
    puppet.wait_since(start)
    puppet.wait_since(start.replace(tzinfo=None))  # naive datetimes are UTC, as the reference's utcnow()


def test_run_fails_on_a_disabled_host_unless_enabled_with_the_same_reason(puppet, puppet_env):
    puppet.disable(reason())
    with pytest.raises(RemoteExecutionError):
        puppet.run()
    assert puppet_env.runs(HOST) == []

    puppet.run(enable_reason=reason())
    puppet.check_enabled()
    assert [len(puppet_env.runs(host)) for host in PUPPET_HOSTS] == [1, 1, 1]


def test_run_force_enables_whatever_the_reason(puppet, puppet_env):
    puppet.disable(reason("another one"))
    puppet.run(force=True)
    puppet.check_enabled()


def test_run_failed_only_skips_hosts_whose_last_run_succeeded(puppet, puppet_env):
    puppet.run()
    (puppet_env.state(HOST) / "fail_runs").touch()
    with pytest.raises(RemoteExecutionError):
        puppet.run()
    (puppet_env.state(HOST) / "fail_runs").unlink()
    puppet.run(failed_only=True)
    assert [len(puppet_env.runs(host)) for host in PUPPET_HOSTS] == [3, 2, 2]


def test_wait_since_raises_when_the_last_run_failed_or_is_too_old(dry_run_puppet, puppet, puppet_env):
    # A DRY-RUN instance tries only once: the check itself is read-only and runs for real.
    puppet.run()
    with pytest.raises(PuppetHostsCheckError, match="too old"):
        dry_run_puppet.wait_since(datetime.now(UTC) + timedelta(hours=1))

    (puppet_env.state(HOST) / "fail_runs").touch()
    with pytest.raises(RemoteExecutionError):
        PuppetHosts(puppet._remote_hosts).run()
    with pytest.raises(PuppetHostsCheckError, match=r"Unable to .* successful Puppet run .*: test-host09$"):
        dry_run_puppet.wait_since(datetime.now(UTC) - timedelta(hours=1))


def test_dry_run_changes_nothing_but_reads(dry_run_puppet, puppet_env):
    dry_run_puppet.disable(reason())
    dry_run_puppet.run()
    with dry_run_puppet.disabled(reason()):
        pass
    assert list(dry_run_puppet.first_run()) == []
    with pytest.raises(PuppetHostsError, match="Unable to find CSR fingerprints for all hosts"):
        dry_run_puppet.regenerate_certificate()
    for host in PUPPET_HOSTS:
        assert puppet_env.disabled_message(host) is None
        assert puppet_env.runs(host) == []
    dry_run_puppet.check_enabled()  # read-only: runs


def test_first_run_stops_the_service_enables_and_runs(puppet, puppet_env):
    puppet.disable(reason())
    results = list(puppet.first_run())
    assert results
    puppet.check_enabled()
    assert [len(puppet_env.runs(host)) for host in PUPPET_HOSTS] == [1, 1, 1]
    calls = (puppet_env.fleet.state_dir(HOST) / "systemctl.log").read_text().splitlines()
    assert calls[-2:] == ["stop puppet.service", "reset-failed puppet.service"]


def test_get_config_and_ca_servers(puppet, puppet_env):
    puppet_env.set_setting(PUPPET_HOSTS[2], "ca_server", "puppetca2001.example.org")
    assert puppet.get_config("certname") == {host: host for host in PUPPET_HOSTS}
    assert puppet.get_ca_servers() == {
        PUPPET_HOSTS[0]: "puppet",
        PUPPET_HOSTS[1]: "puppet",
        PUPPET_HOSTS[2]: "puppetca2001.example.org",
    }


def test_certificate_lifecycle_between_hosts_and_server(puppet, puppet_env, remote_fleet):
    for host in PUPPET_HOSTS:
        puppet_env.set_setting(host, "ca_server", PUPPET_SERVER)
    server = PuppetServer(remote_fleet.query(PUPPET_SERVER))

    fingerprints = puppet.regenerate_certificate()
    assert set(fingerprints) == set(PUPPET_HOSTS)
    metadata = server.get_certificate_metadata(HOST)
    assert metadata["state"] == "requested"
    assert metadata["fingerprint"] == fingerprints[HOST]
    server.wait_for_csr(HOST)

    with pytest.raises(PuppetServerError, match="does not match"):
        server.sign(HOST, "00:11")
    server.sign(HOST, fingerprints[HOST])
    assert puppet_env.certificate(PUPPET_SERVER, HOST)["state"] == "signed"
    server.verify(HOST)
    with pytest.raises(PuppetServerError, match="not in requested state, got: signed"):
        server.sign(HOST, fingerprints[HOST])
    with pytest.raises(PuppetServerError, match="Expected certificate for test-host10 to be signed, got: requested"):
        server.verify(PUPPET_HOSTS[1])

    server.destroy(HOST)
    assert puppet_env.certificate(PUPPET_SERVER, HOST) is None
    server.destroy(HOST)  # Nothing to do: no error
    with pytest.raises(PuppetServerCheckError, match="no CSR for test-host09"):
        server.get_certificate_metadata(HOST)

    server.delete(PUPPET_HOSTS[1])
    assert puppet_env.certificate(PUPPET_SERVER, PUPPET_HOSTS[1]) is None
    nodes_log = (puppet_env.state(PUPPET_SERVER) / "nodes.log").read_text().splitlines()
    assert nodes_log == ["clean test-host10", "deactivate test-host10"]


def test_regenerate_certificate_deletes_the_old_one(puppet, puppet_env):
    puppet_env.set_setting(HOST, "ca_server", PUPPET_SERVER)
    first = PuppetHosts(puppet._remote_hosts).regenerate_certificate()
    second = puppet.regenerate_certificate()
    assert first[HOST] != second[HOST]
    assert (puppet_env.state(HOST) / "ssl" / "csr_fingerprint").read_text().strip() == second[HOST]


def test_server_needs_exactly_one_host(remote_fleet):
    with pytest.raises(PuppetServerError, match="must target only one host, got 3"):
        PuppetServer(remote_fleet.query(HOSTS))


def test_hiera_lookup_reads_on_the_server(remote_fleet, puppet_env):
    hiera = puppet_env.fleet.state_dir(PUPPET_SERVER) / "hiera"
    hiera.mkdir()
    (hiera / "profile::admin::groups").write_text('["ops"]\n')
    server = PuppetServer(remote_fleet.query(PUPPET_SERVER))
    assert server.hiera_lookup("test-host09.example.org", "profile::admin::groups").strip() == '["ops"]'


def test_spicerack_accessors(ssh_fleet, puppet_env, tmp_path):
    spicerack = Spicerack(cumin_config=str(ssh_fleet.cumin_config), spicerack_config_dir=str(tmp_path), dry_run=False)
    puppet = spicerack.puppet(spicerack.remote().query(HOST))
    assert isinstance(puppet, PuppetHosts)
    puppet.disable(spicerack.admin_reason("accessor test"))
    assert puppet_env.disabled_message(HOST).startswith("accessor test - ")


def test_puppet_server_accessor_uses_the_configured_ca(ssh_fleet, puppet_env, tmp_path):
    (tmp_path / "puppet").mkdir()
    (tmp_path / "puppet" / "config.yaml").write_text(f"ca_server: {PUPPET_SERVER}\n")
    spicerack = Spicerack(cumin_config=str(ssh_fleet.cumin_config), spicerack_config_dir=str(tmp_path), dry_run=False)
    server = spicerack.puppet_server()
    assert type(server) is PuppetServer
    assert str(server.server_host) == PUPPET_SERVER
    with pytest.raises(PuppetServerCheckError, match="no CSR for test-host09"):
        server.get_certificate_metadata(HOST)
    assert str(spicerack.puppet_master()) == PUPPET_SERVER
