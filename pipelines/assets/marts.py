"""``marts/<mart>`` (SQL in sql/marts/, specs in pipelines.registry), built in ONE step
that recomputes only the changed slices, and ``published_marts`` (the readers' lake)."""

import time

import dagster as dg

from pipelines.assets.raw import FULL_REFRESH_TAG, WAREHOUSE_POOL, raw_key
from pipelines.checks import PUBLISH_MAX_AGE, mart_check_results, mart_check_specs
from pipelines.marts import build_marts
from pipelines.publish import publish
from pipelines.registry import MART_NAMES, MARTS
from pipelines.resources import WarehouseResource
from wework import metrics
from wework.warehouse import open_marts

# Refresh when new raw data lands (or a dependency is otherwise updated), once nothing
# upstream is still running; the automation sensor evaluates it.
REFRESH = dg.AutomationCondition.eager()
# Warn when the readers' marts are older than the hourly schedule allows.
FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=PUBLISH_MAX_AGE * 2, warn_window=PUBLISH_MAX_AGE
)


def mart_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["marts", name])


@dg.multi_asset(
    name="marts",
    specs=[
        dg.AssetSpec(
            mart_key(spec.name),
            deps=[raw_key(t) for t in spec.raw_inputs] + [mart_key(m) for m in spec.mart_inputs],
            group_name="marts",
            kinds={"duckdb", "sql"},
            automation_condition=REFRESH,
            description=f"sql/marts/{spec.name}.sql; grain {spec.key}; recomputed by slice "
            f"{spec.slice} (pipelines.marts).",
        )
        for spec in MARTS
    ],
    check_specs=[c for name in MART_NAMES for c in mart_check_specs(name)],
    pool=WAREHOUSE_POOL,
)
def marts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    as_of = warehouse.now()
    whole = context.run.tags.get(FULL_REFRESH_TAG) == "true"
    with warehouse.connect() as con:
        builds = build_marts(con, as_of, whole=whole)
    for b in builds:
        metrics.pipeline_run(f"marts/{b.name}", b.rows, b.seconds)
        yield dg.MaterializeResult(
            asset_key=mart_key(b.name),
            metadata={
                "mode": b.mode,
                "slices": b.slices,
                "rows_written": b.rows,
                "seconds": round(b.seconds, 3),
                "as_of": str(as_of),
            },
        )
        yield from mart_check_results(b)


mart_assets = [marts]


@dg.asset(
    deps=[mart_key(name) for name in MART_NAMES],
    group_name="marts",
    kinds={"ducklake", "parquet"},
    pool=WAREHOUSE_POOL,
    automation_condition=REFRESH,
    freshness_policy=FRESHNESS,
    description="The marts' changed slices committed to the readers' DuckLake under "
    "WEWORK_PUBLISH_DIR in one transaction (pipelines.publish); readers open it with "
    "wework.warehouse.open_marts().",
)
def published_marts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    started = time.perf_counter()
    with warehouse.connect() as con:
        result = publish(
            con, warehouse.settings(), run_id=context.run.run_id, as_of=warehouse.now()
        )
    if result.repaired:
        context.log.warning(f"published marts were damaged and are published anew: "
                            f"{result.repaired}")
    return dg.MaterializeResult(
        metadata={
            "snapshot": result.snapshot,
            "published": result.published,
            "whole_marts": ", ".join(result.whole) or "-",
            "slices": str(result.slices),
            "rows_written": result.rows,
            "compacted": result.compacted,
            "seconds": round(time.perf_counter() - started, 3),
        }
    )


@dg.asset_check(
    asset=published_marts,
    name="published_marts_fresh",
    description=f"the published marts are younger than {PUBLISH_MAX_AGE} (warning)",
)
def published_marts_fresh(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    con = open_marts(warehouse.settings())
    try:
        (published_at,) = con.execute("SELECT published_at FROM marts.publish_info").fetchone()
    finally:
        con.close()
    age = warehouse.now() - published_at
    return dg.AssetCheckResult(
        passed=age <= PUBLISH_MAX_AGE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"published_at": str(published_at), "age_seconds": age.total_seconds()},
    )
