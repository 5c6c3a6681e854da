"""Unit tests of the run journal: redaction, appends and rotation, the recording of runs, and the history."""

import argparse
import json
import logging
import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from spicerack import _journal
from spicerack._journal import HistoryQuery, append, format_duration, parse_duration, read_history, redact_args


@pytest.fixture(autouse=True)
def inactive_journal():
    _journal.deactivate()
    yield
    _journal.deactivate()


@pytest.mark.parametrize(
    "args, expected",
    (
        (["--password", "p", "x"], ["--password", "***", "x"]),
        (["--db-passwd=p", "--api-key", "k"], ["--db-passwd=***", "--api-key", "***"]),
        (["--token", "t", "--auth-file", "f", "--secret=s"], ["--token", "***", "--auth-file", "***", "--secret=***"]),
        (["--private-key", "k", "--credentials", "c"], ["--private-key", "***", "--credentials", "***"]),
        (["-p", "x", "--reason", "r", "host1"], ["-p", "x", "--reason", "r", "host1"]),
        (["--password"], ["--password"]),
        (["-", "--"], ["-", "--"]),
    ),
)
def test_redact_args_hides_the_values_of_secret_looking_options(args, expected):
    assert redact_args(args) == expected


def test_redact_args_hides_the_values_of_configured_options_too():
    assert redact_args(["--pin", "1234", "-k", "x", "--other", "y"], ["--pin", "-k"]) == [
        "--pin",
        "***",
        "-k",
        "***",
        "--other",
        "y",
    ]


