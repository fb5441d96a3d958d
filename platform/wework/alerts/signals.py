"""What alert rules measure: one function per signal, registered in :data:`SIGNALS`.

A signal returns one :class:`Observation` per subject it looked at (the replica, a table,
a tenant ...). A value of ``None`` means "does not apply now" (no backup was ever taken,
nothing reads the cache, nothing is published yet): the rule does not hold, and an alert
that fired resolves. A signal that cannot be read at all raises; the engine then leaves
that rule's alerts as they are rather than resolving them on no evidence.

Everything is read with the check's clock (``SignalContext.now``), which tests move
instead of the machine's; platform tables are read as the monitor user through the lag
policy of :mod:`wework.db.routing`, with indexed, time-bounded queries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import text

from wework.config import Settings
from wework.db.engines import DbUser, Role, get_engine
from wework.db.routing import read_engine
from wework.metrics import database


@dataclass(frozen=True)
class Observation:
    subject: str
    value: float | None
    tenant_id: str | None = None


@dataclass
class SignalContext:
    settings: Settings
    now: datetime  # aware UTC: the check's clock
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def naive_now(self) -> datetime:
        return self.now.replace(tzinfo=None)

    @cached_property
    def replication(self) -> database.Replication | None:
        return database.read_replication(self.settings)

    @cached_property
    def headroom(self) -> list[database.Headroom]:
        s = self.settings
        with get_engine(Role.PRIMARY, None, s, user=DbUser.MONITOR).connect() as conn:
            return database.partition_headroom(conn, s.shard_databases, self.now)

    @cached_property
    def backups(self) -> database.Backups:
        backups = database.read_backups(self.settings, self.now)
        if backups.error:
            raise RuntimeError(backups.error)
        return backups


Signal = Callable[[SignalContext], list[Observation]]
SIGNALS: dict[str, Signal] = {}


def signal(name: str) -> Callable[[Signal], Signal]:
    def register(fn: Signal) -> Signal:
        SIGNALS[name] = fn
        return fn

    return register


def _replica(ctx: SignalContext, value: Callable[[database.Replication], float | None]):
    r = ctx.replication
    if r is None or not r.configured:
        return []  # no separate replica: nothing to watch
    return [Observation("replica", value(r))]


@signal("replica_lag_seconds")
def replica_lag_seconds(ctx: SignalContext) -> list[Observation]:
    """The replica's heartbeat lag (an upper bound, see wework.db.replication)."""
    return _replica(ctx, lambda r: r.lag_seconds)


@signal("replication_stopped")
def replication_stopped(ctx: SignalContext) -> list[Observation]:
    """1 when the replica's IO or SQL thread is not running, else 0."""
    return _replica(ctx, lambda r: 1.0 if r.stopped else 0.0)


@signal("partition_headroom_days")
def partition_headroom_days(ctx: SignalContext) -> list[Observation]:
    """Per partitioned table and shard: days until p_future would receive rows."""
    return [Observation(f"{h.schema}.{h.table}", h.days) for h in ctx.headroom]


@signal("backup_full_age_seconds")
def backup_full_age_seconds(ctx: SignalContext) -> list[Observation]:
    """Age of the last full backup; no value before the first backup."""
    return [Observation("backups", ctx.backups.full_age_seconds)]


@signal("backup_recovery_point_age_seconds")
def backup_recovery_point_age_seconds(ctx: SignalContext) -> list[Observation]:
    """Age of the last backup of either kind (what a restore could reach)."""
    return [Observation("backups", ctx.backups.recovery_point_age_seconds)]


_CALLBACKS = text(
    """SELECT COALESCE(SUM(status = 'failed'), 0),
              COALESCE(SUM(status IN ('processed', 'failed')), 0)
       FROM callback_events WHERE received_time >= :since AND received_time < :until"""
)


@signal("callback_failure_rate")
def callback_failure_rate(ctx: SignalContext) -> list[Observation]:
    """Failed / finished callbacks received in the last ``window_seconds``; no value when
    none finished."""
    window = float(ctx.params.get("window_seconds", 600))
    since = ctx.naive_now - timedelta(seconds=window)
    failed = finished = 0
    for shard in range(ctx.settings.shard_count):
        with read_engine(shard, ctx.settings, user=DbUser.MONITOR).connect() as conn:
            f, n = conn.execute(_CALLBACKS, {"since": since, "until": ctx.naive_now}).one()
        failed += int(f)
        finished += int(n)
    return [Observation("callbacks", failed / finished if finished else None)]


_ACCOUNTS = text(
    """SELECT a.tenant_id, SUM(a.status IN ('offline', 'error')), COUNT(*)
       FROM wework_accounts AS a JOIN tenants AS t ON t.id = a.tenant_id
       WHERE t.status = 'active' AND a.status <> 'deleted'
       GROUP BY a.tenant_id"""
)


@signal("tenant_accounts_unhealthy_ratio")
def tenant_accounts_unhealthy_ratio(ctx: SignalContext) -> list[Observation]:
    """Per active tenant: the share of its accounts that are offline or in error."""
    found = []
    for shard in range(ctx.settings.shard_count):
        with read_engine(shard, ctx.settings, user=DbUser.MONITOR).connect() as conn:
            for tenant, bad, total in conn.execute(_ACCOUNTS):
                found.append(Observation(tenant, int(bad) / int(total), tenant_id=tenant))
    return found


@signal("marts_age_seconds")
def marts_age_seconds(ctx: SignalContext) -> list[Observation]:
    """Age of the published marts (their publish time); no value before the first
    publish."""
    from wework.warehouse import NoPublishedMarts, open_marts

    try:
        con = open_marts(ctx.settings)
    except NoPublishedMarts:
        return [Observation("marts", None)]
    try:
        (published_at,) = con.execute("SELECT published_at FROM marts.publish_info").fetchone()
    finally:
        con.close()
    return [Observation("marts", (ctx.naive_now - published_at).total_seconds())]


@signal("cache_hit_rate")
def cache_hit_rate(ctx: SignalContext) -> list[Observation]:
    """Redis keyspace hits / (hits + misses) since it started; no value until it has
    answered ``min_lookups`` reads (the cache is not in use yet, or a few test reads
    would decide the rate)."""
    from wework.cache.redis import get_redis

    stats = get_redis(ctx.settings).call(lambda r: r.info("stats"), default=None)
    if stats is None:
        raise RuntimeError("Redis did not answer INFO stats")
    hits, misses = int(stats.get("keyspace_hits", 0)), int(stats.get("keyspace_misses", 0))
    lookups = hits + misses
    enough = lookups and lookups >= int(ctx.params.get("min_lookups", 1000))
    return [Observation("cache", hits / lookups if enough else None)]


@signal("disk_free_ratio")
def disk_free_ratio(ctx: SignalContext) -> list[Observation]:
    """Free share of the volume holding the data directory."""
    disk = database.read_disk(ctx.settings.data_dir)
    if disk is None:
        raise RuntimeError(f"cannot stat {ctx.settings.data_dir}")
    return [Observation(str(ctx.settings.data_dir), disk.free_ratio)]
