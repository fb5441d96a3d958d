"""The aggregates, kept by the extraction's signed deltas, stay equal to the same
aggregates computed from raw; the marts read from them equal the MySQL oracle; a delta is
applied once; a damaged aggregate is rebuilt rather than trusted."""

from __future__ import annotations

from etl_compare import assert_marts_match
from etl_dataset import utcnow
from sqlalchemy import Engine, text

from pipelines import aggregates
from pipelines.assets import raw_assets
from pipelines.marts import MACROS, mart_sql
from pipelines.registry import AGGREGATES, MARTS
from pipelines.resources import WarehouseResource
from wework.db.replication import wait_for_replica


def aggregate_modes(result) -> dict:
    """How each aggregate was refreshed, as the marts reading it report."""
    modes = {}
    for e in result.get_asset_materialization_events():
        if e.materialization.asset_key.path[0] == "marts" and "aggregates" in (
            meta := e.materialization.metadata
        ):
            modes.update(meta["aggregates"].value)
    return modes


def aggregates_differ_from_raw(as_of) -> dict[str, int]:
    """Per aggregate: rows kept and not in the aggregate recomputed from raw, or back."""
    out = {}
    with WarehouseResource(as_of=as_of.isoformat()).connect() as con:
        con.execute(mart_sql(MACROS))
        con.execute("CREATE TEMP VIEW messages AS SELECT 1 AS _sign, * FROM raw.messages")
        for agg in AGGREGATES:
            con.execute(f"CREATE OR REPLACE TEMP TABLE fresh AS {aggregates.aggregate_sql(agg)}")
            kept = aggregates.table(agg)
            (out[agg.name],) = con.execute(
                f"SELECT count(*) FROM ((SELECT * FROM {kept} EXCEPT ALL SELECT * FROM fresh) "
                f"UNION ALL (SELECT * FROM fresh EXCEPT ALL SELECT * FROM {kept}))"
            ).fetchone()
    return out


def every(mode: str) -> dict[str, str]:
    return {a.name: mode for a in AGGREGATES}


NONE_DIFFER = {a.name: 0 for a in AGGREGATES}


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
    assert aggregate_modes(result) == every("whole")
    assert aggregates_differ_from_raw(as_of) == NONE_DIFFER
    change_messages(primary, seeded)
    wait_for_replica(timeout=180, settings=wh)
    result = run_pipeline(as_of)
    assert aggregate_modes(result) == every("delta")
    assert aggregates_differ_from_raw(as_of) == NONE_DIFFER
    assert_marts_match(replica, wh, as_of)
    result = run_pipeline(as_of, full=True)
    assert aggregate_modes(result) == every("whole")
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
        applied = aggregates.refresh(con, whole=False, reloaded=set())
    assert {(a.mode, a.rows > 0) for a in applied} == {("delta", True)}
    # The next run finds the change log (its slices are redone) but no delta left.
    result = run_pipeline(as_of)
    assert aggregate_modes(result) == every("unchanged")
    assert aggregates_differ_from_raw(as_of) == NONE_DIFFER
    assert_marts_match(replica, wh, as_of)


def test_an_aggregate_that_disagrees_with_raw_is_rebuilt(
    seeded, run_pipeline, replica: Engine, primary: Engine, wh
):
    as_of = utcnow()
    run_pipeline(as_of)
    with WarehouseResource(as_of=as_of.isoformat()).connect() as con:  # a lost delta
        con.execute(f"UPDATE {aggregates.table(AGGREGATES[0])} SET messages = messages + 1 "
                    "WHERE status = 'failed'")
    change_messages(primary, seeded)
    wait_for_replica(timeout=180, settings=wh)
    result = run_pipeline(as_of)
    assert aggregate_modes(result) == {**every("delta"), AGGREGATES[0].name: "repaired"}
    assert aggregates_differ_from_raw(as_of) == NONE_DIFFER
    assert_marts_match(replica, wh, as_of)


def test_every_aggregate_has_its_sql_and_is_read_by_a_mart():
    files = {p.stem for p in aggregates.SQL_DIR.glob("*.sql")}
    assert files == {a.name for a in AGGREGATES}, "a sql/aggregates file without an Aggregate"
    read = {name for spec in MARTS for name in spec.aggregate_inputs}
    assert read == {a.name for a in AGGREGATES}, "an aggregate no mart reads"
    for a in AGGREGATES:
        assert a.check_by in a.columns and a.measures, a.name
