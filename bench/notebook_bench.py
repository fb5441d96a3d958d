"""Building every notebook report at scale, beside one plain nbclient run, and a refresh
after one tenant's data changed.

In one run: seed its own databases (``wework_bench_notebooks_*``, dropped at the end) with
``--messages`` messages, wait for the replica, run the real pipeline (extract → marts →
publish, the marts' "now" pinned), then

- **baseline**: the four notebooks executed once each, platform-wide, by plain nbclient
  (a fresh kernel per notebook, as ``jupyter nbconvert --execute`` would);
- **full build**: every notebook for the platform and for every tenant with accounts
  (4 × (1 + 20) = 84 reports by default) through the Dagster report assets in this
  process: papermill on a pool of reused kernels, HTML rendering, the report store;
- **refresh**: one tenant's messages change (``--changed`` delivered messages marked
  failed), the pipeline publishes again, Dagster's automation conditions are evaluated
  and exactly what they request is built. It must be that tenant's and the platform-wide
  reports of the notebooks whose marts changed, and nothing else.

Each step prints wall time, CPU seconds (this process and its kernels) and the load
average, so the ratio to the baseline holds on a busy machine.

    .venv/bin/python bench/notebook_bench.py --messages 2000000

Goal (issue 13): the full build in under 5 minutes on this machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

GOAL_SECONDS = 300


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=2_000_000)
    p.add_argument("--tenants", type=int, default=20)
    p.add_argument("--accounts", type=int, default=400)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--changed", type=int, default=200, help="messages changed for the refresh")
    p.add_argument("--workers", type=int, default=None, help="kernels (default: the setting)")
    p.add_argument("--keep", action="store_true", help="keep the bench databases and files")
    return p.parse_args()


def configure(workdir: Path) -> None:
    """Private databases, warehouse, reports and Dagster instance."""
    os.environ["WEWORK_DB_NAME"] = "wework_bench_notebooks"
    os.environ["WEWORK_WAREHOUSE_PATH"] = str(workdir / "warehouse.duckdb")
    os.environ["WEWORK_PUBLISH_DIR"] = str(workdir / "published")
    os.environ["WEWORK_REPORTS_DIR"] = str(workdir / "reports")


def cpu_seconds() -> float:
    """CPU of this process and its finished children (kernels are reaped at pool close)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Step:
    """Times a step: wall, CPU, load average before and after."""

    rows: list[tuple[str, float, float, str]] = []

    def __init__(self, label: str) -> None:
        self.label = label

    def __enter__(self) -> Step:
        self.load = os.getloadavg()[0]
        self.cpu, self.wall = cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.wall
        self.cpu_used = cpu_seconds() - self.cpu
        load = f"{self.load:.1f} → {os.getloadavg()[0]:.1f}"
        Step.rows.append((self.label, self.seconds, self.cpu_used, load))
        print(
            f"  {self.label}: {self.seconds:.1f} s wall, {self.cpu_used:.1f} s CPU (load {load})",
            flush=True,
        )


def pipeline(as_of: datetime, instance=None) -> None:
    import dagster as dg

    from pipelines.assets import mart_assets, published_marts, raw_assets
    from pipelines.resources import MySQLReplicaResource, WarehouseResource

    result = dg.materialize(
        [*raw_assets, *mart_assets, published_marts],
        instance=instance,
        resources={
            "warehouse": WarehouseResource(as_of=as_of.isoformat()),
            "replica": MySQLReplicaResource(),
        },
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    assert result.success


def baseline() -> None:
    """The four notebooks, platform-wide, each by plain nbclient in a fresh kernel."""
    import jupytext
    from nbclient import NotebookClient

    from wework.reports.notebooks import NOTEBOOKS_DIR, discover

    for nb in discover():
        notebook = jupytext.read(nb.path)
        NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=1800,
            resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
        ).execute()


def change_one_tenant(n: int) -> str:
    """Mark ``n`` delivered messages (outside batches) of the busiest tenant failed."""
    from sqlalchemy import text

    from wework.db.engines import Role, get_engine

    with get_engine(Role.PRIMARY, 0).begin() as conn:
        tenant = conn.execute(
            text(
                "SELECT tenant_id FROM messages WHERE created_at >= NOW() - INTERVAL 20 DAY "
                "GROUP BY tenant_id ORDER BY COUNT(*) DESC LIMIT 1"
            )
        ).scalar_one()
        conn.execute(
            text(
                "UPDATE messages SET status = 'failed', updated_at = NOW(6) WHERE tenant_id = :t "
                "AND status = 'delivered' AND batch_id IS NULL "
                "AND created_at >= NOW() - INTERVAL 20 DAY LIMIT :n"
            ),
            {"t": tenant, "n": n},
        )
    return tenant


def built(results) -> int:
    return sum(len(r.get_asset_materialization_events()) for r in results)


