"""spicerack.testing's fleet: query resolution, canned replies, and cumin's semantics through the real RemoteHosts."""

import re

import pytest
from cumin import NodeSet
from cumin.transports import Command

from spicerack.remote import RemoteExecutionError, RemoteHosts
from spicerack.testing import Fleet, FleetError, FleetRemote
from spicerack.testing._fleet import RunState, register_transport
from spicerack.testing._plan import Recorder


def remote_for(fleet, *, dry_run=False):
    """A Remote on the fleet and the recorder of its plan."""
    register_transport()
    recorder = Recorder()
    return FleetRemote(RunState(fleet, recorder, dry_run), dry_run=dry_run), recorder


def outputs(results):
    """The results as {hosts string: output text}."""
    return {str(hosts): text for hosts, text in RemoteHosts.results_to_list(results)}


class TestResolve:
    """How queries select hosts."""

    def test_exact_query(self):
        """A described query selects its hosts, whatever its syntax."""
        fleet = Fleet(queries={"A:web and P{O:nginx}": ["web1", "web2"]})
        assert fleet.resolve("A:web and P{O:nginx}") == NodeSet("web[1-2]")

    def test_nodeset_of_known_hosts(self):
        """Nodeset syntax selects the known hosts among those it names."""
        fleet = Fleet("db[1-4]")
        assert fleet.resolve("db[3-9],web1") == NodeSet("db[3-4]")

    def test_nodeset_without_known_hosts(self):
        """Without an inventory, any nodeset resolves to itself (described queries and hosts down are no inventory)."""
        fleet = Fleet(queries={"A:x": "x1"}, down="x2")
        assert fleet.resolve("host[1-3].example.org") == NodeSet("host[1-3].example.org")

    @pytest.mark.parametrize("query", ["A:db", "db[", "web1"])
    def test_unknown_query(self, query):
        """A query neither described nor selecting a known host raises, as a failing cumin query."""
        with pytest.raises(FleetError, match=re.escape(f"Failed to execute Cumin query '{query}'")):
            Fleet("db1").resolve(query)

    def test_query_through_remote(self):
        """Remote.query gives real RemoteHosts, with use_sudo prefixing the commands."""
        fleet = Fleet(queries={"A:web": "web1"})
        remote, _ = remote_for(fleet)
        hosts = remote.query("A:web", use_sudo=True)
        assert isinstance(hosts, RemoteHosts)
        list(hosts.run_sync("id"))
        assert fleet.executed() == ["sudo -i id"]


class TestReplies:
    """Canned outputs and exit codes."""

    def test_default_success_without_output(self):
        """A command without a reply succeeds with no output."""
        remote, _ = remote_for(Fleet())
        assert outputs(remote.query("h1").run_sync("true")) == {}

    def test_exact_and_pattern_per_host(self):
        """Exact replies, full-match patterns and per-host replies; the first matching reply wins."""
        fleet = (
            Fleet()
            .reply("hostname", "special", on="h2")
            .reply("hostname", "generic")
            .reply(re.compile(r"echo (\w+)"), "echoed")
        )
        remote, _ = remote_for(fleet)
        hosts = remote.query("h[1-3]")
        assert outputs(hosts.run_sync("hostname")) == {"h[1,3]": "generic", "h2": "special"}
        assert outputs(hosts.run_sync("echo hi")) == {"h[1-3]": "echoed"}
        assert outputs(hosts.run_sync("echo hi there")) == {}  # the pattern must match the whole command

    def test_times_then_next_reply(self):
        """A reply limited in times answers that often per host, then the next one applies."""
        fleet = Fleet().reply("check", exit_code=1, times=1).reply("check", "fine")
        remote, _ = remote_for(fleet)
        hosts = remote.query("h1")
        with pytest.raises(RemoteExecutionError):
            hosts.run_sync("check")
        assert outputs(hosts.run_sync("check")) == {"h1": "fine"}

    def test_ok_codes(self):
        """A non-zero exit code listed in the command's ok_codes is a success."""
        remote, _ = remote_for(Fleet().reply("grep x f", exit_code=1))
        assert list(remote.query("h1").run_sync(Command("grep x f", ok_codes=[0, 1]))) == []

    def test_uptime_and_reboot(self):
        """The built-in uptime is a day until reboot-host runs on the host."""
        remote, _ = remote_for(Fleet())
        hosts = remote.query("h[1-2]")
        hosts.get_subset(NodeSet("h1")).reboot()
        uptimes = {str(nodes): seconds for nodes, seconds in hosts.uptime()}
        assert uptimes["h1"] < 60 < 86000 < uptimes["h2"]


