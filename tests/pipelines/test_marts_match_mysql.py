"""Every mart, read through the published copy, equals the same figures computed directly
in MySQL on the same data: after a first load, after updates, after a late commit inside
the overlap window, and after a rerun (no duplicates)."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
from etl_compare import assert_marts_match, published_rows
from etl_dataset import utcnow
from sqlalchemy import Engine, bindparam, text

from pipelines.marts import CLOCK_STEP, marts_as_of
from pipelines.registry import MART_NAMES
from wework.db.replication import wait_for_replica
from wework.seed import SeedConfig, seed
from wework.warehouse import published_version


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
    result = run_pipeline(as_of)
    assert_marts_match(replica, wh, as_of)
    # Only the touched slices were recomputed, and only they were published.
    modes = mart_modes(result)
    assert set(modes.values()) <= {"slices", "unchanged"}, modes
    assert modes["message_stats_hourly"] == modes["account_health_daily"] == "slices"
    assert mart_meta(result, "message_stats_hourly")["slices"].value <= len(pending)

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

    # A rerun with nothing new (same as_of) recomputes nothing and publishes no snapshot.
    before = {m: published_rows(m, wh) for m in MART_NAMES}
    version = published_version(wh)
    result = run_pipeline(as_of)
    assert {m: published_rows(m, wh) for m in MART_NAMES} == before
    assert set(mart_modes(result).values()) == {"unchanged"}
    assert published_version(wh) == version
    checks = result.get_asset_check_evaluations()
    failed = [(c.asset_key.to_user_string(), c.check_name) for c in checks if not c.passed]
    assert failed == [], failed

    # --full re-reads everything and agrees.
    run_pipeline(as_of, full=True)
    assert_marts_match(replica, wh, as_of)


def mart_meta(result, mart: str):
    (mat,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key == dg.AssetKey(["marts", mart])
    ]
    return mat.metadata


def mart_modes(result) -> dict[str, str]:
    return {m: mart_meta(result, m)["mode"].value for m in MART_NAMES}


def test_status_change_of_a_months_old_message_redoes_only_its_slices(
    seeded, run_pipeline, replica: Engine, primary: Engine, wh
):
    as_of = utcnow()
    run_pipeline(as_of)
    old = seeded.messages[1]
    with primary.begin() as conn:  # a receipt arrives for a message created ~4 months ago
        conn.execute(
            text(
                "UPDATE messages SET created_at = created_at - INTERVAL 120 DAY, "
                "status = 'sent', send_time = NULL, callback_time = NULL WHERE id = :id"
            ),
            {"id": old["id"]},
        )
    wait_for_replica(timeout=180, settings=wh)
    run_pipeline(as_of)
    assert_marts_match(replica, wh, as_of)
    with primary.begin() as conn:
        conn.execute(
            text(
                "UPDATE messages SET status = 'delivered', send_time = created_at, "
                "callback_time = created_at + INTERVAL 5 SECOND WHERE id = :id"
            ),
            {"id": old["id"]},
        )
    wait_for_replica(timeout=180, settings=wh)
    result = run_pipeline(as_of)
    assert_marts_match(replica, wh, as_of)
    # one message: one (tenant, day) slice of the message marts, one (account, day)
    assert mart_meta(result, "message_stats_daily")["slices"].value == 1
    assert mart_meta(result, "account_health_daily")["slices"].value == 1
    # ... of which only the rows that changed are written and published: the message's
    # (account, hour, type) row of the hourly mart, its (type) row of the daily one.
    assert mart_meta(result, "message_stats_hourly")["rows_written"].value == 1
    assert mart_meta(result, "message_stats_daily")["rows_written"].value == 1
    (published,) = [e.materialization.metadata for e in result.get_asset_materialization_events()
                    if e.materialization.asset_key == dg.AssetKey("published_marts")]
    by_mart = published["rows_by_mart"].value
    assert by_mart["message_stats_hourly"] == by_mart["message_stats_daily"] == 1


def test_deleted_message_disappears_after_full(seeded, run_pipeline, replica, primary, wh):
    as_of = utcnow()
    run_pipeline(as_of)
    gone = seeded.messages[2]["id"]
    with primary.begin() as conn:
        conn.execute(text("DELETE FROM messages WHERE id = :id"), {"id": gone})
    wait_for_replica(timeout=180, settings=wh)
    run_pipeline(as_of, full=True)
    assert_marts_match(replica, wh, as_of)


def raw_metadata(result, table: str) -> dict:
    (meta,) = [e.materialization.metadata for e in result.get_asset_materialization_events()
               if e.materialization.asset_key == dg.AssetKey(["raw", table])]
    return {k: v.value for k, v in meta.items()}


def test_replaced_source_data_is_read_whole_by_the_next_plain_run(
    seeded, run_pipeline, replica, primary, wh
):
    """`wework db seed --replace` (a restore does the same) puts rows older than the
    extraction's marks in place of rows that are gone: an incremental read would miss
    both. The seed's new data generation makes the next plain run read the shard whole;
    the run after it is incremental again."""
    as_of = utcnow()
    run_pipeline(as_of)
    assert raw_metadata(run_pipeline(as_of), "messages")["full"] is False
    before = {m["id"] for m in seeded.messages}

    seed(SeedConfig(tenants=2, accounts=4, days=5, messages=800, chunk_size=800, seed=11,
                    now=as_of - timedelta(hours=2)), wh, replace=True)
    wait_for_replica(timeout=180, settings=wh)
    with primary.connect() as conn:
        reseeded = set(conn.execute(text("SELECT id FROM messages")).scalars())
    assert reseeded and not reseeded & before
    as_of = utcnow() + timedelta(seconds=1)
    messages = raw_metadata(run_pipeline(as_of), "messages")
    assert messages["full"] is True
    assert "seeded by wework db seed (seed 11, replacing the data)" in messages["source_replaced"]
    assert messages["rows_in_raw"] == len(reseeded)
    assert_marts_match(replica, wh, as_of)

    again = raw_metadata(run_pipeline(as_of), "messages")
    assert again["full"] is False and again["rows_read"] < len(reseeded)
    assert "source_replaced" not in again


def test_data_taken_back_in_time_without_a_new_generation_is_read_whole(
    seeded, run_pipeline, replica, primary, wh
):
    """A restore by other tools writes no new generation; it takes the data back in time,
    though: the source's newest message change is older than raw's. The run reads the
    shard whole, and the messages the restore removed leave the marts."""
    as_of = utcnow()
    run_pipeline(as_of)
    with primary.begin() as conn:
        (newest,) = conn.execute(text("SELECT MAX(updated_at) FROM messages")).one()
        gone = conn.execute(text(
            "DELETE FROM messages WHERE updated_at >= :t"), {"t": newest - timedelta(hours=6)}
        ).rowcount
    assert gone > 0
    wait_for_replica(timeout=180, settings=wh)
    messages = raw_metadata(run_pipeline(as_of), "messages")
    assert messages["full"] is True
    assert "no new data generation was written" in messages["source_replaced"]
    assert messages["rows_in_raw"] == len(seeded.messages) - gone
    assert_marts_match(replica, wh, as_of)


def test_counters_mismatch_is_flagged(seeded, run_pipeline, wh):
    run_pipeline(utcnow())
    rows = {r["task_name"]: r for r in published_rows("batch_task_performance", wh)}
    assert rows["task 1"]["counters_match"] is False
    assert rows["task 0"]["counters_match"] is True


def test_stat_dates_are_utc_dates(seeded, run_pipeline, wh):
    run_pipeline(utcnow())
    days = {r["stat_date"] for r in published_rows("message_stats_daily", wh)}
    want = {m["created_at"].date() for m in seeded.messages}
    assert days == want and all(isinstance(d, date) for d in days)


def test_alert_history_is_one_row_per_episode_and_closes_when_as_of_passes_its_resolve(
    seeded, run_pipeline, replica: Engine, wh
):
    run_pipeline(utcnow())
    rows = published_rows("alert_history", wh)
    by_rule: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: r["episode"]):
        by_rule.setdefault(r["rule"], []).append(r)
    lag = by_rule["replica_lag"]
    assert [r["episode"] for r in lag] == [1, 2] and lag[0]["alert_id"] == lag[1]["alert_id"]
    assert (lag[0]["duration_seconds"], lag[0]["repeat_notices"], lag[0]["fired_value"]) == (
        90 * 60, 1, 3.5)
    assert (lag[1]["duration_seconds"], lag[1]["repeat_notices"]) == (5 * 60, 0)
    (disk,) = by_rule["disk_free"]  # fired and resolved in the same second
    assert disk["duration_seconds"] == 0 and disk["end_time"] == disk["start_time"]
    # Its resolved notice lies after as_of (a clock that ran ahead): still firing.
    (accounts,) = by_rule["tenant_accounts_unhealthy"]
    assert accounts["tenant_id"] == seeded.tenants[0]["id"]
    assert accounts["end_time"] is None and accounts["duration_seconds"] is None
    assert accounts["repeat_notices"] == 1

    # Once as_of passes that notice, the episode closes, though no notice row changed.
    later = seeded.now + timedelta(hours=2)
    result = run_pipeline(later)
    assert mart_meta(result, "alert_history")["mode"].value == "slices"
    (accounts,) = [r for r in published_rows("alert_history", wh)
                   if r["rule"] == "tenant_accounts_unhealthy"]
    assert accounts["duration_seconds"] == 3 * 3600
    assert_marts_match(replica, wh, later, marts=["alert_history"])


def _as_of_published(wh):
    (row,) = published_rows("publish_info", wh)
    return row["as_of"]


def _reported_checks(result) -> set[str]:
    return {
        f"{c.asset_key.to_user_string()}:{c.check_name}"
        for c in result.get_asset_check_evaluations()
    }


def test_the_marts_clock_holds_while_nothing_changes_and_moves_with_a_change_or_the_step(
    seeded, run_pipeline, replica: Engine, primary: Engine, wh
):
    t0 = utcnow()
    run_pipeline(t0)
    version = published_version(wh)

    # Nothing new, minutes later: the marts stay as of t0 (still equal to the oracle at t0),
    # nothing is recomputed or published, and only the freshness check is reported.
    result = run_pipeline(t0 + CLOCK_STEP / 3)
    assert set(mart_modes(result).values()) == {"unchanged"}
    assert published_version(wh) == version and _as_of_published(wh) == t0
    assert not [e for e in result.get_asset_materialization_events()
                if e.materialization.asset_key == dg.AssetKey("published_marts")]
    assert _reported_checks(result) == {"published_marts:published_marts_fresh"}
    assert_marts_match(replica, wh, t0)

    # Past the step the clock moves: only the open day of each account is recomputed (and
    # no tenant day, unless a UTC day began), and every mart equals the oracle at t1.
    t1 = t0 + CLOCK_STEP + timedelta(minutes=1)
    result = run_pipeline(t1)
    modes = mart_modes(result)
    days = (t1.date() - t0.date()).days + 1
    assert modes["account_health_daily"] == "slices"
    assert 0 < mart_meta(result, "account_health_daily")["slices"].value <= (
        len(seeded.accounts) * days)
    assert modes["message_stats_hourly"] == modes["callback_processing_daily"] == "unchanged"
    if days == 1:
        assert modes["tenant_usage_daily"] == "unchanged"
    assert published_version(wh) != version and _as_of_published(wh) == t1
    assert_marts_match(replica, wh, t1)

    # A change moves it at once, step or not: an account goes offline a minute after t1.
    acct = seeded.accounts[1]
    with primary.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO account_status_history (account_id, old_status, new_status, "
                "operator_type, created_at) VALUES (:a, 'online', 'offline', 'system', :at)"
            ),
            {"a": acct["id"], "at": t1 + timedelta(minutes=1)},
        )
    wait_for_replica(timeout=180, settings=wh)
    t2 = t1 + timedelta(minutes=2)
    run_pipeline(t2)
    assert _as_of_published(wh) == t2
    assert_marts_match(replica, wh, t2)


def test_marts_as_of_rule():
    t = utcnow()
    assert marts_as_of(None, t, changed=False) == t
    assert marts_as_of(t, t + CLOCK_STEP / 2, changed=False) == t
    assert marts_as_of(t, t + CLOCK_STEP / 2, changed=True) == t + CLOCK_STEP / 2
    assert marts_as_of(t, t + CLOCK_STEP, changed=False) == t + CLOCK_STEP
    assert marts_as_of(t, t - timedelta(seconds=1), changed=False) == t - timedelta(seconds=1)
    assert marts_as_of(t, t + CLOCK_STEP / 2, changed=False, step=timedelta(0)) == (
        t + CLOCK_STEP / 2)