@pytest.mark.parametrize(
    "text, seconds",
    (("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1w", 604800), ("1h30m", 5400), ("0s", 0)),
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ("", "1", "h", "1x", "1 h", "-1h", "yesterday", "1h 30m"))
def test_parse_duration_refuses_anything_else(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    "seconds, text", ((0.0123, "0.01s"), (9.999, "10.00s"), (12.34, "12.3s"), (187, "3m07s"), (7500, "2h05m"))
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_append_writes_one_line_per_entry_and_creates_the_directory(tmp_path):
    path = tmp_path / "logs" / "journal.jsonl"
    append(path, {"cookbook": "a", "args": ["é"]})
    append(path, {"cookbook": "b"})
    assert [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] == [
        {"cookbook": "a", "args": ["é"]},
        {"cookbook": "b"},
    ]


def test_append_rotates_like_the_logs(tmp_path):
    path = tmp_path / "journal.jsonl"
    for index in range(7):
        append(path, {"cookbook": f"c{index}"}, max_bytes=40, backups=2)
    names = sorted(child.name for child in tmp_path.iterdir() if not child.name.endswith(".lock"))
    assert names == ["journal.jsonl", "journal.jsonl.1", "journal.jsonl.2"]
    cookbooks = [json.loads(line)["cookbook"] for name in reversed(names) for line in (tmp_path / name).open()]
    assert cookbooks == ["c2", "c3", "c4", "c5", "c6"]  # the oldest ones went with the last backup


def entry(cookbook: str, start: datetime, **fields: object) -> dict[str, object]:
    return {"cookbook": cookbook, "start": start.isoformat(), "exit_code": 0, "user": "u", **fields}


def test_read_history_goes_through_the_rotated_files_for_the_most_recent_runs(tmp_path):
    path = tmp_path / "journal.jsonl"
    now = datetime.now(UTC)
    lines = [entry(f"c{index}", now - timedelta(minutes=30 - index)) for index in range(30)]
    for index, rotated in ((2, lines[:10]), (1, lines[10:20]), (0, lines[20:])):
        target = path if index == 0 else Path(f"{path}.{index}")
        target.write_text("".join(json.dumps(line) + "\n" for line in rotated))

    recent, corrupt = read_history(path, HistoryQuery(limit=15))
    assert [item["cookbook"] for item in recent] == [f"c{index}" for index in range(15, 30)]
    assert corrupt == 0

    since, _ = read_history(path, HistoryQuery(since=now - timedelta(minutes=5, seconds=30)))
    assert [item["cookbook"] for item in since] == [f"c{index}" for index in range(25, 30)]

    everything, _ = read_history(path, HistoryQuery(since=now - timedelta(days=1)))
    assert len(everything) == 30


def test_read_history_filters_and_counts_corrupt_lines(tmp_path):
    path = tmp_path / "journal.jsonl"
    now = datetime.now(UTC)
    path.write_text(
        json.dumps(entry("sre.a", now, exit_code=1)) + "\n"
        "{truncated\n"
        "[1, 2]\n"
        "\n" + json.dumps(entry("sre.b", now, user="other")) + "\n" + json.dumps(entry("wmcs.c", now)) + "\n"
    )
    found, corrupt = read_history(path, HistoryQuery(prefix="sre."))
    assert ([item["cookbook"] for item in found], corrupt) == (["sre.a", "sre.b"], 2)
    assert [item["cookbook"] for item in read_history(path, HistoryQuery(failed=True))[0]] == ["sre.a"]
    assert [item["cookbook"] for item in read_history(path, HistoryQuery(user="other"))[0]] == ["sre.b"]


def test_read_history_of_a_missing_journal_is_empty_and_of_an_unreadable_one_an_error(tmp_path):
    assert read_history(tmp_path / "journal.jsonl", HistoryQuery()) == ([], 0)
    (tmp_path / "journal.jsonl").mkdir()
    with pytest.raises(_journal.JournalError, match="Unable to read the journal"):
        read_history(tmp_path / "journal.jsonl", HistoryQuery())


def test_format_table_aligns_columns_and_quotes_arguments():
    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    table = _journal.format_table(
        [
            entry("sre.a", start, duration=1.5, run_id="r1", host="h", args=["-r", "two words"], dry_run=True),
            entry("sre.bb", start, duration=75, run_id="r2", host="h", args=[], exit_code=99, parent_run_id="r1"),
        ]
    ).splitlines()
    assert table[0].startswith("START (UTC)          DURATION  EXIT  USER  HOST  COOKBOOK")
    assert table[1] == "2026-01-02 03:04:05     1.50s     0  u     h     sre.a (dry-run)  r1      -r 'two words'"
    assert table[2] == "2026-01-02 03:04:05     1m15s    99  u     h     sre.bb (child)   r2"


def test_format_table_shows_control_characters_escaped_so_that_a_run_cannot_forge_rows_or_drive_the_terminal():
    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    forged = "x\n2026-01-02 03:04:05     1.50s     0  root  h     sre.fake  r9"
    table = _journal.format_table(
        [entry("sre.a\x1b[2J", start, duration=1.5, run_id="r1", host="h", user="u\r", args=["-r", forged])]
    )
    assert len(table.splitlines()) == 2
    assert not any(char in table for char in "\x1b\r")
    assert "sre.a\\x1b[2J" in table
    assert "x\\x0a2026-01-02" in table


class FakeItem:
    def __init__(self, name: str, args: list[str], run: object) -> None:
        self.full_name = name
        self.args = args
        self.spicerack = type("Accessor", (), {"username": "me", "current_hostname": "box", "dry_run": False})()
        self.status = "NOTRUN"
        self._run = run

    @_journal.journaled
    def run(self) -> int:
        return self._run(self)  # type: ignore[operator]


def test_journaled_runs_record_one_line_each_with_their_parent(tmp_path):
    _journal.activate(tmp_path, {"journal_secret_arguments": "--pin"})

    def child(item):
        _journal.note_parsed(-1, type("Args", (), {"reason": "why", "task_id": "T1"})())
        item.status = "PASS"
        return 0

    def parent(item):
        _journal.note_parsed(-1, object())
        FakeItem("grp.child", [], child).run()
        item.status = "FAIL"
        return 3

    assert FakeItem("grp.parent", ["--pin", "1"], parent).run() == 3
    first, second = (json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines())
    assert (first["cookbook"], first["reason"], first["task_id"], first["status"]) == ("grp.child", "why", "T1", "PASS")
    assert first["parent_run_id"] == second["run_id"]
    assert (second["args"], second["exit_code"], second["status"]) == (["--pin", "***"], 3, "FAIL")
    assert (second["user"], second["host"], second["dry_run"]) == ("me", "box", False)


def test_help_is_not_a_run_and_an_exception_is_recorded_as_an_error(tmp_path):
    _journal.activate(tmp_path)

    def helped(item):
        _journal.note_parsed(0, None)
        return 0

    def interrupted(item):
        raise KeyboardInterrupt

    assert FakeItem("grp.help", ["-h"], helped).run() == 0
    with pytest.raises(KeyboardInterrupt):
        FakeItem("grp.interrupted", [], interrupted).run()
    (line,) = (tmp_path / "journal.jsonl").read_text().splitlines()
    assert json.loads(line)["cookbook"] == "grp.interrupted"
    assert (json.loads(line)["exit_code"], json.loads(line)["status"]) == (None, "ERROR")


def test_inactive_journal_records_nothing(tmp_path, caplog):
    assert FakeItem("grp.x", [], lambda item: 0).run() == 0
    with caplog.at_level(logging.DEBUG):
        _journal.log_summary(0, "PASS")
    assert not caplog.records
    assert not list(tmp_path.iterdir())


def test_summary_is_one_debug_json_line_of_the_running_cookbook(tmp_path, caplog):
    _journal.activate(tmp_path)

    def body(item):
        _journal.log_summary(5, "FAIL")
        return 5

    with caplog.at_level(logging.DEBUG, logger="spicerack._journal"):
        FakeItem("grp.sum", ["a"], body).run()
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG
    marker, _, payload = record.getMessage().partition(":")
    assert marker == "__COOKBOOK_SUMMARY__"
    summary = json.loads(payload)
    assert (summary["cookbook"], summary["args"], summary["exit_code"]) == ("grp.sum", ["a"], 5)
    assert list(summary) == list(_journal.ENTRY_FIELDS)


def test_a_journal_that_cannot_be_written_is_a_warning_not_a_failure(tmp_path, caplog):
    (tmp_path / "journal.jsonl").mkdir()
    _journal.activate(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert FakeItem("grp.x", [], lambda item: 0).run() == 0
    assert "Unable to write the run journal" in caplog.text


def test_read_history_since_keeps_short_runs_that_ended_before_a_long_one(tmp_path):
    path = tmp_path / "journal.jsonl"
    now = datetime.now(UTC)
    short = entry("short", now - timedelta(minutes=30), end=(now - timedelta(minutes=20)).isoformat())
    long = entry("long", now - timedelta(hours=3), end=now.isoformat())
    old = entry("old", now - timedelta(hours=5), end=(now - timedelta(hours=4)).isoformat())
    path.write_text("".join(json.dumps(line) + "\n" for line in (old, short, long)))
    found, _ = read_history(path, HistoryQuery(since=now - timedelta(hours=1)))
    assert [item["cookbook"] for item in found] == ["short"]
    assert [item["cookbook"] for item in read_history(path, HistoryQuery(limit=2))[0]] == ["short", "long"]


def test_the_journal_and_its_lock_are_created_0640_at_most(tmp_path):
    previous = os.umask(0)
    try:
        append(tmp_path / "journal.jsonl", {"cookbook": "a"})
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "journal.jsonl").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "journal.jsonl.lock").stat().st_mode) == 0o640


