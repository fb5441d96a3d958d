"""The local MariaDB pair, against real servers.

These tests stop, break and reset servers, so they run their OWN stack in a temp dir on
free ports: the shared stack on 33306/33307 is in use by everyone else and is never
touched here. Each test first calls ``up()`` (fast when running), so the tests do not
depend on each other's order.
"""

from __future__ import annotations

import getpass
import os
import socket
import stat
import subprocess
import time
import uuid

import psutil
import pytest
from cryptography.fernet import Fernet
from ports import free_ports
from sqlalchemy.exc import OperationalError
from stacks import private_stack
from typer.testing import CliRunner

from wework.config import Settings, reload_settings
from wework.db import localstack
from wework.db.check import check
from wework.db.engines import DbUser, Role, get_engine, server_url
from wework.db.localstack import MARIADBD, LocalStack, LocalStackError, read_env_file
from wework.db.replication import replication_status, wait_for_replica

MIGRATOR = DbUser.MIGRATOR


@pytest.fixture(scope="module")
def stack():
    with private_stack("ls") as s:
        yield s


def recorded(stack: LocalStack) -> list[str]:
    messages: list[str] = []
    stack.echo = messages.append
    return messages


def test_up_twice_is_idempotent_and_fast(stack):
    stack.up()
    before = stack.status()
    started = time.monotonic()
    stack.up()
    assert time.monotonic() - started < 5
    after = stack.status()
    for role in ("primary", "replica"):
        assert after[role].running
        assert after[role].pid == before[role].pid  # nothing restarted
        assert "MariaDB" in after[role].version
        assert after[role].port not in (3306, 33306, 33307)


def test_local_env_has_private_secrets_kept_across_runs(stack):
    stack.up()
    assert stat.S_IMODE(stack.env_file.stat().st_mode) == 0o600
    first = read_env_file(stack.env_file)
    assert first["WEWORK_LOCAL_DB_PASSWORD"]
    Fernet(first["WEWORK_ENCRYPTION_KEYS"].encode())  # a valid key
    assert int(first["WEWORK_LOOKUP_KEY"], 16)
    stack.up()
    assert read_env_file(stack.env_file) == first


def test_write_on_primary_appears_on_replica_which_refuses_writes(stack):
    stack.up()
    settings = stack.settings()
    db = f"wework_t_repl_{uuid.uuid4().hex[:8]}"
    with get_engine(Role.PRIMARY, shard=None, settings=settings, user=MIGRATOR).begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {db}")
        conn.exec_driver_sql(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, ts DATETIME(6))")
        conn.exec_driver_sql(f"INSERT INTO {db}.t VALUES (1, '2024-01-02 03:04:05.123456')")
    wait_for_replica(timeout=10, settings=settings)
    replica = get_engine(Role.REPLICA, shard=None, settings=settings)
    with replica.connect() as conn:
        row = conn.exec_driver_sql(f"SELECT id, ts FROM {db}.t").one()
    assert row[0] == 1 and str(row[1]) == "2024-01-02 03:04:05.123456"
    # The app user may write rows on the primary, but read_only holds on the replica.
    with pytest.raises(OperationalError, match="read-only"), replica.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO {db}.t VALUES (2, NULL)")


def test_heartbeat_lag_is_measured_and_small(stack):
    stack.up()
    settings = stack.settings()
    wait_for_replica(settings=settings)
    status = replication_status(settings)
    assert status.healthy, status.problems
    assert (status.io_running, status.sql_running) == ("Yes", "Yes")
    assert status.primary_gtid_binlog_pos and status.gtid_io_pos
    assert status.lag_seconds is not None and 0 <= status.lag_seconds < 3
    # The heartbeat keeps beating: a later reading sees a fresh row, not a growing lag.
    time.sleep(1.2)
    assert replication_status(settings).lag_seconds < 3


def test_status_through_external_urls(stack):
    """The same report works for servers given by URL (here: this stack's)."""
    stack.up()
    local = stack.settings()
    external = Settings(
        primary_url=server_url(Role.PRIMARY, local).render_as_string(hide_password=False),
        replica_url=server_url(Role.REPLICA, local).render_as_string(hide_password=False),
        # Replication state is read by the monitoring user (the app's may not).
        db_monitor_user=local.db_monitor_user,
        db_monitor_password=local.db_monitor_password,
    )
    assert not external.uses_local_stack
    status = replication_status(external)
    assert status.healthy, status.problems
    assert status.lag_seconds is not None
    wait_for_replica(settings=external)


