"""The hourly incremental refresh: every raw table, then the marts, then publishing."""

from __future__ import annotations

import dagster as dg

refresh_job = dg.define_asset_job(
    "refresh_warehouse",
    selection=dg.AssetSelection.all(),
    description="Extract incrementally from the replicas, rebuild the marts, publish them.",
)

hourly_refresh = dg.ScheduleDefinition(
    name="hourly_refresh",
    job=refresh_job,
    cron_schedule="0 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
