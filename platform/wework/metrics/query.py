"""Reading recent metrics back, for the app's Monitoring page and for tests.

Uses the VictoriaMetrics export API (``/api/v1/export``), which returns raw points as
written, at once. A series is named ``<measurement>_<field>`` (``message_send_latency_seconds``)
and carries the point's tags as labels. Production InfluxDB 2.x/3.x has no such endpoint
(it speaks Flux/SQL); there a dashboard reads the store with its own tools.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime

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
    base = url or (settings or get_settings()).influx_url
    if not base:
        raise MetricsQueryError("metrics are off: WEWORK_INFLUX_URL is not set")
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
    base = url or (settings or get_settings()).influx_url
    if not base:
        raise MetricsQueryError("metrics are off: WEWORK_INFLUX_URL is not set")
    try:
        with urllib.request.urlopen(
            f"{base.rstrip('/')}/api/v1/label/__name__/values", timeout=timeout
        ) as response:
            return sorted(json.loads(response.read())["data"])
    except (urllib.error.URLError, OSError, KeyError, ValueError) as e:
        raise MetricsQueryError(f"listing series at {base} failed: {e}") from e
