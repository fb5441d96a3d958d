"""The operations jobs run for real in Dagster (in-process) against the private stack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
from sqlalchemy import text

from pipelines.operations import (
    OperationsResource,
    full_backup_job,
    incremental_backup_job,
    ops_jobs,
    ops_schedules,
    retention_job,
)
from wework.db.engines import Role, get_engine
from wework.ops.manifest import Manifest
from wework.ops.retention import months_before


def resource_for(settings, backup_dir) -> OperationsResource:
    return OperationsResource(
        settings_overrides={
            "data_dir": str(settings.data_dir),
            "primary_url": "",
            "replica_url": "",
            "primary_port": str(settings.primary_port),
            "replica_port": str(settings.replica_port),
            "local_db_password": settings.local_db_password or "",
            "db_name": settings.db_name,
            "shard_count": str(settings.shard_count),
            "backup_dir": str(backup_dir),
        },
    )


def test_definitions_load_with_the_schedules():
    defs = dg.Definitions(jobs=ops_jobs, schedules=ops_schedules)
    assert defs.get_job_def("retention_job") is retention_job
    crons = {s.name: s.cron_schedule for s in ops_schedules}
    assert crons == {
        "daily_retention": "0 2 * * *",
        "daily_full_backup": "0 1 * * *",
        "binlog_backup_every_15_minutes": "*/15 * * * *",
    }


def test_retention_and_backup_jobs_run(fresh_settings, tmp_path):
    resource = resource_for(fresh_settings, tmp_path / "backups")
    cutoff = months_before(datetime.now(UTC).replace(microsecond=0), 36).replace(tzinfo=None)
    engine = get_engine(Role.PRIMARY, 0, fresh_settings)
    with engine.begin() as conn:
        day = timedelta(days=1)
        for label, created in (("old", cutoff - day), ("keep", cutoff + day)):
            conn.execute(
                text(
                    "INSERT INTO account_status_history (account_id, new_status, reason, "
                    "created_at) VALUES ('a', 'online', :label, :ts)"
                ),
                {"label": label, "ts": created},
            )

    result = retention_job.execute_in_process(resources={"ops": resource})
    assert result.success
    assert result.output_for_node("retention_cleanup") == 1
    with engine.connect() as conn:
        reasons = conn.execute(text("SELECT reason FROM account_status_history")).scalars().all()
    assert reasons == ["keep"]

    full = full_backup_job.execute_in_process(resources={"ops": resource})
    incr = incremental_backup_job.execute_in_process(resources={"ops": resource})
    assert full.success and incr.success
    kinds = [b.kind for b in Manifest(tmp_path / "backups").load()]
    assert kinds == ["full", "incremental"]
