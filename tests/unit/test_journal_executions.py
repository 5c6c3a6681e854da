"""Unit tests of the per-host outcomes in the run journal, and of reading one run back."""

import json
from types import SimpleNamespace

import pytest

from spicerack import _journal, _outcomes
from spicerack._journal import JournalError, find_run, format_run


@pytest.fixture(autouse=True)
def inactive_journal():
    _journal.deactivate()
    yield
    _journal.deactivate()


class FakeItem:
    def __init__(self, name, run):
        self.full_name = name
        self.args = ["--flag"]
        self.spicerack = SimpleNamespace(username="me", current_hostname="box", dry_run=False)
        self.status = "PASS"
        self._run = run

    @_journal.journaled
    def run(self):
        return self._run(self)


def results(**states):
    return {
        host: SimpleNamespace(state=state, return_codes=(2,) if state == "failed" else ())
        for host, state in states.items()
    }


def entries(tmp_path):
    return [json.loads(line) for line in (tmp_path / "journal.jsonl").read_text().splitlines()]


def test_each_run_keeps_its_own_executions_and_a_parent_gets_its_sink_back_after_a_child(tmp_path):
    _journal.activate(tmp_path)

    def child(item):
        _outcomes.record(["hostname"], ["c1"], results(c1="success"), executed=True)
        return 0

    def parent(item):
        _outcomes.record(["uptime"], ["h1", "h2"], results(h1="success", h2="failed"), executed=True)
        FakeItem("g.child", child).run()
        _outcomes.record(["reboot"], ["h1", "h2"], None, executed=False)
        return 1

    FakeItem("g.parent", parent).run()
    child_entry, parent_entry = entries(tmp_path)
    assert [e["commands"] for e in child_entry["executions"]] == [["hostname"]]
    assert [e["commands"] for e in parent_entry["executions"]] == [["uptime"], ["reboot"]]
    assert parent_entry["executions"][0]["failed"] == {"2": "h2"}
    assert parent_entry["executions"][1]["executed"] is False
    assert parent_entry["executions_dropped"] == 0
    _outcomes.record(["after"], ["h1"], None, executed=False)  # no run: no sink, nothing kept anywhere
    assert len(entries(tmp_path)) == 2


def test_the_executions_beyond_the_bound_are_counted_and_a_big_fleet_keeps_the_line_small(tmp_path):
    _journal.activate(tmp_path)
    hosts = [f"host{number:04d}.example.org" for number in range(1000)]
    states = {host: ("failed" if index % 7 == 0 else "success") for index, host in enumerate(hosts)}

    def body(item):
        for _ in range(_outcomes.MAX_EXECUTIONS + 3):
            _outcomes.record(["x" * 1000], hosts, results(**states), executed=True)
        return 0

    FakeItem("g.big", body).run()
    line = (tmp_path / "journal.jsonl").read_bytes()
    entry = json.loads(line)
    assert len(entry["executions"]) == _outcomes.MAX_EXECUTIONS
    assert entry["executions_dropped"] == 3
    assert len(line) / _outcomes.MAX_EXECUTIONS < 4096  # a few KiB per execution at most, whatever the fleet


def test_only_the_top_level_run_of_a_rerun_is_marked_as_such(tmp_path):
    _journal.activate(tmp_path, rerun_of="0123456789abcdef")

    def parent(item):
        FakeItem("g.child", lambda item: 0).run()
        return 0

    FakeItem("g.parent", parent).run()
    child_entry, parent_entry = entries(tmp_path)
    assert (child_entry["rerun_of"], parent_entry["rerun_of"]) == (None, "0123456789abcdef")


def test_find_run_by_full_id_or_unique_prefix_through_the_rotated_files(tmp_path):
    journal = tmp_path / "journal.jsonl"
    _journal.append(journal, {"cookbook": "g.a", "run_id": "abcdef0011223344"})
    (tmp_path / "journal.jsonl.1").write_text(json.dumps({"cookbook": "g.b", "run_id": "abcdef9911223344"}) + "\n")
    assert find_run(journal, "abcdef0011223344")["cookbook"] == "g.a"
    assert find_run(journal, "ABCDEF99")["cookbook"] == "g.b"
    with pytest.raises(JournalError, match="ambiguous: abcdef0011223344, abcdef9911223344"):
        find_run(journal, "abcdef")
    with pytest.raises(JournalError, match="No run 123456 in the journal"):
        find_run(journal, "123456")
    with pytest.raises(JournalError, match="Invalid run ID"):
        find_run(journal, "abc")
    with pytest.raises(JournalError, match="Invalid run ID"):
        find_run(journal, "zzzzzzzz")


def test_format_run_shows_everything_and_escapes_control_characters():
    execution = _outcomes.summarize(["uptime"], ["h1", "h2", "h3"], results(h1="success", h2="failed"), executed=True)
    text = format_run(
        {
            "run_id": "abcdef0011223344",
            "cookbook": "g.a",
            "args": ["--reason", "fix\x1b[2J", "h[1-3]"],
            "start": "2026-12-07T05:00:00.000+00:00",
            "end": "2026-12-07T05:01:00.000+00:00",
            "duration": 60.0,
            "user": "me",
            "host": "box",
            "pid": 42,
            "exit_code": 1,
            "status": "FAIL",
            "dry_run": False,
            "reason": "fix\x1b[2J",
            "rerun_of": "0011223344556677",
            "log_files": ["/logs/g/a.log"],
            "executions": [execution],
            "executions_dropped": 2,
        }
    )
    assert "\x1b" not in text
    assert "fix\\x1b[2J" in text
    assert "  re-run of:  0011223344556677\n" in text
    assert "  log file:   /logs/g/a.log\n" in text
    assert "    failed (2) h2\n" in text
    assert "    not run    h3\n" in text
    assert "... and 2 more executions, not kept" in text


def test_format_run_of_an_entry_without_executions_says_none_only_when_the_field_exists():
    assert "Remote executions: none" in format_run({"cookbook": "g.a", "executions": []})
    assert "Remote executions" not in format_run({"cookbook": "g.a"})


def test_a_secret_argument_of_the_run_put_in_a_remote_command_is_not_kept(tmp_path):
    _journal.activate(tmp_path)

    def body(item):
        _outcomes.record(["mysql -u root -phunter2PW -e 'select 1'"], ["h1"], None, executed=False)
        return 0

    item = FakeItem("g.secret", body)
    item.args = ["--db-password", "hunter2PW"]
    item.run()
    text = (tmp_path / "journal.jsonl").read_text()
    assert "hunter2PW" not in text
    assert "mysql -u root -p*** -e 'select 1'" in text
