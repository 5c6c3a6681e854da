"""Integration tests of spicerack.mysql against a real MariaDB primary and its GTID replica on the SSH fleet.

Native connections go over TLS with a real user and password (from ``~/.my.cnf``); queries run over SSH with the
real ``mysql`` client through each host's socket. See ``servers/mariadb.py`` for the set-up.
"""

import logging
import shutil
from decimal import Decimal

import pymysql
import pytest
from wmflib.interactive import AbortError

from spicerack import Spicerack, mysql
from spicerack.mysql import (
    CORE_SECTIONS,
    Instance,
    MasterUseGTID,
    MysqlError,
    MysqlRemoteHosts,
    ReplicationInfo,
)
from spicerack.remote import Remote
from tests.integration.servers.mariadb import (
    CLIENT_PASSWORD,
    PRIMARY_HOST,
    REPLICA_HOST,
    REPLICATION_PASSWORD,
    REPLICATION_USER,
    write_host_my_cnf,
)


@pytest.fixture
def db(mariadb_client_env):
    """The pair, with testdb.items emptied on both before and after the test."""
    mariadb_client_env.primary.sql("DELETE FROM testdb.items")
    mariadb_client_env.wait_replica_in_sync()
    yield mariadb_client_env
    mariadb_client_env.primary.sql("DELETE FROM testdb.items")


def remote(pair, dry_run=False):
    return Remote(str(pair.fleet.cumin_config), dry_run=dry_run)


def instance(pair, host, dry_run=False, name=""):
    return Instance(remote(pair, dry_run).query(host), name=name)


def test_execute_writes_through_tls_and_replicates(db):
    primary = instance(db, PRIMARY_HOST)
    affected = primary.execute(
        "INSERT INTO items VALUES (%(id)s, %(name)s), (%(id2)s, %(name)s)",
        {"id": 1, "id2": 2, "name": "x'y"},
        database="testdb",
    )
    assert affected == 2
    with primary.cursor() as (_, cursor):
        cursor.execute("SHOW STATUS LIKE 'Ssl_version'")
        assert cursor.fetchone()["Value"].startswith("TLS")
    db.wait_replica_in_sync()
    assert db.replica.sql("SELECT name FROM testdb.items ORDER BY id") == "x'y\nx'y"


def test_fetch_one_row_returns_a_dict_or_nothing_and_refuses_many_rows(db):
    db.primary.sql("INSERT INTO testdb.items VALUES (1, 'one'), (2, 'two')")
    primary = instance(db, PRIMARY_HOST)
    assert primary.fetch_one_row("SELECT * FROM items WHERE id = %s", (2,), database="testdb") == {
        "id": 2,
        "name": "two",
    }
    assert primary.fetch_one_row("SELECT * FROM items WHERE id = 3", database="testdb") == {}
    with pytest.raises(MysqlError, match="Expected query to return zero or one row, got 2 instead"):
        primary.fetch_one_row("SELECT * FROM items", database="testdb")


def test_fetch_one_row_is_read_only_by_default(db):
    primary = instance(db, PRIMARY_HOST)
    with pytest.raises(pymysql.err.MySQLError, match="READ ONLY"):
        primary.fetch_one_row("INSERT INTO items VALUES (9, 'nine')", database="testdb")
    assert db.primary.sql("SELECT COUNT(*) FROM testdb.items") == "0"


