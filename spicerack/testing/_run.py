"""Run a cookbook through the real runner against a described fleet, recording its plan."""

from __future__ import annotations

import builtins
import logging
import os
import shlex
import socket
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from unittest import mock

from spicerack import Spicerack, _collection, _runtime, cookbook
from spicerack._hooks import RunHooks
from spicerack._menu import BaseItem, CookbookItem
from spicerack._names import irc_logger_name, sal_logger_name
from spicerack.remote import Remote, RemoteHosts
from spicerack.testing._fleet import (
    PHABRICATOR_URL,
    STATE_KEY,
    TRANSPORT_NAME,
    Fleet,
    RunState,
    register_transport,
)
from spicerack.testing._plan import Plan, Recorder

if TYPE_CHECKING:
    from wmflib.phabricator import Phabricator

    from spicerack._module_api import CookbooksModuleInterface
    from spicerack.confctl import Confctl
    from spicerack.dbctl import Dbctl
    from spicerack.locking import LocalLock, Lock, NoLock

TEST_USERNAME = "cookbook-tester"
"""The operator of the runs (``spicerack.username``), the same on every machine so that plans are stable."""
TEST_HOSTNAME = "cumin-test.example.org"
"""The host the runs pretend to run on (``spicerack.current_hostname``)."""
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
DEFAULT_CONFIG: dict[str, Any] = {
    "alertmanager/config.yaml": {
        "default_instance": "test",
        "instances": {"test": {"urls": ["https://alertmanager.example.org"]}},
    },
    "icinga/config.yaml": {"master_host": "icinga.example.org"},
    "conftool/config.yaml": {"hosts": ["http://127.0.0.1:2379"]},
    "conftool/schema.yaml": {},
}
"""The configuration files of every run (``spicerack.config_dir``), unless ``config`` replaces them."""


@dataclass
class RunResult:
    """The outcome of :py:func:`run_cookbook`: exit code, plan, the fleet afterwards and the log lines."""

    exit_code: int
    plan: Plan
    fleet: Fleet
    logs: list[str] = field(default_factory=list)
    """The run's log messages, as ``LEVEL message`` (DEBUG included); a logged exception adds ``LEVEL Type: text``."""


class FleetRemote(Remote):
    """A :py:class:`spicerack.remote.Remote` whose queries resolve on the fleet and whose hosts run commands on it."""

    def __init__(self, state: RunState, dry_run: bool = True) -> None:
        self._config = {"transport": TRANSPORT_NAME, STATE_KEY: state}
        self._dry_run = dry_run
        self._state = state

    def query(self, query_string: str, use_sudo: bool = False) -> RemoteHosts:
        """Return the hosts the fleet resolves the query to (see :py:meth:`spicerack.testing.Fleet.resolve`)."""
        return RemoteHosts(
            self._config, self._state.fleet.resolve(query_string), dry_run=self._dry_run, use_sudo=use_sudo
        )


class RecordingLock:
    """Records the slots taken on a lock, then delegates to it."""

    def __init__(self, lock: Lock | LocalLock | NoLock, prefix: str, recorder: Recorder) -> None:
        self._lock = lock
        self._prefix = prefix
        self._recorder = recorder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lock, name)

    def _record(self, name: str, concurrency: int, ttl: int) -> None:
        key = f"{self._prefix}/{name}"
        self._recorder.add(
            "lock", f"{key} concurrency={concurrency} ttl={ttl}", key=key, concurrency=concurrency, ttl=ttl
        )

    @contextmanager
    def acquired(self, name: str, *, concurrency: int, ttl: int) -> Iterator[None]:
        self._record(name, concurrency, ttl)
        with self._lock.acquired(name, concurrency=concurrency, ttl=ttl):
            yield

    def acquire(self, name: str, *, concurrency: int, ttl: int) -> str:
        self._record(name, concurrency, ttl)
        return self._lock.acquire(name, concurrency=concurrency, ttl=ttl)


