"""spicerack.testing's runs: prompts, child cookbooks, retries, network isolation, class objects, snapshots."""

import importlib
import json
import socket
import textwrap
import time

import pytest

from spicerack.cookbook import EXCEPTION_RETCODE
from spicerack.testing import Fleet, Plan, PlanMismatchError, check_snapshot, run_cookbook

pytest_plugins = ["pytester"]

RESTART = '''
    """Restart a service on hosts, one at a time, after a confirmation; check it; roll back by starting it."""
    import argparse
    import socket
    from datetime import timedelta

    from wmflib.interactive import ask_confirmation, ensure_shell_is_durable

    from spicerack.cookbook import CookbookBase, CookbookRunnerBase, LockArgs
    from spicerack.decorators import retry
    from spicerack.remote import RemoteError


    class Restart(CookbookBase):
        def argument_parser(self):
            parser = super().argument_parser()
            parser.add_argument("query")
            parser.add_argument("--service", default="nginx")
            parser.add_argument("--lookup", action="store_true")
            return parser

        def get_runner(self, args):
            ensure_shell_is_durable()
            return RestartRunner(args, self.spicerack)


    class RestartRunner(CookbookRunnerBase):
        def __init__(self, args, spicerack):
            self.args = args
            self.spicerack = spicerack
            self.hosts = spicerack.remote().query(args.query)

        @property
        def runtime_description(self):
            return f"{self.args.service} on {self.hosts}"

        @property
        def lock_args(self):
            return LockArgs(suffix=self.args.service, concurrency=1, ttl=300)

        def run(self):
            if self.args.lookup:
                socket.getaddrinfo("netbox.example.org", 443)
            ask_confirmation(f"Restart {self.args.service} on {self.hosts}?")
            with self.spicerack.lock().acquired(f"restart-{self.args.service}", concurrency=2, ttl=60):
                self.hosts.run_async(f"systemctl restart {self.args.service}", batch_size=1, batch_sleep=5)
            self.check()
            self.spicerack.irc_logger.info("restarted %s", self.args.service)
            return self.spicerack.run_cookbook("demo.notify", ["--code", "0", self.args.service])

        @retry(tries=3, delay=timedelta(seconds=2), backoff_mode="constant", exceptions=(RemoteError,))
        def check(self):
            self.hosts.run_sync(f"systemctl is-active {self.args.service}", is_safe=True, print_output=False)

        def rollback(self):
            self.hosts.run_sync(f"systemctl start {self.args.service}")
'''

NOTIFY = '''
    """Log a line to SAL and exit with the given code (module API)."""
    import argparse

    def argument_parser():
        parser = argparse.ArgumentParser()
        parser.add_argument("--code", type=int, default=0)
        parser.add_argument("what")
        return parser

    def run(args, spicerack):
        spicerack.sal_logger.info("notified about %s", args.what)
        return args.code
'''

DOWNTIME = '''
    """Upgrade hosts to the version an API reports, downtimed on Icinga and Alertmanager meanwhile."""
    from datetime import timedelta

    from spicerack.cookbook import CookbookBase, CookbookRunnerBase


    class Downtime(CookbookBase):
        def argument_parser(self):
            parser = super().argument_parser()
            parser.add_argument("query")
            return parser

        def get_runner(self, args):
            return DowntimeRunner(self.spicerack.remote().query(args.query), self.spicerack)


    class DowntimeRunner(CookbookRunnerBase):
        def __init__(self, hosts, spicerack):
            self.hosts = hosts
            self.spicerack = spicerack
            self.reason = spicerack.admin_reason("upgrade")

        def run(self):
            response = self.spicerack.requests_session("demo").get("https://api.example.org/version")
            response.raise_for_status()
            version = response.json()["version"]
            with self.spicerack.alerting_hosts(self.hosts.hosts).downtimed(self.reason, duration=timedelta(minutes=30)):
                self.hosts.run_sync(f"upgrade --to {version}")
'''

