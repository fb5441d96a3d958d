"""``raw/<table>``: every source table, extracted per shard from the replica in ONE step.

One multi-asset rather than one asset per table: a step costs Dagster's bookkeeping
(~0.1 s) and every step would ATTACH each shard again, and a run with nothing new must be
cheap at any data size. ``can_subset``: the UI can still refresh chosen tables.

Every selected table is materialized every run (Dagster skips a step when any asset it
depends on yields nothing, so the marts step would not run), but the checks of a table in
which nothing changed are reported only when they fail: every Dagster event costs ~4-5 ms
to store (measured: 155 events were ~1 s of a no-change run, 58 of them passing checks of
unchanged tables).
"""

import functools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import dagster as dg
import duckdb

from pipelines import changes
from pipelines.checks import (
    KEY_UNIQUE,
    LAG_REPORTED_ON,
    SOURCE_ROWS,
    STATUS_DAY_COUNTS,
    CheckWindow,
    check_window,
    duplicate_keys,
    lag_result,
    raw_check_specs,
    raw_row_count,
    source_row_count,
    status_day_counts,
)
from pipelines.extract import (
    ExtractResult,
    TableSpec,
    attach_source,
    ensure_schemas,
    extract_table,
    remember_generation,
    seen_until_key,
    source_generation,
    source_seen_until,
    table_specs,
)
from pipelines.resources import MySQLReplicaResource, WarehouseResource
from wework import metrics
from wework.warehouse import transaction

# Run tag: `wework etl run --full` sets it to re-read every table completely.
FULL_REFRESH_TAG = "wework/full_refresh"
WAREHOUSE_POOL = "wework_warehouse"  # one DuckDB writer at a time
SPECS = table_specs()


def raw_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table])


@dataclass(frozen=True)
class TableRead:
    """One table of one shard brought up to date, with its checks' figures."""

    result: ExtractResult
    window: CheckWindow
    counts: tuple[int, int]  # rows in the checked window: (source, raw)
    status_diffs: list[tuple]  # messages only: (day, status, source, raw) that differ


# The tables that grow with traffic, largest first: the pool starts them first, so the
# longest one is not left to run alone at the end.
_GROWING = ("messages", "callback_events", "callback_event_keys", "account_status_history")


def _largest_first(spec: TableSpec) -> int:
    return _GROWING.index(spec.name) if spec.name in _GROWING else len(_GROWING)


def _read_table(
    con: duckdb.DuckDBPyConnection, src: str, spec: TableSpec, *, shard: int, full: bool,
    overlap: timedelta, seen_until: dict[str, datetime | None],
) -> TableRead:
    """Extract one table on a cursor of its own, then check it at extraction time, over
    the window this run read.

    Several tables are read at once (``WarehouseResource.at_once``, 3): one
    table's stream from MySQL, its staging and its checks leave a core idle much of the
    time (a single mysql_query() scan is one stream, and the MySQL server feeding it runs
    on the same machine). Measured on the 2.65M-message set, the raw step three at a time
    against one at a time, alternating: full run 14.2-14.4 s against 19.6-20.8 s;
    nothing new but the overlap window 1.34-1.43 s against 1.53-1.59 s; after 4,000 late
    receipts 1.40-1.60 s against 1.74-2.03 s. Each cursor is a connection of its own (its
    own transaction and temp tables) and the tables are disjoint, so their transactions
    never conflict; settings a step changes are per session (wework.warehouse.setting)."""
    cur = con.cursor()
    try:
        r = extract_table(cur, src, spec, shard, full=full, overlap=overlap,
                          seen_until=seen_until[spec.name])
        w = check_window(cur, spec, shard, r.window, overlap)
        messages = spec.name == "messages"
        # A run that changed messages counts the window per (day, status), and those
        # counts sum to its row counts: one pass over the source's window, not two.
        counts = None if messages and r.rows_changed else (
            source_row_count(cur, src, spec.name, w.source_parts),
            raw_row_count(cur, spec.name, shard, w.raw))
        # With no row of the window changed, every source row of it equals a raw row;
        # with the counts equal too, the two windows are the same rows, so their counts
        # per (day, status) agree: that MySQL query (0.1-0.15 s at 2M) would add nothing.
        by_status = (status_day_counts(cur, src, shard, w.source, w.raw)
                     if messages and (counts is None or counts[0] != counts[1]) else None)
        if counts is None:
            counts = by_status.totals
        diffs = by_status.differences if by_status else []
        return TableRead(r, w, counts, diffs)
    finally:
        cur.close()