class TestingSpicerack(Spicerack):
    """The accessor of harness runs: remote execution on the fleet, local locks in a temporary directory.

    It replaces what the accessor documents as its override points (:py:meth:`Spicerack._make_lock`,
    :py:meth:`Spicerack._make_confctl`) and the accessors of the outside world; what the run does with them is
    recorded through the run's hooks (:py:class:`RecordingHooks`).
    """

    __test__ = False  # not a test class for pytest

    def __init__(self, *, state: RunState, lock_dir: Path | None, **kwargs: Any) -> None:
        """Set up the accessor for one run.

        Arguments:
            state: the fleet, recorder and DRY-RUN mode of the run.
            lock_dir: where local locks are kept; :py:data:`None` for no locks (they are still recorded).
            **kwargs: the arguments of :py:class:`spicerack.Spicerack`.

        """
        super().__init__(**kwargs)
        self._state = state
        self._lock_dir = lock_dir

    @property
    def _username(self) -> str:
        return TEST_USERNAME

    @property
    def _current_hostname(self) -> str:
        return TEST_HOSTNAME

    def remote(self, installer: bool = False) -> Remote:
        """Return the entry point to the fleet."""
        return FleetRemote(self._state, dry_run=self._dry_run)

    def _make_confctl(self) -> Confctl:
        _install_conftool(self._state)
        from spicerack.confctl import Confctl  # noqa: PLC0415 - as the accessor does

        return Confctl(config=self._conftool_config, schema=self._conftool_schema, dry_run=self._dry_run)

    def dbctl(self) -> Dbctl:
        """Return the dbctl client of the accessor, on the fleet's conftool objects."""
        _install_conftool(self._state)
        return super().dbctl()

    def phabricator(self, bot_config_file: str, section: str = "phabricator_bot") -> Phabricator:
        """Return the Phabricator client of the accessor, with a test bot account on ``PHABRICATOR_URL``.

        The bot file of the cookbook is not read (it is outside the run's configuration): its API calls go to the
        fleet's HTTP answers, which by default accept every call.
        """
        bot_file = self.config_dir / "phabricator-bot.ini"
        bot_file.write_text(
            f"[{section}]\nhost = {PHABRICATOR_URL}\nusername = testing-bot\ntoken = api-testing\n", encoding="utf-8"
        )
        logging.getLogger(__name__).debug("Phabricator bot file %s replaced by %s", bot_config_file, bot_file)
        return super().phabricator(str(bot_file), section)

    def _make_lock(self, prefix: str) -> Lock | LocalLock | NoLock:
        from spicerack.locking import LocalLock, NoLock  # noqa: PLC0415 - as the accessor does

        if self._lock_dir is None:
            return NoLock()
        return LocalLock(prefix=prefix, owner=self.owner, dry_run=self._dry_run, lock_dir=self._lock_dir)


class RecordingHooks(RunHooks):
    """The run hooks of a recorded run: the locks taken, the child cookbooks and the rollbacks go into the plan."""

    def __init__(self, recorder: Recorder) -> None:
        """Record into the given recorder."""
        self.recorder = recorder

    def lock(self, lock: Any, prefix: str) -> Any:
        """Record each acquisition of the lock backend."""
        return lock if isinstance(lock, RecordingLock) else RecordingLock(lock, prefix, self.recorder)

    def runner(self, runner: cookbook.CookbookRunnerBase, name: str) -> cookbook.CookbookRunnerBase:
        """Record the call of the runner's ``rollback()``."""
        return record_rollback(runner, name, self.recorder)

    def child(self, name: str, args: Sequence[str], run: Callable[[], int]) -> int:
        """Record the child cookbook and nest its actions in the plan."""
        return record_child(self.recorder, name, args, run)


def record_child(recorder: Recorder, cookbook: str, args: Sequence[str], run: Callable[[], int]) -> int:
    """Run a child cookbook with ``run()``, recording it and nesting its actions in the plan."""
    action = recorder.add(
        "cookbook", " ".join([cookbook, *(shlex.quote(arg) for arg in args)]), name=cookbook, args=list(args)
    )
    recorder.depth += 1
    try:
        code = run()
    except BaseException:
        recorder.depth -= 1
        recorder.add("end", f"{cookbook} raised", name=cookbook, exit_code=None)
        raise
    recorder.depth -= 1
    action.data["exit_code"] = code
    recorder.add("end", f"{cookbook} exit_code={code}", name=cookbook, exit_code=code)
    return code


class _CaptureHandler(logging.Handler):
    def __init__(self, callback: Callable[[logging.LogRecord], object], level: int = logging.DEBUG) -> None:
        super().__init__(level)
        self._callback = callback

    def emit(self, record: logging.LogRecord) -> None:
        self._callback(record)


