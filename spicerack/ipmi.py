"""Remote IPMI on management consoles through the local ``ipmitool`` (LAN-plus interface).

The password travels in ``ipmitool``'s environment (``-E``), never on its command line nor in logs.
"""

import logging
from collections.abc import Sequence
from datetime import timedelta
from subprocess import PIPE, CalledProcessError, run

from spicerack.decorators import retry
from spicerack.exceptions import SpicerackCheckError, SpicerackError

IPMI_PASSWORD_MAX_LEN: int = 20
"""The longest password a management console stores (in its 20-byte format)."""
IPMI_PASSWORD_MIN_LEN: int = 16
"""The shortest password accepted when resetting one (the 16-byte format)."""
IPMI_SAFE_BOOT_PARAMS: tuple[str, ...] = (
    "0000000000",  # nothing overridden
    "8000000000",  # flags valid, nothing overridden
    "8000020000",  # flags valid, screen blanked
)
"""The values of boot parameter 5 (boot flags) that leave the next boot as normal."""

IPMITOOL_PASSWORD_ENV: str = "IPMITOOL_PASSWORD"  # noqa: S105 - the variable's name, not a password
"""The environment variable from which ``ipmitool -E`` reads the password."""
REDACTED: str = "__REDACTED__"
"""What replaces secrets in logs and error messages."""

logger = logging.getLogger(__name__)


class IpmiError(SpicerackError):
    """An IPMI command failed or its output was not understood."""


class IpmiCheckError(SpicerackCheckError):
    """A management console is not in the state a check expects."""


