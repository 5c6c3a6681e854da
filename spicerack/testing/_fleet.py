"""The described fleet: hosts, how cumin queries resolve, canned command answers, and a cumin worker answering them.

The worker is registered as a cumin transport module, so :py:class:`spicerack.remote.RemoteHosts` runs its real
code (DRY-RUN skipping, ``sudo``, batches, thresholds, errors) and hands the commands to this fleet instead of SSH.
"""

from __future__ import annotations

import re
import sys
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ClusterShell.MsgTree import MsgTreeElem
from ClusterShell.NodeSet import NodeSetException
from cumin import NodeSet
from cumin.transports import Command, HostState, Target

from spicerack.remote import REBOOT_COMMAND, UPTIME_COMMAND, RemoteError
from spicerack.testing._calls import Outcome, RemoteCall, command_succeeded
from spicerack.testing._exchanges import ExchangeError, ExchangeStore

if TYPE_CHECKING:
    from spicerack.testing._plan import Recorder

TRANSPORT_NAME = "spicerack_testing_fleet"
"""The name of the fake cumin transport, set as ``transport`` in the configuration given to RemoteHosts."""
STATE_KEY = "spicerack_testing_run"
"""The key of cumin's configuration mapping that carries the run (fleet and recorder) to the worker."""
UNREACHABLE_EXIT_CODE = 255
"""The exit code of a command on a host that is down (what ``ssh`` returns when it cannot connect)."""
_SUDO_PREFIX = "sudo -i "


class FleetError(RemoteError):
    """The fleet description is invalid, or a query is not described in it."""


@dataclass
class Reply:
    """The canned answer of a command on some hosts.

    ``command`` is an exact command string, or a compiled :py:func:`re.compile` pattern matched in full;
    ``output`` is the text, or a callable computing it from the host and the command.
    ``on`` restricts the reply to some hosts (a ClusterShell nodeset string); ``times`` limits how many times per
    host it answers (then the next matching reply applies): ``times=2`` with ``exit_code=1`` fails twice, then the
    next reply (or the default, success with no output) answers.
    """

    command: str | re.Pattern[str]
    output: str | Callable[[str, str], str] = ""
    exit_code: int = 0
    on: str | None = None
    timeout: bool = False
    times: int | None = None
    used: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def matches(self, command: str, host: str) -> bool:
        """Whether this reply answers the command on the host (and has answers left for it)."""
        if self.on is not None and host not in NodeSet(self.on):
            return False
        if self.times is not None and self.used.get(host, 0) >= self.times:
            return False
        candidates = [command, command.removeprefix(_SUDO_PREFIX)]
        if isinstance(self.command, str):
            return self.command in candidates
        return any(self.command.fullmatch(candidate) for candidate in candidates)


@dataclass
class HttpReply:
    """The canned answer of HTTP requests: ``method`` (``*`` for any) and ``url`` exact or a full-match pattern."""

    method: str
    url: str | re.Pattern[str]
    status: int = 200
    body: str = ""
    times: int | None = None
    used: int = field(default=0, repr=False, compare=False)

    def matches(self, method: str, url: str) -> bool:
        """Whether this reply answers the request (and has answers left)."""
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        if self.times is not None and self.used >= self.times:
            return False
        return url == self.url if isinstance(self.url, str) else bool(self.url.fullmatch(url))


ICINGA_COMMAND_FILE = "/var/lib/icinga/rw/icinga.cmd"
"""The Icinga command file the simulated Icinga master reports."""
_ICINGA_COMMAND_FILE_GREP = re.compile(r"grep -P '\^?\\s\*command_file\\s\*=\.\+' \S+")
_ICINGA_STATUS = re.compile(r'\S*icinga-status -j.* "(?P<hosts>[^"]+)"')
_ICINGA_EXTERNAL = re.compile(r"\[\d+\] ([A-Z_]+);([^;\"']+)")
PHABRICATOR_URL = "https://phabricator.example.org/api/"
"""The Phabricator API of the runs' bot account; the fleet answers its calls with an empty result by default."""
_SILENCES = re.compile(r"https?://[^/]+(/.*)?/api/v2/silences")
_SILENCE = re.compile(r"https?://[^/]+(/.*)?/api/v2/silence/(?P<id>[^/]+)")


