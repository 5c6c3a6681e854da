"""Manage Puppet on a set of hosts, and nodes and certificates on a Puppet server and certification authority.

Everything goes through :py:class:`spicerack.remote.RemoteHosts`, with the helper scripts of the Puppet setup on the
hosts: ``disable-puppet``, ``enable-puppet``, ``run-puppet-agent`` and the shell library at
:py:data:`PUPPET_COMMON_SCRIPT`. In DRY-RUN only the read-only commands run; the others are logged and skipped.
"""

import json
import logging
import re
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import CalledProcessError, check_output
from typing import Any

from ClusterShell.MsgTree import MsgTreeElem
from cumin import NodeSet
from cumin.transports import Command

from spicerack.administrative import Reason
from spicerack.config import load_yaml_mapping
from spicerack.decorators import retry
from spicerack.exceptions import SpicerackCheckError, SpicerackError
from spicerack.remote import RemoteExecutionError, RemoteHosts, RemoteHostsAdapter

__all__ = [
    "PUPPET_COMMON_SCRIPT",
    "PuppetHosts",
    "PuppetHostsCheckError",
    "PuppetHostsError",
    "PuppetMaster",
    "PuppetMasterCheckError",
    "PuppetMasterError",
    "PuppetServer",
    "PuppetServerCheckError",
    "PuppetServerError",
    "get_ca_via_srv_record",
    "get_puppet_ca_hostname",
    "puppet_ca_server",
]

PUPPET_COMMON_SCRIPT: str = "/usr/local/share/bash/puppet-common.sh"
"""The shell library installed with Puppet on every host: it defines ``PUPPET_DISABLEDLOCK``, ``PUPPET_SUMMARY`` and
the ``last_run_success`` function used to inspect the agent's state."""
PUPPET_SSL_DIR: str = "/var/lib/puppet/ssl"
"""The directory of the agent's certificates and keys on every host."""
FIRST_RUN_TIMEOUT: int = 10800
"""Timeout in seconds of the first Puppet run of a freshly installed host."""
CA_SRV_DOMAIN: str = "eqiad.wmnet"
"""The domain whose ``_x-puppet-ca._tcp`` SRV record names the Puppet CA server, when not configured otherwise."""
CONFIG_PATH: tuple[str, str] = ("puppet", "config.yaml")
"""Where the optional configuration is, below Spicerack's configuration directory."""

_PLAIN_HOSTNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")

logger = logging.getLogger(__name__)


class PuppetHostsError(SpicerackError):
    """An operation of :py:class:`PuppetHosts` failed."""


class PuppetHostsCheckError(SpicerackCheckError):
    """A check of :py:class:`PuppetHosts` on the state of Puppet did not pass."""


class PuppetServerError(SpicerackError):
    """An operation of :py:class:`PuppetServer` failed."""


class PuppetServerCheckError(SpicerackCheckError):
    """A check of :py:class:`PuppetServer` on a certificate did not pass."""


PuppetMasterError = PuppetServerError
"""The former name of :py:class:`PuppetServerError`."""
PuppetMasterCheckError = PuppetServerCheckError
"""The former name of :py:class:`PuppetServerCheckError`."""


