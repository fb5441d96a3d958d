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

How it stays right:

- The extraction records, in the transaction that changes raw, the aggregate's columns of
  every row version it removes (``_sign`` -1: the old version of a changed row, a row gone
  from the source) and adds (+1): ``etl.delta_<table>`` (``pipelines.changes``). The old
  version comes from raw itself just before it is overwritten, so no before-image is
  needed from MySQL.
- :func:`refresh` groups that log with the aggregate's SQL and adds it into the table,
  dropping the groups whose count reaches 0, and drops the log — one transaction, so a
  delta is applied exactly once whatever is killed when.
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
    rows: int = 0  # delta rows applied (whole: the aggregate's rows)
    seconds: float = 0.0


def _bind_source(con: duckdb.DuckDBPyConnection, agg: Aggregate, relation: str) -> None:
    """The aggregate's SQL reads its source by bare name, each row with a ``_sign``."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW {_q(agg.source)} AS {relation}")


def _build_whole(con: duckdb.DuckDBPyConnection, agg: Aggregate) -> int:
    _bind_source(con, agg, f"SELECT CAST(1 AS INTEGER) AS _sign, * FROM raw.{_q(agg.source)}")
    with transaction(con):
        con.execute(f"CREATE OR REPLACE TABLE {table(agg)} AS {aggregate_sql(agg)}")
        con.execute(f"DROP TABLE IF EXISTS {changes.delta_table(agg.source)}")
        changes.put(con, f"agg:{agg.name}", definition_hash(agg))
    (rows,) = con.execute(f"SELECT count(*) FROM {table(agg)}").fetchone()
    return int(rows)


def _apply_delta(con: duckdb.DuckDBPyConnection, agg: Aggregate) -> int:
    log = changes.delta_table(agg.source)
    _bind_source(con, agg, f"SELECT * FROM {log}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _delta AS {aggregate_sql(agg)}")
    (n,) = con.execute("SELECT count(*) FROM _delta").fetchone()
    keys = ", ".join(_q(k) for k in agg.key)
    sums = ", ".join(f"CAST(sum({_q(m)}) AS BIGINT) AS {_q(m)}" for m in agg.measures)
    same = changes.same_key(agg.key, "a", "d")
    # The groups the delta touches, old + delta, staged before the transaction opens.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _merged AS SELECT {keys}, {sums} FROM ("
        f"SELECT a.* FROM {table(agg)} AS a SEMI JOIN _delta AS d ON {same} "
        f"UNION ALL SELECT * FROM _delta) GROUP BY ALL"
    )
    with transaction(con):
        con.execute(f"DELETE FROM {table(agg)} AS a USING _delta AS d WHERE {same}")
        con.execute(f"INSERT INTO {table(agg)} BY NAME SELECT * FROM _merged "
                    f"WHERE {_q(agg.measures[0])} <> 0")
        con.execute(f"DROP TABLE {log}")
    con.execute("DROP TABLE IF EXISTS _delta; DROP TABLE IF EXISTS _merged")
    return int(n)


def _agrees_with_raw(con: duckdb.DuckDBPyConnection, agg: Aggregate) -> bool:
    """The aggregate's row count by ``check_by`` equals raw's (a cheap guard on the deltas:
    a lost or doubled delta moves a count), and no count is negative."""
    count, by = _q(agg.measures[0]), _q(agg.check_by)
    (differ,) = con.execute(
        f"SELECT count(*) FROM ("
        f"(SELECT {by}, CAST(sum({count}) AS BIGINT) FROM {table(agg)} GROUP BY ALL "
        f"EXCEPT SELECT {by}, count(*) FROM raw.{_q(agg.source)} GROUP BY ALL) UNION ALL "
        f"(SELECT {by}, count(*) FROM raw.{_q(agg.source)} GROUP BY ALL "
        f"EXCEPT SELECT {by}, CAST(sum({count}) AS BIGINT) FROM {table(agg)} GROUP BY ALL))"
    ).fetchone()
    (negative,) = con.execute(f"SELECT count(*) FROM {table(agg)} WHERE {count} < 0").fetchone()
    return differ == 0 and negative == 0


def refresh(
    con: duckdb.DuckDBPyConnection, *, whole: bool, reloaded: set[str]
) -> list[AggregateBuild]:
    """Bring every aggregate up to date with raw (see the module docstring)."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    out = []
    for agg in AGGREGATES:
        started = time.perf_counter()
        rebuild = (
            whole
            or agg.source in reloaded
            or changes.columns_of(con, table(agg)) is None
            or changes.get(con, f"agg:{agg.name}") != definition_hash(agg)
        )
        if rebuild:
            result = AggregateBuild(agg.name, "whole", _build_whole(con, agg))
        elif changes.columns_of(con, changes.delta_table(agg.source)) is None:
            result = AggregateBuild(agg.name, "unchanged")
        else:
            result = AggregateBuild(agg.name, "delta", _apply_delta(con, agg))
            if not _agrees_with_raw(con, agg):
                result = AggregateBuild(agg.name, "repaired", _build_whole(con, agg))
        result.seconds = time.perf_counter() - started
        out.append(result)
    return out


def rebuilt(builds: list[AggregateBuild]) -> set[str]:
    """Aggregates built whole: the marts that read them are rebuilt whole too."""
    return {b.name for b in builds if b.mode in ("whole", "repaired")}
