"""Downtimes, rechecks and status of hosts and services on Icinga, driven through the Icinga master host.

Commands are written to Icinga's external command file on the master (its path is read from the ``command_file``
directive of the Icinga configuration) and the status is read with the ``icinga-status`` script, all through
:py:class:`spicerack.remote.RemoteHosts`. In DRY-RUN the commands are only logged; the status is still read.

The master is found as the reference does, through the CNAME of :py:data:`ICINGA_DOMAIN`, unless
``<spicerack_config_dir>/icinga/config.yaml`` says otherwise (every key is optional)::

    master_host: alert1001.example.org  # a cumin query matching the Icinga master
    config_file: /etc/icinga/icinga.cfg  # Icinga's configuration on the master, with the command_file directive
    status_command: /usr/local/bin/icinga-status  # the icinga-status script on the master
"""

import json
import logging
import re
import shlex
import time
from collections import UserDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from cumin import NodeSet, nodeset_fromlist
from cumin.transports import Command

from spicerack._downtime import removed_after
from spicerack.administrative import Reason
from spicerack.config import load_yaml_mapping
from spicerack.decorators import retry
from spicerack.exceptions import SpicerackCheckError, SpicerackError
from spicerack.remote import RemoteError, RemoteHosts
from spicerack.typing import TypeHosts

__all__ = [
    "ICINGA_DOMAIN",
    "MIN_DOWNTIME_SECONDS",
    "CommandFile",
    "HostStatus",
    "HostsStatus",
    "IcingaCheckError",
    "IcingaConfig",
    "IcingaError",
    "IcingaHosts",
    "IcingaStatus",
    "IcingaStatusNotFoundError",
    "IcingaStatusParseError",
    "ServiceStatus",
    "TypeHosts",
    "load_icinga_config",
]

ICINGA_DOMAIN: str = "icinga.wikimedia.org"
"""The name whose CNAME is the Icinga master host, when the configuration does not name it."""
MIN_DOWNTIME_SECONDS: int = 60
"""The shortest downtime accepted, in seconds."""
ICINGA_CONFIG_FILE: str = "/etc/icinga/icinga.cfg"
"""Icinga's configuration file on the master, where the ``command_file`` directive is read."""
ICINGA_STATUS_COMMAND: str = "/usr/local/bin/icinga-status"
"""The script printing the Icinga status of hosts as JSON, on the master."""
CONFIG_PATH: tuple[str, str] = ("icinga", "config.yaml")
"""Where the optional configuration is, below Spicerack's configuration directory."""

logger = logging.getLogger(__name__)


class IcingaStatus(Enum):
    """The state of an Icinga service check, as Icinga numbers it."""

    OK = 0
    """The check passes."""
    WARNING = 1
    """The check is above its warning threshold."""
    CRITICAL = 2
    """The check fails."""
    UNKNOWN = 3
    """The check could not tell."""


class IcingaError(SpicerackError):
    """An Icinga operation failed or was asked with invalid parameters."""


class IcingaCheckError(SpicerackCheckError):
    """A check on the Icinga status did not pass (yet)."""


class IcingaStatusParseError(IcingaError):
    """The output of the status script could not be parsed."""


class IcingaStatusNotFoundError(IcingaError):
    """Some hosts are unknown to Icinga."""

    def __init__(self, hostnames: Sequence[str]) -> None:
        """Name the missing hosts in the message.

        Arguments:
            hostnames: the hosts missing from the Icinga status.

        """
        if len(hostnames) == 1:
            super().__init__(f"Host {hostnames[0]} was not found in Icinga status")
        else:
            super().__init__(f"Hosts {', '.join(hostnames)} were not found in Icinga status")
        self.hostnames = list(hostnames)


@dataclass(frozen=True)
class IcingaConfig:
    """Where the Icinga master is and where its configuration and status script are on it."""

    master_host: str = ""
    """A cumin query matching the master; empty to resolve the CNAME of :py:data:`ICINGA_DOMAIN`."""
    config_file: str = ICINGA_CONFIG_FILE
    """Icinga's configuration file on the master."""
    status_command: str = ICINGA_STATUS_COMMAND
    """The ``icinga-status`` script on the master."""