REBOOT = '''
    """Reboot hosts, wait for them and for Puppet, and comment on the task (module API)."""
    import argparse
    from datetime import datetime, timezone

    def argument_parser():
        parser = argparse.ArgumentParser()
        parser.add_argument("query")
        parser.add_argument("--task-id", default="")
        return parser

    def run(args, spicerack):
        hosts = spicerack.remote().query(args.query)
        since = datetime.now(timezone.utc)
        hosts.reboot(batch_size=1)
        hosts.wait_reboot_since(since)
        spicerack.puppet(hosts).wait_since(since)
        spicerack.phabricator("/etc/bot.conf").task_comment(args.task_id, f"Rebooted {hosts}")
'''

DEPLOY = '''
    """Lock deployments on the deployment host, found by its CNAME (module API)."""

    def run(args, spicerack):
        host = spicerack.remote().query(spicerack.dns().resolve_cname("deployment.example.org"))
        host.run_sync("scap lock --all")
'''

DEPOOL = '''
    """Restart nginx on hosts depooled from it, one at a time (module API)."""
    import argparse

    def argument_parser():
        parser = argparse.ArgumentParser()
        parser.add_argument("cluster")
        return parser

    def run(args, spicerack):
        node = spicerack.confctl("node")
        cluster = spicerack.remote().query_confctl(node, cluster=args.cluster, service="nginx")
        cluster.restart_services(["nginx"], ["nginx"], batch_size=1)
'''

QUIET = '''
    """Clear the SAL logger's handlers, then log to it (module API)."""

    def run(args, spicerack):
        spicerack.irc_logger.info("relays=%d", len(spicerack.sal_logger.handlers))
        spicerack.sal_logger.handlers.clear()
        spicerack.sal_logger.info("quiet")
'''

CONNECT = '''
    """Open a socket to a remote address (module API)."""
    import socket

    def run(args, spicerack):
        socket.socket().connect(("192.0.2.1", 80))
'''


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A cookbook tree with a class-API cookbook using most of the accessor, and a module-API child."""
    base = tmp_path_factory.mktemp("tree")
    (base / "cookbooks" / "demo").mkdir(parents=True)
    (base / "cookbooks" / "__init__.py").write_text("", encoding="utf-8")
    (base / "cookbooks" / "demo" / "__init__.py").write_text('"""Demo cookbooks."""\n', encoding="utf-8")
    (base / "cookbooks" / "demo" / "restart.py").write_text(textwrap.dedent(RESTART), encoding="utf-8")
    (base / "cookbooks" / "demo" / "notify.py").write_text(textwrap.dedent(NOTIFY), encoding="utf-8")
    (base / "cookbooks" / "demo" / "downtime.py").write_text(textwrap.dedent(DOWNTIME), encoding="utf-8")
    (base / "cookbooks" / "demo" / "reboot.py").write_text(textwrap.dedent(REBOOT), encoding="utf-8")
    (base / "cookbooks" / "demo" / "deploy.py").write_text(textwrap.dedent(DEPLOY), encoding="utf-8")
    (base / "cookbooks" / "demo" / "depool.py").write_text(textwrap.dedent(DEPOOL), encoding="utf-8")
    (base / "cookbooks" / "demo" / "quiet.py").write_text(textwrap.dedent(QUIET), encoding="utf-8")
    (base / "cookbooks" / "demo" / "connect.py").write_text(textwrap.dedent(CONNECT), encoding="utf-8")
    return base


@pytest.fixture
def fleet():
    """Two web servers."""
    return Fleet("web[1-2]", queries={"A:web": "web[1-2]"})


def test_full_plan(tree, fleet):
    """Every kind of action, in order, with the child's actions nested; prompts answered from the list."""
    result = run_cookbook("demo.restart", ["A:web"], fleet=fleet, dry_run=False, cookbooks_dir=tree, answers=["go"])
    assert result.exit_code == 0
    assert result.plan == [
        "lock: cookbooks/demo.restart:nginx concurrency=1 ttl=300",
        "sal: START - Cookbook demo.restart nginx on web[1-2]",
        "prompt: Restart nginx on web[1-2]? -> go",
        "lock: custom/restart-nginx concurrency=2 ttl=60",
        "remote: web[1-2] async batch=1 sleep=5: systemctl restart nginx -> ok",
        "remote: web[1-2] sync: systemctl is-active nginx -> ok",
        "irc: restarted nginx",
        "cookbook: demo.notify --code 0 nginx",
        "  lock: cookbooks/demo.notify concurrency=20 ttl=1800",
        "  sal: START - Cookbook demo.notify",
        "  sal: notified about nginx",
        "  sal: END (PASS) - Cookbook demo.notify (exit_code=0)",
        "end: demo.notify exit_code=0",
        "sal: END (PASS) - Cookbook demo.restart (exit_code=0) nginx on web[1-2]",
        "exit_code: 0",
    ]
    assert result.plan.cookbooks() == [("demo.notify", ["--code", "0", "nginx"], 0)]
    assert result.plan.prompts() == [("Restart nginx on web[1-2]?", "go")]
    assert result.plan.locks() == ["cookbooks/demo.restart:nginx", "custom/restart-nginx", "cookbooks/demo.notify"]
    assert result.plan.sal()[2] == "notified about nginx"
    assert result.plan.irc() == ["restarted nginx"]
    assert result.fleet.executed(on="web1") == ["systemctl restart nginx", "systemctl is-active nginx"]


