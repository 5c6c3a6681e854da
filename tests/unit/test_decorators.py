"""The retry decorator: Spicerack's defaults on top of wmflib's, and fewer tries in DRY-RUN mode."""

import logging
from datetime import timedelta
from typing import Any

import pytest
from wmflib.exceptions import WmflibError

from spicerack.decorators import retry, set_tries
from spicerack.exceptions import SpicerackCheckError, SpicerackError

NO_WAIT = timedelta(0)


class Flaky:
    """Fails ``failures`` times with ``error`` before succeeding, counting the calls."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or SpicerackCheckError("not yet")
        self.calls = 0

    def call(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


def test_retries_spicerack_errors_until_success() -> None:
    flaky = Flaky(2)

    assert retry(tries=3, delay=NO_WAIT, backoff_mode="constant")(flaky.call)() == "done"
    assert flaky.calls == 3


def test_gives_up_after_the_tries() -> None:
    flaky = Flaky(5)

    with pytest.raises(SpicerackCheckError, match="not yet"):
        retry(tries=3, delay=NO_WAIT, backoff_mode="constant")(flaky.call)()

    assert flaky.calls == 3


def test_other_exceptions_are_not_retried_by_default() -> None:
    flaky = Flaky(1, ValueError("bad value"))

    with pytest.raises(ValueError, match="bad value"):
        retry(tries=3, delay=NO_WAIT, backoff_mode="constant")(flaky.call)()

    assert flaky.calls == 1


def test_custom_exceptions() -> None:
    flaky = Flaky(1, ValueError("bad value"))

    assert retry(tries=2, exceptions=(ValueError,), delay=NO_WAIT, backoff_mode="constant")(flaky.call)() == "done"
    assert flaky.calls == 2


def test_without_arguments_uses_the_defaults() -> None:
    calls = []

    @retry
    def succeed(value: int) -> int:
        calls.append(value)
        return value * 2

    assert succeed(21) == 42
    assert calls == [21]
    assert succeed.__name__ == "succeed"


def test_failures_are_logged_with_the_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    flaky = Flaky(1)

    retry(tries=2, failure_message="Waiting for the host", delay=NO_WAIT, backoff_mode="constant")(flaky.call)()

    assert "[1/2, retrying in 0.00s] Waiting for the host: not yet" in caplog.text


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(WmflibError, match="Tries must be a positive integer"):
        retry(tries=0)(Flaky(0).call)()


class Client:
    """A client like Spicerack's: its DRY-RUN mode is in ``self._dry_run``."""

    def __init__(self, *, dry_run: bool) -> None:
        self._dry_run = dry_run
        self.calls = 0

    @retry(tries=3, delay=NO_WAIT, backoff_mode="constant")
    def check(self) -> None:
        self.calls += 1
        raise SpicerackCheckError("still failing")


class HostsClient:
    """A client wrapping remote hosts: its DRY-RUN mode is in ``self._remote_hosts._dry_run``."""

    def __init__(self, remote_hosts: Any) -> None:
        self._remote_hosts = remote_hosts
        self.calls = 0

    @retry(tries=3, delay=NO_WAIT, backoff_mode="constant")
    def check(self) -> None:
        self.calls += 1
        raise SpicerackCheckError("still failing")


class RemoteHostsLike:
    def __init__(self, *, dry_run: bool) -> None:
        self._dry_run = dry_run


@pytest.mark.parametrize(("dry_run", "expected_calls"), [(True, 1), (False, 3)])
def test_instance_dry_run_reduces_the_tries(dry_run: bool, expected_calls: int) -> None:
    client = Client(dry_run=dry_run)

    with pytest.raises(SpicerackCheckError):
        client.check()

    assert client.calls == expected_calls


@pytest.mark.parametrize(("dry_run", "expected_calls"), [(True, 1), (False, 3)])
def test_remote_hosts_dry_run_reduces_the_tries(dry_run: bool, expected_calls: int) -> None:
    client = HostsClient(RemoteHostsLike(dry_run=dry_run))

    with pytest.raises(SpicerackCheckError):
        client.check()

    assert client.calls == expected_calls


class SubClient(Client):
    """Inherits the decorated method: its instances are still ``self`` for it."""


@pytest.mark.parametrize(("dry_run", "expected_calls"), [(True, 1), (False, 3)])
def test_inherited_method_follows_the_instance_dry_run(dry_run: bool, expected_calls: int) -> None:
    client = SubClient(dry_run=dry_run)

    with pytest.raises(SpicerackCheckError):
        client.check()

    assert client.calls == expected_calls


