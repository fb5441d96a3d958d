"""Compare the published marts with the oracle's rows computed in MySQL."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

import pytest
from etl_oracle import oracle_rows
from sqlalchemy import Engine

from pipelines.registry import MART_NAMES, MARTS_BY_NAME
from wework.warehouse import open_marts


def _norm(v):
    if isinstance(v, Decimal | float):
        return float(v)
    if isinstance(v, datetime):
        return v.replace(microsecond=0)
    return v


def _health_score(r: dict) -> float:
    uptime = r["online_seconds"] / r["window_seconds"] if r["window_seconds"] else 0
    done = r["messages_sent"] + r["messages_failed"]
    delivery = r["messages_sent"] / done if done else 1
    stability = 1 - min(r["disconnect_count"] + r["error_count"], 5) / 5
    return _round_half_away(60 * float(uptime) + 30 * delivery + 10 * stability, 1)


def _round_half_away(x: float, digits: int) -> float:
    """SQL's ROUND (DuckDB: std::round of x * 10^digits), not Python's half-to-even:
    96.25 is 96.3 in the mart, and round(96.25, 1) == 96.2."""
    scaled = x * 10**digits
    return math.copysign(math.floor(abs(scaled) + 0.5), scaled) / 10**digits


def _expected(mart: str, sources: list[Engine], as_of: datetime) -> list[dict]:
    rows = [r for engine in sources for r in oracle_rows(engine, mart, as_of)]
    for r in rows:
        if mart == "account_health_daily":
            r["health_score"] = _health_score(r)
            w = r.pop("window_seconds")
            r["uptime_ratio"] = float(r["online_seconds"]) / w if w else None
        elif mart == "tenant_usage_daily":
            r["over_daily_quota"] = r["messages_created"] > r["max_daily_messages"]
            r["accounts_quota_ratio"] = (
                r["accounts"] / r["max_accounts"] if r["max_accounts"] else None
            )
        elif mart == "batch_task_performance":
            service_total = r.pop("service_total")
            service_success = r.pop("service_success")
            r["counters_match"] = (
                r["total_count"] == service_total
                and r["sent_count"] == r["message_success_count"]
                and r["success_count"] == service_success
                and r["failed_count"] == r["message_failed_count"]
            )
    return rows


def published_rows(mart: str, wh) -> list[dict]:
    con = open_marts(wh)
    try:
        cur = con.execute(f"SELECT * FROM marts.{mart}")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def assert_marts_match(
    sources: Engine | list[Engine], wh, as_of: datetime, marts=MART_NAMES
) -> dict[str, int]:
    """Every mart row equals the oracle's; ``sources``: one engine per shard database (the
    marts' grain must then be disjoint across shards, as tenant/account keys are)."""
    sources = sources if isinstance(sources, list) else [sources]
    sizes = {}
    for mart in marts:
        got = published_rows(mart, wh)
        want = _expected(mart, sources, as_of)
        key = MARTS_BY_NAME[mart].key
        got_by = {tuple(_norm(r[k]) for k in key): r for r in got}
        want_by = {tuple(_norm(r[k]) for k in key): r for r in want}
        assert len(got_by) == len(got), f"{mart}: duplicate keys in the mart"
        assert got_by.keys() == want_by.keys(), f"{mart}: different rows"
        for k, w in want_by.items():
            g = got_by[k]
            for col, wv in w.items():
                gv, wv = _norm(g[col]), _norm(wv)
                if isinstance(wv, float) or isinstance(gv, float):
                    assert (gv is None) == (wv is None), (mart, k, col, gv, wv)
                    if gv is not None:
                        assert gv == pytest.approx(wv, rel=1e-9, abs=1e-6), (mart, k, col)
                else:
                    assert gv == wv, (mart, k, col, gv, wv)
        sizes[mart] = len(got)
    return sizes
