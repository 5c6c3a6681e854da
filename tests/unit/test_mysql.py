"""Unit tests of spicerack.mysql: command lines, query building, parsing and checks (servers are in integration)."""

import inspect
import subprocess
import sys
import typing
from datetime import datetime
from decimal import Decimal
from unittest import mock

import pytest
from cumin import NodeSet

from spicerack import Spicerack, mysql
from spicerack.mysql import (
    CORE_SECTIONS,
    REPLICATION_ROLES,
    Instance,
    MasterUseGTID,
    Mysql,
    MysqlClient,
    MysqlError,
    MysqlRemoteHosts,
    MysqlReplagError,
    ReplicationInfo,
)
from spicerack.remote import RemoteExecutionError, RemoteHosts
from tests.unit.remote_stub import StubRemoteHosts


def failure():
    return RemoteExecutionError(1, "Cumin execution failed")


class StubRemote:
    """Answers each query with stub hosts: the number of hosts per query is given by ``sizes``."""

    def __init__(self, sizes=None, outputs=(), dry_run=False):
        self.sizes = sizes or {}
        self.outputs = list(outputs)
        self.dry_run = dry_run
        self.queries = []
        self.hosts = []

    def query(self, query):
        self.queries.append(query)
        size = self.sizes.get(query, 1)
        hosts = StubRemoteHosts(f"db[1001-{1000 + size}]" if size > 1 else "db1001", dry_run=self.dry_run)
        hosts.outputs = self.outputs  # one queue of answers across all the queries
        self.hosts.append(hosts)
        return hosts


def test_constants_are_the_reference_values():
    assert CORE_SECTIONS == ("s6", "s5", "s2", "s7", "s3", "s8", "s4", "s1", "x1", "x3", "es6", "es7")
    assert REPLICATION_ROLES == ("master", "slave", "standalone")
    assert [item.value for item in MasterUseGTID] == ["current_pos", "slave_pos", "no"]
    assert ReplicationInfo("db1", "bin.000001", 4, 3306).port == 3306


def test_import_spicerack_does_not_import_mysql_nor_pymysql():
    code = "import sys, spicerack; print('spicerack.mysql' in sys.modules or 'pymysql' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_accessor_builds_mysql_on_the_remote(tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr(Spicerack, "remote", lambda self: built.append("remote") or "the-remote")
    client = Spicerack(spicerack_config_dir=str(tmp_path), dry_run=True).mysql()
    assert isinstance(client, Mysql)
    assert built == ["remote"]
    assert client._remote == "the-remote"
    assert client._dry_run is True


