"""MySQL/MariaDB: queries over native connections (PyMySQL) and over SSH with the ``mysql`` client through cumin.

* :py:class:`Mysql` (``spicerack.mysql()``) selects database hosts with cumin queries and acts on the core masters.
* :py:class:`MysqlRemoteHosts` runs queries with the ``mysql`` command line client on the selected hosts.
* :py:class:`Instance` manages one MariaDB instance of one host: queries over a PyMySQL connection, replication,
  the systemd unit, the data directory.

Native connections read the credentials from ``~/.my.cnf`` (section ``client``, ``clientlabsdb`` for ``clouddb*``
hosts) and verify the server's certificate with :py:data:`WMF_CA_BUNDLE_PATH`.

In DRY-RUN the native connections are read-only sessions, queries not marked safe are only logged, and the commands
run over SSH follow :py:meth:`spicerack.remote.RemoteHosts.run_sync` (only the ``is_safe`` ones run).
"""

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from time import sleep
from typing import Any, cast

from ClusterShell.MsgTree import MsgTreeElem
from cumin import NodeSet
from cumin.transports import Command
from pymysql.connections import Connection
from pymysql.cursors import DictCursor
from wmflib.constants import CORE_DATACENTERS
from wmflib.interactive import ask_confirmation

from spicerack.constants import WMF_CA_BUNDLE_PATH
from spicerack.decorators import retry
from spicerack.exceptions import SpicerackError
from spicerack.remote import Remote, RemoteExecutionError, RemoteHosts, RemoteHostsAdapter

REPLICATION_ROLES: tuple[str, ...] = ("master", "slave", "standalone")
"""The valid replication roles of the core databases."""

CORE_SECTIONS: tuple[str, ...] = ("s6", "s5", "s2", "s7", "s3", "s8", "s4", "s1", "x1", "x3", "es6", "es7")
"""The read-write core sections, from the least to the most impactful should anything go wrong."""

MYSQL_CLIENT: str = "/usr/local/bin/mysql"
"""The ``mysql`` command line client on the database hosts."""

MYSQL_UPGRADE: str = "/usr/local/bin/mysql_upgrade"
"""The ``mysql_upgrade`` command on the database hosts (a symlink to the installed version)."""

SYSTEMCTL: str = "/usr/bin/systemctl"
"""The ``systemctl`` command on the database hosts."""

RUN_DIR: str = "/run/mysqld"
"""Where the instances' sockets are on the database hosts."""

DATA_DIR: str = "/srv/sqldata"
"""The data directory of a single instance; a named instance's is ``<DATA_DIR>.<name>``."""

SINGLE_INSTANCE_CONFIG: str = "/etc/my.cnf"
"""The configuration file of a host with a single instance (it has a ``[mysqld]`` section)."""

MULTI_INSTANCE_CONFIG_DIR: str = "/etc/mysql/mysqld.conf.d"
"""The directory of a multi-instance host, with one ``<name>.cnf`` per instance."""

logger = logging.getLogger(__name__)

_SECRET_LITERAL = re.compile(r"(?i)\b(master_password\s*=\s*|password\s*\(\s*|identified\s+by\s+)'(?:[^'\\]|\\.)*'")


class MysqlError(SpicerackError):
    """An error of the mysql module: bad input, a failed query or check, unexpected data."""


class MysqlReplagError(MysqlError):
    """The replication lag is above the accepted threshold."""


class MasterUseGTID(Enum):
    """The values of the ``MASTER_USE_GTID`` option of ``CHANGE MASTER TO`` (see MariaDB's documentation)."""

    CURRENT_POS = "current_pos"
    """Replicate with GTID, starting from ``gtid_current_pos``."""
    SLAVE_POS = "slave_pos"
    """Replicate with GTID, starting from ``gtid_slave_pos``."""
    NO = "no"
    """Replicate by binlog file and position, without GTID."""


@dataclass
class ReplicationInfo:
    """Where a replica is in its primary's binlog: enough to make another instance replicate from the same point.

    Arguments:
        primary: the FQDN of the primary to replicate from.
        binlog: the primary's binlog file.
        position: the position in that binlog file.
        port: the primary's port.

    """

    primary: str
    binlog: str
    position: int
    port: int


