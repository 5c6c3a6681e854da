"""The justification attached to every administrative action: who does it, from where, why, for which task."""

from typing import Any

from spicerack.exceptions import SpicerackError


class ReasonError(SpicerackError):
    """A reason, or one of its parts, cannot be used."""


class Reason:
    """Why an administrative action is taken, by whom and from which host, optionally with its task ID.

    Its text ends up inside double quotes in commands run on remote hosts (e.g. when disabling Puppet), where the
    shell may expand variables in it if wanted, so no part may contain a double quote.
    """

    def __init__(self, reason: str, username: str, hostname: str, *, task_id: str | None = None) -> None:
        """Validate and keep the parts of the reason.

        Arguments:
            reason: the free text explaining why the action is taken.
            username: the author of the action.
            hostname: the host the action is started from.
            task_id: the task tracking the action (e.g. ``T12345``), if any.

        Raises:
            spicerack.administrative.ReasonError: if any part contains double quotes.

        """
        self._reason = reason
        self._username = username
        self._hostname = hostname
        self._task_id = task_id

    def __setattr__(self, name: str, value: Any) -> None:
        """Refuse any value with double quotes, also when a part is changed after the creation.

        Raises:
            spicerack.administrative.ReasonError: if the value contains double quotes.

        """
        if value is not None and '"' in value:
            raise ReasonError(f"Property {name} cannot contain double quotes: {value}")
        super().__setattr__(name, value)

    def __str__(self) -> str:
        """Return ``<reason> - <user>@<host>``, followed by `` - <task ID>`` when there is one (not empty)."""
        parts = [self._reason, self.owner]
        if self._task_id:
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
        """Return the full reason (as :py:meth:`__str__`) in double quotes, for a shell command.

        A shell expands variables in it, as intended: a cookbook may put one in its reason.
        """
        return f'"{self}"'