def test_dry_run_skips_changes(tree, fleet):
    """In DRY-RUN the restart is only planned; the safe check runs."""
    result = run_cookbook("demo.restart", ["A:web"], fleet=fleet, cookbooks_dir=tree, answers=["go"])
    assert result.exit_code == 0
    assert result.plan.commands(executed=False) == ["systemctl restart nginx"]
    assert result.plan.commands(executed=True) == ["systemctl is-active nginx"]
    assert fleet.executed() == ["systemctl is-active nginx"] * 2


def test_abort_at_prompt(tree, fleet):
    """An ``abort`` answer raises in the cookbook: exit code 99, rollback, nothing restarted."""
    result = run_cookbook("demo.restart", ["A:web"], fleet=fleet, dry_run=False, cookbooks_dir=tree, answers=["abort"])
    assert result.exit_code == EXCEPTION_RETCODE
    assert result.plan.lines[2:5] == [
        "prompt: Restart nginx on web[1-2]? -> abort",
        "rollback: demo.restart",
        "remote: web[1-2] sync: systemctl start nginx -> ok",
    ]


def test_no_answer_left(tree, fleet):
    """A prompt without an answer left is recorded once and fails the run."""
    result = run_cookbook("demo.restart", ["A:web"], fleet=fleet, cookbooks_dir=tree)
    assert result.plan.prompts() == [("Restart nginx on web[1-2]?", None)]
    assert result.exit_code == EXCEPTION_RETCODE


def test_retries_then_failure_and_rollback(tree, fleet):
    """A check failing on one host is retried with its sleeps, then fails: rollback and exit code 99."""
    fleet.reply("systemctl is-active nginx", "failed", exit_code=3, on="web2")
    result = run_cookbook("demo.restart", ["A:web"], fleet=fleet, dry_run=False, cookbooks_dir=tree, answers=["go"])
    assert result.exit_code == EXCEPTION_RETCODE
    check = "remote: web[1-2] sync: systemctl is-active nginx -> failed (exit_code=2): web2 exit 3"
    assert result.plan.lines[4:12] == [
        "remote: web[1-2] async batch=1 sleep=5: systemctl restart nginx -> ok",
        check,
        "sleep: 2s",
        check,
        "sleep: 2s",
        check,
        "rollback: demo.restart",
        "remote: web[1-2] sync: systemctl start nginx -> ok",
    ]
    assert result.plan.sleeps() == [2.0, 2.0]


def test_retry_succeeds(tree, fleet):
    """A check failing once is retried and passes."""
    fleet.reply("systemctl is-active nginx", exit_code=3, on="web1", times=1)
    result = run_cookbook("demo.restart", ["A:web"], fleet=fleet, dry_run=False, cookbooks_dir=tree, answers=["go"])
    assert result.exit_code == 0
    assert result.plan.sleeps() == [2.0]