class Ipmi:
    """Send IPMI commands to one management console with ``ipmitool``."""

    def __init__(
        self, target: str, password: str, username: str = "root", dry_run: bool = True, *, port: int | None = None
    ) -> None:
        """Set up the client; nothing is contacted yet.

        Arguments:
            target: the management console's FQDN or IP address.
            password: the password of the account.
            username: the console's account to use.
            dry_run: whether this is a DRY-RUN: commands that change something are only logged.
            port: the console's UDP port, when not IPMI's standard 623.

        """
        self.env: dict[str, str] = {IPMITOOL_PASSWORD_ENV: password}
        self._target = target
        self._port = port
        self._dry_run = dry_run
        self._username = username

    def command(self, command_parts: list[str], is_safe: bool = False, hide_parts: tuple[int, ...] = ()) -> str:
        """Run one ``ipmitool`` command on the management console and return its standard output.

        Arguments:
            command_parts: the ``ipmitool`` command and its arguments, e.g. ``["chassis", "power", "status"]``.
            is_safe: whether the command only reads, so that it runs also in DRY-RUN mode.
            hide_parts: indexes of ``command_parts`` holding secrets, replaced by ``__REDACTED__`` in logs and errors.

        Raises:
            spicerack.ipmi.IpmiError: if ``ipmitool`` cannot be run or exits with an error.

        """
        base = ["ipmitool", "-I", "lanplus", "-H", self._target]
        if self._port is not None:
            base += ["-p", str(self._port)]
        base += ["-U", self._username, "-E"]
        secrets = [command_parts[index] for index in hide_parts]
        shown = [REDACTED if index in hide_parts else part for index, part in enumerate(command_parts)]
        logger.info("Running IPMI command: %s", " ".join(base + shown))

        if self._dry_run and not is_safe:
            return ""

        # Only the password in the environment: ipmitool is looked up in the default path (/bin:/usr/bin).
        # Its standard error goes to the operator's terminal, as the reference does.
        try:
            result = run(base + command_parts, env=self.env.copy(), stdout=PIPE, check=True)
        except CalledProcessError as e:
            details = self._redact((e.output or b"").decode(errors="replace").strip(), secrets)
            raise IpmiError(f"Remote IPMI for {self._target} failed (exit={e.returncode}): {details}") from e
        except OSError as e:
            raise IpmiError(f"Unable to run ipmitool for {self._target}: {e}") from e

        output = result.stdout.decode(errors="replace")
        logger.debug(output)
        return output

    def check_connection(self) -> None:
        """Make sure the management console answers IPMI commands with the given credentials.

        Raises:
            spicerack.ipmi.IpmiError: if the console cannot be reached or the command fails.

        """
        self.power_status()

    def power_status(self) -> str:
        """Return the chassis power state as reported by the console, e.g. ``on`` or ``off``.

        Raises:
            spicerack.ipmi.IpmiError: if the state cannot be read or is not understood.

        """
        prefix = "Chassis Power is "
        status = self.command(["chassis", "power", "status"], is_safe=True)
        if not status.startswith(prefix):
            raise IpmiError(f"Unexpected chassis status: {status}")
        return status[len(prefix) :].strip()

    def check_bootparams(self) -> None:
        """Check that the boot flags leave the next boot as normal (see :py:data:`IPMI_SAFE_BOOT_PARAMS`).

        Raises:
            spicerack.ipmi.IpmiCheckError: if a boot override is set.

        """
        value = self._get_boot_parameter("Boot parameter data")
        if value not in IPMI_SAFE_BOOT_PARAMS:
            raise IpmiCheckError(f"Expected BIOS boot params in {IPMI_SAFE_BOOT_PARAMS} got: {value}")

    @retry(tries=3, delay=timedelta(seconds=20), backoff_mode="linear", exceptions=(IpmiCheckError,))
    def force_pxe(self) -> None:
        """Make the next boot a network (PXE) boot and verify it was recorded; retried while it is not.

        Raises:
            spicerack.ipmi.IpmiCheckError: if the console still does not report a forced PXE boot after the retries.

        """
        self._set_boot_override(
            "force_pxe", "Force PXE", "Unable to verify that Force PXE is set. The host might reboot in the current OS"
        )

    def remove_boot_override(self) -> None:
        """Remove any boot device override for the next boot and verify it was removed.

        Raises:
            spicerack.ipmi.IpmiCheckError: if the console still reports an override.

        """
        self._set_boot_override(
            "none",
            "No override",
            "Unable to verify that the boot override was removed. The host might reboot in PXE",
        )

    def reboot(self) -> None:
        """Power the host on if it is off, power cycle it otherwise.

        Raises:
            spicerack.ipmi.IpmiError: if the power state cannot be read or changed.

        """
        operation = "on" if self.power_status() == "off" else "cycle"
        self.command(["chassis", "power", operation])

    def reset_password(self, username: str, password: str) -> None:
        """Set a new password for an account of the console; for this client's own account, it then uses it.

        Arguments:
            username: the account's name, looked up in the user list of channel 1, else of channel 2.
            password: the new password, :py:data:`IPMI_PASSWORD_MIN_LEN` to :py:data:`IPMI_PASSWORD_MAX_LEN`
                characters long.

        Raises:
            spicerack.ipmi.IpmiError: if the arguments are invalid, the account is unknown or the reset fails.

        """
        if not username:
            raise IpmiError("Username can not be an empty string")
        store_size = str(self._get_password_store_size(password))

        try:
            user_id = self._get_user_id(username)
        except IpmiError:
            logger.info("User %s not found on channel 1, looking on channel 2", username)
            user_id = self._get_user_id(username, channel=2)

        result = self.command(["user", "set", "password", user_id, password, store_size], hide_parts=(4,))
        if self._dry_run:
            return
        if result != f"Set User Password command successful (user {user_id})\n":
            raise IpmiError(f"Password reset failed for username: {username}")

        if username == self._username:
            self._use_new_password(password)

    def _use_new_password(self, password: str) -> None:
        """Switch this client to its account's new password, going back to the old one if it does not work."""
        previous = self.env[IPMITOOL_PASSWORD_ENV]
        self.env[IPMITOOL_PASSWORD_ENV] = password
        try:
            self.check_connection()
        except IpmiError as e:
            self.env[IPMITOOL_PASSWORD_ENV] = previous
            raise IpmiError(f"Password reset failed for username: {self._username}") from e

    def _set_boot_override(self, boot_flag: str, expected_device: str, failure: str) -> None:
        """Set the boot device flag for the next boot and verify the console reports the expected device."""
        self.command(["chassis", "bootparam", "set", "bootflag", boot_flag, "options=reset"])
        if self._get_boot_parameter("Boot Device Selector") == expected_device:
            return
        if self._dry_run:
            logger.warning(failure)
        else:
            raise IpmiCheckError(failure)

    def _get_boot_parameter(self, label: str) -> str:
        """Return the value of the line with the given label in the boot flags (boot parameter 5).

        Raises:
            spicerack.ipmi.IpmiError: if no line has the label or its value cannot be extracted.

        """
        output = self.command(["chassis", "bootparam", "get", "5"], is_safe=True)
        line = next((line for line in output.splitlines() if label in line), None)
        if line is None:
            raise IpmiError(f"Unable to find the boot parameter '{label}' in: {output}")
        _, separator, value = line.partition(":")
        if not separator:
            raise IpmiError(f"Unable to extract value for parameter '{label}' from line: {line}")
        return value.split(":", 1)[0].strip()

    @staticmethod
    def _get_password_store_size(password: str) -> int:
        """Return the size of the console's password field that fits the password (16 or 20 bytes).

        Raises:
            spicerack.ipmi.IpmiError: if the password is too short or too long.

        """
        if len(password) > IPMI_PASSWORD_MAX_LEN:
            raise IpmiError(f"New passwords is greater then the {IPMI_PASSWORD_MAX_LEN} byte limit")
        if len(password) < IPMI_PASSWORD_MIN_LEN:
            raise IpmiError(f"New passwords must be {IPMI_PASSWORD_MIN_LEN} bytes minimum")
        return IPMI_PASSWORD_MIN_LEN if len(password) == IPMI_PASSWORD_MIN_LEN else IPMI_PASSWORD_MAX_LEN

    def _get_user_id(self, username: str, channel: int = 1) -> str:
        """Return the console's numeric ID of an account, from the user list of a channel.

        Raises:
            spicerack.ipmi.IpmiError: if no account has that name.

        """
        output = self.command(["user", "list", str(channel)], is_safe=True)
        for line in output.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] != "ID" and fields[1] == username:
                return fields[0]
        raise IpmiError(f"Unable to find ID for username: {username}")

    def _redact(self, text: str, secrets: Sequence[str]) -> str:
        """Return the text with the current password and the given secrets replaced by ``__REDACTED__``."""
        for secret in (self.env[IPMITOOL_PASSWORD_ENV], *secrets):
            if secret:
                text = text.replace(secret, REDACTED)
        return text