@dg.multi_asset(
    name="raw_tables",
    specs=[
        dg.AssetSpec(
            raw_key(spec.name),
            group_name="raw",
            kinds={"duckdb", "mysql"},
            skippable=True,
            description=f"`{spec.name}` from each shard's replica, the columns "
            "pipelines.registry allows; strategy "
            f"`{spec.strategy}` (see pipelines/extract.py).",
        )
        for spec in SPECS.values()
    ],
    check_specs=[c for spec in SPECS.values() for c in raw_check_specs(spec)],
    can_subset=True,
    pool=WAREHOUSE_POOL,
)
def raw_tables(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    replica: MySQLReplicaResource,
):
    full = context.run.tags.get(FULL_REFRESH_TAG) == "true"
    wanted = [s for s in SPECS.values() if raw_key(s.name) in context.selected_asset_keys]
    results: dict[str, list] = {s.name: [] for s in wanted}
    counts: dict[str, tuple[dict, dict]] = {s.name: ({}, {}) for s in wanted}
    status_diffs: list[tuple] = []
    windows: dict[str, list[str]] = {s.name: [] for s in wanted}  # per shard, DuckDB quoting
    decisions = []
    replaced: list[str] = []  # why a shard was read whole without --full (run metadata)
    with warehouse.connect() as con:
        ensure_schemas(con)  # before the tables are read concurrently (_read_table)
        for shard in replica.shards():
            decision = replica.decide(shard)
            decided = time.monotonic()
            decisions.append(decision)
            if decision.fell_back:
                context.log.warning(f"shard {shard}: {decision.reason}")
            src = f"src_{shard}"
            attach_source(con, src, replica.url(decision))
            try:
                generation = source_generation(con, src, shard, replica.overlap)
                if generation.replaced and not full:
                    context.log.warning(f"{generation.describe()}: every table re-read whole")
                    replaced.append(generation.describe())
                reread = full or generation.replaced
                # Taken before any table is read: every row committed before it is seen.
                # The lag was measured at the decision: the time since is added to it.
                lag = 0.0 if decision.fell_back else decision.lag_seconds
                if lag is not None:
                    lag += time.monotonic() - decided
                seen_now = source_seen_until(con, src, lag)
                seen_before = {}
                for spec in wanted:
                    mark = changes.get(con, seen_until_key(shard, spec.name))
                    seen_before[spec.name] = datetime.fromisoformat(mark) if mark else None
                read = functools.partial(_read_table, con, src, shard=shard, full=reread,
                                         overlap=replica.overlap, seen_until=seen_before)
                with ThreadPoolExecutor(warehouse.at_once) as pool:
                    for got in pool.map(read, sorted(wanted, key=_largest_first)):
                        name = got.result.table
                        results[name].append(got.result)
                        windows[name].append(f"(_shard = {int(shard)} AND {got.window.read})")
                        counts[name][0][shard], counts[name][1][shard] = got.counts
                        status_diffs += got.status_diffs
                with transaction(con):  # only once every table of the shard was read
                    for spec in wanted:
                        changes.put(con, seen_until_key(shard, spec.name),
                                    seen_now.isoformat() if seen_now else None)
                if len(wanted) == len(SPECS):  # a subset leaves the other tables behind
                    remember_generation(con, generation)
            finally:
                con.execute(f"DETACH {src}")
        # Only a run that changed rows can have made a duplicate, and only on the keys of
        # its window (checks.duplicate_keys): the check costs what the run read.
        dups = {
            s.name: duplicate_keys(
                con, f'raw."{s.name}"', ("_shard", *s.key),
                "TRUE" if all(r.full for r in results[s.name])
                else " OR ".join(windows[s.name]),
            )
            if any(r.rows_changed for r in results[s.name])
            else 0
            for s in wanted
        }
    for d in decisions:
        if d.lag_seconds is not None:
            metrics.replica_lag(d.lag_seconds)
    for spec in wanted:
        rs = results[spec.name]
        rows_read = sum(r.rows_read for r in rs)
        seconds = sum(r.seconds for r in rs)
        metrics.pipeline_run(f"raw/{spec.name}", rows_read, seconds)
        # Of the checks of a table in which nothing changed only failures are reported.
        changed = any(r.rows_changed for r in rs)
        source_rows, raw_rows = counts[spec.name]
        key = raw_key(spec.name)
        checks = [
            dg.AssetCheckResult(
                asset_key=key,
                check_name=SOURCE_ROWS,
                passed=source_rows == raw_rows,
                metadata={"source_rows": str(source_rows), "raw_rows": str(raw_rows),
                          "window": "whole table" if all(r.full for r in rs) else "this run's"},
            ),
            dg.AssetCheckResult(
                asset_key=key,
                check_name=KEY_UNIQUE,
                passed=dups[spec.name] == 0,
                metadata={"duplicate_keys": dups[spec.name]},
            ),
        ]
        if spec.name == LAG_REPORTED_ON:
            checks.append(lag_result(decisions, key))
            checks.append(
                dg.AssetCheckResult(
                    asset_key=key,
                    check_name=STATUS_DAY_COUNTS,
                    passed=not status_diffs,
                    metadata={
                        "differences (day, status, source, raw)": str(status_diffs[:20]),
                        "difference_count": len(status_diffs),
                    },
                )
            )
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "strategy": spec.strategy,
                "full": all(r.full for r in rs),
                "rows_read": rows_read,
                "rows_changed": sum(r.rows_changed for r in rs),
                "rows_in_raw": sum(r.rows_in_raw for r in rs),
                "seconds": round(seconds, 3),
                "rows_per_second": round(rows_read / seconds) if seconds > 0 else None,
                "watermarks": {str(r.shard): r.watermark for r in rs},
                "read_from": ", ".join(f"shard {d.shard}: {d.role.value}" for d in decisions),
                "replica_lag_seconds": [d.lag_seconds for d in decisions],
                **({"source_replaced": "; ".join(replaced)} if replaced else {}),
            },
        )
        yield from (c for c in checks if changed or not c.passed)


raw_assets = [raw_tables]