def test_stale_pid_file_is_removed_with_a_message(stack):
    stack.up()
    stack.down()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stack.primary.pid_file.write_text(f"{dead.pid}\n")
    messages = recorded(stack)
    stack.up()
    assert any("stale pid file" in m and str(dead.pid) in m for m in messages), messages
    assert stack.status()["primary"].running


def test_half_initialised_replica_is_rebuilt_and_reseeded(stack):
    """Also covers bootstrapping replication when the primary already holds data."""
    stack.up()
    settings = stack.settings()
    db = f"wework_t_seed_{uuid.uuid4().hex[:8]}"
    with get_engine(Role.PRIMARY, shard=None, settings=settings, user=MIGRATOR).begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {db}")
        conn.exec_driver_sql(f"CREATE TABLE {db}.t (id INT PRIMARY KEY)")
        conn.exec_driver_sql(f"INSERT INTO {db}.t VALUES (1), (2), (3)")
    stack.down()
    stack.replica.marker.unlink()  # as if mariadb-install-db had been interrupted
    messages = recorded(stack)
    stack.up()
    assert any("half-initialised" in m for m in messages), messages
    assert any("seeding" in m for m in messages), messages
    # Rows from before the reseed (the dump) and after it (replication) both arrive.
    with get_engine(Role.PRIMARY, shard=None, settings=settings).begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO {db}.t VALUES (4)")
    wait_for_replica(timeout=10, settings=settings)
    with get_engine(Role.REPLICA, shard=None, settings=settings).connect() as conn:
        assert conn.exec_driver_sql(f"SELECT COUNT(*) FROM {db}.t").scalar() == 4
        # The heartbeat table came along, so lag is measurable again.
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM wework_meta.heartbeat").scalar() == 1
    assert replication_status(settings).healthy


def test_port_in_use_is_a_clear_error(tmp_path):
    busy, other = free_ports(2)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", busy))
        listener.listen()
        victim = LocalStack(tmp_path, busy, other, buffer_pool_size="64M", log_file_size="48M")
        with pytest.raises(LocalStackError, match=f"port {busy} .*already in use"):
            victim.up()
    assert not victim.mysql_dir.exists()  # refused before initialising anything


def test_port_3306_is_refused(tmp_path):
    with pytest.raises(LocalStackError, match="3306"):
        LocalStack(tmp_path, 3306, 3307)


def test_down_is_idempotent(stack):
    stack.up()
    stack.down()
    messages = recorded(stack)
    stack.down()
    assert messages == ["replica: not running", "primary: not running"]
    assert not any(s.running for s in stack.status().values())
    assert not stack.primary.pid_file.exists()