def run_cookbook(
    name: str | type[cookbook.CookbookBase] | types.ModuleType,
    args: Sequence[str] = (),
    *,
    fleet: Fleet | None = None,
    dry_run: bool = True,
    cookbooks_dir: str | Path | None = None,
    answers: Sequence[str] = (),
    locks: bool = True,
    verbose: bool = False,
    config: dict[str, Any] | None = None,
) -> RunResult:
    """Run a cookbook through the real runner against a fleet, with no network, no root and no real hosts.

    The cookbook is found, its arguments parsed, its runner built, locked, run and rolled back exactly as the
    ``cookbook`` command does; remote commands go to the fleet (in DRY-RUN only those marked ``is_safe`` run),
    ``time.sleep()`` returns at once, prompts take the next of ``answers`` and every name lookup of a non-loopback
    host fails.

    Arguments:
        name: the dotted name of a cookbook of the ``cookbooks/`` tree under ``cookbooks_dir``, or a cookbook class
            (class API) or module (module API) given as an object.
        args: the cookbook's command line arguments.
        fleet: the described fleet, empty by default.
        dry_run: run as ``cookbook --dry-run``.
        cookbooks_dir: the directory holding the ``cookbooks/`` tree (the current directory by default).
        answers: the answers to the prompts (``go``/``abort`` for ``ask_confirmation``), in order.
        locks: take local locks in a temporary directory (they are recorded in the plan either way).
        verbose: run as ``cookbook --verbose``.
        config: the files of the configuration directory (``spicerack.config_dir``), by path relative to it (e.g.
            ``alertmanager/config.yaml``): mappings and lists are written as YAML, strings as they are. They are
            added to :py:data:`DEFAULT_CONFIG` (an Alertmanager instance and an Icinga master host), a ``None``
            value removes a default file.

    Returns:
        The exit code, the plan, the fleet and the log lines.

    Raises:
        TypeError: if ``args`` is a string instead of a sequence of arguments.

    """
    if isinstance(args, str):
        raise TypeError(f"The arguments must be a sequence of strings, like sys.argv, got the string {args!r}")
    fleet = fleet if fleet is not None else Fleet()
    recorder = Recorder()
    state = RunState(fleet, recorder, dry_run)
    logs: list[str] = []
    register_transport()
    base_dir = Path(cookbooks_dir if cookbooks_dir is not None else Path.cwd()).resolve()
    with tempfile.TemporaryDirectory(prefix="spicerack-testing-") as tmp, ExitStack() as stack:
        files = {**DEFAULT_CONFIG, **(config or {})}
        _write_config(Path(tmp) / "config", files)
        fleet.service_hosts.update(_icinga_master(files))
        if "spicerack.icinga" in sys.modules:  # every run reads the Icinga command file again, as a new process does
            sys.modules["spicerack.icinga"].CommandFile.clear_cache()
        for patcher in _isolation(recorder, fleet, list(answers), logs, relay=not dry_run):
            stack.enter_context(patcher)
        state.stack = stack
        _collection.activate_trees([base_dir])
        spicerack = _runtime.build_accessor(
            {},
            [base_dir],
            verbose=verbose,
            dry_run=dry_run,
            hooks=RecordingHooks(recorder),
            accessor_class=TestingSpicerack,
            state=state,
            lock_dir=Path(tmp) / "locks" if locks else None,
            etcd_config=None,
            spicerack_config_dir=str(Path(tmp) / "config"),
            conftool_config=str(Path(tmp) / "config" / "conftool" / "config.yaml"),
            conftool_schema=str(Path(tmp) / "config" / "conftool" / "schema.yaml"),
        )
        item = _find_item(name, args, spicerack, base_dir)
        if item is None:
            logs.append(f"ERROR Unable to find cookbook {name}")
            code = cookbook.NOT_FOUND_RETCODE
        else:
            code = item.run()
    recorder.add("exit_code", str(code), code=code)
    return RunResult(code, recorder.plan, fleet, logs)