def __getattr__(name: str) -> Any:
    """Give ``spicerack.puppet.Dns`` (wmflib's, as the reference imports it) without importing dnspython before."""
    if name == "Dns":
        from wmflib.dns import Dns  # noqa: PLC0415 - dnspython is needed only to resolve SRV records

        globals()["Dns"] = Dns  # cached, so that patching spicerack.puppet.Dns in tests works as with an import
        return Dns
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_ca_via_srv_record(domain: str) -> str:
    """Return the host name of the Puppet CA advertised by the ``_x-puppet-ca._tcp`` SRV record of ``domain``.

    Arguments:
        domain: the DNS domain to look the record up in (e.g. ``eqiad.wmnet``).

    Raises:
        spicerack.SpicerackError: if the record is missing or names more than one server.

    """
    from wmflib.dns import DnsError  # noqa: PLC0415 - dnspython is needed only here

    record = f"_x-puppet-ca._tcp.{domain}"
    dns_class = globals()["Dns"] if "Dns" in globals() else __getattr__("Dns")
    try:
        answer = dns_class().resolve(record, "SRV")
    except DnsError as e:
        raise SpicerackError(f"Unable to resolve {record}: {e}") from e

    targets = [str(rdata.target).rstrip(".") for rdata in (answer.rrset or [])]
    if not targets:
        raise SpicerackError(f"Unable to find record for {record}")
    if len(targets) > 1:
        raise SpicerackError(f"{record} returned multiple ca servers: {','.join(targets)}")
    return targets[0]


def get_puppet_ca_hostname() -> str:
    """Return the Puppet CA server configured for the Puppet agent of the host running this code.

    Raises:
        spicerack.puppet.PuppetServerError: if the agent's configuration cannot be read or has no CA server.

    """
    try:
        output = check_output(["puppet", "config", "print", "--section", "agent", "ca_server"])
    except (OSError, CalledProcessError) as e:
        raise PuppetServerError(f"Unable to get the Puppet ca_server from the local agent: {e}") from e

    ca_server = output.decode().strip()
    if not ca_server:
        raise PuppetServerError("Got empty ca_server from Puppet agent")
    return ca_server


def puppet_ca_server(
    config_dir: str | Path, *, legacy: bool = False, srv_lookup: Callable[[str], str] | None = None
) -> str:
    """Return the Puppet CA server for :py:meth:`spicerack.Spicerack.puppet_server` and ``puppet_master``.

    ``<config_dir>/puppet/config.yaml`` may set ``ca_server`` (the host name, used as is) or ``srv_domain`` (where
    to look up the SRV record, by default :py:data:`CA_SRV_DOMAIN`). Without ``ca_server`` the CA comes from the
    SRV record, or for the ``legacy`` Puppet master from the local agent's configuration, as the reference does.

    Arguments:
        config_dir: Spicerack's configuration directory.
        legacy: find the CA of the older Puppet master setup.
        srv_lookup: the function resolving the SRV record, :py:func:`get_ca_via_srv_record` by default.

    Raises:
        spicerack.puppet.PuppetServerError: if the configuration is invalid or the CA server cannot be found.

    """
    config_file = Path(config_dir, *CONFIG_PATH)
    config: dict[str, Any] = {}
    if config_file.exists():
        config = load_yaml_mapping(config_file, description="Puppet configuration", error=PuppetServerError)
        if set(config) - {"ca_server", "srv_domain"}:
            raise PuppetServerError(
                f"Invalid Puppet configuration {config_file}: expected a mapping with ca_server and/or srv_domain"
            )

    if config.get("ca_server"):
        return str(config["ca_server"])
    if legacy:
        return get_puppet_ca_hostname()
    try:
        return (srv_lookup or get_ca_via_srv_record)(str(config.get("srv_domain") or CA_SRV_DOMAIN))
    except PuppetServerError:
        raise
    except SpicerackError as e:
        raise PuppetServerError(str(e)) from e


