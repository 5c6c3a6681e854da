"""Unit tests of the extras that read one journaled run: the full view, the failed hosts and the re-run's argv."""

import argparse
import json
from types import SimpleNamespace

import pytest

from spicerack import _extra_runs, _journal, _outcomes
from spicerack._extra_runs import Rerun, RunExtraError


def results(**states):
    return {
        host: SimpleNamespace(state=state, return_codes=(3,) if state == "failed" else ())
        for host, state in states.items()
    }


@pytest.fixture
def journal(tmp_path):
    path = tmp_path / "journal.jsonl"
    executed = _outcomes.summarize(
        ["uptime"],
        ["h1", "h2", "h3", "h4", "h5"],
        results(h1="success", h2="failed", h3="timeout", h4="failed"),
        executed=True,
    )
    skipped = _outcomes.summarize(["reboot"], ["h9"], None, executed=False)
    _journal.append(
        path,
        {
            "run_id": "aaaa000011112222",
            "cookbook": "g.roll",
            "args": ["--password", "***", "-r", "why", "h[1-5]"],
            "start": "2026-12-07T05:00:00.000+00:00",
            "executions": [executed, skipped],
            "executions_dropped": 0,
        },
    )
    _journal.append(path, {"run_id": "bbbb000011112222", "cookbook": "g.local", "args": [], "executions": []})
    _journal.append(path, {"run_id": "cccc000011112222", "cookbook": "g.dry", "args": [], "executions": [skipped]})
    return path


@pytest.mark.parametrize(
    "text, expected",
    (
        ("aaaa00", True),
        ("AAAA000011112222", True),
        ("aaaa0", False),
        ("sre.hosts", False),
        ("a" * 17, False),
        (None, False),
    ),
)
def test_looks_like_run_id(text, expected):
    assert _extra_runs.looks_like_run_id(text) is expected


def test_show_run_as_text_and_json(journal):
    text = _extra_runs.show_run(journal, "aaaa00", as_json=False)
    assert text.startswith("Run aaaa000011112222: g.roll\n")
    assert "    failed (3) h[2,4]\n" in text
    assert "    timed out  h3\n" in text
    assert "    not run    h5\n" in text
    assert "(not executed: DRY-RUN): reboot" in text
    assert json.loads(_extra_runs.show_run(journal, "aaaa00", as_json=True))["cookbook"] == "g.roll"


def test_failed_hosts_selects_by_outcome_and_gives_a_cumin_query(journal):
    assert _extra_runs.failed_hosts(journal, "aaaa00") == "h[2-5]"
    assert _extra_runs.failed_hosts(journal, "aaaa00", ("failed",)) == "h[2,4]"
    assert _extra_runs.failed_hosts(journal, "aaaa00", ("timeout", "not-run"), query=True) == "D{h[3,5]}"


@pytest.mark.parametrize(
    "run_id, message",
    (
        ("bbbb00", "executed no remote command"),
        ("cccc00", "executed no remote command"),
        ("dddd00", "No run dddd00"),
        ("xyz", "Invalid run ID"),
    ),
)
def test_failed_hosts_errors_are_one_line(journal, run_id, message):
    with pytest.raises(RunExtraError, match=message):
        _extra_runs.failed_hosts(journal, run_id)


def test_failed_hosts_of_a_run_where_all_succeeded(tmp_path):
    path = tmp_path / "journal.jsonl"
    ok = _outcomes.summarize(["true"], ["h1"], results(h1="success"), executed=True)
    _journal.append(path, {"run_id": "eeee000011112222", "cookbook": "g.ok", "executions": [ok]})
    with pytest.raises(RunExtraError, match=r"has no host failed/timeout/not-run"):
        _extra_runs.failed_hosts(path, "eeee00")


def test_parse_only():
    assert _extra_runs.parse_only(None) == ("failed", "timeout", "not-run")
    assert _extra_runs.parse_only("failed,not-run") == ("failed", "not-run")
    with pytest.raises(RunExtraError, match="invalid outcome bogus"):
        _extra_runs.parse_only("failed,bogus")
    with pytest.raises(RunExtraError, match="invalid outcome"):
        _extra_runs.parse_only(",")


@pytest.fixture
def cookbook_parser():
    parser = argparse.ArgumentParser(prog="cookbook")
    parser.add_argument("-c", "--config-file")
    parser.add_argument("-d", "--dry-run", action="store_true")
    parser.add_argument("--rerun")
    parser.add_argument("cookbook", nargs="?")
    parser.add_argument("cookbook_args", nargs=argparse.REMAINDER)
    return parser


@pytest.mark.parametrize(
    "argv, expected",
    (
        (["--rerun", "aaaa00"], Rerun("aaaa00", [], [])),
        (["-c", "f.yaml", "-d", "--rerun", "aaaa00", "-r", "x"], Rerun("aaaa00", ["-c", "f.yaml", "-d"], ["-r", "x"])),
        (
            ["--config-file=--rerun", "--rerun=aaaa00", "--", "D{h2}"],
            Rerun("aaaa00", ["--config-file=--rerun"], ["--", "D{h2}"]),
        ),
        (["-c", "--rerun", "g.cookbook", "--rerun", "x"], None),
        (["g.cookbook", "--rerun", "aaaa00"], None),
        (["-d", "g.cookbook"], None),
    ),
)
def test_split_rerun_only_among_the_global_options(cookbook_parser, argv, expected):
    assert _extra_runs.split_rerun(argv, cookbook_parser) == expected


def test_split_rerun_without_run_id(cookbook_parser):
    with pytest.raises(RunExtraError, match="--rerun needs the RUN_ID"):
        _extra_runs.split_rerun(["--rerun", "-d"], cookbook_parser)


def test_the_rerun_shows_the_redacted_command_line_asks_the_secrets_and_gives_the_argv(journal):
    rerun = Rerun("aaaa00", ["-d"], ["--", "D{h2}"])
    entry = _extra_runs.recorded_run(journal, rerun)
    arguments = _extra_runs.rerun_arguments(entry, rerun, None)
    assert arguments == ["--password", "***", "-r", "why", "D{h2}"]
    shown = []
    argv = _extra_runs.confirm_and_ask(
        entry, rerun, arguments, confirm=shown.append, ask_secret=lambda name: f"typed-for-{name}"
    )
    assert argv == ["-d", "g.roll", "--password", "typed-for---password", "-r", "why", "D{h2}"]
    assert "cookbook -d g.roll --password '***' -r why 'D{h2}'" in shown[0]
    assert "typed-for" not in shown[0]


def test_a_refused_or_impossible_confirmation_is_one_line(journal):
    rerun = Rerun("aaaa00", [], [])
    entry = _extra_runs.recorded_run(journal, rerun)

    def refuse(message):
        raise RuntimeError("Not in a TTY, unable to ask for input")

    with pytest.raises(RunExtraError, match="Not re-running run aaaa000011112222: Not in a TTY"):
        _extra_runs.confirm_and_ask(entry, rerun, [], confirm=refuse, ask_secret=str)
