"""Unit tests of spicerack.debmonitor: INI configuration, hostname checks and DRY-RUN (no server involved)."""

import logging
from pathlib import Path

import pytest

from spicerack import Spicerack
from spicerack.debmonitor import Debmonitor, DebmonitorError, debmonitor_from_config

UNREACHABLE_HOST = "debmonitor.invalid"


def write_ini(path: Path, content: str) -> Path:
    path.write_text(content)
    return path


def test_config_builds_a_client_with_the_default_section(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = write_ini(
        tmp_path / "debmonitor.conf",
        f"[DEFAULT]\nserver = {UNREACHABLE_HOST}\ncert = /etc/debmonitor/cert.pem\nkey = /etc/debmonitor/key.pem\n"
        "port = 443\n\n[client]\nother = ignored\n",
    )
    caplog.set_level(logging.INFO, logger="spicerack.debmonitor")

    debmonitor = debmonitor_from_config(config, dry_run=True)
    debmonitor.host_delete("host1001.eqiad.wmnet")  # DRY-RUN: nothing sent to the unreachable host

    assert isinstance(debmonitor, Debmonitor)
    assert "Would remove host host1001.eqiad.wmnet from Debmonitor (DRY-RUN)" in caplog.text


def test_config_file_missing(tmp_path: Path) -> None:
    missing = tmp_path / "missing.conf"

    with pytest.raises(DebmonitorError, match=f"^Unable to read the Debmonitor config file {missing}: No such file"):
        debmonitor_from_config(missing)


def test_config_file_not_ini(tmp_path: Path) -> None:
    config = write_ini(tmp_path / "debmonitor.conf", "server=debmonitor.example.org\nsecret=hunter2\n")

    with pytest.raises(DebmonitorError, match=r"is not a valid INI file: MissingSectionHeaderError$") as error:
        debmonitor_from_config(config)

    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize(
    ("content", "missing"),
    [
        ("[DEFAULT]\nserver=debmonitor.example.org\ncert=/c.pem\n", "key"),
        ("[DEFAULT]\nserver=\ncert=/c.pem\nkey=/k.pem\n", "server"),
        ("[client]\nserver=debmonitor.example.org\ncert=/c.pem\nkey=/k.pem\n", "server, cert, key"),
        ("", "server, cert, key"),
    ],
)
def test_config_missing_options(tmp_path: Path, content: str, missing: str) -> None:
    config = write_ini(tmp_path / "debmonitor.conf", content)

    with pytest.raises(DebmonitorError, match=f"misses in its \\[DEFAULT\\] section: {missing}$"):
        debmonitor_from_config(config)


@pytest.mark.parametrize(
    "hostname", ["", "host/../admin", "host1001.eqiad.wmnet?x=1", "host#x", "..", ".", "host..wmnet", "a b", 1001]
)
def test_host_delete_refuses_invalid_hostnames(hostname: str) -> None:
    debmonitor = Debmonitor(UNREACHABLE_HOST, "/c.pem", "/k.pem", dry_run=True)

    with pytest.raises(DebmonitorError, match=r"^Invalid hostname .* for Debmonitor$"):
        debmonitor.host_delete(hostname)


@pytest.mark.parametrize("hostname", ["host1001", "host1001.eqiad.wmnet", "cloud-vps_1.example.org"])
def test_host_delete_accepts_host_names(hostname: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="spicerack.debmonitor")

    Debmonitor(UNREACHABLE_HOST, "/c.pem", "/k.pem").host_delete(hostname)  # DRY-RUN is the default

    assert f"Would remove host {hostname} from Debmonitor" in caplog.text


def test_accessor_reads_debmonitor_config_and_passes_dry_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = write_ini(tmp_path / "debmonitor.conf", f"[DEFAULT]\nserver={UNREACHABLE_HOST}\ncert=/c.pem\nkey=/k.pem\n")
    caplog.set_level(logging.INFO, logger="spicerack.debmonitor")

    Spicerack(dry_run=True, debmonitor_config=str(config)).debmonitor().host_delete("host1001.eqiad.wmnet")

    assert "DRY-RUN" in caplog.text


def test_accessor_with_a_missing_config_is_a_one_line_error(tmp_path: Path) -> None:
    spicerack = Spicerack(dry_run=True, debmonitor_config=str(tmp_path / "nope.conf"))

    with pytest.raises(DebmonitorError, match=r"^Unable to read the Debmonitor config file [^\n]+$"):
        spicerack.debmonitor()