class PuppetHosts(RemoteHostsAdapter):
    """Puppet on a set of hosts: disable and enable it, run it, wait for it, renew the agents' certificates."""

    @contextmanager
    def disabled(self, reason: Reason, verbatim_reason: bool = False) -> Iterator[None]:
        """Keep Puppet disabled while the body of the ``with`` statement runs; it is re-enabled even if it raises.

        Hosts where Puppet was already disabled with another reason stay disabled (see :py:meth:`enable`).

        Arguments:
            reason: the reason of the disable, used again to enable it.
            verbatim_reason: use the text of the reason alone, without its author and task.

        """
        self.disable(reason, verbatim_reason)
        try:
            yield
        finally:
            self.enable(reason, verbatim_reason)

    def disable(self, reason: Reason, verbatim_reason: bool = False) -> None:
        """Disable Puppet with the given reason.

        On a host where Puppet is already disabled with a different reason that reason is kept, so that enabling it
        again with this one leaves it disabled for whoever disabled it first.

        Arguments:
            reason: why Puppet is disabled.
            verbatim_reason: use the text of the reason alone, without its author and task.

        Raises:
            spicerack.remote.RemoteExecutionError: if the command fails on any host.

        """
        logger.info("Disabling Puppet with reason %s on %d hosts: %s", reason.quoted(), len(self), self)
        self._remote_hosts.run_sync(f"disable-puppet {_quoted_reason(reason, verbatim_reason)}")

    def enable(self, reason: Reason, verbatim_reason: bool = False) -> None:
        """Enable Puppet on the hosts where it was disabled with the same reason; the others are left as they are.

        Arguments:
            reason: the reason Puppet was disabled with.
            verbatim_reason: use the text of the reason alone, without its author and task.

        Raises:
            spicerack.remote.RemoteExecutionError: if the command fails on any host.

        """
        logger.info("Enabling Puppet with reason %s on %d hosts: %s", reason.quoted(), len(self), self)
        self._remote_hosts.run_sync(f"enable-puppet {_quoted_reason(reason, verbatim_reason)}")

    def check_enabled(self) -> None:
        """Ensure Puppet is enabled on every host.

        Raises:
            spicerack.puppet.PuppetHostsCheckError: naming the hosts where Puppet is disabled.

        """
        disabled = self._hosts_by_disabled()[True]
        if disabled:
            raise PuppetHostsCheckError(f"Puppet is not enabled on those hosts: {disabled}")

    def check_disabled(self) -> None:
        """Ensure Puppet is disabled on every host.

        Raises:
            spicerack.puppet.PuppetHostsCheckError: naming the hosts where Puppet is enabled.

        """
        enabled = self._hosts_by_disabled()[False]
        if enabled:
            raise PuppetHostsCheckError(f"Puppet is not disabled on those hosts: {enabled}")

    def run(
        self,
        *,
        timeout: int = 300,
        enable_reason: Reason | None = None,
        quiet: bool = False,
        failed_only: bool = False,
        force: bool = False,
        attempts: int = 0,
        batch_size: int = 10,
    ) -> None:
        """Run the Puppet agent on the hosts through ``run-puppet-agent``.

        Arguments:
            timeout: seconds after which a run is considered failed.
            enable_reason: enable Puppet first where it was disabled with this reason.
            quiet: don't show the agent's output.
            failed_only: run only where the last run failed.
            force: enable Puppet first, whatever the reason it was disabled with.
            attempts: how many times to wait for a run already in progress to complete, instead of the script's
                default.
            batch_size: how many hosts run Puppet at the same time, not to overload the Puppet servers.

        Raises:
            spicerack.remote.RemoteExecutionError: if the run fails on any host.

        """
        options: list[str] = []
        if enable_reason is not None:
            options += ["--enable", enable_reason.quoted()]
        if quiet:
            options.append("--quiet")
        if failed_only:
            options.append("--failed-only")
        if force:
            options.append("--force")
        if attempts:
            options += ["--attempts", str(attempts)]

        options_string = " ".join(options)
        logger.info("Running Puppet with args '%s' on %d hosts: %s", options_string, len(self), self)
        command = Command(f"run-puppet-agent {options_string}".strip(), timeout=timeout)
        self._remote_hosts.run_sync(command, batch_size=batch_size)

    def first_run(self, has_systemd: bool = True) -> Iterator[tuple[NodeSet, MsgTreeElem]]:
        """Run the Puppet agent directly, without the helper scripts, as the first run of a freshly installed host.

        Arguments:
            has_systemd: whether the hosts run systemd, whose Puppet service is stopped first.

        Returns:
            The outputs of the commands, as :py:meth:`spicerack.remote.RemoteHosts.run_sync` returns them.

        Raises:
            spicerack.remote.RemoteExecutionError: if any command fails on any host.

        """
        commands: list[str | Command] = []
        if has_systemd:
            commands += ["systemctl stop puppet.service", "systemctl reset-failed puppet.service || true"]
        commands += [
            "puppet agent --enable",
            Command(
                "puppet agent --onetime --no-daemonize --verbose --no-splay --show_diff --no-usecacheonfailure",
                timeout=FIRST_RUN_TIMEOUT,
            ),
        ]

        logger.info("Starting first Puppet run (sit back, relax, and enjoy the wait)")
        results = self._remote_hosts.run_sync(*commands, print_output=False, print_progress_bars=False)
        logger.info("First Puppet run completed")
        return results

    def regenerate_certificate(self) -> dict[str, str]:
        """Delete the agents' certificates and have them create a new certificate signing request (CSR).

        Returns:
            The fingerprint of each host's new CSR, by host name.

        Raises:
            spicerack.puppet.PuppetHostsError: if the fingerprint of some host's CSR cannot be found (always in
                DRY-RUN, where the agent that creates the CSRs is not run).
            spicerack.remote.RemoteExecutionError: if the certificates cannot be deleted.

        """
        logger.info("Deleting local Puppet certificate on %d hosts: %s", len(self), self)
        self._remote_hosts.run_sync(f"rm -rfv {PUPPET_SSL_DIR}")

        # The agent's exit code does not tell whether the CSR was created: its output does.
        command = Command("puppet agent --test --color=false", ok_codes=[])
        logger.info("Generating a new Puppet certificate on %d hosts: %s", len(self), self)
        fingerprints: dict[str, str] = {}
        errors: list[tuple[NodeSet, str]] = []
        for nodeset, output in self._remote_hosts.run_sync(command, print_output=False):
            fingerprint, host_errors = _parse_csr_output(output.message().decode())
            errors += [(nodeset, line) for line in host_errors]
            if fingerprint:
                logger.info("Generated CSR for host %s: %s", nodeset, fingerprint)
                fingerprints.update(dict.fromkeys(nodeset, fingerprint))

        if len(fingerprints) != len(self):
            details = "\n".join(f"{nodeset}: {line}" for nodeset, line in errors)
            raise PuppetHostsError(f"Unable to find CSR fingerprints for all hosts, detected errors are:\n{details}")
        return fingerprints

    def get_config(self, config: str, *, section: str = "agent") -> dict[str, str]:
        """Return the value of a Puppet setting on each host.

        Arguments:
            config: the name of the setting (e.g. ``ca_server``).
            section: the section of Puppet's configuration to read it from.

        Returns:
            The value of the setting, by host name.

        Raises:
            spicerack.remote.RemoteExecutionError: if the setting cannot be read on any host.

        """
        results = self._remote_hosts.run_sync(f"puppet config --section {section} print {config}")
        values: dict[str, str] = {}
        for nodeset, output in results:
            lines = output.message().decode().splitlines()
            values.update(dict.fromkeys(nodeset, lines[-1].strip() if lines else ""))
        return values

    def get_ca_servers(self) -> dict[str, str]:
        """Return the Puppet CA server of each host, following the SRV record of hosts that set ``use_srv_records``.

        Returns:
            The CA server host name, by host name.

        Raises:
            spicerack.SpicerackError: if the SRV record of some host's ``srv_domain`` cannot be resolved.
            spicerack.remote.RemoteExecutionError: if the settings cannot be read on any host.

        """
        srv_hosts, ca_server_hosts = NodeSet(), NodeSet()
        for host, use_srv in self.get_config("use_srv_records").items():
            (srv_hosts if use_srv == "true" else ca_server_hosts).add(host)

        # Each setting is read only on the hosts that use it.
        srv_domains: dict[str, str] = {}
        ca_servers: dict[str, str] = {}
        if srv_hosts:
            srv_domains = PuppetHosts(self._remote_hosts.get_subset(srv_hosts)).get_config("srv_domain")
        if ca_server_hosts:
            ca_servers = PuppetHosts(self._remote_hosts.get_subset(ca_server_hosts)).get_config("ca_server")

        by_domain: dict[str, str] = {}
        for host, domain in srv_domains.items():
            if domain not in by_domain:
                by_domain[domain] = get_ca_via_srv_record(domain)
            ca_servers[host] = by_domain[domain]
        return ca_servers

    def wait(self) -> None:
        """Wait until every host completes a successful Puppet run that starts from now on.

        Raises:
            spicerack.puppet.PuppetHostsCheckError: if some host has no such run within the timeout.

        """
        self.wait_since(datetime.now(UTC))

    @retry(tries=60, delay=timedelta(seconds=30), backoff_mode="linear", exceptions=(PuppetHostsCheckError,))
    def wait_since(self, start: datetime) -> None:
        """Wait until every host completed a successful Puppet run after ``start`` (retried for up to ~15 hours).

        Arguments:
            start: the time the run must have completed after; a naive datetime is taken as UTC.

        Raises:
            spicerack.puppet.PuppetHostsCheckError: if some host has no successful run after ``start``.

        """
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        command = (
            f"source {PUPPET_COMMON_SCRIPT} && last_run_success && "
            "awk /last_run/'{ print $2 }' \"${PUPPET_SUMMARY}\""
        )
        logger.debug("Polling the completion of a successful Puppet run")
        remaining = self._remote_hosts.hosts
        try:
            results = self._remote_hosts.run_sync(command, is_safe=True, print_output=False, print_progress_bars=False)
            for nodeset, output in results:
                last_run = _parse_timestamp(output.message().decode(), nodeset)
                if last_run <= start:
                    raise PuppetHostsCheckError(f"Successful Puppet run too old ({last_run} <= {start}) on: {nodeset}")
                remaining.difference_update(nodeset)
        except RemoteExecutionError as e:
            raise PuppetHostsCheckError(f"Unable to find a successful Puppet run on: {e.failed_hosts}") from e

        if remaining:
            raise PuppetHostsCheckError(f"Unable to get successful Puppet run from: {remaining}")
        logger.info("Successful Puppet run found")

    def _hosts_by_disabled(self) -> dict[bool, NodeSet]:
        """Return the hosts where Puppet is disabled (key :py:data:`True`) and where it is enabled."""
        results = self._remote_hosts.run_sync(
            f'source {PUPPET_COMMON_SCRIPT} && test -f "${{PUPPET_DISABLEDLOCK}}" && echo "1" || echo "0"',
            is_safe=True,
            print_output=False,
            print_progress_bars=False,
        )
        by_state: dict[bool, NodeSet] = {True: NodeSet(), False: NodeSet()}
        for nodeset, output in results:
            by_state[output.message().decode().strip() == "1"].update(nodeset)
        return by_state