def test_restart_fails_on_one_host(tree, fleet):
    """The restart failing on the first host stops the batch; the rest never starts."""
    fleet.reply("systemctl restart nginx", exit_code=1, on="web1")
    result = run_cookbook("demo.restart", ["A:web"], fleet=fleet, dry_run=False, cookbooks_dir=tree, answers=["go"])
    assert result.exit_code == EXCEPTION_RETCODE
    assert (
        "remote: web[1-2] async batch=1 sleep=5: systemctl restart nginx -> failed (exit_code=2): web1 exit 1; "
        "not run on web2" in result.plan.lines
    )
    assert fleet.executed(on="web2") == ["systemctl start nginx"]


def test_network_blocked(tree, fleet):
    """A name lookup of a remote host is blocked and recorded."""
    args = ["A:web", "--lookup"]
    result = run_cookbook("demo.restart", args, fleet=fleet, cookbooks_dir=tree, answers=["go"])
    assert result.exit_code == EXCEPTION_RETCODE
    assert "network: blocked netbox.example.org:443" in result.plan.lines


def test_socket_blocked(tree):
    """A connection to a non-loopback address is blocked and recorded."""
    result = run_cookbook("demo.connect", cookbooks_dir=tree)
    assert result.exit_code == EXCEPTION_RETCODE
    assert result.plan.of_kind("network")[0].details == "blocked 192.0.2.1:80"


