"""Decorators for cookbooks and Spicerack modules: :py:func:`retry`, aware of the DRY-RUN mode."""

import inspect
import logging
from collections.abc import Callable
from typing import Any

from wmflib.decorators import RetryParams, ensure_wrap
from wmflib.decorators import retry as wmflib_retry

from spicerack.exceptions import SpicerackError

logger = logging.getLogger(__name__)


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
    if "dry_run" in kwargs:  # The caller's explicit choice wins over the parameter's default
        return kwargs["dry_run"] is True

    try:
        parameter = inspect.signature(func).parameters.get("dry_run")
    except (TypeError, ValueError):  # Some callables (e.g. builtins) have no signature to inspect
        return False

    return parameter is not None and parameter.default is True


def set_tries(params: RetryParams, func: Callable[..., Any], _args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Take the tries from the decorated call: a ``dynamic_params_callbacks`` callback for :py:func:`retry`.

    The tries become the call's ``tries`` keyword argument when it is a positive integer, or else the default of the
    callable's own ``tries`` parameter when that is an integer (and the parameter is annotated as :py:class:`int` or
    not at all). Otherwise the decorator's tries are kept.

    Arguments:
        params: the decorator's parameters for this call, modified in place.
        func: the decorated callable.
        _args: the positional arguments of this call (not used).
        kwargs: the keyword arguments of this call.

    """
    tries = kwargs.get("tries")
    if not (isinstance(tries, int) and not isinstance(tries, bool) and tries > 0):
        tries = _default_tries(func)
    if tries is None:
        return

    logger.info("Tries set to %s instead of the default %s", tries, params.tries)
    params.tries = tries


def _default_tries(func: Callable[..., Any]) -> int | None:
    """The integer default of the ``tries`` parameter of ``func``, if it has one."""
    try:
        parameter = inspect.signature(func).parameters.get("tries")
    except (TypeError, ValueError):
        return None
    if parameter is None or parameter.annotation not in (int, inspect.Parameter.empty):
        return None
    return parameter.default if isinstance(parameter.default, int) else None


RetryCallback = Callable[[RetryParams, Callable[..., Any], tuple[Any, ...], dict[str, Any]], None]
"""The type of the ``dynamic_params_callbacks`` of :py:func:`retry`."""


def retry(*args: Any, **kwargs: Any) -> Callable[..., Any]:
    """Retry a function or method when it raises, with a configurable backoff; usable with or without arguments.

    As the reference's, the decorated callable is typed ``Callable[..., Any]``: type checkers of cookbooks see the
    same (loose) types with this package as with the reference.

    It is :py:func:`wmflib.decorators.retry` (same arguments: ``tries``, ``delay``, ``backoff_mode``,
    ``exceptions`` (an exception class or a tuple of them), ``failure_message``, ``dynamic_params_callbacks``) with
    two differences:

    * ``exceptions`` defaults to :py:class:`spicerack.exceptions.SpicerackError`;
    * :py:func:`get_effective_tries` is appended to ``dynamic_params_callbacks``, so that it runs last and a call in
      DRY-RUN mode is tried only once, without waiting.

    The decorated callable must be safe to call again after a failure.

    Returns:
        The decorated callable, or a decorator when called with arguments.

    """
    decorated: Callable[..., Any] = _spicerack_retry(*args, **kwargs)
    return decorated


@ensure_wrap
def _spicerack_retry(func: Callable[..., Any], **kwargs: Any) -> Callable[..., Any]:
    """Decorate ``func`` with wmflib's retry, adding Spicerack's default exceptions and DRY-RUN callback."""
    kwargs["dynamic_params_callbacks"] = (*kwargs.get("dynamic_params_callbacks", ()), get_effective_tries)
    kwargs.setdefault("exceptions", (SpicerackError,))
    decorated: Callable[..., Any] = wmflib_retry(**kwargs)(func)
    return decorated
