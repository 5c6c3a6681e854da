"""Spicerack: the library every cookbook gets through the :py:class:`Spicerack` accessor.

Each client is built on the first call of its accessor method, and its module (and the client libraries it
needs) is imported only then, so that ``import spicerack`` and ``cookbook -l`` stay fast.
"""

import os
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from spicerack._hooks import DEFAULT_HOOKS, RunHooks
from spicerack._names import irc_logger_name as irc_logger_name
from spicerack._names import sal_logger_name as sal_logger_name
from spicerack.exceptions import SpicerackError

if TYPE_CHECKING:
    # The lazily resolved names (see _LAZY_NAMES), re-exported for type checkers.
    import logging
    from contextlib import AbstractContextManager
    from pathlib import Path as Path
    from socket import gethostname as gethostname

    from git import Repo as Repo
    from requests import Session
    from requests.auth import HTTPBasicAuth as HTTPBasicAuth
    from wmflib import requests as requests
    from wmflib.actions import ActionsDict as ActionsDict
    from wmflib.config import load_ini_config as load_ini_config
    from wmflib.config import load_yaml_config as load_yaml_config
    from wmflib.dns import Dns as Dns
    from wmflib.interactive import confirm_on_failure as confirm_on_failure
    from wmflib.interactive import get_secret as get_secret
    from wmflib.interactive import get_username as get_username
    from wmflib.phabricator import Phabricator as Phabricator
    from wmflib.phabricator import create_phabricator as create_phabricator
    from wmflib.prometheus import Prometheus as Prometheus
    from wmflib.prometheus import Thanos as Thanos

    from spicerack._log import irc_logger as irc_logger
    from spicerack._log import sal_logger as sal_logger
    from spicerack.administrative import Reason as Reason
    from spicerack.alerting import AlertingHosts as AlertingHosts
    from spicerack.alertmanager import Alertmanager as Alertmanager
    from spicerack.alertmanager import AlertmanagerHosts as AlertmanagerHosts
    from spicerack.apiclient import APIClient as APIClient
    from spicerack.apt import AptGetHosts as AptGetHosts
    from spicerack.confctl import Confctl as Confctl
    from spicerack.confctl import ConftoolEntity as ConftoolEntity
    from spicerack.cookbook import LockArgs
    from spicerack.dbctl import Dbctl as Dbctl
    from spicerack.debmonitor import Debmonitor as Debmonitor
    from spicerack.dhcp import DHCP as DHCP
    from spicerack.dnsdisc import Discovery as Discovery
    from spicerack.elasticsearch_cluster import ElasticsearchClusters as ElasticsearchClusters
    from spicerack.elasticsearch_cluster import create_elasticsearch_clusters as create_elasticsearch_clusters
    from spicerack.exceptions import RunCookbookError as RunCookbookError
    from spicerack.ganeti import Ganeti as Ganeti
    from spicerack.hosts import Host as Host
    from spicerack.icinga import ICINGA_DOMAIN as ICINGA_DOMAIN
    from spicerack.icinga import IcingaHosts as IcingaHosts
    from spicerack.ipmi import Ipmi as Ipmi
    from spicerack.k8s import Kubernetes as Kubernetes
    from spicerack.kafka import Kafka as Kafka
    from spicerack.locking import COOKBOOKS_CUSTOM_PREFIX as COOKBOOKS_CUSTOM_PREFIX
    from spicerack.locking import SPICERACK_PREFIX as SPICERACK_PREFIX
    from spicerack.locking import LocalLock
    from spicerack.locking import Lock as Lock
    from spicerack.locking import NoLock as NoLock
    from spicerack.locking import get_lock_instance as get_lock_instance
    from spicerack.mediawiki import MediaWiki as MediaWiki
    from spicerack.mysql import Mysql as Mysql
    from spicerack.netbox import MANAGEMENT_IFACE_NAME as MANAGEMENT_IFACE_NAME
    from spicerack.netbox import Netbox as Netbox
    from spicerack.netbox import NetboxServer as NetboxServer
    from spicerack.orchestrator import Orchestrator as Orchestrator
    from spicerack.peeringdb import PeeringDB as PeeringDB
    from spicerack.puppet import PuppetHosts as PuppetHosts
    from spicerack.puppet import PuppetMaster
    from spicerack.puppet import PuppetServer as PuppetServer
    from spicerack.puppet import get_ca_via_srv_record as get_ca_via_srv_record
    from spicerack.redfish import Redfish as Redfish
    from spicerack.redfish import RedfishDell as RedfishDell
    from spicerack.redfish import RedfishSupermicro as RedfishSupermicro
    from spicerack.redis_cluster import RedisCluster as RedisCluster
    from spicerack.remote import Remote as Remote
    from spicerack.remote import RemoteError as RemoteError
    from spicerack.remote import RemoteHosts as RemoteHosts
    from spicerack.reposync import RepoSync as RepoSync
    from spicerack.service import Catalog as Catalog
    from spicerack.toolforge.etcdctl import EtcdctlController as EtcdctlController
    from spicerack.typing import TypeHosts as TypeHosts

