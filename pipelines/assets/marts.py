"""``marts/<mart>`` (SQL in sql/marts/) and ``published_marts`` (the readers' copy)."""

import time

import dagster as dg

from pipelines.assets.raw import WAREHOUSE_POOL
from pipelines.checks import PUBLISH_MAX_AGE, mart_check_results, mart_check_specs
from pipelines.marts import MART_INPUTS, build_mart
from pipelines.resources import WarehouseResource
from wework import metrics
from wework.warehouse import MART_NAMES, open_marts, publish_marts

# Refresh when new raw data lands (or a dependency is otherwise updated), once nothing
# upstream is still running; the automation sensor evaluates it.
REFRESH = dg.AutomationCondition.eager()
# Warn when the readers' marts are older than the hourly schedule allows.
FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=PUBLISH_MAX_AGE * 2, warn_window=PUBLISH_MAX_AGE
)


def _mart_asset(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["marts", name],
        deps=[dg.AssetKey(["raw", t]) for t in MART_INPUTS[name]],
        group_name="marts",
        kinds={"duckdb", "sql"},
        pool=WAREHOUSE_POOL,
        automation_condition=REFRESH,
        check_specs=mart_check_specs(name),
        description=f"sql/marts/{name}.sql, rebuilt atomically from raw.",
    )
    def _build(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        as_of = warehouse.now()
        started = time.perf_counter()
        with warehouse.connect() as con:
            rows = build_mart(con, name, as_of)
            checks = mart_check_results(con, name)
        metrics.pipeline_run(f"marts/{name}", rows, time.perf_counter() - started)
        return dg.MaterializeResult(
            metadata={"rows": rows, "as_of": str(as_of)}, check_results=checks
        )

    return _build


mart_assets = [_mart_asset(name) for name in MART_NAMES]


@dg.asset(
    deps=[dg.AssetKey(["marts", name]) for name in MART_NAMES],
    group_name="marts",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    automation_condition=REFRESH,
    freshness_policy=FRESHNESS,
    description="The marts copied into a new read-only DuckDB file under WEWORK_PUBLISH_DIR "
    "and swapped in atomically; readers open it with wework.warehouse.open_marts().",
)
def published_marts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        path = publish_marts(
            con, warehouse.settings(), run_id=context.run.run_id, as_of=warehouse.now()
        )
    return dg.MaterializeResult(metadata={"path": str(path)})


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