class PuppetServer(RemoteHostsAdapter):
    """The Puppet server and certification authority: the nodes it knows and their certificates."""

    PUPPET_CERT_STATE_REQUESTED: str = "requested"
    """The state of a certificate signing request waiting to be signed."""
    PUPPET_CERT_STATE_SIGNED: str = "signed"
    """The state of a signed certificate."""

    def __init__(self, server_host: RemoteHosts) -> None:
        """Act on the given Puppet server.

        Arguments:
            server_host: the Puppet server (also certification authority); exactly one host.

        Raises:
            spicerack.puppet.PuppetServerError: if ``server_host`` has not exactly one host.

        """
        if len(server_host) != 1:
            raise PuppetServerError(
                f"The server_host instance must target only one host, got {len(server_host)}: {server_host}"
            )
        super().__init__(server_host)

    @property
    def server_host(self) -> RemoteHosts:
        """The Puppet server."""
        return self._remote_hosts

    def delete(self, hostname: str) -> None:
        """Forget a host: clean its certificate, cached facts and reports, and deactivate it in PuppetDB.

        A host already deleted is not an error.

        Arguments:
            hostname: the FQDN of the host.

        Raises:
            spicerack.remote.RemoteExecutionError: if the server fails to delete it.

        """
        commands = [f"puppet node {action} {shlex.quote(hostname)}" for action in ("clean", "deactivate")]
        self._remote_hosts.run_sync(*commands, print_progress_bars=False)

    def destroy(self, hostname: str) -> None:
        """Remove the certificate of a host; nothing is done if it has none.

        Arguments:
            hostname: the FQDN of the host.

        Raises:
            spicerack.remote.RemoteExecutionError: if the server fails to remove it.

        """
        try:
            self.get_certificate_metadata(hostname)
        except PuppetServerCheckError:
            logger.info("The certificate for %s does not exist, nothing to do.", hostname)
            return
        self._remote_hosts.run_sync(
            f"puppetserver ca clean --certname {shlex.quote(hostname)}", print_progress_bars=False
        )

    def verify(self, hostname: str) -> None:
        """Ensure the host has a certificate signed by the certification authority.

        Arguments:
            hostname: the FQDN of the host.

        Raises:
            spicerack.puppet.PuppetServerError: if its certificate is not signed.
            spicerack.puppet.PuppetServerCheckError: if it has no certificate at all.

        """
        state = self.get_certificate_metadata(hostname)["state"]
        if state != self.PUPPET_CERT_STATE_SIGNED:
            raise PuppetServerError(f"Expected certificate for {hostname} to be signed, got: {state}")

    def sign(self, hostname: str, fingerprint: str) -> None:
        """Sign the pending certificate signing request (CSR) of a host after checking its fingerprint.

        Arguments:
            hostname: the FQDN of the host.
            fingerprint: the fingerprint of the CSR, as the host generated it (see
                :py:meth:`PuppetHosts.regenerate_certificate`).

        Raises:
            spicerack.puppet.PuppetServerError: if there is no pending CSR, its fingerprint differs, or it is still
                not signed afterwards.

        """
        metadata = self.get_certificate_metadata(hostname)
        if metadata["state"] != self.PUPPET_CERT_STATE_REQUESTED:
            raise PuppetServerError(f"Certificate for {hostname} not in requested state, got: {metadata['state']}")
        if metadata["fingerprint"] != fingerprint:
            raise PuppetServerError(
                f"CSR fingerprint {metadata['fingerprint']} for {hostname} does not match provided fingerprint "
                f"{fingerprint}"
            )

        logger.info("Signing CSR for %s with fingerprint %s", hostname, fingerprint)
        executed = list(
            self._remote_hosts.run_sync(self._sign_command(hostname), print_output=False, print_progress_bars=False)
        )
        if _is_dry_run(self._remote_hosts):
            return

        state = self.get_certificate_metadata(hostname)["state"]
        if state != self.PUPPET_CERT_STATE_SIGNED:
            for _, output in executed:
                logger.error(output.message().decode())
            raise PuppetServerError(f"Expected certificate for {hostname} to be signed, got: {state}")

    @retry(tries=10, delay=timedelta(seconds=5), backoff_mode="power", exceptions=(PuppetServerCheckError,))
    def wait_for_csr(self, hostname: str) -> None:
        """Wait until the host's certificate signing request (CSR) reaches the certification authority.

        Arguments:
            hostname: the FQDN of the host.

        Raises:
            spicerack.puppet.PuppetServerCheckError: if no CSR arrives within the timeout.
            spicerack.puppet.PuppetServerError: if the host has a certificate that is not a pending request.

        """
        state = self.get_certificate_metadata(hostname)["state"]
        if state != self.PUPPET_CERT_STATE_REQUESTED:
            raise PuppetServerError(f"Expected certificate in requested state, got: {state}")

    def get_certificate_metadata(self, hostname: str) -> dict[str, Any]:
        """Return what the certification authority knows of a host's certificate.

        Arguments:
            hostname: the FQDN of the host.

        Returns:
            The certificate's metadata as the CA's JSON output gives it: ``name``, ``state`` (``requested``,
            ``signed``, ...), ``fingerprint``, ``fingerprints``, ``dns_alt_names``.

        Raises:
            spicerack.puppet.PuppetServerCheckError: if the host has no certificate nor request.
            spicerack.puppet.PuppetServerError: if the answer is not a single certificate of that host.

        """
        response = self._run_json_command(f"puppetserver ca list --format json --certname {shlex.quote(hostname)}")
        if not response:
            raise PuppetServerCheckError(f"No certificate found for hostname: {hostname}")
        if not isinstance(response, dict):
            raise PuppetServerCheckError(f"Expected a dict but got list: {response}")
        if len(response) > 1:
            raise PuppetServerError(f"Expected one result type from Puppet CA, got {len(response)}")

        kind, certificates = next(iter(response.items()))
        if kind == "missing":
            raise PuppetServerCheckError(f"The puppet server has no CSR for {hostname}")
        return _single_certificate(certificates, hostname)

    def hiera_lookup(self, fqdn: str, key: str, *, fmt: str = "s") -> str:
        """Return the value of a Hiera key for a host, as Puppet renders it.

        Arguments:
            fqdn: the host whose value to look up.
            key: the Hiera key.
            fmt: how Puppet renders the value: ``s`` (the default), ``json`` or ``yaml``.

        Raises:
            spicerack.remote.RemoteExecutionError: if the lookup fails.

        """
        arguments = " ".join(shlex.quote(value) for value in ("--render-as", fmt, "--compile", "--node", fqdn, key))
        command = f"puppet lookup {arguments} 2>/dev/null"
        results = self._remote_hosts.run_sync(command, is_safe=True, print_output=False, print_progress_bars=False)
        for _, output in results:
            return str(output.message().decode())
        return ""

    def _sign_command(self, hostname: str) -> str:
        return f"puppetserver ca sign --certname {shlex.quote(hostname)}"

    def _run_json_command(self, command: str) -> dict[str, Any] | list[Any]:
        """Run a read-only Puppet command printing JSON on the server and return the decoded output.

        Raises:
            spicerack.puppet.PuppetServerError: if the command prints nothing or something that is not JSON.

        """
        return_code = 0
        try:
            results = self._remote_hosts.run_sync(command, is_safe=True, print_output=False, print_progress_bars=False)
            outputs = [output.message().decode() for _, output in results]
        except RemoteExecutionError as e:
            return_code = e.retcode
            outputs = [output.message().decode() for _, output in e.results]

        if not outputs:
            raise PuppetServerError(
                f"Got no output from Puppet server while executing command (rc: {return_code}): {command}"
            )
        try:
            decoded: dict[str, Any] | list[Any] = json.loads(outputs[0])
        except ValueError as e:
            raise PuppetServerError(
                f'Unable to parse Puppet server response for command (rc: {return_code}): "{command}": {outputs[0]}'
            ) from e
        return decoded