# The names the reference's package namespace gives, each resolved on first access (PEP 562) so that
# ``import spicerack`` imports none of the client modules: name -> (module, attribute; empty for the module itself).
_LAZY_NAMES: dict[str, tuple[str, str]] = {
    "APIClient": ("spicerack.apiclient", "APIClient"),
    "AlertingHosts": ("spicerack.alerting", "AlertingHosts"),
    "Alertmanager": ("spicerack.alertmanager", "Alertmanager"),
    "AlertmanagerHosts": ("spicerack.alertmanager", "AlertmanagerHosts"),
    "AptGetHosts": ("spicerack.apt", "AptGetHosts"),
    "COOKBOOKS_CUSTOM_PREFIX": ("spicerack.locking", "COOKBOOKS_CUSTOM_PREFIX"),
    "Catalog": ("spicerack.service", "Catalog"),
    "Confctl": ("spicerack.confctl", "Confctl"),
    "ConftoolEntity": ("spicerack.confctl", "ConftoolEntity"),
    "DHCP": ("spicerack.dhcp", "DHCP"),
    "Dbctl": ("spicerack.dbctl", "Dbctl"),
    "Debmonitor": ("spicerack.debmonitor", "Debmonitor"),
    "Discovery": ("spicerack.dnsdisc", "Discovery"),
    "ElasticsearchClusters": ("spicerack.elasticsearch_cluster", "ElasticsearchClusters"),
    "EtcdctlController": ("spicerack.toolforge.etcdctl", "EtcdctlController"),
    "Ganeti": ("spicerack.ganeti", "Ganeti"),
    "Host": ("spicerack.hosts", "Host"),
    "ICINGA_DOMAIN": ("spicerack.icinga", "ICINGA_DOMAIN"),
    "IcingaHosts": ("spicerack.icinga", "IcingaHosts"),
    "Ipmi": ("spicerack.ipmi", "Ipmi"),
    "Kafka": ("spicerack.kafka", "Kafka"),
    "Kubernetes": ("spicerack.k8s", "Kubernetes"),
    "Lock": ("spicerack.locking", "Lock"),
    "MANAGEMENT_IFACE_NAME": ("spicerack.netbox", "MANAGEMENT_IFACE_NAME"),
    "MediaWiki": ("spicerack.mediawiki", "MediaWiki"),
    "Mysql": ("spicerack.mysql", "Mysql"),
    "Netbox": ("spicerack.netbox", "Netbox"),
    "NetboxServer": ("spicerack.netbox", "NetboxServer"),
    "NoLock": ("spicerack.locking", "NoLock"),
    "Orchestrator": ("spicerack.orchestrator", "Orchestrator"),
    "PeeringDB": ("spicerack.peeringdb", "PeeringDB"),
    "PuppetHosts": ("spicerack.puppet", "PuppetHosts"),
    "PuppetServer": ("spicerack.puppet", "PuppetServer"),
    "Reason": ("spicerack.administrative", "Reason"),
    "Redfish": ("spicerack.redfish", "Redfish"),
    "RedfishDell": ("spicerack.redfish", "RedfishDell"),
    "RedfishSupermicro": ("spicerack.redfish", "RedfishSupermicro"),
    "RedisCluster": ("spicerack.redis_cluster", "RedisCluster"),
    "Remote": ("spicerack.remote", "Remote"),
    "RemoteError": ("spicerack.remote", "RemoteError"),
    "RemoteHosts": ("spicerack.remote", "RemoteHosts"),
    "RepoSync": ("spicerack.reposync", "RepoSync"),
    "RunCookbookError": ("spicerack.exceptions", "RunCookbookError"),
    "SPICERACK_PREFIX": ("spicerack.locking", "SPICERACK_PREFIX"),
    "TypeHosts": ("spicerack.typing", "TypeHosts"),
    "create_elasticsearch_clusters": ("spicerack.elasticsearch_cluster", "create_elasticsearch_clusters"),
    "get_ca_via_srv_record": ("spicerack.puppet", "get_ca_via_srv_record"),
    "get_lock_instance": ("spicerack.locking", "get_lock_instance"),
    "irc_logger": ("spicerack._log", "irc_logger"),
    "sal_logger": ("spicerack._log", "sal_logger"),
    # Third-party and standard names the reference's namespace holds too: tests of cookbooks patch them there.
    "ActionsDict": ("wmflib.actions", "ActionsDict"),
    "Dns": ("wmflib.dns", "Dns"),
    "HTTPBasicAuth": ("requests.auth", "HTTPBasicAuth"),
    "Path": ("pathlib", "Path"),
    "Phabricator": ("wmflib.phabricator", "Phabricator"),
    "Prometheus": ("wmflib.prometheus", "Prometheus"),
    "Repo": ("git", "Repo"),
    "Thanos": ("wmflib.prometheus", "Thanos"),
    "confirm_on_failure": ("wmflib.interactive", "confirm_on_failure"),
    "create_phabricator": ("wmflib.phabricator", "create_phabricator"),
    "get_secret": ("wmflib.interactive", "get_secret"),
    "get_username": ("wmflib.interactive", "get_username"),
    "gethostname": ("socket", "gethostname"),
    "load_ini_config": ("wmflib.config", "load_ini_config"),
    "load_yaml_config": ("wmflib.config", "load_yaml_config"),
    "requests": ("wmflib.requests", ""),
}

__all__ = ["Spicerack", "SpicerackError", "SpicerackExtenderBase", *sorted(_LAZY_NAMES)]