class TestInstance:
    def test_single_instance_paths(self):
        instance = Instance(StubRemoteHosts("db1001"))
        assert str(instance) == "db1001 (single-instance)"
        assert instance.socket == "/run/mysqld/mysqld.sock"
        assert instance.data_dir == "/srv/sqldata"
        assert instance.name == ""

    def test_named_instance_paths(self):
        instance = Instance(StubRemoteHosts("db1001"), name="s1")
        assert str(instance) == "db1001 (s1)"
        assert instance.socket == "/run/mysqld/mysqld.s1.sock"
        assert instance.data_dir == "/srv/sqldata.s1"

    def test_only_one_host(self):
        with pytest.raises(NotImplementedError, match=r"Only single hosts are currently supported, got 2: db\[1-2\]"):
            Instance(StubRemoteHosts("db[1-2]"))

    def test_a_host_object_of_length_zero_is_accepted(self):
        host = mock.MagicMock(spec=RemoteHosts)
        host.__len__.return_value = 0
        instance = Instance(host, name="s1")
        assert instance.host is host

    def test_run_query_command_and_defaults(self):
        hosts = StubRemoteHosts("db1001", ["1"])
        Instance(hosts, name="s1").run_query("SELECT 1", "mydb", is_safe=True)
        assert hosts.calls == [
            (
                ['/usr/local/bin/mysql --socket /run/mysqld/mysqld.s1.sock --batch --execute "SELECT 1" mydb'],
                {"is_safe": True, "print_progress_bars": False, "print_output": False},
            )
        ]

    def test_run_query_failure_is_a_mysql_error(self):
        hosts = StubRemoteHosts("db1001", [failure()])
        with pytest.raises(MysqlError, match=r"^Failed to run 'SELECT 1' on db1001$"):
            Instance(hosts).run_query("SELECT 1")

    def test_run_vertical_query_parses_rows(self, caplog):
        output = (
            "*************************** 1. row ***************************\n"
            "   Master_Host: db1001.eqiad.wmnet\n"
            "Last_Error: a: b\n"
            "garbage line\n"
            "*************************** 2. row ***************************\n"
            "   Master_Host: db2001.codfw.wmnet\n"
        )
        hosts = StubRemoteHosts("db1001", [output])
        rows = Instance(hosts).run_vertical_query("SHOW SLAVE STATUS", is_safe=True)
        assert rows == [
            {"Master_Host": "db1001.eqiad.wmnet", "Last_Error": "a: b"},
            {"Master_Host": "db2001.codfw.wmnet"},
        ]
        assert hosts.commands[0].endswith('--execute "SHOW SLAVE STATUS\\G"')
        assert "Failed to parse into key/value for query 'SHOW SLAVE STATUS' this line: garbage line" in caplog.text

    def test_run_vertical_query_without_output(self):
        assert Instance(StubRemoteHosts("db1001", [None])).run_vertical_query("SELECT 1") == []

    @pytest.mark.parametrize(
        ("output", "expected"),
        [
            ("ActiveState=active\nSubState=running", True),
            ("ActiveState=active\nSubState=exited", False),
            ("ActiveState=inactive\nSubState=dead", False),
        ],
    )
    def test_is_running(self, output, expected):
        hosts = StubRemoteHosts("db1001", [output])
        assert Instance(hosts, name="s2").is_running() is expected
        assert hosts.commands == ["/usr/bin/systemctl show -p ActiveState -p SubState mariadb@s2.service"]
        assert hosts.calls[0][1]["is_safe"] is True

    def test_service_commands(self):
        hosts = StubRemoteHosts("db1001")
        instance = Instance(hosts)
        instance.stop_mysql()
        instance.start_mysql()
        instance.restart_mysql()
        instance.status_mysql()
        instance.upgrade()
        assert hosts.commands == [
            "/usr/bin/systemctl stop mariadb.service",
            "/usr/bin/systemctl start mariadb.service",
            "/usr/bin/systemctl restart mariadb.service",
            "/usr/bin/systemctl status mariadb.service",
            "$(readlink -f /usr/local/bin/mysql_upgrade) --socket /run/mysqld/mysqld.sock --force",
        ]
        assert hosts.calls[3][1] == {"is_safe": True}  # status: read-only, any exit code

    def test_clean_data_dir_asks_first(self, monkeypatch):
        asked = []
        monkeypatch.setattr(mysql, "ask_confirmation", asked.append)
        hosts = StubRemoteHosts("db1001")
        Instance(hosts, name="s3").clean_data_dir()
        Instance(hosts, name="s3").clean_data_dir(skip_confirmation=True)
        assert hosts.commands == ["/usr/bin/rm -rf /srv/sqldata.s3"] * 2
        assert len(asked) == 1
        assert "destructive action for db1001: /usr/bin/rm -rf /srv/sqldata.s3" in asked[0]

    def test_clean_data_dir_aborted_runs_nothing(self, monkeypatch):
        def abort(message):
            raise RuntimeError("aborted")

        monkeypatch.setattr(mysql, "ask_confirmation", abort)
        hosts = StubRemoteHosts("db1001")
        with pytest.raises(RuntimeError):
            Instance(hosts).clean_data_dir()
        assert hosts.commands == []

    def test_set_master_use_gtid_needs_the_enum(self, monkeypatch):
        instance = Instance(StubRemoteHosts("db1001"))
        executed = []
        monkeypatch.setattr(instance, "execute", executed.append)
        instance.set_master_use_gtid(MasterUseGTID.NO)
        assert executed == ["CHANGE MASTER TO MASTER_USE_GTID=no"]
        with pytest.raises(MysqlError, match="Only instances of MasterUseGTID are accepted, got: <class 'str'>"):
            instance.set_master_use_gtid("no")

    def test_get_replication_info(self, monkeypatch):
        instance = Instance(StubRemoteHosts("db1001"))
        status = {
            "Master_Host": "db1002",
            "Master_Log_File": "bin.000002",
            "Exec_Master_Log_Pos": 42,
            "Master_Port": 3306,
        }
        monkeypatch.setattr(instance, "show_slave_status", lambda: status)
        assert instance.get_replication_info() == ReplicationInfo("db1002", "bin.000002", 42, 3306)
        status["Master_Log_File"] = ""
        with pytest.raises(MysqlError, match="Could not find the replication position: ReplicationInfo"):
            instance.get_replication_info()

    def test_primary_is_looked_up_once(self, monkeypatch):
        instance = Instance(StubRemoteHosts("db1001"))
        calls = []
        monkeypatch.setattr(instance, "show_slave_status", lambda: calls.append(1) or {"Master_Host": "db1002"})
        assert instance.primary == "db1002"
        assert instance.primary == "db1002"
        assert calls == [1]

    def test_clone_workflows_order(self, monkeypatch):
        hosts = StubRemoteHosts("db1001")
        instance = Instance(hosts, name="s1")
        steps = []
        monkeypatch.setattr(instance, "execute", lambda query, *args, **kwargs: steps.append(query))
        monkeypatch.setattr(mysql, "sleep", lambda seconds: steps.append(f"sleep {seconds}"))
        monkeypatch.setattr(
            instance,
            "show_slave_status",
            lambda: {"Master_Host": "db2", "Master_Log_File": "b.1", "Exec_Master_Log_Pos": 4, "Master_Port": 3306},
        )
        assert instance.prep_src_for_cloning() == ReplicationInfo("db2", "b.1", 4, 3306)
        instance.post_clone_reset_with_slave_stopped()
        instance.resume_replication()
        assert steps == ["STOP SLAVE", "STOP SLAVE", "RESET SLAVE ALL", "START SLAVE", "sleep 1"]
        assert hosts.commands == [
            "/usr/bin/systemctl stop mariadb@s1.service",
            "chown -R mysql:mysql /srv/sqldata.s1",
            '/usr/bin/systemctl set-environment MYSQLD_OPTS="--skip-slave-start"',
            "/usr/bin/systemctl start mariadb@s1.service",
            '/usr/bin/systemctl set-environment MYSQLD_OPTS="--skip-slave-start"',
            "/usr/bin/systemctl start mariadb@s1.service",
            "$(readlink -f /usr/local/bin/mysql_upgrade) --socket /run/mysqld/mysqld.s1.sock --force",
            "/usr/bin/systemctl restart mariadb@s1.service",
        ]

    def test_set_replication_parameters_passes_values_as_parameters(self, monkeypatch):
        instance = Instance(StubRemoteHosts("db1001"))
        executed = []
        monkeypatch.setattr(instance, "execute", lambda query, params: executed.append((query, params)))
        instance.set_replication_parameters(
            replication_info=ReplicationInfo("db2", "b.1", 4, 3306), user="repl", password="pw"
        )
        query, params = executed[0]
        assert "master_password=%(password)s" in query
        assert "master_ssl=1" in query
        assert params == {
            "primary": "db2",
            "port": 3306,
            "binlog": "b.1",
            "position": 4,
            "user": "repl",
            "password": "pw",
        }

    def test_wait_for_replication(self, monkeypatch):
        instance = Instance(StubRemoteHosts("db1001", dry_run=True))
        monkeypatch.setattr(instance, "replication_lag", lambda: Decimal("0.5"))
        instance.wait_for_replication()
        monkeypatch.setattr(instance, "replication_lag", lambda: Decimal("3.2"))
        instance.wait_for_replication(threshold=5)
        # DRY-RUN: tried once, no waiting
        with pytest.raises(MysqlReplagError, match=r"Replication lag higher than the threshold \(1.0s\): 3.2s"):
            instance.wait_for_replication()

    @pytest.mark.parametrize(
        ("row", "message"),
        [({}, "The replication lag query returned no data"), ({"lag": None}, "Unable to get lag information from")],
    )
    def test_replication_lag_errors(self, monkeypatch, row, message):
        instance = Instance(StubRemoteHosts("db1001"))
        monkeypatch.setattr(instance, "fetch_one_row", lambda query, **kwargs: row)
        with pytest.raises(MysqlError, match=message):
            instance.replication_lag()

    def test_replication_lag_reads_the_heartbeat_database(self, monkeypatch):
        instance = Instance(StubRemoteHosts("db1001"))
        seen = []
        monkeypatch.setattr(instance, "fetch_one_row", lambda query, **kwargs: seen.append(kwargs) or {"lag": 1.5})
        assert instance.replication_lag() == Decimal("1.5")
        assert seen == [{"database": "heartbeat"}]


