"""The arguments of a re-run (pure logic; the CLI tests run --rerun against the sshd fleet)."""

import argparse

import pytest

from spicerack import _rerun


@pytest.fixture
def parser():
    parser = argparse.ArgumentParser()
    parser.add_argument("-r", "--reason", required=True)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--services", nargs="+")
    parser.add_argument("--password")
    parser.add_argument("query")
    return parser


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ([], ["-r", "restart", "--force", "--batch-size", "2", "A:all"]),
        (["--batch-size", "5"], ["-r", "restart", "--force", "--batch-size", "5", "A:all"]),
        (["--reason", "again"], ["--reason", "again", "--force", "--batch-size", "2", "A:all"]),
        (["--services", "a", "b"], ["-r", "restart", "--force", "--batch-size", "2", "A:all", "--services", "a", "b"]),
        (["--", "D{h[2-3]}"], ["-r", "restart", "--force", "--batch-size", "2", "D{h[2-3]}"]),
        (["--batch-size=3", "--", "D{h1}"], ["-r", "restart", "--force", "--batch-size=3", "D{h1}"]),
    ],
)
def test_merge_arguments_replaces_adds_and_narrows(parser, changes, expected):
    recorded = ["-r", "restart", "--force", "--batch-size", "2", "A:all"]
    merged = _rerun.merge_arguments(recorded, changes, parser)
    assert merged == expected
    parser.parse_args(merged)  # still a valid command line for the cookbook


def test_merge_arguments_drops_repeated_options(parser):
    recorded = ["--reason", "x", "--services", "a", "--services", "b", "--force", "A:all"]
    merged = _rerun.merge_arguments(recorded, ["--services", "c"], parser)
    assert merged == ["--reason", "x", "--services", "c", "--force", "A:all"]
    assert parser.parse_args(merged).services == ["c"]


def test_merge_arguments_without_parser_takes_one_value_per_option():
    assert _rerun.merge_arguments(["--a", "1", "--b", "x"], ["--b", "y", "--c", "z"]) == [
        "--a",
        "1",
        "--b",
        "y",
        "--c",
        "z",
    ]


def test_ask_secrets_asks_each_redacted_value():
    asked = []

    def ask(name):
        asked.append(name)
        return f"new-{len(asked)}"

    args = ["--password", "***", "--token=***", "-r", "x", "***"]
    assert _rerun.ask_secrets(args, "***", ask) == ["--password", "new-1", "--token=new-2", "-r", "x", "new-3"]
    assert asked == ["--password", "--token", "the secret argument"]