class TestClients:
    """HTTP answered by the fleet, the simulated Icinga and Alertmanager, configuration files."""

    @pytest.fixture
    def api_fleet(self, fleet):
        """The web fleet with the version API."""
        return fleet.http("GET", "https://api.example.org/version", json={"version": "1.2"})

    def test_downtimed_upgrade(self, tree, api_fleet, plan_snapshot):
        """Icinga downtimes go through the master's commands, Alertmanager silences through HTTP; both removed."""
        result = run_cookbook("demo.downtime", ["A:web"], fleet=api_fleet, dry_run=False, cookbooks_dir=tree)
        assert result.exit_code == 0
        assert result.plan.http() == [
            ("GET", "https://api.example.org/version", 200),
            ("POST", "https://alertmanager.example.org/api/v2/silences", 200),
            ("DELETE", "https://alertmanager.example.org/api/v2/silence/testing-silence-1", 200),
        ]
        assert api_fleet.icinga_downtimed == set()
        assert api_fleet.alertmanager_silences == set()
        assert api_fleet.executed(on="web1") == ["upgrade --to 1.2"]
        plan_snapshot(result, "testing.demo.downtime")

    def test_dry_run_reads_only(self, tree, api_fleet):
        """In DRY-RUN the clients skip their writes, shown as skipped: only the reads reach the fleet."""
        result = run_cookbook("demo.downtime", ["A:web"], fleet=api_fleet, cookbooks_dir=tree)
        assert result.exit_code == 0
        assert result.plan.http() == [
            ("GET", "https://api.example.org/version", 200),
            ("POST", "https://alertmanager.example.org/api/v2/silences", None),
            ("DELETE", "https://alertmanager.example.org/api/v2/silence/", None),
        ]
        assert result.plan.of_kind("dry-run")[0].details.startswith("Would have created a silence for 0:30:00")
        status = '/usr/local/bin/icinga-status -j "web[1-2]"'
        grep = r"grep -P '\s*command_file\s*=.+' /etc/icinga/icinga.cfg"
        assert result.plan.commands(executed=True) == [grep, status, status]

    def test_api_error_500(self, tree, fleet):
        """An API answering 500 makes the cookbook raise before any downtime."""
        fleet.http("GET", "https://api.example.org/version", status=500, text="boom")
        result = run_cookbook("demo.downtime", ["A:web"], fleet=fleet, dry_run=False, cookbooks_dir=tree)
        assert result.exit_code == EXCEPTION_RETCODE
        assert result.plan.lines[2:4] == ["http: GET https://api.example.org/version -> 500", "rollback: demo.downtime"]

    def test_icinga_unknown_host(self, tree, api_fleet):
        """A host unknown to Icinga fails the downtime: nothing downtimed, the upgrade never runs."""
        api_fleet.icinga_unknown.add("web2")
        result = run_cookbook("demo.downtime", ["A:web"], fleet=api_fleet, dry_run=False, cookbooks_dir=tree)
        assert result.exit_code == EXCEPTION_RETCODE
        assert "upgrade --to 1.2" not in result.plan.commands()
        assert any(line.startswith("ERROR IcingaError") and "web2" in line for line in result.logs)

    def test_config_files(self, tree, api_fleet):
        """The configuration files of a run replace the defaults: another Alertmanager and Icinga master."""
        config = {
            "alertmanager/config.yaml": {"default_instance": "x", "instances": {"x": {"urls": ["http://am.test"]}}},
            "icinga/config.yaml": "master_host: alert2.example.org\n",
        }
        result = run_cookbook(
            "demo.downtime", ["A:web"], fleet=api_fleet, dry_run=False, cookbooks_dir=tree, config=config
        )
        assert result.exit_code == 0
        assert result.plan.http(method="POST") == [("POST", "http://am.test/api/v2/silences", 200)]
        assert result.plan.remote(on="alert2.example.org")

    def test_reboot_puppet_phabricator(self, tree, fleet):
        """Rebooted hosts answer a fresh uptime, Puppet ran just now, the Phabricator API accepts the comment."""
        args = ["A:web", "--task-id", "T1"]
        result = run_cookbook("demo.reboot", args, fleet=fleet, dry_run=False, cookbooks_dir=tree)
        assert result.exit_code == 0
        assert set(fleet.boot_times) == {"web1", "web2"}
        assert result.plan.lines[2] == "remote: web[1-2] sync batch=1 sleep=180: reboot-host [timeout=30] -> ok"
        assert result.plan.http() == [("POST", "https://phabricator.example.org/api/maniphest.edit", 200)]

    def test_reboot_never_comes_back(self, tree, fleet):
        """A host down after the reboot is polled until the retries run out, without waiting: exit code 99."""
        fleet.reply("reboot-host", on="web2").reply("cat /proc/uptime", on="web2", timeout=True)
        result = run_cookbook("demo.reboot", ["A:web"], fleet=fleet, dry_run=False, cookbooks_dir=tree)
        assert result.exit_code == EXCEPTION_RETCODE
        assert len(result.plan.sleeps()) == 239
        assert result.plan.lines[-5:-1] == [
            "sleep: 10s",
            "remote: web[1-2] sync: cat /proc/uptime [timeout=10] -> failed (exit_code=2): web2 timeout",
            "rollback: demo.reboot",
            "sal: END (FAIL) - Cookbook demo.reboot (exit_code=99)",
        ]

    def test_dns(self, tree):
        """DNS lookups are answered from the fleet's records and recorded; undescribed names do not exist."""
        fleet = Fleet().dns("deployment.example.org", "CNAME", "deploy1.example.org.")
        result = run_cookbook("demo.deploy", fleet=fleet, dry_run=False, cookbooks_dir=tree)
        assert result.exit_code == 0
        assert result.plan.lines[2:4] == [
            "dns: CNAME deployment.example.org -> deploy1.example.org.",
            "remote: deploy1.example.org sync: scap lock --all -> ok",
        ]
        result = run_cookbook("demo.deploy", dry_run=False, cookbooks_dir=tree)
        assert result.exit_code == EXCEPTION_RETCODE
        assert result.plan.lines[2] == "dns: CNAME deployment.example.org -> NXDOMAIN"

    @pytest.fixture
    def pooled_fleet(self, fleet):
        """The web servers pooled in conftool."""
        for host in ("web1", "web2"):
            fleet.conftool(f"pools/eqiad/web/nginx/{host}", pooled="yes", weight=10)
        return fleet

    def test_conftool_depool_restart_repool(self, tree, pooled_fleet, plan_snapshot):
        """Each host is depooled, restarted and repooled in turn: the conftool writes are in the plan."""
        result = run_cookbook("demo.depool", ["web"], fleet=pooled_fleet, dry_run=False, cookbooks_dir=tree)
        assert result.exit_code == 0
        assert result.plan.conftool() == [
            ("pools/eqiad/web/nginx/web1", {"pooled": "no"}),
            ("pools/eqiad/web/nginx/web1", {"pooled": "yes"}),
            ("pools/eqiad/web/nginx/web2", {"pooled": "no"}),
            ("pools/eqiad/web/nginx/web2", {"pooled": "yes"}),
        ]
        assert pooled_fleet.conftool_objects["pools/eqiad/web/nginx/web2"] == {"pooled": "yes", "weight": 10}
        plan_snapshot(result, "testing.demo.depool")

    def test_conftool_dry_run(self, tree, pooled_fleet):
        """In DRY-RUN the writes are shown as skipped and the objects stay as they were."""
        result = run_cookbook("demo.depool", ["web"], fleet=pooled_fleet, cookbooks_dir=tree)
        assert result.exit_code == 0
        assert result.plan.conftool(executed=True) == []
        assert len(result.plan.conftool(executed=False)) == 4
        assert result.plan.lines[2] == 'conftool: pools/eqiad/web/nginx/web1 pooled="no" -> skipped (DRY-RUN)'

    def test_normalized_lines(self):
        """Times and dates are normalized in the lines, not in the data."""
        from spicerack.testing import Action

        plan = Plan([Action("sal", "at 2024-05-01T10:00:00+00:00, [1714557600] done")])
        assert plan.lines == ["sal: at <datetime>, [<epoch>] done"]
        assert plan.sal() == ["at 2024-05-01T10:00:00+00:00, [1714557600] done"]


