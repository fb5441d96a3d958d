"""The worker's once-at-a-time jobs and their cluster-wide schedule.

Each job runs under the named lock ``job.<name>`` (:mod:`wework.worker.locks`): while one
worker runs it, the others skip it. Holding the lock, a worker reads the job's row in
``worker_jobs`` (:class:`~wework.models.WorkerJob`) and runs the job only when its
interval has passed since the last run by *any* worker; so N workers run each job as
often as one would, and the row shows when it last ran, how long it took, who ran it and
its result or error. A job that failed is tried again after at most ``RETRY_FAILED``.

The jobs (intervals are settings, ``worker_<name>_every``):

- ``heartbeat_sweep``: online accounts silent past ``WEWORK_HEARTBEAT_TIMEOUT_SECONDS``
  go offline (their tenant's ``account.offline`` webhook with them);
- ``partitions``: split the coming periods off ``p_future`` on every shard (daily);
- ``gauges``: record the platform gauges (every minute);
- ``batches``: complete running batches with nothing left to send (a safety net: message
  changes complete their batch themselves);
- ``recovery``: messages whose ``sending`` claim expired (a dead worker's), and callback
  events left ``received``/``processing`` past ``WEWORK_CALLBACK_STRANDED_SECONDS`` (an
  intake process that died after storing them);
- ``outbox_purge``: delete delivered/failed webhook events past their retention.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from wework.config import Settings
from wework.db import migrate
from wework.enums import CallbackStatus
from wework.models import WorkerJob, utcnow
from wework.services.uow import shard_transaction
from wework.worker.locks import named_lock

log = logging.getLogger("wework.worker")

CONTROL_SHARD = 0  # worker_jobs lives here, beside the named locks' server
RETRY_FAILED = 60.0  # seconds: a failed job is tried again this soon at the latest
STRANDED_PER_RUN = 5000  # callback events recovered per run and status, at most
MAX_RESULT = 500


@dataclass(frozen=True)
class Job:
    name: str
    every: float  # seconds between runs, cluster-wide
    run: Callable[[], str]  # does the work; returns a one-line result


@dataclass(frozen=True)
class JobRun:
    name: str
    ran: bool  # False: another worker holds it, or it is not due yet
    result: str | None = None
    error: str | None = None
    seconds: float = 0.0
    next_due_in: float = 0.0  # seconds until it is due again (as far as this run knows)


def describe(exc: BaseException) -> str:
    """One line about an error, without the SQL parameters SQLAlchemy would append."""
    inner = getattr(exc, "orig", None) or exc
    first = (str(inner).splitlines() or [""])[0]
    return f"{type(inner).__name__}: {first}"[:1000]


def identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_if_due(job: Job, settings: Settings, who: str | None = None,
               now: datetime | None = None) -> JobRun:
    """Run ``job`` if no other worker is running it and its interval has passed."""
    with named_lock(f"job.{job.name}", settings) as held:
        if not held:
            return JobRun(job.name, False, next_due_in=min(job.every, 1.0))
        started_at = now or utcnow()
        with shard_transaction(CONTROL_SHARD) as s:
            row = s.get(WorkerJob, job.name, with_for_update=True)
            if row is None:
                row = WorkerJob(name=job.name, runs=0)
                s.add(row)
            elif row.last_finished_at is not None:
                every = min(job.every, RETRY_FAILED) if row.last_error else job.every
                due_at = row.last_finished_at + timedelta(seconds=every)
                if started_at < due_at:
                    return JobRun(job.name, False,
                                  next_due_in=(due_at - started_at).total_seconds())
            row.last_started_at = started_at
            row.run_by = (who or identity())[:100]
        t0 = time.perf_counter()
        result = error = None
        try:
            result = (job.run() or "")[:MAX_RESULT]
        except Exception as exc:  # recorded on the job's row and logged; the worker goes on
            error = describe(exc)
        seconds = time.perf_counter() - t0
        with shard_transaction(CONTROL_SHARD) as s:
            row = s.get(WorkerJob, job.name, with_for_update=True)
            row.last_finished_at = utcnow()
            row.last_duration_ms = int(seconds * 1000)
            row.last_result = result
            row.last_error = error
            row.runs += 1
    if error:
        log.warning("job %s failed after %.2fs: %s", job.name, seconds, error)
    else:
        log.info("job %s: %s (%.2fs)", job.name, result, seconds)
    every = min(job.every, RETRY_FAILED) if error else job.every
    return JobRun(job.name, True, result, error, seconds, every)


def job_states() -> list[WorkerJob]:
    """Every job's row (for ``wework worker status``)."""
    from sqlalchemy import select

    with shard_transaction(CONTROL_SHARD) as s:
        return list(s.scalars(select(WorkerJob).order_by(WorkerJob.name)))


# ---------------------------------------------------------------- the jobs


def _heartbeat_sweep(settings: Settings) -> str:
    from wework.services.accounts import sweep_stale_heartbeats

    swept = sweep_stale_heartbeats(settings.heartbeat_timeout_seconds)
    return f"{len(swept)} account(s) marked offline"


def _partitions(settings: Settings) -> str:
    reports = migrate.partitions(settings)
    added = [f"{r.table}.{p}" for shard in reports.values() for r in shard for p in r.added]
    return f"added {', '.join(added)}" if added else "every table ahead already"


def _gauges(settings: Settings) -> str:
    from wework import metrics

    gauges = metrics.collect_platform_gauges(settings)
    metrics.flush()
    return f"{gauges.points} point(s) for {len(gauges.accounts)} tenant(s)"


def _batches(settings: Settings) -> str:
    from wework.services.batches import complete_finished_batches

    return f"{len(complete_finished_batches())} batch(es) completed"


def _recovery(settings: Settings) -> str:
    from wework.services import callbacks
    from wework.services.dispatcher import recover_expired_claims

    messages = recover_expired_claims(timedelta(seconds=settings.worker_claim_seconds))
    before = utcnow() - timedelta(seconds=settings.callback_stranded_seconds)
    events = 0
    for status in (CallbackStatus.RECEIVED, CallbackStatus.PROCESSING):
        events += len(callbacks.replay(status=status.value, limit=STRANDED_PER_RUN,
                                       received_before=before))
    return f"{messages} expired claim(s) recovered, {events} stranded callback event(s)"


def _outbox_purge(settings: Settings) -> str:
    from wework.services.webhooks import purge_finished

    return f"{purge_finished(settings.webhook_retention_days)} webhook event(s) deleted"


def platform_jobs(settings: Settings) -> list[Job]:
    """The jobs every worker offers, with their intervals from ``settings``."""
    def bind(fn: Callable[[Settings], str]) -> Callable[[], str]:
        return lambda: fn(settings)

    return [
        Job("heartbeat_sweep", settings.worker_heartbeat_sweep_every, bind(_heartbeat_sweep)),
        Job("partitions", settings.worker_partitions_every, bind(_partitions)),
        Job("gauges", settings.worker_gauges_every, bind(_gauges)),
        Job("batches", settings.worker_batches_every, bind(_batches)),
        Job("recovery", settings.worker_recovery_every, bind(_recovery)),
        Job("outbox_purge", settings.worker_outbox_purge_every, bind(_outbox_purge)),
    ]