class TestFailures:
    """Hosts down, timeouts, and cumin's sync/async modes and thresholds."""

    def test_down_host_raises_with_failed_hosts(self):
        """A host down fails with exit code 255 and is in the error's failed hosts."""
        fleet = Fleet("h[1-3]", down="h2")
        remote, recorder = remote_for(fleet)
        with pytest.raises(RemoteExecutionError) as error:
            remote.query("h[1-3]").run_sync("uname")
        assert error.value.retcode == 2
        assert error.value.failed_hosts == NodeSet("h2")
        assert recorder.plan.lines == ["remote: h[1-3] sync: uname -> failed (exit_code=2): h2 exit 255"]

    def test_timeout_host(self):
        """A timed-out host shows as such in the plan."""
        remote, recorder = remote_for(Fleet().reply("slow", timeout=True, on="h1"))
        with pytest.raises(RemoteExecutionError) as error:
            remote.query("h[1-2]").run_async("slow")
        assert error.value.failed_hosts == NodeSet("h1")
        assert recorder.plan.lines == ["remote: h[1-2] async: slow -> failed (exit_code=2): h1 timeout"]

    def test_threshold_met_still_raises(self):
        """Below 100% but above the threshold cumin exits 1, which Spicerack raises too."""
        remote, _ = remote_for(Fleet(down="h1"))
        with pytest.raises(RemoteExecutionError) as error:
            remote.query("h[1-4]").run_sync("x", success_threshold=0.5)
        assert error.value.retcode == 1

    def test_sync_stops_below_threshold(self):
        """In sync mode a command below the threshold stops the next ones everywhere."""
        fleet = Fleet().reply("first", exit_code=3, on="h[1-2]")
        remote, recorder = remote_for(fleet)
        with pytest.raises(RemoteExecutionError):
            remote.query("h[1-3]").run_sync("first", "second")
        assert fleet.executed() == ["first", "first", "first"]
        assert recorder.plan.lines == [
            "remote: h[1-3] sync: first; second -> failed (exit_code=2): h1 exit 3, h2 exit 3; not run on h3"
        ]

    def test_async_stops_scheduling_after_failures(self):
        """In async mode with batches, no new host starts once too many failed."""
        fleet = Fleet(down="h1")
        remote, recorder = remote_for(fleet)
        with pytest.raises(RemoteExecutionError):
            remote.query("h[1-4]").run_async("a", "b", batch_size=1, batch_sleep=2)
        assert fleet.executed() == ["a"]
        assert recorder.plan.lines == [
            "remote: h[1-4] async batch=1 sleep=2: a; b -> failed (exit_code=2): h1 exit 255; not run on h[2-4]"
        ]

    def test_async_each_host_stops_at_its_failure(self):
        """In async mode each host runs the commands until its own first failure."""
        fleet = Fleet().reply("a", exit_code=1, on="h1")
        remote, _ = remote_for(fleet)
        with pytest.raises(RemoteExecutionError):
            remote.query("h[1-2]").run_async("a", "b")
        assert fleet.executed(on="h1") == ["a"]
        assert fleet.executed(on="h2") == ["a", "b"]


class TestDryRun:
    """The real RemoteHosts' DRY-RUN: only safe commands reach the fleet."""

    def test_unsafe_skipped_safe_run(self):
        """Unsafe commands are recorded as skipped, safe ones run."""
        fleet = Fleet()
        remote, recorder = remote_for(fleet, dry_run=True)
        hosts = remote.query("h[1-2]")
        hosts.run_sync("systemctl restart x", batch_size=1)
        hosts.run_sync("systemctl is-active x", is_safe=True)
        assert fleet.executed() == ["systemctl is-active x", "systemctl is-active x"]
        assert recorder.plan.lines == [
            "remote: h[1-2] sync batch=1: systemctl restart x -> skipped (DRY-RUN)",
            "remote: h[1-2] sync: systemctl is-active x -> ok",
        ]


