"""Build the marts from ``raw``, recomputing only the slices that changed rows touch.

Each mart's SQL (``sql/marts/<mart>.sql``) reads its inputs by bare name. A build binds
every name to a temp view:

- **whole** (first build, a raw input reloaded whole, or the mart's SQL/spec changed —
  detected by a hash kept in ``etl.state``): the views are the raw tables and the mart is
  rebuilt whole (``CREATE OR REPLACE``, one transaction).
- **slices** (every other run): ``MartSpec.dirty`` turns the change log
  (``pipelines.changes``) into the slice keys to redo (``(tenant_id, account_id,
  stat_date, stat_hour)``, ``(account_id, stat_date)``, ``batch_id`` …); each input
  view keeps only the rows of those slices (a semi join on ``Input.match``, plus a
  literal date range on ``Input.prune`` so DuckDB skips row groups by their min/max);
  the mart's rows of those slices are compared with the recomputed ones and only the
  rows that differ are deleted and inserted, in one transaction that also queues their
  keys for the publisher (``etl.pending_<mart>``): a late receipt redoes its slices but
  writes and publishes the one or two rows it changed.

The cost of a run therefore follows the number of changed slices, not the history: a run
with nothing changed reads only the empty change log.

The clock: a few slices depend on ``as_of`` rather than on data (every account's open day
in ``account_health_daily``, new days in ``tenant_usage_daily``, alert episodes that
``as_of`` closes). ``as_of`` moves only when something changed or ``CLOCK_STEP`` passed
(:func:`marts_as_of`), so a run with nothing new recomputes and publishes nothing, and
every mart is always exactly as of one ``as_of`` (``marts.publish_info.as_of``).

Slices follow the changed rows, not the slices' history: a mart's slice is the finest
grain its rows can be recomputed at. ``message_stats_hourly`` is sliced by its own
(tenant, account, day, hour) cell, so a late receipt re-reads the two or three messages of
its cell, not the ~1,100 of its (tenant, day). ``message_stats_daily`` cannot be: its
percentiles need the whole day. It reads the aggregate ``message_days`` instead (counts
and an exact delivery-seconds histogram per (tenant, day, type), kept by deltas:
``pipelines.aggregates``), a few dozen rows per slice. Aggregates are refreshed before
the marts; one rebuilt whole rebuilds its marts whole. Measured in
bench/etl_scale_bench.py (README, "Benchmarks": pipeline cost at scale).

Totals checks and key-uniqueness checks run on the recomputed part only, against the same
cut-down inputs, so checking costs what building costs.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb

from pipelines import aggregates, changes
from pipelines.registry import AGGREGATES_BY_NAME, MARTS, RAW_BY_NAME, RAW_TABLES, MartSpec
from wework.config import REPO_ROOT
from wework.warehouse import transaction

SQL_DIR = REPO_ROOT / "sql" / "marts"
MACROS = "_macros"


def mart_sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8").strip().rstrip(";")


def unordered(sql: str) -> str:
    """A mart's SQL without its final ``ORDER BY`` line: the order gives a whole build its
    physical layout (row-group min/max by tenant and day); recomputed slices are written
    in no particular order anyway, and sorting them was a third of the hourly mart's
    slice time (measured: 0.32 s → 0.19 s for 300k messages)."""
    head, _, last = sql.rpartition("\n")
    return head if last.lstrip().upper().startswith("ORDER BY") else sql


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
    aggregates: dict = field(default_factory=dict)  # aggregate read -> how it was refreshed

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
    if name in RAW_BY_NAME:
        return f"raw.{_q(name)}"
    if name in AGGREGATES_BY_NAME:
        return aggregates.table(AGGREGATES_BY_NAME[name])
    return f"marts.{_q(name)}"


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


def _build_whole(con: duckdb.DuckDBPyConnection, spec: MartSpec, digest: str) -> MartBuild:
    out = MartBuild(spec.name, "whole")
    _bind_inputs(con, spec, sliced=False)
    target = f"marts.{_q(spec.name)}"
    with transaction(con):
        con.execute(f"CREATE OR REPLACE TABLE {target} AS {mart_sql(spec.name)}")
        changes.put(con, f"sql:{spec.name}", digest)
        changes.put(con, f"publish_full:{spec.name}", "1")
        con.execute(f"DROP TABLE IF EXISTS {changes.pending_table(spec.name)}")
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
    target = f"marts.{_q(spec.name)}"
    recomputed = unordered(mart_sql(spec.name))
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _new AS SELECT m.* FROM ({recomputed}) AS m "
        f"SEMI JOIN _slice AS s ON {on}"
    )
    # Only the rows that differ are written (and queued for the publisher): a late
    # receipt redoes its whole (tenant, day), but changes one or two of its rows.
    keys = ", ".join(_q(k) for k in spec.key)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _old AS SELECT m.* FROM {target} AS m "
        f"SEMI JOIN _slice AS s ON {on}"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _gone AS SELECT {keys} FROM "
        "(SELECT * FROM _old EXCEPT SELECT * FROM _new)"
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _add AS SELECT * FROM _new EXCEPT SELECT * FROM _old")
    same_key = changes.same_key(spec.key, "m", "g")
    pending = changes.pending_table(spec.name)
    with transaction(con):
        con.execute(f"DELETE FROM {target} AS m USING _gone AS g WHERE {same_key}")
        (out.rows,) = con.execute(f"INSERT INTO {target} SELECT * FROM _add").fetchone()
        con.execute(f"CREATE TABLE IF NOT EXISTS {pending} AS SELECT {keys} FROM _gone LIMIT 0")
        con.execute(f"INSERT INTO {pending} SELECT * FROM _gone UNION SELECT {keys} FROM _add")
    _checks(con, spec, "_new", out)
    con.execute("DROP TABLE IF EXISTS _new; DROP TABLE IF EXISTS _old; "
                "DROP TABLE IF EXISTS _gone; DROP TABLE IF EXISTS _add")
    return out


# How long the marts' "now" may stand still while nothing changes (see marts_as_of).
CLOCK_STEP = timedelta(minutes=15)


def marts_as_of(
    previous: datetime | None, now: datetime, *, changed: bool, step: timedelta = CLOCK_STEP
) -> datetime:
    """The ``as_of`` this build computes the marts at: ``now``, unless nothing changed and
    the previous build's ``as_of`` is less than ``step`` old, then that one again.

    Only the open day of ``account_health_daily`` (its window ends at ``as_of``: uptime,
    health score), the days that exist (``tenant_usage_daily``) and the episodes an
    ``alert_history`` notice closes depend on the clock rather than on data. Moving
    ``as_of`` on every run recomputed and republished every account's open day (400
    slices in the bench) even when nothing had changed, so a run with nothing new was
    never free. Holding it keeps every mart exactly "as of ``publish_info.as_of``" (the
    oracle's definition) while a run with nothing new does nothing; the readers' marts
    lag the clock by at most ``step`` (the hourly schedule moves it every run). A run
    that changed anything moves it, so new data is never shown against an older clock.
    """
    if previous is None or changed or now < previous or now - previous >= step:
        return now
    return previous


def _anything_changed(con: duckdb.DuckDBPyConnection, reloaded: set[str]) -> bool:
    if reloaded:
        return True
    for t in RAW_TABLES:
        if t.changes and changes.columns_of(con, changes.changed_table(t.name)) is not None:
            (n,) = con.execute(f"SELECT count(*) FROM {changes.changed_table(t.name)}").fetchone()
            if n:
                return True
    return False


def _set_clock(con: duckdb.DuckDBPyConnection, previous: datetime | None, as_of: datetime) -> None:
    """Variables the ``dirty`` SQL reads for the slices that move with the clock:
    ``time_from``..``time_to``, the days whose window end moved (account health's open
    day; empty when ``as_of`` did not move); ``day_from``..``day_to``, the days that came
    into (or went out of) existence (empty within a day); ``clock_from``..``clock_to``,
    the instants ``as_of`` passed over (alert episodes closing)."""
    lo, hi = (as_of, as_of) if previous is None else (min(previous, as_of), max(previous, as_of))
    if lo == hi:
        time_from, time_to = as_of.date() + timedelta(days=1), as_of.date()
    else:
        time_from, time_to = lo.date(), hi.date()
    for name, value in (
        ("as_of", f"TIMESTAMP '{as_of.isoformat(sep=' ')}'"),
        ("time_from", _lit_date(time_from)),
        ("time_to", _lit_date(time_to)),
        ("day_from", _lit_date(lo.date() + timedelta(days=1))),
        ("day_to", _lit_date(hi.date())),
        ("clock_from", f"TIMESTAMP '{lo.isoformat(sep=' ')}'"),
        ("clock_to", f"TIMESTAMP '{hi.isoformat(sep=' ')}'"),
    ):
        con.execute(f"SET VARIABLE {name} = {value}")


def build_marts(
    con: duckdb.DuckDBPyConnection,
    now: datetime,
    *,
    whole: bool = False,
    clock_step: timedelta = CLOCK_STEP,
    at_once: int = 3,
) -> tuple[datetime, list[MartBuild]]:
    """Bring every mart up to date with raw (see the module docstring) as of
    :func:`marts_as_of` (naive UTC), which it returns with the builds. The change log is
    emptied only after every mart is done, so a run that dies half-way leaves it for the
    next run. With nothing logged and the clock held, no slice query runs at all.

    ``at_once`` marts are built at the same time, each on a cursor of its own, once the
    marts it reads are done: one mart's slice queries are too small to keep both cores
    busy, and every mart writes only its own table and pending keys."""
    changes.ensure(con)
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    prev = changes.get(con, "as_of")
    previous = datetime.fromisoformat(prev) if prev else None
    reloaded = changes.keys_with_prefix(con, "full:")
    redo = {
        spec.name: whole
        or changes.columns_of(con, f"marts.{_q(spec.name)}") is None
        or changes.get(con, f"sql:{spec.name}") != definition_hash(spec)
        or bool(set(spec.source_tables) & reloaded)
        for spec in MARTS
    }
    changed = any(redo.values()) or _anything_changed(con, reloaded)
    as_of = marts_as_of(previous, now, changed=changed, step=clock_step)
    if not changed and as_of == previous:
        return as_of, [MartBuild(spec.name, "unchanged") for spec in MARTS]
    con.execute(mart_sql(MACROS))
    _set_clock(con, previous, as_of)
    # Before the marts, which read them; built whole, their marts are too.
    agg_builds = aggregates.refresh(con, whole=whole, reloaded=reloaded)
    agg_modes = {b.name: b.mode for b in agg_builds}
    rebuilt = aggregates.rebuilt(agg_builds)

    def build(spec: MartSpec) -> MartBuild:
        # A cursor is a connection of its own: the macros, the clock's variables and the
        # temp views are per connection, so each build sets up its own.
        cur = con.cursor()
        try:
            cur.execute(mart_sql(MACROS))
            _set_clock(cur, previous, as_of)
            _bind_changes(cur)
            started = time.perf_counter()
            if redo[spec.name] or set(spec.mart_inputs + spec.aggregate_inputs) & rebuilt:
                result = _build_whole(cur, spec, definition_hash(spec))
            else:
                result = _build_slices(cur, spec)
            result.seconds = time.perf_counter() - started
            result.aggregates = {a: agg_modes[a] for a in spec.aggregate_inputs}
            return result
        finally:
            cur.close()

    built: dict[str, MartBuild] = {}
    with ThreadPoolExecutor(at_once) as pool:
        while len(built) < len(MARTS):  # in waves: a mart after the marts it reads
            ready = [s for s in MARTS if s.name not in built
                     and all(m in built for m in s.mart_inputs)]
            wave = list(pool.map(build, ready))
            built |= {r.name: r for r in wave}
            rebuilt |= {r.name for r in wave if r.mode == "whole"}
    results = [built[spec.name] for spec in MARTS]
    with transaction(con):
        changes.clear_changes(con, [t.name for t in RAW_TABLES if t.changes])
        changes.put(con, "as_of", as_of.isoformat())
    return as_of, results
