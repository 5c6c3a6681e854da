"""Integration tests of ``spicerack.phabricator()``: the real Conduit client against a local HTTP server."""

import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from wmflib.phabricator import Phabricator, PhabricatorError

from spicerack import Spicerack
from tests.integration.servers.http import HTTPTestServer, RecordedRequest

TOKEN = "api-abcdefghijklmnopqrstuvwxyz01"  # A throwaway token for the local server


def conduit_answer(result: Any) -> dict[str, Any]:
    """Return the body of a successful Conduit answer."""
    return {"result": result, "error_code": None, "error_info": None}


def conduit_params(request: RecordedRequest) -> dict[str, Any]:
    """Return the method parameters of a Conduit request (a form with ``params`` as JSON)."""
    form = parse_qs(request.body.decode())
    assert form["output"] == ["json"]
    params: dict[str, Any] = json.loads(form["params"][0])
    return params


@pytest.fixture
def bot_config(tmp_path: Path, http_server: HTTPTestServer) -> Path:
    """An INI file with the bot account, in the default section and in a custom one, pointing at the server."""
    config = tmp_path / "phabricator.ini"
    config.write_text(
        f"[phabricator_bot]\nhost = {http_server.url}/api/\nusername = test-bot\ntoken = {TOKEN}\n\n"
        f"[other_bot]\nhost = {http_server.url}/other/api/\nusername = other-bot\ntoken = {TOKEN[:-1]}2\n",
        encoding="utf-8",
    )
    return config


def phabricator(bot_config: Path, *, dry_run: bool, section: str = "phabricator_bot") -> Phabricator:
    """Return the client of ``spicerack.phabricator()``."""
    return Spicerack(dry_run=dry_run).phabricator(str(bot_config), section=section)


def test_task_comment_sends_the_conduit_edit(http_server: HTTPTestServer, bot_config: Path) -> None:
    http_server.script("/api/maniphest.edit", 200, body=conduit_answer({"object": {"id": 12345}}))

    phabricator(bot_config, dry_run=False).task_comment("T12345", "Host rebooted")

    [request] = http_server.requests
    assert (request.method, request.path) == ("POST", "/api/maniphest.edit")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert conduit_params(request) == {
        "objectIdentifier": "T12345",
        "transactions": [{"type": "comment", "value": "Host rebooted"}],
        "__conduit__": {"token": TOKEN},
    }


def test_task_comment_in_dry_run_sends_nothing(
    http_server: HTTPTestServer, bot_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="wmflib.phabricator"):
        phabricator(bot_config, dry_run=True).task_comment("T12345", "Host rebooted")

    assert http_server.requests == []
    assert "Skip updating Phabricator task 'T12345' in DRY-RUN with comment: Host rebooted" in caplog.text


def test_task_comment_with_an_empty_task_id_sends_nothing(http_server: HTTPTestServer, bot_config: Path) -> None:
    # The accessor allows empty identifiers, for cookbooks whose --task-id is optional.
    phabricator(bot_config, dry_run=False).task_comment("", "Host rebooted")

    assert http_server.requests == []


@pytest.mark.parametrize("dry_run", [True, False])
@pytest.mark.parametrize(("found", "expected"), [([{"id": 12345}], True), ([], False)])
def test_task_accessible_searches_even_in_dry_run(
    http_server: HTTPTestServer, bot_config: Path, dry_run: bool, found: list[dict[str, int]], expected: bool
) -> None:
    http_server.script("/api/maniphest.search", 200, body=conduit_answer({"data": found}))

    assert phabricator(bot_config, dry_run=dry_run).task_accessible("T12345") is expected

    [request] = http_server.requests
    assert (request.method, request.path) == ("POST", "/api/maniphest.search")
    assert conduit_params(request) == {"constraints": {"ids": [12345]}, "__conduit__": {"token": TOKEN}}


def test_task_accessible_with_an_empty_task_id_asks_nothing(http_server: HTTPTestServer, bot_config: Path) -> None:
    assert phabricator(bot_config, dry_run=False).task_accessible("") is False
    assert http_server.requests == []


def test_the_section_selects_the_bot_account(http_server: HTTPTestServer, bot_config: Path) -> None:
    http_server.script("/other/api/maniphest.edit", 200, body=conduit_answer({}))

    phabricator(bot_config, dry_run=False, section="other_bot").task_comment("T1", "hello")

    [request] = http_server.requests
    assert request.path == "/other/api/maniphest.edit"
    assert conduit_params(request)["__conduit__"] == {"token": f"{TOKEN[:-1]}2"}


def test_a_conduit_error_fails_the_comment(http_server: HTTPTestServer, bot_config: Path) -> None:
    error = {"result": None, "error_code": "ERR-CONDUIT-CORE", "error_info": "Monogram T999999 is not valid."}
    http_server.script("/api/maniphest.edit", 200, body=error)
    client = phabricator(bot_config, dry_run=False)

    with pytest.raises(PhabricatorError, match="Unable to update Phabricator task 'T999999'") as raised:
        client.task_comment("T999999", "hello")
    assert "ERR-CONDUIT-CORE" in str(raised.value.__cause__)


def test_a_failed_comment_can_be_only_logged(
    http_server: HTTPTestServer, bot_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    http_server.script("/api/maniphest.edit", 500)

    with caplog.at_level(logging.ERROR, logger="wmflib.phabricator"):
        phabricator(bot_config, dry_run=False).task_comment("T12345", "hello", raises=False)

    assert len(http_server.requests_to("/api/maniphest.edit")) == 1  # Sent, not retried on a 500
    assert "Unable to update Phabricator task 'T12345' (raises=False): Bad response status: 500" in caplog.text


def test_a_missing_section_is_a_clear_error(bot_config: Path) -> None:
    with pytest.raises(
        PhabricatorError, match=re.escape(f"Unable to find section missing in config file {bot_config}")
    ):
        phabricator(bot_config, dry_run=True, section="missing")


def test_a_missing_option_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "phabricator.ini"
    config.write_text("[phabricator_bot]\nhost = http://127.0.0.1:9/api/\nusername = bot\n", encoding="utf-8")

    with pytest.raises(PhabricatorError, match=r"Unable to find all required options .* in section phabricator_bot"):
        phabricator(config, dry_run=True)