class FakeConnection:
    """Records the parameters PyMySQL would connect with (no network)."""

    instances = []

    def __init__(self, **params):
        self.params = params
        self.closed = False
        FakeConnection.instances.append(self)

    def close(self):
        self.closed = True


class TestMysqlClient:
    def test_defaults(self, tmp_path, monkeypatch):
        ca = tmp_path / "ca.crt"
        ca.write_text("")
        monkeypatch.setattr(mysql, "WMF_CA_BUNDLE_PATH", str(ca))
        monkeypatch.setattr(mysql, "Connection", FakeConnection)
        monkeypatch.setenv("HOME", str(tmp_path))
        with MysqlClient(dry_run=False).connect(host="clouddb1001", database="x") as connection:
            assert connection.params == {
                "charset": "utf8mb4",
                "cursorclass": mysql.DictCursor,
                "read_default_file": str(tmp_path / ".my.cnf"),
                "read_default_group": "clientlabsdb",
                "ssl": {"ca": str(ca)},
                "host": "clouddb1001",
                "database": "x",
            }
        assert connection.closed
        with MysqlClient(dry_run=False).connect(host="db1001", ssl={}, read_default_file=None) as connection:
            assert connection.params["read_default_group"] == "client"
            assert connection.params["ssl"] == {}
            assert connection.params["read_default_file"] is None

    def test_the_ca_bundle_path_goes_to_pymysql_even_if_missing(self, tmp_path, monkeypatch):
        # As the reference: pymysql itself reports a missing bundle when it connects.
        monkeypatch.setattr(mysql, "WMF_CA_BUNDLE_PATH", str(tmp_path / "nope.crt"))
        monkeypatch.setattr(mysql, "Connection", FakeConnection)
        with MysqlClient(dry_run=False).connect(host="db1001") as connection:
            assert connection.params["ssl"] == {"ca": str(tmp_path / "nope.crt")}
        with MysqlClient(dry_run=False).connect(host="db1001", ssl_disabled=True) as connection:
            assert connection.params["ssl_disabled"] is True

    def test_cursor_is_typed_any_as_in_the_reference(self):
        (pair,) = typing.get_args(inspect.signature(Instance.cursor.__wrapped__).return_annotation)
        assert typing.get_args(pair)[1] is typing.Any


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "CHANGE MASTER TO master_host='db1', master_password='s3cr\\'et', master_user='r'",
            "CHANGE MASTER TO master_host='db1', master_password='*****', master_user='r'",
        ),
        ("CREATE USER 'a'@'%' IDENTIFIED BY 'pw'", "CREATE USER 'a'@'%' IDENTIFIED BY '*****'"),
        ("SET PASSWORD FOR 'a' = PASSWORD('pw')", "SET PASSWORD FOR 'a' = PASSWORD('*****')"),
        ("SELECT 'password'", "SELECT 'password'"),
    ],
)
def test_mask_secrets(query, expected):
    assert mysql._mask_secrets(query) == expected


