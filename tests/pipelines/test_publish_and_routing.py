"""Readers are never locked out, failed runs publish nothing, incremental runs read only
what changed, and replica lag is measured and acted on (fall back / wait / fail)."""

from __future__ import annotations

import ast
import logging
import re
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta

import dagster as dg
import pytest
from etl_dataset import utcnow
from sqlalchemy import Engine, text

from pipelines import marts as marts_module
from pipelines.checks import REPLICA_LAG, SOURCE_ROWS, STATUS_DAY_COUNTS
from pipelines.registry import MART_NAMES
from pipelines.resources import MySQLReplicaResource
from wework.db.engines import DbUser, Role, get_engine
from wework.db.replication import wait_for_replica
from wework.db.routing import ReplicaLagError, choose_read_source
from wework.warehouse import (
    NoPublishedMarts,
    connect_warehouse,
    open_marts,
    published_version,
)


def _snapshot(wh) -> dict[str, list]:
    con = open_marts(wh)
    try:
        return {
            m: con.execute(f"SELECT * FROM marts.{m} ORDER BY ALL").fetchall() for m in MART_NAMES
        }
    finally:
        con.close()


def _materialization(result, table: str):
    """Metadata of ``raw/<table>``'s materialization in ``result``."""
    key = dg.AssetKey(["raw", table])
    (mat,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key == key
    ]
    return mat.metadata


def test_nothing_published_is_a_clear_error(wh):
    with pytest.raises(NoPublishedMarts, match="wework etl run"):
        open_marts(wh)


