"""Report data on the published marts vs the same report computed on the MySQL replica.

In one run: seed its own databases (``wework_bench_reports_*``, dropped at the end) with
``--messages`` messages, wait for the replica, run the real pipeline (extract → marts →
publish), then for every report page time

- **marts**: the page's data queries (``app/ui/report_queries.py``, exactly what the page
  runs, without Streamlit's cache) on the published DuckDB file: the first call and the
  median of ``--repeat`` further calls;
- **replica**: the same figures computed with SQL on the MariaDB replica's raw tables
  (one run each: they take seconds).

Two scenarios: the biggest tenant and every tenant (super-admin), over the last 30 days.

    .venv/bin/python bench/report_bench.py --messages 2000000

Goal (issue 5): every report page's data in under 1 s on a 2,000,000-message warehouse.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "app"))  # ui.report_queries


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=2_000_000)
    p.add_argument("--tenants", type=int, default=20)
    p.add_argument("--accounts", type=int, default=400)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--keep", action="store_true", help="keep the bench databases and files")
    return p.parse_args()


def configure(workdir: Path) -> None:
    """Private databases and warehouse: the bench never touches the shared dev data."""
    os.environ["WEWORK_DB_NAME"] = "wework_bench_reports"
    os.environ["WEWORK_WAREHOUSE_PATH"] = str(workdir / "warehouse.duckdb")
    os.environ["WEWORK_PUBLISH_DIR"] = str(workdir / "published")


# ----------------------------------------------------------------- the replica baseline

# Each report's figures computed from the raw tables, as a page would have to without the
# marts. ``{t}`` is a tenant condition on table alias m/a/b (empty for every tenant).
REPLICA_SQL: dict[str, list[str]] = {
    "overview": [
        # period, previous period, today, yesterday: totals, success, failed
        """SELECT COUNT(*), SUM(status IN ('sent','delivered')), SUM(status = 'failed')
           FROM messages m WHERE created_at >= :lo AND created_at < :hi {tm}""",
        """SELECT COUNT(*), SUM(status IN ('sent','delivered')), SUM(status = 'failed')
           FROM messages m WHERE created_at >= :plo AND created_at < :lo {tm}""",
        """SELECT COUNT(*) FROM messages m WHERE created_at >= :today {tm}""",
        """SELECT COUNT(*) FROM messages m
           WHERE created_at >= :today - INTERVAL 1 DAY AND created_at < :today {tm}""",
        # p95 delivery latency of the period and the previous one
        """SELECT DISTINCT PERCENTILE_DISC(0.95) WITHIN GROUP (
               ORDER BY TIMESTAMPDIFF(MICROSECOND, send_time, callback_time)) OVER ()
           FROM messages m WHERE created_at >= :lo AND created_at < :hi
             AND send_time IS NOT NULL AND callback_time IS NOT NULL {tm}""",
        """SELECT DISTINCT PERCENTILE_DISC(0.95) WITHIN GROUP (
               ORDER BY TIMESTAMPDIFF(MICROSECOND, send_time, callback_time)) OVER ()
           FROM messages m WHERE created_at >= :plo AND created_at < :lo
             AND send_time IS NOT NULL AND callback_time IS NOT NULL {tm}""",
        "SELECT status, COUNT(*) FROM wework_accounts a WHERE 1 {ta} GROUP BY status",
        "SELECT COUNT(*) FROM batch_send_tasks b WHERE status = 'running' {tb}",
        """SELECT COUNT(*) FROM callback_events
           WHERE status = 'failed' AND received_time >= :plo AND received_time < :hi""",
        """SELECT DATE(created_at), status, COUNT(*) FROM messages m
           WHERE created_at >= :lo AND created_at < :hi {tm} GROUP BY 1, 2""",
    ],
    "message_stats": [
        """SELECT DATE(created_at), message_type, COUNT(*), SUM(status IN ('sent','delivered')),
                  SUM(status = 'failed')
           FROM messages m WHERE created_at >= :lo AND created_at < :hi {tm} GROUP BY 1, 2""",
        """SELECT message_type, status, COUNT(*) FROM messages m
           WHERE created_at >= :lo AND created_at < :hi {tm} GROUP BY 1, 2""",
        """SELECT DISTINCT d,
               PERCENTILE_DISC(0.5) WITHIN GROUP (ORDER BY s) OVER (PARTITION BY d),
               PERCENTILE_DISC(0.95) WITHIN GROUP (ORDER BY s) OVER (PARTITION BY d)
           FROM (SELECT DATE(created_at) AS d,
                        TIMESTAMPDIFF(MICROSECOND, send_time, callback_time) AS s
                 FROM messages m WHERE created_at >= :lo AND created_at < :hi
                   AND send_time IS NOT NULL AND callback_time IS NOT NULL {tm}) x""",
        """SELECT account_id, COUNT(*) n FROM messages m
           WHERE created_at >= :lo AND created_at < :hi {tm}
           GROUP BY account_id ORDER BY n DESC LIMIT 10""",
        """SELECT account_id, SUM(status = 'failed') / NULLIF(SUM(status IN
                  ('sent','delivered','failed')), 0) r
           FROM messages m WHERE created_at >= :lo AND created_at < :hi {tm}
           GROUP BY account_id HAVING SUM(status = 'failed') > 0 ORDER BY r DESC LIMIT 10""",
    ],
    "account_health": [
        "SELECT status, COUNT(*) FROM wework_accounts a WHERE 1 {ta} GROUP BY status",
        # disconnects, errors and recoveries per account in the period (no uptime: that
        # needs the whole status timeline, which is what the mart precomputes)
        """SELECT account_id, SUM(prev = 'online' AND new_status IN ('offline', 'error')),
                  SUM(new_status = 'error'), SUM(new_status = 'online' AND prev <> 'online')
           FROM (SELECT h.account_id, h.new_status, h.created_at,
                        LAG(h.new_status) OVER (PARTITION BY h.account_id ORDER BY h.id) prev
                 FROM account_status_history h JOIN wework_accounts a ON a.id = h.account_id
                 WHERE 1 {ta}) x
           WHERE created_at >= :lo AND created_at < :hi GROUP BY account_id""",
        """SELECT account_id, SUM(status IN ('sent','delivered')), SUM(status = 'failed')
           FROM messages m WHERE created_at >= :lo AND created_at < :hi {tm}
           GROUP BY account_id""",
    ],
    "batch_tasks": [
        """SELECT b.id, b.status, b.total_count, b.sent_count, b.success_count,
                  b.failed_count, COUNT(m.id), SUM(m.status IN ('sent','delivered')),
                  SUM(m.status = 'failed')
           FROM batch_send_tasks b LEFT JOIN messages m ON m.batch_id = b.id
           WHERE (b.start_time IS NULL OR b.start_time >= :lo) {tb} GROUP BY b.id""",
    ],
    "callbacks": [
        """SELECT DATE(received_time), event_type, status, COUNT(*),
                  AVG(TIMESTAMPDIFF(MICROSECOND, received_time, process_time))
           FROM callback_events WHERE received_time >= :lo AND received_time < :hi
           GROUP BY 1, 2, 3""",
    ],
    "tenant_usage": [
        """SELECT m.tenant_id, DATE(m.created_at), COUNT(*), COUNT(DISTINCT m.account_id)
           FROM messages m WHERE created_at >= :lo AND created_at < :hi {tm}
           GROUP BY 1, 2""",
        """SELECT a.tenant_id, COUNT(*) FROM wework_accounts a WHERE 1 {ta}
           GROUP BY a.tenant_id""",
    ],
}


# The replica's figures are the contrast, not the goal: a query still running after this
# long is stopped and shown as "> cap" (at 20M, one all-tenants query ran past 10 minutes
# on the local 1 GB buffer pool).
REPLICA_CAP_SECONDS = 120


def replica_report(report: str, tenant_id: str | None, lo: date, hi: date,
                   today: date) -> float | None:
    """Seconds the replica takes for ``report``'s figures; None when a query was stopped
    at REPLICA_CAP_SECONDS (MariaDB's max_statement_time)."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from wework.db.engines import Role, get_engine
    from wework.db.sharding import all_shards

    cond = {k: (f"AND {alias}.tenant_id = :tenant" if tenant_id else "")
            for k, alias in (("tm", "m"), ("ta", "a"), ("tb", "b"))}
    params = {"lo": lo, "hi": hi + timedelta(days=1), "plo": lo - (hi - lo) - timedelta(days=1),
              "today": today, "tenant": tenant_id}
    cap = f"SET STATEMENT max_statement_time = {REPLICA_CAP_SECONDS} FOR "
    start = time.perf_counter()
    for shard in all_shards():
        with get_engine(Role.REPLICA, shard).connect() as conn:
            for sql in REPLICA_SQL[report]:
                try:
                    conn.execute(text(cap + sql.format(**cond)), params).fetchall()
                except OperationalError as e:
                    if "max_statement_time" not in str(e):
                        raise
                    return None
    return time.perf_counter() - start


def replica_ms(seconds: float | None) -> str:
    return f"> {REPLICA_CAP_SECONDS * 1000:,}" if seconds is None else f"{seconds * 1000:.1f}"


# ----------------------------------------------------------------- the marts


def marts_report(report: str, tenant_id: str | None, lo: date, hi: date, today: date,
                 repeat: int) -> tuple[float, float]:
    """(first call, median of ``repeat`` calls) in seconds, each on a fresh read-only
    connection as the page opens it."""
    from ui.report_queries import REPORTS, Filters
    from wework.warehouse import open_marts

    f = Filters(tenant_id, lo, hi)
    extra: tuple = (today,) if report == "overview" else ()

    def once() -> float:
        start = time.perf_counter()
        con = open_marts()
        try:
            REPORTS[report](con, f, *extra)
        finally:
            con.close()
        return time.perf_counter() - start

    first = once()
    return first, statistics.median(once() for _ in range(repeat))


def report_rows(tenant: str, lo: date, hi: date, today: date, repeat: int) -> list[tuple]:
    """(scenario, report, first s, median s, replica s) for every report, for one tenant
    and for all tenants, each printed as it is measured. A tenant's callback figures are
    skipped while the callback mart cannot scope them (the app shows them to platform
    admins only: ``ui.report_queries.CallbacksNotScoped``)."""
    from ui.report_queries import CallbacksNotScoped

    rows = []
    for scenario, tenant_id in (("one tenant", tenant), ("all tenants", None)):
        for report in REPLICA_SQL:
            try:
                first, median = marts_report(report, tenant_id, lo, hi, today, repeat)
            except CallbacksNotScoped:
                print(f"  {scenario:11} {report:15} (platform admins only)", flush=True)
                continue
            replica = replica_report(report, tenant_id, lo, hi, today)
            rows.append((scenario, report, first, median, replica))
            print(f"  {scenario:11} {report:15} marts {median * 1000:7.1f} ms "
                  f"(first {first * 1000:.1f} ms)   replica {replica_ms(replica):>9} ms   "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    return rows


# ----------------------------------------------------------------- setup


def timed(label: str, fn: Callable[[], object]) -> object:
    start = time.perf_counter()
    out = fn()
    print(f"  {label}: {time.perf_counter() - start:.1f} s", flush=True)
    return out


def build(args: argparse.Namespace) -> None:
    import dagster as dg

    from pipelines.assets import mart_assets, published_marts, raw_assets
    from pipelines.resources import MySQLReplicaResource, WarehouseResource
    from wework.config import reload_settings
    from wework.db import migrate
    from wework.db.replication import wait_for_replica
    from wework.seed import SeedConfig, seed

    settings = reload_settings()
    timed("migrate", lambda: migrate.upgrade(settings=settings))
    cfg = SeedConfig(tenants=args.tenants, accounts=args.accounts, days=args.days,
                     messages=args.messages)
    timed(f"seed {args.messages:,} messages", lambda: seed(cfg, settings, replace=True))
    timed("wait for the replica", lambda: wait_for_replica(timeout=600, settings=settings))

    def pipeline() -> None:
        result = dg.materialize(
            [*raw_assets, *mart_assets, published_marts],
            resources={"warehouse": WarehouseResource(), "replica": MySQLReplicaResource()},
        )
        assert result.success

    timed("pipeline (extract, marts, publish)", pipeline)


def biggest_tenant() -> str:
    from wework.warehouse import open_marts

    con = open_marts()
    try:
        return con.execute("SELECT tenant_id FROM marts.message_stats_daily GROUP BY 1 "
                           "ORDER BY sum(total_count) DESC LIMIT 1").fetchone()[0]
    finally:
        con.close()


def main() -> None:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="report-bench-"))
    configure(workdir)
    import logging

    logging.getLogger("dagster").setLevel(logging.WARNING)
    from wework.db import migrate
    from wework.db.engines import dispose_engines

    print(f"Building a warehouse from {args.messages:,} messages "
          f"({args.tenants} tenants, {args.accounts} accounts, {args.days} days) in {workdir}")
    try:
        build(args)
        today = datetime.now(UTC).date()
        lo, hi = today - timedelta(days=29), today
        rows = report_rows(biggest_tenant(), lo, hi, today, args.repeat)
        print()
        print(f"Report data, last 30 days, {args.messages:,}-message warehouse "
              f"(marts: median of {args.repeat}; replica: one run)")
        print("| scenario | report | marts median ms | marts first ms | replica ms "
              "| replica / marts |")
        print("|---|---|---|---|---|---|")
        for scenario, report, first, median, replica in rows:
            ratio = f"> {REPLICA_CAP_SECONDS / median:.0f}" if replica is None else (
                f"{replica / median:.1f}")
            print(f"| {scenario} | {report} | {median * 1000:.1f} | {first * 1000:.1f} "
                  f"| {replica_ms(replica)} | {ratio}x |")
        worst = max(r[3] for r in rows)
        print(f"\nslowest report on the marts: {worst * 1000:.0f} ms "
              f"({'under' if worst < 1 else 'OVER'} the 1 s goal)")
    finally:
        if not args.keep:
            dispose_engines()
            migrate.drop_databases()
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