def test_dry_run_logs_writes_with_masked_passwords_and_runs_reads(db, caplog):
    primary = instance(db, PRIMARY_HOST, dry_run=True)
    caplog.set_level(logging.INFO, logger="spicerack.mysql")
    assert primary.execute("INSERT INTO items VALUES (%s, %s)", (5, "five"), database="testdb") == 0
    primary.set_replication_parameters(
        replication_info=ReplicationInfo(primary="db1", binlog="mysql-bin.000001", position=4, port=3306),
        user="repl",
        password="very-secret",
    )
    assert db.primary.sql("SELECT COUNT(*) FROM testdb.items") == "0"
    assert "Would have executed on host test-host11 (single-instance) the query: INSERT INTO items" in caplog.text
    assert "very-secret" not in caplog.text
    assert "master_password='*****'" in caplog.text
    assert primary.execute("SELECT 1", is_safe=True) == 1
    assert primary.show_master_status()["File"].startswith("mysql-bin.")
    # Even a safe statement cannot write in DRY-RUN: the session is read-only.
    with pytest.raises(pymysql.err.MySQLError, match="READ ONLY"):
        primary.execute("INSERT INTO items VALUES (6, 'six')", is_safe=True, database="testdb")


def test_wrong_password_and_missing_tls_fail_cleanly(db, tmp_path, monkeypatch):
    primary = instance(db, PRIMARY_HOST)
    bad_cnf = tmp_path / "bad.cnf"
    bad_cnf.write_text(f"[client]\nuser=spicerack\npassword=wrong\nport={db.port}\n")
    with pytest.raises(pymysql.err.OperationalError, match="Access denied") as error:
        primary.fetch_one_row("SELECT 1", read_default_file=str(bad_cnf))
    assert CLIENT_PASSWORD not in str(error.value)
    with pytest.raises(pymysql.err.OperationalError, match="Access denied"):  # the user requires TLS
        primary.fetch_one_row("SELECT 1", ssl_disabled=True)
    assert primary.fetch_one_row("SELECT 1 AS one", ssl={}) == {"one": 1}  # TLS, without verifying the server
    monkeypatch.setattr(mysql, "WMF_CA_BUNDLE_PATH", str(tmp_path / "missing.crt"))
    with pytest.raises(FileNotFoundError):  # the CA bundle path goes to pymysql as is, as in the reference
        primary.fetch_one_row("SELECT 1")


def test_check_warnings_asks_the_operator(db, caplog, monkeypatch):
    answers = []

    def refuse(message):
        answers.append(message)
        raise AbortError("Confirmation manually aborted")

    monkeypatch.setattr(mysql, "ask_confirmation", refuse)
    primary = instance(db, PRIMARY_HOST)
    with pytest.raises(AbortError):
        primary.execute("SELECT CAST('12abc' AS INTEGER)", is_safe=True)
    assert "Truncated incorrect INTEGER value" in caplog.text
    assert answers and "warnings were raised" in answers[0]


def test_replication_helpers_on_the_replica(db):
    replica = instance(db, REPLICA_HOST)
    status = replica.show_slave_status()
    assert status["Slave_IO_Running"] == "Yes"
    assert status["Using_Gtid"] == "Slave_Pos"
    assert replica.primary == db.primary.address
    info = replica.get_replication_info()
    master = instance(db, PRIMARY_HOST).show_master_status()
    assert info == ReplicationInfo(
        primary=db.primary.address, binlog=master["File"], position=master["Position"], port=db.port
    )

    replica.stop_slave()
    try:
        assert replica.show_slave_status()["Slave_SQL_Running"] == "No"
        db.primary.sql("INSERT INTO testdb.items VALUES (1, 'while stopped')")
        assert db.replica.sql("SELECT COUNT(*) FROM testdb.items") == "0"
        replica.set_master_use_gtid(MasterUseGTID.CURRENT_POS)
        assert replica.show_slave_status()["Using_Gtid"] == "Current_Pos"
        replica.set_master_use_gtid(MasterUseGTID.SLAVE_POS)
    finally:
        replica.start_slave()
    db.wait_replica_in_sync()
    assert db.replica.sql("SELECT name FROM testdb.items") == "while stopped"
    with pytest.raises(MysqlError, match="Only instances of MasterUseGTID are accepted"):
        replica.set_master_use_gtid("slave_pos")


def test_primary_has_no_replication_status(db):
    primary = instance(db, PRIMARY_HOST)
    with pytest.raises(MysqlError, match="SHOW SLAVE STATUS seems to have been executed on a master"):
        primary.show_slave_status()
    with pytest.raises(MysqlError, match="Unable to retrieve master host of test-host11"):
        _ = primary.primary


