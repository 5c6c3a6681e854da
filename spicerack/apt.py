"""Manage Debian packages on a set of hosts with ``apt-get``, non-interactively and keeping local config files."""

import logging
from collections.abc import Iterator
from typing import Any

from ClusterShell.MsgTree import MsgTreeElem
from ClusterShell.NodeSet import NodeSet

from spicerack.exceptions import SpicerackError
from spicerack.remote import RemoteHostsAdapter

__all__ = ["APT_GET_BASE_COMMAND", "AptGetError", "AptGetHosts"]

logger = logging.getLogger(__name__)

APT_GET_ENVS: tuple[str, ...] = ("DEBIAN_FRONTEND=noninteractive",)
"""The environment of every ``apt-get`` command."""
APT_GET_INSTALL_OPTIONS: tuple[str, ...] = (
    "--quiet",
    "--yes",
    '--option Dpkg::Options::="--force-confdef"',
    '--option Dpkg::Options::="--force-confold"',
)
"""The options of every ``apt-get`` command: no questions, and the configuration files on the host are kept."""
APT_GET_BASE_COMMAND: str = " ".join((*APT_GET_ENVS, "/usr/bin/apt-get", *APT_GET_INSTALL_OPTIONS))
"""The start of every ``apt-get`` command line."""


class AptGetError(SpicerackError):
    """An ``apt-get`` operation was asked with invalid parameters."""


class AptGetHosts(RemoteHostsAdapter):
    """Run ``apt-get`` on a set of hosts: ``spicerack.apt_get(spicerack.remote().query(...))``.

    Every method takes the keyword arguments of :py:meth:`spicerack.remote.RemoteHosts.run_sync` (``batch_size``,
    ``print_progress_bars``, ...). They can fail when another process holds the apt lock (e.g. a Puppet run):
    consider wrapping them in :py:func:`wmflib.interactive.confirm_on_failure`.
    """

    def update(self, **kwargs: Any) -> Iterator[tuple[NodeSet, MsgTreeElem]]:
        """Refresh the package lists (``apt-get update``).

        Arguments:
            **kwargs: passed to :py:meth:`spicerack.remote.RemoteHosts.run_sync`.

        Returns:
            The results, as :py:meth:`spicerack.remote.RemoteHosts.run_sync` returns them.

        """
        logger.info("Running apt-get update")
        return self.run("update", **kwargs)

    def install(self, *packages: str, **kwargs: Any) -> Iterator[tuple[NodeSet, MsgTreeElem]]:
        """Install (or upgrade) packages, keeping the configuration files already on the hosts.

        New dependencies are installed without asking; downgrades are not possible (they would need
        ``--force-yes``, which is not used).

        Arguments:
            *packages: the packages to install, as they go on the command line (e.g. ``pkg=1.2-1``).
            **kwargs: passed to :py:meth:`spicerack.remote.RemoteHosts.run_sync`.

        Returns:
            The results, as :py:meth:`spicerack.remote.RemoteHosts.run_sync` returns them.

        Raises:
            spicerack.apt.AptGetError: if no package is given.

        """
        if not packages:
            raise AptGetError("No packages to install were provided.")
        logger.info("Running apt-get install for the following packages: %s", packages)
        return self.run(" ".join(("install", *packages)), **kwargs)

    def run(self, apt_get_command: str, **kwargs: Any) -> Iterator[tuple[NodeSet, MsgTreeElem]]:
        """Run ``apt-get`` with the given command and arguments (e.g. ``autoremove`` or ``purge pkg``).

        Arguments:
            apt_get_command: what follows ``apt-get`` and its common options on the command line.
            **kwargs: passed to :py:meth:`spicerack.remote.RemoteHosts.run_sync`.

        Returns:
            The results, as :py:meth:`spicerack.remote.RemoteHosts.run_sync` returns them.

        Raises:
            spicerack.apt.AptGetError: if the command is empty.

        """
        if not apt_get_command.strip():
            raise AptGetError("No apt-get command was provided.")
        command = f"{APT_GET_BASE_COMMAND} {apt_get_command}"
        logger.info("Running apt-get command: %s", command)
        return self._remote_hosts.run_sync(command, **kwargs)
