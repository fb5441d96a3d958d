"""The Dagster code location (``dagster dev`` from the repo root loads ``defs``).

Assets run in one process, one at a time (in_process_executor): a DuckDB file takes one
writer (a second run waits for the file's lock, see wework.warehouse.connect_warehouse).
Marts refresh on the hourly schedule and, through their eager automation condition
(evaluated by Dagster's default automation sensor), whenever new raw data lands outside
it. published_marts carries a freshness policy (warn after 2 h) and a freshness check.
"""

from __future__ import annotations

import dagster as dg

from pipelines.assets import (
    mart_assets,
    marts_by_day,
    published_marts,
    raw_assets,
)
from pipelines.operations import ops_jobs, ops_schedules  # retention + backups
from pipelines.reports import (
    ReportsResource,
    report_assets,
    report_scopes_sensor,
    reports_automation_sensor,
)
from pipelines.resources import MySQLReplicaResource, WarehouseResource
from pipelines.schedules import backfill_job, hourly_refresh, refresh_job


def resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(),
        "replica": MySQLReplicaResource(),
        "reports": ReportsResource(),
    }


defs = dg.Definitions(
    assets=[*raw_assets, *mart_assets, published_marts, marts_by_day, *report_assets()],
    jobs=[refresh_job, backfill_job, *ops_jobs],
    schedules=[hourly_refresh, *ops_schedules],
    sensors=[report_scopes_sensor, reports_automation_sensor],
    resources=resources(),
    executor=dg.in_process_executor,
)
