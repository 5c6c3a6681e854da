"""Remote execution on fleets of hosts through cumin: select hosts with a query, run commands, reboot and wait.

Commands run over SSH with cumin's ClusterShell transport, with cumin's own semantics for the ``sync`` and
``async`` modes, success thresholds, batches and timeouts (see :py:class:`cumin.transports.Command`). In DRY-RUN
only the commands marked ``is_safe=True`` run; every other command is logged with its target and batch plan.
"""

from __future__ import annotations

import logging
import math
import time
from argparse import ArgumentTypeError
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from ClusterShell.MsgTree import MsgTreeElem
from ClusterShell.NodeSet import NodeSetException
from cumin import Config, CuminError, NodeSet, query, transport, transports
from cumin.cli import target_batch_size
from cumin.transports import Command, HostState
from cumin.transports.clustershell import NullReporter, TqdmReporter

from spicerack import _outcomes, _redact
from spicerack.decorators import retry
from spicerack.exceptions import SpicerackCheckError, SpicerackError

if TYPE_CHECKING:
    from spicerack.confctl import ConftoolEntity

# cumin is imported here, as in the reference, so that ``spicerack.remote.transports`` and ``transport`` can be
# patched in tests. Conftool (about 150 ms) is imported only when ``ConftoolEntity`` is asked for: the
# module's users that never touch conftool don't pay for it.

__all__ = [
    "Command",
    "ConftoolEntity",
    "LBRemoteCluster",
    "NodeSet",
    "Remote",
    "RemoteCheckError",
    "RemoteClusterExecutionError",
    "RemoteError",
    "RemoteExecutionError",
    "RemoteHosts",
    "RemoteHostsAdapter",
]

logger = logging.getLogger(__name__)


def __getattr__(name: str) -> Any:
    """Give ``spicerack.remote.ConftoolEntity`` without importing conftool before it is asked for."""
    if name == "ConftoolEntity":
        from spicerack.confctl import ConftoolEntity  # noqa: PLC0415 - see the module's imports

        return ConftoolEntity
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


CommandResults = Iterator[tuple[NodeSet, MsgTreeElem]]
"""What :py:meth:`RemoteHosts.run_sync` and :py:meth:`RemoteHosts.run_async` return: ``(hosts, output)`` pairs."""

REBOOT_COMMAND = "reboot-host"
UPTIME_COMMAND = "cat /proc/uptime"

_T = TypeVar("_T")


class RemoteError(SpicerackError):
    """An error of the remote module: bad query, bad parameters, or a failure to use cumin."""


class RemoteCheckError(SpicerackCheckError):
    """A check on the remote hosts did not pass (for example: the hosts have not rebooted yet)."""


_retry_until_rebooted: Callable[[Callable[..., None]], Callable[..., None]] = retry(
    tries=240, delay=timedelta(seconds=10), backoff_mode="constant", exceptions=(RemoteCheckError,)
)


class RemoteExecutionError(RemoteError):
    """The execution of commands on the remote hosts failed: ``retcode`` is cumin's exit code.

    ``results`` iterates over the ``(hosts, output)`` pairs collected before the failure and ``failed_hosts`` is the
    :py:class:`NodeSet` of the hosts on which a command failed or timed out.
    """

    def __init__(
        self,
        retcode: int,
        message: str,
        results: CommandResults | None = None,
        *,
        failed_hosts: NodeSet | None = None,
    ) -> None:
        """Format the message with the exit code and keep the details as attributes.

        Arguments:
            retcode: cumin's exit code of the execution.
            message: what failed.
            results: the outputs collected before the failure.
            failed_hosts: the hosts on which a command failed or timed out.

        """
        super().__init__(f"{message} (exit_code={retcode})")
        self.retcode = retcode
        self.results: CommandResults = results if results is not None else iter(())
        self.failed_hosts: NodeSet = failed_hosts if failed_hosts is not None else NodeSet()


