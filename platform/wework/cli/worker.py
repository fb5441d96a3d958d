"""``wework worker``: run a worker; ``wework worker status``: the jobs and queues."""

from __future__ import annotations

import logging
import signal

import typer

# Not command_group(): bare `wework worker` runs the worker instead of printing help.
worker_app = typer.Typer(
    help="The worker: dispatches messages, delivers tenant webhooks, runs the platform's "
    "periodic jobs. Run as many as you like; they coordinate through MariaDB.",
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
)


@worker_app.callback(invoke_without_command=True)
def worker(
    ctx: typer.Context,
    log_level: str = typer.Option("INFO", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Run until SIGTERM or Ctrl-C: stop claiming, finish the sends in flight, exit within
    WEWORK_WORKER_STOP_SECONDS. Sends through WEWORK_GATEWAY_URL, or an in-process WeCom
    gateway SIMULATOR when it is unset. Settings: the worker_* ones (see .env.example)."""
    if ctx.invoked_subcommand is not None:
        return
    from wework.config import reload_settings
    from wework.worker.runner import Worker

    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    worker = Worker(reload_settings())

    def stop(signum, _frame) -> None:
        logging.getLogger("wework.worker").info(
            "%s: stopping (finishing the sends in flight)", signal.Signals(signum).name)
        worker.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    clean = worker.run()
    raise typer.Exit(0 if clean else 1)


@worker_app.command("status")
def status() -> None:
    """Each periodic job's last run (when, how long, by whom, result or error) and the
    queues: messages due and in flight, webhook events waiting."""
    from wework.config import reload_settings
    from wework.worker.jobs import job_states
    from wework.worker.status import queue_counts

    settings = reload_settings()
    rows = [("job", "last finished (UTC)", "ms", "runs", "by", "result")]
    for job in job_states():
        rows.append((
            job.name,
            str(job.last_finished_at or "-"),
            str(job.last_duration_ms if job.last_duration_ms is not None else "-"),
            str(job.runs),
            job.run_by or "-",
            f"ERROR {job.last_error}" if job.last_error else (job.last_result or ""),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False))
                   + "  " + row[-1])
    if len(rows) == 1:
        typer.echo("(no job has run yet: is a worker running?)")
    typer.echo("")
    for name, value in queue_counts(settings).items():
        typer.echo(f"{name}: {value}")