def test_sal_captured_when_handlers_are_cleared(tree):
    """SAL lines are recorded even when the cookbook clears the SAL logger's handlers (as some real cookbooks do)."""
    result = run_cookbook("demo.quiet", cookbooks_dir=tree, dry_run=False)
    assert result.plan.sal() == [
        "START - Cookbook demo.quiet",
        "quiet",
        "END (PASS) - Cookbook demo.quiet (exit_code=0)",
    ]


@pytest.mark.parametrize(("dry_run", "relays"), [(True, "relays=0"), (False, "relays=1")])
def test_irc_relay_stand_in(tree, dry_run, relays):
    """Outside DRY-RUN the SAL logger has a handler standing for the IRC relay, as with ``cookbook``."""
    assert run_cookbook("demo.quiet", cookbooks_dir=tree, dry_run=dry_run).plan.irc() == [relays]


def test_child_failure(tree):
    """A child's exit code is in the plan and returned to the caller."""
    result = run_cookbook("demo.notify", ["--code", "3", "x"], cookbooks_dir=tree)
    assert result.exit_code == 3
    assert result.plan.lines[-2:] == ["sal: END (FAIL) - Cookbook demo.notify (exit_code=3)", "exit_code: 3"]


def test_class_object(tree, fleet):
    """A cookbook class given as an object runs with its name from its module."""
    run_cookbook("demo.notify", ["x"], cookbooks_dir=tree)  # puts the tree first on sys.path, as the runner does
    restart = importlib.import_module("cookbooks.demo.restart")

    result = run_cookbook(restart.Restart, ["A:web"], fleet=fleet, cookbooks_dir=tree, answers=["go"])
    assert result.exit_code == 0
    assert result.plan.lines[0] == "lock: cookbooks/demo.restart:nginx concurrency=1 ttl=300"


def test_no_locks(tree):
    """With locks=False the locks are still recorded, none is taken."""
    result = run_cookbook("demo.notify", ["x"], cookbooks_dir=tree, locks=False, dry_run=False)
    assert result.plan.locks() == ["cookbooks/demo.notify"]


def test_isolation_restored(tree, fleet):
    """After a run, sleeping and name lookups are the real ones again."""
    before = (time.sleep, socket.getaddrinfo)
    run_cookbook("demo.restart", ["A:web"], fleet=fleet, cookbooks_dir=tree, answers=["go"])
    assert (time.sleep, socket.getaddrinfo) == before