def record_rollback(runner: cookbook.CookbookRunnerBase, name: str, recorder: Recorder) -> cookbook.CookbookRunnerBase:
    """Make the runner record the call of its ``rollback()`` in the plan; return it."""
    rollback = runner.rollback

    def recorded_rollback() -> None:
        action = recorder.add("rollback", name, name=name)
        try:
            rollback()
        except BaseException:
            action.details = f"{name} raised"
            raise

    runner.rollback = recorded_rollback  # type: ignore[method-assign]
    return runner


def _find_item(
    name: str | type[cookbook.CookbookBase] | types.ModuleType,
    args: Sequence[str],
    spicerack: Spicerack,
    base_dir: Path,
) -> BaseItem | None:
    if isinstance(name, str):
        path = _collection.cookbook_path_type(name)
        try:
            collection = _runtime.collect([base_dir], spicerack, path_filter=path, args=args)
        except _runtime.RunError as e:
            logging.getLogger(__name__).error(e)
            return None
        return collection.get_item(path)
    if isinstance(name, types.ModuleType):
        class_obj = _collection.cookbook_class_from_module(cast("CookbooksModuleInterface", name), spicerack)
    else:
        class_obj = name
        path = class_obj.__module__.split(".", 1)[1] if class_obj.__module__.startswith("cookbooks.") else ""
        class_obj.spicerack_path = path.rpartition(".")[0]
        class_obj.spicerack_name = path.rpartition(".")[2] or class_obj.__name__
    return CookbookItem(class_obj, args, spicerack)


def _install_conftool(state: RunState) -> None:
    """Make every conftool client of the run use the fleet's objects instead of etcd (for the rest of the run)."""
    if state.conftool_installed or state.stack is None:
        return
    from conftool import audit, backend  # noqa: PLC0415 - conftool is slow to import: only for runs that use it

    from spicerack.testing._conftool import FleetConftoolDriver  # noqa: PLC0415 - it imports conftool

    def init(self: backend.Backend, config: Any) -> None:
        self.config = config
        self.driver = FleetConftoolDriver(config, state.fleet, state.recorder)

    quiet = logging.Logger("spicerack.testing.conftool_audit")  # not to syslog or stderr: the plan has the writes
    quiet.addHandler(logging.NullHandler())
    state.stack.enter_context(mock.patch.object(backend.Backend, "__init__", init))
    state.stack.enter_context(mock.patch.object(audit.auditlog, "logger", quiet))
    state.conftool_installed = True


def _icinga_master(files: dict[str, Any]) -> str:
    import yaml  # noqa: PLC0415 - only to run

    icinga = files.get("icinga/config.yaml")
    data = yaml.safe_load(icinga) if isinstance(icinga, str) else icinga
    master = data.get("master_host") if isinstance(data, dict) else None
    return str(master) if master else ""


def _write_config(config_dir: Path, files: dict[str, Any]) -> None:
    import yaml  # noqa: PLC0415 - only to run

    for relative, content in files.items():
        if content is None:
            continue
        path = config_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else yaml.safe_dump(content)
        path.write_text(text, encoding="utf-8")


