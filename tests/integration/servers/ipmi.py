"""A real IPMI LAN-plus BMC simulator (OpenIPMI's ``ipmi_sim``) on a free loopback UDP port.

The simulated chassis delegates power and boot device to a small control program (``chassis_control`` in
``lan.conf``) that keeps them in files of the fixture's directory, so tests see real state changes made through
``ipmitool``. The BMC has ``root`` (user 2) and ``operator`` (user 3) accounts with admin rights; passwords changed
over IPMI persist in the simulator's state directory.

ipmi_sim does not answer "Get Channel Cipher Suites", which ipmitool asks before every LAN-plus session when no
cipher suite is forced with ``-C`` (as spicerack's commands do): each command would wait 10 seconds for that answer.
So the BMC is reached through :py:class:`CipherSuitesShim`, a UDP relay that answers that one request itself (cipher
suite 3, the one ipmitool then picks and the simulator supports) and passes everything else through unchanged.

Known limitation of the simulator: it implements boot parameters 1, 4 and 5 only. ``ipmitool chassis bootparam set
bootflag ...`` writes parameter 5 (the change takes effect) and then fails reading parameter 3, so that command exits
with an error here while a real BMC accepts it. And a password changed over IPMI works only if it keeps the storage
size (16 or 20 bytes) of the account's current one: tests change root's to another 16-character password and
operator's to another one of 17 to 20 characters.
"""

import selectors
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.servers import require_binary, wait_until

__all__ = ["CipherSuitesShim", "IpmiSimulator", "ipmi_bmc", "ipmi_simulator"]

ROOT_PASSWORD = "root-initial-pw1"  # 16 characters: stored in the 16-byte format
OPERATOR_PASSWORD = "operator-initial1"  # 17 characters: stored in the 20-byte format

_LAN_CONF = """\
name "spicerack-bmc"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "{control}"
  user 2 true "root" "{root_password}" admin 10 none md2 md5 straight
  user 3 true "operator" "{operator_password}" admin 10 none md2 md5 straight
"""
_EMULATOR_COMMANDS = """\
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
"""
# ipmi_sim runs it as "<program> get <name>..." (print "name:value" lines) or "<program> set <name> <value>...".
_CHASSIS_CONTROL = """\
#!/bin/sh
cd "{state}" || exit 1
operation=$1
shift
if [ "$operation" = get ]; then
    for name in "$@"; do
        echo "$name:$(cat "$name")"
    done
else
    while [ $# -ge 2 ]; do
        echo "$2" > "$1"
        echo "$1 $2" >> history
        shift 2
    done
fi
"""
# An RMCP/ASF presence ping: the simulator answers it with a pong once it listens.
_RMCP_PING = bytes([0x06, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x11, 0xBE, 0x80, 0x01, 0x00, 0x00])
# Cipher suite 3 as a Get Channel Cipher Suites record: start of record, suite ID, RAKP-HMAC-SHA1,
# HMAC-SHA1-96 integrity, AES-CBC-128 confidentiality.
_CIPHER_SUITE_3_RECORD = bytes([0xC0, 0x03, 0x01, 0x41, 0x81])
_APP_NETFN = 0x06
_GET_CHANNEL_CIPHER_SUITES = 0x54


