"""Named metrics of the platform: one function per thing worth watching.

Each writes one point through :func:`wework.metrics.record`, so each is non-blocking, never
raises, and is a no-op when metrics are off. Measurements and fields (in VictoriaMetrics a
series is named ``<measurement>_<field>``, tags become labels):

==================  =====================================  ==================================
measurement         tags                                   fields
==================  =====================================  ==================================
accounts            tenant_id                              one int per status (online, ...)
heartbeat           tenant_id                              max_age_seconds, stale_accounts,
                                                           online_accounts
message_send        tenant_id, message_type, outcome       count (1), latency_seconds
messages            tenant_id                              pending, failed_last_hour
callback_ingest     event_type                             count (1), lag_seconds
callback_processed  event_type, outcome                    count (1), processing_seconds
callbacks           (none)                                 failed, backlog
batch_progress      tenant_id, task_id, status             total, sent, failed, progress
replica_lag         replica                                seconds
pipeline_run        pipeline, outcome                      rows, duration_seconds
cache               cache, process                         hits_l1, hits_l2, misses, evictions,
                                                           errors, hit_rate (cumulative)
callback_group      process                                deliveries, events, seconds
==================  =====================================  ==================================
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from wework.metrics.state import record

HEARTBEAT_STALE_SECONDS = 120  # an online account silent this long counts as stale


def accounts_by_status(
    tenant_id: str, counts: Mapping[str, int], at: datetime | None = None
) -> None:
    """Gauge: how many of a tenant's accounts are in each status (online, offline, ...)."""
    record("accounts", {str(k): int(v) for k, v in counts.items()}, {"tenant_id": tenant_id}, at)


def heartbeat_age(
    tenant_id: str,
    max_age_seconds: float | None,
    stale_accounts: int,
    online_accounts: int,
    at: datetime | None = None,
) -> None:
    """Gauge: the oldest heartbeat among a tenant's online accounts, and how many are stale."""
    record(
        "heartbeat",
        {
            "max_age_seconds": None if max_age_seconds is None else float(max_age_seconds),
            "stale_accounts": int(stale_accounts),
            "online_accounts": int(online_accounts),
        },
        {"tenant_id": tenant_id},
        at,
    )


def message_sent(
    tenant_id: str,
    message_type: str,
    outcome: str,
    latency_seconds: float | None = None,
    at: datetime | None = None,
) -> None:
    """Event: one message send finished with ``outcome`` (sent, delivered, failed, ...);
    ``latency_seconds`` from send to the provider's answer when known."""
    record(
        "message_send",
        {
            "count": 1,
            "latency_seconds": None if latency_seconds is None else float(latency_seconds),
        },
        {"tenant_id": tenant_id, "message_type": message_type, "outcome": outcome},
        at,
    )


def pending_messages(
    tenant_id: str, pending: int, failed_last_hour: int | None = None, at: datetime | None = None
) -> None:
    """Gauge: messages waiting to be sent, and failures in the last hour, for a tenant."""
    record(
        "messages",
        {"pending": int(pending), "failed_last_hour": failed_last_hour},
        {"tenant_id": tenant_id},
        at,
    )


def callback_ingested(
    event_type: str, lag_seconds: float | None, at: datetime | None = None
) -> None:
    """Event: a callback arrived; ``lag_seconds`` from the event's own time to receipt."""
    record(
        "callback_ingest",
        {"count": 1, "lag_seconds": None if lag_seconds is None else float(lag_seconds)},
        {"event_type": event_type},
        at,
    )


def callback_processed(
    event_type: str,
    outcome: str,
    processing_seconds: float | None,
    at: datetime | None = None,
) -> None:
    """Event: a callback was processed (outcome processed / failed / ignored);
    ``processing_seconds`` from receipt to the end of processing."""
    record(
        "callback_processed",
        {
            "count": 1,
            "processing_seconds": None if processing_seconds is None else float(processing_seconds),
        },
        {"event_type": event_type, "outcome": outcome},
        at,
    )


def callback_backlog(failed: int, backlog: int, at: datetime | None = None) -> None:
    """Gauge: callbacks in status failed, and callbacks received but not yet processed."""
    record("callbacks", {"failed": int(failed), "backlog": int(backlog)}, None, at)


def batch_progress(
    tenant_id: str,
    task_id: str,
    status: str,
    total: int,
    sent: int,
    failed: int,
    at: datetime | None = None,
) -> None:
    """Gauge: a batch send task's counters and its progress (sent + failed) / total."""
    done = int(sent) + int(failed)
    record(
        "batch_progress",
        {
            "total": int(total),
            "sent": int(sent),
            "failed": int(failed),
            "progress": (done / total) if total else None,
        },
        {"tenant_id": tenant_id, "task_id": task_id, "status": status},
        at,
    )


def replica_lag(
    seconds: float | None, replica: str = "replica", at: datetime | None = None
) -> None:
    """Gauge: replication lag of a read replica (heartbeat-based, an upper bound)."""
    if seconds is None:
        return
    record("replica_lag", {"seconds": float(seconds)}, {"replica": replica}, at)


def pipeline_run(
    pipeline: str,
    rows: int,
    duration_seconds: float,
    outcome: str = "success",
    at: datetime | None = None,
) -> None:
    """Event: a pipeline run (or asset) finished: rows written and wall time."""
    record(
        "pipeline_run",
        {"rows": int(rows), "duration_seconds": float(duration_seconds)},
        {"pipeline": pipeline, "outcome": outcome},
        at,
    )


def cache_stats(row: Mapping[str, Any], at: datetime | None = None) -> None:
    """Gauge: one process's counters of one cache (wework.cache.layers.stats_rows), since
    the process started; ``process`` is host:pid."""
    fields = {k: row[k] for k in ("hits_l1", "hits_l2", "misses", "evictions", "errors")}
    if row.get("hit_rate") is not None:
        fields["hit_rate"] = float(row["hit_rate"])
    record("cache", fields, {"cache": str(row["cache"]), "process": _PROCESS}, at)


def callback_group(deliveries: int, events: int, seconds: float,
                   at: datetime | None = None) -> None:
    """Event: the API stored and applied one group of concurrent callback deliveries
    (wework.api.groups) in ``seconds``. Under load the groups grow by themselves: their
    size says how much the group commit is saving, and a group stuck at one delivery
    under load says it is not."""
    record("callback_group",
           {"deliveries": int(deliveries), "events": int(events), "seconds": float(seconds)},
           {"process": _PROCESS}, at)


_PROCESS = f"{socket.gethostname()}:{os.getpid()}"
