"""Keep the range-partitioned tables ahead of time (`wework db partitions`).

Each table ends in the spec's ``p_future`` MAXVALUE partition. Rows that land there sit in
one unbounded partition that retention cannot drop, so before a period starts we split
it off ``p_future`` with ``REORGANIZE PARTITION`` (cheap while ``p_future`` is empty).
This replaces the spec's ``CreateMonthlyPartition`` procedure, whose
``VALUES FROM ... TO`` syntax is PostgreSQL's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, text

from wework.models.partitioning import SCHEMES, PartitionScheme, epoch, next_period

# How many periods beyond the current one must already exist.
AHEAD = {"year": 2, "month": 3}


@dataclass
class PartitionReport:
    table: str
    added: list[str]
    partitions: int
    rows_in_future: int


def _bounds(conn: Connection, table: str) -> list[int]:
    rows = conn.execute(
        text(
            "SELECT PARTITION_DESCRIPTION FROM information_schema.PARTITIONS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t "
            "ORDER BY PARTITION_ORDINAL_POSITION"
        ),
        {"t": table},
    ).scalars()
    return [int(d) for d in rows if d and d.upper() != "MAXVALUE"]


def planned_bounds(scheme: PartitionScheme, existing: list[int], today: date) -> list[date]:
    """Upper bounds to add so that every period up to ``today + AHEAD`` has a partition."""
    start = date(today.year, 1, 1) if scheme.period == "year" else date(today.year, today.month, 1)
    target = start
    for _ in range(AHEAD[scheme.period] + 1):
        target = next_period(target, scheme.period)
    highest = max(existing)
    bound = datetime.fromtimestamp(highest, UTC).date()
    planned = []
    while bound < target:
        bound = next_period(bound, scheme.period)
        planned.append(bound)
    return planned


def ensure_partitions(conn: Connection, today: date | None = None) -> list[PartitionReport]:
    """Split upcoming periods off ``p_future`` on every partitioned table of this database."""
    today = today or datetime.now(UTC).date()
    reports = []
    for scheme in SCHEMES.values():
        existing = _bounds(conn, scheme.table)
        if not existing:
            raise RuntimeError(f"{scheme.table} is not partitioned: run `wework db migrate` first")
        added = planned_bounds(scheme, existing, today)
        if added:
            parts = ", ".join(
                f"PARTITION {scheme.name_for(b)} VALUES LESS THAN ({epoch(b)})" for b in added
            )
            conn.execute(
                text(
                    f"ALTER TABLE `{scheme.table}` REORGANIZE PARTITION p_future INTO "
                    f"({parts}, PARTITION p_future VALUES LESS THAN MAXVALUE)"
                )
            )
        future_rows = conn.execute(
            text(f"SELECT COUNT(*) FROM `{scheme.table}` PARTITION (p_future)")
        ).scalar_one()
        reports.append(
            PartitionReport(
                table=scheme.table,
                added=[scheme.name_for(b) for b in added],
                partitions=len(existing) + len(added) + 1,
                rows_in_future=int(future_rows),
            )
        )
    return reports
