"""Build the marts from ``raw``, recomputing only the slices that changed rows touch.

Each mart's SQL (``sql/marts/<mart>.sql``) reads its inputs by bare name. A build binds
every name to a temp view:

- **whole** (first build, a raw input reloaded whole, or the mart's SQL/spec changed —
  detected by a hash kept in ``etl.state``): the views are the raw tables and the mart is
  rebuilt whole (``CREATE OR REPLACE``, one transaction).
- **slices** (every other run): ``MartSpec.dirty`` turns the change log
  (``pipelines.changes``) into the slice keys to redo (``(tenant_id, stat_date)``,
  ``(account_id, stat_date)``, ``batch_id`` …); each input view keeps only the rows of
  those slices (a semi join on ``Input.match``, plus a literal date range on
  ``Input.prune`` so DuckDB skips row groups by their min/max); the mart's rows of those
  slices are deleted and the recomputed ones inserted in one transaction, which also
  queues the slice keys for the publisher (``etl.pending_<mart>``).

The cost of a run therefore follows the number of changed slices, not the history: a run
with nothing changed reads only the empty change log. Why (tenant, day) and not (tenant,
hour): a day is the grain of every report and of the daily marts; an hour slice would cut
the hourly mart's work by up to 24× but the daily marts would still redo the whole day,
and late receipts scatter over days anyway (measured in bench/etl_scale_bench.py).

Totals checks and key-uniqueness checks run on the recomputed part only, against the same
cut-down inputs, so checking costs what building costs.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb

from pipelines import changes
from pipelines.registry import MARTS, RAW_BY_NAME, RAW_TABLES, MartSpec
from wework.config import REPO_ROOT
from wework.warehouse import transaction

SQL_DIR = REPO_ROOT / "sql" / "marts"
MACROS = "_macros"


def mart_sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8").strip().rstrip(";")


def _q(name: str) -> str:
    return f'"{name}"'


@dataclass
class MartBuild:
    name: str
    mode: str  # whole | slices | unchanged
    slices: int = 0
    rows: int = 0  # rows written
    seconds: float = 0.0
    mart_totals: list = field(default_factory=list)
    input_totals: list = field(default_factory=list)
    duplicate_keys: int = 0

    @property
    def totals_match(self) -> bool:
        return self.mart_totals == self.input_totals


def definition_hash(spec: MartSpec) -> str:
    text = "\n".join((mart_sql(MACROS), mart_sql(spec.name), repr(spec)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _lit_date(d: date) -> str:
    return f"DATE '{d.isoformat()}'"


def _bind_changes(con: duckdb.DuckDBPyConnection) -> None:
    for t in RAW_TABLES:
        if t.changes:
            rel = changes.changed_relation(con, t.name, t.changes)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {_q('changed_' + t.name)} AS {rel}")


def _source(name: str) -> str:
    return f"raw.{_q(name)}" if name in RAW_BY_NAME else f"marts.{_q(name)}"


def _bind_inputs(con: duckdb.DuckDBPyConnection, spec: MartSpec, sliced: bool) -> None:
    """Temp views named after the inputs: whole, or cut down to the slices in ``_slice``."""
    if sliced:
        con.execute("CREATE OR REPLACE TEMP VIEW slice_keys AS SELECT * FROM _slice")
    for inp in spec.inputs:
        source = _source(inp.name)
        if not sliced or not inp.match:
            con.execute(f"CREATE OR REPLACE TEMP VIEW {_q(inp.name)} AS SELECT * FROM {source}")
            continue
        slice_cols = spec.slice[: len(inp.match)]
        computed = ", ".join(f"({e}) AS _m{i}" for i, e in enumerate(inp.match))
        on = " AND ".join(f"i._m{i} = k.{_q(c)}" for i, c in enumerate(slice_cols))
        prune = ""
        if inp.prune:
            pos = next(i for i, e in enumerate(inp.match) if inp.prune in e)
            lo, hi = con.execute(
                f"SELECT min({_q(slice_cols[pos])}), max({_q(slice_cols[pos])}) FROM _slice"
            ).fetchone()
            # Literals: DuckDB prunes row groups by min/max only against constants.
            prune = (
                f" WHERE {_q(inp.prune)} >= {_lit_date(lo)} "
                f"AND {_q(inp.prune)} < {_lit_date(hi + timedelta(days=1))}"
            )
        keys = ", ".join(_q(c) for c in slice_cols)
        excl = ", ".join(f"_m{i}" for i in range(len(inp.match)))
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {_q(inp.name)} AS "
            f"SELECT i.* EXCLUDE ({excl}) FROM (SELECT *, {computed} FROM {source}{prune}) AS i "
            f"SEMI JOIN (SELECT DISTINCT {keys} FROM _slice) AS k ON {on}"
        )


def _checks(con: duckdb.DuckDBPyConnection, spec: MartSpec, rows: str, out: MartBuild) -> None:
    """Key uniqueness and totals of ``rows`` (the mart, or its recomputed slices)."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW m AS SELECT * FROM {rows}")
    cols = ", ".join(_q(k) for k in spec.key)
    (out.duplicate_keys,) = con.execute(
        f"SELECT count(*) FROM (SELECT {cols} FROM m GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()
    mart_sql_, input_sql = spec.totals
    out.mart_totals = [int(v or 0) for v in con.execute(mart_sql_).fetchone()]
    out.input_totals = [int(v or 0) for v in con.execute(input_sql).fetchone()]


def _pending(spec: MartSpec) -> str:
    return f"{changes.SCHEMA}.{_q('pending_' + spec.name)}"


def _build_whole(con: duckdb.DuckDBPyConnection, spec: MartSpec, digest: str) -> MartBuild:
    out = MartBuild(spec.name, "whole")
    _bind_inputs(con, spec, sliced=False)
    target = f"marts.{_q(spec.name)}"
    with transaction(con):
        con.execute(f"CREATE OR REPLACE TABLE {target} AS {mart_sql(spec.name)}")
        changes.put(con, f"sql:{spec.name}", digest)
        changes.put(con, f"publish_full:{spec.name}", "1")
        con.execute(f"DROP TABLE IF EXISTS {_pending(spec)}")
    (out.rows,) = con.execute(f"SELECT count(*) FROM {target}").fetchone()
    cols = ", ".join(_q(c) for c in spec.slice)
    con.execute(f"CREATE OR REPLACE TEMP VIEW slice_keys AS SELECT DISTINCT {cols} FROM {target}")
    _checks(con, spec, target, out)
    return out


def _build_slices(con: duckdb.DuckDBPyConnection, spec: MartSpec) -> MartBuild:
    out = MartBuild(spec.name, "slices")
    names = ", ".join(_q(c) for c in spec.slice)
    not_null = " AND ".join(f"{_q(c)} IS NOT NULL" for c in spec.slice)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _slice AS SELECT DISTINCT * FROM ({spec.dirty}) "
        f"AS d({names}) WHERE {not_null}"
    )
    (out.slices,) = con.execute("SELECT count(*) FROM _slice").fetchone()
    if not out.slices:
        out.mode = "unchanged"
        return out
    _bind_inputs(con, spec, sliced=True)
    on = " AND ".join(f"m.{_q(c)} = s.{_q(c)}" for c in spec.slice)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _new AS SELECT m.* FROM ({mart_sql(spec.name)}) AS m "
        f"SEMI JOIN _slice AS s ON {on}"
    )
    target = f"marts.{_q(spec.name)}"
    with transaction(con):
        con.execute(f"DELETE FROM {target} AS m USING _slice AS s WHERE {on}")
        (out.rows,) = con.execute(f"INSERT INTO {target} SELECT * FROM _new").fetchone()
        con.execute(f"CREATE TABLE IF NOT EXISTS {_pending(spec)} AS SELECT * FROM _slice LIMIT 0")
        con.execute(f"INSERT INTO {_pending(spec)} SELECT * FROM _slice")
    _checks(con, spec, "_new", out)
    con.execute("DROP TABLE IF EXISTS _new")
    return out


