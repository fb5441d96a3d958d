"""Platform gauges read from the databases and recorded as metrics.

Run once by ``wework metrics collect`` (or on a schedule: cron, a Dagster schedule, a loop).
Reads the read replica of every shard, never the primary, so collecting never competes with
business writes; each query is a GROUP BY over an indexed status column, so it stays cheap
on large tables. Replica lag comes from the ``wework_meta.heartbeat`` row (see
:mod:`wework.db.replication`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text

from wework.config import Settings, get_settings
from wework.db.engines import DbUser, Role, get_engine
from wework.db.replication import HEARTBEAT_DB
from wework.db.routing import read_engine
from wework.metrics import helpers
from wework.metrics.helpers import HEARTBEAT_STALE_SECONDS


@dataclass
class PlatformGauges:
    """What one collection read (and recorded), for printing and tests."""

    at: datetime
    # tenant_id -> status -> count
    accounts: dict[str, dict[str, int]] = field(default_factory=dict)
    # tenant_id -> (online accounts, stale ones, max heartbeat age in seconds or None)
    heartbeat: dict[str, tuple[int, int, float | None]] = field(default_factory=dict)
    # tenant_id -> (pending messages, messages failed in the last hour)
    messages: dict[str, tuple[int, int]] = field(default_factory=dict)
    failed_callbacks: int = 0
    callback_backlog: int = 0
    replica_lag_seconds: float | None = None
    points: int = 0


_ACCOUNTS = text(
    "SELECT tenant_id, status, COUNT(*) FROM wework_accounts GROUP BY tenant_id, status"
)
_HEARTBEAT = text(
    """SELECT tenant_id,
              COUNT(*),
              SUM(last_heartbeat_time IS NULL
                  OR last_heartbeat_time < UTC_TIMESTAMP(6) - INTERVAL :stale SECOND),
              MAX(TIMESTAMPDIFF(MICROSECOND, last_heartbeat_time, UTC_TIMESTAMP(6))) / 1e6
       FROM wework_accounts WHERE status = 'online' GROUP BY tenant_id"""
)
_PENDING = text(
    "SELECT tenant_id, COUNT(*) FROM messages WHERE status = 'pending' GROUP BY tenant_id"
)
_FAILED_LAST_HOUR = text(
    """SELECT tenant_id, COUNT(*) FROM messages
       WHERE status = 'failed' AND updated_at >= UTC_TIMESTAMP() - INTERVAL 1 HOUR
       GROUP BY tenant_id"""
)
_CALLBACKS = text(
    """SELECT COALESCE(SUM(status = 'failed'), 0),
              COALESCE(SUM(status IN ('received', 'processing')), 0)
       FROM callback_events WHERE status IN ('failed', 'received', 'processing')"""
)
_LAG = text(
    f"SELECT TIMESTAMPDIFF(MICROSECOND, ts, UTC_TIMESTAMP(6)) / 1e6 "
    f"FROM {HEARTBEAT_DB}.heartbeat WHERE id = 1"
)


def read_platform_gauges(settings: Settings | None = None) -> PlatformGauges:
    """Read the current gauges from every shard's replica, or where the lag policy sends
    reads when it lags (records nothing)."""
    s = settings or get_settings()
    gauges = PlatformGauges(at=datetime.now(UTC))
    accounts: dict[str, dict[str, int]] = defaultdict(dict)
    pending: dict[str, int] = defaultdict(int)
    failed: dict[str, int] = defaultdict(int)
    for shard in range(s.shard_count):
        with read_engine(shard, s, user=DbUser.MONITOR).connect() as conn:
            for tenant, status, count in conn.execute(_ACCOUNTS):
                accounts[tenant][str(status)] = accounts[tenant].get(str(status), 0) + int(count)
            for tenant, online, stale, age in conn.execute(
                _HEARTBEAT, {"stale": HEARTBEAT_STALE_SECONDS}
            ):
                gauges.heartbeat[tenant] = (
                    int(online),
                    int(stale or 0),
                    None if age is None else float(age),
                )
            for tenant, count in conn.execute(_PENDING):
                pending[tenant] += int(count)
            for tenant, count in conn.execute(_FAILED_LAST_HOUR):
                failed[tenant] += int(count)
            failed_cb, backlog = conn.execute(_CALLBACKS).one()
            gauges.failed_callbacks += int(failed_cb)
            gauges.callback_backlog += int(backlog)
    gauges.accounts = dict(accounts)
    gauges.messages = {t: (pending[t], failed[t]) for t in sorted(set(pending) | set(failed))}
    # Tenants with accounts but no pending or failed message report zeros, so a drained
    # queue shows as 0 rather than as a gap in the series.
    for tenant in gauges.accounts:
        gauges.messages.setdefault(tenant, (0, 0))
    try:
        with get_engine(Role.REPLICA, None, s, user=DbUser.MONITOR).connect() as conn:
            lag = conn.execute(_LAG).scalar()
        gauges.replica_lag_seconds = None if lag is None else float(lag)
    except Exception:  # no heartbeat table on this replica: lag unknown, not zero
        gauges.replica_lag_seconds = None
    return gauges


def record_platform_gauges(gauges: PlatformGauges) -> int:
    """Record ``gauges`` as metrics (all stamped with the time they were read)."""
    at = gauges.at
    points = 0
    for tenant, counts in sorted(gauges.accounts.items()):
        helpers.accounts_by_status(tenant, counts, at)
        points += 1
    for tenant, (online, stale, age) in sorted(gauges.heartbeat.items()):
        helpers.heartbeat_age(tenant, age, stale, online, at)
        points += 1
    for tenant, (pending, failed) in sorted(gauges.messages.items()):
        helpers.pending_messages(tenant, pending, failed, at)
        points += 1
    helpers.callback_backlog(gauges.failed_callbacks, gauges.callback_backlog, at)
    points += 1
    if gauges.replica_lag_seconds is not None:
        helpers.replica_lag(gauges.replica_lag_seconds, "replica", at)
        points += 1
    gauges.points = points
    return points


def collect_platform_gauges(settings: Settings | None = None) -> PlatformGauges:
    """Read the platform's current gauges from the replicas and record them as metrics.

    Returns what was read. Recording is a no-op when metrics are off; a metrics store
    that is down never makes this fail (the points wait in the recorder's buffer).
    """
    gauges = read_platform_gauges(settings)
    record_platform_gauges(gauges)
    return gauges