class TestMysqlRemoteHosts:
    def test_run_query_command(self):
        hosts = StubRemoteHosts("db[1001-1002]")
        MysqlRemoteHosts(hosts).run_query("SELECT 1", batch_size=1)
        assert hosts.calls == [
            (
                ['/usr/local/bin/mysql --skip-ssl --skip-column-names --batch -e "SELECT 1"'],
                {"batch_size": 1, "print_progress_bars": False, "print_output": False},
            )
        ]

    def test_iterates_one_host_at_a_time(self):
        hosts = MysqlRemoteHosts(RemoteHosts(None, NodeSet("db[1001-1003]"), dry_run=True))
        assert [str(item) for item in hosts] == ["db1001", "db1002", "db1003"]
        assert [len(item) for item in hosts.split(2)] == [2, 1]
        assert all(isinstance(item, MysqlRemoteHosts) for item in hosts)

    def test_multi_instance_host(self):
        hosts = StubRemoteHosts("db1001", ["s4.cnf\ns2.cnf"])
        instances = MysqlRemoteHosts(hosts).list_hosts_instances()
        assert [(item.name, item.socket) for item in instances] == [
            ("s2", "/run/mysqld/mysqld.s2.sock"),
            ("s4", "/run/mysqld/mysqld.s4.sock"),
        ]
        assert "/etc/mysql/mysqld.conf.d" in hosts.commands[0]
        assert hosts.calls[0][1]["is_safe"] is True

    def test_single_instance_host(self):
        hosts = StubRemoteHosts("db1001", [None, ""])
        instances = MysqlRemoteHosts(hosts).list_hosts_instances()
        assert [(item.name, item.data_dir) for item in instances] == [("", "/srv/sqldata")]
        assert hosts.commands[1] == "/usr/bin/grep -q '^\\[mysqld\\]$' \"/etc/my.cnf\""

    def test_host_without_instances(self):
        assert MysqlRemoteHosts(StubRemoteHosts("db1001", [None, failure()])).list_hosts_instances() == []

    def test_only_single_hosts_without_grouping(self):
        with pytest.raises(NotImplementedError, match=r"Only single host are supported at this time\."):
            MysqlRemoteHosts(StubRemoteHosts("db[1-2]")).list_hosts_instances()
        with pytest.raises(NotImplementedError, match="Grouping and parallelization are not supported"):
            MysqlRemoteHosts(StubRemoteHosts("db1")).list_hosts_instances(group=True)


