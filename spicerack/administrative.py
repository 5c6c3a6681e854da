"""The justification attached to every administrative action: who does it, from where, why, for which task."""

import shlex

from spicerack.exceptions import SpicerackError

_SHELL_EXPANDED_IN_DOUBLE_QUOTES = frozenset("$`\\")


class ReasonError(SpicerackError):
    """A reason, or one of its parts, cannot be used."""


class Reason:
    """Why an administrative action is taken, by whom and from which host, optionally with its task ID.

    Its text ends up inside double quotes in commands run on remote hosts (e.g. when disabling Puppet), so no part
    may contain a double quote; the reason may not be empty nor span several lines either.
    """

    def __init__(self, reason: str, username: str, hostname: str, *, task_id: str | None = None) -> None:
        """Validate and keep the parts of the reason.

        Arguments:
            reason: the free text explaining why the action is taken.
            username: the author of the action.
            hostname: the host the action is started from.
            task_id: the task tracking the action (e.g. ``T12345``), if any.

        Raises:
            spicerack.administrative.ReasonError: if the reason is empty, or if any part contains double quotes or
                line breaks.

        """
        if not reason.strip():
            raise ReasonError("The reason cannot be empty")

        for name, value in (("reason", reason), ("username", username), ("hostname", hostname), ("task_id", task_id)):
            _check_part(name, value)

        self._reason = reason
        self._username = username
        self._hostname = hostname
        self._task_id = task_id

    def __str__(self) -> str:
        """Return ``<reason> - <user>@<host>``, followed by `` - <task ID>`` when there is one."""
        parts = [self._reason, self.owner]
        if self._task_id is not None:
            parts.append(self._task_id)

        return " - ".join(parts)

    def __repr__(self) -> str:
        """Return a representation showing every part."""
        return (
            f"{type(self).__name__}(reason={self._reason!r}, username={self._username!r}, "
            f"hostname={self._hostname!r}, task_id={self._task_id!r})"
        )

    @property
    def reason(self) -> str:
        """The free text explaining why the action is taken."""
        return self._reason

    @property
    def owner(self) -> str:
        """Who takes the action and from where, as ``user@host``."""
        return f"{self._username}@{self._hostname}"

    @property
    def hostname(self) -> str:
        """The host the action is started from."""
        return self._hostname

    @property
    def task_id(self) -> str | None:
        """The task tracking the action, or :py:data:`None`."""
        return self._task_id

    def quoted(self) -> str:
        """Return the full reason (as :py:meth:`__str__`) quoted as one word for a shell command.

        It is wrapped in double quotes; when it holds something a shell expands inside double quotes (``$``,
        backticks, backslashes), in single quotes instead, so that it always reaches the command verbatim.
        """
        text = str(self)
        if any(char in _SHELL_EXPANDED_IN_DOUBLE_QUOTES for char in text):
            return shlex.quote(text)
        return f'"{text}"'


def _check_part(name: str, value: str | None) -> None:
    """Raise ReasonError if a part of the reason would break the double quotes it is used in."""
    if value is None:
        return
    if '"' in value:
        raise ReasonError(f"Property {name} cannot contain double quotes: {value}")
    if "\n" in value or "\r" in value:
        raise ReasonError(f"Property {name} cannot contain line breaks: {value!r}")
