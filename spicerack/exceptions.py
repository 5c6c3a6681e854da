"""Exceptions shared by every Spicerack module."""


class SpicerackError(Exception):
    """Base class of every error raised by Spicerack: catch it to handle any of them."""


class SpicerackCheckError(SpicerackError):
    """A check on the state of the infrastructure did not pass (for example inside a retried check)."""


class RunCookbookError(SpicerackError):
    """A cookbook started with :py:meth:`spicerack.Spicerack.run_cookbook` did not complete successfully."""
