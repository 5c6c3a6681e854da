"""Integration tests of spicerack.apt: apt-get command lines travel over SSH to an apt-get stand-in on the fleet."""

import shutil
from pathlib import Path

import pytest

from spicerack import Spicerack, apt
from spicerack.apt import AptGetError

HOSTS = ("test-host07", "test-host08")


@pytest.fixture
def apt_fleet(ssh_fleet, monkeypatch):
    """apt-get replaced by the stand-in (by name, first in the fleet's PATH), with the options of the real command."""
    shutil.copyfile(Path(__file__).parent / "fleet_tools" / "apt-get", ssh_fleet.bin_dir / "apt-get")
    (ssh_fleet.bin_dir / "apt-get").chmod(0o755)
    monkeypatch.setattr(apt, "APT_GET_BASE_COMMAND", apt.APT_GET_BASE_COMMAND.replace("/usr/bin/apt-get", "apt-get"))
    for host in HOSTS:
        for name in ("apt-get.log", "installed"):
            (ssh_fleet.state_dir(host) / name).unlink(missing_ok=True)
    return ssh_fleet


def spicerack_for(fleet, tmp_path, dry_run=False):
    return Spicerack(cumin_config=str(fleet.cumin_config), spicerack_config_dir=str(tmp_path), dry_run=dry_run)


def log(fleet, host):
    path = fleet.state_dir(host) / "apt-get.log"
    return path.read_text().splitlines() if path.exists() else []


def test_update_and_install_run_on_every_host(apt_fleet, tmp_path):
    spicerack = spicerack_for(apt_fleet, tmp_path)
    apt_get = spicerack.apt_get(spicerack.remote().query("test-host[07-08]"))
    apt_get.update()
    results = list(apt_get.install("vim", "htop", batch_size=1))
    assert results  # the outputs come back
    for host in HOSTS:
        lines = log(apt_fleet, host)
        assert lines[0].startswith("DEBIAN_FRONTEND=noninteractive --quiet --yes --option Dpkg::Options::=--force-conf")
        assert lines[0].endswith(" update")
        assert lines[1].endswith(" install vim htop")
        assert (apt_fleet.state_dir(host) / "installed").read_text().split() == ["vim", "htop"]


def test_dry_run_runs_nothing(apt_fleet, tmp_path):
    spicerack = spicerack_for(apt_fleet, tmp_path, dry_run=True)
    apt_get = spicerack.apt_get(spicerack.remote().query("test-host07"))
    assert list(apt_get.install("vim")) == []
    assert log(apt_fleet, "test-host07") == []


def test_bad_input_runs_nothing(apt_fleet, tmp_path):
    spicerack = spicerack_for(apt_fleet, tmp_path)
    apt_get = spicerack.apt_get(spicerack.remote().query("test-host07"))
    with pytest.raises(AptGetError, match="No packages to install"):
        apt_get.install()
    assert log(apt_fleet, "test-host07") == []
