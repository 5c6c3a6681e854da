"""Unit tests of the redaction of secret argument values."""

import argparse

import pytest

from spicerack import _redact
from spicerack._redact import REDACTED, SecretType, redact, secret_words
from spicerack.cookbook import ArgparseFormatter, secret


@pytest.mark.parametrize(
    "args, expected",
    (
        (["--password", "hunter2PW"], ["--password", REDACTED]),
        (["--password=hunter2PW", "x"], ["--password=***", "x"]),
        (["--pin", "1234"], ["--pin", REDACTED]),
        (["--key", "k"], ["--key", REDACTED]),
        (["--db-pw", "v"], ["--db-pw", REDACTED]),
        (["--DB-Token", "v"], ["--DB-Token", REDACTED]),
        (["--api-credential=v"], ["--api-credential=***"]),
        (["--reason", "r", "host1"], ["--reason", "r", "host1"]),
        (["--", "--password", "v"], ["--", "--password", "v"]),
        (["--password"], ["--password"]),
    ),
)
def test_redact_by_long_name(args, expected):
    assert redact(args) == expected


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(formatter_class=ArgparseFormatter)
    parser.add_argument("-p", "--pin")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("-c", "--code", type=secret, help="the code")
    parser.add_argument("-n", "--number", type=SecretType(int))
    parser.add_argument("--password")
    parser.add_argument("-r", "--reason")
    parser.add_argument("-t", "--tokens", nargs="+")
    return parser


@pytest.mark.parametrize(
    "args, expected",
    (
        (["-p", "1234", "-r", "x"], ["-p", REDACTED, "-r", "x"]),
        (["-p1234"], ["-p***"]),
        (["-p=1234"], ["-p=***"]),
        (["-vp1234"], ["-vp***"]),
        (["-vp", "1234"], ["-vp", REDACTED]),
        (["-c", "s3cr3t", "--code=s3cr3t"], ["-c", REDACTED, "--code=***"]),
        (["--co", "s3cr3t"], ["--co", REDACTED]),
        (["--pass", "s3cr3t"], ["--pass", REDACTED]),
        (["-n", "42"], ["-n", REDACTED]),
        (["-rvalue", "-v"], ["-rvalue", "-v"]),
        (["--tokens", "a", "b", "-r", "x"], ["--tokens", REDACTED, REDACTED, "-r", "x"]),
        (["-vt", "a", "b"], ["-vt", REDACTED, REDACTED]),
    ),
)
def test_redact_with_the_cookbook_parser(args, expected):
    assert redact(args, parser=_parser()) == expected


def test_redact_without_the_parser_keeps_short_options():
    assert redact(["-p", "1234"]) == ["-p", "1234"]


def test_redact_explicit_options_and_configured_words():
    assert redact(["-k", "x", "--foo", "y", "--pin", "z"], secret_names=["foo"], secret_options=["-k"]) == [
        "-k",
        REDACTED,
        "--foo",
        REDACTED,
        "--pin",
        "z",
    ]


def test_secret_type_changes_neither_parsing_nor_help():
    plain = argparse.ArgumentParser(prog="x", formatter_class=ArgparseFormatter)
    plain.add_argument("-c", "--code", help="the code")
    plain.add_argument("-n", "--number", type=int)
    marked = argparse.ArgumentParser(prog="x", formatter_class=ArgparseFormatter)
    marked.add_argument("-c", "--code", type=secret, help="the code")
    marked.add_argument("-n", "--number", type=SecretType(int))
    assert marked.format_help() == plain.format_help()
    assert marked.parse_args(["-c", "v", "-n", "3"]) == plain.parse_args(["-c", "v", "-n", "3"])


def test_secret_type_conversion_errors_read_as_the_wrapped_type(capsys):
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("-n", type=SecretType(int))
    with pytest.raises(SystemExit):
        parser.parse_args(["-n", "abc"])
    assert "invalid int value: 'abc'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "config, expected",
    (
        ({}, _redact.DEFAULT_SECRET_WORDS),
        (None, _redact.DEFAULT_SECRET_WORDS),
        ({"secret_option_words": ["otp"]}, ("otp",)),
        ({"secret_option_words": "otp"}, ("otp",)),
    ),
)
def test_secret_words_from_the_configuration(config, expected):
    assert secret_words(config) == expected


def test_redact_command_keeps_the_quoting_and_hides_secret_option_values():
    assert _redact.redact_command("mysql --password='s3 cr' -e 'select 1'") == "mysql --password='***' -e 'select 1'"
    assert _redact.redact_command("curl --token=abc -H x https://h") == "curl --token=*** -H x https://h"
    assert _redact.redact_command("echo 'unbalanced") == "echo 'unbalanced"


def test_secret_values_are_those_redact_took_out_and_redact_values_hides_them_anywhere():
    args = ["--password", "hunter2", "--pin=1234", "host1"]
    values = _redact.secret_values(args, _redact.redact(args))
    assert values == ["hunter2", "1234"]
    assert _redact.redact_values("run --auth hunter2 with 1234 on host1", values) == "run --auth *** with *** on host1"