class CipherSuitesShim:
    """A UDP relay on a free loopback port to a BMC, answering "Get Channel Cipher Suites" on its behalf."""

    def __init__(self, upstream_port: int) -> None:
        """Bind the relay's port; :py:meth:`start` begins relaying."""
        self._upstream = ("127.0.0.1", upstream_port)
        self._front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._front.bind(("127.0.0.1", 0))
        self.port = int(self._front.getsockname()[1])
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._front, selectors.EVENT_READ, None)
        self._upstreams: dict[tuple[str, int], socket.socket] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._relay, name="ipmi-cipher-shim", daemon=True)

    def start(self) -> None:
        """Start relaying in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop relaying and close every socket."""
        self._stopping.set()
        self._thread.join(timeout=5)
        for sock in (self._front, *self._upstreams.values()):
            sock.close()
        self._selector.close()

    def _relay(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    packet, address = sock.recvfrom(65535)
                except OSError:  # e.g. the BMC's port refused an earlier packet
                    continue
                if key.data is not None:  # from the BMC, back to its client
                    self._front.sendto(packet, key.data)
                    continue
                reply = _cipher_suites_reply(packet)
                if reply is not None:
                    self._front.sendto(reply, address)
                else:
                    self._upstream_for(address).send(packet)

    def _upstream_for(self, client: tuple[str, int]) -> socket.socket:
        if client not in self._upstreams:
            upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            upstream.connect(self._upstream)
            self._upstreams[client] = upstream
            self._selector.register(upstream, selectors.EVENT_READ, client)
        return self._upstreams[client]


def _cipher_suites_reply(packet: bytes) -> bytes | None:
    """The answer to a session-less RMCP+ "Get Channel Cipher Suites" request, None for any other packet."""
    # RMCP header (4 bytes), auth type 6 (RMCP+), payload type 0 (IPMI), session ID and sequence (8), length (2).
    if len(packet) < 23 or packet[4] != 0x06 or packet[5] != 0x00 or any(packet[6:14]):
        return None
    responder, netfn_lun, _, requester, sequence_lun, command = packet[16:22]
    if netfn_lun >> 2 != _APP_NETFN or command != _GET_CHANNEL_CIPHER_SUITES:
        return None
    list_index = packet[24] & 0x3F
    records = _CIPHER_SUITE_3_RECORD if list_index == 0 else b""
    header = bytes([requester, ((_APP_NETFN + 1) << 2) | (sequence_lun & 0x03)])
    body = bytes([responder, sequence_lun, command, 0x00, 0x01]) + records  # completion OK, channel 1
    message = header + bytes([_checksum(header)]) + body + bytes([_checksum(body)])
    return packet[:6] + bytes(8) + len(message).to_bytes(2, "little") + message


def _checksum(data: bytes) -> int:
    return -sum(data) & 0xFF


@dataclass(frozen=True)
class IpmiSimulator:
    """An ``ipmi_sim`` BMC reached at ``host:port`` (through its shim), its chassis state in ``chassis_dir``."""

    host: str
    port: int
    pid: int
    chassis_dir: Path
    root_password: str = ROOT_PASSWORD
    operator_password: str = OPERATOR_PASSWORD

    def power(self) -> str:
        """The chassis power as the simulator keeps it: ``on`` or ``off``."""
        return "on" if self._read("power") == "1" else "off"

    def boot_device(self) -> str:
        """The boot device override for the next boot: ``none``, ``pxe``, ``default``, ``cdrom`` or ``bios``."""
        return self._read("boot")

    def history(self) -> list[str]:
        """The changes made to the chassis since the last :py:meth:`reset`, e.g. ``["power 0", "power 1"]``."""
        path = self.chassis_dir / "history"
        return path.read_text().splitlines() if path.exists() else []

    def reset(self, *, power: str = "on", boot_device: str = "none") -> None:
        """Put the chassis in the given state and forget the history of changes."""
        (self.chassis_dir / "power").write_text("1\n" if power == "on" else "0\n")
        (self.chassis_dir / "boot").write_text(f"{boot_device}\n")
        (self.chassis_dir / "history").unlink(missing_ok=True)

    def ipmitool(self, *args: str, user: str = "root", password: str = "") -> subprocess.CompletedProcess[str]:
        """Run ipmitool directly against the simulator, for checks independent of spicerack (root by default)."""
        command = ["ipmitool", "-I", "lanplus", "-H", self.host, "-p", str(self.port), "-U", user, "-E", *args]
        environment = {"PATH": "/usr/bin:/bin", "IPMITOOL_PASSWORD": password or self.root_password}
        return subprocess.run(command, env=environment, capture_output=True, text=True, check=False, timeout=60)

    def _read(self, name: str) -> str:
        return (self.chassis_dir / name).read_text().strip()


@pytest.fixture(scope="session")
def ipmi_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IpmiSimulator]:
    """An ``ipmi_sim`` BMC on a free loopback UDP port, with its own configuration and state directory."""
    binary = require_binary("ipmi_sim")
    require_binary("ipmitool")
    workdir = tmp_path_factory.mktemp("ipmi_sim")
    chassis_dir = workdir / "chassis"
    chassis_dir.mkdir()
    state_dir = workdir / "state"
    state_dir.mkdir()
    control = workdir / "chassis_control"
    control.write_text(_CHASSIS_CONTROL.format(state=chassis_dir))
    control.chmod(0o755)
    port = _free_udp_port()
    config = workdir / "lan.conf"
    config.write_text(
        _LAN_CONF.format(port=port, control=control, root_password=ROOT_PASSWORD, operator_password=OPERATOR_PASSWORD)
    )
    commands = workdir / "bmc.emu"
    commands.write_text(_EMULATOR_COMMANDS)
    simulator = IpmiSimulator("127.0.0.1", port, 0, chassis_dir)
    simulator.reset()

    log = (workdir / "ipmi_sim.log").open("wb")
    process = subprocess.Popen(
        [binary, "-n", "-c", str(config), "-f", str(commands), "-s", str(state_dir)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    shim = CipherSuitesShim(port)
    try:
        wait_until(lambda: process.poll() is not None or _answers_ping(port), what="ipmi_sim")
        if process.poll() is not None:
            pytest.fail(f"ipmi_sim exited with {process.returncode}: {_tail(workdir / 'ipmi_sim.log')}")
        shim.start()
        yield IpmiSimulator("127.0.0.1", shim.port, process.pid, chassis_dir)
    finally:
        shim.stop()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@pytest.fixture
def ipmi_bmc(ipmi_simulator: IpmiSimulator) -> IpmiSimulator:
    """The session's simulated BMC, powered on, without boot override and with no recorded change."""
    ipmi_simulator.reset()
    return ipmi_simulator


def _free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _answers_ping(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        sock.sendto(_RMCP_PING, ("127.0.0.1", port))
        try:
            sock.recvfrom(512)
        except TimeoutError:
            return False
        return True


def _tail(path: Path) -> str:
    return " | ".join(path.read_text(errors="replace").splitlines()[-5:])
