"""python -m spicerack.testing.plan: a real DRY-RUN run with the real configuration, then its plan."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from cumin import NodeSet
from cumin.transports import HostState, Target

from spicerack.testing._live import RecordingWorker
from spicerack.testing._plan import Recorder
from spicerack.testing.plan import PLAN_HEADER

TREE = Path(__file__).resolve().parents[2]  # the repository, holding the bundled cookbooks/ tree


@pytest.fixture
def config(tmp_path):
    """A configuration on the bundled tree, with local locks and a cumin whose SSH reaches nothing (port 1)."""
    cumin = tmp_path / "cumin.yaml"
    ssh_options = ["-o BatchMode=yes", "-o ConnectTimeout=5", "-p 1", "-F /dev/null"]
    cumin.write_text(
        yaml.safe_dump(
            {"transport": "clustershell", "default_backend": "direct", "clustershell": {"ssh_options": ssh_options}}
        ),
        encoding="utf-8",
    )
    path = tmp_path / "config.yaml"
    config = {
        "cookbooks_base_dirs": [str(TREE)],
        "logs_base_dir": str(tmp_path / "logs"),
        "instance_params": {"etcd_config": None, "cumin_config": str(cumin), "spicerack_config_dir": str(tmp_path)},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def plan_of(config, *args, as_json=False):
    """Run the plan command; return its exit code and the lines after the plan header."""
    options = ["--json"] if as_json else []
    command = [sys.executable, "-m", "spicerack.testing.plan", *options, "-c", str(config), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert PLAN_HEADER in result.stdout, result.stderr
    return result.returncode, result.stdout.split(PLAN_HEADER + "\n", 1)[1]


def test_failure_and_rollback(config):
    """The run's own output, then the plan: lock, SAL lines, rollback, exit code; the process exits with it."""
    code, plan = plan_of(config, "examples.maintenance", "a", "b", "--fail-at", "b")
    assert code == 1
    assert plan.splitlines() == [
        "lock: cookbooks/examples.maintenance:maintenance-state.txt concurrency=1 ttl=600",
        "sal: START - Cookbook examples.maintenance for 2 items (a, b)",
        "rollback: examples.maintenance",
        "sal: END (FAIL) - Cookbook examples.maintenance (exit_code=1) for 2 items (a, b)",
        "exit_code: 1",
    ]


def test_json(config):
    """With --json the plan is JSON data."""
    code, plan = plan_of(config, "examples.hello", as_json=True)
    assert code == 0
    data = json.loads(plan)
    assert [action["kind"] for action in data] == ["lock", "sal", "sal", "exit_code"]


def test_real_remote_execution(config):
    """Remote commands go through the real cumin transport: here SSH is refused, as the plan shows."""
    code, plan = plan_of(config, "sre.hosts.uptime", "127.0.0.1")
    assert "remote: 127.0.0.1 sync: cat /proc/uptime [timeout=10] -> failed (exit_code=2): 127.0.0.1 exit 255" in plan
    assert plan.splitlines()[-1] == f"exit_code: {code}"


class TestRecordingWorker:
    """The proxy of a real cumin worker."""

    def worker(self, return_code, states):
        """A stand-in cumin worker whose execution ends with the given per-host states and exit codes."""
        hosts_results = {
            name: SimpleNamespace(state=state, return_codes=codes) for name, (state, codes) in states.items()
        }
        return SimpleNamespace(
            target=Target(NodeSet("h[1-3]"), batch_size=1, batch_sleep=2.0),
            execute=lambda: return_code,
            results=SimpleNamespace(hosts_results=hosts_results),
        )

    def test_skipped_in_dry_run(self):
        """A call that never executes is shown skipped, with what was set on the worker."""
        recorder = Recorder()
        inner = self.worker(0, {})
        proxy = RecordingWorker(inner, recorder, dry_run=True)
        proxy.commands = ["reboot-host"]
        proxy.handler = "sync"
        proxy.success_threshold = 0.5
        assert inner.commands == ["reboot-host"]
        assert recorder.plan.lines == [
            "remote: h[1-3] sync batch=1 sleep=2 threshold=0.5: reboot-host -> skipped (DRY-RUN)"
        ]

    def test_executed_with_failures(self):
        """The exit code and each host's outcome come from the real worker's results."""
        recorder = Recorder()
        states = {
            "h1": (HostState.SUCCESS, (0, 0)),
            "h2": (HostState.FAILED, (0, 3)),
            "h3": (HostState.TIMEOUT, (0,)),
        }
        proxy = RecordingWorker(self.worker(1, states), recorder, dry_run=False)
        proxy.commands = ["a", "b"]
        proxy.handler = "async"
        assert proxy.execute() == 1
        assert recorder.plan.lines == [
            "remote: h[1-3] async batch=1 sleep=2: a; b -> failed (exit_code=1): h2 exit 3, h3 timeout"
        ]
