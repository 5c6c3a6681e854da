"""Unit tests of the operator extras: flag parsing and checks, the lock rows, the completion's parsing helpers."""

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from spicerack import _cookbook, _extras, _flags
from spicerack._completion import cookbook_position, names_in_listing
from spicerack.locking import ConcurrentLock, KeyLocks


def parse(*argv: str) -> argparse.Namespace:
    return _cookbook.argument_parser().parse_args(argv)


def test_without_extra_flags_nothing_is_handled():
    assert not _flags.any_set(parse("-l"))
    assert not _flags.any_set(parse("sre.foo", "--json", "--history"))
    assert _flags.any_set(parse("--history"))


@pytest.mark.parametrize(
    "argv, message",
    (
        (("--json",), "--json needs -l/--list, --history, --locks or --plan"),
        (("--json", "sre.foo"), "--json needs -l/--list, --history, --locks or --plan"),
        (("--user", "me", "--failed", "-l"), "--user, --failed can be used only with --history"),
        (("-l", "--locks", "--history"), "-l and --history and --locks cannot be used together"),
        (("--locks", "sre", "x"), "--locks takes at most one PREFIX of cookbook names, got also: x"),
        (("--only", "failed"), "--only can be used only with --failed-hosts"),
        (("--query", "--history"), "--query can be used only with --failed-hosts"),
        (("--failed-hosts", "abcdef", "sre.foo"), "--failed-hosts takes only the RUN_ID of a run"),
        (("--failed-hosts", "abcdef", "--json"), "--json cannot be used with --failed-hosts"),
        (("--history", "--since", "1d", "abcdef12"), "--since cannot be used with the RUN_ID of one run"),
        (("--failed-hosts", "abcdef", "--history"), "--history and --failed-hosts cannot be used together"),
    ),
)
def test_meaningless_combinations_are_one_line(argv, message):
    assert _extras.usage_error(parse(*argv)) == message


def test_meaningless_combinations_exit_2_with_one_line_through_the_command(capsys):
    assert _cookbook.main(["--json"]) == 2
    assert capsys.readouterr().err == "cookbook: error: --json needs -l/--list, --history, --locks or --plan\n"


def test_extras_help_lists_every_hidden_flag_and_version_prints_the_versions(capsys):
    assert _cookbook.main(["--extras"]) == 0
    text = capsys.readouterr().out
    for flag, _ in _flags.FLAGS:
        assert f"  {flag}" in text
    assert "--failed-hosts RUN_ID" in text
    assert _cookbook.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("cookbook (Spicerack) ")


def test_hidden_flags_parse_before_the_cookbook_only():
    args = parse("--history", "--since", "1d", "--user", "me", "--failed", "--json", "sre.")
    assert (args.extra_history, args.extra_since, args.extra_user, args.extra_failed, args.extra_json) == (
        True,
        "1d",
        "me",
        True,
        True,
    )
    assert (args.cookbook, args.cookbook_args) == ("sre.", [])
    later = parse("sre.foo", "--locks", "--user", "x")
    assert (later.extra_locks, later.extra_user, later.cookbook_args) == (False, None, ["--locks", "--user", "x"])


def slot(owner: str, concurrency: int, ttl: int, age: int, now: datetime) -> ConcurrentLock:
    lock = ConcurrentLock(concurrency=concurrency, owner=owner, ttl=ttl)
    lock.created = now - timedelta(seconds=age)
    return lock


def test_lock_rows_show_live_slots_with_usage_and_ttl_left():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    held = [
        KeyLocks(
            "/spicerack/locks/cookbooks/sre.b",
            {
                lock.uuid: lock
                for lock in (
                    slot("a@h [1]", 3, 100, 10, now),
                    slot("b@h [2]", 3, 100, 20, now),
                    slot("gone@h [3]", 3, 100, 200, now),
                )
            },
        ),
        KeyLocks("/spicerack/locks/custom/sre.a", {(lock := slot("c@h [4]", 0, 60, 0, now)).uuid: lock}),
        KeyLocks("/spicerack/locks/cookbooks/wmcs.x", {(other := slot("d@h [5]", 1, 60, 0, now)).uuid: other}),
    ]
    rows = _extras.lock_rows(held, "sre.", now)
    assert [(row["key"], row["holder"], row["used"], row["concurrency"], row["ttl_left"]) for row in rows] == [
        ("/spicerack/locks/cookbooks/sre.b", "b@h [2]", 2, 3, 80),
        ("/spicerack/locks/cookbooks/sre.b", "a@h [1]", 2, 3, 90),
        ("/spicerack/locks/custom/sre.a", "c@h [4]", 1, 0, 60),
    ]
    assert (rows[0]["prefix"], rows[0]["name"], rows[0]["since"]) == ("cookbooks", "sre.b", "2026-01-01T11:59:40+00:00")
    assert _extras.format_lock_table(rows).splitlines() == [
        "KEY                               HOLDER   SINCE (UTC)          TTL LEFT  USED",
        "/spicerack/locks/cookbooks/sre.b  b@h [2]  2026-01-01 11:59:40       80s  2/3",
        "/spicerack/locks/cookbooks/sre.b  a@h [1]  2026-01-01 11:59:50       90s  2/3",
        "/spicerack/locks/custom/sre.a     c@h [4]  2026-01-01 12:00:00       60s  1/unlimited",
    ]


def test_names_in_listing_reads_plain_and_verbose_trees():
    listing = (
        "printed at import\ncookbooks\n|-- grp: Group: with colon\n|   |-- grp.one: Title [team]\n"
        "|   `-- grp.sub\n|       `-- grp.sub.two [team]\n`-- top [unowned]\n"
    )
    assert names_in_listing(listing) == ["grp", "grp.one", "grp.sub", "grp.sub.two", "top"]


@pytest.mark.parametrize(
    "words, position",
    (
        ([], None),
        (["-c", "config.yaml"], None),
        (["-c", "config.yaml", "sre.foo"], 2),
        (["--config-file=x", "-dv", "sre.foo", "-c", "y"], 2),
        (["--since", "1d", "--history", "sre"], 3),
        (["--", "sre.foo"], 1),
        (["-cconfig.yaml", "sre.foo"], 1),
    ),
)
def test_cookbook_position_skips_global_options_and_their_values(words, position):
    assert cookbook_position(_cookbook.argument_parser(), words) == position
