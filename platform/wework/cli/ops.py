"""`wework db backup | backups | restore | maintain`: thin commands over :mod:`wework.ops`.

Registered on the ``db`` group (:mod:`wework.cli.db`) by :func:`add_ops_commands`.
"""

from __future__ import annotations

import typer

from wework.cli.common import fail


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def backup(
    incremental: bool = typer.Option(
        False, "--incremental", help="Copy the binlogs written since the last backup."
    ),
) -> None:
    """Back up every shard database of the primary into WEWORK_BACKUP_DIR (default
    <data_dir>/backups). Full: one consistent `mariadb-dump --single-transaction` of all
    shards, gzip-compressed, with its binlog position and GTID. `--incremental`: flush and
    copy the closed binlogs since the previous backup. Each file's size and SHA-256 go into
    manifest.json; backups older than WEWORK_BACKUP_RETENTION_DAYS (30) are then removed
    (never the newest full backup or anything after it)."""
    from wework.config import reload_settings
    from wework.ops.backup import BackupError, full_backup, incremental_backup
    from wework.ops.clients import ToolError
    from wework.ops.manifest import ManifestError

    settings = reload_settings()
    try:
        made = incremental_backup(settings) if incremental else full_backup(settings)
    except (BackupError, ToolError, ManifestError) as e:
        fail(str(e))
    directory = settings.backup_path
    typer.echo(
        f"{made.kind} backup {made.name}: databases {', '.join(made.databases)}; binlog "
        f"{made.binlog_file}:{made.binlog_position} → {made.end_file}:{made.end_position}; "
        f"GTID {made.gtid or '-'}; {_size(made.size)}"
    )
    for f in made.files:
        typer.echo(f"  {directory / f.path}  {_size(f.size)}  sha256 {f.sha256}")


def backups() -> None:
    """List the backups in the manifest (oldest first)."""
    from wework.config import reload_settings
    from wework.ops.manifest import Manifest

    settings = reload_settings()
    manifest = Manifest(settings.backup_path)
    listed = manifest.load()
    if not listed:
        typer.echo(f"no backups in {manifest.directory}")
        return
    for b in listed:
        typer.echo(
            f"{b.name:28} {b.kind:11} {b.created_at}  {b.binlog_file}:{b.binlog_position}"
            f"  GTID {b.gtid or '-':14} {_size(b.size):>10}  {len(b.files)} file(s)"
        )


def restore(
    name: str | None = typer.Argument(
        None, help="Full backup to restore (see `wework db backups`); default the latest."
    ),
    until: str | None = typer.Option(
        None,
        "--until",
        help='Replay binlogs up to this UTC moment, "YYYY-MM-DD HH:MM:SS" (point in time).',
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite shard databases that hold data."),
) -> None:
    """Restore the latest full backup (or NAME) into the primary, then with --until replay
    the backed-up binlogs up to that UTC moment. Verifies every file's SHA-256 first. Prints
    exactly what it will overwrite (databases, tables, row counts) and refuses if any table
    holds rows unless --force. The replica follows through replication."""
    from wework.config import reload_settings
    from wework.ops.clients import ToolError
    from wework.ops.manifest import ManifestError
    from wework.ops.restore import RestoreError, parse_until, plan_restore
    from wework.ops.restore import restore as run_restore

    settings = reload_settings()
    try:
        moment = parse_until(until) if until else None
        plan = plan_restore(name, moment, settings)
        typer.echo(plan.describe())
        result = run_restore(plan, force=force, settings=settings, echo=typer.echo)
    except (RestoreError, ManifestError, ToolError) as e:
        fail(str(e))
    typer.echo(
        f"restored in {result.seconds:.1f} s (load {result.seconds_load:.1f} s, binlog replay "
        f"{result.seconds_replay:.1f} s); now:"
    )
    for t in result.tables:
        typer.echo(f"  {t.database}.{t.table}: {t.rows} rows")


def maintain() -> None:
    """The spec's data cleanup on every shard: whole partitions older than the retention
    cutoff dropped, the remaining old rows deleted 10,000 per transaction. Retention in
    calendar months: WEWORK_RETENTION_MESSAGES_MONTHS (36),
    WEWORK_RETENTION_ACCOUNT_STATUS_HISTORY_MONTHS (36),
    WEWORK_RETENTION_CALLBACK_EVENTS_MONTHS (36). Rows inside the window are never touched."""
    from wework.config import reload_settings
    from wework.ops.retention import maintain as run_maintain

    reports = run_maintain(reload_settings(), echo=typer.echo)
    typer.echo(f"removed {sum(r.rows_removed for r in reports)} rows in all")


def add_ops_commands(db_app: typer.Typer) -> None:
    db_app.command("backup")(backup)
    db_app.command("backups")(backups)
    db_app.command("restore")(restore)
    db_app.command("maintain")(maintain)