class Fleet:
    """A described fleet: the hosts, the queries resolving to them, the canned answers of commands, hosts down.

    Examples::

        fleet = Fleet(hosts="host[1-3].example.org", queries={"A:web": "host[1-2].example.org"})
        fleet.reply("systemctl is-active nginx", output="active")
        fleet.reply(re.compile(r"apt-get .*"), exit_code=100, on="host2.example.org", times=1)
        fleet.down("host3.example.org")

    Commands without a matching reply succeed with no output, except the built-in ones: ``cat /proc/uptime`` (the
    time since the host's last boot, a day before the fleet was created or when ``reboot-host`` last ran on it),
    Puppet's state (enabled, its last successful run just now), and the commands Spicerack runs on the Icinga
    master (the ``command_file`` lookup, ``icinga-status -j`` answering every host as up and optimal, downtimed after
    a ``SCHEDULE_HOST_DOWNTIME``, unknown if in :py:attr:`icinga_unknown`).
    """

    def __init__(
        self,
        hosts: str | Iterable[str] = (),
        *,
        queries: Mapping[str, str | Iterable[str]] | None = None,
        down: str | Iterable[str] = (),
        timeout: str | Iterable[str] = (),
    ) -> None:
        """Describe the fleet.

        Arguments:
            hosts: the inventory (a nodeset string or names); when given, queries in nodeset syntax select only
                hosts of it, as a real inventory would; otherwise any nodeset selects its hosts.
            queries: exact cumin query strings and the hosts they select.
            down: hosts that are unreachable: every command fails on them with exit code 255.
            timeout: hosts on which every command times out.

        """
        self.hosts = _nodeset(hosts)
        self.queries: dict[str, NodeSet] = {}
        self.replies: list[Reply] = []
        self.down_hosts = NodeSet()
        self.timeout_hosts = NodeSet()
        self.boot_times: dict[str, float] = {}
        """Per host, the (epoch) time of its last simulated boot, set when ``reboot-host`` runs on it."""
        self.service_hosts = NodeSet()
        """Hosts of the infrastructure (e.g. the Icinga master of the run's configuration), always resolvable."""
        self.http_replies: list[HttpReply] = []
        self.conftool_objects: dict[str, dict[str, Any]] = {}
        """The conftool objects, by key relative to conftool's namespace (e.g. ``pools/eqiad/web/nginx/web1``)."""
        self.dns_records: dict[tuple[str, str], list[str]] = {}
        """The DNS records, by (name without the final dot, record type)."""
        self.alertmanager_silences: set[str] = set()
        """The IDs of the silences active on the simulated Alertmanager."""
        self.icinga_downtimed: set[str] = set()
        """The hosts downtimed on the simulated Icinga (by their Icinga name)."""
        self.icinga_unknown = NodeSet()
        """The hosts the simulated Icinga does not know."""
        self.history: list[tuple[str, str, Outcome]] = []
        """Every ``(host, command, outcome)`` that ran on the fleet, in order."""
        self.exchanges = ExchangeStore()
        """The recorded exchanges of the libraries (the ``exchanges:`` section), answered when replaying."""
        self._created = time.time()
        self._silences = 0
        for query, selected in (queries or {}).items():
            self.query(query, selected)
        self.down(down)
        self.down(timeout, timeout=True)

    def query(self, query: str, hosts: str | Iterable[str]) -> Fleet:
        """Make an exact cumin query select the given hosts."""
        self.queries[query] = _nodeset(hosts)
        return self

    def reply(
        self,
        command: str | re.Pattern[str],
        output: str | Callable[[str, str], str] = "",
        *,
        exit_code: int = 0,
        on: str | Iterable[str] | None = None,
        timeout: bool = False,
        times: int | None = None,
    ) -> Fleet:
        """Add a canned answer (see :py:class:`Reply`); replies are tried in the order they were added."""
        hosts = None if on is None else str(_nodeset(on))
        self.replies.append(Reply(command, output, exit_code, hosts, timeout, times))
        return self

    def http(
        self,
        method: str,
        url: str | re.Pattern[str],
        *,
        status: int = 200,
        json: Any = None,
        text: str = "",
        times: int | None = None,
    ) -> Fleet:
        """Add a canned answer to HTTP requests made with ``requests`` (every Spicerack HTTP client uses it).

        Requests without a matching reply get a 404, except those of the simulated Alertmanager (the creation of a
        silence, answered with a new ``silenceID``, and the removal of an active one) and the calls to the
        Phabricator API of the runs' bot account (:py:data:`PHABRICATOR_URL`, an empty result). ``json`` is sent as
        the JSON body, else ``text``.
        """
        import json as json_module  # noqa: PLC0415 - only for HTTP replies

        body = json_module.dumps(json) if json is not None else text
        self.http_replies.append(HttpReply(method, url, status, body, times))
        return self

    def answer_http(self, method: str, url: str) -> tuple[int, str]:
        """Return the status and body of the answer to an HTTP request (see :py:meth:`http`)."""
        for reply in self.http_replies:
            if reply.matches(method, url):
                reply.used += 1
                return reply.status, reply.body
        if method.upper() == "POST" and _SILENCES.fullmatch(url):
            self._silences += 1
            self.alertmanager_silences.add(f"testing-silence-{self._silences}")
            return 200, f'{{"silenceID": "testing-silence-{self._silences}"}}'
        silence = _SILENCE.fullmatch(url)
        if method.upper() == "DELETE" and silence and silence.group("id") in self.alertmanager_silences:
            self.alertmanager_silences.discard(silence.group("id"))
            return 200, ""
        if method.upper() == "POST" and url.startswith(PHABRICATOR_URL):
            return 200, '{"result": {}, "error_code": null, "error_info": null}'
        return 404, f"spicerack.testing: no HTTP reply described for {method.upper()} {url}"

    def conftool(self, key: str, **values: Any) -> Fleet:
        """Add (or update) a conftool object, by its key relative to conftool's namespace.

        Examples::

            fleet.conftool("pools/eqiad/appserver/apache2/mw1001", pooled="yes", weight=10)  # a node object

        Entities other than ``node`` need their schema in the run's ``conftool/schema.yaml`` configuration file.
        """
        self.conftool_objects.setdefault(key.strip("/"), {}).update(values)
        return self

    def dns(self, name: str, record_type: str, *values: str) -> Fleet:
        """Add DNS records (``spicerack.dns()`` and dnspython lookups); names not described do not exist.

        Examples::

            fleet.dns("deployment.eqiad.wmnet", "CNAME", "deploy1003.eqiad.wmnet.")
            fleet.dns("host1.example.org", "A", "10.0.0.1")

        """
        key = (name.rstrip(".").lower(), record_type.upper())
        self.dns_records.setdefault(key, []).extend(values)
        return self

    def down(self, hosts: str | Iterable[str], *, timeout: bool = False) -> Fleet:
        """Make hosts unreachable (commands fail with exit code 255), or time out on every command."""
        (self.timeout_hosts if timeout else self.down_hosts).update(_nodeset(hosts))
        return self

    def up(self, hosts: str | Iterable[str]) -> Fleet:
        """Make hosts reachable again."""
        nodes = _nodeset(hosts)
        self.down_hosts.difference_update(nodes)
        self.timeout_hosts.difference_update(nodes)
        return self

    def resolve(self, query: str) -> NodeSet:
        """Return the hosts selected by a query: an exact described query, else a nodeset of known hosts.

        A described query may select no host (the accessor then raises, as with a real empty result).

        Raises:
            spicerack.testing.FleetError: if the query is not described and selects no known host in nodeset syntax.

        """
        if query in self.queries:
            return self.queries[query].copy()
        try:
            nodes = NodeSet(query)
        except NodeSetException as e:
            raise FleetError(f"Failed to execute Cumin query '{query}': not described in the test fleet ({e})") from e
        if self.hosts:
            nodes.intersection_update(self.hosts | self.service_hosts)
        if not nodes:
            raise FleetError(f"Failed to execute Cumin query '{query}': not described in the test fleet")
        return nodes

    def run(self, host: str, command: Command) -> Outcome:
        """Run one command on one host of the fleet and record it in :py:attr:`history`."""
        outcome = self._answer(host, command.command)
        if outcome.exit_code == 0 and command.command.removeprefix(_SUDO_PREFIX) == REBOOT_COMMAND:
            self.boot_times[host] = time.time()
        self.history.append((host, command.command, outcome))
        return outcome

    def executed(self, on: str | None = None) -> list[str]:
        """The commands that ran on the fleet (on a host, or all of them), in order."""
        return [command for host, command, _ in self.history if on is None or host == on]

    def _answer(self, host: str, command: str) -> Outcome:
        if host in self.timeout_hosts:
            return Outcome(None, "", timed_out=True)
        if host in self.down_hosts:
            return Outcome(UNREACHABLE_EXIT_CODE, "")
        for reply in self.replies:
            if reply.matches(command, host):
                reply.used[host] = reply.used.get(host, 0) + 1
                output = reply.output(host, command) if callable(reply.output) else reply.output
                if reply.timeout:
                    return Outcome(None, output, timed_out=True)
                return Outcome(reply.exit_code, output)
        return Outcome(0, self._builtin_output(command.removeprefix(_SUDO_PREFIX), host))

    def _builtin_output(self, command: str, host: str) -> str:
        """The answers of the built-in commands: uptime, and what Icinga's master answers."""
        if command == UPTIME_COMMAND:
            uptime = time.time() - self.boot_times.get(host, self._created - 86400)
            return f"{uptime:.2f} {uptime * 4:.2f}"
        if "last_run_success && awk /last_run/" in command:  # Puppet's last successful run: just now
            return str(int(time.time()) + 1)  # whole seconds, after any time taken just before
        if 'test -f "${PUPPET_DISABLEDLOCK}"' in command:  # Puppet is enabled
            return "0"
        if _ICINGA_COMMAND_FILE_GREP.fullmatch(command):
            return f"command_file={ICINGA_COMMAND_FILE}"
        status = _ICINGA_STATUS.fullmatch(command)
        if status:
            return self._icinga_status(NodeSet(status.group("hosts")))
        for action, target in _ICINGA_EXTERNAL.findall(command):
            if action in ("SCHEDULE_HOST_DOWNTIME", "SCHEDULE_HOST_SVC_DOWNTIME"):
                self.icinga_downtimed.add(target)
            elif action == "DEL_DOWNTIME_BY_HOST_NAME":
                self.icinga_downtimed.discard(target)
        return ""

    def _icinga_status(self, hosts: NodeSet) -> str:
        import json  # noqa: PLC0415 - only for Icinga

        status = {
            host: None
            if host in self.icinga_unknown
            else {
                "name": host,
                "state": "UP",
                "optimal": True,
                "downtimed": host in self.icinga_downtimed,
                "notifications_enabled": True,
                "failed_services": [],
                "services": [],
            }
            for host in hosts
        }
        return json.dumps(status)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fleet:
        """Build a fleet from a mapping, the YAML form (see :py:meth:`from_yaml`).

        Raises:
            spicerack.testing.FleetError: if the mapping has unknown keys.

        """
        known = {"hosts", "queries", "down", "timeout", "commands", "http", "dns", "conftool", "exchanges"}
        unknown = set(data) - known
        if unknown:
            raise FleetError(f"Unknown keys in the fleet description: {', '.join(sorted(unknown))}")
        fleet = cls(
            _as_hosts(data.get("hosts")),
            queries={str(key): _as_hosts(value) for key, value in (data.get("queries") or {}).items()},
            down=_as_hosts(data.get("down")),
            timeout=_as_hosts(data.get("timeout")),
        )
        for entry in data.get("commands") or []:
            fleet._add_reply_entry(entry)
        for entry in data.get("http") or []:
            fleet._add_http_entry(entry)
        for key, values in (data.get("conftool") or {}).items():
            fleet.conftool(str(key), **dict(values))
        for entry in data.get("dns") or []:
            if set(entry) != {"name", "type", "values"}:
                raise FleetError(f"Invalid DNS record {dict(entry)}: give name, type and values")
            fleet.dns(str(entry["name"]), str(entry["type"]), *[str(value) for value in entry["values"]])
        try:
            fleet.exchanges = ExchangeStore.from_dict(data.get("exchanges"))
        except ExchangeError as e:
            raise FleetError(str(e)) from e
        return fleet

    @classmethod
    def from_yaml(cls, source: str | Path) -> Fleet:
        """Build a fleet from YAML text or a YAML file.

        Example::

            hosts: host[1-3].example.org
            queries:
              "A:web": host[1-2].example.org
            down: host3.example.org
            commands:
              - command: systemctl is-active nginx
                output: active
              - pattern: "apt-get .*"
                exit_code: 100
                hosts: host2.example.org  # or on:
                times: 1
            conftool:
              pools/eqiad/web/nginx/host1.example.org: {pooled: "yes", weight: 10}
            dns:
              - {name: deployment.example.org, type: CNAME, values: [deploy1.example.org.]}
            http:
              - method: GET
                pattern: "https://netbox.example.org/api/.*"
                json: {"results": []}

        """
        import yaml  # noqa: PLC0415 - only for YAML fleets

        text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise FleetError("The fleet description must be a YAML mapping")
        return cls.from_dict(data)

    def _add_http_entry(self, entry: Mapping[str, Any]) -> None:
        unknown = set(entry) - {"method", "url", "pattern", "status", "json", "text", "times"}
        if unknown or ("url" in entry) == ("pattern" in entry):
            raise FleetError(f"Invalid HTTP reply {dict(entry)}: give one of url or pattern, and only known keys")
        url: str | re.Pattern[str] = entry["url"] if "url" in entry else re.compile(entry["pattern"])
        self.http(
            str(entry.get("method", "*")),
            url,
            status=int(entry.get("status", 200)),
            json=entry.get("json"),
            text=str(entry.get("text", "")),
            times=entry.get("times"),
        )

    def _add_reply_entry(self, entry: Mapping[Any, Any]) -> None:
        # YAML 1.1 reads an `on:` key as true: `hosts:` is the same key, without the surprise
        entry = {("on" if key is True or key == "hosts" else key): value for key, value in entry.items()}
        unknown = set(entry) - {"command", "pattern", "output", "exit_code", "on", "timeout", "times"}
        if unknown or ("command" in entry) == ("pattern" in entry):
            raise FleetError(
                f"Invalid command reply {dict(entry)}: give one of command or pattern, and only known keys"
            )
        command: str | re.Pattern[str] = entry["command"] if "command" in entry else re.compile(entry["pattern"])
        self.reply(
            command,
            str(entry.get("output", "")),
            exit_code=int(entry.get("exit_code", 0)),
            on=_as_hosts(entry.get("on")) or None,
            timeout=bool(entry.get("timeout", False)),
            times=entry.get("times"),
        )