def test_reader_opens_published_marts_while_a_writer_holds_the_warehouse(seeded, run_pipeline, wh):
    run_pipeline(utcnow())
    reader = textwrap.dedent(
        """
        import duckdb, sys
        from wework.warehouse import open_marts
        con = open_marts()
        total = con.execute("SELECT sum(total_count) FROM marts.message_stats_daily").fetchone()
        published = con.execute("SELECT published_at FROM marts.publish_info").fetchone()
        print(total[0], published[0])
        try:
            duckdb.connect(sys.argv[1], read_only=True)
            print("warehouse-open")
        except duckdb.IOException:
            print("warehouse-locked")
        """
    )
    writer = connect_warehouse(wh)  # this process now holds the warehouse's write lock
    try:
        writer.execute("CREATE OR REPLACE TABLE main.busy AS SELECT 1")
        out = subprocess.run(
            [sys.executable, "-c", reader, str(wh.warehouse_file)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.split()
    finally:
        writer.close()
    assert int(out[0]) == len(seeded.messages)
    assert out[-1] == "warehouse-locked"  # the lock is real; the published copy is not under it


def test_failed_runs_leave_the_published_marts_unchanged(
    seeded, run_pipeline, wh, primary: Engine, tmp_path, monkeypatch
):
    run_pipeline(utcnow())
    published, before = published_version(wh), _snapshot(wh)
    with primary.begin() as conn:  # new data that a successful run would publish
        conn.execute(text("UPDATE messages SET status = 'failed' LIMIT 20"))
    wait_for_replica(timeout=180, settings=wh)

    # 1. Extraction refused (replica "too far behind" and the policy forbids fallback).
    refuse = MySQLReplicaResource(max_lag_seconds=-1, fallback="fail")
    result = run_pipeline(utcnow(), replica=refuse, raise_on_error=False)
    assert not result.success
    assert published_version(wh) == published and _snapshot(wh) == before

    # 2. A mart whose SQL breaks mid-run: that mart and the publication stay as they were.
    broken = tmp_path / "sql"
    broken.mkdir()
    for name in MART_NAMES:
        sql = marts_module.mart_sql(name)
        if name == "account_health_daily":
            sql = "SELECT * FROM raw.no_such_table"
        (broken / f"{name}.sql").write_text(sql)
    monkeypatch.setattr(marts_module, "SQL_DIR", broken)
    result = run_pipeline(utcnow(), raise_on_error=False)
    assert not result.success
    assert published_version(wh) == published and _snapshot(wh) == before
    with connect_warehouse(wh) as con:  # the previous mart is still in the warehouse
        assert con.execute("SELECT count(*) FROM marts.account_health_daily").fetchone()[0] > 0

    # 3. The next good run publishes the new data.
    monkeypatch.undo()
    run_pipeline(utcnow())
    assert published_version(wh) != published and _snapshot(wh) != before


def test_incremental_run_reads_only_changed_rows(seeded, run_pipeline, wh, primary: Engine):
    first = run_pipeline(utcnow())
    assert _materialization(first, "messages")["rows_read"].value == len(seeded.messages)
    old = [m["id"] for m in seeded.messages if m["updated_at"] < utcnow().replace(hour=0)][:5]
    with primary.begin() as conn:
        for mid in old:
            conn.execute(text("UPDATE messages SET retry_count = 9 WHERE id = :id"), {"id": mid})
    wait_for_replica(timeout=180, settings=wh)
    second = run_pipeline(utcnow(), replica=MySQLReplicaResource(overlap_seconds=1))
    meta = _materialization(second, "messages")
    assert len(old) <= meta["rows_read"].value < len(seeded.messages) / 10
    assert meta["rows_changed"].value == len(old)
    assert meta["rows_in_raw"].value == len(seeded.messages)
    assert meta["full"].value is False


def test_a_run_after_a_quiet_spell_does_not_read_the_last_burst_again(
    seeded, run_pipeline, wh, primary: Engine
):
    """Each run records, per table, up to when its read saw every committed row; the next
    run's window starts no earlier than the overlap before that (extract._advance), not
    the overlap before the newest row, which after a quiet hour is long past."""
    with primary.begin() as conn:  # nothing written in the last hour
        conn.execute(text("UPDATE messages SET updated_at = updated_at - INTERVAL 1 HOUR"))
        in_last_ten = conn.execute(text(
            "SELECT COUNT(*) FROM messages WHERE updated_at >= "
            "(SELECT MAX(updated_at) FROM messages) - INTERVAL 10 MINUTE")).scalar_one()
    wait_for_replica(timeout=180, settings=wh)
    run_pipeline(utcnow())
    con = connect_warehouse(wh)
    try:
        (mark,) = con.execute(
            "SELECT value FROM etl.state WHERE key = 'seen_until:0:messages'").fetchone()
    finally:
        con.close()
    assert abs(datetime.fromisoformat(mark) - utcnow()) < timedelta(minutes=1)
    assert in_last_ten > 0  # what a window hanging on the newest row re-reads
    assert _materialization(run_pipeline(utcnow()), "messages")["rows_read"].value == 0


@pytest.mark.parametrize("another_changes", [False, True], ids=["alone", "beside_a_change"])
def test_a_message_deleted_at_the_source_fails_the_counts_by_day_and_status(
    seeded, run_pipeline, wh, primary: Engine, another_changes: bool
):
    """Both raw checks of messages see a message deleted at the source.

    alone: a run that changed no message skips the (day, status) query only when the
    window's counts agree as well; the delete changes no row that the run reads, but raw
    still holds it. beside_a_change: a run that changed messages takes the window's row
    counts from its (day, status) counts, one query on each side."""
    with primary.begin() as conn:
        (victim, day, status), (other, _, _) = conn.execute(text(
            "SELECT id, DATE(created_at), CAST(status AS CHAR) FROM messages "
            "WHERE created_at < (SELECT MAX(created_at) FROM messages) ORDER BY id LIMIT 2"
        )).all()
        # Changed now: inside the next run's overlap window. Another one too, so that the
        # source's newest change stays where raw's is (the delete must not look like data
        # taken back in time, which reads the shard whole).
        conn.execute(text("UPDATE messages SET updated_at = UTC_TIMESTAMP() "
                          "WHERE id IN (:a, :b)"), {"a": victim, "b": other})
    wait_for_replica(timeout=180, settings=wh)
    checks = _message_checks(run_pipeline(utcnow()))
    assert checks[SOURCE_ROWS].passed and checks[STATUS_DAY_COUNTS].passed
    with primary.begin() as conn:
        conn.execute(text("DELETE FROM messages WHERE id = :id"), {"id": victim})
        if another_changes:
            conn.execute(text("UPDATE messages SET retry_count = retry_count + 1 "
                              "WHERE id = :id"), {"id": other})
    wait_for_replica(timeout=180, settings=wh)
    second = run_pipeline(utcnow())
    assert _materialization(second, "messages")["rows_changed"].value == int(another_changes)
    checks = _message_checks(second)
    rows = checks[SOURCE_ROWS]
    assert not rows.passed
    # Per shard: {shard: rows}.
    source_rows, raw_rows = (ast.literal_eval(rows.metadata[k].value)[0]
                             for k in ("source_rows", "raw_rows"))
    assert raw_rows == source_rows + 1
    by_day = checks[STATUS_DAY_COUNTS]
    assert not by_day.passed
    assert by_day.metadata["difference_count"].value == 1
    shown = by_day.metadata["differences (day, status, source, raw)"].value
    source_n, raw_n = map(int, re.fullmatch(
        re.escape(f"[({day!r}, {status!r}, ") + r"(\d+), (\d+)\)\]", shown).groups())
    assert raw_n == source_n + 1


def _message_checks(result: dg.ExecuteInProcessResult) -> dict:
    return {c.check_name: c for c in result.get_asset_check_evaluations()
            if c.asset_key == dg.AssetKey(["raw", "messages"])}


@pytest.fixture
def stale_heartbeat(settings) -> str:
    """A heartbeat table in the test database whose row is an hour old on the replica."""
    table = f"{settings.shard_database(0)}.etl_test_heartbeat"
    with get_engine(Role.PRIMARY, 0, settings, user=DbUser.MIGRATOR).begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(text(f"CREATE TABLE {table} (id TINYINT PRIMARY KEY, ts TIMESTAMP(6))"))
        conn.execute(text(f"INSERT INTO {table} VALUES (1, UTC_TIMESTAMP(6) - INTERVAL 1 HOUR)"))
    wait_for_replica(timeout=180, settings=settings)
    return table


def test_fresh_replica_is_used(settings):
    decision = choose_read_source(0, settings)
    assert decision.role is Role.REPLICA
    assert decision.lag_seconds is not None and decision.lag_seconds < 5


def test_lagging_replica_policies(settings, stale_heartbeat, caplog):
    caplog.set_level(logging.INFO, logger="wework.db.routing")
    primary = settings.model_copy(update={"replica_fallback": "primary"})
    decision = choose_read_source(0, primary, heartbeat_table=stale_heartbeat)
    assert decision.role is Role.PRIMARY and decision.lag_seconds > 3500
    assert "fell back to the primary" in caplog.text

    fail = settings.model_copy(update={"replica_fallback": "fail"})
    with pytest.raises(ReplicaLagError, match="replica lag"):
        choose_read_source(0, fail, heartbeat_table=stale_heartbeat)

    wait = settings.model_copy(update={"replica_fallback": "wait"})
    with pytest.raises(ReplicaLagError, match="after waiting"):
        choose_read_source(0, wait, heartbeat_table=stale_heartbeat, wait_timeout=1.0)

    missing = choose_read_source(0, primary, heartbeat_table="wework_meta.no_such_table")
    assert missing.role is Role.PRIMARY and missing.lag_seconds is None


def test_pipeline_reports_the_fallback(seeded, run_pipeline, stale_heartbeat):
    lagging = MySQLReplicaResource(heartbeat_table=stale_heartbeat, fallback="primary")
    result = run_pipeline(utcnow(), replica=lagging)
    meta = _materialization(result, "messages")
    assert "primary" in meta["read_from"].value
    lag_checks = [c for c in result.get_asset_check_evaluations() if c.check_name == REPLICA_LAG]
    assert lag_checks and not any(c.passed for c in lag_checks)
    assert all(c.severity.value == "WARN" for c in lag_checks)
