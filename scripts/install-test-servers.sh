#!/usr/bin/env bash
# Install, from Debian's packages, the real servers the integration tests start on loopback.
# Only what is missing is installed, so a machine that has them already pays nothing.
set -euo pipefail

declare -A PACKAGE_FOR_BINARY=(
    [etcd]=etcd-server
    [etcdctl]=etcd-client
    [sshd]=openssh-server
    [ssh]=openssh-client
    [ssh-keygen]=openssh-client
    [prometheus-alertmanager]=prometheus-alertmanager
    [ngircd]=ngircd
    [mariadbd]=mariadb-server
    [mariadb]=mariadb-client
    [openssl]=openssl
    [knotd]=knot
    [prometheus]=prometheus
    [ipmitool]=ipmitool
    [ipmi_sim]=openipmi
    [dhcpd]=isc-dhcp-server
    [redis-server]=redis-server
)

missing=()
for binary in "${!PACKAGE_FOR_BINARY[@]}"; do
    if ! command -v "$binary" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$binary" ]; then
        missing+=("${PACKAGE_FOR_BINARY[$binary]}")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "Installing test servers: ${packages[*]}"
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
