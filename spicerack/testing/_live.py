"""Record the plan of a real run (the real configuration, hosts and services), for ``python -m spicerack.testing.plan``.

Unlike :py:func:`spicerack.testing.run_cookbook`, nothing is faked: the seams only observe. Remote commands go to
cumin's real transport through a recording proxy of its worker; locks, child cookbooks, rollbacks, prompts, HTTP
requests, SAL/IRC lines and the DRY-RUN intents of the clients are recorded as they happen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any
from unittest import mock

from cumin import NodeSet, transport
from cumin.transports import Command, HostState

from spicerack._names import irc_logger_name, sal_logger_name
from spicerack.testing._calls import Outcome, RemoteCall
from spicerack.testing._plan import Recorder
from spicerack.testing._run import (
    Prompts,
    announce_capture,
    logger_capture,
    record_intent,
)

if TYPE_CHECKING:
    import requests


class RecordingWorker:
    """A proxy of a real cumin worker that records its call (hosts, batches, commands, outcome) in the plan."""

    def __init__(self, worker: Any, recorder: Recorder, *, dry_run: bool) -> None:
        """Record the call now: if it never executes, the plan shows it as skipped."""
        target = worker.target
        call = RemoteCall(NodeSet(target.hosts), int(target.batch_size), float(target.batch_sleep or 0.0))
        object.__setattr__(self, "_worker", worker)
        object.__setattr__(self, "_call", call)
        recorder.remote(call, dry_run=dry_run)

    def __getattr__(self, name: str) -> Any:
        """Everything else is the real worker's."""
        return getattr(self._worker, name)

    def __setattr__(self, name: str, value: Any) -> None:
        """Set on the real worker, keeping what the plan shows."""
        setattr(self._worker, name, value)
        if name == "commands":
            self._call.commands = [command if isinstance(command, Command) else Command(command) for command in value]
        elif name == "handler":
            self._call.mode = str(value)
        elif name == "success_threshold":
            self._call.success_threshold = float(value)

    def execute(self) -> int:
        """Execute with the real worker and record the exit code and each host's outcome."""
        self._call.executed = True
        code: int = self._worker.execute()
        self._call.return_code = code
        try:
            hosts_results = self._worker.results.hosts_results
        except Exception:
            return code
        for name, host in hosts_results.items():
            outcomes = [Outcome(return_code, "") for return_code in host.return_codes]
            if host.state == HostState.TIMEOUT:
                outcomes.append(Outcome(None, "", timed_out=True))
            self._call.outcomes[name] = outcomes
        return code


@contextmanager
def recording(*, dry_run: bool = True) -> Iterator[Recorder]:
    """Record the plan of whatever cookbook runs inside the block, in this process.

    The accessor of the run must have the :py:class:`RecordingHooks` of the recorder, given to
    :py:func:`spicerack._runtime.build_accessor`; remote commands, HTTP requests, prompts and the SAL/IRC lines are
    observed at the libraries' own seams.

    Arguments:
        dry_run: whether the run is a DRY-RUN (commands that never execute show as skipped, else as not run).

    Yields:
        The recorder, whose ``plan`` fills up while the block runs.

    """
    import requests  # noqa: PLC0415 - every HTTP client of Spicerack is built on it
    import wmflib.interactive  # noqa: PLC0415 - the prompts' module

    recorder = Recorder()
    with ExitStack() as stack:
        for patcher in _observers(recorder, dry_run, requests, wmflib.interactive):
            stack.enter_context(patcher)
        yield recorder


def _observers(recorder: Recorder, dry_run: bool, requests: Any, interactive: Any) -> list[Any]:
    real_new = transport.Transport.new
    real_send = requests.adapters.HTTPAdapter.send
    prompts = Prompts(recorder, None)

    def new(config: Any, target: Any) -> RecordingWorker:
        return RecordingWorker(real_new(config, target), recorder, dry_run=dry_run)

    def send(adapter: Any, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        method, url = str(request.method), str(request.url)
        try:
            response: requests.Response = real_send(adapter, request, **kwargs)
        except Exception as e:
            recorder.add("http", f"{method} {url} -> {type(e).__name__}", method=method, url=url, status=None)
            raise
        status = response.status_code
        recorder.add("http", f"{method} {url} -> {status}", method=method, url=url, status=status)
        return response

    def sal(record: logging.LogRecord) -> None:
        recorder.add("sal", record.getMessage())

    def irc(record: logging.LogRecord) -> None:
        recorder.add("irc", record.getMessage())

    observe: Callable[[logging.LogRecord], None] = lambda record: record_intent(recorder, record)  # noqa: E731
    # The third-party process boundaries only: the run's own seams are the hooks.
    return [
        logger_capture(logging.getLogger(), observe),
        announce_capture(logging.getLogger(sal_logger_name), sal),
        announce_capture(logging.getLogger(irc_logger_name), irc),
        mock.patch.object(transport.Transport, "new", staticmethod(new)),
        mock.patch.object(requests.adapters.HTTPAdapter, "send", send),
        mock.patch.object(interactive, "print", prompts.print, create=True),
        mock.patch.object(interactive, "input", prompts.input, create=True),
    ]
