"""MediaWiki: its conftool-driven settings (read-only mode, primary datacenter), siteinfo checks and periodic jobs.

The URLs and host queries default to Wikimedia's production ones; each can be changed in the optional
``<spicerack_config_dir>/mediawiki/config.yaml`` (see :py:func:`load_mediawiki_config`).
"""

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cumin.transports import Command
from wmflib.constants import CORE_DATACENTERS
from wmflib.requests import http_session

from spicerack.confctl import ConftoolEntity
from spicerack.decorators import retry
from spicerack.exceptions import SpicerackCheckError, SpicerackError
from spicerack.remote import Remote, RemoteExecutionError, RemoteHosts

logger = logging.getLogger(__name__)

CONFIG_PATH = ("mediawiki", "config.yaml")
"""Where the optional configuration lives, relative to Spicerack's configuration directory."""

# The programs run on the hosts, as module attributes so that test fleets can point them at their stand-ins.
SYSTEMCTL = "systemctl"
PKILL = "pkill"
KILLALL = "killall"
PGREP = "pgrep"
SU = "su"
SCAP = "scap"
PHP_TERM_GRACE_SECONDS = 5
"""How long PHP processes get to exit after SIGTERM before they are sent SIGKILL."""

MEDIAWIKI_WRAPPERS = (
    "/usr/local/bin/foreachwiki",
    "/usr/local/bin/foreachwikiindblist",
    "/usr/local/bin/expanddblist",
    "/usr/local/bin/mwscript",
    "/usr/local/bin/mwscriptwikiset",
)
"""The MediaWiki maintenance wrappers stopped with the periodic jobs, in case someone started one by hand."""


class MediaWikiError(SpicerackError):
    """Raised when a MediaWiki operation fails, e.g. siteinfo cannot be fetched or lacks a checked key."""


class MediaWikiCheckError(SpicerackCheckError):
    """Raised when a siteinfo value is not the expected one."""


@dataclass(frozen=True)
class MediaWikiConfig:
    """Where :py:class:`MediaWiki` finds the services and hosts it works with.

    Arguments:
        siteinfo_url: the siteinfo API URL, with ``{dc}`` standing for the datacenter.
        config_file_base_url: the URL the ``wmf-config`` files are published under (``<name>.php.txt``), as
            noc.wikimedia.org's ``/conf/`` does.
        deployment_query: the cumin query of the deployment host that runs ``scap``.
        maintenance_query: the cumin query of the maintenance hosts, with ``{dc}`` standing for the datacenter.

    """

    siteinfo_url: str = (
        "https://mw-api-int.svc.{dc}.wmnet:4446/w/api.php?action=query&meta=siteinfo&format=json&formatversion=2"
    )
    config_file_base_url: str = "https://mw-misc.discovery.wmnet:30443/conf/"
    deployment_query: str = "C:Deployment::Rsync and R:Class%cron_ensure = absent"
    maintenance_query: str = "A:mw-maintenance and A:{dc}"


def load_mediawiki_config(config_dir: str | Path) -> MediaWikiConfig:
    """Load ``mediawiki/config.yaml`` from Spicerack's configuration directory; a missing file means the defaults.

    Every key is optional: ``siteinfo_url``, ``config_file_base_url``, ``deployment_query``, ``maintenance_query``
    (see :py:class:`MediaWikiConfig`).

    Arguments:
        config_dir: Spicerack's configuration directory.

    Raises:
        spicerack.mediawiki.MediaWikiError: if the file is invalid, has an unknown key or a value not a string.

    """
    from spicerack.config import load_yaml_mapping  # noqa: PLC0415 - only needed when a file is read

    path = Path(config_dir, *CONFIG_PATH)
    if not path.exists():
        return MediaWikiConfig()

    content = load_yaml_mapping(path, description="MediaWiki configuration", error=MediaWikiError)
    known = [item.name for item in fields(MediaWikiConfig)]
    for key, value in content.items():
        if key not in known:
            raise MediaWikiError(f"Unknown key '{key}' in {path}, expected some of: {', '.join(known)}")
        if not isinstance(value, str) or not value:
            raise MediaWikiError(f"Key {key} in {path} must be a non-empty string")
    return MediaWikiConfig(**content)


