"""The local MariaDB pair, against real servers.

These tests stop, break and reset servers, so they run their OWN stack in a temp dir on
free ports: the shared stack on 33306/33307 is in use by everyone else and is never
touched here. Each test first calls ``up()`` (fast when running), so the tests do not
depend on each other's order.
"""

from __future__ import annotations

import socket
import stat
import subprocess
import time
import uuid

import pytest
from cryptography.fernet import Fernet
from ports import free_ports
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from wework.config import Settings, reload_settings
from wework.db.engines import Role, get_engine, server_url
from wework.db.localstack import LocalStack, LocalStackError, read_env_file
from wework.db.replication import replication_status, wait_for_replica


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # Small InnoDB sizes: this private pair only holds a few rows.
    s = LocalStack(
        tmp_path_factory.mktemp("ls"),
        *free_ports(2),
        buffer_pool_size="64M",
        log_file_size="48M",
    )
    try:
        s.up()
        yield s
    finally:
        s.down()  # also when up() failed half-way: leave no server behind


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
    db = f"t_repl_{uuid.uuid4().hex[:8]}"
    with get_engine(Role.PRIMARY, shard=None, settings=settings).begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {db}")
        conn.exec_driver_sql(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, ts DATETIME(6))")
        conn.exec_driver_sql(f"INSERT INTO {db}.t VALUES (1, '2024-01-02 03:04:05.123456')")
    wait_for_replica(timeout=10, settings=settings)
    replica = get_engine(Role.REPLICA, shard=None, settings=settings)
    with replica.connect() as conn:
        row = conn.exec_driver_sql(f"SELECT id, ts FROM {db}.t").one()
    assert row[0] == 1 and str(row[1]) == "2024-01-02 03:04:05.123456"
    # The app user may do everything on the primary, but read_only holds on the replica.
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
    db = f"t_seed_{uuid.uuid4().hex[:8]}"
    with get_engine(Role.PRIMARY, shard=None, settings=settings).begin() as conn:
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
