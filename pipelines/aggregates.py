"""Aggregates: additive counts over a raw table, kept up to date by deltas (schema ``agg``).

Why: a percentile is not additive, so a mart with one (``message_stats_daily``'s p50/p95
delivery seconds) had to re-read every message of a (tenant, day) for one late receipt:
4,000 late receipts spread over 58 days dirtied ~220 of ~1,800 slices, ~15 % of all
messages re-read in a 1 %-changed run (bench/etl_scale_bench.py). But delivery seconds
are whole seconds (``send_time``/``callback_time`` are TIMESTAMPs), so the day's exact
histogram (value → count) is small — a few dozen values per (tenant, day, type) — and
histograms add. Nearest-rank percentiles from the histogram equal the ones from the raw
list, and counts add too. So ``agg.message_days`` holds counts by status and by delivery
second per (tenant, day, type), and the daily mart reads those instead of the messages.
Likewise ``agg.message_account_days`` (messages per account-day and status) serves
account health's sent/failed counts and tenant usage's messages and active accounts,
which re-read the account-day's messages and every hourly row of the tenant.

How it stays right:

- The extraction records, in the transaction that changes raw, the aggregate's columns of
  every row version it removes (``_sign`` -1: the old version of a changed row, a row gone
  from the source) and adds (+1): ``etl.delta_<table>`` (``pipelines.changes``). The old
  version comes from raw itself just before it is overwritten, so no before-image is
  needed from MySQL.
- :func:`refresh` groups that log with each aggregate's SQL and adds it into the table,
  dropping the groups whose count reaches 0, and drops the log — one transaction for all
  the aggregates of that table, so a delta is applied exactly once whatever is killed
  when.
- The aggregate is built whole from raw when it does not exist, its SQL changed (hash in
  ``etl.state``), its table was reloaded whole (``full:<table>``: first load, ``--full``)
  or the run is a full one.
- After each delta the aggregate's count per status is compared with raw's (one scan of
  a dictionary-compressed column, ~20 ms at 2M): a lost or doubled delta would rebuild it
  whole and say so (``mode == "repaired"``) rather than leave the marts wrong.

The marts that read an aggregate slice it like any input (``registry.Input``); the
change log still says which slices to redo.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import duckdb

from pipelines import changes
from pipelines.registry import AGGREGATES, Aggregate
from wework.config import REPO_ROOT
from wework.warehouse import transaction

SQL_DIR = REPO_ROOT / "sql" / "aggregates"
SCHEMA = "agg"


def _q(name: str) -> str:
    return f'"{name}"'


def aggregate_sql(agg: Aggregate) -> str:
    return (SQL_DIR / f"{agg.name}.sql").read_text(encoding="utf-8").strip().rstrip(";")


def definition_hash(agg: Aggregate) -> str:
    return hashlib.sha256(f"{aggregate_sql(agg)}\n{agg!r}".encode()).hexdigest()[:16]


def table(agg: Aggregate) -> str:
    return f"{SCHEMA}.{_q(agg.name)}"


@dataclass
class AggregateBuild:
    name: str
    mode: str  # whole | delta | unchanged | repaired
    rows: int = 0  # groups the delta touched
    seconds: float = 0.0  # the source's refresh, shared out among its aggregates


def _bind_source(con: duckdb.DuckDBPyConnection, agg: Aggregate, relation: str) -> None:
    """The aggregate's SQL reads its source by bare name, each row with a ``_sign``."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW {_q(agg.source)} AS {relation}")


def _build_whole(con: duckdb.DuckDBPyConnection, agg: Aggregate) -> None:
    """In the caller's transaction."""
    _bind_source(con, agg, f"SELECT CAST(1 AS INTEGER) AS _sign, * FROM raw.{_q(agg.source)}")
    con.execute(f"CREATE OR REPLACE TABLE {table(agg)} AS {aggregate_sql(agg)}")
    changes.put(con, f"agg:{agg.name}", definition_hash(agg))


def _stage_delta(con: duckdb.DuckDBPyConnection, agg: Aggregate) -> int:
    """``_delta_<name>`` (the log grouped by the aggregate's SQL) and ``_merged_<name>``
    (the groups it touches, old + delta), staged before the transaction opens."""
    _bind_source(con, agg, f"SELECT * FROM {changes.delta_table(agg.source)}")
    delta, merged = _q(f"_delta_{agg.name}"), _q(f"_merged_{agg.name}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {delta} AS {aggregate_sql(agg)}")
    keys = ", ".join(_q(k) for k in agg.key)
    sums = ", ".join(f"CAST(sum({_q(m)}) AS BIGINT) AS {_q(m)}" for m in agg.measures)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {merged} AS SELECT {keys}, {sums} FROM ("
        f"SELECT a.* FROM {table(agg)} AS a SEMI JOIN {delta} AS d "
        f"ON {changes.same_key(agg.key, 'a', 'd')} UNION ALL SELECT * FROM {delta}) "
        "GROUP BY ALL"
    )
    (n,) = con.execute(f"SELECT count(*) FROM {delta}").fetchone()
    return int(n)


