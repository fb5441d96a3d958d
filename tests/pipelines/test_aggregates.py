"""agg.message_days, kept by the extraction's signed deltas, stays equal to the same
aggregate computed from raw; the daily mart read from it equals the MySQL oracle; a delta
is applied once; a damaged aggregate is rebuilt rather than trusted."""

from __future__ import annotations

import dagster as dg
from etl_compare import assert_marts_match
from etl_dataset import utcnow
from sqlalchemy import Engine, text

from pipelines import aggregates
from pipelines.assets import raw_assets
from pipelines.marts import MACROS, mart_sql
from pipelines.registry import AGGREGATES_BY_NAME
from pipelines.resources import WarehouseResource
from wework.db.replication import wait_for_replica

MESSAGE_DAYS = AGGREGATES_BY_NAME["message_days"]


def daily_aggregates(result) -> dict:
    (mat,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key == dg.AssetKey(["marts", "message_stats_daily"])
    ]
    return mat.metadata["aggregates"].value


def aggregate_differs_from_raw(as_of) -> int:
    """Rows in agg.message_days and not in the aggregate recomputed from raw, or back."""
    with WarehouseResource(as_of=as_of.isoformat()).connect() as con:
        con.execute(mart_sql(MACROS))
        con.execute("CREATE TEMP VIEW messages AS SELECT 1 AS _sign, * FROM raw.messages")
        con.execute(f"CREATE TEMP TABLE fresh AS {aggregates.aggregate_sql(MESSAGE_DAYS)}")
        kept = aggregates.table(MESSAGE_DAYS)
        (n,) = con.execute(
            f"SELECT count(*) FROM ((SELECT * FROM {kept} EXCEPT ALL SELECT * FROM fresh) "
            f"UNION ALL (SELECT * FROM fresh EXCEPT ALL SELECT * FROM {kept}))"
        ).fetchone()
    return n


def change_messages(primary: Engine, seeded) -> None:
    old, moved, failed = seeded.messages[1], seeded.messages[4], seeded.messages[5]
    with primary.begin() as conn:
        # A receipt arriving late for an old message (its delivery seconds move).
        conn.execute(text(
            "UPDATE messages SET status = 'delivered', send_time = created_at, "
            "callback_time = created_at + INTERVAL 2 DAY, retry_count = retry_count + 1 "
            "WHERE id = :id"), {"id": old["id"]})
        # A message moved to another day: out of one group, into another.
        conn.execute(text("UPDATE messages SET created_at = created_at - INTERVAL 3 DAY "
                          "WHERE id = :id"), {"id": moved["id"]})
        conn.execute(text("UPDATE messages SET status = 'failed', callback_time = NULL "
                          "WHERE id = :id"), {"id": failed["id"]})


def test_deltas_keep_the_aggregate_equal_to_raw_and_the_daily_mart_to_mysql(
    seeded, run_pipeline, replica: Engine, primary: Engine, wh
):
    as_of = utcnow()
    result = run_pipeline(as_of)
    assert daily_aggregates(result) == {"message_days": "whole"}
    assert aggregate_differs_from_raw(as_of) == 0
    change_messages(primary, seeded)
    wait_for_replica(timeout=180, settings=wh)
    result = run_pipeline(as_of)
    assert daily_aggregates(result) == {"message_days": "delta"}
    assert aggregate_differs_from_raw(as_of) == 0
    assert_marts_match(replica, wh, as_of)
    result = run_pipeline(as_of, full=True)
    assert daily_aggregates(result) == {"message_days": "whole"}
    assert_marts_match(replica, wh, as_of)


def test_a_delta_is_applied_once_when_the_run_dies_after_applying_it(
    seeded, run_pipeline, replica: Engine, primary: Engine, wh
):
    as_of = utcnow()
    run_pipeline(as_of)
    change_messages(primary, seeded)
    wait_for_replica(timeout=180, settings=wh)
    run_pipeline(as_of, assets=raw_assets)  # extracted; the marts' step never ran
    with WarehouseResource(as_of=as_of.isoformat()).connect() as con:
        con.execute(mart_sql(MACROS))
        (applied,) = aggregates.refresh(con, whole=False, reloaded=set())
    assert (applied.mode, applied.rows > 0) == ("delta", True)
    # The next run finds the change log (its slices are redone) but no delta left.
    result = run_pipeline(as_of)
    assert daily_aggregates(result) == {"message_days": "unchanged"}
    assert aggregate_differs_from_raw(as_of) == 0
    assert_marts_match(replica, wh, as_of)


def test_an_aggregate_that_disagrees_with_raw_is_rebuilt(
    seeded, run_pipeline, replica: Engine, primary: Engine, wh
):
    as_of = utcnow()
    run_pipeline(as_of)
    with WarehouseResource(as_of=as_of.isoformat()).connect() as con:  # a lost delta
        con.execute(f"UPDATE {aggregates.table(MESSAGE_DAYS)} SET messages = messages + 1 "
                    "WHERE status = 'failed'")
    change_messages(primary, seeded)
    wait_for_replica(timeout=180, settings=wh)
    result = run_pipeline(as_of)
    assert daily_aggregates(result) == {"message_days": "repaired"}
    assert aggregate_differs_from_raw(as_of) == 0
    assert_marts_match(replica, wh, as_of)
