"""Decorators for cookbooks and Spicerack modules: :py:func:`retry`, aware of the DRY-RUN mode."""

import inspect
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, overload

from wmflib.decorators import RetryParams, ensure_wrap
from wmflib.decorators import retry as wmflib_retry

from spicerack.exceptions import SpicerackError

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def get_effective_tries(
    params: RetryParams, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Bring the tries down to one when the decorated call runs in DRY-RUN mode.

    A ``dynamic_params_callbacks`` callback for :py:func:`wmflib.decorators.retry`. The call is in DRY-RUN when:

    * it is a method whose instance has a true ``_dry_run`` attribute, or a ``_remote_hosts`` attribute with a true
      ``_dry_run`` (as :py:class:`spicerack.remote.RemoteHosts` has);
    * the caller passed ``dry_run=True``, or the callable has a ``dry_run`` parameter whose default is :py:data:`True`.

    Arguments:
        params: the decorator's parameters for this call, modified in place.
        func: the decorated callable.
        args: the positional arguments of this call.
        kwargs: the keyword arguments of this call.

    """
    if not (_instance_in_dry_run(func, args) or _call_in_dry_run(func, kwargs)):
        return

    logger.warning("Reduce tries from %d to 1 in DRY-RUN mode", params.tries)
    params.tries = 1


def _instance_in_dry_run(func: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    """Whether ``func`` is called as a method of an instance that is in DRY-RUN mode."""
    qualname = getattr(func, "__qualname__", "")
    if not args or "." not in qualname:
        return False

    instance = args[0]
    # The first argument is ``self`` only when the method's class is the instance's class or one of its bases.
    owner = qualname.rsplit(".", 1)[0]
    if not any(cls.__qualname__ == owner for cls in type(instance).__mro__):
        return False

    remote_hosts = getattr(instance, "_remote_hosts", None)
    return bool(getattr(instance, "_dry_run", False) or getattr(remote_hosts, "_dry_run", False))


def _call_in_dry_run(func: Callable[..., Any], kwargs: dict[str, Any]) -> bool:
    """Whether the call asks for DRY-RUN through a ``dry_run`` argument, explicit or defaulted to True."""
    if kwargs.get("dry_run", False):
        return True

    try:
        parameter = inspect.signature(func).parameters.get("dry_run")
    except (TypeError, ValueError):  # Some callables (e.g. builtins) have no signature to inspect
        return False

    return parameter is not None and parameter.default is True


RetryCallback = Callable[[RetryParams, Callable[..., Any], tuple[Any, ...], dict[str, Any]], None]
"""The type of the ``dynamic_params_callbacks`` of :py:func:`retry`."""


@overload
def retry(func: F, /) -> F: ...


@overload
def retry(
    *,
    tries: int = 3,
    delay: timedelta = timedelta(seconds=3),
    backoff_mode: str = "exponential",
    exceptions: tuple[type[Exception], ...] = (SpicerackError,),
    failure_message: str | None = None,
    dynamic_params_callbacks: tuple[RetryCallback, ...] = (),
) -> Callable[[F], F]: ...


def retry(*args: Any, **kwargs: Any) -> Any:
    """Retry a function or method when it raises, with a configurable backoff; usable with or without arguments.

    It is :py:func:`wmflib.decorators.retry` (same arguments: ``tries``, ``delay``, ``backoff_mode``,
    ``exceptions``, ``failure_message``, ``dynamic_params_callbacks``) with two differences:

    * ``exceptions`` defaults to :py:class:`spicerack.exceptions.SpicerackError`;
    * :py:func:`get_effective_tries` is appended to ``dynamic_params_callbacks``, so that it runs last and a call in
      DRY-RUN mode is tried only once, without waiting.

    The decorated callable must be safe to call again after a failure.

    Returns:
        The decorated callable, or a decorator when called with arguments.

    """
    return _spicerack_retry(*args, **kwargs)


@ensure_wrap
def _spicerack_retry(func: Callable[..., Any], **kwargs: Any) -> Callable[..., Any]:
    """Decorate ``func`` with wmflib's retry, adding Spicerack's default exceptions and DRY-RUN callback."""
    kwargs["dynamic_params_callbacks"] = (*kwargs.get("dynamic_params_callbacks", ()), get_effective_tries)
    kwargs.setdefault("exceptions", (SpicerackError,))
    decorated: Callable[..., Any] = wmflib_retry(**kwargs)(func)
    return decorated
