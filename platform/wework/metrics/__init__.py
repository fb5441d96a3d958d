"""Monitoring metrics written to an InfluxDB v2 write API (InfluxDB 2.x/3.x or the local
VictoriaMetrics), in line protocol via ``influxdb-client``.

Configured by ``WEWORK_INFLUX_URL`` / ``_TOKEN`` / ``_ORG`` / ``_BUCKET``; off when the URL
is unset. Every call is non-blocking and never raises (see :mod:`wework.metrics.recorder`).

    from wework import metrics
    metrics.message_sent(tenant_id, "text", "sent", latency_seconds=0.8)
    metrics.record("my_measurement", {"value": 1.5}, {"tenant_id": t})
    metrics.stats()  # written / dropped / rejected / buffered / last_error

The DB gauge collector is :func:`wework.metrics.collect.collect_platform_gauges` and the
read-back for dashboards is :func:`wework.metrics.query.recent`; both are imported lazily
here so that ``import wework.metrics`` stays cheap for business code.
"""

from __future__ import annotations

from typing import Any

from wework.metrics.helpers import (
    accounts_by_status,
    batch_progress,
    cache_stats,
    callback_backlog,
    callback_group,
    callback_ingested,
    callback_processed,
    heartbeat_age,
    message_sent,
    pending_messages,
    pipeline_run,
    replica_lag,
)
from wework.metrics.recorder import MetricsRecorder, NullRecorder, RecorderStats
from wework.metrics.state import close, configure, flush, get_recorder, record, stats

__all__ = [
    "MetricsRecorder",
    "NullRecorder",
    "RecorderStats",
    "accounts_by_status",
    "batch_progress",
    "cache_stats",
    "callback_backlog",
    "callback_group",
    "callback_ingested",
    "callback_processed",
    "close",
    "collect_platform_gauges",
    "configure",
    "flush",
    "get_recorder",
    "heartbeat_age",
    "message_sent",
    "pending_messages",
    "pipeline_run",
    "record",
    "replica_lag",
    "stats",
]


def collect_platform_gauges(settings: Any = None) -> Any:
    """Read the platform's current gauges from the databases and record them.
    See :func:`wework.metrics.collect.collect_platform_gauges`."""
    from wework.metrics.collect import collect_platform_gauges as collect

    return collect(settings)