def _isolation(
    recorder: Recorder, fleet: Fleet, answers: list[str], logs: list[str], *, relay: bool
) -> list[AbstractContextManager[Any]]:
    """The patches of a run: logging capture, no sleeping, answered prompts, HTTP answered by the fleet, no network."""
    import requests  # noqa: PLC0415 - every HTTP client of Spicerack is built on it
    import wmflib.interactive  # noqa: PLC0415 - the prompts' module

    def capture_log(record: logging.LogRecord) -> None:
        record_intent(recorder, record)
        logs.append(f"{record.levelname} {record.getMessage()}")
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            logs.append(f"{record.levelname} {type(error).__name__}: {error}")

    def sleep(seconds: float) -> None:
        recorder.add("sleep", f"{seconds:g}s", seconds=seconds)

    prompt = Prompts(recorder, answers)

    def blocked_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host is None or str(host) in _LOOPBACK:
            return real_getaddrinfo(host, port, *args, **kwargs)
        recorder.add("network", f"blocked {host}:{port}", host=host, port=port)
        raise OSError(f"spicerack.testing: network access to {host}:{port} is blocked in harness runs")

    real_getaddrinfo = socket.getaddrinfo

    def http_send(_adapter: Any, request: requests.PreparedRequest, **_kwargs: Any) -> requests.Response:
        method, url = str(request.method), str(request.url)
        status, body = fleet.answer_http(method, url)
        recorder.add("http", f"{method} {url} -> {status}", method=method, url=url, status=status, body=request.body)
        response = requests.Response()
        response.status_code = status
        response._content = body.encode()
        response.url = url
        response.request = request
        response.reason = "OK" if status < 400 else "Error"
        response.encoding = "utf-8"
        return response

    return [
        logger_capture(logging.getLogger(), capture_log),
        announce_capture(
            logging.getLogger(sal_logger_name), lambda r: recorder.add("sal", r.getMessage()), relay=relay
        ),
        announce_capture(
            logging.getLogger(irc_logger_name), lambda r: recorder.add("irc", r.getMessage()), relay=relay
        ),
        mock.patch.object(time, "sleep", sleep),
        mock.patch.object(wmflib.interactive, "sys", _TtySys()),
        mock.patch.object(wmflib.interactive, "print", prompt.print, create=True),
        mock.patch.object(wmflib.interactive, "input", prompt.input, create=True),
        mock.patch.dict(os.environ, {"STY": "spicerack-testing"}),  # a durable shell, for ensure_shell_is_durable()
        mock.patch.object(socket, "getaddrinfo", blocked_getaddrinfo),
        *_socket_guards(recorder),
        mock.patch.object(requests.adapters.HTTPAdapter, "send", http_send),
        _dns_answers(recorder, fleet),
    ]


def _dns_answers(recorder: Recorder, fleet: Fleet) -> AbstractContextManager[Any]:
    """Answer dnspython's lookups from the fleet's records (names not described do not exist)."""
    import dns.message  # noqa: PLC0415 - dnspython, only to run
    import dns.name  # noqa: PLC0415 - dnspython, only to run
    import dns.rdataclass  # noqa: PLC0415 - dnspython, only to run
    import dns.rdatatype  # noqa: PLC0415 - dnspython, only to run
    import dns.resolver  # noqa: PLC0415 - dnspython, only to run
    import dns.rrset  # noqa: PLC0415 - dnspython, only to run

    def resolve(_resolver: Any, qname: Any, rdtype: Any = "A", *_args: Any, **_kwargs: Any) -> dns.resolver.Answer:
        name = dns.name.from_text(str(qname)) if not isinstance(qname, dns.name.Name) else qname
        record_type = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))
        values = fleet.dns_records.get((name.to_text(omit_final_dot=True).lower(), record_type), [])
        shown = name.to_text(omit_final_dot=True)
        recorder.add("dns", f"{record_type} {shown} -> {', '.join(values) or 'NXDOMAIN'}", name=shown, values=values)
        if not values:
            raise dns.resolver.NXDOMAIN(qnames=[name])  # type: ignore[no-untyped-call]
        query = dns.message.make_query(name, record_type)
        response = dns.message.make_response(query)
        answer = response.find_rrset(
            response.answer, name, dns.rdataclass.IN, dns.rdatatype.from_text(record_type), create=True
        )
        answer.update(dns.rrset.from_text_list(name, 300, "IN", record_type, values))  # type: ignore[no-untyped-call]
        return dns.resolver.Answer(
            name, dns.rdatatype.from_text(record_type), dns.rdataclass.IN, cast("dns.message.QueryMessage", response)
        )

    return mock.patch.object(dns.resolver.Resolver, "resolve", resolve)


def _socket_guards(recorder: Recorder) -> list[AbstractContextManager[Any]]:
    """Block the connections and datagrams of sockets to non-loopback addresses (e.g. DNS queries)."""

    def guard(name: str) -> Callable[..., Any]:
        real = getattr(socket.socket, name)

        def guarded(sock: socket.socket, *args: Any) -> Any:
            address = args[-1]
            host = address[0] if isinstance(address, tuple) else None
            if host is not None and str(host) not in _LOOPBACK and not str(host).startswith("127."):
                recorder.add("network", f"blocked {host}:{address[1]}", host=host, port=address[1])
                raise OSError(f"spicerack.testing: network access to {host}:{address[1]} is blocked in harness runs")
            return real(sock, *args)

        return guarded

    return [mock.patch.object(socket.socket, name, guard(name)) for name in ("connect", "connect_ex", "sendto")]