class PuppetMaster(PuppetServer):
    """A Puppet master of the older generation: certificates through the legacy ``puppet ca`` commands."""

    @property
    def master_host(self) -> RemoteHosts:
        """The Puppet master."""
        return self._remote_hosts

    def destroy(self, hostname: str) -> None:
        """Remove the certificate of a host; nothing is done if it has none.

        Arguments:
            hostname: the FQDN of the host.

        Raises:
            spicerack.remote.RemoteExecutionError: if the master fails to remove it.

        """
        self._remote_hosts.run_sync(
            f"puppet ca --disable_warnings deprecations destroy {shlex.quote(hostname)}", print_progress_bars=False
        )

    def verify(self, hostname: str) -> None:
        """Ensure the host has a valid certificate signed by the certification authority.

        Arguments:
            hostname: the FQDN of the host.

        Raises:
            spicerack.puppet.PuppetServerError: if the certificate is not valid.

        """
        response = self._run_json_command(
            f"puppet ca --disable_warnings deprecations --render-as json verify {shlex.quote(hostname)}"
        )
        if not isinstance(response, dict) or not response.get("valid"):
            error = response.get("error") if isinstance(response, dict) else response
            raise PuppetServerError(f"Invalid certificate for {hostname}: {error}")

    def get_certificate_metadata(self, hostname: str) -> dict[str, Any]:
        """Return what the certification authority knows of a host's certificate (see the parent class).

        Raises:
            spicerack.puppet.PuppetServerCheckError: if the host has no certificate nor request.
            spicerack.puppet.PuppetServerError: if the answer is not a single certificate of that host.

        """
        subject = "^" + hostname.replace(".", r"\.") + "$"
        quoted = f'"{subject}"' if _PLAIN_HOSTNAME.match(hostname) else shlex.quote(subject)
        response = self._run_json_command(
            f"puppet ca --disable_warnings deprecations --render-as json list --all --subject {quoted}"
        )
        if not response:
            raise PuppetServerCheckError(f"No certificate found for hostname: {hostname}")
        return _single_certificate(response, hostname)

    def _sign_command(self, hostname: str) -> str:
        return f"puppet cert --disable_warnings deprecations sign {shlex.quote(hostname)}"