def test_replication_lag_from_the_heartbeat(db):
    db.primary.sql(
        "REPLACE INTO heartbeat.heartbeat VALUES "
        "(DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%f'), 1, 's1', 'eqiad')"
    )
    db.wait_replica_in_sync()
    replica = instance(db, REPLICA_HOST)
    lag = replica.replication_lag()
    assert isinstance(lag, Decimal)
    assert Decimal(0) <= lag < Decimal(60)
    replica.wait_for_replication(threshold=Decimal(60))


def test_run_query_and_vertical_query_over_ssh(db):
    db.primary.sql("INSERT INTO testdb.items VALUES (1, 'one'), (2, 'two')")
    primary = instance(db, PRIMARY_HOST)
    assert primary.socket == "$FLEET_STATE_DIR/mysqld.sock"
    results = outputs_of(primary.run_query("SELECT id, name FROM items ORDER BY id", "testdb", is_safe=True))
    assert results == ["id\tname\n1\tone\n2\ttwo"]
    rows = primary.run_vertical_query("SELECT id, name FROM items ORDER BY id", "testdb", is_safe=True)
    assert rows == [{"id": "1", "name": "one"}, {"id": "2", "name": "two"}]
    status = instance(db, REPLICA_HOST).run_vertical_query("SHOW SLAVE STATUS", is_safe=True)
    assert status[0]["Master_Host"] == db.primary.address
    with pytest.raises(MysqlError, match=r"Failed to run 'SELECT nope FROM items' on test-host11"):
        primary.run_query("SELECT nope FROM items", "testdb", is_safe=True)


def test_run_query_is_skipped_in_dry_run_unless_safe(db):
    primary = instance(db, PRIMARY_HOST, dry_run=True)
    assert list(primary.run_query("INSERT INTO testdb.items VALUES (3, 'three')")) == []
    assert db.primary.sql("SELECT COUNT(*) FROM testdb.items") == "0"
    assert outputs_of(primary.run_query("SELECT 42", is_safe=True)) == ["42\n42"]


def outputs_of(results):
    return [output.message().decode() for _, output in results]


def test_mysql_remote_hosts_run_query_on_each_host(db):
    hosts = MysqlRemoteHosts(remote(db).query(f"{PRIMARY_HOST},{REPLICA_HOST}"))
    assert len(hosts) == 2
    assert [str(host) for host in hosts] == [PRIMARY_HOST, REPLICA_HOST]
    outputs = {
        str(nodes): output.message().decode() for nodes, output in hosts.run_query("SELECT @@server_id", is_safe=True)
    }
    assert outputs == {PRIMARY_HOST: "1", REPLICA_HOST: "2"}


def test_list_hosts_instances(db):
    hosts = MysqlRemoteHosts(remote(db).query(PRIMARY_HOST))
    state = db.fleet.state_dir(PRIMARY_HOST)
    assert hosts.list_hosts_instances() == []
    (state / "etc").mkdir(exist_ok=True)
    try:
        (state / "etc" / "my.cnf").write_text("[client]\n[mysqld]\ndatadir=/srv/sqldata\n")
        single = hosts.list_hosts_instances()
        assert [(str(item.host), item.name, item.socket) for item in single] == [
            (PRIMARY_HOST, "", "$FLEET_STATE_DIR/mysqld.sock")
        ]
        conf_dir = state / "etc" / "mysql" / "mysqld.conf.d"
        conf_dir.mkdir(parents=True)
        for name in ("s2", "s1"):
            (conf_dir / f"{name}.cnf").write_text("[mysqld]\n")
        assert [item.name for item in hosts.list_hosts_instances()] == ["s1", "s2"]
    finally:
        shutil.rmtree(state / "etc")
    with pytest.raises(NotImplementedError, match="Grouping"):
        hosts.list_hosts_instances(group=True)
    with pytest.raises(NotImplementedError, match="Only single host"):
        MysqlRemoteHosts(remote(db).query(f"{PRIMARY_HOST},{REPLICA_HOST}")).list_hosts_instances()


