"""``wework db monitor``'s readings on the real servers: a statement made slow on purpose
tops the digests, an index just used leaves the unused list, partition headroom follows
the check's clock, and one collection lands in the metrics store."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from sqlalchemy import text

from wework import metrics
from wework.db.engines import DbUser, Role, get_engine
from wework.metrics.database import (
    Index,
    collect_database_health,
    duplicate_indexes,
    indexes,
    partition_headroom,
    read_database_health,
    top_statements,
    unused_indexes,
)
from wework.metrics.query import recent


def test_a_statement_made_slow_on_purpose_tops_the_digests_with_its_p95(settings):
    alias = f"slow_{uuid.uuid4().hex[:10]}"
    with get_engine(Role.PRIMARY, 0, settings).connect() as conn:
        for _ in range(6):
            conn.execute(text(f"SELECT SLEEP(0.15) AS {alias}"))
        # Read while the connection lives: its recent statements are its thread's history.
        with get_engine(Role.PRIMARY, None, settings, user=DbUser.MONITOR).connect() as monitor:
            found = top_statements(monitor, settings.shard_databases, limit=200)
    (slow,) = [s for s in found if alias in s.text]
    assert slow.calls == 6 and slow.schema == settings.shard_database(0)
    assert slow.avg_seconds >= 0.15 and slow.total_seconds >= 0.9
    assert slow.p95_seconds is not None and slow.p95_seconds >= 0.15, slow
    totals = [s.total_seconds for s in found]
    assert totals == sorted(totals, reverse=True)
    assert found.index(slow) < 10  # it is among the top statements of the shard


def test_an_index_just_used_is_not_listed_as_unused(settings):
    tenant = f"mon-{uuid.uuid4().hex[:8]}"
    with get_engine(Role.PRIMARY, 0, settings).begin() as conn:
        conn.execute(text("INSERT INTO tenants (id, tenant_name, tenant_code) "
                          "VALUES (:id, :id, :id)"), {"id": tenant})
    with get_engine(Role.PRIMARY, None, settings, user=DbUser.MONITOR).connect() as monitor:
        assert monitor.execute(text("SELECT @@GLOBAL.userstat")).scalar() in (1, "1", "ON")
        before = unused_indexes(indexes(monitor, settings.shard_databases))
        candidates = [i for i in before if i.table == "tenants"
                      and i.schema == settings.shard_database(0)]
        assert candidates, "every index of tenants is in use already"
        index = candidates[0]
        column = index.columns[0]
        with get_engine(Role.PRIMARY, 0, settings).connect() as conn:
            conn.execute(text(f"SELECT `{column}` FROM tenants FORCE INDEX (`{index.name}`) "
                              f"ORDER BY `{column}` LIMIT 5")).all()
        after = unused_indexes(indexes(monitor, settings.shard_databases))
    names = {(i.schema, i.table, i.name) for i in after}
    assert (index.schema, "tenants", index.name) not in names
    assert len(after) < len(before)


def test_duplicate_indexes_are_leftmost_prefixes_and_keep_unique_constraints():
    def ix(name, *cols, unique=False):
        return Index("s", "t", name, tuple(cols), unique)

    found = duplicate_indexes([
        ix("PRIMARY", "id", unique=True),
        ix("a", "tenant_id"),  # prefix of b: redundant
        ix("b", "tenant_id", "status"),
        ix("u", "code", unique=True),  # unique: its constraint needs it
        ix("c", "code", "name"),
        ix("d", "x"), ix("e", "x"),  # identical: one of them is reported
    ])
    assert sorted((d.name, d.covered_by) for d in found) == [("a", "b"), ("e", "d")]


def test_partition_headroom_follows_the_checks_clock(settings):
    from wework.db import migrate

    migrate.partitions(settings)
    health = read_database_health(settings)
    (primary,) = [s for s in health.servers if s.server == "primary"]
    assert primary.error is None, primary.error
    assert {h.table for h in primary.headroom} == {
        "messages", "account_status_history", "callback_events"}
    assert all(h.days > 30 for h in primary.headroom)
    soonest = min(primary.headroom, key=lambda h: h.future_from)
    later = soonest.future_from - timedelta(days=3)
    with get_engine(Role.PRIMARY, None, settings, user=DbUser.MONITOR).connect() as conn:
        moved = partition_headroom(conn, settings.shard_databases, later)
    (same,) = [h for h in moved if (h.schema, h.table) == (soonest.schema, soonest.table)]
    assert abs(same.days - 3) < 1e-6
    sizes = {t.table for t in primary.tables}
    assert {"messages", "tenants", "callback_events"} <= sizes
    assert primary.connections and primary.max_connections >= primary.connections
    assert 0 < primary.buffer_pool_hit_rate <= 1


def test_one_collection_lands_in_the_metrics_store(settings, vm):
    s = settings.model_copy(update={"influx_url": vm.url})
    metrics.configure(s, flush_interval=60)
    try:
        health = collect_database_health(s)
        assert metrics.flush()
        deadline = time.monotonic() + 20
        while recent("db_table_total_bytes", 10, url=vm.url).height == 0:
            assert time.monotonic() < deadline, "no db_table points arrived"
            time.sleep(0.3)
        tables = recent("db_table_total_bytes", 10, url=vm.url)
        assert settings.shard_database(0) in set(tables["schema"].to_list())
        connections = recent("db_connections_in_use", 10, url=vm.url)
        assert set(connections["server"].to_list()) == {s.server for s in health.servers}
        assert recent("db_partition_headroom_days", 10, url=vm.url).height == 3 * len(
            settings.shard_databases)
    finally:
        metrics.configure(settings)
