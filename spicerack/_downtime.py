"""What every ``downtimed()`` context manager shares: remove the downtime when the body ends."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def removed_after(remove: Callable[[], object], *, remove_on_error: bool = False) -> Iterator[None]:
    """Run the body, then call ``remove``: always when the body completes, when it raises only if asked.

    Arguments:
        remove: removes the downtime set before the body.
        remove_on_error: remove it also when the body raises (the exception is raised again afterwards).

    """
    try:
        yield
    except BaseException:
        if remove_on_error:
            remove()
        raise
    remove()
