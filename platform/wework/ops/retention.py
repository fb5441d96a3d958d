"""Data retention (`wework db maintain`): the spec's cleanup of old rows, done safely.

For each time-partitioned table (messages, account_status_history, callback_events), and
callback_event_keys and callback_webhook_ids (the events' and HTTP deliveries'
de-duplication keys, same window as the events), audit_log (36 months) and
tenant_daily_quota (the quota's stripes of past days: 1 month), and each shard, with
``cutoff = now - N calendar months`` (messages: 36, spec §分表策略):

1. every partition whose whole range lies before the cutoff (its exclusive upper bound
   <= cutoff) is dropped with ``ALTER TABLE ... DROP PARTITION``: instant, no row locks.
   A partition is only dropped after checking it holds no row at or after the cutoff, and
   the last bounded partition is never dropped (the first partition is the catch-all for
   everything older; new periods are split off ``p_future`` from it);
2. the remaining rows older than the cutoff are deleted ``batch_size`` (10,000) at a time,
   each batch its own short transaction, so no long lock is held and replication lag stays
   small.

Rows at or after the cutoff are never touched.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, text

from wework.config import Settings, get_settings
from wework.db.engines import DbUser, Role, get_engine
from wework.models.audit import AuditLog
from wework.models.callback_dedup import CallbackEventKey, CallbackWebhookId
from wework.models.partitioning import ACCOUNT_STATUS_HISTORY, CALLBACK_EVENTS, MESSAGES
from wework.models.quota import TenantDailyQuota


@dataclass(frozen=True)
class RetentionPolicy:
    table: str
    column: str
    months: int


def policies(settings: Settings | None = None) -> list[RetentionPolicy]:
    s = settings or get_settings()
    return [
        RetentionPolicy(MESSAGES.table, MESSAGES.column, s.retention_messages_months),
        RetentionPolicy(
            ACCOUNT_STATUS_HISTORY.table,
            ACCOUNT_STATUS_HISTORY.column,
            s.retention_account_status_history_months,
        ),
        RetentionPolicy(
            CALLBACK_EVENTS.table, CALLBACK_EVENTS.column, s.retention_callback_events_months
        ),
        # The de-duplication keys live as long as the events they guard (not partitioned:
        # batched deletes only). A key older than the window guards an event already purged.
        RetentionPolicy(
            CallbackEventKey.__tablename__, "created_at", s.retention_callback_events_months
        ),
        # So are the webhook-ids of the HTTP deliveries that brought them.
        RetentionPolicy(
            CallbackWebhookId.__tablename__, "received_at", s.retention_callback_events_months
        ),
        # The audit log of administrative writes (batched deletes only).
        RetentionPolicy(AuditLog.__tablename__, "created_at", s.retention_audit_log_months),
        # The daily quota's stripes: STRIPES rows per tenant and day, which nothing reads
        # once the day is over (batched deletes only, by idx_day).
        RetentionPolicy(TenantDailyQuota.__tablename__, "day", s.retention_daily_quota_months),
    ]


def months_before(moment: datetime, months: int) -> datetime:
    """Same day and time ``months`` calendar months earlier (day clamped: 31 Mar → 28/29 Feb)."""
    total = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(total, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass
class TableCleanup:
    shard: int
    table: str
    cutoff: datetime
    dropped_partitions: list[tuple[str, int]] = field(default_factory=list)  # (name, rows)
    rows_deleted: int = 0
    batches: int = 0
    seconds: float = 0.0

    @property
    def rows_removed(self) -> int:
        return self.rows_deleted + sum(rows for _, rows in self.dropped_partitions)

    def summary(self) -> str:
        dropped = ", ".join(f"{n} ({r} rows)" for n, r in self.dropped_partitions) or "none"
        return (
            f"shard {self.shard} {self.table}: cutoff {self.cutoff:%Y-%m-%d %H:%M:%S} UTC; "
            f"partitions dropped: {dropped}; rows deleted: {self.rows_deleted} in "
            f"{self.batches} batch(es); {self.seconds:.2f} s"
        )


def _drop_old_partitions(
    engine: Engine,
    policy: RetentionPolicy,
    cutoff: datetime,
    report: TableCleanup,
    echo: Callable[[str], None],
) -> None:
    cut = int(cutoff.timestamp())
    naive_cutoff = cutoff.astimezone(UTC).replace(tzinfo=None)
    with engine.connect() as conn:
        parts = conn.execute(
            text(
                "SELECT PARTITION_NAME, PARTITION_DESCRIPTION FROM information_schema.PARTITIONS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t "
                "ORDER BY PARTITION_ORDINAL_POSITION"
            ),
            {"t": policy.table},
        ).all()
    bounded = [(n, int(d)) for n, d in parts if n and d and d.upper() != "MAXVALUE"]
    droppable = [n for n, bound in bounded if bound <= cut]
    if droppable and len(droppable) == len(bounded):
        droppable = droppable[:-1]  # keep one bounded partition for new periods to follow
    for name in droppable:
        with engine.connect() as conn:
            in_window = conn.execute(
                text(
                    f"SELECT COUNT(*) FROM `{policy.table}` PARTITION (`{name}`) "
                    f"WHERE `{policy.column}` >= :cutoff"
                ),
                {"cutoff": naive_cutoff},
            ).scalar_one()
            if in_window:
                echo(
                    f"{policy.table}: partition {name} holds {in_window} rows inside the "
                    "retention window; deleting its old rows in batches instead of dropping it"
                )
                continue
            rows = conn.execute(
                text(f"SELECT COUNT(*) FROM `{policy.table}` PARTITION (`{name}`)")
            ).scalar_one()
            conn.execute(text(f"ALTER TABLE `{policy.table}` DROP PARTITION `{name}`"))
        report.dropped_partitions.append((name, int(rows)))


def _delete_in_batches(
    engine: Engine, policy: RetentionPolicy, cutoff: datetime, batch_size: int, report: TableCleanup
) -> None:
    naive_cutoff = cutoff.astimezone(UTC).replace(tzinfo=None)
    statement = text(
        f"DELETE FROM `{policy.table}` WHERE `{policy.column}` < :cutoff LIMIT {int(batch_size)}"
    )
    while True:
        with engine.begin() as conn:  # one short transaction per batch
            deleted = conn.execute(statement, {"cutoff": naive_cutoff}).rowcount
        if deleted:
            report.batches += 1
            report.rows_deleted += deleted
        if deleted < batch_size:
            return


def clean_table(
    engine: Engine,
    shard: int,
    policy: RetentionPolicy,
    now: datetime,
    batch_size: int,
    echo: Callable[[str], None] = print,
) -> TableCleanup:
    t0 = time.monotonic()
    cutoff = months_before(now.astimezone(UTC), policy.months)
    report = TableCleanup(shard, policy.table, cutoff)
    _drop_old_partitions(engine, policy, cutoff, report, echo)
    _delete_in_batches(engine, policy, cutoff, batch_size, report)
    report.seconds = time.monotonic() - t0
    return report


def maintain(
    settings: Settings | None = None,
    now: datetime | None = None,
    echo: Callable[[str], None] = print,
) -> list[TableCleanup]:
    """Apply every retention policy to every shard; ``now`` is for tests (default: now)."""
    s = settings or get_settings()
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("now: must be timezone-aware (UTC), got a naive datetime")
    reports = []
    for shard in range(s.shard_count):
        # Partition drops are DDL: retention runs as the migrator.
        engine = get_engine(Role.PRIMARY, shard, s, user=DbUser.MIGRATOR)
        for policy in policies(s):
            report = clean_table(engine, shard, policy, moment, s.retention_batch_size, echo)
            echo(report.summary())
            reports.append(report)
    return reports
