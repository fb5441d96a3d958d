"""``marts/<mart>`` (SQL in sql/marts/, specs in pipelines.registry), built in ONE step
that recomputes only the changed slices, and ``published_marts`` (the readers' lake).

``published_marts`` is materialized only when something was published, so the notebook
reports that follow it do not react to a run that changed nothing. The marts are
materialized every run (the publish step would be skipped otherwise), but the checks of
a mart with nothing recomputed are not reported: they check the recomputed slices."""

import time

import dagster as dg

from pipelines.assets.raw import FULL_REFRESH_TAG, WAREHOUSE_POOL, raw_key
from pipelines.checks import PUBLISH_MAX_AGE, mart_check_results, mart_check_specs
from pipelines.marts import build_marts
from pipelines.publish import publish
from pipelines.registry import MART_NAMES, MARTS
from pipelines.resources import WarehouseResource
from wework import metrics

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
            deps=[raw_key(t) for t in spec.source_tables]
            + [mart_key(m) for m in spec.mart_inputs],
            group_name="marts",
            kinds={"duckdb", "sql"},
            automation_condition=REFRESH,
            description=f"sql/marts/{spec.name}.sql; grain {spec.key}; recomputed by slice "
            f"{spec.slice} (pipelines.marts).",
        )
        for spec in MARTS
    ],
    check_specs=[c for name in MART_NAMES for c in mart_check_specs(name)],
    # Every run brings every mart up to date (it costs what changed); a subset selected
    # in the UI only narrows what is reported. (It also makes the check results optional,
    # so a mart with nothing recomputed reports none.)
    can_subset=True,
    pool=WAREHOUSE_POOL,
)
def marts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    whole = context.run.tags.get(FULL_REFRESH_TAG) == "true"
    with warehouse.connect() as con:
        as_of, builds = build_marts(con, warehouse.now(), whole=whole,
                                    clock_step=warehouse.clock_step, at_once=warehouse.at_once)
    for b in builds:
        metrics.pipeline_run(f"marts/{b.name}", b.rows, b.seconds)
        if mart_key(b.name) not in context.selected_asset_keys:
            continue
        yield dg.MaterializeResult(
            asset_key=mart_key(b.name),
            metadata={
                "mode": b.mode,
                "slices": b.slices,
                "rows_written": b.rows,
                "seconds": round(b.seconds, 3),
                "as_of": str(as_of),
                **({"aggregates": dg.MetadataValue.json(b.aggregates)} if b.aggregates else {}),
            },
        )
        # The checks cover the recomputed slices: an unchanged mart has nothing to check.
        if b.mode != "unchanged":
            yield from mart_check_results(b)


mart_assets = [marts]

PUBLISHED_FRESH = "published_marts_fresh"


@dg.asset(
    deps=[mart_key(name) for name in MART_NAMES],
    group_name="marts",
    kinds={"ducklake", "parquet"},
    pool=WAREHOUSE_POOL,
    automation_condition=REFRESH,
    freshness_policy=FRESHNESS,
    output_required=False,
    check_specs=[
        dg.AssetCheckSpec(
            PUBLISHED_FRESH,
            asset="published_marts",
            description=f"the published marts are younger than {PUBLISH_MAX_AGE} (warning)",
        )
    ],
    description="The marts' changed rows committed to the readers' DuckLake under "
    "WEWORK_PUBLISH_DIR in one transaction (pipelines.publish); readers open it with "
    "wework.warehouse.open_marts(). Materialized only when something was published.",
)
def published_marts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    started = time.perf_counter()
    with warehouse.connect() as con:
        result = publish(con, warehouse.settings(), run_id=context.run.run_id)
    if result.repaired:
        context.log.warning(f"published marts were damaged and are published anew: "
                            f"{result.repaired}")
    if result.published:
        yield dg.MaterializeResult(
            metadata={
                "snapshot": result.snapshot,
                "published": result.published,
                "whole_marts": ", ".join(result.whole) or "-",
                "rows_by_mart": dg.MetadataValue.json(result.keys),
                "rows_written": result.rows,
                "compacted": result.compacted,
                "as_of": str(result.as_of),
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
    # Checked in this step from what the publisher knows (its last commit's time), not
    # by opening the lake again in a step of its own (0.25-0.5 s a run, measured).
    published_at = result.published_at
    age = warehouse.now() - published_at if published_at else None
    yield dg.AssetCheckResult(
        check_name=PUBLISHED_FRESH,
        passed=age is not None and age <= PUBLISH_MAX_AGE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"published_at": str(published_at),
                  "age_seconds": age.total_seconds() if age is not None else None},
    )
