"""Unit tests of the hints for a cookbook name that names nothing."""

from pathlib import Path

import pytest

from spicerack import _suggest

KNOWN = ["ops", "ops.greet", "ops.restart", "sre.hosts", "sre.hosts.reboot", "sre.hosts.uptime"]


@pytest.mark.parametrize(
    "typed, expected",
    (
        ("ops.gret", ["ops.greet"]),
        ("greet", ["ops.greet"]),
        ("sre.hosts.rebot", ["sre.hosts.reboot"]),
        ("uptime", ["sre.hosts.uptime"]),
        ("zzzzzz", []),
        ("", []),
    ),
)
def test_nearest_names(typed, expected):
    assert _suggest.nearest_names(typed, KNOWN)[: len(expected) or None] == expected


@pytest.mark.parametrize(
    "typed, expected",
    (
        ("cookbooks/ops/greet.py", "ops.greet"),
        ("./ops/greet.py", "ops.greet"),
        ("ops/greet", "ops.greet"),
        ("ops/", "ops"),
        ("../elsewhere/x.py", None),
    ),
)
def test_name_of_a_relative_path(typed, expected, tmp_path):
    assert _suggest.name_of_path(typed, [tmp_path / "tree"], cwd=tmp_path) == expected


def test_name_of_an_absolute_path_inside_a_tree(tmp_path):
    tree = tmp_path / "tree"
    assert _suggest.name_of_path(str(tree / "cookbooks" / "ops" / "greet.py"), [tree]) == "ops.greet"
    assert _suggest.name_of_path(str(tmp_path / "other" / "greet.py"), [tree]) is None
    assert _suggest.name_of_path("ops/greet.py", [tree], cwd=tree / "cookbooks") == "ops.greet"


def test_not_found_hints():
    trees = [Path("/nonexistent/tree")]
    assert _suggest.not_found_hints("ops.gret", KNOWN, trees) == ["Did you mean ops.greet?"]
    assert _suggest.not_found_hints("zzzzzz", KNOWN, trees) == []
    (line,) = _suggest.not_found_hints("cookbooks/ops/greet.py", KNOWN, trees, cwd=Path("/nonexistent"))
    assert line.endswith("not file paths: did you mean ops.greet?")
    (line,) = _suggest.not_found_hints("ops/gret.py", KNOWN, trees, cwd=Path("/nonexistent"))
    assert line.endswith("not file paths: did you mean ops.greet?")
    (line,) = _suggest.not_found_hints("/x/y.py", KNOWN, trees)
    assert line.endswith("not file paths")
    assert "or" in _suggest.not_found_hints("sre.hosts.u", KNOWN, trees)[0]


def test_misplaced_global_options():
    options = ["-d", "--dry-run", "-c", "--config-file", "-v"]
    assert _suggest.misplaced_global_options(["-d", "--foo", "--config-file=x"], options) == ["-d", "--config-file=x"]
    assert _suggest.misplaced_hint(["-d"]).startswith("-d: the options of cookbook itself go before COOKBOOK")
