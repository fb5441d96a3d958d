"""Backups and point-in-time restore against a real private MariaDB pair."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from wework.cli import app
from wework.config import Settings
from wework.db import generation
from wework.db.engines import DbUser, Role, new_engine, server_url
from wework.db.replication import wait_for_replica
from wework.ops.backup import BackupError, full_backup, incremental_backup, prune_backups
from wework.ops.manifest import Manifest, ManifestError, format_time, sha256_of
from wework.ops.restore import RestoreError, parse_until, plan_restore, restore

runner = CliRunner()


def server(settings: Settings, role: Role = Role.PRIMARY, user: DbUser = DbUser.APP):
    return new_engine(server_url(role, settings, user))


def write_batch(settings: Settings, label: str, n: int = 5) -> None:
    """Tenants and messages on every shard, one transaction per shard."""
    engine = server(settings)
    try:
        for db in settings.shard_databases:
            with engine.begin() as conn:
                for i in range(n):
                    tenant = f"{label}-{i}-{uuid.uuid4().hex[:6]}"
                    conn.execute(
                        text(
                            f"INSERT INTO `{db}`.tenants (id, tenant_name, tenant_code) "
                            "VALUES (:id, :id, :id)"
                        ),
                        {"id": tenant},
                    )
                    conn.execute(
                        text(
                            f"INSERT INTO `{db}`.messages (id, tenant_id, account_id, "
                            "conversation_id, message_type, content) "
                            "VALUES (UUID(), :t, 'acc', 'conv', 'text', :c)"
                        ),
                        {"t": tenant, "c": json.dumps({"text": f"{label} 消息 {i}"})},
                    )
    finally:
        engine.dispose()


def snapshot(settings: Settings, role: Role = Role.PRIMARY) -> dict[str, tuple[int, int]]:
    """(row count, CHECKSUM TABLE) of every table of every shard database."""
    engine = server(settings, role)
    result = {}
    try:
        with engine.connect() as conn:
            for db in settings.shard_databases:
                tables = conn.execute(
                    text(
                        "SELECT TABLE_NAME FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA = :db AND TABLE_TYPE = 'BASE TABLE'"
                    ),
                    {"db": db},
                ).scalars()
                for table in tables:
                    if table == generation.TABLE:  # rotated by a restore: see generations()
                        continue
                    count = conn.execute(text(f"SELECT COUNT(*) FROM `{db}`.`{table}`")).scalar()
                    checksum = conn.execute(text(f"CHECKSUM TABLE `{db}`.`{table}`")).one()[1]
                    result[f"{db}.{table}"] = (int(count), int(checksum or 0))
    finally:
        engine.dispose()
    return result


def generations(settings: Settings, role: Role = Role.PRIMARY) -> dict[str, tuple[str, str]]:
    """(generation, reason) of every shard database."""
    engine = server(settings, role)
    try:
        with engine.connect() as conn:
            return {
                db: tuple(conn.execute(text(
                    f"SELECT generation, reason FROM `{db}`.`{generation.TABLE}`")).one())
                for db in settings.shard_databases
            }
    finally:
        engine.dispose()


def drop_databases(settings: Settings) -> None:
    engine = server(settings, user=DbUser.MIGRATOR)
    try:
        with engine.begin() as conn:
            for db in settings.shard_databases:
                conn.execute(text(f"DROP DATABASE `{db}`"))
    finally:
        engine.dispose()


def test_full_backup_records_position_size_and_checksum(fresh_settings):
    write_batch(fresh_settings, "a")
    made = full_backup(fresh_settings)

    listed = Manifest(fresh_settings.backup_dir).load()
    assert [b.name for b in listed] == [made.name]
    entry = listed[0]
    assert entry.kind == "full"
    assert entry.databases == fresh_settings.shard_databases
    assert entry.binlog_file.startswith("mariadb-bin.") and entry.binlog_position > 0
    assert entry.gtid.startswith("0-1-")
    path = fresh_settings.backup_dir / entry.files[0].path
    assert path.stat().st_size == entry.files[0].size
    assert sha256_of(path) == entry.files[0].sha256
    with gzip.open(path) as f:
        sql = f.read().decode()
    for db in fresh_settings.shard_databases:  # one dump, every shard, every table's rows
        assert f"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `{db}`" in sql
    assert sql.count("INSERT INTO `tenants`") == len(fresh_settings.shard_databases)


def test_incremental_without_full_backup_is_refused(fresh_settings):
    with pytest.raises(BackupError, match="no full backup"):
        incremental_backup(fresh_settings)


def test_point_in_time_restore_through_the_cli(fresh_settings, ops_env):
    env = ops_env
    write_batch(fresh_settings, "before-full")
    result = runner.invoke(app, ["db", "backup"], env=env)
    assert result.exit_code == 0, result.output
    assert "full backup full-" in result.output

    write_batch(fresh_settings, "after-full")  # must survive: before T
    time.sleep(1.1)  # binlog times have 1 s granularity: keep T strictly between writes
    until = datetime.now(UTC).replace(microsecond=0)
    expected = snapshot(fresh_settings)  # the data as it was at T
    time.sleep(1.1)
    write_batch(fresh_settings, "after-t")  # must be gone: after T
    engine = server(fresh_settings)
    with engine.begin() as conn:  # updates and deletes after T must be undone as well
        db = fresh_settings.shard_databases[0]
        conn.execute(text(f"UPDATE `{db}`.tenants SET tenant_name = 'changed'"))
        conn.execute(text(f"DELETE FROM `{db}`.messages LIMIT 3"))
    engine.dispose()
    final = snapshot(fresh_settings)
    assert final != expected
    backed_up = generations(fresh_settings)

    result = runner.invoke(app, ["db", "backup", "--incremental"], env=env)
    assert result.exit_code == 0, result.output
    assert "incremental backup incr-" in result.output

    drop_databases(fresh_settings)  # the disaster
    stamp = until.strftime("%Y-%m-%d %H:%M:%S")
    result = runner.invoke(app, ["db", "restore", "--until", stamp], env=env)
    assert result.exit_code == 0, result.output
    assert "checksums verified" in result.output
    assert "absent or empty" in result.output

    restored = snapshot(fresh_settings)
    assert restored == expected  # same tables, same row counts, same CHECKSUM TABLE
    counts = {k: v[0] for k, v in restored.items()}
    assert counts[f"{fresh_settings.shard_databases[0]}.tenants"] == 10
    # The restore went through the primary's binlog: the replica has it too.
    wait_for_replica(timeout=30, settings=fresh_settings)
    assert snapshot(fresh_settings, Role.REPLICA) == expected
    # A new data generation on every restored database (the warehouse's next run reads
    # them whole), replicated like any row.
    restored_generations = generations(fresh_settings)
    for db, (new, reason) in restored_generations.items():
        assert new != backed_up[db][0], db
        assert reason.startswith("restored from backup full-"), reason
        assert reason.endswith(f"up to {format_time(until)}"), reason
    assert generations(fresh_settings, Role.REPLICA) == restored_generations


def test_restore_refuses_a_database_with_data_and_says_what_is_there(
    fresh_settings, ops_env
):
    write_batch(fresh_settings, "x", n=3)
    full_backup(fresh_settings)
    write_batch(fresh_settings, "y", n=2)
    before = snapshot(fresh_settings)

    result = runner.invoke(app, ["db", "restore"], env=ops_env)
    assert result.exit_code == 1
    for db in fresh_settings.shard_databases:
        assert f"{db}.tenants: 5 rows" in result.output
        assert f"{db}.messages: 5 rows" in result.output
    assert "refusing to overwrite data without --force" in result.output
    assert snapshot(fresh_settings) == before  # untouched

    plan = plan_restore(settings=fresh_settings)
    done = restore(plan, force=True, settings=fresh_settings, echo=print)
    rows = {(t.database, t.table): t.rows for t in done.tables}
    assert rows[(fresh_settings.shard_databases[1], "tenants")] == 3


def test_a_damaged_backup_is_detected_before_anything_is_dropped(fresh_settings):
    write_batch(fresh_settings, "z", n=2)
    made = full_backup(fresh_settings)
    path = fresh_settings.backup_dir / made.files[0].path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    before = snapshot(fresh_settings)

    plan = plan_restore(settings=fresh_settings)
    with pytest.raises(ManifestError, match="checksum mismatch"):
        restore(plan, force=True, settings=fresh_settings)
    assert snapshot(fresh_settings) == before


def test_until_must_be_covered_by_backed_up_binlogs(fresh_settings):
    made = full_backup(fresh_settings)
    later = made.time + timedelta(hours=1)
    with pytest.raises(RestoreError, match="backed up only up to"):
        plan_restore(until=later, settings=fresh_settings)
    with pytest.raises(RestoreError, match="no full backup taken at or before"):
        plan_restore(until=made.time - timedelta(days=1), settings=fresh_settings)
    with pytest.raises(RestoreError, match="--until"):
        parse_until("yesterday")


def test_retention_removes_old_backups_but_keeps_the_newest_full_chain(
    fresh_settings
):
    first = full_backup(fresh_settings)
    incr = incremental_backup(fresh_settings)
    time.sleep(1.0)  # distinct names and times
    second = full_backup(fresh_settings)
    directory = fresh_settings.backup_dir

    # Nothing is 30 days old yet.
    assert prune_backups(fresh_settings).removed == []

    later = datetime.now(UTC) + timedelta(days=31)
    pruned = prune_backups(fresh_settings, now=later)
    assert pruned.removed == [first.name, incr.name]
    assert pruned.kept == [second.name]  # older than 30 days too, but the newest full
    assert not (directory / first.files[0].path).exists()
    assert not (directory / incr.name).exists()
    assert [b.name for b in Manifest(directory).load()] == [second.name]