@pytest.fixture
def core_fleet(db, tmp_path):
    """A cumin config whose db-* aliases make 12 fleet hosts the eqiad core masters, all on the primary server."""
    masters = [f"test-host{index:02d}" for index in range(1, 13)]
    config_dir = tmp_path / "cumin"
    config_dir.mkdir()
    (config_dir / "config.yaml").write_text(db.fleet.cumin_config.read_text())
    aliases = {
        "db-core": "D{test-host[01-12]}",
        "eqiad": "D{test-host[01-12]}",
        "codfw": "D{test-host12}",
        "db-role-master": "D{test-host[01-12]}",
    }
    for section, host in zip(CORE_SECTIONS, masters, strict=True):
        aliases[f"db-section-{section}"] = f"D{{{host}}}"
    (config_dir / "aliases.yaml").write_text("".join(f"{key}: '{value}'\n" for key, value in aliases.items()))
    written = [write_host_my_cnf(db.fleet, host, db.primary.socket) for host in masters if host != PRIMARY_HOST]
    yield config_dir / "config.yaml"
    for path in written:
        path.unlink()
    db.primary.sql("SET GLOBAL read_only=0")


def test_core_masters_read_only_round_trip(db, core_fleet, tmp_path):
    spicerack = Spicerack(cumin_config=str(core_fleet), spicerack_config_dir=str(tmp_path), dry_run=False)
    mysql_client = spicerack.mysql()
    masters = mysql_client.get_core_dbs(datacenter="eqiad", replication_role="master")
    assert len(masters) == 12
    assert str(mysql_client.get_core_dbs(datacenter="eqiad", section="s1", replication_role="master")) == "test-host08"
    remaining = mysql_client.get_core_dbs(datacenter="eqiad", replication_role="master", excludes=("s1", "x1"))
    assert len(remaining) == 10
    assert "test-host08" not in str(remaining)

    mysql_client.set_core_masters_readonly("eqiad")
    assert db.primary.sql("SELECT @@global.read_only") == "1"
    mysql_client.verify_core_masters_readonly("eqiad", True)
    with pytest.raises(MysqlError, match="Verification failed that core DB masters in eqiad have read-only=False"):
        mysql_client.verify_core_masters_readonly("eqiad", False)
    mysql_client.set_core_masters_readwrite("eqiad")
    assert db.primary.sql("SELECT @@global.read_only") == "0"


def test_core_masters_dry_run_changes_nothing(db, core_fleet, tmp_path, caplog):
    spicerack = Spicerack(cumin_config=str(core_fleet), spicerack_config_dir=str(tmp_path), dry_run=True)
    spicerack.mysql().set_core_masters_readonly("eqiad")  # the verification fails, logged only in DRY-RUN
    assert db.primary.sql("SELECT @@global.read_only") == "0"
    assert "Expected output to be '1', got '0'" in caplog.text


def test_core_masters_heartbeats(db, core_fleet, tmp_path):
    rows = ", ".join(
        f"('2024-01-02T03:04:{index:02d}.000001', 1, '{section}', 'eqiad')"
        for index, section in enumerate(CORE_SECTIONS)
    )
    db.primary.sql(
        f"DELETE FROM heartbeat.heartbeat WHERE datacenter = 'eqiad'; REPLACE INTO heartbeat.heartbeat VALUES {rows}"
    )
    spicerack = Spicerack(cumin_config=str(core_fleet), spicerack_config_dir=str(tmp_path), dry_run=False)
    heartbeats = spicerack.mysql().get_core_masters_heartbeats("eqiad", "eqiad")
    assert list(heartbeats) == list(CORE_SECTIONS)
    assert heartbeats["s6"].isoformat() == "2024-01-02T03:04:00.000001"
    assert heartbeats["es7"].second == 11
    with pytest.raises(MysqlError, match="Matched 1 masters, expected 12"):
        spicerack.mysql().get_core_dbs(datacenter="codfw", replication_role="master")