def build_marts(
    con: duckdb.DuckDBPyConnection, as_of: datetime, *, whole: bool = False
) -> list[MartBuild]:
    """Bring every mart up to date with raw as of ``as_of`` (naive UTC); see the module
    docstring. The change log is emptied only after every mart is done, so a run that
    dies half-way leaves it for the next run."""
    changes.ensure(con)
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute(mart_sql(MACROS))
    prev = changes.get(con, "as_of")
    prev_as_of = datetime.fromisoformat(prev) if prev else None
    con.execute(f"SET VARIABLE as_of = TIMESTAMP '{as_of.isoformat(sep=' ')}'")
    # The days whose rows move with the clock (uptime of the open day, new days): between
    # the previous build's as_of and this one's; none when as_of did not move.
    if prev_as_of is None or prev_as_of == as_of:
        time_from, time_to = as_of.date() + timedelta(days=1), as_of.date()
    else:
        time_from, time_to = min(prev_as_of, as_of).date(), as_of.date()
    con.execute(f"SET VARIABLE time_from = {_lit_date(time_from)}")
    con.execute(f"SET VARIABLE time_to = {_lit_date(time_to)}")
    reloaded = changes.keys_with_prefix(con, "full:")
    _bind_changes(con)
    rebuilt: set[str] = set()
    results = []
    for spec in MARTS:
        started = time.perf_counter()
        digest = definition_hash(spec)
        redo = (
            whole
            or changes.columns_of(con, f"marts.{_q(spec.name)}") is None
            or changes.get(con, f"sql:{spec.name}") != digest
            or bool(set(spec.raw_inputs) & reloaded)
            or bool(set(spec.mart_inputs) & rebuilt)
        )
        result = _build_whole(con, spec, digest) if redo else _build_slices(con, spec)
        if redo:
            rebuilt.add(spec.name)
        result.seconds = time.perf_counter() - started
        results.append(result)
    with transaction(con):
        changes.clear_changes(con, [t.name for t in RAW_TABLES if t.changes])
        changes.put(con, "as_of", as_of.isoformat())
    con.execute("DROP TABLE IF EXISTS _slice")
    return results
