"""Unit tests of spicerack.apt: the apt-get command lines."""

import pytest

from spicerack.apt import APT_GET_BASE_COMMAND, AptGetError, AptGetHosts
from tests.unit.remote_stub import StubRemoteHosts


def test_base_command_is_non_interactive_and_keeps_config_files():
    assert APT_GET_BASE_COMMAND == (
        "DEBIAN_FRONTEND=noninteractive /usr/bin/apt-get --quiet --yes "
        '--option Dpkg::Options::="--force-confdef" --option Dpkg::Options::="--force-confold"'
    )


def test_commands_and_run_sync_arguments():
    hosts = StubRemoteHosts("host[1-2]")
    apt_get = AptGetHosts(hosts)
    apt_get.update(batch_size=1)
    apt_get.install("pkg1", "pkg2", print_progress_bars=False)
    apt_get.run("autoremove")
    assert hosts.commands == [
        f"{APT_GET_BASE_COMMAND} update",
        f"{APT_GET_BASE_COMMAND} install pkg1 pkg2",
        f"{APT_GET_BASE_COMMAND} autoremove",
    ]
    assert [kwargs for _, kwargs in hosts.calls] == [{"batch_size": 1}, {"print_progress_bars": False}, {}]


@pytest.mark.parametrize(
    ("call", "message"),
    [(lambda apt: apt.install(), "No packages to install"), (lambda apt: apt.run("  "), "No apt-get command")],
)
def test_bad_input_runs_nothing(call, message):
    hosts = StubRemoteHosts()
    with pytest.raises(AptGetError, match=message):
        call(AptGetHosts(hosts))
    assert hosts.calls == []


def test_packages_go_on_the_command_line_as_given():
    # As the reference: a cookbook may pass several packages, or a version, in one argument.
    hosts = StubRemoteHosts("host1")
    AptGetHosts(hosts).install("pkg1 pkg2", "pkg3=1.2-1~deb12u1")
    assert hosts.commands == [f"{APT_GET_BASE_COMMAND} install pkg1 pkg2 pkg3=1.2-1~deb12u1"]