class RemoteClusterExecutionError(RemoteError):
    """Some batches of an :py:meth:`LBRemoteCluster.run` failed: ``failures`` has their errors."""

    def __init__(self, results: list[tuple[NodeSet, MsgTreeElem]], failures: list[RemoteExecutionError]) -> None:
        """Keep the results of the batches that passed and the errors of those that failed.

        Arguments:
            results: the outputs of the batches that completed.
            failures: one error per failed batch.

        """
        super().__init__(f"{len(failures)} hosts have failed execution")
        self.failures = failures
        self.results = results


class Remote:
    """The entry point to cumin: turns queries into :py:class:`RemoteHosts`."""

    def __init__(self, config: str, dry_run: bool = True) -> None:
        """Load cumin's configuration.

        Arguments:
            config: path of cumin's YAML configuration file.
            dry_run: whether this is a DRY-RUN.

        Raises:
            spicerack.remote.RemoteError: if the configuration cannot be read.

        """
        try:
            self._config = Config(config)
        except CuminError as e:
            raise RemoteError(f"Unable to load cumin's configuration {config}: {e}") from e
        self._dry_run = dry_run

    def query(self, query_string: str, use_sudo: bool = False) -> RemoteHosts:
        """Return the hosts matching a cumin query, ready to run commands on.

        Arguments:
            query_string: the cumin query, for example ``host[1-3]`` with the ``direct`` backend.
            use_sudo: prefix every command with ``sudo -i``.

        Raises:
            spicerack.remote.RemoteError: if the query is invalid, fails, or matches no host.

        """
        try:
            hosts = query.Query(self._config).execute(query_string)
        except (CuminError, NodeSetException) as e:
            raise RemoteError(f"Failed to execute Cumin query '{query_string}': {e}") from e

        return RemoteHosts(self._config, hosts, dry_run=self._dry_run, use_sudo=use_sudo)

    def query_confctl(self, conftool: ConftoolEntity, **tags: str) -> LBRemoteCluster:
        """Return the hosts of the conftool objects matching the tags, as a load-balanced cluster.

        Arguments:
            conftool: the conftool entity of the ``node`` objects.
            **tags: the conftool tags to select the objects (for example ``dc="eqiad", cluster="appserver"``).

        Raises:
            spicerack.remote.RemoteError: if the conftool query fails.

        """
        try:
            names = [obj.name for obj in conftool.get(**tags)]
        except SpicerackError as e:
            raise RemoteError("Failed to execute the conftool query") from e

        remote_hosts = self.query(",".join(names))
        missing = set(names) - set(remote_hosts.hosts)
        if missing:
            logger.warning("Hosts present in conftool but not in puppet: %s", ",".join(sorted(missing)))
        return LBRemoteCluster(self._config, remote_hosts, conftool)