class TestYaml:
    """The YAML form of a fleet."""

    def test_from_yaml(self, tmp_path):
        """Hosts, queries, down hosts and replies (exact and pattern) load from YAML."""
        path = tmp_path / "fleet.yaml"
        path.write_text(
            "hosts: h[1-3]\n"
            "queries:\n  'A:all': h[1-3]\n"
            "down: [h3]\n"
            "commands:\n"
            "  - command: hostname\n    output: name\n    hosts: h[1-2]\n"
            "  - pattern: 'apt-get .*'\n    exit_code: 100\n    on: h2\n    times: 1\n"
            "dns:\n  - {name: h1.example.org., type: A, values: [10.0.0.1]}\n"
            "conftool:\n  pools/eqiad/web/nginx/h1: {pooled: 'yes'}\n"
            "http:\n  - {method: GET, pattern: 'https://api/.*', status: 201, text: ok, times: 1}\n",
            encoding="utf-8",
        )
        fleet = Fleet.from_yaml(path)
        remote, _ = remote_for(fleet)
        assert fleet.resolve("A:all") == NodeSet("h[1-3]")
        assert fleet.down_hosts == NodeSet("h3")
        assert outputs(remote.query("h[1-2]").run_sync("hostname")) == {"h[1-2]": "name"}
        with pytest.raises(RemoteExecutionError) as error:
            remote.query("h[1-2]").run_sync("apt-get update")
        assert error.value.failed_hosts == NodeSet("h2")
        assert fleet.dns_records == {("h1.example.org", "A"): ["10.0.0.1"]}
        assert fleet.conftool_objects == {"pools/eqiad/web/nginx/h1": {"pooled": "yes"}}
        assert fleet.answer_http("get", "https://api/x") == (201, "ok")
        assert fleet.answer_http("get", "https://api/x")[0] == 404

    @pytest.mark.parametrize(
        "text",
        [
            "hosts: h1\nunknown: 1\n",
            "commands:\n  - output: x\n",
            "commands:\n  - command: a\n    pattern: b\n",
            "- a\n",
            "http:\n  - {url: a, pattern: b}\n",
            "dns:\n  - {name: a}\n",
        ],
    )
    def test_invalid(self, text):
        """Unknown keys, a reply without (or with both) command and pattern, or a non-mapping raise."""
        with pytest.raises(FleetError):
            Fleet.from_yaml(text)


class TestConftoolDriver:
    """The in-memory conftool driver on the fleet's objects."""

    @pytest.fixture
    def driver(self):
        """A driver on two pooled nodes, and its recorder."""
        from conftool import configuration

        from spicerack.testing._conftool import FleetConftoolDriver

        fleet = Fleet().conftool("pools/eqiad/web/nginx/web1", pooled="yes").conftool("pools/eqiad/web/nginx/web2")
        recorder = Recorder()
        return FleetConftoolDriver(configuration.Config(), fleet, recorder), fleet, recorder

    def test_reads(self, driver):
        """Reads by relative or absolute key, directories, listings."""
        drv, _, _ = driver
        assert drv.read("pools/eqiad/web/nginx/web1").data == {"pooled": "yes"}
        assert drv.read("/conftool/v1/pools/eqiad/web/nginx/web1").data == {"pooled": "yes"}
        assert drv.read("pools/eqiad") is None
        assert drv.is_dir("pools/eqiad/web") and not drv.is_dir("pools/eqiad/web/nginx/web1")
        assert [name for name, value in drv.ls("pools/eqiad/web/nginx")] == ["web1", "web2"]
        assert drv.ls("pools") == [("eqiad", None)]
        assert drv.all_keys("pools/eqiad") == [["web", "nginx", "web1"], ["web", "nginx", "web2"]]
        assert drv.all_data("pools/eqiad/web/nginx") == [("web1", {"pooled": "yes"}), ("web2", {})]

    def test_writes_recorded(self, driver):
        """Writes merge and record only what changed; compare-and-swap and deletions check the current state."""
        from conftool import drivers

        drv, fleet, recorder = driver
        drv.write("pools/eqiad/web/nginx/web1", {"pooled": "no", "weight": 1})
        drv.write("pools/eqiad/web/nginx/web1", {"pooled": "no", "weight": 2})
        with pytest.raises(drivers.ConflictError):
            drv.compare_and_swap("pools/eqiad/web/nginx/web2", {"a": 1})
        with pytest.raises(drivers.NotFoundError):
            drv.compare_and_swap("pools/x", {"a": 1}, drv.read("pools/eqiad/web/nginx/web2"))
        drv.compare_and_swap("pools/x", {"a": 1})
        drv.delete("pools/x")
        with pytest.raises(drivers.NotFoundError):
            drv.read("pools/x")
        assert fleet.conftool_objects["pools/eqiad/web/nginx/web1"] == {"pooled": "no", "weight": 2}
        assert recorder.plan.lines == [
            'conftool: pools/eqiad/web/nginx/web1 pooled="no" weight=1 -> ok',
            "conftool: pools/eqiad/web/nginx/web1 weight=2 -> ok",
            "conftool: pools/x a=1 -> ok",
            "conftool: delete pools/x -> ok",
        ]