def _quoted_reason(reason: Reason, verbatim_reason: bool) -> str:
    """Return the reason (or only its text, when ``verbatim_reason``) quoted for the helper scripts' command line."""
    if not verbatim_reason:
        return reason.quoted()
    return f'"{reason.reason}"'


def _is_dry_run(remote_hosts: RemoteHosts) -> bool:
    """Whether the hosts skip the commands that change something."""
    return bool(getattr(remote_hosts, "_dry_run", False))


def _parse_csr_output(output: str) -> tuple[str, list[str]]:
    """Return the CSR fingerprint printed by ``puppet agent --test`` (empty if none) and the error lines."""
    fingerprint = ""
    errors: list[str] = []
    for line in output.splitlines():
        if line.startswith("Error:"):
            errors.append(line)
        elif "Certificate Request fingerprint" in line:
            # "Info: Certificate Request fingerprint (SHA256): AA:BB:..." -> the part after the second colon
            fingerprint = ":".join(line.split(":")[2:]).strip() or fingerprint
    return fingerprint, errors


def _parse_timestamp(text: str, nodeset: NodeSet) -> datetime:
    """Return the UTC datetime of a Unix timestamp printed by a host."""
    try:
        return datetime.fromtimestamp(int(text.strip()), tz=UTC)
    except ValueError as e:
        raise PuppetHostsCheckError(f"Unable to parse the last Puppet run time of {nodeset}: {text!r}") from e


def _single_certificate(certificates: Any, hostname: str) -> dict[str, Any]:
    """Return the one certificate of ``hostname`` in a list from the CA, raising PuppetServerError otherwise."""
    if not isinstance(certificates, list) or not certificates:
        raise PuppetServerError(f"Unexpected answer from the Puppet CA for {hostname}: {certificates}")
    if len(certificates) > 1:
        raise PuppetServerError(f"Expected one result from Puppet CA, got {len(certificates)}")
    metadata: dict[str, Any] = certificates[0]
    if metadata.get("name") != hostname:
        raise PuppetServerError(f"Hostname mismatch {metadata.get('name')} != {hostname}")
    return metadata