@pytest.mark.parametrize("name", ("journal.jsonl", "journal.jsonl.lock"))
def test_a_symlinked_journal_is_refused_with_one_warning_and_the_victim_untouched(tmp_path, caplog, name):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / name).symlink_to(victim)
    _journal.activate(logs)
    with caplog.at_level(logging.WARNING):
        assert FakeItem("grp.x", ["a"], lambda item: 4).run() == 4
    assert victim.read_text() == "precious\n"
    (record,) = caplog.records
    assert f"{name} is not a regular file" in record.getMessage()


def test_a_fifo_journal_is_refused_without_blocking(tmp_path, caplog):
    os.mkfifo(tmp_path / "journal.jsonl")
    _journal.activate(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert FakeItem("grp.x", [], lambda item: 0).run() == 0
    assert "journal.jsonl is not a regular file" in caplog.text


@pytest.fixture
def held_journal_lock(tmp_path):
    lock = tmp_path / "journal.jsonl.lock"
    lock.touch()
    holder = subprocess.Popen(["flock", str(lock), "sh", "-c", "echo held; exec sleep 60"], stdout=subprocess.PIPE)
    assert holder.stdout is not None
    assert holder.stdout.readline() == b"held\n"
    yield lock
    holder.kill()
    holder.wait()


def test_a_lock_held_by_another_process_is_waited_for_boundedly_then_a_warning(
    tmp_path, caplog, held_journal_lock, monkeypatch
):
    monkeypatch.setattr(_journal, "LOCK_WAIT_SECONDS", 0.2)
    _journal.activate(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert FakeItem("grp.x", [], lambda item: 7).run() == 7
    (record,) = caplog.records
    assert "journal.jsonl.lock is held by another process" in record.getMessage()
    assert not (tmp_path / "journal.jsonl").exists()


def test_the_entry_records_the_configuration_file_and_redacts_with_the_parser(tmp_path):
    _journal.activate(tmp_path, {"secret_option_words": ["otp"]}, config_file="/etc/spicerack/config.yaml")
    parser = argparse.ArgumentParser()
    parser.add_argument("-o", "--otp")
    parser.add_argument("-p", "--pin")

    def body(item):
        _journal.note_parser(parser)
        return 0

    assert FakeItem("grp.x", ["-o", "123456", "-p", "1", "--db-otp=9"], body).run() == 0
    entry = json.loads((tmp_path / "journal.jsonl").read_text())
    assert entry["config_file"] == "/etc/spicerack/config.yaml"
    assert entry["args"] == ["-o", "***", "-p", "1", "--db-otp=***"]