@dataclass
class RunState:
    """What the fake transport needs from the current run: the fleet, the recorder and the DRY-RUN mode."""

    fleet: Fleet
    recorder: Recorder
    dry_run: bool
    stack: ExitStack | None = None
    """Where the patches installed on demand during the run (e.g. conftool's driver) are undone."""
    conftool_installed: bool = False


class _HostResult:
    """The part of cumin's per-host results that Spicerack reads: the final state."""

    def __init__(self, state: HostState) -> None:
        self.state = state


class _Results:
    def __init__(self, hosts_results: dict[str, _HostResult]) -> None:
        self.hosts_results = hosts_results


class FleetWorker:
    """A cumin worker that runs the commands on the described fleet, with cumin's ``sync``/``async`` semantics."""

    def __init__(self, config: Mapping[str, Any], target: Target) -> None:
        """Set up the call and record it in the plan (it shows as skipped if it never executes)."""
        self._state: RunState = config[STATE_KEY]
        self.target = target
        self.call = RemoteCall(NodeSet(target.hosts), int(target.batch_size), float(target.batch_sleep or 0.0))
        self.progress_bars = False
        self.reporter: Any = None
        self.timeout: int | None = None
        self._state.recorder.remote(self.call, dry_run=self._state.dry_run)

    @property
    def commands(self) -> list[Command]:
        """The commands to run."""
        return self.call.commands

    @commands.setter
    def commands(self, value: Sequence[str | Command]) -> None:
        self.call.commands = [command if isinstance(command, Command) else Command(command) for command in value]

    @property
    def handler(self) -> str:
        """The execution mode, ``sync`` or ``async``."""
        return self.call.mode

    @handler.setter
    def handler(self, value: str) -> None:
        self.call.mode = value

    @property
    def success_threshold(self) -> float:
        """The fraction of hosts that must succeed."""
        return self.call.success_threshold

    @success_threshold.setter
    def success_threshold(self, value: float) -> None:
        self.call.success_threshold = value

    @property
    def results(self) -> _Results:
        """The final state of each host."""
        states = {"ok": HostState.SUCCESS, "failed": HostState.FAILED, "timeout": HostState.TIMEOUT}
        return _Results(
            {host: _HostResult(states.get(self.call.host_state(host), HostState.PENDING)) for host in self.call.hosts}
        )

    def execute(self) -> int:
        """Run the commands on the fleet and return cumin's exit code (0 all ok, 2 below the threshold, else 1)."""
        self.call.executed = True
        if self.call.mode == "sync":
            self._run_sync()
        else:
            self._run_async()
        total = len(self.call.hosts)
        succeeded = sum(1 for host in self.call.hosts if self.call.host_state(host) == "ok")
        if succeeded == total:
            code = 0
        elif succeeded / total < self.call.success_threshold:
            code = 2
        else:
            code = 1
        self.call.return_code = code
        return code

    def get_results(self) -> Iterator[tuple[NodeSet, MsgTreeElem]]:
        """Yield, command by command, the hosts grouped by identical non-empty output."""
        for index in range(len(self.call.commands)):
            groups: dict[str, NodeSet] = {}
            for host in self.call.hosts:
                outcomes = self.call.outcomes.get(host, [])
                if len(outcomes) > index and outcomes[index].output:
                    groups.setdefault(outcomes[index].output, NodeSet()).add(host)
            for text, nodes in groups.items():
                yield nodes, _message(text)

    def _run_on(self, host: str, command: Command) -> bool:
        outcome = self._state.fleet.run(host, command)
        self.call.outcomes.setdefault(host, []).append(outcome)
        return command_succeeded(command, outcome)

    def _run_sync(self) -> None:
        alive = list(self.call.hosts)
        for command in self.call.commands:
            alive = [host for host in alive if self._run_on(host, command)]
            if len(alive) / len(self.call.hosts) < self.call.success_threshold:
                return

    def _run_async(self) -> None:
        hosts = list(self.call.hosts)
        failed = 0
        for index, host in enumerate(hosts):
            if index >= self.call.batch_size and failed / len(hosts) > 1 - self.call.success_threshold:
                return  # cumin stops scheduling new hosts once too many have failed
            for command in self.call.commands:
                if not self._run_on(host, command):
                    failed += 1
                    break


def _message(text: str) -> MsgTreeElem:
    element = MsgTreeElem()
    for line in text.splitlines() or [""]:
        element = element.append(line.encode())
    return element


def _nodeset(hosts: str | Iterable[str] | None) -> NodeSet:
    if hosts is None:
        return NodeSet()
    if isinstance(hosts, str):
        return NodeSet(hosts)
    return NodeSet.fromlist(list(hosts))


def _as_hosts(value: Any) -> str | list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value
    return [str(item) for item in value]


def register_transport() -> None:
    """Make the fake worker loadable by cumin's transport factory (``cumin.transports.<name>``)."""
    name = f"cumin.transports.{TRANSPORT_NAME}"
    if name not in sys.modules:
        module = types.ModuleType(name, "The cumin transport of spicerack.testing: runs commands on a test fleet.")
        module.worker_class = FleetWorker  # type: ignore[attr-defined]
        sys.modules[name] = module