def __getattr__(name: str) -> Any:
    """Resolve a name of the package namespace on its first access and keep it in the module's globals."""
    try:
        module_name, attribute = _LAZY_NAMES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None

    import importlib  # noqa: PLC0415 - only names not yet resolved get here

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ImportError(
            f"cannot import name {name!r} from 'spicerack': its module {module_name} is not part of this "
            "version of Spicerack yet",
            name=name,
        ) from exc

    value = getattr(module, attribute) if attribute else module
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the package namespace, the names not yet resolved included."""
    return sorted(set(globals()) | set(_LAZY_NAMES))


def _resolve(name: str) -> Any:
    """Return a name of the package namespace as it is now: a test may have patched it (``spicerack.Dns``)."""
    namespace = globals()
    return namespace[name] if name in namespace else __getattr__(name)


__version__ = "0.2.0"
"""The version of Spicerack, as in setup.py."""


GetCookbookCallback = Callable[["Spicerack", str, Sequence[str]], Any]


class SpicerackExtenderBase:
    """Base class for the ``extender_class`` configuration option: its public attributes become accessors.

    A subclass adds its own accessor methods; they are reachable as ``spicerack.<name>()`` in every cookbook.
    The accessor instance is available to them as ``self._spicerack``.
    """

    def __init__(self, *, spicerack: "Spicerack") -> None:
        """Keep the accessor the extension methods build on.

        Arguments:
            spicerack: the accessor being extended.

        """
        self._spicerack = spicerack


class Spicerack:
    """The accessor to every capability of the library, injected into each cookbook."""

    def __init__(
        self,
        *,
        verbose: bool = False,
        dry_run: bool = True,
        cumin_config: str = "/etc/cumin/config.yaml",
        cumin_installer_config: str = "/etc/cumin/config-installer.yaml",
        conftool_config: str = "/etc/conftool/config.yaml",
        conftool_schema: str = "/etc/conftool/schema.yaml",
        debmonitor_config: str = "/etc/debmonitor.conf",
        spicerack_config_dir: str = "/etc/spicerack",
        http_proxy: str = "",
        etcd_config: str | None = "",
        get_cookbook_callback: GetCookbookCallback | None = None,
        extender_class: type[SpicerackExtenderBase] | None = None,
    ) -> None:
        """Set up the accessor; nothing is connected to until an accessor method needs it.

        Arguments:
            verbose: whether the run is verbose.
            dry_run: whether this is a DRY-RUN: clients change nothing and only log what they would do.
            cumin_config: path of cumin's configuration file.
            cumin_installer_config: path of cumin's configuration for hosts in the Debian installer.
            conftool_config: path of conftool's configuration file.
            conftool_schema: path of conftool's schema file.
            debmonitor_config: path of Debmonitor's INI configuration file.
            spicerack_config_dir: directory of the per-module configuration files (``<module>/config.yaml``).
            http_proxy: ``scheme://host:port`` of the proxy for calls to the outside world, empty for none.
            etcd_config: path of the YAML file with the etcd settings for distributed locks; an empty string
                (the default) disables locks; :py:data:`None` uses locks local to this machine (the embedded
                default configuration).
            get_cookbook_callback: set by the ``cookbook`` runner: how ``run_cookbook()`` finds a cookbook.
            extender_class: a :py:class:`SpicerackExtenderBase` subclass whose methods become accessors.

        """
        self._verbose = verbose
        self._dry_run = dry_run
        self._cumin_config = cumin_config
        self._cumin_installer_config = cumin_installer_config
        self._conftool_config = conftool_config
        self._conftool_schema = conftool_schema
        self._debmonitor_config = debmonitor_config
        self._spicerack_config_dir = spicerack_config_dir
        self._http_proxy = http_proxy
        self._etcd_config = etcd_config
        self._get_cookbook_callback = get_cookbook_callback
        self._actions: ActionsDict | None = None
        self._locks: dict[str, Lock | LocalLock | NoLock] = {}
        self._authdns_servers: dict[str, str] | None = None
        self._management_password = ""
        self._service_catalog: Catalog | None = None
        self._extender = extender_class(spicerack=self) if extender_class is not None else None
        self._run_hooks: RunHooks = DEFAULT_HOOKS
        """The seams of the run (see :py:mod:`spicerack._hooks`), set by the run layer."""

    @cached_property
    def _username(self) -> str:
        # Looked up on first use: wmflib's import alone costs more than a listing should.
        return _get_username()

    @cached_property
    def _current_hostname(self) -> str:
        return str(_resolve("gethostname")())

    def __getattr__(self, name: str) -> Any:
        """Reach the accessors added by the configured ``extender_class``."""
        extender = self.__dict__.get("_extender")
        if extender is not None and not name.startswith("__"):
            return getattr(extender, name)  # An unknown name raises the extender's AttributeError, as the reference
        # The message starts with the exception's name, as the reference's does.
        raise AttributeError(f"AttributeError: '{type(self).__name__}' object has no attribute '{name}'")

    @property
    def dry_run(self) -> bool:
        """Whether this is a DRY-RUN."""
        return self._dry_run

    @property
    def verbose(self) -> bool:
        """Whether the verbose mode is on."""
        return self._verbose

    @property
    def username(self) -> str:
        """The name of the operator running the cookbook (the real user behind ``sudo``)."""
        return self._username

    @property
    def current_hostname(self) -> str:
        """The name of the host the cookbook runs on."""
        return self._current_hostname

    @property
    def owner(self) -> str:
        """Who is running: ``user@host [pid]``, as shown in locks and audit messages."""
        return f"{self._username}@{self._current_hostname} [{os.getpid()}]"

    @property
    def config_dir(self) -> "Path":
        """The directory of the per-module configuration files: ``spicerack.config_dir / "module" / "file.yaml"``."""
        return _resolve("Path")(self._spicerack_config_dir)  # type: ignore[no-any-return]

    @property
    def http_proxy(self) -> str:
        """The HTTP proxy for calls to the outside world, as ``scheme://host:port``, empty for none."""
        return self._http_proxy

    @property
    def requests_proxies(self) -> dict[str, str] | None:
        """The proxy settings in the form ``requests`` takes, or :py:data:`None` when no proxy is set."""
        if not self._http_proxy:
            return None
        return {"http": self._http_proxy, "https": self._http_proxy}

    @property
    def irc_logger(self) -> "logging.Logger":
        """A logger whose messages go to the log files and, outside DRY-RUN, to IRC."""
        import logging  # noqa: PLC0415 - keeps `import spicerack` light

        return logging.getLogger(irc_logger_name)

    @property
    def sal_logger(self) -> "logging.Logger":
        """A logger whose messages go to the log files and, outside DRY-RUN, to the Server Admin Log."""
        import logging  # noqa: PLC0415 - keeps `import spicerack` light

        return logging.getLogger(sal_logger_name)

    @property
    def actions(self) -> "ActionsDict":
        """A per-host record of the actions a cookbook performed, to report at its end."""
        if self._actions is None:
            from wmflib.actions import ActionsDict  # noqa: PLC0415 - imported on first use

            self._actions = ActionsDict()
        return self._actions

    def lock(self) -> "Lock | LocalLock | NoLock":
        """Return the lock for a cookbook's own critical sections, with concurrency and TTL (key prefix ``custom``).

        Use it as ``with spicerack.lock().acquired("name", concurrency=1, ttl=600): ...``. With locks disabled (no
        ``etcd_config``, or ``--no-locks``) it is a :py:class:`spicerack.locking.NoLock`, with the same API and doing
        nothing.

        Raises:
            spicerack.locking.LockError: if the etcd settings cannot be loaded.

        """
        from spicerack.locking import COOKBOOKS_CUSTOM_PREFIX  # noqa: PLC0415 - imported on first use

        return self._lock_instance(COOKBOOKS_CUSTOM_PREFIX)

    def _cookbook_lock(self, name: str, lock_args: "LockArgs") -> "AbstractContextManager[None]":
        """Return the context manager holding a slot of a cookbook run's lock (key prefix ``cookbooks``).

        Arguments:
            name: the cookbook's full name; the key is ``name:suffix`` when ``lock_args`` has a suffix.
            lock_args: the run's suffix, concurrency and TTL.

        """
        from spicerack.locking import COOKBOOKS_PREFIX, acquired_on_enter  # noqa: PLC0415 - imported on first use

        key = f"{name}:{lock_args.suffix}" if lock_args.suffix else name
        return acquired_on_enter(
            lambda: self._lock_instance(COOKBOOKS_PREFIX), key, concurrency=lock_args.concurrency, ttl=lock_args.ttl
        )

    def _lock_instance(self, prefix: str) -> "Lock | LocalLock | NoLock":
        """The lock backend of a key prefix, opened once (through :py:meth:`_make_lock` and the run's lock hook)."""
        if prefix not in self._locks:
            self._locks[prefix] = self._run_hooks.lock(self._make_lock(prefix), prefix)
        return self._locks[prefix]

    def _make_lock(self, prefix: str) -> "Lock | LocalLock | NoLock":
        """Open the lock backend of a key prefix as the configuration says: the override point of a harness.

        Arguments:
            prefix: the key prefix, one of :py:data:`spicerack.locking.ALLOWED_PREFIXES`.

        """
        from spicerack.locking import open_lock  # noqa: PLC0415 - imported on first use

        return open_lock(self._etcd_config, prefix=prefix, owner=self.owner, dry_run=self._dry_run)

    @property
    def _spicerack_lock(self) -> "Lock | LocalLock | NoLock":
        """The lock of Spicerack's own modules (key prefix ``modules``), created once."""
        from spicerack.locking import SPICERACK_PREFIX  # noqa: PLC0415 - imported on first use

        return self._lock_instance(SPICERACK_PREFIX)

    def run_cookbook(
        self, cookbook: str, args: Sequence[str] = (), *, raises: bool = False, confirm: bool = False
    ) -> int:
        """Run another cookbook in this process, with the same logging, locks and DRY-RUN mode.

        Arguments:
            cookbook: the cookbook to run, as a dotted path (``sre.hosts.reboot``) or a file path relative to the
                ``cookbooks`` tree (``sre/hosts/reboot.py``).
            args: the cookbook's arguments; the global ones are those of the current run.
            raises: raise :py:class:`spicerack.exceptions.RunCookbookError` when the cookbook exits non-zero,
                instead of returning its exit code.
            confirm: run it through :py:func:`wmflib.interactive.confirm_on_failure`, which on a failure asks the
                operator whether to retry, skip or abort; implies ``raises``.

        Returns:
            The cookbook's exit code.

        Raises:
            spicerack.exceptions.RunCookbookError: if the cookbook exits non-zero and ``raises`` or ``confirm`` is set.
            spicerack.exceptions.SpicerackError: if no callback to find cookbooks is set, or the cookbook is not found.

        """
        if self._get_cookbook_callback is None:
            raise SpicerackError("Unable to run other cookbooks, get_cookbook_callback is not set.")
        get_cookbook = self._get_cookbook_callback
        found: Any = None

        def run_cookbook_item() -> int:  # its name is in what confirm_on_failure prints
            from spicerack.exceptions import RunCookbookError  # noqa: PLC0415 - imported on first use

            exit_code: int = found.run()
            if (raises or confirm) and exit_code != 0:
                raise RunCookbookError(
                    f"run_cookbook returned exit code {exit_code} when running cookbook {cookbook} with args: {args}"
                )
            return exit_code

        def run() -> int:
            nonlocal found
            item = get_cookbook(self, cookbook, args)
            if item is None:
                raise SpicerackError(f"Unable to find cookbook {cookbook}")
            found = item
            self._log_child(cookbook, args)
            if confirm:
                from wmflib.interactive import confirm_on_failure  # noqa: PLC0415 - imported on first use

                confirmed_code: int = confirm_on_failure(run_cookbook_item)
                return confirmed_code
            return run_cookbook_item()

        return self._run_hooks.child(cookbook, args, run)

    @staticmethod
    def _log_child(cookbook: str, args: Sequence[str]) -> None:
        import logging  # noqa: PLC0415 - the module namespace stays minimal

        from spicerack import _journal, _redact  # noqa: PLC0415 - imported on first use

        words, secret_options = _journal.secret_settings()
        shown = _redact.redact(list(args), secret_names=words, secret_options=secret_options)
        logging.getLogger(__name__).debug("Executing cookbook %s with args: %s", cookbook, shown)

    def remote(self, installer: bool = False) -> "Remote":
        """Return the entry point to run commands on hosts through cumin.

        Arguments:
            installer: use cumin's configuration for hosts in the Debian installer (``cumin_installer_config``).

        Raises:
            spicerack.remote.RemoteError: if cumin's configuration cannot be read.

        """
        from spicerack.remote import Remote  # noqa: PLC0415 - imported on first use

        return Remote(self._cumin_installer_config if installer else self._cumin_config, dry_run=self._dry_run)

    @cached_property
    def _confctl(self) -> "Confctl":
        return self._make_confctl()

    def _make_confctl(self) -> "Confctl":
        """Build the conftool client from the configured files, once per accessor: the override point of a harness."""
        from spicerack.confctl import Confctl  # noqa: PLC0415 - imported on first use

        return Confctl(config=self._conftool_config, schema=self._conftool_schema, dry_run=self._dry_run)

    def confctl(self, entity_name: str) -> "ConftoolEntity":
        """Return the client to query and change the objects of a conftool entity.

        Arguments:
            entity_name: the entity's name in conftool's schema (``conftool_schema``), e.g. ``node``, ``service``,
                ``discovery``, ``mwconfig``.

        Raises:
            spicerack.confctl.ConfctlError: if conftool's configuration or schema cannot be loaded, or the schema has
                no such entity.

        """
        return self._confctl.entity(entity_name)

    def dbctl(self) -> "Dbctl":
        """Return the client to manage MediaWiki's database configuration, as the ``dbctl`` command does.

        Raises:
            spicerack.confctl.ConfctlError: if conftool's configuration or schema cannot be loaded.

        """
        from spicerack.dbctl import Dbctl  # noqa: PLC0415 - imported on first use

        return Dbctl(config=self._conftool_config, schema=self._conftool_schema, dry_run=self._dry_run)

    def dhcp(self, datacenter: str) -> "DHCP":
        """Return the client to add and remove temporary DHCP snippets on the datacenter's install servers.

        The install servers are the hosts of the cumin query ``A:installserver and A:<datacenter>``; when it fails
        (e.g. a new datacenter without its own install server yet), those of eqiad.

        Arguments:
            datacenter: the datacenter, one of :py:data:`wmflib.constants.ALL_DATACENTERS`.

        Raises:
            spicerack.dhcp.DHCPError: if the datacenter is unknown.
            spicerack.remote.RemoteError: if eqiad's install servers cannot be found either.

        """
        from wmflib.constants import ALL_DATACENTERS  # noqa: PLC0415 - imported on first use

        from spicerack.dhcp import DHCP, DHCPError  # noqa: PLC0415 - imported on first use
        from spicerack.locking import SPICERACK_PREFIX  # noqa: PLC0415 - imported on first use
        from spicerack.remote import RemoteError  # noqa: PLC0415 - imported on first use

        if datacenter not in ALL_DATACENTERS:
            raise DHCPError(f"Invalid datacenter {datacenter}, must be one of {ALL_DATACENTERS}.")
        remote = self.remote()
        try:
            install_servers = remote.query(f"A:installserver and A:{datacenter}")
        except RemoteError:
            datacenter = "eqiad"
            install_servers = remote.query(f"A:installserver and A:{datacenter}")

        return DHCP(
            install_servers, datacenter=datacenter, lock=self._lock_instance(SPICERACK_PREFIX), dry_run=self._dry_run
        )

    def discovery(self, *records: str) -> "Discovery":
        """Return the client to pool, depool and check the given DNS Discovery records.

        Arguments:
            *records: the Discovery records' names, without the ``.discovery.wmnet`` suffix.

        Raises:
            spicerack.confctl.ConfctlError: if conftool cannot be set up.
            spicerack.dnsdisc.DiscoveryError: if ``discovery/authdns.yaml`` is invalid.

        """
        from spicerack.dnsdisc import Discovery  # noqa: PLC0415 - imported on first use

        return Discovery(
            conftool=self.confctl("discovery"),
            authdns_servers=self.authdns_servers,
            records=list(records),
            dry_run=self._dry_run,
        )

    def mediawiki(self) -> "MediaWiki":
        """Return the client to manage MediaWiki: read-only mode, primary datacenter, siteinfo, periodic jobs.

        Its URLs and host queries can be changed in ``mediawiki/config.yaml`` (all keys optional).

        Raises:
            spicerack.confctl.ConfctlError: if conftool cannot be set up.
            spicerack.mediawiki.MediaWikiError: if ``mediawiki/config.yaml`` is invalid.

        """
        from spicerack.mediawiki import MediaWiki, load_mediawiki_config  # noqa: PLC0415 - imported on first use

        return MediaWiki(
            self.confctl("mwconfig"),
            self.remote(),
            self._username,
            dry_run=self._dry_run,
            config=load_mediawiki_config(self._spicerack_config_dir),
        )

    def service_catalog(self, *, refresh: bool = False) -> "Catalog":
        """Return Puppet's ``service::catalog``, read from ``service/service.yaml`` once and then kept.

        Arguments:
            refresh: read the file again (and keep the new catalog).

        Raises:
            spicerack.service.ServiceError: if the catalog file cannot be read or is not a mapping of services.
            spicerack.confctl.ConfctlError: if conftool cannot be set up.
            spicerack.alertmanager.AlertmanagerError: if the Alertmanager configuration is invalid.
            spicerack.dnsdisc.DiscoveryError: if ``discovery/authdns.yaml`` is invalid.

        """
        if self._service_catalog is None or refresh:
            from spicerack.service import Catalog, load_catalog  # noqa: PLC0415 - imported on first use

            self._service_catalog = Catalog(
                load_catalog(self._spicerack_config_dir),
                alertmanager=self.alertmanager(),
                confctl=self.confctl("discovery"),
                authdns_servers=self.authdns_servers,
                dry_run=self._dry_run,
            )
        return self._service_catalog

    @property
    def authdns_servers(self) -> dict[str, str]:
        """The active authoritative nameservers, from ``discovery/authdns.yaml``: their host names and addresses.

        Raises:
            spicerack.dnsdisc.DiscoveryError: if the file cannot be read or is not a mapping of names to addresses.

        """
        if self._authdns_servers is None:
            from spicerack.dnsdisc import load_authdns_servers  # noqa: PLC0415 - imported on first use

            self._authdns_servers = load_authdns_servers(self._spicerack_config_dir)
        return self._authdns_servers

    @property
    def authdns_active_hosts(self) -> "RemoteHosts":
        """The active authoritative nameservers of :py:attr:`authdns_servers`, to run commands on them."""
        return self.remote().query("D{" + ",".join(self.authdns_servers) + "}")

    def admin_reason(self, reason: str, task_id: str | None = None) -> "Reason":
        """Return the justification of an administrative action, signed by the current user and host.

        Arguments:
            reason: why the action is taken; see :py:class:`spicerack.administrative.Reason` for the rules.
            task_id: the task tracking the action (e.g. ``T12345``), if any.

        """
        from spicerack.administrative import Reason  # noqa: PLC0415 - imported on first use

        return Reason(reason, self._username, self._current_hostname, task_id=task_id)

    def requests_session(self, name: str, **kwargs: Any) -> "Session":
        """Return a new ``requests`` session with Spicerack's User-Agent, a default timeout and retries.

        Arguments:
            name: who makes the calls, added to the User-Agent after ``Spicerack/<version>``.
            **kwargs: passed to :py:func:`wmflib.requests.http_session` (``timeout``, ``tries``, ``backoff``,
                ``retry_codes``, ``retry_methods``).

        """
        from wmflib.requests import http_session  # noqa: PLC0415 - imported on first use

        session: Session = http_session(f"Spicerack/{__version__} {name}", **kwargs)
        return session

    def api_client(self, base_url: str, accept_header: str = "application/json", **kwargs: Any) -> "APIClient":
        """Return a DRY-RUN aware client for the HTTP API at ``base_url``.

        Arguments:
            base_url: the URL the request paths are appended to: scheme, host and any API path prefix.
            accept_header: the ``Accept`` header of the requests, JSON by default.
            **kwargs: passed to :py:func:`wmflib.requests.http_session` to tune the session's timeout and retries.

        """
        from spicerack.apiclient import APIClient  # noqa: PLC0415 - imported on first use

        session = self.requests_session("APIClient", **kwargs)
        session.headers.update({"Accept": accept_header})
        return APIClient(base_url, session, dry_run=self._dry_run)

    def alertmanager_hosts(
        self, target_hosts: "TypeHosts", *, instance_name: str = "", verbatim_hosts: bool = False
    ) -> "AlertmanagerHosts":
        """Return a client to silence the alerts of the given hosts on Alertmanager.

        Arguments:
            target_hosts: the hosts, as a NodeSet or a sequence of names.
            instance_name: the Alertmanager instance of ``alertmanager/config.yaml`` to use, by default its
                ``default_instance``.
            verbatim_hosts: use the host names as they are, instead of taking them as FQDNs and keeping the first
                label only.

        """
        return self.alertmanager(instance_name=instance_name).hosts(target_hosts, verbatim_hosts=verbatim_hosts)

    def alertmanager(self, instance_name: str = "") -> "Alertmanager":
        """Return a client to silence alerts on an Alertmanager instance of ``alertmanager/config.yaml``.

        Arguments:
            instance_name: the instance to use, by default the configuration's ``default_instance``.

        Raises:
            spicerack.alertmanager.AlertmanagerError: if the configuration cannot be read or has no such instance.

        """
        from spicerack.alertmanager import alertmanager_from_config  # noqa: PLC0415 - imported on first use

        return alertmanager_from_config(
            self._spicerack_config_dir, instance_name, proxies=self.requests_proxies, dry_run=self._dry_run
        )

    def icinga_master_host(self) -> "RemoteHosts":
        """Return the Icinga master host: ``master_host`` of ``icinga/config.yaml``, else the CNAME of the Icinga site.

        Raises:
            spicerack.icinga.IcingaError: if ``icinga/config.yaml`` is invalid.

        """
        from spicerack.icinga import ICINGA_DOMAIN, load_icinga_config  # noqa: PLC0415 - imported on first use

        master_host = load_icinga_config(self._spicerack_config_dir).master_host
        if not master_host:
            master_host = self.dns().resolve_cname(ICINGA_DOMAIN)
        return self.remote().query(master_host)

    def icinga_hosts(self, target_hosts: "TypeHosts", *, verbatim_hosts: bool = False) -> "IcingaHosts":
        """Return a client to downtime, recheck and inspect the given hosts on Icinga.

        To act on both Icinga and Alertmanager, use :py:meth:`alerting_hosts` instead.

        Arguments:
            target_hosts: the hosts, as a NodeSet or a sequence of names.
            verbatim_hosts: use the host names as they are, instead of taking them as FQDNs and keeping the first
                label only.

        Raises:
            spicerack.icinga.IcingaError: if no host is given or the Icinga master cannot be used.

        """
        from spicerack.icinga import IcingaHosts, load_icinga_config  # noqa: PLC0415 - imported on first use

        config = load_icinga_config(self._spicerack_config_dir)
        return IcingaHosts(
            self.icinga_master_host(),
            target_hosts,
            verbatim_hosts=verbatim_hosts,
            dry_run=self._dry_run,
            config_file=config.config_file,
            status_command=config.status_command,
        )

    def alerting_hosts(self, target_hosts: "TypeHosts", *, verbatim_hosts: bool = False) -> "AlertingHosts":
        """Return a client to downtime the given hosts on both Alertmanager and Icinga.

        Arguments:
            target_hosts: the hosts, as a NodeSet or a sequence of names.
            verbatim_hosts: use the host names as they are, instead of taking them as FQDNs and keeping the first
                label only.

        """
        from spicerack.alerting import AlertingHosts  # noqa: PLC0415 - imported on first use

        return AlertingHosts(
            self.alertmanager_hosts(target_hosts, verbatim_hosts=verbatim_hosts),
            self.icinga_hosts(target_hosts, verbatim_hosts=verbatim_hosts),
        )

    def puppet(self, remote_hosts: "RemoteHosts") -> "PuppetHosts":
        """Return a client to manage Puppet on the given hosts.

        Arguments:
            remote_hosts: the hosts.

        """
        from spicerack.puppet import PuppetHosts  # noqa: PLC0415 - imported on first use

        return PuppetHosts(remote_hosts)

    def puppet_server(self) -> "PuppetServer":
        """Return a client to manage nodes and certificates on the Puppet server and CA.

        The server is ``ca_server`` of ``puppet/config.yaml`` if set, else the target of the ``_x-puppet-ca._tcp``
        SRV record of its ``srv_domain`` (default ``eqiad.wmnet``).

        Raises:
            spicerack.puppet.PuppetServerError: if the server cannot be found.

        """
        from spicerack.puppet import PuppetServer, puppet_ca_server  # noqa: PLC0415 - imported on first use

        ca_server = puppet_ca_server(self._spicerack_config_dir, srv_lookup=_resolve("get_ca_via_srv_record"))
        return PuppetServer(self.remote().query(ca_server))

    def puppet_master(self) -> "PuppetMaster":
        """Return a client to manage nodes and certificates on an older Puppet master and CA.

        The master is ``ca_server`` of ``puppet/config.yaml`` if set, else the CA of this host's Puppet agent.

        Raises:
            spicerack.puppet.PuppetServerError: if the master cannot be found.

        """
        from spicerack.puppet import PuppetMaster, puppet_ca_server  # noqa: PLC0415 - imported on first use

        return PuppetMaster(self.remote().query(puppet_ca_server(self._spicerack_config_dir, legacy=True)))

    def mysql(self) -> "Mysql":
        """Return a client to select database hosts and act on MySQL/MariaDB (PyMySQL and the ``mysql`` client)."""
        from spicerack.mysql import Mysql  # noqa: PLC0415 - imported on first use

        return Mysql(self.remote(), dry_run=self._dry_run)

    def apt_get(self, remote_hosts: "RemoteHosts") -> "AptGetHosts":
        """Return a client to manage Debian packages with ``apt-get`` on the given hosts.

        Arguments:
            remote_hosts: the hosts.

        """
        from spicerack.apt import AptGetHosts  # noqa: PLC0415 - imported on first use

        return AptGetHosts(remote_hosts)

    def management_password(self) -> str:
        """Return the management consoles' password, kept for the life of the instance.

        It is the ``mgmt_password`` of ``<config_dir>/management/config.yaml``; when the file or the key is missing or
        empty, it is asked to the operator (without echo).

        """
        if not self._management_password:
            config = _resolve("load_yaml_config")(self.config_dir / "management" / "config.yaml", raises=False)
            password = config.get("mgmt_password", "") if isinstance(config, dict) else ""
            if not password:
                password = _resolve("get_secret")("Management Password")
            self._management_password = str(password)
        return self._management_password

    def ipmi(self, target: str, username: str, *, port: int | None = None) -> "Ipmi":
        """Return a client to send IPMI commands to a management console with the management password.

        Arguments:
            target: the management console's FQDN or IP address.
            username: the management console account to use.
            port: the console's UDP port, when not IPMI's standard 623.

        """
        from spicerack.ipmi import Ipmi  # noqa: PLC0415 - imported on first use

        return Ipmi(target, self.management_password(), username=username, dry_run=self._dry_run, port=port)

    def redfish(
        self,
        hostname: str,
        username: str = "root",
        password: str = "",
        *,
        mgmt_address: str = "",
        manufacturer: str = "",
        scheme: str = "https",
        port: int | None = None,
    ) -> "Redfish":
        """Return a client of the Redfish API of a physical server's management console.

        Without ``mgmt_address``, when Netbox is configured (``netbox/config.yaml``), the console's address and
        the manufacturer (unless ``manufacturer`` is given) are looked up in Netbox, as the reference does. Otherwise
        the console is reached at ``mgmt_address`` (an IP address, hostname or FQDN), else at ``hostname`` itself,
        and ``manufacturer`` picks the vendor class (:py:class:`spicerack.redfish.RedfishDell` by default).

        Arguments:
            hostname: the server's hostname, or directly its management console's FQDN or address.
            username: the management console account.
            password: its password; if empty, :py:meth:`management_password`.
            mgmt_address: the management console's address, when it is not ``hostname``.
            manufacturer: ``dell`` (when empty) or ``supermicro``.
            scheme: ``https`` (certificate not verified) or ``http``.
            port: the API's TCP port, when not the scheme's default.

        Raises:
            spicerack.redfish.RedfishError: if the manufacturer is not supported or the address does not resolve.
            spicerack.exceptions.SpicerackError: if Netbox has the host as a virtual machine, without a management
                address or with a manufacturer that is not supported.

        """
        from spicerack.redfish import create_redfish  # noqa: PLC0415 - imported on first use

        if not password:
            password = self.management_password()
        if not mgmt_address and (self.config_dir / "netbox" / "config.yaml").exists():
            from spicerack.netbox import redfish_target  # noqa: PLC0415 - imported on first use

            mgmt_address, netbox_manufacturer = redfish_target(self.netbox(), hostname)
            manufacturer = manufacturer or netbox_manufacturer
        return create_redfish(
            hostname,
            username,
            password,
            mgmt_address=mgmt_address,
            manufacturer=manufacturer or "dell",
            dry_run=self._dry_run,
            scheme=scheme,
            port=port,
        )

    def dns(self) -> "Dns":
        """Return a client for DNS lookups, using the operating system's nameservers.

        When ``dns/config.yaml`` exists in the configuration directory, its ``nameserver_addresses`` (and optional
        ``port``) are asked instead.

        Raises:
            spicerack.dns.DnsConfigError: if ``dns/config.yaml`` exists but is invalid.

        """
        from spicerack.dns import dns_from_config  # noqa: PLC0415 - imported on first use

        return dns_from_config(self._spicerack_config_dir, dns_class=_resolve("Dns"))

    def phabricator(self, bot_config_file: str, section: str = "phabricator_bot") -> "Phabricator":
        """Return a DRY-RUN aware client for a Phabricator website, with the bot account of an INI file.

        An empty task ID makes the client's calls do nothing, so cookbooks with an optional ``--task-id`` can call it
        unconditionally.

        Arguments:
            bot_config_file: the INI file with the ``host`` (the API URL, ending in ``/api/``), ``username`` and
                ``token`` of the bot account, so that each cookbook can use the account it needs.
            section: the section of the file holding them.

        Raises:
            wmflib.phabricator.PhabricatorError: if the file misses the section or one of its options.

        """
        from wmflib.phabricator import create_phabricator  # noqa: PLC0415 - imported on first use

        # wmflib annotates it as the underlying Conduit client's class, but it returns its own Phabricator wrapper.
        client: Phabricator = create_phabricator(
            bot_config_file, section=section, allow_empty_identifiers=True, dry_run=self._dry_run
        )
        return client

    def prometheus(self) -> "Prometheus":
        """Return a client to query the per-site Prometheus instances (read-only)."""
        from wmflib.prometheus import Prometheus  # noqa: PLC0415 - imported on first use

        return Prometheus()

    def thanos(self) -> "Thanos":
        """Return a client to query Thanos, the global view over all Prometheus instances (read-only)."""
        from wmflib.prometheus import Thanos  # noqa: PLC0415 - imported on first use

        return Thanos()

    def debmonitor(self) -> "Debmonitor":
        """Return a DRY-RUN aware client for Debmonitor, set up from the ``debmonitor_config`` INI file.

        The file's ``[DEFAULT]`` section sets ``server`` (the host name, without scheme), ``cert`` and ``key`` (the
        TLS client certificate and its key).

        Raises:
            spicerack.debmonitor.DebmonitorError: if the file cannot be read or misses one of those options.

        """
        from spicerack.debmonitor import debmonitor_from_config  # noqa: PLC0415 - imported on first use

        return debmonitor_from_config(self._debmonitor_config, dry_run=self._dry_run)

    def peeringdb(self, *, ttl: int = 86400) -> "PeeringDB":
        """Return a read-only client for PeeringDB's API, set up from ``peeringdb/config.yaml`` if it exists.

        The file's optional keys: ``api_token_ro`` (a read-only API key), ``cachedir`` (where answers are cached;
        no cache without it) and ``baseurl`` (another API URL than PeeringDB's). Requests go through ``http_proxy``.

        Arguments:
            ttl: seconds a cached answer is used for before it is fetched again; 0 disables the cache.

        Raises:
            spicerack.peeringdb.PeeringDBError: if the file is invalid or the cache directory cannot be created.

        """
        from spicerack.peeringdb import peeringdb_from_config  # noqa: PLC0415 - imported on first use

        return peeringdb_from_config(self._spicerack_config_dir, ttl=ttl, proxies=self.requests_proxies)

    def reposync(self, name: str) -> "RepoSync":
        """Return the client of the synced git repository ``name`` of ``<config_dir>/reposync/config.yaml``.

        Raises:
            spicerack.reposync.RepoSyncError: if the repository is unknown, missing or not a bare repository.

        """
        from spicerack.reposync import RepoSync, load_repo  # noqa: PLC0415 - imported on first use

        repo, remotes = load_repo(self._spicerack_config_dir, name, repo_class=_resolve("Repo"))
        return RepoSync(repo, self.username, self.remote().query(",".join(remotes)), dry_run=self._dry_run)

    def etcdctl(self, *, remote_host: "RemoteHosts") -> "EtcdctlController":
        """Return the controller of the etcd cluster that runs ``etcdctl`` on ``remote_host`` (one host only).

        Raises:
            spicerack.toolforge.etcdctl.TooManyHosts: if ``remote_host`` has more than one host.

        """
        from spicerack.toolforge.etcdctl import EtcdctlController  # noqa: PLC0415 - imported on first use

        return EtcdctlController(remote_host=remote_host)

    def ganeti(self) -> "Ganeti":
        """Return the entry point to the Ganeti clusters, set up from ``<config_dir>/ganeti/config.yaml``.

        The file's keys: ``username`` and ``password`` (the RAPI user) and ``timeout`` (seconds per RAPI request).
        Clusters, groups and VMs are looked up in Netbox; instances are managed on the cluster masters.

        Raises:
            spicerack.ganeti.GanetiError: if the file cannot be read or misses one of those keys.

        """
        from spicerack.ganeti import Ganeti, ganeti_config  # noqa: PLC0415 - imported on first use

        username, password, timeout = ganeti_config(self._spicerack_config_dir)
        return Ganeti(username, password, timeout, self.remote(), self.netbox())

    def orchestrator(self) -> "Orchestrator":
        """Return a DRY-RUN aware client of the Orchestrator API (MySQL replication topologies).

        A 500 answer is not retried: Orchestrator answers 500 (with a JSON error) for unknown objects.
        """
        from wmflib.requests import DEFAULT_RETRY_STATUS_CODES  # noqa: PLC0415 - imported on first use

        from spicerack.orchestrator import ORCHESTRATOR_URL, Orchestrator  # noqa: PLC0415 - imported on first use

        retry_codes = tuple(code for code in DEFAULT_RETRY_STATUS_CODES if code != 500)
        session = self.requests_session("Orchestrator", retry_codes=retry_codes)
        session.headers.update({"Accept": "application/json"})
        return Orchestrator(ORCHESTRATOR_URL, session, dry_run=self._dry_run)

    def redis_cluster(self, cluster: str) -> "RedisCluster":
        """Return the client of the Redis cluster ``cluster``, described by ``redis_cluster/<cluster>.yaml``.

        The file has the ``password`` of the instances and, under ``shards``, for each datacenter the ``host`` and
        ``port`` of each shard's instance. The Redis client library is imported on the first call.

        Raises:
            spicerack.redis_cluster.RedisClusterError: if the file is missing or invalid.

        """
        redis_cluster_class = _resolve("RedisCluster")
        cluster_client: RedisCluster = redis_cluster_class(
            cluster, self.config_dir / "redis_cluster", dry_run=self._dry_run
        )
        return cluster_client

    def elasticsearch_clusters(
        self, clustergroup: str, write_queue_datacenters: Sequence[str]
    ) -> "ElasticsearchClusters":
        """Return the clients of the Elasticsearch clusters of a cluster group, from ``elasticsearch/config.yaml``.

        The file maps, under ``search``, each cluster group (e.g. ``search_eqiad``) to its clusters' names and
        endpoint URLs. The write queues are checked on the Prometheus of ``write_queue_datacenters``.

        Arguments:
            clustergroup: the name of the cluster group.
            write_queue_datacenters: the datacenters whose Prometheus to query for the CirrusSearch write queues.

        Raises:
            spicerack.elasticsearch_cluster.ElasticsearchClusterError: if the cluster group is not in the file.

        """
        configuration = _resolve("load_yaml_config")(self.config_dir / "elasticsearch" / "config.yaml")
        clusters: ElasticsearchClusters = _resolve("create_elasticsearch_clusters")(
            configuration,
            clustergroup,
            write_queue_datacenters,
            self.remote(),
            self.prometheus(),
            dry_run=self._dry_run,
        )
        return clusters

    def netbox(self, *, read_write: bool = False) -> "Netbox":
        """Return a client of the Netbox API, set up from ``<config_dir>/netbox/config.yaml``.

        The file's keys: ``api_url`` (the Netbox URL), ``api_token_ro`` and ``api_token_rw`` (API tokens). The
        read-write token is used only when asked for and not in DRY-RUN mode.

        Arguments:
            read_write: whether the client needs the read-write token.

        Raises:
            spicerack.netbox.NetboxError: if the file cannot be read or misses one of those keys.

        """
        from spicerack.netbox import load_netbox_config  # noqa: PLC0415 - imported on first use

        url, token = load_netbox_config(self._spicerack_config_dir, read_write=read_write, dry_run=self._dry_run)
        netbox: Netbox = _resolve("Netbox")(url, token, dry_run=self._dry_run)
        return netbox

    def netbox_server(self, hostname: str, *, read_write: bool = False) -> "NetboxServer":
        """Return the Netbox data of a server, physical device or virtual machine.

        Arguments:
            hostname: the server's short name (not its FQDN).
            read_write: whether the client needs the read-write token, to change the server.

        Raises:
            spicerack.netbox.NetboxError: if the server cannot be found or loaded.

        """
        return self.netbox(read_write=read_write).get_server(hostname)

    def netbox_master_host(self) -> "RemoteHosts":
        """Return the active Netbox server: the host whose PTR record is the address of its Discovery record."""
        from spicerack.netbox import NETBOX_DISCOVERY_RECORD  # noqa: PLC0415 - imported on first use

        dns = self.dns()
        hostname = dns.resolve_ptr(dns.resolve_ips(NETBOX_DISCOVERY_RECORD)[0])[0]
        return self.remote().query(hostname)

    def host(self, name: str, *, netbox_read_write: bool = False) -> "Host":
        """Return a single server, found in Netbox, with the accessors of the clients that act on it.

        Arguments:
            name: the server's short name as in Netbox.
            netbox_read_write: whether its Netbox data is loaded with the read-write token.

        Raises:
            spicerack.hosts.HostError: if the server is not in Netbox.
            spicerack.netbox.NetboxError: if its Netbox data cannot be loaded.

        """
        from spicerack.hosts import Host  # noqa: PLC0415 - imported on first use

        return Host(name, self, netbox_read_write=netbox_read_write)

    def kubernetes(self, group: str, cluster: str) -> "Kubernetes":
        """Return a DRY-RUN aware client of a Kubernetes cluster: its nodes (cordon, drain, ...) and pods.

        The cluster is reached with the kubeconfig files ``/etc/kubernetes/<user>-<cluster>.config``, of the
        ``admin`` user and of the read-only user of each namespace.

        Arguments:
            group: the group of clusters the cluster belongs to.
            cluster: the name of the cluster.

        """
        from spicerack.k8s import Kubernetes  # noqa: PLC0415 - imported on first use

        return Kubernetes(group, cluster, dry_run=self._dry_run)

    def kafka(self) -> "Kafka":
        """Return a DRY-RUN aware client to move Kafka consumer group positions, from ``kafka/config.yaml``.

        The file maps each cluster and site to its brokers: ``<cluster>: <site>: brokers: ssl_string:
        "host:port,..."``.

        Raises:
            KeyError: when a cluster or site used is missing from the configuration.

        """
        from spicerack.kafka import Kafka  # noqa: PLC0415 - imported on first use

        configuration = _resolve("load_yaml_config")(self.config_dir / "kafka" / "config.yaml")
        return Kafka(kafka_config=configuration, dry_run=self._dry_run)

    # -- accessors of the inventory and platform clients (keep this marker) --


def _get_username() -> str:
    """Return the operator's name: the real user behind ``sudo``, else the current user."""
    return str(_resolve("get_username")())