def main() -> None:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="notebook-bench-"))
    configure(workdir)
    import logging

    logging.getLogger("dagster").setLevel(logging.WARNING)
    import dagster as dg

    from pipelines.assets import mart_assets, published_marts, raw_assets
    from pipelines.reports import ReportsResource, materialize_reports, report_assets
    from pipelines.resources import MySQLReplicaResource, WarehouseResource
    from wework.config import reload_settings
    from wework.db import migrate
    from wework.db.engines import dispose_engines
    from wework.db.replication import wait_for_replica
    from wework.reports import inputs
    from wework.reports.scope import PLATFORM
    from wework.seed import SeedConfig, seed

    print(
        f"Reports from {args.messages:,} messages ({args.tenants} tenants, {args.accounts} "
        f"accounts, {args.days} days) in {workdir}; {os.cpu_count()} cores"
    )
    as_of = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    reports = ReportsResource(workers=args.workers)
    try:
        settings = reload_settings()
        with Step("migrate + seed"):
            migrate.upgrade(settings=settings)
            seed(
                SeedConfig(
                    tenants=args.tenants,
                    accounts=args.accounts,
                    days=args.days,
                    messages=args.messages,
                ),
                settings,
                replace=True,
            )
            wait_for_replica(timeout=900, settings=settings)
        with dg.instance_for_test() as instance:
            with Step("pipeline (extract, marts, publish)"):
                pipeline(as_of, instance)
            snapshot = inputs.current_snapshot()
            with Step("input fingerprints of the published marts (every scope)"):
                inputs._digests(snapshot.path, settings.report_period_days)
            with Step("baseline: 4 notebooks platform-wide, plain nbclient") as base:
                baseline()
            with Step("full build: every notebook × every scope (Dagster)") as full:
                results = materialize_reports(instance, reports=reports)
            n_full = built(results)
            failed = [r for r in results if not r.success]
            scopes = instance.get_dynamic_partitions("report_scope")
            defs = dg.Definitions(
                assets=[*raw_assets, *mart_assets, published_marts, *report_assets()],
                resources={
                    "warehouse": WarehouseResource(),
                    "replica": MySQLReplicaResource(),
                    "reports": reports,
                },
            )
            # The automation's first ticks: everything is built, nothing is requested.
            tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
            tick = dg.evaluate_automation_conditions(
                defs=defs, instance=instance, cursor=tick.cursor
            )
            idle = sum(tick.get_num_requested(a.key) for a in report_assets())

            with Step(f"change {args.changed} messages of one tenant"):
                tenant = change_one_tenant(args.changed)
                wait_for_replica(timeout=300, settings=settings)
            with Step("pipeline again (incremental)"):
                pipeline(as_of, instance)
            with Step("automation: evaluate which reports to rebuild"):
                tick = dg.evaluate_automation_conditions(
                    defs=defs, instance=instance, cursor=tick.cursor
                )
            wanted = {
                k.path[-1]: sorted(tick.get_requested_partitions(k))
                for k in (a.key for a in report_assets())
            }
            with Step("refresh: build what the automation requested") as refresh:
                rebuilt = []
                for name, parts in wanted.items():
                    if parts:
                        rebuilt += materialize_reports(instance, notebooks=[name], scopes=parts)
            n_refresh = built(rebuilt)
    finally:
        if not args.keep:
            dispose_engines()
            migrate.drop_databases()
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print("| step | wall s | CPU s | load avg |\n|---|---|---|---|")
    for label, seconds, cpu, load in Step.rows:
        print(f"| {label} | {seconds:.1f} | {cpu:.1f} | {load} |")
    per_report = full.seconds / max(n_full, 1)
    per_baseline = base.seconds / 4
    print(
        f"\nfull build: {n_full} reports ({len(scopes)} scopes × 4 notebooks) in "
        f"{full.seconds:.1f} s = {per_report:.2f} s/report; baseline {base.seconds:.1f} s "
        f"for 4 = {per_baseline:.2f} s/notebook ({per_baseline / per_report:.1f}× per "
        f"report); {'under' if full.seconds < GOAL_SECONDS else 'OVER'} the 5-minute goal"
        + (f"; {len(failed)} run(s) failed" if failed else "")
    )
    others = {n: p for n, p in wanted.items() if set(p) - {PLATFORM, tenant}}
    print(f"automation before the change: {idle} report(s) requested (expected 0)")
    print(
        "refresh after one tenant changed: requested "
        + ", ".join(
            f"{n}: {['platform' if p == PLATFORM else 'that tenant' for p in parts]}"
            for n, parts in wanted.items()
        )
        + f"; {n_refresh} report(s) rebuilt in {refresh.seconds:.1f} s"
        + ("" if not others else f"; UNEXPECTED scopes: {others}")
    )


if __name__ == "__main__":
    main()