def load_icinga_config(config_dir: str | Path) -> IcingaConfig:
    """Return the settings of ``<config_dir>/icinga/config.yaml``, or the defaults when the file does not exist.

    Arguments:
        config_dir: Spicerack's configuration directory.

    Raises:
        spicerack.icinga.IcingaError: if the file exists but cannot be read, or has unknown or invalid keys.

    """
    config_file = Path(config_dir, *CONFIG_PATH)
    if not config_file.exists():
        return IcingaConfig()
    config = load_yaml_mapping(config_file, description="Icinga configuration", error=IcingaError)

    known = set(IcingaConfig.__dataclass_fields__)
    unknown = sorted(set(config) - known)
    if unknown:
        raise IcingaError(f"Unknown keys {unknown} in the Icinga configuration {config_file}")
    for key, value in config.items():
        if not isinstance(value, str) or (key != "master_host" and not value):
            raise IcingaError(f"Key {key} in the Icinga configuration {config_file} must be a non-empty string")
    return IcingaConfig(**config)


class CommandFile(str):
    """The path of Icinga's external command file on a master host, read from its configuration and cached."""

    __slots__ = ()
    _command_files: ClassVar[dict[tuple[str, str], str]] = {}

    @classmethod
    def clear_cache(cls) -> None:
        """Forget the command files read so far (they are read again on next use)."""
        cls._command_files.clear()

    def __new__(cls, icinga_host: RemoteHosts, *, config_file: str = ICINGA_CONFIG_FILE) -> "CommandFile":
        """Read the ``command_file`` directive of the Icinga configuration on the master (once per host and file).

        Arguments:
            icinga_host: the Icinga master, exactly one host.
            config_file: Icinga's configuration file on the master.

        Raises:
            spicerack.icinga.IcingaError: if ``icinga_host`` is not one host or the directive cannot be read.

        """
        if len(icinga_host) != 1:
            raise IcingaError(f"Icinga host must match a single host, got: {icinga_host}")

        key = (str(icinga_host), config_file)
        if key not in cls._command_files:
            cls._command_files[key] = _read_command_file(icinga_host, config_file)
        return super().__new__(cls, cls._command_files[key])


def _read_command_file(icinga_host: RemoteHosts, config_file: str) -> str:
    """Return the value of the ``command_file`` directive in Icinga's configuration on the master."""
    command = r"grep -P '\s*command_file\s*=.+' " + config_file
    command_file = ""
    try:
        results = icinga_host.run_sync(command, is_safe=True, print_output=False, print_progress_bars=False)
        for _, output in results:
            lines = output.message().decode().splitlines()
            command_file = lines[-1].split("=", 1)[-1].strip() if lines else ""
    except SpicerackError as e:
        raise IcingaError(f"Unable to read command_file configuration in {config_file}: {e}") from e

    if not command_file:
        raise IcingaError(f"Unable to read command_file configuration in {config_file}: empty or no value found")
    return command_file


class ServiceStatus(UserDict[str, Any]):
    """The Icinga status of one service, as ``icinga-status`` reports it (``name``, ``status``, ...)."""

    @property
    def failed(self) -> bool:
        """Whether the service is not OK (a service without a state is taken as unknown, so failed)."""
        return IcingaStatus(int(self._status.get("current_state", IcingaStatus.UNKNOWN.value))) != IcingaStatus.OK

    @property
    def acked(self) -> bool:
        """Whether the service's problem has been acknowledged."""
        return str(self._status.get("problem_has_been_acknowledged", "0")) == "1"

    @property
    def downtimed(self) -> bool:
        """Whether the service is in a downtime."""
        return int(self._status.get("scheduled_downtime_depth", 0)) > 0

    @property
    def _status(self) -> Mapping[str, Any]:
        status = self.get("status", {})
        return status if isinstance(status, Mapping) else {}


