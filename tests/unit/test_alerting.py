"""Unit tests of spicerack.alerting: the order of the two systems and what happens when one of them fails."""

import pytest

from spicerack.administrative import Reason
from spicerack.alerting import AlertingError, AlertingHosts
from spicerack.alertmanager import AlertmanagerError
from spicerack.icinga import IcingaError

REASON = Reason("maintenance", "user", "cumin1001")


class Recorder:
    """Records the calls of both stub clients in one list; an entry of ``failures`` makes that call raise."""

    def __init__(self, failures=()):
        self.calls = []
        self.failures = dict(failures)

    def call(self, name, result=None):
        self.calls.append(name)
        if name in self.failures:
            raise self.failures[name]
        return result


class StubIcinga:
    def __init__(self, recorder):
        self.recorder = recorder

    def downtime(self, reason, *, duration):
        self.recorder.call("icinga.downtime")

    def remove_downtime(self):
        self.recorder.call("icinga.remove")


class StubAlertmanager:
    def __init__(self, recorder):
        self.recorder = recorder

    def downtime(self, reason, *, duration):
        return self.recorder.call("am.downtime", "silence-1")

    def remove_downtime(self, downtime_id):
        self.recorder.call(f"am.remove:{downtime_id}")


def alerting(failures=()):
    recorder = Recorder(failures)
    return AlertingHosts(StubAlertmanager(recorder), StubIcinga(recorder)), recorder


def test_downtimed_sets_icinga_first_and_removes_both():
    hosts, recorder = alerting()
    with hosts.downtimed(REASON):
        assert recorder.calls == ["icinga.downtime", "am.downtime"]
    assert recorder.calls[2:] == ["icinga.remove", "am.remove:silence-1"]


def test_downtimed_keeps_the_downtime_on_error_unless_asked():
    hosts, recorder = alerting()
    with pytest.raises(ValueError, match="body"), hosts.downtimed(REASON):
        raise ValueError("body")
    assert recorder.calls == ["icinga.downtime", "am.downtime"]

    hosts, recorder = alerting()
    with pytest.raises(ValueError, match="body"), hosts.downtimed(REASON, remove_on_error=True):
        raise ValueError("body")
    assert recorder.calls[2:] == ["icinga.remove", "am.remove:silence-1"]


def test_alertmanager_failure_removes_the_icinga_downtime():
    hosts, recorder = alerting({"am.downtime": AlertmanagerError("unreachable")})
    with pytest.raises(AlertmanagerError, match="unreachable"):
        hosts.downtime(REASON)
    assert recorder.calls == ["icinga.downtime", "am.downtime", "icinga.remove"]


def test_icinga_failure_creates_no_silence():
    hosts, recorder = alerting({"icinga.downtime": IcingaError("unknown host")})
    with pytest.raises(IcingaError, match="unknown host"):
        hosts.downtime(REASON)
    assert recorder.calls == ["icinga.downtime"]


def test_remove_downtime_attempts_both():
    hosts, recorder = alerting({"icinga.remove": IcingaError("icinga down")})
    with pytest.raises(IcingaError, match="icinga down"):
        hosts.remove_downtime("silence-1")
    assert recorder.calls == ["icinga.remove", "am.remove:silence-1"]

    failures = {"icinga.remove": IcingaError("icinga down"), "am.remove:silence-1": AlertmanagerError("am down")}
    hosts, recorder = alerting(failures)
    with pytest.raises(AlertingError, match="Unable to remove the downtime: icinga down; am down"):
        hosts.remove_downtime("silence-1")
