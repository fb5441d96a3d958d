"""``wework metrics``: the local VictoriaMetrics (stand-in for InfluxDB 2.x) and the gauge
collector. Thin: each command calls into :mod:`wework.metrics` and prints."""

from __future__ import annotations

import typer

from wework.cli.common import command_group, fail
from wework.config import reload_settings
from wework.metrics.localserver import DEFAULT_PORT

metrics_app = command_group(
    "Monitoring metrics (InfluxDB v2 write API). Without a production InfluxDB, "
    "`up` runs a local VictoriaMetrics with its data under <data_dir>/victoria-metrics; "
    "point the platform at it with WEWORK_INFLUX_URL=http://127.0.0.1:PORT."
)

PORT = typer.Option(DEFAULT_PORT, "--port", help="Port of the local VictoriaMetrics.")


def _server(port: int):
    from wework.metrics.localserver import VictoriaMetricsServer

    return VictoriaMetricsServer(reload_settings().data_dir, port)


@metrics_app.command("up")
def metrics_up(port: int = PORT) -> None:
    """Start the local VictoriaMetrics, detached (safe to run again: a running one is kept)."""
    from wework.metrics.localserver import MetricsServerError

    server = _server(port)
    try:
        typer.echo(server.up())
    except MetricsServerError as e:
        fail(str(e))
    settings = reload_settings()
    if settings.influx_url != server.url:
        typer.echo(f"to send the platform's metrics here: export WEWORK_INFLUX_URL={server.url}")


@metrics_app.command("down")
def metrics_down(port: int = PORT) -> None:
    """Stop the local VictoriaMetrics (data is kept). Safe to run again."""
    typer.echo(_server(port).down())


@metrics_app.command("status")
def metrics_status(port: int = PORT) -> None:
    """Show the local VictoriaMetrics and where the platform sends metrics. Exits non-zero
    when the local server is down."""
    status = _server(port).status()
    settings = reload_settings()
    target = settings.influx_url or "(off: WEWORK_INFLUX_URL is not set)"
    typer.echo(f"platform metrics go to: {target}")
    if not status.running:
        typer.echo(f"local victoria-metrics: not running ({status.url})")
        raise typer.Exit(1)
    health = "healthy" if status.healthy else "NOT answering /health"
    typer.echo(f"local victoria-metrics: pid {status.pid}, {status.url}, {health}")
    typer.echo(f"data: {status.data_dir}")
    if not status.healthy:
        raise typer.Exit(1)


@metrics_app.command("collect")
def metrics_collect(
    every: float = typer.Option(
        0, "--every", min=0, help="Repeat every N seconds until Ctrl-C (0: collect once)."
    ),
) -> None:
    """Read the current gauges (accounts per status, heartbeat age, pending messages,
    failed callbacks, replica lag) from the replicas, record and flush them. Once, or on a
    schedule with --every."""
    import time

    from wework import metrics

    settings = reload_settings()
    metrics.configure(settings)
    while True:
        ok = _collect_once(settings)
        if not every:
            if not ok:
                raise typer.Exit(1)
            return
        try:
            time.sleep(every)
        except KeyboardInterrupt:
            return


def _collect_once(settings) -> bool:
    from sqlalchemy.exc import SQLAlchemyError

    from wework import metrics

    try:
        gauges = metrics.collect_platform_gauges(settings)
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).splitlines()[0]
        typer.secho(
            f"could not read the gauges from the replica: {reason} "
            "(is `wework db up` running and the database migrated?)",
            fg=typer.colors.RED,
            err=True,
        )
        return False
    ok = metrics.flush()
    stats = metrics.stats()
    lag = "-" if gauges.replica_lag_seconds is None else f"{gauges.replica_lag_seconds:.3f} s"
    typer.echo(
        f"{gauges.at:%H:%M:%S} read {len(gauges.accounts)} tenant(s); failed callbacks "
        f"{gauges.failed_callbacks}, callback backlog {gauges.callback_backlog}, "
        f"replica lag {lag}"
    )
    if not stats.enabled:
        typer.echo("metrics are off (WEWORK_INFLUX_URL is not set): nothing was written")
    elif ok:
        typer.echo(f"wrote {gauges.points} point(s) to {settings.influx_url}")
    else:
        # Not fatal on a schedule: the points stay buffered (bounded) for the next round.
        typer.secho(
            f"could not write to {settings.influx_url} ({stats.last_error}); "
            f"{stats.buffered} point(s) buffered, {stats.dropped} dropped so far",
            fg=typer.colors.RED,
            err=True,
        )
    return ok