class HostStatus:
    """The Icinga status of one host and of its services."""

    STATE_UP: str = "UP"
    """The state of a host that is up; the others are ``DOWN`` and ``UNREACHABLE``."""

    def __init__(
        self,
        *,
        name: str,
        state: str,
        optimal: bool,
        downtimed: bool,
        notifications_enabled: bool,
        failed_services: Sequence[Mapping[str, Any]] | None = None,
        services: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Keep the status as ``icinga-status`` reports it.

        Arguments:
            name: the host name.
            state: the host's state: ``UP``, ``DOWN`` or ``UNREACHABLE``.
            optimal: whether the host is up and all its services are OK.
            downtimed: whether the host is in a downtime.
            notifications_enabled: whether the host's notifications are enabled.
            failed_services: the services that are not OK, each a mapping with at least ``name`` and ``status``.
            services: the services matching the requested regular expression, in the same form.

        """
        self.name = name
        self.state = state
        self.optimal = optimal
        self.downtimed = downtimed
        self.notifications_enabled = notifications_enabled
        self.services: list[ServiceStatus] = [ServiceStatus(service) for service in (services or [])]
        self.services += [ServiceStatus(service) for service in (failed_services or [])]

    @property
    def failed_services(self) -> list[str]:
        """The names of the services that are not OK."""
        return [service["name"] for service in self.services if service.failed]

    @property
    def acked_services(self) -> list[str]:
        """The names of the services whose problem has been acknowledged."""
        return [service["name"] for service in self.services if service.acked]

    @property
    def downtimed_services(self) -> list[str]:
        """The names of the services that are in a downtime."""
        return [service["name"] for service in self.services if service.downtimed]

    def __repr__(self) -> str:
        """Return a representation with the host's name, state and failed services."""
        return (
            f"{type(self).__name__}(name={self.name!r}, state={self.state!r}, optimal={self.optimal}, "
            f"downtimed={self.downtimed}, failed_services={self.failed_services})"
        )


class HostsStatus(dict[str, HostStatus]):
    """The Icinga status of a set of hosts, by host name."""

    @property
    def optimal(self) -> bool:
        """Whether every host is up with all its services OK."""
        return all(status.optimal for status in self.values())

    @property
    def non_optimal_hosts(self) -> list[str]:
        """The hosts that are not up or have some service that is not OK."""
        return [hostname for hostname, status in self.items() if not status.optimal]

    @property
    def failed_services(self) -> dict[str, list[str]]:
        """The names of the services that are not OK, by host, for the hosts that are not optimal."""
        return {status.name: status.failed_services for status in self.values() if not status.optimal}

    @property
    def failed_hosts(self) -> list[str]:
        """The hosts that are down or unreachable."""
        return [status.name for status in self.values() if status.state != HostStatus.STATE_UP]

    @property
    def acked_services(self) -> dict[str, list[str]]:
        """The names of the acknowledged services, by host, for the hosts that are not optimal."""
        return {status.name: status.acked_services for status in self.values() if not status.optimal}

    @property
    def downtimed_services(self) -> dict[str, list[str]]:
        """The names of the downtimed services, by host, for the hosts that are not optimal."""
        return {status.name: status.downtimed_services for status in self.values() if not status.optimal}


class IcingaHosts:
    """Downtime, recheck and inspect a set of hosts on Icinga."""

    def __init__(
        self,
        icinga_host: RemoteHosts,
        target_hosts: TypeHosts,
        *,
        verbatim_hosts: bool = False,
        dry_run: bool = True,
        config_file: str = ICINGA_CONFIG_FILE,
        status_command: str = ICINGA_STATUS_COMMAND,
    ) -> None:
        """Set up the client for the given hosts on the given Icinga master.

        Arguments:
            icinga_host: the Icinga master, exactly one host.
            target_hosts: the hosts, as a NodeSet or a sequence of names.
            verbatim_hosts: use the host names as they are, instead of taking them as FQDNs and keeping the first
                label only, as Icinga names the hosts.
            dry_run: whether this is a DRY-RUN (the commands are skipped by ``icinga_host`` in DRY-RUN mode).
            config_file: Icinga's configuration file on the master, with the ``command_file`` directive.
            status_command: the ``icinga-status`` script on the master.

        Raises:
            spicerack.icinga.IcingaError: if no host is given, the master is not one host, or the command file
                cannot be found on it.

        """
        if isinstance(target_hosts, str):
            raise IcingaError(f"Target hosts must be a NodeSet or a sequence of names, got the string {target_hosts!r}")
        if verbatim_hosts and isinstance(target_hosts, NodeSet):
            self._target_hosts: NodeSet = target_hosts.copy()
        else:
            names = list(target_hosts) if verbatim_hosts else [host.split(".")[0] for host in target_hosts]
            self._target_hosts = nodeset_fromlist(names)
        if not self._target_hosts:
            raise IcingaError("Got empty target hosts list.")
        for name in self._target_hosts:  # they go in double quotes in shell commands and in ';'-separated commands
            if _MISREAD_IN_COMMANDS.search(name):
                raise IcingaError(f"Invalid target host name {name!r}: it would be misread in the Icinga commands")

        self._command_file = CommandFile(icinga_host, config_file=config_file)  # Also checks it is a single host
        self._icinga_host = icinga_host
        self._verbatim_hosts = verbatim_hosts
        self._dry_run = dry_run
        self._status_command = status_command

    @property
    def target_hosts(self) -> NodeSet:
        """The hosts, as Icinga names them."""
        return self._target_hosts.copy()

    @contextmanager
    def downtimed(
        self, reason: Reason, *, duration: timedelta = timedelta(hours=4), remove_on_error: bool = False
    ) -> Iterator[None]:
        """Run the body of the ``with`` statement while the hosts and their services are downtimed.

        The downtime is removed when the body completes. When the body raises, it is left in place (to expire at
        the end of ``duration``) unless ``remove_on_error`` is set.

        Arguments:
            reason: why the hosts are downtimed.
            duration: how long the downtime lasts at most.
            remove_on_error: remove the downtime also when the body raises.

        Raises:
            spicerack.icinga.IcingaError: if the downtime cannot be set.

        """
        self.downtime(reason, duration=duration)
        with removed_after(self.remove_downtime, remove_on_error=remove_on_error):
            yield

    def downtime(self, reason: Reason, *, duration: timedelta = timedelta(hours=4)) -> None:
        """Downtime the hosts and all their services, starting now, then check that Icinga applied it.

        Nothing is downtimed if any host is unknown to Icinga. If Icinga does not report the hosts as downtimed
        within two minutes, a warning is logged.

        Arguments:
            reason: why the hosts are downtimed: its author and text become the downtime's author and comment.
            duration: how long the downtime lasts, at least :py:data:`MIN_DOWNTIME_SECONDS`.

        Raises:
            spicerack.icinga.IcingaError: if the duration is too short or some host is unknown to Icinga.

        """
        duration_seconds = _validated_duration(duration)
        try:
            self.get_status()  # Every host must be known to Icinga: a partial downtime would be misleading
        except IcingaStatusNotFoundError as e:
            raise IcingaError(f"{e} - no hosts have been downtimed.") from e

        logger.info(
            "Scheduling downtime for %s on Icinga server %s for hosts: %s",
            duration,
            self._icinga_host,
            self._target_hosts,
        )
        downtime_args = _downtime_args(reason, duration_seconds)
        # SCHEDULE_HOST_SVC_DOWNTIME alone downtimes only the services: the host needs its own command.
        self.run_icinga_command("SCHEDULE_HOST_DOWNTIME", *downtime_args)
        self.run_icinga_command("SCHEDULE_HOST_SVC_DOWNTIME", *downtime_args)
        try:  # Icinga applies the commands asynchronously: check, but don't fail if it lags
            self.wait_for_downtimed()
        except IcingaCheckError as e:
            logger.warning(e)

    @retry(
        tries=12,
        delay=timedelta(seconds=10),
        backoff_mode="constant",
        exceptions=(IcingaCheckError,),
        failure_message="Unable to verify all hosts got downtimed",
    )
    def wait_for_downtimed(self) -> None:
        """Wait until Icinga reports every host as downtimed (retried for up to two minutes, once in DRY-RUN).

        Raises:
            spicerack.icinga.IcingaCheckError: if some hosts are still not downtimed.

        """
        not_downtimed = [hostname for hostname, status in self.get_status().items() if not status.downtimed]
        if not_downtimed:
            raise IcingaCheckError(f"Some hosts are not yet downtimed: {not_downtimed}")

    @contextmanager
    def services_downtimed(
        self,
        service_re: str,
        reason: Reason,
        *,
        duration: timedelta = timedelta(hours=4),
        remove_on_error: bool = False,
    ) -> Iterator[None]:
        """Run the body of the ``with`` statement while the services matching ``service_re`` are downtimed.

        The downtime is removed when the body completes, and also when it raises if ``remove_on_error`` is set.

        Arguments:
            service_re: a regular expression matching the names of the services to downtime.
            reason: why the services are downtimed.
            duration: how long the downtime lasts at most.
            remove_on_error: remove the downtime also when the body raises.

        Raises:
            spicerack.icinga.IcingaError: if the downtime cannot be set or removed.

        """
        self.downtime_services(service_re, reason, duration=duration)
        with removed_after(lambda: self.remove_service_downtimes(service_re), remove_on_error=remove_on_error):
            yield

    def downtime_services(self, service_re: str, reason: Reason, *, duration: timedelta = timedelta(hours=4)) -> None:
        """Downtime the services matching ``service_re`` on each host that has them, starting now.

        Hosts without matching services are skipped, but at least one service must match on some host.

        Arguments:
            service_re: a regular expression matching the names of the services to downtime.
            reason: why the services are downtimed.
            duration: how long the downtime lasts, at least :py:data:`MIN_DOWNTIME_SECONDS`.

        Raises:
            re.error: if ``service_re`` is not a valid regular expression.
            spicerack.icinga.IcingaError: if no service matches or some host is unknown.

        """
        duration_seconds = _validated_duration(duration)
        try:
            status = self.get_status(service_re)
        except IcingaStatusNotFoundError as e:
            raise IcingaError(f"{e} - no hosts have been downtimed.") from e

        matches = [(hostname, service["name"]) for hostname, host in status.items() for service in host.services]
        if not matches:
            raise IcingaError(f'No services on {self._target_hosts} matched "{service_re}"')

        services_count = len({name for _, name in matches})
        hosts_count = len({hostname for hostname, _ in matches})
        logger.info(
            'Scheduling downtime for %s on Icinga server %s for services "%s" for host%s: %s '
            "(matched %d unique service name%s on %d host%s)",
            duration,
            self._icinga_host,
            service_re,
            _plural(len(self._target_hosts)),
            self._target_hosts,
            services_count,
            _plural(services_count),
            hosts_count,
            _plural(hosts_count),
        )
        downtime_args = _downtime_args(reason, duration_seconds)
        for hostname, service in matches:
            logger.debug('Downtiming "%s" on %s', service, hostname)
        self._run_commands(
            self._command_string("SCHEDULE_SVC_DOWNTIME", hostname, service, *downtime_args)
            for hostname, service in matches
        )

    def remove_downtime(self) -> None:
        """Remove the downtimes of the hosts and of their services."""
        self.run_icinga_command("DEL_DOWNTIME_BY_HOST_NAME")

    def remove_service_downtimes(self, service_re: str) -> None:
        """Remove the downtimes of the services matching ``service_re``; services not downtimed are skipped.

        Arguments:
            service_re: a regular expression matching the names of the services.

        Raises:
            re.error: if ``service_re`` is not a valid regular expression.
            spicerack.icinga.IcingaError: if no service matches.

        """
        status = self.get_status(service_re)
        if not any(host.services for host in status.values()):
            raise IcingaError(f'No services on {self._target_hosts} matched "{service_re}"')

        logger.info(
            'Removing downtime on Icinga server %s for services "%s" for hosts: %s',
            self._icinga_host,
            service_re,
            self._target_hosts,
        )
        # DEL_DOWNTIME_BY_HOST_NAME takes an optional service name after the host name.
        commands = [
            self._command_string("DEL_DOWNTIME_BY_HOST_NAME", hostname, service["name"])
            for hostname, host in status.items()
            for service in host.services
            if service.downtimed
        ]
        if not commands:
            logger.info("No services downtimed, nothing to do.")
            return
        self._run_commands(commands)

    def recheck_all_services(self) -> None:
        """Have Icinga check again, now, the hosts and all their services."""
        self.run_icinga_command("SCHEDULE_FORCED_HOST_SVC_CHECKS", str(int(time.time())))
        self.run_icinga_command("SCHEDULE_FORCED_HOST_CHECK", str(int(time.time())))

    def recheck_failed_services(self) -> None:
        """Have Icinga check again, now, the hosts that are not optimal and their services that are not OK.

        Raises:
            spicerack.icinga.IcingaError: if the status cannot be read.

        """
        status = self.get_status()
        if status.optimal:
            return

        self.run_icinga_command("SCHEDULE_FORCED_HOST_CHECK", str(int(time.time())))
        commands = [
            self._command_string("SCHEDULE_FORCED_SVC_CHECK", hostname, service, str(int(time.time())))
            for hostname, failed in status.failed_services.items()
            for service in failed
        ]
        if not commands:
            logger.debug(
                "Status not optimal, with no failed service, for hosts: %s, status: %s", self._target_hosts, status
            )
            return
        self._run_commands(commands)

    def run_icinga_command(self, command: str, *args: str) -> None:
        """Send an external command to Icinga for each host: ``COMMAND;<host>;<args...>``.

        The lower level API, for the Icinga commands that take the host name as first argument and are not
        covered by the other methods.

        Arguments:
            command: the Icinga external command (e.g. ``SCHEDULE_FORCED_HOST_CHECK``).
            *args: its arguments after the host name.

        See Also:
            https://icinga.com/docs/icinga1/latest/en/extcommands2.html

        """
        self._run_commands(self._command_string(command, host, *args) for host in self._target_hosts)

    def get_status(self, service_re: str = "") -> HostsStatus:
        """Return the current Icinga status of the hosts (read also in DRY-RUN).

        Arguments:
            service_re: a regular expression: when set, the services matching it are reported in each host's
                ``services``.

        Raises:
            re.error: if ``service_re`` is not a valid regular expression.
            spicerack.icinga.IcingaStatusNotFoundError: if some host is unknown to Icinga.
            spicerack.icinga.IcingaStatusParseError: if the status cannot be parsed.
            spicerack.icinga.IcingaError: if the status cannot be read.

        """
        if service_re:
            re.compile(service_re)

        options = " --verbatim-hosts" if self._verbatim_hosts else ""
        if service_re:
            options += f" --services {shlex.quote(service_re)}"
        # The script exits non-zero when some host is missing or not optimal: its output tells which.
        command = Command(f'{self._status_command} -j{options} "{self._target_hosts}"', ok_codes=[])
        try:
            results = self._icinga_host.run_sync(command, is_safe=True, print_output=False, print_progress_bars=False)
            output = next((output.message().decode() for _, output in results), None)
        except RemoteError as e:
            raise IcingaError(f"Unable to get the status for the given hosts: {e}") from e
        if output is None:
            raise IcingaError("Unable to get the status for the given hosts, no output from icinga-status")
        return _parse_status(output)

    def wait_for_optimal(self, *, skip_acked: bool = False, skip_downtimed: bool = False) -> None:
        """Have the failed services checked again, then wait until all hosts are optimal (up to about six minutes).

        Arguments:
            skip_acked: consider optimal also the services that are not OK but whose problem was acknowledged.
            skip_downtimed: consider optimal also the services that are not OK but are downtimed.

        Raises:
            spicerack.icinga.IcingaError: if the hosts are still not optimal at the end.

        """

        # Not a method: the retries are the same in DRY-RUN, the status being real.
        @retry(tries=15, delay=timedelta(seconds=3), backoff_mode="linear", exceptions=(IcingaError,))
        def check() -> None:
            status = self.get_status()
            if status.optimal:
                return
            failed = {}
            for hostname, services in status.failed_services.items():
                skipped = set(status.acked_services[hostname]) if skip_acked else set()
                if skip_downtimed:
                    skipped.update(status.downtimed_services[hostname])
                still_failed = [service for service in services if service not in skipped]
                if still_failed or not (skip_acked or skip_downtimed):
                    failed[hostname] = still_failed
            if failed:
                details = " ".join(f"{hostname}:{','.join(services)}" for hostname, services in failed.items())
                raise IcingaError(f"Not all services are recovered: {details}")

        self.recheck_failed_services()
        check()

    def _command_string(self, *fields: str) -> str:
        """Return the shell command writing one external command, made of ``fields``, to Icinga's command file.

        Line breaks in the fields (e.g. in a reason) become spaces: Icinga reads one external command per line.
        """
        text = _LINE_BREAKS.sub(" ", ";".join(fields))
        line = f'echo -n "[{int(time.time())}] {text}" > {self._command_file} '
        return f"bash -c {shlex.quote(line)}"

    def _run_commands(self, commands: Iterator[str] | Sequence[str]) -> None:
        """Run the command strings on the master in one go (skipped by the master's RemoteHosts in DRY-RUN)."""
        self._icinga_host.run_sync(*commands, print_output=False, print_progress_bars=False)


_LINE_BREAKS = re.compile(r"[\r\n]")
_MISREAD_IN_COMMANDS = re.compile(r'[$`\\";\x00-\x1f\x7f]')
"""What a host name may not contain: a shell expands it in double quotes, or Icinga splits commands on it."""


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


def _validated_duration(duration: timedelta) -> int:
    """Return the duration in seconds, raising IcingaError if it is shorter than the minimum."""
    seconds = int(duration.total_seconds())
    if seconds < MIN_DOWNTIME_SECONDS:
        raise IcingaError(f"Downtime duration must be at least 1 minute, got: {duration}")
    return seconds


def _downtime_args(reason: Reason, duration_seconds: int) -> tuple[str, ...]:
    """Return the arguments of Icinga's downtime commands after the host (and service) name."""
    start = int(time.time())
    return (
        str(start),
        str(start + duration_seconds),
        "1",  # fixed: from start to end
        "0",  # not triggered by another downtime
        str(duration_seconds),
        reason.owner,
        reason.reason,
    )


def _parse_status(output: str) -> HostsStatus:
    """Return the HostsStatus of icinga-status' JSON output, raising if hosts are missing or it is malformed."""
    try:
        status = json.loads(output)
    except json.JSONDecodeError as e:
        raise IcingaStatusParseError(f"Unable to parse Icinga status: {output[:200]!r}") from e
    if not isinstance(status, dict):
        raise IcingaStatusParseError(f"Unable to parse Icinga status, expected a mapping: {output[:200]!r}")

    missing = [hostname for hostname, host in status.items() if not host]  # null (or false) for unknown hosts
    if missing:
        raise IcingaStatusNotFoundError(missing)

    fields = ("name", "state", "optimal", "downtimed", "notifications_enabled", "failed_services", "services")
    try:
        return HostsStatus(
            {
                hostname: HostStatus(**{key: value for key, value in host.items() if key in fields})
                for hostname, host in status.items()
            }
        )
    except (TypeError, AttributeError, ValueError) as e:
        raise IcingaStatusParseError(f"Unable to parse Icinga status: {e}") from e
