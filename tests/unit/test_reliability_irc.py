"""The relay's queue under pressure: SAL lines (the audit trail) are kept, ordinary IRC messages give way first."""

import threading

import pytest

from spicerack import irc


class GatedRelay(irc.TcpIrcRelay):
    """A relay whose deliveries wait for the test to open the gate, recording what they deliver."""

    def __init__(self, **kwargs: float) -> None:
        self.delivered: list[str] = []
        self.gate = threading.Event()
        self.fail = False
        super().__init__("127.0.0.1", 9, **kwargs)  # type: ignore[arg-type]

    def _deliver(self, line: str) -> None:
        self.gate.wait()
        if self.fail:
            raise ConnectionRefusedError(111, "Connection refused")
        self.delivered.append(line)


@pytest.mark.parametrize(
    ("line", "expected"), [("!log alice@host START - x", True), ("alice@host !log x", False), ("!logx", False)]
)
def test_sal_lines_are_recognized_by_their_command(line: str, expected: bool) -> None:
    assert irc.is_sal_line(line) is expected


def test_a_full_queue_drops_ordinary_messages_to_keep_sal_lines() -> None:
    relay = GatedRelay(queue_size=3, flush_timeout=5)
    relay.send("!log START")
    with relay._changed:  # START is being delivered: three more lines fill the queue
        assert relay._changed.wait_for(lambda: relay._sending is not None, timeout=30)
    for number in range(5):
        relay.send(f"chatter {number}")
    relay.send("!log END")
    relay.gate.set()
    relay.close()
    assert relay.delivered == ["!log START", "chatter 1", "chatter 2", "!log END"]
    assert relay.dropped == 3


def test_at_exit_ordinary_messages_left_after_the_flush_time_are_dropped_and_sal_lines_sent() -> None:
    relay = GatedRelay(flush_timeout=0.1, sal_flush_timeout=30)
    for line in ("!log START", "chatter 1", "chatter 2", "!log END"):
        relay.send(line)
    # The first delivery is held until the flush time is over
    threading.Timer(0.3, relay.gate.set).start()
    relay.close()
    assert relay.delivered == ["!log START", "!log END"]
    assert relay.dropped == 2


def test_a_relay_failing_at_exit_ends_the_wait_for_sal_lines() -> None:
    relay = GatedRelay(flush_timeout=0.1, sal_flush_timeout=600)
    relay.fail = True
    for line in ("!log START", "!log line", "!log END"):
        relay.send(line)
    threading.Timer(0.3, relay.gate.set).start()
    relay.close()  # returns after the first failure, not after sal_flush_timeout
    assert relay.failed >= 1
    assert relay.delivered == []


def test_nothing_is_queued_after_close() -> None:
    relay = GatedRelay()
    relay.gate.set()
    relay.close()
    relay.send("!log late")
    assert relay.delivered == []


def test_a_relay_host_that_cannot_be_resolved_at_all_fails_each_delivery_without_killing_the_sender() -> None:
    relay = irc.TcpIrcRelay("a..b", 6667)  # socket refuses the name itself (UnicodeError), no lookup is made
    relay.send("!log START")
    relay.send("!log END")
    with relay._changed:
        relay._changed.wait_for(lambda: relay._sending is None and not relay._pending, timeout=30)
    assert relay._thread.is_alive()
    assert relay.failed == 2
    relay.close()
