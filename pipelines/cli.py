"""``wework etl``: run the Dagster pipelines in-process, and show the warehouse's state.

This command group lives with the Dagster code and plugs into the ``wework`` command
through the ``wework.cli`` entry-point group (pyproject.toml), so the platform package
never imports the code location.
"""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from wework.cli.common import command_group

etl_app = command_group(
    "Pipelines: extract from the replicas into DuckDB, build and publish the marts."
)


@etl_app.command("run")
def run(
    full: bool = typer.Option(
        False, "--full", help="Re-read every table completely instead of incrementally."
    ),
) -> None:
    """Materialize every asset once, in this process: raw tables (incremental from the
    watermarks), the marts, and their published copy for the app and notebooks. The run
    is recorded in the Dagster instance (`wework etl home`), so the Dagster UI lists it
    with its logs, materializations and check results."""
    from pipelines.assets.raw import FULL_REFRESH_TAG
    from pipelines.definitions import defs
    from pipelines.instance import get_instance
    from pipelines.schedules import refresh_job
    from wework import metrics
    from wework.config import reload_settings

    instance = get_instance(reload_settings())
    job = defs.resolve_job_def(refresh_job.name)
    result = job.execute_in_process(
        instance=instance,
        tags={FULL_REFRESH_TAG: "true"} if full else None,
        raise_on_error=False,
        # Dagster's own step-by-step DEBUG lines drown the summary printed below.
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        meta = {k: v.value for k, v in mat.metadata.items()}
        key = mat.asset_key.to_user_string()
        if "rows_read" in meta:
            typer.echo(
                f"{key:32} read {meta['rows_read']:>9} rows, {meta['rows_changed']} changed "
                f"({meta['rows_in_raw']} in raw) in {meta['seconds']:.2f}s from "
                f"{meta['read_from']}"
            )
        elif "mode" in meta:
            typer.echo(
                f"{key:32} {meta['mode']:9} {meta['slices']:>7} slices "
                f"{meta['rows_written']:>9} rows in {meta['seconds']:.2f}s"
            )
        else:
            typer.echo(
                f"{key:32} snapshot {meta.get('snapshot')}: {meta.get('rows_written')} rows "
                f"({'whole: ' + meta['whole_marts'] if meta.get('whole_marts') != '-' else ''}"
                f"{meta.get('rows_by_mart')}) in {meta.get('seconds')}s"
            )
    failed_checks = [
        f"{c.asset_key.to_user_string()}:{c.check_name} ({c.severity.value})"
        for c in result.get_asset_check_evaluations()
        if not c.passed
    ]
    for check in failed_checks:
        typer.secho(f"check failed: {check}", fg=typer.colors.YELLOW)
    typer.echo(f"run {result.run_id} ({job.name}) recorded in {instance.root_directory}")
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                err = event.step_failure_data.error
                typer.secho(
                    f"{event.step_key} failed: {err.message.strip() if err else ''}",
                    fg=typer.colors.RED,
                    err=True,
                )
        typer.secho("run failed: the published marts were left as they were", err=True)
        raise typer.Exit(1)
    metrics.flush()
    typer.secho("ok: marts built and published", fg=typer.colors.GREEN)


@etl_app.command("home")
def home() -> None:
    """Print the Dagster instance folder (DAGSTER_HOME), after writing the current
    dagster.yaml into it. For scripts: `export DAGSTER_HOME=$(wework etl home)` before
    `dagster dev` or `dagster-daemon run`, so they share the runs `wework etl run` records."""
    from pipelines.instance import prepare_home
    from wework.config import reload_settings

    typer.echo(str(prepare_home(reload_settings())))


@etl_app.command("backfill")
def backfill(
    first: str = typer.Option(..., "--from", help="First UTC day, YYYY-MM-DD."),
    last: str = typer.Option(..., "--to", help="Last UTC day, YYYY-MM-DD (inclusive)."),
) -> None:
    """Re-read the days --from..--to from the source and recompute and publish their mart
    slices, as one run (the Dagster UI's backfill of `marts_by_day` does the same)."""
    from datetime import date

    from pipelines.backfill import BackfillRangeError, run_backfill
    from pipelines.instance import get_instance
    from wework.config import reload_settings

    days = {}
    for arg, value in (("--from", first), ("--to", last)):
        try:
            days[arg] = date.fromisoformat(value)
        except ValueError:
            typer.secho(f"{arg}: {value!r} is not a date (YYYY-MM-DD)", fg=typer.colors.RED,
                        err=True)
            raise typer.Exit(2) from None
    instance = get_instance(reload_settings())
    try:
        result = run_backfill(days["--from"], days["--to"], instance=instance)
    except BackfillRangeError as e:
        typer.secho(str(e), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                err = event.step_failure_data.error
                cause = err.cause if err and err.cause else err
                typer.secho(
                    (err.message if err and not err.cause else cause.message).strip()
                    if cause else "backfill failed", fg=typer.colors.RED, err=True)
                user = event.step_failure_data.user_failure_data
                if user and user.description:
                    typer.secho(user.description, fg=typer.colors.RED, err=True)
        typer.secho("backfill failed: the published marts were left as they were", err=True)
        raise typer.Exit(1)
    for event in result.get_asset_materialization_events():
        meta = {k: v.value for k, v in event.materialization.metadata.items()}
        typer.echo(
            f"days {meta['first_day']}..{meta['last_day']}: {meta['source_rows']} source rows, "
            f"{meta['rows_changed']} changed, slices {meta['slices']}, "
            f"published snapshot {meta['snapshot']}"
        )
    typer.secho("ok: backfilled and published", fg=typer.colors.GREEN)


@etl_app.command("status")
def status() -> None:
    """The published marts (time, age, rows), the warehouse's watermarks (unless a run holds
    the file) and where each shard's reads would go now (replica lag)."""
    import duckdb

    from pipelines.registry import MART_NAMES
    from wework.config import get_settings
    from wework.db.routing import choose_read_source
    from wework.errors import ReplicaLagError
    from wework.warehouse import NoPublishedMarts, connect, open_marts, snapshot_version

    s = get_settings()
    try:
        con = open_marts(s)
    except NoPublishedMarts as e:
        typer.echo(str(e))
    else:
        with con:
            published_at, run_id = con.execute(
                "SELECT published_at, run_id FROM marts.publish_info"
            ).fetchone()
            age = datetime.now(UTC).replace(tzinfo=None) - published_at
            typer.echo(f"published: {s.publish_path} ({snapshot_version(con)})")
            typer.echo(f"  at {published_at:%Y-%m-%d %H:%M:%S} UTC ({age} ago), run {run_id}")
            for name in MART_NAMES:
                (n,) = con.execute(f"SELECT count(*) FROM marts.{name}").fetchone()
                typer.echo(f"  marts.{name:28} {n:>9} rows")
    try:
        wcon = connect(str(s.warehouse_file), read_only=True)
    except duckdb.IOException as e:
        reason = "a run is writing it" if "lock" in str(e).lower() else str(e).splitlines()[0]
        typer.echo(f"warehouse {s.warehouse_file}: not readable now ({reason})")
    else:
        with wcon:
            from pipelines.extract import table_specs

            typer.echo(f"warehouse {s.warehouse_file}:")
            have = {
                r[0]
                for r in wcon.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'raw'"
                ).fetchall()
            }
            for spec in table_specs().values():
                if spec.name not in have:
                    typer.echo(f"  raw.{spec.name:28} (not extracted yet)")
                    continue
                n, newest = wcon.execute(
                    f'SELECT count(*), max({_change_column(spec.strategy)}) FROM raw."{spec.name}"'
                ).fetchone()
                typer.echo(f"  raw.{spec.name:28} {n:>9} rows  newest change {newest}")
    for shard in range(s.shard_count):
        try:
            d = choose_read_source(shard, s, wait_timeout=0)
            typer.echo(f"shard {shard}: reads from the {d.role.value} ({d.reason})")
        except ReplicaLagError as e:
            typer.echo(f"shard {shard}: {e}")


def _change_column(strategy: str) -> str:
    return {
        "updated_at": "updated_at",
        "created_at": "created_at",
        "append_id": "created_at",
        "callback": "received_time",
    }.get(strategy, "NULL")