class TestSnapshot:
    """Snapshot files of plans."""

    def test_match_and_mismatch(self, tmp_path):
        """A matching file passes; a different one fails with a unified diff; a missing one says how to create it."""
        plan = run_cookbook("demo.notify", ["x"], cookbooks_dir=tmp_path).plan
        path = tmp_path / "plans" / "p.txt"
        with pytest.raises(PlanMismatchError, match="--update-plans"):
            check_snapshot(plan, path)
        check_snapshot(plan, path, update=True)
        assert path.read_text(encoding="utf-8") == plan.text
        check_snapshot(plan, path)
        path.write_text("exit_code: 0\n", encoding="utf-8")
        with pytest.raises(
            PlanMismatchError, match=r"(?s)--- .*p\.txt\n\+\+\+ actual\n@@ .*\n-exit_code: 0\n\+exit_code: 98"
        ):
            check_snapshot(plan, path)

    def test_as_data(self, tree, fleet):
        """The plan as JSON-serializable data, one mapping per action with its kind's fields."""
        result = run_cookbook("demo.restart", ["A:web"], fleet=fleet, cookbooks_dir=tree, answers=["go"])
        data = json.loads(json.dumps(result.plan.as_data()))
        assert data[4] == {
            "kind": "remote",
            "depth": 0,
            "details": "web[1-2] async batch=1 sleep=5: systemctl restart nginx -> skipped (DRY-RUN)",
            "hosts": "web[1-2]",
            "mode": "async",
            "commands": ["systemctl restart nginx"],
            "batch_size": 1,
            "batch_sleep": 5.0,
            "success_threshold": 1.0,
            "executed": False,
            "return_code": None,
            "failed_hosts": "",
        }
        assert data[2] == {
            "kind": "prompt",
            "depth": 0,
            "details": "Restart nginx on web[1-2]? -> go",
            "message": "Restart nginx on web[1-2]?",
            "answer": "go",
        }
        assert data[-1] == {"kind": "exit_code", "depth": 0, "details": "0", "code": 0}

    def test_plan_equality(self):
        """A plan equals its lines, its text, or an equal plan; the indentation of children counts."""
        plan = Plan()
        assert plan == [] and plan == "" and plan == Plan()
        assert plan != ["exit_code: 0"]

    def test_plugin(self, pytester):
        """The plugin's fixture fails on a changed plan, and --update-plans rewrites the file."""
        pytester.makepyfile(
            test_plan="""
            from spicerack.testing import run_cookbook

            def test_missing(plan_snapshot, tmp_path):
                plan_snapshot(run_cookbook("nothing", cookbooks_dir=tmp_path), "missing")
            """
        )
        pytester.makefile(".txt", **{"tests/plans/missing": "exit_code: 0\n"})
        pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(failed=1)
        pytester.runpytest("--update-plans").assert_outcomes(passed=1)
        assert (pytester.path / "tests" / "plans" / "missing.txt").read_text(encoding="utf-8") == "exit_code: 98\n"
        pytester.runpytest().assert_outcomes(passed=1)

    def test_plugin_default_name(self, pytester):
        """Without a name, the snapshot file is named after the test module and the test, parameters included."""
        pytester.makepyfile(
            test_named="""
            import pytest
            from spicerack.testing import run_cookbook

            @pytest.mark.parametrize("dry_run", [True, False])
            def test_run(plan_snapshot, tmp_path, dry_run):
                plan_snapshot(run_cookbook("nothing", cookbooks_dir=tmp_path, dry_run=dry_run))
            """
        )
        pytester.runpytest("--update-plans").assert_outcomes(passed=2)
        assert sorted(path.name for path in (pytester.path / "tests" / "plans").iterdir()) == [
            "test_named.test_run_False.txt",
            "test_named.test_run_True.txt",
        ]

    def test_assert_diff(self, pytester):
        """A failed ``assert plan == [...]`` shows the line diff."""
        pytester.makepyfile(
            test_plan="""
            from spicerack.testing import run_cookbook

            def test_plan(tmp_path):
                assert run_cookbook("nothing", cookbooks_dir=tmp_path).plan == ["exit_code: 0"]
            """
        )
        result = pytester.runpytest()
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(
            ["*the plan differs from the expected lines:*", "*-exit_code: 0", "*+exit_code: 98"]
        )
