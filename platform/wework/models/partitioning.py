"""Range partitioning of the time-series tables, as the spec intends but loadable.

The spec wrote ``PARTITION BY RANGE (YEAR(created_at))`` on TIMESTAMP columns, which
MySQL 8 and MariaDB refuse (ERROR 1486: YEAR() of a TIMESTAMP depends on the session
time zone). We partition on ``UNIX_TIMESTAMP(col)`` with UTC period boundaries written as
integer literals, which both accept and which no session time zone can shift.
Partition ``pYYYY`` / ``pYYYYMM`` holds that period (the first one also everything
before it); ``p_future`` is the spec's MAXVALUE catch-all, which `wework db partitions`
keeps empty by splitting new periods off it ahead of time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime


@dataclass(frozen=True)
class PartitionScheme:
    table: str
    column: str
    period: str  # "year" | "month"
    initial: tuple[date, ...]  # upper bounds (exclusive) of the spec's first partitions

    def name_for(self, upper: date) -> str:
        """Name of the partition whose exclusive upper bound is ``upper``."""
        start = previous_period(upper, self.period)
        return f"p{start.year}" if self.period == "year" else f"p{start:%Y%m}"

    def clause(self) -> str:
        parts = [
            f"PARTITION {self.name_for(b)} VALUES LESS THAN ({epoch(b)})" for b in self.initial
        ]
        parts.append("PARTITION p_future VALUES LESS THAN MAXVALUE")
        return f"RANGE (UNIX_TIMESTAMP({self.column})) (\n  " + ",\n  ".join(parts) + "\n)"


def epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def next_period(day: date, period: str) -> date:
    if period == "year":
        return date(day.year + 1, 1, 1)
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def previous_period(day: date, period: str) -> date:
    if period == "year":
        return date(day.year - 1, 1, 1)
    return date(day.year - (day.month == 1), (day.month - 2) % 12 + 1, 1)


YEARLY_INITIAL = (date(2026, 1, 1), date(2027, 1, 1), date(2028, 1, 1))
MONTHLY_INITIAL = (date(2025, 2, 1), date(2025, 3, 1), date(2025, 4, 1))

MESSAGES = PartitionScheme("messages", "created_at", "year", YEARLY_INITIAL)
ACCOUNT_STATUS_HISTORY = PartitionScheme(
    "account_status_history", "created_at", "year", YEARLY_INITIAL
)
CALLBACK_EVENTS = PartitionScheme("callback_events", "received_time", "month", MONTHLY_INITIAL)

SCHEMES = {s.table: s for s in (MESSAGES, ACCOUNT_STATUS_HISTORY, CALLBACK_EVENTS)}