EQIAD_MASTERS = "A:db-core and A:eqiad and A:db-role-master"


class TestMysql:
    def test_get_dbs(self):
        remote = StubRemote()
        hosts = Mysql(remote).get_dbs("A:db-section-s1")
        assert isinstance(hosts, MysqlRemoteHosts)
        assert remote.queries == ["A:db-section-s1"]

    @pytest.mark.parametrize(
        ("kwargs", "query"),
        [
            ({}, "A:db-core"),
            ({"datacenter": "codfw"}, "A:db-core and A:codfw"),
            ({"section": "s1", "replication_role": "slave"}, "A:db-core and A:db-section-s1 and A:db-role-slave"),
            (
                {"datacenter": "eqiad", "excludes": ("s2", "x1")},
                "A:db-core and A:eqiad and not A:db-section-s2 and not A:db-section-x1",
            ),
            (
                {"datacenter": "eqiad", "section": "s3", "replication_role": "master"},
                "A:db-core and A:eqiad and A:db-section-s3 and A:db-role-master",
            ),
        ],
    )
    def test_get_core_dbs_queries(self, kwargs, query):
        remote = StubRemote()
        Mysql(remote).get_core_dbs(**kwargs)
        assert remote.queries == [query]

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"datacenter": "esams"}, "Got invalid datacenter esams, accepted values are:"),
            ({"section": "s99"}, "Got invalid section s99, accepted values are:"),
            ({"excludes": ("s99",)}, "Got invalid excludes s99, accepted values are:"),
            ({"replication_role": "boss"}, "Got invalid replication_role boss, accepted values are:"),
        ],
    )
    def test_get_core_dbs_bad_input(self, kwargs, message):
        remote = StubRemote()
        with pytest.raises(MysqlError, match=message):
            Mysql(remote).get_core_dbs(**kwargs)
        assert remote.queries == []

    def test_get_core_dbs_counts_masters(self):
        sizes = {
            EQIAD_MASTERS: 12,
            "A:db-core and A:db-role-master": 23,
            "A:db-core and A:eqiad and not A:db-section-s1 and A:db-role-master": 11,
        }
        client = Mysql(StubRemote(sizes))
        assert len(client.get_core_dbs(datacenter="eqiad", replication_role="master")) == 12
        assert len(client.get_core_dbs(datacenter="eqiad", replication_role="master", excludes=("s1",))) == 11
        with pytest.raises(MysqlError, match="Matched 23 masters, expected 24"):
            client.get_core_dbs(replication_role="master")

    def test_set_core_masters_readonly(self):
        remote = StubRemote({EQIAD_MASTERS: 12}, outputs=[None, "1"])
        Mysql(remote).set_core_masters_readonly("eqiad")
        commands = [command for hosts in remote.hosts for command in hosts.commands]
        assert commands == [
            '/usr/local/bin/mysql --skip-ssl --skip-column-names --batch -e "SET GLOBAL read_only=1"',
            '/usr/local/bin/mysql --skip-ssl --skip-column-names --batch -e "SELECT @@global.read_only"',
        ]
        assert remote.hosts[1].calls[0][1]["is_safe"] is True

    def test_set_core_masters_readwrite_fails_verification(self, caplog):
        remote = StubRemote({EQIAD_MASTERS: 12}, outputs=[None, {"db1001": "0", "db1002": "1"}])
        with pytest.raises(MysqlError, match="Verification failed that core DB masters in eqiad have read-only=False"):
            Mysql(remote, dry_run=False).set_core_masters_readwrite("eqiad")
        assert "Expected output to be '0', got '1' for hosts db1002" in caplog.text

    def test_verify_in_dry_run_only_logs(self, caplog):
        remote = StubRemote({EQIAD_MASTERS: 12}, outputs=["0"])
        Mysql(remote, dry_run=True).verify_core_masters_readonly("eqiad", True)
        assert "Expected output to be '1', got '0'" in caplog.text

    def test_heartbeats(self):
        stamps = [f"2024-01-02T03:04:{index:02d}.000001" for index in range(len(CORE_SECTIONS))]
        remote = StubRemote(outputs=stamps)
        heartbeats = Mysql(remote).get_core_masters_heartbeats("eqiad", "codfw")
        assert heartbeats["s6"] == datetime(2024, 1, 2, 3, 4, 0, 1)
        assert heartbeats["x3"] == datetime(2024, 1, 2, 3, 4, 9, 1)
        assert heartbeats["es7"] == datetime(2024, 1, 2, 3, 4, 11, 1)
        assert remote.queries[0] == "A:db-core and A:eqiad and A:db-section-s6 and A:db-role-master"
        assert "WHERE datacenter = 'codfw' and shard = 's6'" in remote.hosts[0].commands[0]

    @pytest.mark.parametrize(
        ("output", "message"),
        [
            ("not a date", "Unable to convert heartbeat 'not a date' into datetime"),
            (None, "Unable to get heartbeat from master db1001 for section s6"),
        ],
    )
    def test_heartbeat_errors(self, output, message):
        with pytest.raises(MysqlError, match=message):
            Mysql(StubRemote(outputs=[output])).get_core_masters_heartbeats("eqiad", "eqiad")

    def test_check_core_masters_heartbeats(self):
        parent = datetime(2024, 1, 2, 3, 4, 5)
        remote = StubRemote(outputs=["2024-01-02T03:04:06.000000"])
        Mysql(remote).check_core_masters_heartbeats("codfw", "eqiad", {"s1": parent})
        remote = StubRemote(outputs=["2024-01-02T03:04:05.000000"])
        with pytest.raises(MysqlError, match=r"for section s1 not yet in sync: .* \(delta=0.0\)"):
            Mysql(remote, dry_run=True).check_core_masters_heartbeats("codfw", "eqiad", {"s1": parent})
