"""Operations on Dagster schedules: data retention daily, backups full daily and
incremental every 15 minutes (the spec's RPO is 15 minutes).

``pipelines.definitions`` adds ``ops_jobs`` and ``ops_schedules`` to the code location.
The jobs carry their own ``ops`` resource, so they need nothing from the code location.
Schedules start STOPPED (Dagster's default): turn them on in the UI or with
``dagster schedule start``, on the deployment that owns the backups.
"""

import dagster as dg

from wework.config import Settings, get_settings
from wework.ops.backup import full_backup, incremental_backup
from wework.ops.retention import maintain


class OperationsResource(dg.ConfigurableResource):
    """Where operations act: the WEWORK_* settings, with optional overrides (tests point
    it at a private stack: ``settings_overrides={"primary_port": "...", ...}``)."""

    settings_overrides: dict[str, str] = {}

    def settings(self) -> Settings:
        if not self.settings_overrides:
            return get_settings()
        return Settings(**{**get_settings().model_dump(), **self.settings_overrides})


@dg.op(description="Spec cleanup: drop wholly expired partitions, delete old rows in batches.")
def retention_cleanup(context: dg.OpExecutionContext, ops: OperationsResource) -> dg.Output:
    reports = maintain(ops.settings(), echo=context.log.info)
    removed = sum(r.rows_removed for r in reports)
    return dg.Output(
        removed,
        metadata={
            "rows_removed": removed,
            "rows_deleted": sum(r.rows_deleted for r in reports),
            "partitions_dropped": ", ".join(
                f"{r.shard}:{r.table}.{name}" for r in reports for name, _ in r.dropped_partitions
            )
            or "none",
            "report": dg.MetadataValue.md("\n".join(f"- {r.summary()}" for r in reports)),
        },
    )


def _backup_output(made) -> dg.Output:
    return dg.Output(
        made.name,
        metadata={
            "kind": made.kind,
            "binlog": f"{made.binlog_file}:{made.binlog_position}",
            "gtid": made.gtid,
            "bytes": made.size,
            "files": len(made.files),
        },
    )


@dg.op(description="Consistent full dump of every shard database (mariadb-dump).")
def full_backup_op(context: dg.OpExecutionContext, ops: OperationsResource) -> dg.Output:
    made = full_backup(ops.settings())
    context.log.info(f"full backup {made.name}: {made.size} bytes, GTID {made.gtid}")
    return _backup_output(made)


@dg.op(description="Copy the binlogs closed since the previous backup.")
def incremental_backup_op(context: dg.OpExecutionContext, ops: OperationsResource) -> dg.Output:
    made = incremental_backup(ops.settings())
    context.log.info(f"incremental backup {made.name}: {len(made.files)} binlog file(s)")
    return _backup_output(made)


_RESOURCES = {"ops": OperationsResource()}


@dg.job(resource_defs=_RESOURCES, description="wework db maintain")
def retention_job() -> None:
    retention_cleanup()


@dg.job(resource_defs=_RESOURCES, description="wework db backup")
def full_backup_job() -> None:
    full_backup_op()


@dg.job(resource_defs=_RESOURCES, description="wework db backup --incremental")
def incremental_backup_job() -> None:
    incremental_backup_op()


# Spec: cleanup_old_messages runs daily at 02:00; backups before it, binlogs every 15 min.
retention_schedule = dg.ScheduleDefinition(
    name="daily_retention", job=retention_job, cron_schedule="0 2 * * *", execution_timezone="UTC"
)
full_backup_schedule = dg.ScheduleDefinition(
    name="daily_full_backup",
    job=full_backup_job,
    cron_schedule="0 1 * * *",
    execution_timezone="UTC",
)
incremental_backup_schedule = dg.ScheduleDefinition(
    name="binlog_backup_every_15_minutes",
    job=incremental_backup_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
)

ops_jobs = [retention_job, full_backup_job, incremental_backup_job]
ops_schedules = [retention_schedule, full_backup_schedule, incremental_backup_schedule]
