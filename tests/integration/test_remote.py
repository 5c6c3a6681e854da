"""Integration tests of spicerack.remote against a real fleet of sshd hosts, through cumin and ClusterShell."""

import subprocess


def test_fleet_hosts_answer_with_their_own_name(ssh_fleet):
    for host in (ssh_fleet.hosts[0], ssh_fleet.hosts[-1]):
        result = subprocess.run(
            ["ssh", "-F", str(ssh_fleet.ssh_config), host, "echo $FLEET_HOST $FLEET_STATE_DIR"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        assert result.stdout.split() == [host, str(ssh_fleet.state_dir(host))]
