"""Reading metrics back, for the app's Monitoring page, notebook 05 and tests.

:func:`recent` uses the VictoriaMetrics export API (``/api/v1/export``), which returns raw
points as written, at once. :func:`over_range` evaluates a MetricsQL query over a past
window (``/api/v1/query_range``): the store aggregates, so a month of per-minute points
comes back as one value per step, never as the raw points. A series is named
``<measurement>_<field>`` (``message_send_latency_seconds``) and carries the point's tags
as labels. Production InfluxDB 2.x/3.x has no such endpoint (it speaks Flux/SQL); there a
dashboard reads the store with its own tools.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import polars as pl

from wework.config import Settings, get_settings

_NAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")

SCHEMA = {
    "time": pl.Datetime("ms", "UTC"),
    "series": pl.String,
    "labels": pl.String,
    "value": pl.Float64,
}


class MetricsQueryError(RuntimeError):
    """The metrics store could not be read; the message says which URL and why."""


class MetricsQueryRefused(MetricsQueryError):
    """The store answered but refused the query (its reason is in the message): other
    queries may still work."""


def _selector(series: str | list[str], labels: Mapping[str, str] | None) -> str:
    names = [series] if isinstance(series, str) else list(series)
    if not names:
        raise ValueError("series: give at least one series name or prefix")
    for name in names:
        if not _NAME.match(name.rstrip("*")):
            raise ValueError(f"series: {name!r} is not a metric name (letters, digits, _ and :)")
    # "prefix*" selects every field of a measurement, e.g. "message_send_*".
    pattern = "|".join(re.escape(n[:-1]) + ".*" if n.endswith("*") else re.escape(n) for n in names)
    matchers = [f'__name__=~"{pattern}"']
    for key, value in (labels or {}).items():
        if not _NAME.match(key):
            raise ValueError(f"labels: {key!r} is not a label name")
        escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
        matchers.append(f'{key}="{escaped}"')
    return "{" + ",".join(matchers) + "}"


def recent(
    series: str | list[str],
    minutes: float = 60,
    labels: Mapping[str, str] | None = None,
    *,
    settings: Settings | None = None,
    url: str | None = None,
    timeout: float = 5.0,
) -> pl.DataFrame:
    """Points of ``series`` from the last ``minutes``, oldest first.

    ``series``: a name (``"replica_lag_seconds"``), a prefix ending in ``*``
    (``"accounts_*"``) or a list of them. ``labels`` keeps only points whose tags equal
    these values. Returns columns ``time`` (UTC), ``series``, ``labels`` (the tags as
    ``k=v,k=v``, sorted) and ``value``, plus one column per tag. Empty (with those columns)
    when nothing matches. Raises MetricsQueryError when metrics are off or the store does
    not answer, ValueError on a malformed name.
    """
    if minutes <= 0:
        raise ValueError(f"minutes: must be positive, got {minutes}")
    base = _base(settings, url)
    now = time.time()
    params = {
        "match[]": _selector(series, labels),
        "start": f"{now - minutes * 60:.3f}",
        "end": f"{now + 60:.3f}",  # a little ahead: clocks of writers may run ahead
    }
    request = f"{base.rstrip('/')}/api/v1/export?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read().decode()
    except (urllib.error.URLError, OSError) as e:
        raise MetricsQueryError(f"reading metrics from {base} failed: {e}") from e

    rows: dict[str, list] = {"time": [], "series": [], "labels": [], "value": []}
    tag_rows: list[dict[str, str]] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        metric = dict(item["metric"])
        name = metric.pop("__name__", "")
        label_text = ",".join(f"{k}={v}" for k, v in sorted(metric.items()))
        for ts, value in zip(item["timestamps"], item["values"], strict=True):
            rows["time"].append(datetime.fromtimestamp(ts / 1000, UTC))
            rows["series"].append(name)
            rows["labels"].append(label_text)
            rows["value"].append(None if value is None else float(value))
            tag_rows.append(metric)
    return _frame(rows, tag_rows)


def _base(settings: Settings | None, url: str | None) -> str:
    base = url or (settings or get_settings()).influx_url
    if not base:
        raise MetricsQueryError("metrics are off: WEWORK_INFLUX_URL is not set")
    return base


# VictoriaMetrics answers at most this many points per series and query
# (-search.maxPointsPerTimeseries).
MAX_POINTS_PER_SERIES = 30_000


def over_range(
    query: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    *,
    settings: Settings | None = None,
    url: str | None = None,
    timeout: float = 10.0,
) -> pl.DataFrame:
    """The MetricsQL ``query`` evaluated at ``start``, ``start + step`` … ``end`` (UTC).

    Each value covers the query's own lookbehind window, e.g.
    ``max_over_time(db_replication_lag_seconds[1h])`` at step 1h is the largest lag of the
    hour *before* each time. The store rounds ``start`` down to a multiple of ``step``
    (whole days at step 1d). Returns the columns of :func:`recent` (``series`` is the
    series name when the query keeps it, else ""). Empty when no series matches; raises
    MetricsQueryError when metrics are off or the store does not answer,
    MetricsQueryRefused when it refuses the query (its reason quoted), ValueError on a bad
    window.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start / end: give timezone-aware (UTC) datetimes")
    if end <= start:
        raise ValueError(f"end: {end} is not after start {start}")
    seconds = step.total_seconds()
    if seconds < 1:
        raise ValueError(f"step: must be at least one second, not {step}")
    if (end - start).total_seconds() / seconds > MAX_POINTS_PER_SERIES:
        raise ValueError(
            f"step: {step} gives more than {MAX_POINTS_PER_SERIES} points from {start} to {end}"
        )
    base = _base(settings, url)
    params = {
        "query": query,
        "start": f"{start.timestamp():.3f}",
        "end": f"{end.timestamp():.3f}",
        "step": f"{int(seconds)}s",
    }
    request = f"{base.rstrip('/')}/api/v1/query_range?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as e:
        reason = e.read().decode(errors="replace")[:300]
        raise MetricsQueryRefused(f"the metrics store at {base} refused {query!r}: {reason}") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise MetricsQueryError(f"reading metrics from {base} failed: {e}") from e
    rows: dict[str, list] = {"time": [], "series": [], "labels": [], "value": []}
    tag_rows: list[dict[str, str]] = []
    for item in body.get("data", {}).get("result", []):
        metric = dict(item.get("metric") or {})
        name = metric.pop("__name__", "")
        label_text = ",".join(f"{k}={v}" for k, v in sorted(metric.items()))
        for ts, value in item.get("values", []):
            rows["time"].append(datetime.fromtimestamp(float(ts), UTC))
            rows["series"].append(name)
            rows["labels"].append(label_text)
            rows["value"].append(float(value))
            tag_rows.append(metric)
    return _frame(rows, tag_rows)


def _frame(rows: dict[str, list], tag_rows: list[dict[str, str]]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=SCHEMA)
    tag_keys = sorted({k for tags in tag_rows for k in tags})
    if tag_keys:
        frame = frame.with_columns(
            pl.Series(k, [tags.get(k) for tags in tag_rows], dtype=pl.String) for k in tag_keys
        )
    return frame.sort("time", "series", "labels")


def series_names(
    *, settings: Settings | None = None, url: str | None = None, timeout: float = 5.0
) -> list[str]:
    """Every series name the store knows (for a picker on the Monitoring page)."""
    base = _base(settings, url)
    try:
        with urllib.request.urlopen(
            f"{base.rstrip('/')}/api/v1/label/__name__/values", timeout=timeout
        ) as response:
            return sorted(json.loads(response.read())["data"])
    except (urllib.error.URLError, OSError, KeyError, ValueError) as e:
        raise MetricsQueryError(f"listing series at {base} failed: {e}") from e
