"""Helpers for the metrics tests: free ports and raw reads from VictoriaMetrics' export API
(independent of wework.metrics.query, so the query module is tested against them)."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request


def export(url: str, selector: str, minutes: float = 60) -> list[dict]:
    """Raw /api/v1/export lines for ``selector`` (independent of wework.metrics.query)."""
    params = urllib.parse.urlencode(
        {"match[]": selector, "start": f"{time.time() - minutes * 60:.3f}"}
    )
    with urllib.request.urlopen(f"{url}/api/v1/export?{params}", timeout=5) as r:
        return [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]


def wait_for_points(
    url: str, selector: str, count: int, timeout: float = 15.0, minutes: float = 60
) -> list[dict]:
    """Poll until ``selector`` has at least ``count`` points (a new series becomes visible
    to searches about a second after it is written)."""
    deadline = time.monotonic() + timeout
    while True:
        series = export(url, selector, minutes)
        if sum(len(s["values"]) for s in series) >= count or time.monotonic() > deadline:
            return series
        time.sleep(0.2)


def all_values(series: list[dict]) -> list[float]:
    return sorted(v for s in series for v in s["values"])