def test_dry_run_reduction_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="spicerack.decorators")

    with pytest.raises(SpicerackCheckError):
        Client(dry_run=True).check()

    assert "Reduce tries from 3 to 1 in DRY-RUN mode" in caplog.text


def test_first_argument_of_another_class_is_not_taken_for_self() -> None:
    calls = []

    @retry(tries=2, delay=NO_WAIT, backoff_mode="constant")
    def check(client: Client) -> None:
        calls.append(client)
        raise SpicerackCheckError("failing")

    with pytest.raises(SpicerackCheckError):
        check(Client(dry_run=True))

    assert len(calls) == 2


@pytest.mark.parametrize(("kwargs", "expected_calls"), [({"dry_run": True}, 1), ({"dry_run": False}, 2), ({}, 2)])
def test_dry_run_keyword_argument(kwargs: dict[str, bool], expected_calls: int) -> None:
    calls = []

    @retry(tries=2, delay=NO_WAIT, backoff_mode="constant")
    def check(*, dry_run: bool = False) -> None:
        calls.append(dry_run)
        raise SpicerackError("failing")

    with pytest.raises(SpicerackError):
        check(**kwargs)

    assert len(calls) == expected_calls


def test_dry_run_parameter_defaulting_to_true() -> None:
    calls = []

    @retry(tries=3, delay=NO_WAIT, backoff_mode="constant")
    def check(dry_run: bool = True) -> None:
        calls.append(dry_run)
        raise SpicerackError("failing")

    with pytest.raises(SpicerackError):
        check()

    assert len(calls) == 1


def test_other_callbacks_run_before_the_dry_run_one() -> None:
    seen_tries = []

    def raise_tries(params: Any, func: Any, args: Any, kwargs: Any) -> None:
        params.tries = 5
        seen_tries.append(params.tries)

    client = Client(dry_run=True)
    decorated = retry(tries=2, delay=NO_WAIT, backoff_mode="constant", dynamic_params_callbacks=(raise_tries,))
    wrapped = decorated(Client.check.__wrapped__)  # type: ignore[attr-defined]

    with pytest.raises(SpicerackCheckError):
        wrapped(client)

    assert seen_tries == [5]
    assert client.calls == 1


def test_explicit_dry_run_false_keeps_the_tries_of_a_dry_run_default() -> None:
    calls = []

    @retry(tries=3, delay=NO_WAIT, backoff_mode="constant")
    def check(*, dry_run: bool = True) -> None:
        calls.append(dry_run)
        raise SpicerackError("failing")

    with pytest.raises(SpicerackError):
        check(dry_run=False)

    assert calls == [False, False, False]


def test_exceptions_may_be_a_single_class() -> None:
    flaky = Flaky(2, error=KeyError("missing"))
    decorated = retry(tries=3, delay=NO_WAIT, backoff_mode="constant", exceptions=KeyError)(flaky.call)

    assert decorated() == "done"
    assert flaky.calls == 3


@pytest.mark.parametrize(("call_kwargs", "expected_calls"), [({}, 4), ({"tries": 2}, 2), ({"tries": 0}, 4)])
def test_set_tries_takes_the_tries_of_the_call(call_kwargs: dict[str, int], expected_calls: int) -> None:
    calls = []

    @retry(tries=10, delay=NO_WAIT, backoff_mode="constant", dynamic_params_callbacks=(set_tries,))
    def check(tries: int = 4) -> None:
        calls.append(tries)
        raise SpicerackError("failing")

    with pytest.raises(SpicerackError):
        check(**call_kwargs)

    assert len(calls) == expected_calls


def test_set_tries_keeps_the_decorator_tries_without_an_integer_default(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    @retry(tries=2, delay=NO_WAIT, backoff_mode="constant", dynamic_params_callbacks=(set_tries,))
    def check(tries: str = "many") -> None:
        calls.append(tries)
        raise SpicerackError("failing")

    with caplog.at_level(logging.INFO), pytest.raises(SpicerackError):
        check()

    assert len(calls) == 2
    assert "Tries set to" not in caplog.text


def test_set_tries_logs_the_change(caplog: pytest.LogCaptureFixture) -> None:
    @retry(tries=5, delay=NO_WAIT, backoff_mode="constant", dynamic_params_callbacks=(set_tries,))
    def check(tries: int = 1) -> None:
        raise SpicerackError("failing")

    with caplog.at_level(logging.INFO), pytest.raises(SpicerackError):
        check()

    assert "Tries set to 1 instead of the default 5" in caplog.text
