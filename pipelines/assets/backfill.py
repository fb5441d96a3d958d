"""``marts_by_day``: the daily-partitioned view of the marts, for backfills.

A partition is a UTC day. Materializing a range (``wework etl backfill --from --to`` or
the UI's backfill dialog; one run per range: ``BackfillPolicy.single_run``) re-reads those
days from the source and recomputes and publishes their slices (pipelines.backfill); the
UI's partition bar then shows which days were last reconciled with the source, and when.
The hourly refresh stays unpartitioned (its changes follow watermarks, not days), and
there are no tenant × day partitions (DESIGN: the partition space would explode).
"""

from datetime import timedelta

import dagster as dg

from pipelines.assets.raw import WAREHOUSE_POOL
from pipelines.backfill import reextract_days
from pipelines.marts import build_marts
from pipelines.publish import publish
from pipelines.resources import MySQLReplicaResource, WarehouseResource
from wework.config import get_settings

DAY_PARTITIONS = dg.DailyPartitionsDefinition(
    start_date=get_settings().etl_first_day.isoformat(), timezone="UTC", end_offset=1
)


class NoDataInRange(dg.Failure):
    pass


@dg.asset(
    partitions_def=DAY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="marts",
    kinds={"duckdb", "ducklake"},
    pool=WAREHOUSE_POOL,
    description="Days re-read from the source and their mart slices recomputed and "
    "published (pipelines/backfill.py).",
)
def marts_by_day(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    replica: MySQLReplicaResource,
) -> dg.MaterializeResult:
    window = context.partition_time_window
    first = window.start.date()
    last = (window.end - timedelta(days=1)).date()
    with warehouse.connect() as con:
        result = reextract_days(con, replica, first, last, replica.overlap)
        if result.source_rows == 0:
            raise NoDataInRange(
                description=f"--from {first} --to {last}: no messages, status changes or "
                "callback events in that range at the source; nothing to backfill"
            )
        _, builds = build_marts(con, warehouse.now(), clock_step=warehouse.clock_step,
                                  at_once=warehouse.at_once)
        published = publish(con, warehouse.settings(), run_id=context.run.run_id)
    return dg.MaterializeResult(
        metadata={
            "first_day": str(first),
            "last_day": str(last),
            "source_rows": result.source_rows,
            "rows_changed": result.rows_changed,
            "slices": {b.name: b.slices for b in builds if b.slices},
            "snapshot": published.snapshot,
        }
    )
