"""Debmonitor: remove decommissioned hosts from the Debmonitor website, authenticated by a TLS client certificate."""

import configparser
import logging
import re
from pathlib import Path

from requests import codes
from requests.exceptions import RequestException
from wmflib.requests import http_session

from spicerack.exceptions import SpicerackError

logger = logging.getLogger(__name__)

CONFIG_OPTIONS: tuple[str, ...] = ("server", "cert", "key")
"""The options the ``[DEFAULT]`` section of the Debmonitor INI configuration file must set."""

_HOSTNAME_PATTERN = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


class DebmonitorError(SpicerackError):
    """A Debmonitor request failed or its configuration is invalid."""


class Debmonitor:
    """Client of a Debmonitor website; in DRY-RUN mode it changes nothing."""

    def __init__(self, host: str, cert: str, key: str, dry_run: bool = True) -> None:
        """Set up the client; no connection is made until a request is sent.

        The server certificate is verified against the system's CA bundle (or ``$REQUESTS_CA_BUNDLE`` if set).

        Arguments:
            host: the Debmonitor server's host name, without scheme (``host:port`` for a non-standard port).
            cert: path of the TLS client certificate that authenticates this client.
            key: path of the private key of the client certificate.
            dry_run: whether this is a DRY-RUN.

        """
        self._base_url = f"https://{host}"
        self._client_cert = (cert, key)
        self._dry_run = dry_run
        self._http_session = http_session(f"{self.__module__}.{self.__class__.__name__}")

    def host_delete(self, hostname: str) -> None:
        """Remove a host and all its packages from Debmonitor; a host already absent only logs it.

        Arguments:
            hostname: the FQDN of the host to remove.

        Raises:
            spicerack.debmonitor.DebmonitorError: if the hostname is invalid, the request fails or Debmonitor answers
                anything but 204 (removed) or 404 (already absent).

        """
        _check_hostname(hostname)
        if self._dry_run:
            logger.info("Would remove host %s from Debmonitor (DRY-RUN)", hostname)
            return

        url = f"{self._base_url}/hosts/{hostname}"
        try:
            response = self._http_session.delete(url, cert=self._client_cert)
        except (RequestException, OSError) as e:  # requests raises a bare OSError for unreadable certificate files
            raise DebmonitorError(f"Unable to remove host {hostname} from Debmonitor: {_one_line(e)}") from e

        if response.status_code == codes.no_content:
            logger.info("Removed host %s from Debmonitor", hostname)
        elif response.status_code == codes.not_found:
            logger.info("Host %s already missing on Debmonitor", hostname)
        else:
            raise DebmonitorError(
                f"Unable to remove host {hostname} from Debmonitor, got: {response.status_code} {response.reason}"
            )


def debmonitor_from_config(config_file: str | Path, *, dry_run: bool = True) -> Debmonitor:
    """Return a Debmonitor client set up from the ``[DEFAULT]`` section of an INI file.

    The file must set ``server`` (host name, without scheme), ``cert`` and ``key`` (paths of the TLS client
    certificate and its key); other options are ignored.

    Arguments:
        config_file: path of the INI file.
        dry_run: whether this is a DRY-RUN.

    Raises:
        spicerack.debmonitor.DebmonitorError: if the file cannot be read or parsed, or misses an option.

    """
    parser = configparser.ConfigParser()
    try:
        with open(config_file, encoding="utf-8") as stream:
            parser.read_file(stream)
    except OSError as e:
        raise DebmonitorError(
            f"Unable to read the Debmonitor config file {config_file}: {e.strerror or type(e).__name__}"
        ) from None
    except configparser.Error as e:
        raise DebmonitorError(
            f"The Debmonitor config file {config_file} is not a valid INI file: {type(e).__name__}"
        ) from None

    options = parser.defaults()
    missing = [option for option in CONFIG_OPTIONS if not options.get(option, "").strip()]
    if missing:
        raise DebmonitorError(
            f"The Debmonitor config file {config_file} misses in its [DEFAULT] section: {', '.join(missing)}"
        )

    return Debmonitor(options["server"].strip(), options["cert"].strip(), options["key"].strip(), dry_run=dry_run)


def _check_hostname(hostname: str) -> None:
    """Refuse anything but a host name: it becomes a path segment of the request's URL."""
    if not isinstance(hostname, str) or not _HOSTNAME_PATTERN.fullmatch(hostname):
        raise DebmonitorError(f"Invalid hostname {hostname!r} for Debmonitor")


def _one_line(error: BaseException) -> str:
    """Return the message of an exception on a single line."""
    return " ".join(str(error).split()) or type(error).__name__
