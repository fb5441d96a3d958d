"""Data retention (`wework db maintain`) with rows on both sides of the cutoff."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from typer.testing import CliRunner

from wework.cli import app
from wework.db import migrate
from wework.db.engines import Role, get_engine
from wework.ops.retention import maintain, months_before

NOW = datetime(2029, 6, 15, 12, 0, 0, tzinfo=UTC)  # cutoff for 36 months: 2026-06-15 12:00
CUTOFF = datetime(2026, 6, 15, 12, 0, 0)
DAY = timedelta(days=1)


def insert_message(conn, created: datetime, label: str) -> None:
    conn.execute(
        text(
            "INSERT INTO messages (id, tenant_id, account_id, conversation_id, message_type, "
            "content, created_at, updated_at) "
            "VALUES (:id, 't', 'a', :label, 'text', :c, :ts, :ts)"
        ),
        {"id": str(uuid.uuid4()), "label": label, "c": json.dumps({"t": label}), "ts": created},
    )


def insert_history(conn, created: datetime, label: str) -> None:
    conn.execute(
        text(
            "INSERT INTO account_status_history (account_id, new_status, reason, created_at) "
            "VALUES ('a', 'online', :label, :ts)"
        ),
        {"label": label, "ts": created},
    )


def insert_callback(conn, received: datetime, label: str) -> None:
    conn.execute(
        text(
            "INSERT INTO callback_events (id, guid, notify_type, event_type, raw_data, "
            "received_time) VALUES (:id, 'g', 1, :label, '{}', :ts)"
        ),
        {"id": str(uuid.uuid4()), "label": label, "ts": received},
    )


def insert_event_key(conn, created: datetime, label: str) -> None:
    conn.execute(
        text(
            "INSERT INTO callback_event_keys (guid, event_id, callback_event_id, created_at) "
            "VALUES ('g', :label, :id, :ts)"
        ),
        {"id": str(uuid.uuid4()), "label": label, "ts": created},
    )


def insert_webhook_id(conn, received: datetime, label: str) -> None:
    conn.execute(
        text(
            "INSERT INTO callback_webhook_ids (webhook_id, event_count, received_at) "
            "VALUES (:label, 1, :ts)"
        ),
        {"label": label, "ts": received},
    )


def insert_quota_day(conn, day, label: str) -> None:
    conn.execute(
        text("INSERT INTO tenant_daily_quota (tenant_id, day, stripe, used, cap) "
             "VALUES (:label, :day, 0, 1, 10)"),
        {"label": label, "day": day},
    )


def labels(conn, table: str, column: str) -> list[str]:
    return sorted(conn.execute(text(f"SELECT {column} FROM {table}")).scalars())


def partitions(conn, table: str) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT PARTITION_NAME FROM information_schema.PARTITIONS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t "
                "ORDER BY PARTITION_ORDINAL_POSITION"
            ),
            {"t": table},
        ).scalars()
    )


def test_months_before_is_calendar_exact():
    assert months_before(NOW, 36) == datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
    assert months_before(datetime(2027, 3, 31, tzinfo=UTC), 1) == datetime(2027, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2028, 2, 29, tzinfo=UTC), 36) == datetime(2025, 2, 28, tzinfo=UTC)


def test_maintain_drops_old_partitions_and_deletes_old_rows_in_batches(fresh_settings):
    engine = get_engine(Role.PRIMARY, 0, fresh_settings)
    with engine.begin() as conn:
        insert_message(conn, datetime(2025, 3, 1), "old-partition")  # p2025: wholly old
        for i in range(25):  # 3 years + 1 day: same partition as in-window rows
            insert_message(conn, CUTOFF - DAY + timedelta(seconds=i), f"old-{i:02d}")
        insert_message(conn, CUTOFF - timedelta(seconds=1), "old-last-second")
        insert_message(conn, CUTOFF, "keep-at-cutoff")
        insert_message(conn, CUTOFF + DAY, "keep-3y-minus-1d")
        insert_message(conn, datetime(2027, 5, 1), "keep-recent")
        insert_history(conn, datetime(2025, 7, 1), "old-partition")
        insert_history(conn, CUTOFF - DAY, "old")
        insert_history(conn, CUTOFF + DAY, "keep")
        insert_callback(conn, datetime(2025, 1, 10), "old-partition")
        insert_callback(conn, CUTOFF - DAY, "old")
        insert_callback(conn, CUTOFF + DAY, "keep")
        for i in range(12):
            insert_event_key(conn, CUTOFF - DAY + timedelta(hours=i), f"old-{i:02d}")
        insert_event_key(conn, CUTOFF, "keep-at-cutoff")
        insert_event_key(conn, CUTOFF + DAY, "keep")
        insert_webhook_id(conn, CUTOFF - timedelta(seconds=1), "old")
        insert_webhook_id(conn, CUTOFF, "keep-at-cutoff")
        # The quota's stripes go after one month (cutoff 2029-05-15 12:00).
        insert_quota_day(conn, datetime(2029, 5, 14).date(), "old")
        insert_quota_day(conn, datetime(2029, 5, 16).date(), "keep")
        insert_quota_day(conn, NOW.date(), "keep-today")
        message_parts = partitions(conn, "messages")
        callback_parts = partitions(conn, "callback_events")
    assert "p2025" in message_parts and "p202605" in callback_parts

    settings = fresh_settings.model_copy(update={"retention_batch_size": 10})
    log: list[str] = []
    reports = maintain(settings, now=NOW, echo=log.append)

    by_table = {r.table: r for r in reports if r.shard == 0}
    messages = by_table["messages"]
    assert messages.dropped_partitions == [("p2025", 1)]
    assert messages.rows_deleted == 26 and messages.batches == 3  # 10 + 10 + 6
    history = by_table["account_status_history"]
    assert history.dropped_partitions == [("p2025", 1)] and history.rows_deleted == 1
    callbacks = by_table["callback_events"]
    dropped_months = [name for name, _ in callbacks.dropped_partitions]
    # Every month wholly before 2026-06-15 12:00 goes; June 2026 straddles the cutoff.
    assert dropped_months[0] == "p202501" and dropped_months[-1] == "p202605"
    assert sum(rows for _, rows in callbacks.dropped_partitions) == 1
    assert callbacks.rows_deleted == 1
    assert by_table["tenant_daily_quota"].rows_deleted == 1
    keys = by_table["callback_event_keys"]
    assert keys.dropped_partitions == [] and (keys.rows_deleted, keys.batches) == (12, 2)

    with engine.connect() as conn:
        assert labels(conn, "messages", "conversation_id") == [
            "keep-3y-minus-1d",
            "keep-at-cutoff",
            "keep-recent",
        ]
        assert labels(conn, "account_status_history", "reason") == ["keep"]
        assert labels(conn, "callback_events", "event_type") == ["keep"]
        assert labels(conn, "callback_event_keys", "event_id") == ["keep", "keep-at-cutoff"]
        assert labels(conn, "callback_webhook_ids", "webhook_id") == ["keep-at-cutoff"]
        assert labels(conn, "tenant_daily_quota", "tenant_id") == ["keep", "keep-today"]
        assert "p2025" not in partitions(conn, "messages")
        assert partitions(conn, "messages")[-1] == "p_future"
    assert any("p2025" in line and "rows deleted: 26" in line for line in log)

    # Partitions can still be added after the drop, and a second run removes nothing.
    migrate.partitions(fresh_settings)
    again = maintain(settings, now=NOW, echo=log.append)
    assert sum(r.rows_removed for r in again) == 0


def test_catch_all_partition_holding_in_window_rows_is_not_dropped(fresh_settings):
    """Today: cutoff 3 years back falls inside p2025, the catch-all for everything before
    2026, which also holds in-window rows: only the old rows go, by DELETE."""
    now = datetime.now(UTC).replace(microsecond=0)
    cutoff = months_before(now, 36).replace(tzinfo=None)
    engine = get_engine(Role.PRIMARY, 1, fresh_settings)
    with engine.begin() as conn:
        insert_message(conn, cutoff - DAY, "old")
        insert_message(conn, cutoff + DAY, "keep")
        insert_message(conn, now.replace(tzinfo=None) - DAY, "keep-recent")

    result = CliRunner().invoke(
        app, ["db", "maintain"], env=_env(fresh_settings), catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "shard 1 messages" in result.output and "partitions dropped: none" in result.output

    with engine.connect() as conn:
        assert labels(conn, "messages", "conversation_id") == ["keep", "keep-recent"]
        assert "p2025" in partitions(conn, "messages")


def _env(settings) -> dict[str, str]:
    return {
        "WEWORK_DATA_DIR": str(settings.data_dir),
        "WEWORK_PRIMARY_PORT": str(settings.primary_port),
        "WEWORK_REPLICA_PORT": str(settings.replica_port),
        "WEWORK_LOCAL_DB_PASSWORD": settings.local_db_password or "",
        "WEWORK_DB_NAME": settings.db_name,
        "WEWORK_SHARD_COUNT": str(settings.shard_count),
        "WEWORK_PRIMARY_URL": "",
        "WEWORK_REPLICA_URL": "",
    }