class RemoteHosts:
    """A set of hosts to run commands on through cumin."""

    def __init__(self, config: Config, hosts: NodeSet, dry_run: bool = True, use_sudo: bool = False) -> None:
        """Target the given hosts.

        Arguments:
            config: cumin's configuration.
            hosts: the hosts to target.
            dry_run: whether this is a DRY-RUN.
            use_sudo: prefix every command with ``sudo -i``.

        Raises:
            spicerack.remote.RemoteError: if no hosts were given.

        """
        if not hosts:
            raise RemoteError("No hosts provided")

        self._config = config
        self._hosts = hosts
        self._dry_run = dry_run
        self._use_sudo = use_sudo

    @property
    def hosts(self) -> NodeSet:
        """A copy of the targeted hosts."""
        return self._hosts.copy()

    @property
    def dry_run(self) -> bool:
        """Whether commands that are not safe are only logged, not run."""
        return self._dry_run

    def __str__(self) -> str:
        """The targeted hosts in folded form, for example ``host[1-3]``."""
        return str(self._hosts)

    def __len__(self) -> int:
        """The number of targeted hosts."""
        return len(self._hosts)

    def __iter__(self) -> Iterator[RemoteHosts]:
        """Yield one :py:class:`RemoteHosts` per host, with the same DRY-RUN and sudo settings."""
        yield from self.split(len(self))

    def get_subset(self, subset: NodeSet) -> RemoteHosts:
        """Return a :py:class:`RemoteHosts` targeting only some of these hosts, with the same settings.

        Arguments:
            subset: the hosts to keep, all of them among the current ones.

        Raises:
            spicerack.remote.RemoteError: if any host of ``subset`` is not among the current hosts.

        """
        if not self._hosts.issuperset(subset):
            raise RemoteError(f"The provided set {subset} is not a subset of the current set {self._hosts}")
        return RemoteHosts(self._config, subset, dry_run=self._dry_run, use_sudo=self._use_sudo)

    def split(self, n_slices: int) -> Iterator[RemoteHosts]:
        """Yield the hosts split in ``n_slices`` groups of (almost) equal size, each a :py:class:`RemoteHosts`.

        Arguments:
            n_slices: how many groups; with more groups than hosts, each group has one host.

        """
        for nodeset in self._hosts.split(n_slices):
            yield RemoteHosts(self._config, nodeset, dry_run=self._dry_run, use_sudo=self._use_sudo)

    def run_async(
        self,
        *commands: str | Command,
        success_threshold: float = 1.0,
        batch_size: int | str | None = None,
        batch_sleep: float | None = None,
        is_safe: bool = False,
        print_output: bool = True,
        print_progress_bars: bool = True,
    ) -> CommandResults:
        """Run the commands in cumin's ``async`` mode: each host runs all of them, stopping at its first failure.

        Arguments:
            *commands: the commands, as strings or :py:class:`cumin.transports.Command` (for timeouts and ok codes).
            success_threshold: the fraction of hosts (0.0 to 1.0) that must succeed for the execution to go on.
            batch_size: how many hosts run at the same time, as a number (``5``) or a percentage (``"25%"``).
            batch_sleep: seconds to wait after a host completes before starting the next one.
            is_safe: the commands change nothing, so they run also in DRY-RUN.
            print_output: print cumin's output of the commands to stdout.
            print_progress_bars: print cumin's progress bars to stderr.

        Returns:
            The ``(hosts, output)`` pairs, one per distinct output of each command; nothing for skipped commands.

        Raises:
            spicerack.remote.RemoteExecutionError: if the execution fails on any host.
            spicerack.remote.RemoteError: if the parameters are invalid.

        """
        return self._execute(
            list(commands),
            mode="async",
            success_threshold=success_threshold,
            batch_size=batch_size,
            batch_sleep=batch_sleep,
            is_safe=is_safe,
            print_output=print_output,
            print_progress_bars=print_progress_bars,
        )

    def run_sync(
        self,
        *commands: str | Command,
        success_threshold: float = 1.0,
        batch_size: int | str | None = None,
        batch_sleep: float | None = None,
        is_safe: bool = False,
        print_output: bool = True,
        print_progress_bars: bool = True,
    ) -> CommandResults:
        """Run the commands in cumin's ``sync`` mode: each command on all hosts before the next one starts.

        A command starts only on the hosts where the previous one succeeded, and only while the success ratio
        of the previous one reached ``success_threshold``. The arguments are those of :py:meth:`run_async`.

        Returns:
            The ``(hosts, output)`` pairs, one per distinct output of each command; nothing for skipped commands.

        Raises:
            spicerack.remote.RemoteExecutionError: if the execution fails on any host.
            spicerack.remote.RemoteError: if the parameters are invalid.

        """
        return self._execute(
            list(commands),
            mode="sync",
            success_threshold=success_threshold,
            batch_size=batch_size,
            batch_sleep=batch_sleep,
            is_safe=is_safe,
            print_output=print_output,
            print_progress_bars=print_progress_bars,
        )

    def reboot(self, batch_size: int = 1, batch_sleep: float | None = 180.0) -> None:
        """Reboot the hosts with ``reboot-host``, ``batch_size`` at a time, ``batch_sleep`` seconds apart.

        Arguments:
            batch_size: how many hosts to reboot at the same time.
            batch_sleep: seconds to wait between one reboot and the next (ignored with a single host).

        Raises:
            spicerack.remote.RemoteExecutionError: if the reboot command fails on any host.

        """
        if len(self._hosts) == 1:
            batch_sleep = None

        logger.info(
            "Rebooting %d hosts in batches of %d with %.1fs of sleep in between: %s",
            len(self._hosts),
            batch_size,
            batch_sleep if batch_sleep is not None else 0.0,
            self._hosts,
        )
        self.run_sync(Command(REBOOT_COMMAND, timeout=30), batch_size=batch_size, batch_sleep=batch_sleep)

    @_retry_until_rebooted
    def wait_reboot_since(self, since: datetime, print_progress_bars: bool = True) -> None:
        """Wait until every host is reachable and has booted after ``since`` (retried for up to 40 minutes).

        In DRY-RUN the hosts are checked once; a host that has not rebooted (the reboot was skipped) is only logged,
        an unreachable one still raises.

        Arguments:
            since: the time after which the hosts must have booted (naive datetimes are in UTC).
            print_progress_bars: print cumin's progress bars to stderr.

        Raises:
            spicerack.remote.RemoteCheckError: if a host is unreachable or has not rebooted since ``since``.

        """
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        elapsed = (datetime.now(UTC) - since).total_seconds()
        try:
            uptimes = self.uptime(print_progress_bars=print_progress_bars)
        except RemoteError as e:
            keep_polling = "" if self._dry_run else " yet, keep polling for it"
            raise RemoteCheckError(f"Reboot for {self._hosts} not found{keep_polling}: unable to get uptime") from e

        for nodeset, uptime in uptimes:
            if uptime < elapsed:
                continue
            message = f"uptime {round(uptime, 2)} > threshold {round(elapsed, 2)}"
            if not self._dry_run:
                raise RemoteCheckError(f"Reboot for {nodeset} not found yet, keep polling for it: {message}")
            logger.info("Reboot for %s not found - expected in dry run mode, host not rebooted: %s", nodeset, message)

        if not self._dry_run:
            logger.info("Found reboot since %s for hosts %s", since, self._hosts)

    def uptime(self, print_progress_bars: bool = True) -> list[tuple[NodeSet, float]]:
        """Return the hosts' uptime in seconds, read from ``/proc/uptime`` (also in DRY-RUN).

        Arguments:
            print_progress_bars: print cumin's progress bars to stderr.

        Returns:
            ``(hosts, uptime)`` pairs, the hosts grouped by identical output.

        Raises:
            spicerack.remote.RemoteError: if the command fails or its output is not an uptime.

        """
        results = self.run_sync(
            Command(UPTIME_COMMAND, timeout=10),
            is_safe=True,
            print_output=False,
            print_progress_bars=print_progress_bars,
        )
        logger.debug("Got uptime for hosts %s", self._hosts)
        return RemoteHosts.results_to_list(results, callback=lambda output: float(output.split()[0]))

    @staticmethod
    def results_to_list(
        results: CommandResults, callback: Callable[[str], _T] | None = None
    ) -> list[tuple[NodeSet, Any]]:
        """Turn the results of a run into a list of ``(hosts, output)``, each output converted by ``callback``.

        Arguments:
            results: what :py:meth:`run_sync` or :py:meth:`run_async` returned.
            callback: called with each output (stripped, maybe multi-line) to convert it; by default the output
                string is kept as is.

        Raises:
            spicerack.remote.RemoteError: if the callback raises.

        """
        extracted: list[tuple[NodeSet, Any]] = []
        for nodeset, output in results:
            text = output.message().decode().strip()
            if callback is None:
                extracted.append((nodeset, text))
                continue
            try:
                extracted.append((nodeset, callback(text)))
            except Exception as e:
                name = getattr(callback, "__name__", repr(callback))
                raise RemoteError(f"Unable to extract data with {name} for {nodeset} from: {text}") from e

        return extracted

    def _execute(
        self,
        commands: Sequence[str | Command],
        *,
        mode: str,
        success_threshold: float,
        batch_size: int | str | None,
        batch_sleep: float | None,
        is_safe: bool,
        print_output: bool,
        print_progress_bars: bool,
    ) -> CommandResults:
        """Run the commands through a cumin worker, or only log them in DRY-RUN unless they are safe."""
        if not commands:
            raise RemoteError("No commands provided")
        if self._use_sudo:
            commands = [_prepend_sudo(command) for command in commands]

        target = self._target(batch_size, batch_sleep)
        worker = self._worker(target, commands, mode, success_threshold)
        worker.progress_bars = print_progress_bars
        worker.reporter = TqdmReporter if print_output else NullReporter

        logger.debug("Executing commands %s on %d hosts: %s", commands, len(target.hosts), str(target.hosts))
        if self._dry_run and not is_safe:
            logger.info(
                "Skipping commands %s in DRY-RUN mode, they would run in %s mode on %d hosts %s: %s",
                [str(command) for command in commands],
                mode,
                len(target.hosts),
                _batch_plan(target),
                target.hosts,
            )
            _outcomes.record(commands, target.hosts, None, executed=False, redact=_redact.redact_command)
            return iter(())

        try:
            return_code = worker.execute()
        except CuminError as e:
            raise RemoteError(f"Cumin execution failed on {target.hosts}: {e}") from e
        finally:
            _record_outcomes(commands, target, worker)

        results: CommandResults = worker.get_results()
        if return_code == 0:
            return results

        failed_hosts = _failed_hosts(worker)
        if self._dry_run:
            logger.warning("Commands %s failed on hosts %s, not raised in DRY-RUN mode", commands, failed_hosts)
            return results

        logger.debug("Cumin execution failed with exit code %d on hosts %s", return_code, failed_hosts)
        raise RemoteExecutionError(return_code, "Cumin execution failed", results, failed_hosts=failed_hosts)

    def _target(self, batch_size: int | str | None, batch_sleep: float | None) -> transports.Target:
        """Return cumin's target for these hosts with the given batch plan."""
        size: dict[str, Any] = {"value": None, "ratio": None}
        if batch_size is not None:
            try:
                size = target_batch_size(str(batch_size))
            except (ArgumentTypeError, ValueError, IndexError) as e:
                raise RemoteError(
                    f"Invalid batch_size {batch_size!r}: expected a positive integer or a percentage like '25%'"
                ) from e
        if isinstance(batch_sleep, int) and not isinstance(batch_sleep, bool):
            batch_sleep = float(batch_sleep)  # cumin accepts only floats
        try:
            return transports.Target(
                self._hosts, batch_size=size["value"], batch_size_ratio=size["ratio"], batch_sleep=batch_sleep
            )
        except CuminError as e:
            raise RemoteError(f"Invalid batch parameters for {self._hosts}: {e}") from e

    def _worker(
        self, target: transports.Target, commands: Sequence[str | Command], mode: str, success_threshold: float
    ) -> Any:
        """Return a cumin worker set up for the commands, in the given mode and with the success threshold."""
        try:
            worker = transport.Transport.new(self._config, target)
            worker.commands = list(commands)
            worker.handler = mode
            worker.success_threshold = success_threshold
        except CuminError as e:
            raise RemoteError(f"Unable to set up the execution of {list(commands)}: {e}") from e
        return worker


