"""Per-host outcome summaries of remote executions (pure logic; the sshd fleet tests exercise the real path)."""

import json
from types import SimpleNamespace

import pytest

from spicerack import _outcomes


def host(state, *codes):
    return SimpleNamespace(state=state, return_codes=codes)


def test_summarize_groups_hosts_by_outcome_and_exit_code():
    results = {
        "h1": host("success", 0),
        "h2": host("failed", 0, 2),
        "h3": host("failed", 1),
        "h4": host("timeout"),
        "h5": host("pending"),
    }
    summary = _outcomes.summarize(["uptime", "false"], [f"h{i}" for i in range(1, 7)], results, executed=True)
    assert summary == {
        "commands": ["uptime", "false"],
        "hosts": "h[1-6]",
        "executed": True,
        "succeeded": "h1",
        "failed": {"1": "h3", "2": "h2"},
        "timeout": "h4",
        "not_run": "h[5-6]",
    }


def test_summarize_skipped_execution_has_every_host_not_run():
    summary = _outcomes.summarize(["reboot"], ["a1", "a2"], None, executed=False)
    assert summary["executed"] is False
    assert summary["not_run"] == "a[1-2]"
    assert summary["succeeded"] == ""


def test_summarize_redacts_and_bounds_the_commands():
    commands = [f"echo {i} secret" for i in range(8)] + ["x" * 500]
    summary = _outcomes.summarize(
        commands, ["h1"], {}, executed=True, redact=lambda text: text.replace("secret", "***")
    )
    assert summary["commands"] == [f"echo {i} ***" for i in range(5)]
    assert summary["more_commands"] == 4
    long_summary = _outcomes.summarize(["y" * 500], ["h1"], {}, executed=True)
    assert len(long_summary["commands"][0]) == _outcomes.MAX_COMMAND_CHARS
    assert long_summary["commands"][0].endswith("...")


def test_thousand_hosts_fold_into_a_small_entry():
    names = [f"wtp{i:04d}.eqiad.wmnet" for i in range(1000)]
    results = {name: host("success", 0) for name in names[:600]}
    results.update({name: host("failed", 1) for name in names[600:700:2]})
    results.update({name: host("timeout") for name in names[601:700:2]})
    summary = _outcomes.summarize(["systemctl restart x"], names, results, executed=True)
    assert len(json.dumps(summary)) < 4096
    assert summary["not_run"] == "wtp[0700-0999].eqiad.wmnet"


def test_record_reaches_the_sink_and_never_raises():
    kept = []
    _outcomes.set_sink(kept.append)
    try:
        _outcomes.record(["true"], ["h1"], {"h1": host("success", 0)}, executed=True)
        _outcomes.set_sink(lambda execution: 1 / 0)
        _outcomes.record(["true"], ["h1"], None, executed=True)  # a broken sink is ignored
    finally:
        _outcomes.set_sink(None)
    _outcomes.record(["true"], ["h1"], None, executed=True)  # no sink: nothing kept, no error
    assert [execution["succeeded"] for execution in kept] == ["h1"]


def test_append_bounded_counts_what_it_drops():
    executions = []
    dropped = 0
    for number in range(_outcomes.MAX_EXECUTIONS + 3):
        dropped = _outcomes.append_bounded(executions, {"n": number}, dropped)
    assert len(executions) == _outcomes.MAX_EXECUTIONS
    assert dropped == 3


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        (_outcomes.OUTCOMES, "h[2-5,7]"),
        (("failed",), "h[2-3]"),
        (("timeout",), "h4"),
        (("not-run",), "h[5,7]"),
    ],
)
def test_hosts_with_selects_outcomes_of_executed_runs(only, expected):
    executions = [
        {"executed": True, "failed": {"1": "h2", "2": "h3"}, "timeout": "h4", "not_run": "h5"},
        {"executed": True, "failed": {}, "timeout": "", "not_run": "h7"},
        {"executed": False, "failed": {}, "timeout": "", "not_run": "h9"},
    ]
    assert _outcomes.hosts_with(executions, only) == expected


def test_format_executions_shows_each_outcome():
    executions = [
        _outcomes.summarize(
            ["false"], ["h1", "h2"], {"h1": host("success", 0), "h2": host("failed", 3)}, executed=True
        ),
        _outcomes.summarize(["reboot"], ["h1"], None, executed=False),
    ]
    lines = _outcomes.format_executions(executions, dropped=2)
    assert lines[0] == "#1 on h[1-2]: false"
    assert "    succeeded  h1" in lines
    assert "    failed (3) h2" in lines
    assert lines[-3] == "#2 on h1 (not executed: DRY-RUN): reboot"
    assert lines[-1] == "... and 2 more executions, not kept"