class MysqlClient:
    """Open native connections (PyMySQL) to MySQL servers.

    Caution:
        The DRY-RUN protection of the connections (read-only sessions) covers only DML statements.

    """

    def __init__(self, *, dry_run: bool = True) -> None:
        """Create the client.

        Arguments:
            dry_run: whether this is a DRY-RUN.

        """
        self._dry_run = dry_run

    @contextmanager
    def connect(self, *, read_only: bool = False, **kwargs: Any) -> Iterator["Connection[Any]"]:
        """Yield an open connection, closed when the context ends.

        Nothing is committed or rolled back for the caller: autocommit is off unless asked for.

        Arguments:
            read_only: make the session's transactions read-only (always the case in DRY-RUN; DML statements only).
            **kwargs: passed to :py:class:`pymysql.connections.Connection`; the defaults are ``charset="utf8mb4"``,
                ``cursorclass=DictCursor``, ``read_default_file="~/.my.cnf"`` (:py:data:`None` to read no file),
                ``read_default_group="client"`` (``"clientlabsdb"`` for ``clouddb*`` hosts) and
                ``ssl={"ca": WMF_CA_BUNDLE_PATH}`` (``{}`` not to verify the server, ``ssl_disabled=True`` for no TLS).

        Raises:
            pymysql.err.MySQLError: if the connection fails (also when the default CA bundle is missing) or cannot
                be made read-only.

        """
        params: dict[str, Any] = {
            "charset": "utf8mb4",
            "cursorclass": DictCursor,
            "read_default_file": str(Path("~/.my.cnf").expanduser()),
            "read_default_group": "clientlabsdb" if str(kwargs.get("host", "")).startswith("clouddb") else "client",
            "ssl": {"ca": WMF_CA_BUNDLE_PATH},
        }
        params.update(kwargs)

        connection: Connection[Any] = Connection(**params)
        try:
            if read_only or self._dry_run:
                with connection.cursor() as cursor:
                    cursor.execute("SET SESSION TRANSACTION READ ONLY")
            yield connection
        finally:
            connection.close()