class RemoteHostsAdapter:
    """Base class for classes that add capabilities to a :py:class:`RemoteHosts` by wrapping it."""

    def __init__(self, remote_hosts: RemoteHosts) -> None:
        """Wrap the given hosts.

        Arguments:
            remote_hosts: the hosts to act on.

        """
        self._remote_hosts = remote_hosts

    @property
    def remote_hosts(self) -> RemoteHosts:
        """The wrapped hosts."""
        return self._remote_hosts

    def __str__(self) -> str:
        """The targeted hosts in folded form."""
        return str(self._remote_hosts)

    def __len__(self) -> int:
        """The number of targeted hosts."""
        return len(self._remote_hosts)


class LBRemoteCluster(RemoteHostsAdapter):
    """Hosts behind a load balancer: run commands on groups of them, depooled from conftool services meanwhile."""

    def __init__(self, config: Config, remote_hosts: RemoteHosts, conftool: ConftoolEntity) -> None:
        """Wrap the hosts and the conftool entity that pools and depools them.

        Arguments:
            config: cumin's configuration.
            remote_hosts: the hosts of the cluster.
            conftool: the conftool entity of their ``node`` objects.

        """
        super().__init__(remote_hosts)
        self._config = config
        self._conftool = conftool

    def run(
        self,
        *commands: str | Command,
        svc_to_depool: list[str] | None = None,
        batch_size: int = 1,
        batch_sleep: float | None = None,
        is_safe: bool = False,
        max_failed_batches: int = 0,
        print_output: bool = True,
        print_progress_bars: bool = True,
    ) -> list[tuple[NodeSet, MsgTreeElem]]:
        """Run the commands on ``batch_size`` hosts at a time, depooling each group from ``svc_to_depool`` first.

        Each group is depooled, runs all the commands (``async`` mode) and is repooled before the next group
        starts. Without services to depool, the commands run through cumin's own moving window instead.

        Arguments:
            *commands: the commands to run.
            svc_to_depool: the conftool services to depool the hosts from while they run the commands.
            batch_size: how many hosts at a time; less than the number of hosts.
            batch_sleep: seconds to wait after each group (the last one included).
            is_safe: the commands change nothing, so they run also in DRY-RUN.
            max_failed_batches: how many groups may fail before the run stops.
            print_output: print cumin's output of the commands to stdout.
            print_progress_bars: print cumin's progress bars to stderr.

        Returns:
            The ``(hosts, output)`` pairs of all groups.

        Raises:
            spicerack.remote.RemoteError: if ``batch_size`` is not between 0 and the number of hosts.
            spicerack.remote.RemoteExecutionError: if the run fails without services to depool.
            spicerack.remote.RemoteClusterExecutionError: if any group failed.

        """
        n_hosts = len(self._remote_hosts)
        if batch_size <= 0 or batch_size >= n_hosts:
            raise RemoteError(f"Values for batch_size must be 0 < x < {n_hosts}, got {batch_size}")

        if svc_to_depool is None:
            return list(
                self._remote_hosts.run_async(
                    *commands,
                    success_threshold=1.0 - (max_failed_batches * batch_size) / n_hosts,
                    batch_size=batch_size,
                    batch_sleep=batch_sleep,
                    is_safe=is_safe,
                    print_output=print_output,
                    print_progress_bars=print_progress_bars,
                )
            )

        results: list[tuple[NodeSet, MsgTreeElem]] = []
        failures: list[RemoteExecutionError] = []
        for group in self._remote_hosts.split(math.ceil(n_hosts / batch_size)):
            with self._conftool.change_and_revert(
                "pooled", "yes", "no", service="|".join(svc_to_depool), name="|".join(group.hosts.striter())
            ):
                try:
                    results.extend(
                        group.run_async(
                            *commands,
                            success_threshold=1.0,
                            is_safe=is_safe,
                            print_output=print_output,
                            print_progress_bars=print_progress_bars,
                        )
                    )
                except RemoteExecutionError as e:
                    failures.append(e)
            if len(failures) > max_failed_batches:
                break
            if batch_sleep is not None:  # also after the last group, as the reference does
                time.sleep(batch_sleep)

        if failures:
            raise RemoteClusterExecutionError(results, failures)
        return results

    def restart_services(
        self,
        services: list[str],
        svc_to_depool: list[str],
        *,
        batch_size: int = 1,
        batch_sleep: float | None = None,
        verbose: bool = True,
    ) -> list[tuple[NodeSet, MsgTreeElem]]:
        """Restart the systemd services in groups of ``batch_size`` hosts, depooled from ``svc_to_depool`` meanwhile.

        Arguments:
            services: the systemd units to restart.
            svc_to_depool: the conftool services to depool the hosts from.
            batch_size: how many hosts at a time.
            batch_sleep: seconds to wait between groups.
            verbose: print cumin's output and progress bars.

        """
        return self._act_on_services("restart", services, svc_to_depool, batch_size, batch_sleep, verbose)

    def reload_services(
        self,
        services: list[str],
        svc_to_depool: list[str],
        *,
        batch_size: int = 1,
        batch_sleep: float | None = None,
        verbose: bool = True,
    ) -> list[tuple[NodeSet, MsgTreeElem]]:
        """Reload the systemd services in groups of ``batch_size`` hosts, depooled from ``svc_to_depool`` meanwhile.

        Arguments:
            services: the systemd units to reload.
            svc_to_depool: the conftool services to depool the hosts from.
            batch_size: how many hosts at a time.
            batch_sleep: seconds to wait between groups.
            verbose: print cumin's output and progress bars.

        """
        return self._act_on_services("reload", services, svc_to_depool, batch_size, batch_sleep, verbose)

    def _act_on_services(
        self,
        action: str,
        services: list[str],
        svc_to_depool: list[str],
        batch_size: int,
        batch_sleep: float | None,
        verbose: bool,
    ) -> list[tuple[NodeSet, MsgTreeElem]]:
        """Run ``systemctl <action>`` on each service through :py:meth:`run`."""
        return self.run(
            *[f'systemctl {action} "{service}"' for service in services],
            svc_to_depool=svc_to_depool,
            batch_size=batch_size,
            batch_sleep=batch_sleep,
            is_safe=False,
            print_output=verbose,
            print_progress_bars=verbose,
        )


