"""The hourly incremental refresh: every raw table, then the marts, then publishing."""

from __future__ import annotations

import dagster as dg

refresh_job = dg.define_asset_job(
    "refresh_warehouse",
    # Not the notebook reports: they are partitioned by scope and follow each publish by
    # their own automation (pipelines/reports.py).
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("reports"),
    description="Extract incrementally from the replicas, rebuild the marts, publish them.",
)

hourly_refresh = dg.ScheduleDefinition(
    name="hourly_refresh",
    job=refresh_job,
    cron_schedule="0 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