class MediaWiki:
    """Manage MediaWiki: read-only mode and primary datacenter in conftool, siteinfo checks, periodic jobs."""

    def __init__(
        self,
        conftool: ConftoolEntity,
        remote: Remote,
        user: str,
        dry_run: bool = True,
        *,
        config: MediaWikiConfig | None = None,
    ) -> None:
        """Set up the HTTP session; nothing is contacted yet.

        Arguments:
            conftool: the conftool client of the ``mwconfig`` entity.
            remote: the entry point to run commands on hosts.
            user: the user running the cookbook, who runs ``scap`` on the deployment host.
            dry_run: whether this is a DRY-RUN.
            config: where the services and hosts are, the production ones by default.

        """
        self._conftool = conftool
        self._remote = remote
        self._user = user
        self._dry_run = dry_run
        self._config = config if config is not None else MediaWikiConfig()
        self._http_session = http_session(f"{self.__module__}.{self.__class__.__name__}", timeout=10)

    def check_config_line(self, filename: str, expected: str) -> bool:
        """Tell whether a published ``wmf-config`` file contains a string.

        Arguments:
            filename: the file's name in ``wmf-config``, without the ``.php`` extension.
            expected: the string to look for.

        Raises:
            requests.exceptions.RequestException: if the file cannot be fetched.

        """
        url = f"{self._config.config_file_base_url}{filename}.php.txt"
        response = self._http_session.get(url, headers={"Host": "noc.wikimedia.org"})
        found = expected in response.text
        logger.debug("Checked message (found=%s) in MediaWiki config %s:\n%s", found, url, expected)
        return found

    def get_siteinfo(self, datacenter: str) -> dict[str, Any]:
        """Return siteinfo, as answered by one of the API servers of a datacenter.

        Arguments:
            datacenter: the datacenter to ask.

        Raises:
            requests.exceptions.RequestException: if the request fails or its answer is not JSON.

        """
        url = self._config.siteinfo_url.format(dc=datacenter)
        response = self._http_session.get(url, headers={"Host": "en.wikipedia.org"}, timeout=3)
        response.raise_for_status()
        siteinfo: dict[str, Any] = response.json()
        return siteinfo

    def check_siteinfo(self, datacenter: str, checks: dict[tuple[str, ...], Any], samples: int = 1) -> None:
        """Check values of siteinfo, ``samples`` times (each may reach another server), each retried on failure.

        Arguments:
            datacenter: the datacenter to ask.
            checks: the expected values by path of keys, e.g. ``{("query", "general", "readonly"): False}`` checks
                ``siteinfo["query"]["general"]["readonly"]``.
            samples: how many times to fetch and check siteinfo.

        Raises:
            spicerack.mediawiki.MediaWikiError: if siteinfo cannot be fetched or lacks a path, after all tries.
            spicerack.mediawiki.MediaWikiCheckError: if a value is not the expected one, after all tries.

        """
        for sample in range(1, samples + 1):
            logger.debug("Checking siteinfo %d/%d", sample, samples)
            self._check_siteinfo(datacenter, checks)

    def scap_sync_config_file(self, filename: str, message: str) -> None:
        """Deploy one ``wmf-config`` file with ``scap sync-file`` from the deployment host, as the running user.

        Arguments:
            filename: the file's name in ``wmf-config``, without the ``.php`` extension.
            message: the deployment's log message.

        Raises:
            spicerack.remote.RemoteExecutionError: if scap fails.

        """
        logger.debug("Syncing MediaWiki wmf-config/%s.php", filename)
        command = f"{SU} - {self._user} -c '{SCAP} sync-file --force wmf-config/{filename}.php \"{message}\"'"
        self._remote.query(self._config.deployment_query).run_sync(command)

    def set_readonly(self, datacenter: str, message: str) -> None:
        """Put MediaWiki in read-only mode in a datacenter through conftool, and check that siteinfo says so.

        Arguments:
            datacenter: the datacenter.
            message: the read-only reason shown to users.

        Raises:
            spicerack.confctl.ConfctlError: if conftool cannot be changed or the change did not take.
            spicerack.mediawiki.MediaWikiError: if siteinfo cannot be checked (not in DRY-RUN).
            spicerack.mediawiki.MediaWikiCheckError: if siteinfo does not show the change (not in DRY-RUN).

        """
        self._conftool.set_and_verify("val", message, scope=datacenter, name="ReadOnly")
        checks: dict[tuple[str, ...], Any] = {
            ("query", "general", "readonly"): True,
            ("query", "general", "readonlyreason"): message,
        }
        self._check_siteinfo_dry_run_aware(datacenter, checks, samples=10)

    def set_readwrite(self, datacenter: str) -> None:
        """Put MediaWiki back in read-write mode in a datacenter through conftool, and check siteinfo.

        Arguments:
            datacenter: the datacenter.

        Raises:
            spicerack.confctl.ConfctlError: if conftool cannot be changed or the change did not take.
            spicerack.mediawiki.MediaWikiError: if siteinfo cannot be checked (not in DRY-RUN).
            spicerack.mediawiki.MediaWikiCheckError: if siteinfo does not show the change (not in DRY-RUN).

        """
        self._conftool.set_and_verify("val", False, scope=datacenter, name="ReadOnly")
        self._check_siteinfo_dry_run_aware(datacenter, {("query", "general", "readonly"): False}, samples=10)

    def get_master_datacenter(self) -> str:
        """Return MediaWiki's primary datacenter, from conftool.

        Raises:
            spicerack.confctl.ConfctlError: if conftool has no ``WMFMasterDatacenter`` in the ``common`` scope.

        """
        value: str = next(self._conftool.get(scope="common", name="WMFMasterDatacenter")).val
        return value

    def set_master_datacenter(self, datacenter: str) -> None:
        """Make a datacenter MediaWiki's primary one through conftool, and check siteinfo in every core datacenter.

        Arguments:
            datacenter: the new primary datacenter.

        Raises:
            spicerack.confctl.ConfctlError: if conftool cannot be changed or the change did not take.
            spicerack.mediawiki.MediaWikiError: if siteinfo cannot be checked (not in DRY-RUN).
            spicerack.mediawiki.MediaWikiCheckError: if siteinfo does not show the change (not in DRY-RUN).

        """
        self._conftool.set_and_verify("val", datacenter, scope="common", name="WMFMasterDatacenter")
        for core_datacenter in CORE_DATACENTERS:
            self._check_siteinfo_dry_run_aware(
                core_datacenter, {("query", "general", "wmf-config", "wmfMasterDatacenter"): datacenter}, samples=10
            )

    def get_maintenance_host(self, datacenter: str) -> RemoteHosts:
        """Return the maintenance hosts of a datacenter, to run commands on.

        Arguments:
            datacenter: the datacenter.

        Raises:
            spicerack.remote.RemoteError: if the query fails or matches no host.

        """
        return self._remote.query(self._config.maintenance_query.format(dc=datacenter))

    def check_periodic_jobs_enabled(self, datacenter: str) -> None:
        """Check that every listed ``mediawiki_job_*`` unit of the datacenter's maintenance hosts is enabled.

        Arguments:
            datacenter: the datacenter.

        Raises:
            spicerack.remote.RemoteExecutionError: if a unit is not enabled (or none is listed).

        """
        self.get_maintenance_host(datacenter).run_sync(
            f"{_list_job_units()} | xargs -n 1 sh -c '{SYSTEMCTL} is-enabled $0'", is_safe=True
        )

    def check_periodic_jobs_disabled(self, datacenter: str) -> None:
        """Check that no listed ``mediawiki_job_*`` unit of the datacenter's maintenance hosts is enabled.

        Arguments:
            datacenter: the datacenter.

        Raises:
            spicerack.remote.RemoteExecutionError: if a unit is still enabled.

        """
        # Exit code 255 makes xargs stop at the first enabled unit.
        command = f"{_list_job_units()} | xargs -n 1 sh -c '{SYSTEMCTL} is-enabled $0 && exit 255 || exit 0'"
        self.get_maintenance_host(datacenter).run_async(Command(command), is_safe=True)

    def stop_periodic_jobs(self, datacenter: str) -> None:
        """Stop MediaWiki's periodic jobs and kill their PHP processes on the datacenter's maintenance hosts.

        Stray PHP processes that survive are reported in the logs, not raised.

        Arguments:
            datacenter: the datacenter.

        Raises:
            spicerack.remote.RemoteExecutionError: if the jobs cannot be stopped or are still enabled.

        """
        targets = self.get_maintenance_host(datacenter)
        logger.info("Disabling MediaWiki periodic jobs in %s", datacenter)
        targets.run_async(f"{SYSTEMCTL} stop mediawiki_job_*")
        match_or_not = [0, 1]
        targets.run_async(
            *(Command(f'{PKILL} --full "{wrapper}"', ok_codes=match_or_not) for wrapper in MEDIAWIKI_WRAPPERS),
            # PHP command line processes only: php-fpm serves noc.wikimedia.org and stays.
            Command(f"{KILLALL} -r 'php$'", ok_codes=[]),
            f"sleep {PHP_TERM_GRACE_SECONDS}",
            Command(f"{KILLALL} -9 -r 'php$'", ok_codes=[]),
            "sleep 1",
        )
        self.check_periodic_jobs_disabled(datacenter)
        try:
            targets.run_sync(f"! {PGREP} -c 'php$'", is_safe=True)
        except RemoteExecutionError:
            logger.error("Stray php processes still present on the %s maintenance host, please check", datacenter)

    @retry(tries=5, backoff_mode="constant", exceptions=(MediaWikiError, MediaWikiCheckError))
    def _check_siteinfo(self, datacenter: str, checks: dict[tuple[str, ...], Any]) -> None:
        """Fetch siteinfo once and compare the checked values, retried on failure."""
        try:
            siteinfo = self.get_siteinfo(datacenter)
        except Exception as e:
            raise MediaWikiError(f"Failed to get siteinfo from {datacenter}: {e}") from e

        for path, expected in checks.items():
            value: Any = siteinfo
            for key in path:
                try:
                    value = value[key]
                except (KeyError, TypeError, IndexError) as e:
                    raise MediaWikiError(f"Failed to traverse siteinfo for key {key}") from e
            if value != expected:
                raise MediaWikiCheckError(f"Expected '{expected}', got '{value}' for path: {path}")

    def _check_siteinfo_dry_run_aware(
        self, datacenter: str, checks: dict[tuple[str, ...], Any], samples: int = 1
    ) -> None:
        """Run :py:meth:`check_siteinfo`; in DRY-RUN only once, and a failure is logged instead of raised."""
        if self._dry_run:
            logger.debug("Reset samples to check_siteinfo from %s to 1 in dry-run mode", samples)
            samples = 1
        try:
            self.check_siteinfo(datacenter, checks, samples=samples)
        except (MediaWikiError, MediaWikiCheckError) as e:
            if not self._dry_run:
                raise
            logger.info(e)


def _list_job_units() -> str:
    """The shell pipeline printing the names of the listed ``mediawiki_job_*`` units, one a line."""
    return f"{SYSTEMCTL} list-units 'mediawiki_job_*' --no-legend | awk '{{print $1}}'"