def test_set_replication_parameters_points_the_replica_elsewhere_and_back(db, monkeypatch, caplog):
    confirmations = []
    monkeypatch.setattr(mysql, "ask_confirmation", confirmations.append)
    replica = instance(db, REPLICA_HOST)
    info = replica.get_replication_info()
    replica.stop_slave()
    try:
        replica.set_replication_parameters(replication_info=info, user=REPLICATION_USER, password=REPLICATION_PASSWORD)
        status = replica.show_slave_status()
        assert status["Using_Gtid"] == "No"
        assert (status["Master_Log_File"], status["Exec_Master_Log_Pos"]) == (info.binlog, info.position)
        assert status["Master_SSL_Allowed"] == "Yes"
        # MariaDB notes that the binlog position turns GTID off: logged, then confirmed by the operator
        assert "implicitly changing the value of 'Using_Gtid'" in caplog.text
        assert len(confirmations) == 1
        assert REPLICATION_PASSWORD not in caplog.text
        # back to GTID, as the fixture set it up
        replica.set_master_use_gtid(MasterUseGTID.SLAVE_POS)
    finally:
        replica.start_slave()
    db.primary.sql("INSERT INTO testdb.items VALUES (7, 'after repoint')")
    db.wait_replica_in_sync()
    assert db.replica.sql("SELECT name FROM testdb.items") == "after repoint"


@pytest.fixture
def replica_service(db, monkeypatch):
    """The replica's unit driven by the fleet's systemctl stand-in; the replica is running and replicating after."""
    monkeypatch.setattr(mysql, "SYSTEMCTL", "mariadb-systemctl")
    monkeypatch.setattr(mysql, "MYSQL_UPGRADE", shutil.which("mariadb-upgrade") or "/usr/bin/mariadb-upgrade")
    log = db.fleet.state_dir(REPLICA_HOST) / "mariadb-systemctl.log"
    log.unlink(missing_ok=True)
    yield log
    replica = instance(db, REPLICA_HOST)
    if not replica.is_running():
        replica.start_mysql()
    if replica.show_slave_status()["Slave_SQL_Running"] != "Yes":
        replica.start_slave()
    db.wait_replica_in_sync()


def test_clone_source_stops_and_resumes(db, replica_service):
    replica = instance(db, REPLICA_HOST)
    assert replica.is_running()
    info = replica.prep_src_for_cloning()
    assert info.primary == db.primary.address
    assert not replica.is_running()
    assert "Active: inactive (dead)" in outputs_of(replica.status_mysql())[0]  # any exit code is fine
    db.primary.sql("INSERT INTO testdb.items VALUES (1, 'while the replica was down')")

    replica.resume_replication()
    assert replica.is_running()
    db.wait_replica_in_sync()
    assert db.replica.sql("SELECT name FROM testdb.items") == "while the replica was down"
    assert replica_service.read_text().splitlines() == [
        "show -p ActiveState -p SubState mariadb.service",
        "stop mariadb.service",
        "show -p ActiveState -p SubState mariadb.service",
        "status mariadb.service",
        "set-environment MYSQLD_OPTS=--skip-slave-start",
        "start mariadb.service",
        "restart mariadb.service",
        "show -p ActiveState -p SubState mariadb.service",
    ]


def test_service_actions_are_skipped_in_dry_run(db, replica_service):
    replica = instance(db, REPLICA_HOST, dry_run=True)
    assert list(replica.stop_mysql()) == []
    replica.stop_slave()
    assert replica.is_running()
    assert instance(db, REPLICA_HOST).show_slave_status()["Slave_SQL_Running"] == "Yes"
    assert replica_service.read_text().splitlines() == ["show -p ActiveState -p SubState mariadb.service"]