def _prepend_sudo(command: str | Command) -> str | Command:
    """Return the command prefixed with ``sudo -i``, keeping its timeout and ok codes."""
    if isinstance(command, str):
        return f"sudo -i {command}"
    return Command(f"sudo -i {command.command}", timeout=command.timeout, ok_codes=command.ok_codes)


def _batch_plan(target: transports.Target) -> str:
    """Describe how cumin would schedule the target's hosts."""
    if target.batch_size >= len(target.hosts):
        return "all at once"
    return f"in a moving window of {target.batch_size} hosts with {target.batch_sleep:.1f}s of sleep in between"


def _record_outcomes(commands: Sequence[str | Command], target: transports.Target, worker: Any) -> None:
    """Hand the per-host outcomes of an execution that was sent to the run's journal."""
    try:
        hosts_results = worker.results.hosts_results
    except transports.WorkerError:  # the worker ran nothing (it failed to start)
        hosts_results = None
    _outcomes.record(commands, target.hosts, hosts_results, executed=True, redact=_redact.redact_command)


def _failed_hosts(worker: Any) -> NodeSet:
    """Return the hosts on which a command failed or timed out in the worker's last execution."""
    failed = NodeSet()
    try:
        hosts_results = worker.results.hosts_results
    except transports.WorkerError:  # the worker ran nothing (it failed to start)
        return failed
    for name, host in hosts_results.items():
        if host.state in (HostState.FAILED, HostState.TIMEOUT):
            failed.add(name)
    return failed
