"""`wework db up | down | reset | status`: the local MariaDB pair (or the external servers).

The other ``db`` commands live in :mod:`wework.cli.schema` (migrate, partitions, ddl,
seed) and :mod:`wework.cli.ops` (backup, backups, restore, maintain).
"""

from __future__ import annotations

import typer

from wework.cli.common import command_group, fail
from wework.config import reload_settings

db_app = command_group(
    "The MySQL (MariaDB) primary and read replica. Without WEWORK_PRIMARY_URL / "
    "WEWORK_REPLICA_URL a local pair is run from the installed binaries, with its data "
    "under WEWORK_DATA_DIR (default .data/)."
)


def _external_note(action: str) -> None:
    typer.echo(
        f"Using the external servers from WEWORK_PRIMARY_URL / WEWORK_REPLICA_URL: {action}."
    )


@db_app.command("up")
def db_up() -> None:
    """Start the local primary + replica (initialising them and local.env secrets on first
    use) and set up GTID replication and the lag heartbeat. Safe to run again: a running
    pair is only checked. With external URLs, starts nothing: checks both servers answer
    and makes sure the heartbeat table and event exist on the primary."""
    from wework.db.engines import Role, get_engine
    from wework.db.localstack import LocalStack, LocalStackError
    from wework.db.replication import ensure_heartbeat, replication_status

    settings = reload_settings()
    if settings.uses_local_stack:
        try:
            LocalStack.from_settings(settings, echo=typer.echo).up()
        except LocalStackError as e:
            fail(str(e))
        reload_settings()  # pick up a freshly generated local.env
        return
    _external_note("nothing to start")
    status = replication_status(settings)
    if not status.primary.reachable:
        fail(f"primary unreachable: {status.primary.error}")
    if not ensure_heartbeat(get_engine(Role.PRIMARY, shard=None, settings=settings)):
        typer.echo("warning: event_scheduler is OFF on the primary: the lag heartbeat is stale")
    for problem in status.problems:
        typer.echo(f"warning: {problem}")


@db_app.command("down")
def db_down() -> None:
    """Stop the local primary and replica (data is kept). Safe to run again. With external
    URLs, stops nothing."""
    from wework.db.localstack import LocalStack

    settings = reload_settings()
    if not settings.uses_local_stack:
        _external_note("nothing to stop")
        return
    LocalStack.from_settings(settings, echo=typer.echo).down()


@db_app.command("reset")
def db_reset(
    yes: bool = typer.Option(False, "--yes", help="Confirm: really delete the local data."),
) -> None:
    """Stop the local pair and DELETE all its databases (<data_dir>/mysql). The secrets in
    local.env are kept. Refuses without --yes. With external URLs, deletes nothing."""
    from wework.db.localstack import LocalStack

    settings = reload_settings()
    if not settings.uses_local_stack:
        _external_note("nothing to delete")
        return
    stack = LocalStack.from_settings(settings, echo=typer.echo)
    if not yes:
        fail(f"Refusing to delete {stack.mysql_dir} without --yes.")
    stack.reset()


@db_app.command("status")
def db_status() -> None:
    """Show each server (pid, port, version), the replica's IO/SQL threads, the GTID
    positions and the heartbeat lag. Exits non-zero if a server is down or replication is
    broken."""
    from wework.db.localstack import LocalStack
    from wework.db.replication import replication_status

    settings = reload_settings()
    status = replication_status(settings)
    local = LocalStack.from_settings(settings).status() if settings.uses_local_stack else {}

    def cell(value: object) -> str:
        return "-" if value is None or value == "" else str(value)

    rows = [("server", "state", "pid", "address", "version", "IO", "SQL", "GTID", "lag s")]
    for info in (status.primary, status.replica):
        proc = local.get(info.role)
        state = "up" if info.reachable else "DOWN"
        if proc is not None and proc.running and not info.reachable:
            state = "running, refusing connections"
        if info.role == "primary":
            io = sql = lag = None
            gtid = status.primary_gtid_binlog_pos and f"binlog {status.primary_gtid_binlog_pos}"
        elif status.same_server:
            io = sql = lag = None
            gtid = "(same server as primary)"
        else:
            io, sql = status.io_running, status.sql_running
            lag = None if status.lag_seconds is None else f"{status.lag_seconds:.3f}"
            gtid = status.gtid_io_pos and (
                f"io {status.gtid_io_pos} applied {status.replica_gtid_slave_pos}"
            )
        version = (info.version or "").split("-")[0] or None
        rows.append(
            (
                info.role,
                state,
                cell(proc.pid if proc else None),
                info.address,
                cell(version),
                cell(io),
                cell(sql),
                cell(gtid),
                cell(lag),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)))
    if status.seconds_behind_master is not None:
        typer.echo(f"Seconds_Behind_Master: {status.seconds_behind_master}")
    for note in status.notes:
        typer.echo(f"note: {note}")
    if status.problems:
        for problem in status.problems:
            typer.secho(f"problem: {problem}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    if status.same_server:
        typer.echo("ok: primary up (no separate replica configured: reads use the primary)")
    else:
        typer.echo("ok: both servers up, replication running")
