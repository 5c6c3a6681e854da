"""The bundled example cookbooks, tested with the harness (spicerack.testing) against snapshot plans."""

import importlib
from pathlib import Path

import pytest

from spicerack.cookbook import CLASS_FAIL_INIT_RETCODE, EXCEPTION_RETCODE, NOT_FOUND_RETCODE
from spicerack.testing import Fleet, run_cookbook

TREE = Path(__file__).resolve().parents[2]  # the repository, holding the bundled cookbooks/ tree


@pytest.fixture
def web_fleet():
    """Three web servers selected by a cumin alias, with a known uptime."""
    fleet = Fleet("web[1-3].example.org", queries={"A:web": "web[1-3].example.org"})
    return fleet.reply("cat /proc/uptime", "3600.00 14400.00")


@pytest.mark.parametrize("dry_run", [True, False])
def test_hello(plan_snapshot, dry_run):
    """The greeting goes to SAL only outside DRY-RUN."""
    result = run_cookbook("examples.hello", ["--name", "Ada"], dry_run=dry_run, cookbooks_dir=TREE)
    assert result.exit_code == 0
    assert ("cookbook-tester greeted Ada" in result.plan.sal()) is not dry_run
    plan_snapshot(result, f"examples.hello{'-dry-run' if dry_run else ''}")


def test_hello_module_object():
    """A module-API cookbook given as a module object runs as from the tree."""
    run_cookbook("examples.hello", cookbooks_dir=TREE)  # puts the tree first on sys.path, as the runner does
    hello = importlib.import_module("cookbooks.examples.hello")

    result = run_cookbook(hello, ["--name", "Ada"], dry_run=False, cookbooks_dir=TREE)
    assert result.plan.sal()[1] == "cookbook-tester greeted Ada"


def test_maintenance_dry_run(plan_snapshot, tmp_path):
    """In DRY-RUN nothing is written and the lock is the per-state-file one."""
    state = tmp_path / "state.txt"
    result = run_cookbook("examples.maintenance", ["a", "b", "--state-file", str(state)], cookbooks_dir=TREE)
    assert result.exit_code == 0
    assert not state.exists()
    assert result.plan.locks() == ["cookbooks/examples.maintenance:state.txt"]
    plan_snapshot(result, "examples.maintenance-dry-run")


def test_maintenance_failure_rolls_back(plan_snapshot, tmp_path):
    """A failure at the second item exits 1, and the rollback clears the first item's mark."""
    state = tmp_path / "state.txt"
    args = ["a", "b", "c", "--state-file", str(state), "--fail-at", "b"]
    result = run_cookbook("examples.maintenance", args, dry_run=False, cookbooks_dir=TREE)
    assert result.exit_code == 1
    assert state.read_text(encoding="utf-8") == ""
    assert "WARNING Rolling back the marks on: a" in result.logs
    plan_snapshot(result, "examples.maintenance-rollback")


def test_maintenance_bad_arguments():
    """An item given twice fails in get_runner(): nothing runs, no lock, the runner's init exit code."""
    result = run_cookbook("examples.maintenance", ["a", "a"], cookbooks_dir=TREE)
    assert result.plan == [f"exit_code: {CLASS_FAIL_INIT_RETCODE}"]


def test_uptime(plan_snapshot, web_fleet):
    """The uptime command is read-only: it runs in DRY-RUN on every host of the query."""
    result = run_cookbook("sre.hosts.uptime", ["A:web"], fleet=web_fleet, cookbooks_dir=TREE)
    assert result.exit_code == 0
    assert result.plan.commands(on="web2.example.org", executed=True) == ["cat /proc/uptime"]
    assert "INFO web[1-3].example.org: up 3600 seconds" in result.logs
    plan_snapshot(result, "sre.hosts.uptime")


def test_uptime_host_down_dry_run(plan_snapshot, web_fleet):
    """In DRY-RUN a failure is only logged: the cookbook goes on with the hosts that answered."""
    web_fleet.down("web3.example.org")
    result = run_cookbook("sre.hosts.uptime", ["A:web"], fleet=web_fleet, cookbooks_dir=TREE)
    assert result.exit_code == 0
    assert "INFO web[1-2].example.org: up 3600 seconds" in result.logs
    plan_snapshot(result, "sre.hosts.uptime-down-dry-run")


def test_uptime_host_down(plan_snapshot, web_fleet):
    """Outside DRY-RUN a host down makes the cookbook raise: exit code 99 and the rollback is called."""
    web_fleet.down("web3.example.org")
    result = run_cookbook("sre.hosts.uptime", ["A:web"], fleet=web_fleet, dry_run=False, cookbooks_dir=TREE)
    assert result.exit_code == EXCEPTION_RETCODE
    assert result.plan.of_kind("rollback")[0].details == "sre.hosts.uptime"
    plan_snapshot(result, "sre.hosts.uptime-down")


def test_uptime_nodeset_query(web_fleet):
    """A query in nodeset syntax selects the known hosts it names."""
    result = run_cookbook("sre.hosts.uptime", ["web[2-5].example.org"], fleet=web_fleet, cookbooks_dir=TREE)
    assert result.plan.remote()[0].hosts == web_fleet.resolve("web[2-3].example.org")


def test_unknown_query_fails_in_get_runner(web_fleet):
    """A query the fleet does not describe fails like a failing cumin query: in get_runner()."""
    result = run_cookbook("sre.hosts.uptime", ["A:db and not A:web"], fleet=web_fleet, cookbooks_dir=TREE)
    assert result.exit_code == CLASS_FAIL_INIT_RETCODE
    assert any("Failed to execute Cumin query 'A:db and not A:web'" in line for line in result.logs)


def test_not_found():
    """A missing cookbook exits with the runner's not-found code."""
    result = run_cookbook("examples.nothing", cookbooks_dir=TREE)
    assert result.exit_code == NOT_FOUND_RETCODE


def test_args_must_be_a_sequence():
    """A string of arguments is refused: argparse would take each character as an argument."""
    with pytest.raises(TypeError, match="sequence of strings"):
        run_cookbook("examples.hello", "--name Ada", cookbooks_dir=TREE)


def test_file_path_name():
    """A cookbook given by its file path runs as by its dotted name, as with the cookbook command."""
    result = run_cookbook("examples/hello.py", ["--name", "Ada"], cookbooks_dir=TREE)
    assert result.plan.sal()[0] == "START - Cookbook examples.hello"
