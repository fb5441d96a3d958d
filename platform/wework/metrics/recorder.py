"""A non-blocking, bounded metrics recorder writing InfluxDB line protocol.

Business code calls :meth:`MetricsRecorder.record` (or a helper in
:mod:`wework.metrics.helpers`); the call only formats one line of line protocol and appends
it to an in-memory buffer. A daemon thread writes the buffer with ``influxdb-client``'s
synchronous ``write_api`` every ``flush_interval`` seconds, or sooner once ``batch_size``
points are waiting. Nothing a metrics store can do reaches the caller:

- the store is down or slow → the write fails after ``timeout`` on the *flusher* thread,
  the batch goes back to the front of the buffer and is retried on the next tick;
- the buffer is full (``max_buffer`` points) → the oldest points are dropped, counted in
  ``stats().dropped`` and reported by a rate-limited warning in the log;
- delivery is at least once: a batch whose write timed out may still have been applied by
  a slow store, and its retry then stores those points twice;
- bad input (no fields, a field of an unsupported type) → the point is skipped, counted in
  ``stats().rejected`` and logged with the field and the reason; ``record`` never raises.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

log = logging.getLogger("wework.metrics")

FieldValue = int | float | bool | str
# Warn about drops at most this often, so a long outage does not flood the log.
DROP_WARNING_INTERVAL_S = 30.0


@dataclass(frozen=True)
class RecorderStats:
    """Counters since the recorder started. ``buffered`` is the current buffer length."""

    enabled: bool
    written: int = 0
    dropped: int = 0
    rejected: int = 0
    buffered: int = 0
    write_errors: int = 0
    last_error: str | None = None
    last_write_at: datetime | None = None


def to_line(
    measurement: str,
    fields: dict[str, Any],
    tags: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> str:
    """One line of line protocol. Raises ValueError naming the bad argument or field.

    ``None`` field and tag values are left out (a helper may not know every figure);
    naive datetimes are taken as UTC, like every timestamp in the platform.
    """
    if not isinstance(measurement, str) or not measurement.strip():
        raise ValueError(f"measurement: must be a non-empty string, got {measurement!r}")
    point = Point(measurement)
    for key, value in (tags or {}).items():
        if value is not None and str(value) != "":
            point.tag(str(key), str(value))
    kept = 0
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bool | int | str):
            pass
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"fields[{key!r}]: {value} is not a finite number")
        else:
            raise ValueError(
                f"fields[{key!r}]: {type(value).__name__} is not a metric value "
                "(int, float, bool or str)"
            )
        point.field(str(key), value)
        kept += 1
    if kept == 0:
        raise ValueError(f"fields: {measurement!r} needs at least one non-None field")
    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    point.time(when, WritePrecision.NS)
    return point.to_line_protocol()


class MetricsRecorder:
    """Buffers points and writes them from a background thread. Thread-safe."""

    def __init__(
        self,
        url: str,
        token: str = "",
        org: str = "wework",
        bucket: str = "wework",
        *,
        batch_size: int = 500,
        max_buffer: int = 10_000,
        flush_interval: float = 1.0,
        timeout: float = 2.0,
    ) -> None:
        if max_buffer < 1 or batch_size < 1:
            raise ValueError("max_buffer and batch_size: must be at least 1")
        self.url = url
        self.bucket = bucket
        self.org = org
        self.batch_size = batch_size
        self.max_buffer = max_buffer
        self.flush_interval = flush_interval
        # retries=False: a failed batch is kept in our own bounded buffer and retried on
        # the next tick; urllib3's retries would only hold the flusher thread longer.
        self._client = InfluxDBClient(
            url=url, token=token, org=org, timeout=int(timeout * 1000), retries=False
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._buffer: deque[str] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        # Serialises writes between the flusher thread and explicit flush() calls.
        self._write_lock = threading.Lock()
        self._written = self._dropped = self._rejected = self._write_errors = 0
        self._last_error: str | None = None
        self._last_write_at: datetime | None = None
        self._last_drop_warning = 0.0
        self._dropped_since_warning = 0
        self._thread = threading.Thread(target=self._run, name="wework-metrics", daemon=True)
        self._thread.start()

    enabled = True

    # ----------------------------------------------------------------- producer side

    def record(
        self,
        measurement: str,
        fields: dict[str, Any],
        tags: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        """Queue one point. Never blocks on the store and never raises."""
        try:
            line = to_line(measurement, fields, tags, at)
        except Exception as e:
            with self._lock:
                self._rejected += 1
            log.warning("metric point rejected: %s", e)
            return
        with self._lock:
            if self._stop.is_set():
                self._rejected += 1
                return
            self._buffer.append(line)
            self._drop_overflow_locked()
            full = len(self._buffer) >= self.batch_size
        if full:
            self._wake.set()

    def _drop_overflow_locked(self) -> None:
        overflow = len(self._buffer) - self.max_buffer
        if overflow <= 0:
            return
        for _ in range(overflow):
            self._buffer.popleft()  # oldest first: recent figures matter most
        self._dropped += overflow
        self._dropped_since_warning += overflow
        now = time.monotonic()
        if now - self._last_drop_warning >= DROP_WARNING_INTERVAL_S:
            log.warning(
                "metrics store %s unreachable (%s): buffer full at %d points, dropped %d "
                "(%d in total)",
                self.url,
                self._last_error,
                self.max_buffer,
                self._dropped_since_warning,
                self._dropped,
            )
            self._last_drop_warning = now
            self._dropped_since_warning = 0

    # ----------------------------------------------------------------- writer side

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            self._drain()

    def _drain(self) -> bool:
        """Write batches until the buffer is empty or a write fails. True if all written."""
        with self._write_lock:
            while True:
                with self._lock:
                    batch = [
                        self._buffer.popleft()
                        for _ in range(min(self.batch_size, len(self._buffer)))
                    ]
                if not batch:
                    return True
                try:
                    self._write_api.write(
                        bucket=self.bucket,
                        org=self.org,
                        record=batch,
                        write_precision=WritePrecision.NS,
                    )
                except Exception as e:
                    with self._lock:
                        # Put it back in order; newer points may have arrived meanwhile.
                        self._buffer.extendleft(reversed(batch))
                        self._drop_overflow_locked()
                        self._write_errors += 1
                        self._last_error = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
                    log.debug("metrics write failed: %s", self._last_error)
                    return False
                with self._lock:
                    self._written += len(batch)
                    self._last_write_at = datetime.now(UTC)

    def flush(self) -> bool:
        """Write everything buffered now (from the calling thread). True if the buffer
        was emptied, False if the store refused or could not be reached."""
        return self._drain()

    def close(self, flush: bool = True) -> None:
        """Stop the flusher thread (after a last flush attempt) and the HTTP client."""
        if self._stop.is_set():
            return
        if flush:
            self._drain()
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._client.close()

    def stats(self) -> RecorderStats:
        with self._lock:
            return RecorderStats(
                enabled=True,
                written=self._written,
                dropped=self._dropped,
                rejected=self._rejected,
                buffered=len(self._buffer),
                write_errors=self._write_errors,
                last_error=self._last_error,
                last_write_at=self._last_write_at,
            )


class NullRecorder:
    """Metrics switched off (no WEWORK_INFLUX_URL): every call returns at once."""

    enabled = False

    def record(self, measurement, fields, tags=None, at=None) -> None:
        return None

    def flush(self) -> bool:
        return True

    def close(self, flush: bool = True) -> None:
        return None

    def stats(self) -> RecorderStats:
        return RecorderStats(enabled=False)