class Instance:
    """One MariaDB instance of one host: the only one of the host, or a named one of a multi-instance host."""

    def __init__(self, host: RemoteHosts, *, name: str = "") -> None:
        """Target the instance.

        Arguments:
            host: the host of the instance, a single one.
            name: the instance's name on a multi-instance host, empty for the single instance of a host.

        Raises:
            NotImplementedError: if ``host`` has more than one host.

        """
        if len(host) > 1:
            raise NotImplementedError(f"Only single hosts are currently supported, got {len(host)}: {host}")

        self.host = host
        self.name = name
        self._dry_run = _is_dry_run(host)
        self._mysql = MysqlClient(dry_run=self._dry_run)
        self._primary = ""
        suffix = f".{name}" if name else ""
        self._sock = f"{RUN_DIR}/mysqld{suffix}.sock"
        self._service = f"mariadb@{name}.service" if name else "mariadb.service"
        self._data_dir = f"{DATA_DIR}{suffix}"

    def __str__(self) -> str:
        """The host and the instance's name, for example ``db1001 (s1)`` or ``db1001 (single-instance)``."""
        return f"{self.host} ({self.name or 'single-instance'})"

    @property
    def data_dir(self) -> str:
        """The instance's data directory."""
        return self._data_dir

    @property
    def socket(self) -> str:
        """The instance's socket path."""
        return self._sock

    @property
    def primary(self) -> str:
        """The host this instance replicates from (``Master_Host``), looked up once.

        Raises:
            spicerack.mysql.MysqlError: if the instance replicates from nowhere.

        """
        if not self._primary:
            try:
                self._primary = self.show_slave_status()["Master_Host"]
            except (KeyError, MysqlError) as e:
                raise MysqlError(f"Unable to retrieve master host of {self}") from e

        return self._primary

    @contextmanager
    def cursor(self, **kwargs: Any) -> Iterator[tuple["Connection[Any]", Any]]:
        """Yield a ``(connection, cursor)`` pair connected to this instance's host.

        The cursor is typed ``Any``, as in the reference: its class (``DictCursor`` by default, rows as dicts) is
        chosen at run time by the ``cursorclass`` argument.

        Examples:
            ::

                >>> with instance.cursor(database="heartbeat") as (connection, cursor):
                ...     matched = cursor.execute("SELECT ts FROM heartbeat WHERE shard = %s", ("s1",))
                ...     rows = cursor.fetchall()  # one dict per row: [{'ts': '2024-01-02T03:04:05.000100'}]
                ...     instance.check_warnings(cursor)

        Arguments:
            **kwargs: passed to :py:meth:`spicerack.mysql.MysqlClient.connect` (``host`` is always this host).

        Raises:
            pymysql.err.MySQLError: on connection errors.

        """
        kwargs["host"] = str(self.host)
        with self._mysql.connect(**kwargs) as connection, connection.cursor() as cursor:
            yield connection, cursor

    def check_warnings(self, cursor: Any) -> None:
        """Log the warnings of the cursor's last query, if any, and ask the operator whether to go on.

        Arguments:
            cursor: the cursor that ran the query.

        Raises:
            wmflib.interactive.AbortError: if the operator does not want to go on.

        """
        if not cursor.execute("SHOW WARNINGS"):
            return

        for warning in cursor.fetchall():
            if isinstance(warning, dict):
                logger.warning("[%s] %s: %s", warning["Level"], warning["Code"], warning["Message"])
            else:
                logger.warning("[%s] %s: %s", *warning)

        ask_confirmation("The above warnings were raised during the last query, do you want to proceed anyway?")

    def execute(
        self,
        query: str,
        query_parameters: tuple[Any, ...] | list[Any] | dict[str, Any] | None = None,
        *,
        is_safe: bool = False,
        **kwargs: Any,
    ) -> int:
        """Run a query that returns no rows and commit; the database's warnings, if any, are logged and confirmed.

        In DRY-RUN a query not marked safe is only logged (with any password masked) and 0 is returned. If the
        operator declines to go on after warnings, nothing is committed.

        Examples:
            ::

                >>> statement = "UPDATE items SET name = %(name)s WHERE id = %(id)s"
                >>> instance.execute(statement, {"name": "renamed", "id": 7}, database="inventory")
                1

        Arguments:
            query: the query, with ``%s`` or ``%(name)s`` placeholders if any.
            query_parameters: the values for the placeholders: a tuple or list for ``%s``, a dict for ``%(name)s``.
            is_safe: the query changes nothing, so it runs also in DRY-RUN.
            **kwargs: passed to :py:meth:`spicerack.mysql.MysqlClient.connect`.

        Returns:
            The number of affected rows.

        Raises:
            pymysql.err.MySQLError: when the server refuses the query.

        """
        with self.cursor(**kwargs) as (connection, cursor):
            if self._dry_run and not is_safe:
                effective_query = _mask_secrets(cursor.mogrify(query, query_parameters))
                logger.info("Would have executed on host %s the query: %s", self, effective_query)
                return 0

            affected_rows: int = cursor.execute(query, query_parameters)
            self.check_warnings(cursor)
            connection.commit()  # the caller has no connection to commit with
            return affected_rows

    def fetch_one_row(
        self,
        query: str,
        query_parameters: tuple[Any, ...] | list[Any] | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Run a query that returns at most one row and return it, over a read-only session unless told otherwise.

        Examples:
            ::

                >>> instance.fetch_one_row("SELECT * FROM mytable WHERE a = %s", ("value",), database="mydb")
                {'a': 'value', 'b': 10}

        Arguments:
            query: the query, with ``%s`` or ``%(name)s`` placeholders if any.
            query_parameters: the values for the placeholders: a tuple or list for ``%s``, a dict for ``%(name)s``.
            **kwargs: passed to :py:meth:`spicerack.mysql.MysqlClient.connect`; ``read_only`` defaults to True.

        Returns:
            The row as a dict, or an empty dict if the query returned no rows.

        Raises:
            spicerack.mysql.MysqlError: if the query returned more than one row.
            pymysql.err.MySQLError: when the server refuses the query.

        """
        kwargs.setdefault("read_only", True)
        with self.cursor(**kwargs) as (_, cursor):
            num_rows = cursor.execute(query, query_parameters)
            if num_rows > 1:
                self.check_warnings(cursor)
                raise MysqlError(f"Expected query to return zero or one row, got {num_rows} instead.")

            row = cursor.fetchone() if num_rows == 1 else None
            self.check_warnings(cursor)
            return {} if row is None else cast(dict[str, Any], row)

    def run_query(self, query: str, database: str = "", **kwargs: Any) -> Iterator[tuple[NodeSet, MsgTreeElem]]:
        """Run a query on the host with the ``mysql`` command line client, through this instance's socket.

        Arguments:
            query: the query; double quotes in it must be already escaped.
            database: the database to use, if any.
            **kwargs: passed to :py:meth:`spicerack.remote.RemoteHosts.run_sync` (``is_safe`` to run it also in
                DRY-RUN); ``print_output`` and ``print_progress_bars`` default to False.

        Returns:
            The results of the command.

        Raises:
            spicerack.mysql.MysqlError: if the command fails.

        """
        command = f'{MYSQL_CLIENT} --socket {self._sock} --batch --execute "{query}" {database}'.strip()
        kwargs.setdefault("print_progress_bars", False)
        kwargs.setdefault("print_output", False)
        try:
            return self.host.run_sync(command, **kwargs)
        except RemoteExecutionError as e:
            raise MysqlError(f"Failed to run '{query}' on {self.host}") from e

    def run_vertical_query(self, query: str, database: str = "", **kwargs: Any) -> list[dict[str, str]]:
        r"""Run a query with the client's vertical output (``\G`` is appended) and parse it into one dict per row.

        Warning:
            Values spanning several lines (an error message in ``SHOW SLAVE STATUS`` for instance) cannot be parsed
            reliably from the client's output: the lines that are not ``key: value`` are logged and skipped.

        Arguments:
            query: the query, without the ``\G`` terminator.
            database: the database to use, if any.
            **kwargs: as for :py:meth:`run_query`.

        Returns:
            One dict per row, column names to values (all strings); an empty list if nothing was returned.

        """
        results = list(self.run_query(rf"{query}\G", database, **kwargs))
        if not results:
            return []

        rows: list[dict[str, str]] = []
        current: dict[str, str] = {}
        for line in results[0][1].message().decode("utf-8").splitlines():
            if line.startswith("*" * 20) and " row " in line:
                if current:
                    rows.append(current)
                current = {}
                continue
            key, separator, value = line.partition(": ")
            if not separator:
                logger.error("Failed to parse into key/value for query '%s' this line: %s", query, line)
                continue
            current[key.lstrip()] = value

        if current:
            rows.append(current)
        return rows

    def is_running(self) -> bool:
        """Tell whether the instance's systemd unit is active and running (checked also in DRY-RUN)."""
        results = self.host.run_sync(
            f"{SYSTEMCTL} show -p ActiveState -p SubState {self._service}",
            is_safe=True,
            print_output=False,
            print_progress_bars=False,
        )
        output = "\n".join(message.message().decode("utf-8") for _, message in results)
        return "ActiveState=active" in output and "SubState=running" in output

    def stop_slave(self) -> None:
        """Stop the replication (``STOP SLAVE``)."""
        self.execute("STOP SLAVE")

    def start_slave(self) -> None:
        """Start the replication (``START SLAVE``), then give it a second to connect."""
        self.execute("START SLAVE")
        sleep(1)

    def show_slave_status(self) -> dict[str, Any]:
        """Return the replication status (``SHOW SLAVE STATUS``), column names to values.

        Raises:
            spicerack.mysql.MysqlError: if the instance does not replicate from anywhere.
            NotImplementedError: if the instance replicates from several sources.

        """
        query = "SHOW SLAVE STATUS"
        with self.cursor() as (_, cursor):
            num_rows = cursor.execute(query)
            if not num_rows:
                raise MysqlError(f"{query} seems to have been executed on a master.")
            if num_rows > 1:
                raise NotImplementedError(f"Multisource setup are not implemented. Got {num_rows} rows.")
            return cast(dict[str, Any], cursor.fetchone())

    def show_master_status(self) -> dict[str, Any]:
        """Return the binlog status (``SHOW MASTER STATUS``), column names to values.

        Raises:
            spicerack.mysql.MysqlError: if the binlog is disabled.

        """
        query = "SHOW MASTER STATUS"
        status = self.fetch_one_row(query)
        if not status:
            raise MysqlError(f"{query} seems to have been executed on a host with binlog disabled.")
        return status

    def set_master_use_gtid(self, setting: MasterUseGTID) -> None:
        """Set how the instance replicates: with GTID from one of two positions, or without GTID.

        Arguments:
            setting: the value of ``MASTER_USE_GTID``.

        Raises:
            spicerack.mysql.MysqlError: if ``setting`` is not a :py:class:`MasterUseGTID`.

        """
        if not isinstance(setting, MasterUseGTID):
            raise MysqlError(f"Only instances of MasterUseGTID are accepted, got: {type(setting)}")

        # MariaDB wants a bare keyword here: a placeholder would quote it.
        self.execute(f"CHANGE MASTER TO MASTER_USE_GTID={setting.value}")

    def stop_mysql(self) -> Iterator[tuple[NodeSet, MsgTreeElem]]:
        """Stop the instance's systemd unit and return the command's results."""
        return self.host.run_sync(f"{SYSTEMCTL} stop {self._service}")

    def status_mysql(self) -> Iterator[tuple[NodeSet, MsgTreeElem]]:
        """Return the results of ``systemctl status`` of the instance's unit (also in DRY-RUN; any exit code)."""
        return self.host.run_sync(Command(f"{SYSTEMCTL} status {self._service}", ok_codes=[]), is_safe=True)

    def start_mysql(self) -> Iterator[tuple[NodeSet, MsgTreeElem]]:
        """Start the instance's systemd unit and return the command's results."""
        return self.host.run_sync(f"{SYSTEMCTL} start {self._service}", print_output=True)

    def restart_mysql(self) -> Iterator[tuple[NodeSet, MsgTreeElem]]:
        """Restart the instance's systemd unit and return the command's results."""
        return self.host.run_sync(f"{SYSTEMCTL} restart {self._service}")

    def clean_data_dir(self, *, skip_confirmation: bool = False) -> None:
        """Delete the instance's data directory, after the operator's confirmation.

        Arguments:
            skip_confirmation: do not ask the operator.

        Raises:
            wmflib.interactive.AbortError: if the operator does not confirm.

        """
        command = f"/usr/bin/rm -rf {self._data_dir}"
        if not skip_confirmation:
            ask_confirmation(f"ATTENTION: destructive action for {self.host}: {command}. Are you sure to proceed?")
        self.host.run_sync(command)

    def upgrade(self) -> Iterator[tuple[NodeSet, MsgTreeElem]]:
        """Run ``mysql_upgrade`` of the installed version on the instance and return the command's results."""
        return self.host.run_sync(f"$(readlink -f {MYSQL_UPGRADE}) --socket {self._sock} --force", print_output=True)

    def get_replication_info(self) -> ReplicationInfo:
        """Return where the instance is in its primary's binlog, to make another instance replicate from there.

        Raises:
            spicerack.mysql.MysqlError: if the replication status lacks any of the needed values.

        """
        status = self.show_slave_status()
        info = ReplicationInfo(
            primary=status.get("Master_Host") or "",
            binlog=status.get("Master_Log_File") or "",
            position=_as_int(status.get("Exec_Master_Log_Pos")),
            port=_as_int(status.get("Master_Port")),
        )
        if not (info.primary and info.binlog and info.position > -1 and info.port > -1):
            raise MysqlError(f"Could not find the replication position: {info}")

        logger.debug("Replication info for %s: %s", self.host, info)
        return info

    def prep_src_for_cloning(self) -> ReplicationInfo:
        """Make the instance ready to be copied: stop its replication, take its position, stop it.

        Returns:
            Where the copy will have to resume the replication from.

        """
        self.stop_slave()
        replication_info = self.get_replication_info()
        self.stop_mysql()
        return replication_info

    def set_replication_parameters(self, *, replication_info: ReplicationInfo, user: str, password: str) -> None:
        """Point the instance's replication (over TLS) at the given primary and binlog position.

        Arguments:
            replication_info: the primary, its port and the binlog position.
            user: the replication user.
            password: the replication user's password (never logged).

        """
        self.execute(
            "CHANGE MASTER TO master_host=%(primary)s, master_port=%(port)s, master_ssl=1, "
            "master_log_file=%(binlog)s, master_log_pos=%(position)s, "
            "master_user=%(user)s, master_password=%(password)s",
            {
                "primary": replication_info.primary,
                "port": replication_info.port,
                "binlog": replication_info.binlog,
                "position": replication_info.position,
                "user": user,
                "password": password,
            },
        )

    def post_clone_reset_with_slave_stopped(self) -> None:
        """Prepare a freshly copied instance: own its data, start it without replication, forget the old source."""
        self.host.run_sync(
            f"chown -R mysql:mysql {self._data_dir}",
            f'{SYSTEMCTL} set-environment MYSQLD_OPTS="--skip-slave-start"',
        )
        self.start_mysql()
        self.stop_slave()
        self.execute("RESET SLAVE ALL")

    def resume_replication(self) -> None:
        """Bring the copied source back: start it without replication, upgrade, restart, start the replication."""
        self.host.run_sync(f'{SYSTEMCTL} set-environment MYSQLD_OPTS="--skip-slave-start"')
        self.start_mysql()
        self.upgrade()
        self.restart_mysql()
        self.start_slave()

    @retry(tries=480, delay=timedelta(seconds=60), backoff_mode="constant", exceptions=(MysqlReplagError,))
    def wait_for_replication(self, threshold: float | Decimal = Decimal("1.0")) -> None:
        """Wait until the replication lag is at most ``threshold`` seconds (checked every minute, up to 8 hours).

        Arguments:
            threshold: the lag, in seconds, under which the replication is in sync.

        Raises:
            spicerack.mysql.MysqlReplagError: if the lag is still above the threshold after the last check.

        """
        lag = self.replication_lag()
        if lag > threshold:
            raise MysqlReplagError(f"Replication lag higher than the threshold ({threshold}s): {lag}s")

    def replication_lag(self) -> Decimal:
        """Return the replication lag in seconds, from the newest heartbeat in ``heartbeat.heartbeat``.

        Raises:
            spicerack.mysql.MysqlError: if there is no heartbeat to compute the lag from.

        """
        query = (
            "SELECT greatest(0, TIMESTAMPDIFF(MICROSECOND, max(ts), UTC_TIMESTAMP(6)) - 500000)/1000000 AS lag "
            "FROM heartbeat ORDER BY ts LIMIT 1"
        )
        row = self.fetch_one_row(query, database="heartbeat")
        if not row:
            raise MysqlError("The replication lag query returned no data")
        lag = row.get("lag")
        if lag is None:
            raise MysqlError(f"Unable to get lag information from: {row}")
        return Decimal(lag)


class MysqlRemoteHosts(RemoteHostsAdapter):
    """Database hosts to run queries on with the ``mysql`` command line client."""

    def __iter__(self) -> Iterator["MysqlRemoteHosts"]:
        """Yield one instance per host."""
        yield from self.split(len(self))

    def split(self, n_slices: int) -> Iterator["MysqlRemoteHosts"]:
        """Yield the hosts split in ``n_slices`` groups of (almost) equal size.

        Arguments:
            n_slices: how many groups.

        """
        for remote_hosts in self._remote_hosts.split(n_slices):
            yield MysqlRemoteHosts(remote_hosts)

    def run_query(self, query: str, database: str = "", **kwargs: Any) -> Iterator[tuple[NodeSet, MsgTreeElem]]:
        """Run a query on all the hosts with the ``mysql`` client (default connection: the host's own settings).

        Arguments:
            query: the query; double quotes in it must be already escaped.
            database: the database to use, if any.
            **kwargs: passed to :py:meth:`spicerack.remote.RemoteHosts.run_sync` (``is_safe`` to run it also in
                DRY-RUN); ``print_output`` and ``print_progress_bars`` default to False.

        Returns:
            The results of the command: the output has no column names, tab-separated columns.

        Raises:
            spicerack.remote.RemoteExecutionError: if the command fails.

        """
        command = f'{MYSQL_CLIENT} --skip-ssl --skip-column-names --batch -e "{query}" {database}'.strip()
        kwargs.setdefault("print_progress_bars", False)
        kwargs.setdefault("print_output", False)
        return self._remote_hosts.run_sync(command, **kwargs)

    def list_hosts_instances(self, *, group: bool = False) -> list[Instance]:
        """Return the MariaDB instances of the host: the named ones of a multi-instance host, else the single one.

        Arguments:
            group: reserved for running on several instances at once, not supported yet.

        Raises:
            NotImplementedError: with more than one host, or with ``group``.
            spicerack.remote.RemoteExecutionError: if the lookup fails.

        """
        if len(self._remote_hosts) != 1:
            raise NotImplementedError("Only single host are supported at this time.")
        if group:
            raise NotImplementedError("Grouping and parallelization are not supported at this time.")

        names = self._multi_instance_names()
        if names:
            return [Instance(self._remote_hosts, name=name) for name in names]
        if self._has_single_instance():
            return [Instance(self._remote_hosts)]
        return []

    def _multi_instance_names(self) -> list[str]:
        """Return the instance names of the multi-instance configuration files (``<name>.cnf``), if any."""
        directory = MULTI_INSTANCE_CONFIG_DIR
        results = self._remote_hosts.run_sync(
            f'if [ -d "{directory}" ] && [ -r "{directory}" ]; then '
            f'/usr/bin/find "{directory}" -maxdepth 1 -type f -name "*.cnf" -printf "%f\\n"; fi',
            is_safe=True,
            print_output=False,
            print_progress_bars=False,
        )
        names: list[str] = []
        for _, output in results:
            names.extend(line.removesuffix(".cnf") for line in output.message().decode().splitlines() if line)
        return sorted(names)

    def _has_single_instance(self) -> bool:
        """Tell whether the host's configuration has a ``[mysqld]`` section."""
        try:
            self._remote_hosts.run_sync(
                f"/usr/bin/grep -q '^\\[mysqld\\]$' \"{SINGLE_INSTANCE_CONFIG}\"",
                is_safe=True,
                print_output=False,
                print_progress_bars=False,
            )
        except RemoteExecutionError:
            return False
        return True


class Mysql:
    """Select database hosts with cumin and act on the core sections' masters."""

    heartbeat_query: str = (
        "SELECT ts FROM heartbeat.heartbeat WHERE datacenter = '{dc}' and shard = '{section}' ORDER BY ts DESC LIMIT 1"
    )
    """The query of a section's latest heartbeat written by a datacenter (``{dc}`` and ``{section}`` to format)."""

    def __init__(self, remote: Remote, dry_run: bool = True) -> None:
        """Create the instance.

        Arguments:
            remote: the entry point to cumin.
            dry_run: whether this is a DRY-RUN.

        """
        self._remote = remote
        self._dry_run = dry_run

    def get_dbs(self, query: str) -> MysqlRemoteHosts:
        """Return the hosts matching a cumin query.

        Arguments:
            query: the cumin query.

        Raises:
            spicerack.remote.RemoteError: if the query fails or matches nothing.

        """
        return MysqlRemoteHosts(self._remote.query(query))

    def get_core_dbs(
        self,
        *,
        datacenter: str | None = None,
        section: str | None = None,
        replication_role: str | None = None,
        excludes: tuple[str, ...] = (),
    ) -> MysqlRemoteHosts:
        """Return the core database hosts matching all the given filters, through cumin's ``db-*`` aliases.

        Arguments:
            datacenter: one of :py:data:`wmflib.constants.CORE_DATACENTERS`.
            section: one of :py:data:`spicerack.mysql.CORE_SECTIONS`.
            replication_role: one of :py:data:`spicerack.mysql.REPLICATION_ROLES`.
            excludes: sections (of :py:data:`spicerack.mysql.CORE_SECTIONS`) to leave out.

        Raises:
            spicerack.mysql.MysqlError: on a value that is not valid, or if the masters found are not one per
                section and datacenter.

        """
        query_parts = ["A:db-core"]
        expected_dcs = len(CORE_DATACENTERS)
        expected_sections = len(CORE_SECTIONS)

        if datacenter is not None:
            if datacenter not in CORE_DATACENTERS:
                raise MysqlError(f"Got invalid datacenter {datacenter}, accepted values are: {CORE_DATACENTERS}")
            expected_dcs = 1
            query_parts.append(f"A:{datacenter}")

        for exclude in excludes:
            if exclude not in CORE_SECTIONS:
                raise MysqlError(f"Got invalid excludes {exclude}, accepted values are: {CORE_SECTIONS}")
            expected_sections -= 1
            query_parts.append(f"not A:db-section-{exclude}")

        if section is not None:
            if section not in CORE_SECTIONS:
                raise MysqlError(f"Got invalid section {section}, accepted values are: {CORE_SECTIONS}")
            expected_sections = 1
            query_parts.append(f"A:db-section-{section}")

        if replication_role is not None:
            if replication_role not in REPLICATION_ROLES:
                raise MysqlError(
                    f"Got invalid replication_role {replication_role}, accepted values are: {REPLICATION_ROLES}"
                )
            query_parts.append(f"A:db-role-{replication_role}")

        mysql_hosts = MysqlRemoteHosts(self._remote.query(" and ".join(query_parts)))
        expected = expected_dcs * expected_sections
        if replication_role == "master" and len(mysql_hosts) != expected:
            raise MysqlError(f"Matched {len(mysql_hosts)} masters, expected {expected}")

        return mysql_hosts

    def set_core_masters_readonly(self, datacenter: str) -> None:
        """Set the core masters of a datacenter read-only, then verify it.

        Arguments:
            datacenter: the datacenter.

        Raises:
            spicerack.remote.RemoteExecutionError: if the query fails.
            spicerack.mysql.MysqlError: if the verification fails.

        """
        logger.debug("Setting core DB masters in %s to be read-only", datacenter)
        self.get_core_dbs(datacenter=datacenter, replication_role="master").run_query("SET GLOBAL read_only=1")
        self.verify_core_masters_readonly(datacenter, True)

    def set_core_masters_readwrite(self, datacenter: str) -> None:
        """Set the core masters of a datacenter read-write, then verify it.

        Arguments:
            datacenter: the datacenter.

        Raises:
            spicerack.remote.RemoteExecutionError: if the query fails.
            spicerack.mysql.MysqlError: if the verification fails.

        """
        logger.debug("Setting core DB masters in %s to be read-write", datacenter)
        self.get_core_dbs(datacenter=datacenter, replication_role="master").run_query("SET GLOBAL read_only=0")
        self.verify_core_masters_readonly(datacenter, False)

    def verify_core_masters_readonly(self, datacenter: str, is_read_only: bool) -> None:
        """Check that every core master of a datacenter has the given read-only mode (in DRY-RUN: only logged).

        Arguments:
            datacenter: the datacenter.
            is_read_only: the expected mode.

        Raises:
            spicerack.mysql.MysqlError: if any master has the other mode.

        """
        logger.debug("Verifying core DB masters in %s have read-only=%d", datacenter, is_read_only)
        target = self.get_core_dbs(datacenter=datacenter, replication_role="master")
        expected = str(int(is_read_only))
        failed = False
        for nodeset, output in target.run_query("SELECT @@global.read_only", is_safe=True):
            response = output.message().decode().strip()
            if response != expected:
                logger.error("Expected output to be '%s', got '%s' for hosts %s", expected, response, nodeset)
                failed = True

        if failed and not self._dry_run:
            raise MysqlError(f"Verification failed that core DB masters in {datacenter} have read-only={is_read_only}")

    def check_core_masters_in_sync(self, dc_from: str, dc_to: str) -> None:
        """Wait until every core master in ``dc_to`` has replicated the latest heartbeat of ``dc_from``'s masters.

        Arguments:
            dc_from: the datacenter whose masters' heartbeats are the reference.
            dc_to: the datacenter whose masters must catch up.

        Raises:
            spicerack.mysql.MysqlError: if a master is still behind after the retries.

        """
        logger.debug("Waiting for the core DB masters in %s to catch up", dc_to)
        heartbeats = self.get_core_masters_heartbeats(dc_from, dc_from)
        self.check_core_masters_heartbeats(dc_to, dc_from, heartbeats)

    def get_core_masters_heartbeats(self, datacenter: str, heartbeat_dc: str) -> dict[str, datetime]:
        """Return each core section's latest heartbeat written by ``heartbeat_dc``, read on ``datacenter``'s masters.

        Arguments:
            datacenter: where the masters to read from are.
            heartbeat_dc: the datacenter that wrote the heartbeats.

        Returns:
            Section names to heartbeats, for example ``{'s1': datetime.datetime(2018, 1, 2, 11, 22, 33, 123456)}``.

        Raises:
            spicerack.mysql.MysqlError: if a heartbeat is missing or not a timestamp.

        """
        heartbeats = {}
        for section in CORE_SECTIONS:
            core_dbs = self.get_core_dbs(datacenter=datacenter, section=section, replication_role="master")
            heartbeats[section] = Mysql._get_heartbeat(core_dbs, section, heartbeat_dc)
        return heartbeats

    def check_core_masters_heartbeats(
        self, datacenter: str, heartbeat_dc: str, heartbeats: dict[str, datetime]
    ) -> None:
        """Wait until the core masters of ``datacenter`` have heartbeats newer than the given ones.

        Arguments:
            datacenter: where the masters to check are.
            heartbeat_dc: the datacenter that wrote the heartbeats.
            heartbeats: section names to the heartbeats to go past.

        Raises:
            spicerack.mysql.MysqlError: if a master is still behind after the retries.

        """
        for section, heartbeat in heartbeats.items():
            self._check_core_master_in_sync(datacenter, heartbeat_dc, section, heartbeat)

    @retry(exceptions=(MysqlError,))
    def _check_core_master_in_sync(
        self, datacenter: str, heartbeat_dc: str, section: str, parent_heartbeat: datetime
    ) -> None:
        """Raise unless the section's master in ``datacenter`` has a heartbeat strictly newer than the parent's."""
        core_dbs = self.get_core_dbs(datacenter=datacenter, section=section, replication_role="master")
        local_heartbeat = Mysql._get_heartbeat(core_dbs, section, heartbeat_dc)
        # Strictly newer: heartbeats are written also in read-only mode, once a second, so an event written just
        # before the switch to read-only is surely replicated only once the following heartbeat is.
        if local_heartbeat <= parent_heartbeat:
            delta = (local_heartbeat - parent_heartbeat).total_seconds()
            raise MysqlError(
                f"Heartbeat from master {core_dbs} for section {section} not yet in sync: "
                f"{local_heartbeat} <= {parent_heartbeat} (delta={delta})"
            )

    @staticmethod
    def _get_heartbeat(mysql_hosts: MysqlRemoteHosts, section: str, heartbeat_dc: str) -> datetime:
        """Return the section's latest heartbeat written by ``heartbeat_dc``, read on the given hosts."""
        query = Mysql.heartbeat_query.format(dc=heartbeat_dc, section=section)
        for _, output in mysql_hosts.run_query(query, is_safe=True):
            heartbeat = output.message().decode().strip()
            try:
                return datetime.strptime(heartbeat, "%Y-%m-%dT%H:%M:%S.%f")
            except ValueError as e:
                raise MysqlError(f"Unable to convert heartbeat '{heartbeat}' into datetime") from e

        raise MysqlError(f"Unable to get heartbeat from master {mysql_hosts} for section {section}")


def _is_dry_run(hosts: RemoteHosts) -> bool:
    """Whether the hosts run in DRY-RUN mode."""
    dry_run = getattr(hosts, "dry_run", None)
    if dry_run is None:
        dry_run = getattr(hosts, "_dry_run", True)
    return bool(dry_run)


def _mask_secrets(query: str) -> str:
    """Return the query with the literals of passwords replaced by ``'*****'``, fit for the logs."""
    return _SECRET_LITERAL.sub(r"\1'*****'", query)


def _as_int(value: Any) -> int:
    """Return the value as an int, -1 when it is missing or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