def record_intent(recorder: Recorder, record: logging.LogRecord) -> None:
    """Record what Spicerack's clients log they would have done in DRY-RUN (HTTP writes, conftool updates, ...)."""
    if not record.name.startswith("spicerack.") or record.name.startswith("spicerack.testing"):
        return
    message = str(record.msg)
    args = record.args if isinstance(record.args, tuple) else ()
    if message in ("Would have called %s %s", "Would have called %s on %s") and len(args) == 2:
        method, url = str(args[0]).upper(), str(args[1])
        recorder.add("http", f"{method} {url} -> skipped (DRY-RUN)", method=method, url=url, status=None, body=None)
    elif message == "%s: %s -> %s" and args and str(args[0]).startswith("Skipping conftool update"):
        from spicerack.testing._conftool import format_values  # noqa: PLC0415 - it imports conftool

        key, changed = str(getattr(args[1], "key", args[1])), dict(cast("dict[str, Any]", args[2]))
        recorder.add("conftool", f"{key} {format_values(changed)} -> skipped (DRY-RUN)", key=key, value=changed)
    elif message.startswith("Would have"):
        recorder.add("dry-run", record.getMessage())


@contextmanager
def logger_capture(logger: logging.Logger, callback: Callable[[logging.LogRecord], object]) -> Iterator[None]:
    handler = _CaptureHandler(callback)
    level = logger.level
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.DEBUG:
        logger.setLevel(logging.DEBUG if logger is logging.getLogger() else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class _CaptureFilter(logging.Filter):
    def __init__(self, callback: Callable[[logging.LogRecord], object]) -> None:
        super().__init__()
        self._callback = callback

    def filter(self, record: logging.LogRecord) -> bool:
        self._callback(record)
        return True


@contextmanager
def announce_capture(
    logger: logging.Logger, callback: Callable[[logging.LogRecord], object], *, relay: bool = False
) -> Iterator[None]:
    """Capture the records logged on the SAL/IRC logger with a filter: cookbooks may clear its handlers.

    With ``relay``, a handler that sends nothing stands for the IRC relay that ``cookbook`` sets up outside DRY-RUN
    (cookbooks may look at it, e.g. to set its format).
    """
    capture = _CaptureFilter(callback)
    stand_in = logging.NullHandler()
    level = logger.level
    logger.addFilter(capture)
    if relay:
        logger.addHandler(stand_in)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeFilter(capture)
        logger.removeHandler(stand_in)
        logger.setLevel(level)


class _TtyStdout:
    """Standard output as wmflib's prompts see it in a run: a terminal."""

    def isatty(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(sys.stdout, name)


class _TtySys:
    """The ``sys`` module as wmflib's prompts see it in a run: the real one, with a terminal as standard output."""

    stdout = _TtyStdout()

    def __getattr__(self, name: str) -> Any:
        return getattr(sys, name)


class Prompts:
    """Answers wmflib's prompts from a list (or lets the operator answer), recording each prompt and its answer."""

    def __init__(self, recorder: Recorder, answers: list[str] | None) -> None:
        """Answer from ``answers``, or with :py:data:`None` show the prompts and read the operator's answers."""
        self._recorder = recorder
        self._answers = answers
        self._message = ""
        self._unanswered = False

    def print(self, *values: Any, **kwargs: Any) -> None:
        """Remember the prompt's message (and show it, when the operator answers)."""
        if self._answers is None:
            builtins.print(*values, **kwargs)
        text = " ".join(str(value) for value in values)
        if "Invalid response." not in text:
            self._message = text.split(" ", 1)[1] if text.startswith("\x1b[36m==>\x1b[39m ") else text
            self._unanswered = False

    def input(self, prompt: str = "") -> str:
        """Return the next answer, recorded with the prompt's message."""
        message = self._message.splitlines()[0] if self._message else ""
        if self._answers is None:
            answer = builtins.input(prompt)
            self._recorder.add("prompt", f"{message} -> {answer}", message=message, answer=answer)
            return answer
        if not self._answers:
            if not self._unanswered:
                self._recorder.add("prompt", f"{message} -> (no answer left)", message=message, answer=None)
                self._unanswered = True
            raise EOFError("spicerack.testing: no answer left for the prompt")
        answer = self._answers.pop(0)
        self._recorder.add("prompt", f"{message} -> {answer}", message=message, answer=answer)
        return answer
