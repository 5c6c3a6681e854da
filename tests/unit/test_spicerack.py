"""Unit tests of the Spicerack accessor's basic properties."""

import logging
import os
import socket
from pathlib import Path

import pytest

from spicerack import Spicerack, SpicerackError, SpicerackExtenderBase


def test_basic_properties(monkeypatch):
    monkeypatch.setenv("USER", "root")
    monkeypatch.setenv("SUDO_USER", "alice")
    spicerack = Spicerack(verbose=True, dry_run=False, spicerack_config_dir="/cfg", http_proxy="http://proxy:3128")
    assert spicerack.verbose is True
    assert spicerack.dry_run is False
    assert spicerack.username == "alice"
    assert spicerack.current_hostname == socket.gethostname()
    assert spicerack.owner == f"alice@{socket.gethostname()} [{os.getpid()}]"
    assert spicerack.config_dir == Path("/cfg")
    assert spicerack.config_dir / "x.yaml" == Path("/cfg/x.yaml")
    assert spicerack.http_proxy == "http://proxy:3128"
    assert spicerack.requests_proxies == {"http": "http://proxy:3128", "https": "http://proxy:3128"}
    assert isinstance(spicerack.irc_logger, logging.Logger)
    assert spicerack.irc_logger is not spicerack.sal_logger


def test_defaults_are_dry_run_and_no_proxy():
    spicerack = Spicerack()
    assert spicerack.dry_run is True
    assert spicerack.requests_proxies is None


def test_actions_are_kept_per_accessor():
    spicerack = Spicerack()
    spicerack.actions["host1"].success("rebooted")
    assert "rebooted" in str(spicerack.actions)
    assert spicerack.actions is spicerack.actions


def test_extender_adds_accessors():
    class Extender(SpicerackExtenderBase):
        def answer(self) -> int:
            return 42

        def whoami(self) -> str:
            return self._spicerack.username

    spicerack = Spicerack(extender_class=Extender)
    assert spicerack.answer() == 42
    assert spicerack.whoami() == spicerack.username
    with pytest.raises(AttributeError, match="'Extender' object has no attribute 'missing'"):
        spicerack.missing()


def test_unknown_attribute_without_extender_names_the_accessor():
    with pytest.raises(AttributeError, match=r"^AttributeError: 'Spicerack' object has no attribute 'missing'$"):
        Spicerack().missing  # noqa: B018


def test_run_cookbook_outside_the_runner_is_an_error():
    with pytest.raises(SpicerackError, match="get_cookbook_callback is not set"):
        Spicerack().run_cookbook("a.b")


def test_constants_cookbooks_import():
    from spicerack import constants

    assert constants.KEYHOLDER_SOCK == "/run/keyholder/proxy.sock"
    assert constants.PUPPET_CA_PATH.endswith(".pem")
    assert constants.WMF_CA_BUNDLE_PATH.startswith("/etc/ssl/certs/")
