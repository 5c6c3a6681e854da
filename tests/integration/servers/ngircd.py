"""A real IRC server (Debian's ngircd) on loopback, with a tcpircbot-like relay posting to one of its channels.

The ``ircbot_channel`` fixture gives a :py:class:`~tests.integration.servers.tcpircbot.TcpIrcBotRelay` whose
received lines a bot posts verbatim to a channel (as the real tcpircbot does), and a second client, the
watcher, joined to the same channel, recording every line the IRC server sends it.
"""

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.servers import free_port, require_binary, wait_until
from tests.integration.servers.tcpircbot import TcpIrcBotRelay

__all__ = ["IRCChannelRelay", "IRCClient", "NgircdServer", "ircbot_channel", "ircbot_channel_session", "ngircd_server"]

CHANNEL = "#spicerack-test"
_CONFIG = """\
[Global]
Name = irc.spicerack.test
Info = Spicerack test IRC server
AdminInfo1 = Spicerack tests
AdminInfo2 = loopback only
AdminEMail = root@localhost
Listen = 127.0.0.1
Ports = {port}
PidFile = {pid_file}
MotdPhrase = "Spicerack test server"
[Limits]
PingTimeout = 300
PongTimeout = 60
MaxNickLength = 30
[Options]
PAM = no
Ident = no
DNS = no
"""


@dataclass(frozen=True)
class NgircdServer:
    """An ngircd listening on ``host:port``."""

    host: str
    port: int
    pid: int


class IRCClient:
    """A minimal IRC client: registers, joins channels, sends PRIVMSG and records every line it receives."""

    def __init__(self, server: NgircdServer, nick: str) -> None:
        """Connect and register as ``nick``, waiting (bounded) for the welcome."""
        self.nick = nick
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._sock = socket.create_connection((server.host, server.port), timeout=10)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, name=f"irc-{nick}", daemon=True)
        self._reader.start()
        self.send_raw(f"NICK {nick}")
        self.send_raw(f"USER {nick} 0 * :Spicerack test {nick}")
        self.wait_for(lambda line: f" 001 {nick} " in line, "the welcome")

    def send_raw(self, line: str) -> None:
        """Send one IRC protocol line."""
        self._sock.sendall(line.encode("utf-8") + b"\r\n")

    def join(self, channel: str, *, wait: bool = True) -> None:
        """Join a channel, by default waiting (bounded) for the end of its names list."""
        self.send_raw(f"JOIN {channel}")
        if wait:
            self.wait_joined(channel)

    def wait_joined(self, channel: str) -> None:
        """Wait (bounded) for the end of the names list that confirms joining ``channel``."""
        self.wait_for(lambda line: f" 366 {self.nick} {channel} " in line, f"joining {channel}")

    def privmsg(self, target: str, text: str) -> None:
        """Post ``text`` to ``target`` exactly as given, as a naive relay does."""
        self._sock.sendall(f"PRIVMSG {target} :{text}\r\n".encode())

    def received(self) -> list[str]:
        """Every line received so far."""
        with self._lock:
            return list(self.lines)

    def clear(self) -> None:
        """Forget the received lines."""
        with self._lock:
            self.lines.clear()

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 15.0) -> str:
        """Return the first received line satisfying ``check``, failing after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.received():
                if check(line):
                    return line
            time.sleep(0.02)
        pytest.fail(f"IRC client {self.nick}: no line for {what} after {timeout}s")

    def close(self) -> None:
        """Quit and close the connection."""
        with contextlib.suppress(OSError):
            self.send_raw("QUIT :done")
        self._sock.close()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self._sock.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            *complete, buffer = buffer.split(b"\r\n")
            for raw in complete:
                line = raw.decode("utf-8", "replace")
                if line.startswith("PING "):
                    self.send_raw("PONG " + line[5:])
                    continue
                with self._lock:
                    self.lines.append(line)


@dataclass
class IRCChannelRelay:
    """A relay whose lines a bot posts to ``channel``, and a watcher client in the same channel."""

    relay: TcpIrcBotRelay
    bot: IRCClient
    watcher: IRCClient
    channel: str

    def channel_messages(self) -> list[str]:
        """The texts of the PRIVMSGs the watcher received in the channel, in order."""
        marker = f" PRIVMSG {self.channel} :"
        return [line.split(marker, 1)[1] for line in self.watcher.received() if marker in line]

    def wait_for_messages(self, count: int, timeout: float = 20.0) -> list[str]:
        """Return the channel messages once there are at least ``count`` (bounded poll), else what arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.channel_messages()
            if len(messages) >= count:
                return messages
            time.sleep(0.02)
        return self.channel_messages()

    def reset(self) -> None:
        """Forget what the relay and the watcher received."""
        self.relay.reset()
        self.watcher.clear()


@pytest.fixture(scope="session")
def ngircd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NgircdServer]:
    """An ngircd on a free loopback port, with its own configuration (no PAM, ident nor DNS)."""
    binary = require_binary("ngircd")
    workdir = tmp_path_factory.mktemp("ngircd")
    run_dir = workdir / "run"
    run_dir.mkdir()
    run_dir.chmod(0o777)  # ngircd started as root drops to "nobody" before writing its PID file
    port = free_port()
    config = workdir / "ngircd.conf"
    config.write_text(_CONFIG.format(port=port, pid_file=run_dir / "ngircd.pid"))
    log = (workdir / "ngircd.log").open("wb")
    process = subprocess.Popen(
        [binary, "--nodaemon", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT, cwd=workdir
    )
    try:
        wait_until(lambda: _accepts(port) or process.poll() is not None, what="ngircd")
        if process.poll() is not None:
            pytest.fail(f"ngircd exited with {process.returncode}: {_tail(workdir / 'ngircd.log')}")
        yield NgircdServer("127.0.0.1", port, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def ircbot_channel_session(ngircd_server: NgircdServer) -> Iterator[IRCChannelRelay]:
    """A relay posting to a channel of :py:func:`ngircd_server` through a bot, with a watcher in the channel."""
    bot = IRCClient(ngircd_server, "relaybot")
    watcher = IRCClient(ngircd_server, "watcher")
    for client in (bot, watcher):  # ngircd delays a JOIN by a second per connection: let them overlap
        client.join(CHANNEL, wait=False)
    for client in (bot, watcher):
        client.wait_joined(CHANNEL)
    relay = TcpIrcBotRelay(forward=lambda line: bot.privmsg(CHANNEL, line))
    relay.start()
    yield IRCChannelRelay(relay, bot, watcher, CHANNEL)
    relay.stop()
    watcher.close()
    bot.close()


@pytest.fixture
def ircbot_channel(ircbot_channel_session: IRCChannelRelay) -> IRCChannelRelay:
    """The session's relay to IRC, with nothing received yet."""
    ircbot_channel_session.reset()
    return ircbot_channel_session


def _accepts(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def _tail(path: Path) -> str:
    return " | ".join(path.read_text(errors="replace").splitlines()[-5:])
