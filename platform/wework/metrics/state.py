"""The process-wide recorder, built from Settings on first use.

Off (a :class:`NullRecorder`, every call a no-op) when ``WEWORK_INFLUX_URL`` is unset.
``configure()`` swaps it, for tests and for processes that build their Settings by hand.
"""

from __future__ import annotations

import atexit
import threading
from datetime import datetime
from typing import Any

from wework.config import Settings, get_settings
from wework.metrics.recorder import MetricsRecorder, NullRecorder, RecorderStats

Recorder = MetricsRecorder | NullRecorder

_lock = threading.Lock()
_recorder: Recorder | None = None


def recorder_for(settings: Settings, **options: Any) -> Recorder:
    """A new recorder for ``settings`` (NullRecorder when influx_url is unset)."""
    if not settings.influx_url:
        return NullRecorder()
    return MetricsRecorder(
        settings.influx_url,
        settings.influx_token,
        settings.influx_org,
        settings.influx_bucket,
        **options,
    )


def get_recorder() -> Recorder:
    global _recorder
    current = _recorder
    if current is not None:
        return current
    with _lock:
        if _recorder is None:
            _recorder = recorder_for(get_settings())
        return _recorder


def configure(settings: Settings | None = None, **options: Any) -> Recorder:
    """Replace the process recorder (closing the old one after a last flush attempt).

    ``options`` go to :class:`MetricsRecorder` (batch_size, max_buffer, flush_interval,
    timeout). Returns the new recorder.
    """
    global _recorder
    new = recorder_for(settings or get_settings(), **options)
    with _lock:
        old, _recorder = _recorder, new
    if old is not None:
        old.close()
    return new


def record(
    measurement: str,
    fields: dict[str, Any],
    tags: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Queue one point (``measurement``, ``fields``, ``tags``, time ``at`` or now, UTC).

    Never blocks on the metrics store and never raises; a no-op when metrics are off.
    """
    get_recorder().record(measurement, fields, tags, at)


def flush() -> bool:
    """Write what is buffered now; False if the store could not take it."""
    return get_recorder().flush()


def stats() -> RecorderStats:
    """Counters: written, dropped, rejected, buffered, write_errors, last_error."""
    return get_recorder().stats()


@atexit.register
def close() -> None:
    """Flush once more and stop the background writer (also run at interpreter exit)."""
    global _recorder
    with _lock:
        old, _recorder = _recorder, None
    if old is not None:
        old.close()