def test_cli_status_and_reset_guard(stack, monkeypatch):
    from wework.cli import app

    stack.up()
    monkeypatch.setenv("WEWORK_DATA_DIR", str(stack.data_dir))
    monkeypatch.setenv("WEWORK_PRIMARY_PORT", str(stack.primary.port))
    monkeypatch.setenv("WEWORK_REPLICA_PORT", str(stack.replica.port))
    for name in ("WEWORK_PRIMARY_URL", "WEWORK_REPLICA_URL", "WEWORK_LOCAL_DB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    try:
        wait_for_replica(settings=stack.settings())
        result = runner.invoke(app, ["db", "status"])
        assert result.exit_code == 0, result.output
        assert "replica" in result.output and "Yes" in result.output
        result = runner.invoke(app, ["db", "reset"])
        assert result.exit_code != 0
        assert stack.primary.marker.exists()  # nothing deleted without --yes
    finally:
        monkeypatch.undo()
        reload_settings()


def test_reset_deletes_data_but_keeps_secrets(stack):
    stack.up()
    secrets_before = read_env_file(stack.env_file)
    stack.reset()
    assert not stack.mysql_dir.exists()
    assert read_env_file(stack.env_file) == secrets_before
    stack.up()  # and comes back from nothing
    assert replication_status(stack.settings()).healthy


# Options the current code starts mariadbd with that the previous version did not.
NEW_OPTIONS = (
    "--secure-file-priv", "--slow-query-log", "--long-query-time",
    "--log-queries-not-using-indexes", "--log-slow-min-examined-row-limit", "--userstat",
    "--performance-schema", "--slave-parallel",
)


def start_like_the_old_code(stack: LocalStack) -> None:
    """mariadbd as the previous version ran it: as root (when we are root), on root-owned
    files, without secure_file_priv, the monitoring settings or parallel replication."""
    old_user = "root" if os.geteuid() == 0 else getpass.getuser()
    for srv in stack.servers:
        if os.geteuid() == 0:
            for root, dirs, files in os.walk(srv.dir):
                for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                    os.chown(name, 0, 0, follow_symlinks=False)
        args = [
            "--user=" + old_user if a.startswith("--user=") else a
            for a in stack._server_args(srv)
            if not a.startswith(NEW_OPTIONS)
        ]
        with srv.log_file.open("ab") as log:
            proc = subprocess.Popen([MARIADBD, *args], stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        localstack._children[proc.pid] = proc  # reaped when the upgrade stops it
        deadline = time.monotonic() + 60
        while stack._try_sql(srv, "SELECT 1") is None:
            assert proc.poll() is None and time.monotonic() < deadline, srv.log_file.read_text()
            time.sleep(0.1)


def test_up_upgrades_a_stack_made_by_the_previous_version_and_keeps_its_data(stack):
    """What `wework db up` finds where the previous version ran: mariadbd running as root
    on root-owned files without the new settings, the app's user holding ALL PRIVILEGES
    (and a twin @localhost), no per-role users, a local.env with one database password,
    which the replication link shares. One `up` fixes all of it, says so, keeps the data."""
    stack.up()
    db = f"wework_t_old_{uuid.uuid4().hex[:8]}"
    with get_engine(Role.PRIMARY, None, stack.settings(), user=MIGRATOR).begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {db}")
        conn.exec_driver_sql(f"CREATE TABLE {db}.t (id INT PRIMARY KEY)")
        conn.exec_driver_sql(f"INSERT INTO {db}.t VALUES (1), (2), (3)")
    old_env = {k: v for k, v in read_env_file(stack.env_file).items()
               if k in ("WEWORK_LOCAL_DB_PASSWORD", "WEWORK_ENCRYPTION_KEYS", "WEWORK_LOOKUP_KEY")}
    app_password = old_env["WEWORK_LOCAL_DB_PASSWORD"]
    stack._sql(stack.primary, f"""
        GRANT ALL PRIVILEGES ON *.* TO 'wework'@'127.0.0.1' WITH GRANT OPTION;
        CREATE USER 'wework'@'localhost' IDENTIFIED BY '{app_password}';
        GRANT ALL PRIVILEGES ON *.* TO 'wework'@'localhost' WITH GRANT OPTION;
        DROP USER 'wework_migrator'@'127.0.0.1', 'wework_etl'@'127.0.0.1',
                  'wework_backup'@'127.0.0.1', 'wework_monitor'@'127.0.0.1';
        ALTER USER 'repl'@'127.0.0.1' IDENTIFIED BY '{app_password}';""")
    deadline = time.monotonic() + 20  # the user changes replicate
    gone = "SELECT COUNT(*) FROM mysql.user WHERE User = 'wework_etl'"
    while stack._sql(stack.replica, gone) != [["0"]]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stack._sql(stack.replica, f"STOP SLAVE; CHANGE MASTER TO MASTER_PASSWORD='{app_password}';"
               " START SLAVE;", log_bin=False)
    stack.env_file.write_text("".join(f"{k}={v}\n" for k, v in old_env.items()))
    stack.down()
    start_like_the_old_code(stack)

    messages = recorded(stack)
    stack.up()

    said = "\n".join(messages)
    print(said)  # what an operator sees (pytest -s)
    assert said.count("running with an older configuration") == 2, said
    if os.geteuid() == 0:
        assert "files in" in said and "to the OS user mysql" in said, said
    assert "wework@127.0.0.1: removed ALL PRIVILEGES, GRANT OPTION on *.*" in said, said
    assert "dropped wework@localhost" in said, said
    for role in ("migrator", "etl", "backup", "monitor"):
        assert f"created wework_{role}@127.0.0.1 with " in said, said
    assert "the replication link uses the repl password" in said, said

    settings = stack.settings()
    assert read_env_file(stack.env_file)["WEWORK_LOCAL_DB_PASSWORD"] == app_password
    with get_engine(Role.PRIMARY, None, settings).begin() as conn:  # the app's user
        assert conn.exec_driver_sql(f"SELECT COUNT(*) FROM {db}.t").scalar() == 3
        conn.exec_driver_sql(f"INSERT INTO {db}.t VALUES (4)")
    wait_for_replica(timeout=20, settings=settings)
    with get_engine(Role.REPLICA, None, settings, user=DbUser.ETL).connect() as conn:
        assert conn.exec_driver_sql(f"SELECT COUNT(*) FROM {db}.t").scalar() == 4
    assert replication_status(settings).healthy
    report = check(settings)
    assert report.ok, (report.errors, [c for c in report.settings if not c.ok],
                       [(u.user, u.server, u.error, u.report) for u in report.users if not u.ok])
    for server in stack.status().values():
        assert psutil.Process(server.pid).uids().effective != 0 or os.geteuid() != 0
