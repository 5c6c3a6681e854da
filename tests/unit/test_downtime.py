"""The removal shared by every downtimed() context manager."""

import inspect

import pytest

from spicerack._downtime import removed_after
from spicerack.alerting import AlertingHosts
from spicerack.alertmanager import Alertmanager, AlertmanagerHosts
from spicerack.icinga import IcingaHosts
from spicerack.service import Service


def test_removed_when_the_body_completes():
    removed = []
    with removed_after(lambda: removed.append(1), remove_on_error=False):
        assert removed == []
    assert removed == [1]


@pytest.mark.parametrize(("remove_on_error", "expected"), [(True, [1]), (False, [])])
def test_removed_on_error_only_if_asked_and_the_error_goes_on(remove_on_error, expected):
    removed = []
    with pytest.raises(KeyboardInterrupt), removed_after(lambda: removed.append(1), remove_on_error=remove_on_error):
        raise KeyboardInterrupt
    assert removed == expected


@pytest.mark.parametrize(
    "method",
    [
        Alertmanager.downtimed,
        AlertmanagerHosts.downtimed,
        AlertingHosts.downtimed,
        IcingaHosts.downtimed,
        IcingaHosts.services_downtimed,
        Service.downtimed,
    ],
)
def test_every_downtimed_keeps_the_downtime_on_error_by_default(method):
    # As the reference: an operator looks into the failure while the hosts are still silenced.
    assert inspect.signature(method).parameters["remove_on_error"].default is False


def test_the_shared_helper_keeps_the_downtime_on_error_by_default():
    removed = []
    with pytest.raises(ValueError, match="failed"), removed_after(lambda: removed.append(1)):
        raise ValueError("failed")
    assert removed == []
