"""Operator interaction that Spicerack needs itself, on top of :py:mod:`wmflib.interactive`."""

import logging
import os

from spicerack.exceptions import SpicerackError

MANAGEMENT_PASSWORD_ENV: str = "MGMT_PASSWORD"  # noqa: S105 - the variable's name, not a password
"""The environment variable that, when set, provides the management consoles' password without asking."""

logger = logging.getLogger(__name__)


def get_management_password() -> str:
    """Return the management consoles' password: ``$MGMT_PASSWORD`` when set, otherwise asked to the operator.

    The prompt does not echo what is typed; the answer is not logged anywhere.

    Raises:
        spicerack.exceptions.SpicerackError: if the password is empty.

    """
    password = os.environ.get(MANAGEMENT_PASSWORD_ENV)
    if password is None:
        logger.debug("%s is not set in the environment, asking for the management password", MANAGEMENT_PASSWORD_ENV)
        from wmflib.interactive import get_secret  # noqa: PLC0415 - wmflib only when there is someone to ask

        password = str(get_secret("Management Password"))
    else:
        logger.info("Using the management password from the %s environment variable", MANAGEMENT_PASSWORD_ENV)

    if not password:
        raise SpicerackError("Empty management password")

    return password
