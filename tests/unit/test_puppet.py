"""Unit tests of spicerack.puppet: command lines, output parsing and configuration, on a stub RemoteHosts."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from spicerack import puppet
from spicerack.administrative import Reason
from spicerack.exceptions import SpicerackCheckError, SpicerackError
from spicerack.puppet import (
    PuppetHosts,
    PuppetHostsCheckError,
    PuppetHostsError,
    PuppetMaster,
    PuppetServer,
    PuppetServerCheckError,
    PuppetServerError,
)
from spicerack.remote import RemoteExecutionError
from tests.unit.remote_stub import StubRemoteHosts

REASON = Reason("maintenance", "user", "cumin1001", task_id="T1")


def test_exceptions_hierarchy():
    assert issubclass(PuppetHostsError, SpicerackError)
    assert issubclass(PuppetHostsCheckError, SpicerackCheckError)
    assert issubclass(PuppetServerCheckError, SpicerackCheckError)
    assert puppet.PuppetMasterError is PuppetServerError


def test_disable_and_enable_commands():
    hosts = StubRemoteHosts("host[1-2]")
    puppet_hosts = PuppetHosts(hosts)
    puppet_hosts.disable(REASON)
    puppet_hosts.enable(REASON, verbatim_reason=True)
    assert hosts.commands == [
        'disable-puppet "maintenance - user@cumin1001 - T1"',
        'enable-puppet "maintenance"',
    ]
    assert len(puppet_hosts) == 2
    assert str(puppet_hosts) == "host[1-2]"


def test_disabled_enables_even_if_the_body_raises():
    hosts = StubRemoteHosts()
    with pytest.raises(KeyError), PuppetHosts(hosts).disabled(REASON):
        raise KeyError("x")
    assert [command.split()[0] for command in hosts.commands] == ["disable-puppet", "enable-puppet"]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "run-puppet-agent"),
        ({"quiet": True, "failed_only": True, "force": True}, "run-puppet-agent --quiet --failed-only --force"),
        (
            {"enable_reason": REASON, "attempts": 5},
            'run-puppet-agent --enable "maintenance - user@cumin1001 - T1" --attempts 5',
        ),
    ],
)
def test_run_command_line(kwargs, expected):
    hosts = StubRemoteHosts()
    PuppetHosts(hosts).run(batch_size=3, **kwargs)
    assert hosts.commands == [expected]
    assert hosts.calls[0][1] == {"batch_size": 3}


def test_check_enabled_and_disabled_group_hosts():
    outputs = {"host1": "1", "host2": "0", "host3": "1"}
    hosts = StubRemoteHosts("host[1-3]", [outputs, outputs])
    puppet_hosts = PuppetHosts(hosts)
    with pytest.raises(PuppetHostsCheckError, match=r"not enabled on those hosts: host\[1,3\]"):
        puppet_hosts.check_enabled()
    with pytest.raises(PuppetHostsCheckError, match=r"not disabled on those hosts: host2$"):
        puppet_hosts.check_disabled()
    assert all(kwargs["is_safe"] for _, kwargs in hosts.calls)


def test_wait_since_accepts_newer_runs_and_rejects_older_ones():
    now = datetime.now(UTC)
    recent = str(int(now.timestamp()) + 5)
    hosts = StubRemoteHosts("host[1-2]", [{"host1": recent, "host2": recent}], dry_run=True)
    PuppetHosts(hosts).wait_since(now)

    old = str(int((now - timedelta(hours=1)).timestamp()))
    hosts = StubRemoteHosts("host[1-2]", [{"host1": recent, "host2": old}], dry_run=True)
    with pytest.raises(PuppetHostsCheckError, match=r"too old .* on: host2"):
        PuppetHosts(hosts).wait_since(now)


def test_wait_since_errors():
    hosts = StubRemoteHosts("host[1-2]", [{"host1": "not a number"}], dry_run=True)
    with pytest.raises(PuppetHostsCheckError, match="Unable to parse the last Puppet run time of host1"):
        PuppetHosts(hosts).wait_since(datetime.now(UTC))

    future = str(int(datetime.now(UTC).timestamp()) + 60)
    hosts = StubRemoteHosts("host[1-2]", [{"host1": future}], dry_run=True)
    with pytest.raises(PuppetHostsCheckError, match="Unable to get successful Puppet run from: host2"):
        PuppetHosts(hosts).wait_since(datetime.now(UTC))

    failure = RemoteExecutionError(2, "failed", failed_hosts=StubRemoteHosts("host2").hosts)
    hosts = StubRemoteHosts("host[1-2]", [failure], dry_run=True)
    with pytest.raises(PuppetHostsCheckError, match="Unable to find a successful Puppet run on: host2"):
        PuppetHosts(hosts).wait_since(datetime.now(UTC))


def test_regenerate_certificate_parses_fingerprints_and_errors():
    agent_output = {
        "host1": "Info: Creating a new SSL certificate request for host1\n"
        "Info: Certificate Request fingerprint (SHA256): AA:BB:CC\n"
        "Exiting; no certificate found and waitforcert is disabled",
        "host2": "Error: Could not request certificate: Connection refused",
    }
    hosts = StubRemoteHosts("host[1-2]", [None, agent_output])
    with pytest.raises(PuppetHostsError, match="host2: Error: Could not request certificate"):
        PuppetHosts(hosts).regenerate_certificate()
    assert hosts.commands[0] == f"rm -rfv {puppet.PUPPET_SSL_DIR}"

    hosts = StubRemoteHosts("host1", [None, {"host1": agent_output["host1"]}])
    assert PuppetHosts(hosts).regenerate_certificate() == {"host1": "AA:BB:CC"}


def test_get_config_and_ca_servers(monkeypatch):
    monkeypatch.setattr(puppet, "get_ca_via_srv_record", lambda domain: f"ca.{domain}")
    hosts = StubRemoteHosts(
        "host[1-3]",
        [
            {"host1": "true", "host2": "false", "host3": "true"},
            {"host1": "eqiad.wmnet", "host3": "codfw.wmnet"},
            {"host2": "puppet2.example.org"},
        ],
    )
    assert PuppetHosts(hosts).get_ca_servers() == {
        "host1": "ca.eqiad.wmnet",
        "host2": "puppet2.example.org",
        "host3": "ca.codfw.wmnet",
    }
    assert hosts.commands == [
        "puppet config --section agent print use_srv_records",
        "puppet config --section agent print srv_domain",
        "puppet config --section agent print ca_server",
    ]


def test_get_config_runs_with_run_sync_defaults_so_dry_run_skips_it():
    hosts = StubRemoteHosts("host1", ["puppet1"])
    assert PuppetHosts(hosts).get_config("ca_server", section="main") == {"host1": "puppet1"}
    assert hosts.calls == [(["puppet config --section main print ca_server"], {})]


def test_ca_servers_read_each_setting_only_on_the_hosts_using_it(monkeypatch):
    monkeypatch.setattr(puppet, "get_ca_via_srv_record", lambda domain: f"ca.{domain}")
    queried = []
    hosts = StubRemoteHosts("host[1-3]", [{"host1": "false", "host2": "false", "host3": "false"}, "puppet1"])
    original = hosts.get_subset
    hosts.get_subset = lambda subset: queried.append(str(subset)) or original(subset)

    assert PuppetHosts(hosts).get_ca_servers() == {"host1": "puppet1", "host2": "puppet1", "host3": "puppet1"}
    assert queried == ["host[1-3]"]
    assert len(hosts.commands) == 2  # no srv_domain lookup


def test_srv_record_lookup_goes_through_the_patchable_module_dns(monkeypatch):
    class Target:
        target = "puppetca1001.example.org."

    class FakeDns:
        def resolve(self, record, kind):
            assert (record, kind) == ("_x-puppet-ca._tcp.eqiad.wmnet", "SRV")
            return type("Answer", (), {"rrset": [Target()]})()

    monkeypatch.setattr(puppet, "Dns", FakeDns)

    assert puppet.get_ca_via_srv_record("eqiad.wmnet") == "puppetca1001.example.org"


def test_first_run_commands():
    hosts = StubRemoteHosts()
    PuppetHosts(hosts).first_run(has_systemd=False)
    assert hosts.commands[0] == "puppet agent --enable"
    assert hosts.commands[1].startswith("puppet agent --onetime --no-daemonize")


def test_server_certificate_metadata():
    cert = {"name": "host1.example.org", "state": "requested", "fingerprint": "AA"}
    server = PuppetServer(StubRemoteHosts("puppetserver1", [json.dumps({"requested": [cert]})]))
    assert server.get_certificate_metadata("host1.example.org") == cert

    cases = [
        ("", PuppetServerError, "no output"),
        ("not json", PuppetServerError, "Unable to parse Puppet server response"),
        ("{}", PuppetServerCheckError, "No certificate found"),
        ('{"missing": ["host1.example.org"]}', PuppetServerCheckError, "no CSR"),
        ("[true]", PuppetServerCheckError, r"Expected a dict but got list: \[True\]"),
        ('{"signed": [], "requested": []}', PuppetServerError, "one result type"),
        (json.dumps({"signed": [cert, cert]}), PuppetServerError, "one result from Puppet CA, got 2"),
        (json.dumps({"signed": [dict(cert, name="other")]}), PuppetServerError, "Hostname mismatch"),
    ]
    for answer, error, message in cases:
        server = PuppetServer(StubRemoteHosts("puppetserver1", [answer or None]))
        with pytest.raises(error, match=message):
            server.get_certificate_metadata("host1.example.org")


def test_server_sign_checks_state_and_fingerprint():
    requested = json.dumps({"requested": [{"name": "h1", "state": "requested", "fingerprint": "AA"}]})
    signed = json.dumps({"signed": [{"name": "h1", "state": "signed", "fingerprint": "AA"}]})
    hosts = StubRemoteHosts("puppetserver1", [requested, "Signed", signed])
    PuppetServer(hosts).sign("h1", "AA")
    assert hosts.commands[1] == "puppetserver ca sign --certname h1"

    with pytest.raises(PuppetServerError, match="does not match provided fingerprint BB"):
        PuppetServer(StubRemoteHosts("puppetserver1", [requested])).sign("h1", "BB")
    with pytest.raises(PuppetServerError, match="Expected certificate for h1 to be signed, got: requested"):
        PuppetServer(StubRemoteHosts("puppetserver1", [requested, "oops", requested])).sign("h1", "AA")

    dry_run = StubRemoteHosts("puppetserver1", [requested], dry_run=True)
    PuppetServer(dry_run).sign("h1", "AA")  # The sign is skipped: no check afterwards
    assert len(dry_run.calls) == 2


def test_server_requires_a_single_host():
    with pytest.raises(PuppetServerError, match="must target only one host, got 2"):
        PuppetServer(StubRemoteHosts("puppet[1-2]"))


def test_puppet_master_legacy_commands():
    hosts = StubRemoteHosts("puppetmaster1", [json.dumps([{"name": "h1.example.org", "state": "signed"}]), None])
    master = PuppetMaster(hosts)
    assert master.get_certificate_metadata("h1.example.org")["state"] == "signed"
    master.destroy("h1.example.org")
    assert hosts.commands == [
        'puppet ca --disable_warnings deprecations --render-as json list --all --subject "^h1\\.example\\.org$"',
        "puppet ca --disable_warnings deprecations destroy h1.example.org",
    ]
    assert master.master_host is hosts

    invalid = json.dumps({"valid": False, "error": "expired"})
    with pytest.raises(PuppetServerError, match="Invalid certificate for h1: expired"):
        PuppetMaster(StubRemoteHosts("puppetmaster1", [invalid])).verify("h1")


def test_puppet_ca_server_from_config(tmp_path, monkeypatch):
    monkeypatch.setattr(puppet, "get_ca_via_srv_record", lambda domain: f"srv-ca.{domain}")
    assert puppet.puppet_ca_server(tmp_path) == f"srv-ca.{puppet.CA_SRV_DOMAIN}"

    config = tmp_path / "puppet" / "config.yaml"
    config.parent.mkdir()
    config.write_text("srv_domain: codfw.wmnet\n")
    assert puppet.puppet_ca_server(tmp_path) == "srv-ca.codfw.wmnet"
    config.write_text("ca_server: puppetca1001.example.org\n")
    assert puppet.puppet_ca_server(tmp_path) == "puppetca1001.example.org"
    assert puppet.puppet_ca_server(tmp_path, legacy=True) == "puppetca1001.example.org"

    for content in ("ca_srever: typo\n", "- a list\n", "key: [unclosed\n"):
        config.write_text(content)
        with pytest.raises(PuppetServerError, match=str(config)):
            puppet.puppet_ca_server(tmp_path)


def test_srv_record_lookup_errors(monkeypatch):
    class Rdata:
        def __init__(self, target):
            self.target = target

    class Answer:
        def __init__(self, targets):
            self.rrset = [Rdata(target) for target in targets]

    import wmflib.dns

    answers = iter([Answer([]), Answer(["ca1.", "ca2."]), Answer(["ca1.example.org."])])
    monkeypatch.setattr(wmflib.dns.Dns, "resolve", lambda self, name, record: next(answers))
    with pytest.raises(SpicerackError, match=r"Unable to find record for _x-puppet-ca\._tcp\.example\.org"):
        puppet.get_ca_via_srv_record("example.org")
    with pytest.raises(SpicerackError, match="returned multiple ca servers: ca1,ca2"):
        puppet.get_ca_via_srv_record("example.org")
    assert puppet.get_ca_via_srv_record("example.org") == "ca1.example.org"


def test_host_names_cannot_inject_shell_commands_and_reasons_are_double_quoted():
    hosts = StubRemoteHosts("puppetmaster1", [None])
    PuppetMaster(hosts).destroy("h1; touch /tmp/pwned")
    assert hosts.commands == ["puppet ca --disable_warnings deprecations destroy 'h1; touch /tmp/pwned'"]

    agents = StubRemoteHosts("host1")
    PuppetHosts(agents).disable(Reason("kernel $(id) upgrade", "jdoe", "cumin1001"), verbatim_reason=True)
    assert agents.commands == ['disable-puppet "kernel $(id) upgrade"']  # in double quotes, as the reference
