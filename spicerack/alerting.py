"""Downtime a set of hosts on both alerting systems at once: Alertmanager and Icinga."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from spicerack._downtime import removed_after
from spicerack.administrative import Reason
from spicerack.alertmanager import AlertmanagerHosts
from spicerack.exceptions import SpicerackError
from spicerack.icinga import IcingaHosts

__all__ = ["AlertingError", "AlertingHosts"]

logger = logging.getLogger(__name__)


class AlertingError(SpicerackError):
    """A downtime could not be handled on both alerting systems."""


class AlertingHosts:
    """The same hosts on Alertmanager and on Icinga, downtimed together."""

    def __init__(self, alertmanager_hosts: AlertmanagerHosts, icinga_hosts: IcingaHosts) -> None:
        """Pair the clients of the two alerting systems, which must target the same hosts.

        Arguments:
            alertmanager_hosts: the hosts on Alertmanager.
            icinga_hosts: the same hosts on Icinga.

        """
        self._am = alertmanager_hosts
        self._icinga = icinga_hosts

    @contextmanager
    def downtimed(
        self, reason: Reason, *, duration: timedelta = timedelta(hours=4), remove_on_error: bool = False
    ) -> Iterator[None]:
        """Run the body of the ``with`` statement while the hosts are downtimed on both systems.

        The downtime is removed when the body completes. When the body raises, it is left in place (to expire at
        the end of ``duration``) unless ``remove_on_error`` is set.

        Arguments:
            reason: why the hosts are downtimed.
            duration: how long the downtime lasts at most.
            remove_on_error: remove the downtime also when the body raises.

        Raises:
            spicerack.alertmanager.AlertmanagerError: if the Alertmanager silence cannot be created or removed.
            spicerack.icinga.IcingaError: if the Icinga downtime cannot be set.
            spicerack.remote.RemoteExecutionError: if the Icinga commands fail.

        """
        downtime_id = self.downtime(reason, duration=duration)
        with removed_after(lambda: self.remove_downtime(downtime_id), remove_on_error=remove_on_error):
            yield

    def downtime(self, reason: Reason, *, duration: timedelta = timedelta(hours=4)) -> str:
        """Downtime the hosts on Icinga, then silence them on Alertmanager.

        If Alertmanager fails, the Icinga downtime just set is removed, so that nothing is left half-done.

        Arguments:
            reason: why the hosts are downtimed.
            duration: how long the downtime lasts.

        Returns:
            The ID of the Alertmanager silence, to pass to :py:meth:`remove_downtime`; empty in DRY-RUN.

        Raises:
            spicerack.alertmanager.AlertmanagerError: if the silence cannot be created.
            spicerack.icinga.IcingaError: if the Icinga downtime cannot be set.

        """
        self._icinga.downtime(reason, duration=duration)
        try:
            return self._am.downtime(reason, duration=duration)
        except BaseException:
            logger.error("Unable to silence the hosts on Alertmanager, removing their Icinga downtime")
            self._icinga.remove_downtime()
            raise

    def remove_downtime(self, downtime_id: str) -> None:
        """Remove the downtime of the hosts on both systems.

        Both removals are attempted even if the first one fails.

        Arguments:
            downtime_id: the Alertmanager silence ID returned by :py:meth:`downtime`.

        Raises:
            spicerack.alerting.AlertingError: if the downtime could not be removed from both systems.
            spicerack.icinga.IcingaError: if only the Icinga downtime could not be removed.
            spicerack.alertmanager.AlertmanagerError: if only the Alertmanager silence could not be removed.

        """
        errors: list[SpicerackError] = []
        for remove in (self._icinga.remove_downtime, lambda: self._am.remove_downtime(downtime_id)):
            try:
                remove()
            except SpicerackError as e:
                logger.error("Unable to remove a downtime: %s", e)
                errors.append(e)

        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise AlertingError(f"Unable to remove the downtime: {'; '.join(str(e) for e in errors)}") from errors[0]
