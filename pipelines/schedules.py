"""The hourly incremental refresh (every raw table, then the marts, then publishing) and
the backfill job of day ranges."""

from __future__ import annotations

import dagster as dg

from pipelines.assets.backfill import DAY_PARTITIONS, marts_by_day

refresh_job = dg.define_asset_job(
    "refresh_warehouse",
    # Neither the day-partitioned backfill asset (backfill_days) nor the notebook reports:
    # those are partitioned by scope and follow each publish by their own automation
    # (pipelines/reports.py).
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(marts_by_day)
    - dg.AssetSelection.groups("reports"),
    description="Extract incrementally from the replicas, recompute the changed mart "
    "slices, publish them.",
)

backfill_job = dg.define_asset_job(
    "backfill_days",
    selection=dg.AssetSelection.assets(marts_by_day),
    partitions_def=DAY_PARTITIONS,
    description="Re-read a range of days from the source and recompute their slices.",
)

hourly_refresh = dg.ScheduleDefinition(
    name="hourly_refresh",
    job=refresh_job,
    cron_schedule="0 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