def _apply_delta(con: duckdb.DuckDBPyConnection, agg: Aggregate) -> None:
    """In the caller's transaction: replace the touched groups by old + delta."""
    delta, merged = _q(f"_delta_{agg.name}"), _q(f"_merged_{agg.name}")
    same = changes.same_key(agg.key, "a", "d")
    con.execute(f"DELETE FROM {table(agg)} AS a USING {delta} AS d WHERE {same}")
    con.execute(f"INSERT INTO {table(agg)} BY NAME SELECT * FROM {merged} "
                f"WHERE {_q(agg.measures[0])} <> 0")


def _drop_staged(con: duckdb.DuckDBPyConnection, agg: Aggregate) -> None:
    con.execute(f"DROP TABLE IF EXISTS {_q(f'_delta_{agg.name}')}; "
                f"DROP TABLE IF EXISTS {_q(f'_merged_{agg.name}')}")


def _agrees_with_raw(con: duckdb.DuckDBPyConnection, agg: Aggregate, raw_counts: str) -> bool:
    """The aggregate's row count by ``check_by`` equals raw's (``raw_counts``: a table of
    (value, count)): a lost or doubled delta moves a count. And no count is negative."""
    count, by = _q(agg.measures[0]), _q(agg.check_by)
    kept = f"SELECT {by}, CAST(sum({count}) AS BIGINT) FROM {table(agg)} GROUP BY ALL"
    (differ,) = con.execute(
        f"SELECT count(*) FROM (({kept} EXCEPT SELECT * FROM {raw_counts}) "
        f"UNION ALL (SELECT * FROM {raw_counts} EXCEPT {kept}))"
    ).fetchone()
    (negative,) = con.execute(f"SELECT count(*) FROM {table(agg)} WHERE {count} < 0").fetchone()
    return differ == 0 and negative == 0


def _raw_counts_table(agg: Aggregate) -> str:
    return _q(f"_raw_counts_{agg.source}_{agg.check_by}")


def _raw_counts(con: duckdb.DuckDBPyConnection, agg: Aggregate) -> str:
    """Raw's row count by the aggregate's ``check_by``, one scan shared by the aggregates
    that check the same column."""
    name = _raw_counts_table(agg)
    if changes.columns_of(con, name) is None:
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT {_q(agg.check_by)}, count(*) AS n "
                    f"FROM raw.{_q(agg.source)} GROUP BY ALL")
    return name


def refresh(
    con: duckdb.DuckDBPyConnection, *, whole: bool, reloaded: set[str]
) -> list[AggregateBuild]:
    """Bring every aggregate up to date with raw (see the module docstring). The
    aggregates of one raw table share its delta log: all of them take it, and it is
    dropped, in one transaction."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    out: list[AggregateBuild] = []
    for source in dict.fromkeys(a.source for a in AGGREGATES):
        started = time.perf_counter()
        aggs = [a for a in AGGREGATES if a.source == source]
        logged = changes.columns_of(con, changes.delta_table(source)) is not None
        builds = {}
        for agg in aggs:
            rebuild = (
                whole
                or source in reloaded
                or changes.columns_of(con, table(agg)) is None
                or changes.get(con, f"agg:{agg.name}") != definition_hash(agg)
            )
            if rebuild:
                builds[agg.name] = AggregateBuild(agg.name, "whole")
            elif logged:
                builds[agg.name] = AggregateBuild(agg.name, "delta", _stage_delta(con, agg))
            else:
                builds[agg.name] = AggregateBuild(agg.name, "unchanged")
        if any(b.mode != "unchanged" for b in builds.values()):
            with transaction(con):
                for agg in aggs:
                    if builds[agg.name].mode == "whole":
                        _build_whole(con, agg)
                    elif builds[agg.name].mode == "delta":
                        _apply_delta(con, agg)
                con.execute(f"DROP TABLE IF EXISTS {changes.delta_table(source)}")
        for agg in aggs:
            _drop_staged(con, agg)
            if builds[agg.name].mode == "delta" and not _agrees_with_raw(
                con, agg, _raw_counts(con, agg)
            ):
                with transaction(con):
                    _build_whole(con, agg)
                builds[agg.name].mode = "repaired"
        for agg in aggs:
            con.execute(f"DROP TABLE IF EXISTS {_raw_counts_table(agg)}")
        seconds = (time.perf_counter() - started) / len(aggs)
        for agg in aggs:
            builds[agg.name].seconds = seconds
            out.append(builds[agg.name])
    return out


def rebuilt(builds: list[AggregateBuild]) -> set[str]:
    """Aggregates built whole: the marts that read them are rebuilt whole too."""
    return {b.name for b in builds if b.mode in ("whole", "repaired")}
