"""Every mart, read through the published copy, equals the same figures computed directly
in MySQL on the same data: after a first load, after updates, after a late commit inside
the overlap window, and after a rerun (no duplicates)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from etl_dataset import utcnow
from etl_oracle import oracle_rows
from sqlalchemy import Engine, bindparam, text
from wework.db.replication import wait_for_replica
from wework.warehouse import MART_NAMES, open_marts

from pipelines.marts import MART_KEYS


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
    return round(60 * float(uptime) + 30 * delivery + 10 * stability, 1)


def _expected(mart: str, replica: Engine, as_of: datetime) -> list[dict]:
    rows = oracle_rows(replica, mart, as_of)
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
            r["counters_match"] = (
                r["success_count"] == r["message_success_count"]
                and r["failed_count"] == r["message_failed_count"]
                and r["sent_count"] == r["message_success_count"] + r["message_failed_count"]
            )
    return rows


def _published(mart: str, wh) -> list[dict]:
    con = open_marts(wh)
    try:
        cur = con.execute(f"SELECT * FROM marts.{mart}")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def assert_marts_match(replica: Engine, wh, as_of: datetime) -> dict[str, int]:
    sizes = {}
    for mart in MART_NAMES:
        got = _published(mart, wh)
        want = _expected(mart, replica, as_of)
        key = MART_KEYS[mart]
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


def test_marts_equal_mysql_through_updates_late_commit_and_rerun(
    seeded, run_pipeline, replica: Engine, primary: Engine, wh
):
    as_of = utcnow()
    run_pipeline(as_of)
    sizes = assert_marts_match(replica, wh, as_of)
    assert all(n > 0 for n in sizes.values()), sizes
    assert sizes["account_health_daily"] >= 4 * 2  # every account, every day it existed

    # Updates: messages move on, a callback is processed, an account drops offline.
    pending = [m["id"] for m in seeded.messages if m["status"] in ("pending", "sending")][:5]
    waiting = [c["id"] for c in seeded.callbacks if c["status"] == "received"][:3]
    assert pending and waiting
    acct = seeded.accounts[0]
    with primary.begin() as conn:
        conn.execute(
            text(
                "UPDATE messages SET status = 'delivered', send_time = created_at, "
                "callback_time = created_at + INTERVAL 42 SECOND WHERE id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": pending},
        )
        conn.execute(
            text(
                "UPDATE callback_events SET status = 'processed', "
                "process_time = UTC_TIMESTAMP() WHERE id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": waiting},
        )
        conn.execute(
            text(
                "INSERT INTO account_status_history (account_id, old_status, new_status, "
                "operator_type, created_at) VALUES (:a, :o, 'offline', 'system', UTC_TIMESTAMP())"
            ),
            {"a": acct["id"], "o": acct["status"]},
        )
    wait_for_replica(timeout=180, settings=wh)
    as_of = utcnow() + timedelta(seconds=1)
    run_pipeline(as_of)
    assert_marts_match(replica, wh, as_of)

    # A late commit: a row stamped 3 minutes ago (inside the 10-minute overlap) that
    # becomes visible only after the previous run's watermark passed it.
    late = seeded.messages[0]["id"]
    with primary.begin() as conn:
        conn.execute(
            text(
                "UPDATE messages SET status = 'failed', "
                "updated_at = UTC_TIMESTAMP() - INTERVAL 3 MINUTE WHERE id = :id"
            ),
            {"id": late},
        )
    wait_for_replica(timeout=180, settings=wh)
    run_pipeline(as_of)
    assert_marts_match(replica, wh, as_of)

    # A rerun with nothing new changes nothing and duplicates nothing.
    before = {m: _published(m, wh) for m in MART_NAMES}
    result = run_pipeline(as_of)
    assert {m: _published(m, wh) for m in MART_NAMES} == before
    checks = result.get_asset_check_evaluations()
    failed = [(c.asset_key.to_user_string(), c.check_name) for c in checks if not c.passed]
    assert failed == [], failed

    # --full re-reads everything and agrees.
    run_pipeline(as_of, full=True)
    assert_marts_match(replica, wh, as_of)


def test_counters_mismatch_is_flagged(seeded, run_pipeline, wh):
    run_pipeline(utcnow())
    rows = {r["task_name"]: r for r in _published("batch_task_performance", wh)}
    assert rows["task 1"]["counters_match"] is False
    assert rows["task 0"]["counters_match"] is True


def test_stat_dates_are_utc_dates(seeded, run_pipeline, wh):
    run_pipeline(utcnow())
    days = {r["stat_date"] for r in _published("message_stats_daily", wh)}
    want = {m["created_at"].date() for m in seeded.messages}
    assert days == want and all(isinstance(d, date) for d in days)
