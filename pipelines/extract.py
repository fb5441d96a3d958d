"""Incremental extraction of one shard's tables from MySQL into DuckDB's ``raw`` schema.

Engine, chosen by measurement (ENVIRONMENT-NOTES, ``bench/extract_bench.py``): DuckDB's
mysql extension with ``compress=false`` and ``mysql_query()``. Full loads read the stream
as Arrow batches on a second connection while all DuckDB threads write raw from it
(``_replace_rows``); incremental batches are staged and upserted (``_upsert_rows``). Rows
never pass through Python objects and memory stays bounded. The session is pinned to UTC
and every watermark is compared as a naive UTC timestamp written into the MySQL query
itself, so the filter runs on the server, through the index.

Each raw table has the source's columns plus ``_shard`` (auto-increment ids repeat across
shard databases) and is keyed by ``(_shard, <source primary key>)``. Strategies:

``updated_at`` (every table that has the column; ``messages`` has ``idx_updated_at``)
    Read ``updated_at >= watermark - overlap``; upsert by key (delete the keys in the
    batch, insert the batch, one transaction). The watermark is the largest ``updated_at``
    already in ``raw`` (data time, not clock time). A transaction that stamps a row at T
    but commits after rows stamped later were extracted is still caught next run if it
    commits within the overlap window; re-reading rows already held is harmless (upsert).

``append_id`` (``account_status_history``: append-only, no ``updated_at``)
    Read ``id > max_id OR created_at >= max_created_at - overlap``. Auto-increment ids are
    taken at INSERT but become visible at COMMIT, so a lower id can appear after a higher
    one was extracted; the ``created_at`` overlap re-reads that window. Upsert by key.

``callback`` (``callback_events``: status moves received → processing → processed /
failed / ignored without any ``updated_at``)
    Read rows ``received_time >= max_received - overlap`` (new events), OR
    ``process_time >= max_process - overlap`` (events finished since, including retried
    ones: the processor stamps ``process_time`` when it finishes), OR
    ``status IN ('received', 'processing')`` (still in flight: they may change at any time
    and there are few of them, found through ``idx_status``). Upsert by key.

``created_at`` (``callback_event_keys``: insert-only, never updated, grows like
callback_events; ``alert_notices``, whose extracted columns never change)
    Read ``created_at >= max_created_at - overlap``; upsert by key.

``snapshot`` (any other table without a change column, e.g. ``user_roles``, whose rows
are deleted when a role is revoked; small)
    Read whole each run and compared with raw: rows added or changed are upserted, rows
    gone from the source deleted, and an unchanged table is not written at all.

A hard DELETE on the source is not seen by the incremental strategies; ``--full``
(``full=True``) re-reads everything and replaces the shard's rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb
from sqlalchemy import JSON

import wework.models  # noqa: F401  (registers every table on Base.metadata)
from pipelines import changes
from pipelines.registry import NOT_EXTRACTED, RAW_BY_NAME, delta_columns
from wework.models import Base
from wework.warehouse import load_extensions, setting, transaction

DEFAULT_OVERLAP = timedelta(minutes=10)
# Tables whose rows are only ever inserted, stamped with created_at (alert_notices: its
# extracted columns never change; pipelines.registry leaves out the ones that do).
INSERT_ONLY_BY_CREATED_AT = frozenset({"callback_event_keys", "alert_notices"})
IN_FLIGHT_CALLBACK_STATUSES = ("received", "processing")


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[str, ...]  # extracted: the model's columns less the registry's exclusions
    key: tuple[str, ...]  # source primary key (raw adds _shard)
    strategy: str  # updated_at | append_id | callback | created_at | snapshot
    json_columns: tuple[str, ...] = ()  # arrive as BLOB through mysql_query()
    changes: tuple[str, ...] = ()  # recorded per changed row (pipelines.registry.RawTable)
    deltas: tuple[str, ...] = ()  # recorded signed per row version (registry.AGGREGATES)


def _strategy(name: str, columns: tuple[str, ...]) -> str:
    if name == "account_status_history":
        return "append_id"
    if name == "callback_events":
        return "callback"
    if "updated_at" in columns:
        return "updated_at"
    if name in INSERT_ONLY_BY_CREATED_AT and "created_at" in columns:
        return "created_at"
    return "snapshot"


class UnregisteredTable(LookupError):
    """A source table or column that pipelines.registry has not decided on."""


def table_specs() -> dict[str, TableSpec]:
    """Every table of the transactional schema (SQLAlchemy models), with the columns that
    pipelines.registry lets into the warehouse. A table or column the registry does not
    name is refused rather than copied: secrets must never reach raw by default."""
    specs = {}
    for table in Base.metadata.sorted_tables:
        if table.name in NOT_EXTRACTED:
            continue
        reg = RAW_BY_NAME.get(table.name)
        if reg is None:
            raise UnregisteredTable(f"table {table.name!r} is not in pipelines.registry")
        unknown = set(reg.excluded) - {c.name for c in table.columns}
        if unknown:
            raise UnregisteredTable(f"{table.name}: excluded columns not in the model: {unknown}")
        cols = tuple(c.name for c in table.columns if c.name not in reg.excluded)
        specs[table.name] = TableSpec(
            name=table.name,
            columns=cols,
            key=reg.key or tuple(c.name for c in table.primary_key.columns),
            strategy=_strategy(table.name, cols),
            json_columns=tuple(
                c.name for c in table.columns if isinstance(c.type, JSON) and c.name in cols
            ),
            changes=reg.changes,
            deltas=delta_columns(table.name),
        )
    return specs


@dataclass
class ExtractResult:
    table: str
    shard: int
    strategy: str
    full: bool
    rows_read: int
    rows_changed: int  # rows that differed from raw (all of them on a full load)
    rows_in_raw: int
    seconds: float
    watermark: dict[str, object] = field(default_factory=dict)
    query: str = ""
    window: dict = field(default_factory=dict)  # the watermarks this run read from


def timestamp_literal(ts: datetime) -> str:
    """A naive UTC timestamp as a MySQL (and DuckDB) literal (the session runs at +00:00)."""
    return f"'{ts:%Y-%m-%d %H:%M:%S.%f}'"


def _q(name: str) -> str:
    return f'"{name}"'


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def mysql_query_sql(src: str, sql: str) -> str:
    """``mysql_query(src, sql)`` with both arguments inlined as literals.

    No prepared-statement parameters on a connection with an attached MySQL database: the
    first one makes DuckDB load the MySQL catalog, 0.3 s per connection (measured), which
    was most of an incremental run's cost.
    """
    return f"mysql_query({_sql_string(src)}, {_sql_string(sql)})"


def _watermarks(con: duckdb.DuckDBPyConnection, spec: TableSpec, shard: int) -> dict:
    """High-water marks of the rows already in raw for this shard (empty: none yet)."""
    t = f"raw.{_q(spec.name)}"
    shard = int(shard)
    if spec.strategy in ("updated_at", "created_at"):
        col = spec.strategy
        (wm,) = con.execute(f"SELECT max({col}) FROM {t} WHERE _shard = {shard}").fetchone()
        return {} if wm is None else {col: wm}
    if spec.strategy == "append_id":
        wm_id, wm_ts = con.execute(
            f"SELECT max(id), max(created_at) FROM {t} WHERE _shard = {shard}"
        ).fetchone()
        return {} if wm_id is None else {"id": wm_id, "created_at": wm_ts}
    if spec.strategy == "callback":
        wm_r, wm_p = con.execute(
            f"SELECT max(received_time), max(process_time) FROM {t} WHERE _shard = {shard}"
        ).fetchone()
        return {} if wm_r is None else {"received_time": wm_r, "process_time": wm_p}
    return {}


# The marks that are times (append_id's ``id`` is not).
TIME_MARKS = frozenset({"updated_at", "created_at", "received_time", "process_time"})


def _advance(wm: dict, seen_until: datetime | None) -> dict:
    """The marks, each time moved up to ``seen_until`` if it is older.

    The overlap exists for a row stamped at T whose transaction commits later, after a
    read already passed T: it must commit within ``overlap`` of T. A row the previous
    read could not see committed after ``seen_until``, so it was stamped after
    ``seen_until - overlap``; what is older was seen then and is in raw. Without this the
    window hung on the newest row: after a burst and a quiet hour, every run re-read the
    burst's last ten minutes (60k callback events and keys, 1 s of a no-change run at 2M,
    measured), although no late commit could still land there."""
    if seen_until is None or not wm:
        return wm
    return {k: max(v, seen_until) if k in TIME_MARKS and v is not None else v
            for k, v in wm.items()}


# The replica's heartbeat ticks once a second: its lag may be a second more than measured.
SEEN_MARGIN = timedelta(seconds=2)


def source_seen_until(
    con: duckdb.DuckDBPyConnection, src: str, lag_seconds: float | None
) -> datetime | None:
    """The source's time up to which a read starting now sees every committed row: its
    clock less the replica's lag (0 on the primary), less a margin. None when the lag
    is unknown (then the marks alone decide)."""
    if lag_seconds is None:
        return None
    (now,) = con.execute(
        f"SELECT * FROM {mysql_query_sql(src, 'SELECT UTC_TIMESTAMP(6)')}").fetchone()
    return now - timedelta(seconds=lag_seconds) - SEEN_MARGIN


def seen_until_key(shard: int, table: str) -> str:
    """etl.state key of the ``seen_until`` of the last read of ``table`` in ``shard``."""
    return f"seen_until:{int(shard)}:{table}"


def window_condition(spec: TableSpec, wm: dict, overlap: timedelta, quote: str = "`") -> str:
    """The rows this run reads, as a WHERE condition (``TRUE``: the whole table), quoted
    for MySQL (backticks) or DuckDB (double quotes): the checks count the same window on
    both sides, so checking costs what the extraction read, not the table's size."""

    def c(name: str) -> str:
        return f"{quote}{name}{quote}"

    if not wm or spec.strategy == "snapshot":
        return "TRUE"
    if spec.strategy in ("updated_at", "created_at"):
        col = spec.strategy
        return f"{c(col)} >= {timestamp_literal(wm[col] - overlap)}"
    if spec.strategy == "append_id":
        since = timestamp_literal(wm["created_at"] - overlap)
        return f"({c('id')} > {int(wm['id'])} OR {c('created_at')} >= {since})"
    return "(" + " OR ".join(cond for cond, _ in _callback_conditions(wm, overlap, c)) + ")"


def _callback_conditions(wm: dict, overlap: timedelta, c) -> list[tuple[str, str]]:
    """callback_events' window: received lately, OR processed lately, OR still in flight;
    each condition with its negation (a ``process_time`` still NULL is "not processed
    lately": NOT of a comparison with NULL would drop the row)."""
    since = timestamp_literal(wm["received_time"] - overlap)
    conds = [(f"{c('received_time')} >= {since}", f"{c('received_time')} < {since}")]
    if wm.get("process_time") is not None:
        since = timestamp_literal(wm["process_time"] - overlap)
        conds.append((f"{c('process_time')} >= {since}",
                      f"({c('process_time')} < {since} OR {c('process_time')} IS NULL)"))
    in_flight = ", ".join(f"'{s}'" for s in IN_FLIGHT_CALLBACK_STATUSES)
    conds.append((f"{c('status')} IN ({in_flight})", f"{c('status')} NOT IN ({in_flight})"))
    return conds


def window_parts(spec: TableSpec, wm: dict, overlap: timedelta) -> list[str]:
    """:func:`window_condition` (MySQL quoting) as conditions that no row meets twice, so
    their counts add up to the window's. One part for every table but callback_events:
    there the ``OR`` of three indexed columns runs as an index_merge that fetches every
    row of the window (0.40 s for 70k events, measured), while each disjoint part counts
    from its own index without touching a row (0.05 s for all three)."""
    if not wm or spec.strategy != "callback":
        return [window_condition(spec, wm, overlap)]
    conds = _callback_conditions(wm, overlap, lambda name: f"`{name}`")
    # Part i: condition i and none of the ones before it.
    return [" AND ".join([cond, *(neg for _, neg in conds[:i])])
            for i, (cond, _) in enumerate(conds)]


def source_query(spec: TableSpec, wm: dict, overlap: timedelta) -> str:
    """The MySQL SELECT for this run (whole table when ``wm`` is empty)."""
    cols = ", ".join(f"`{c}`" for c in spec.columns)
    sql = f"SELECT {cols} FROM `{spec.name}`"
    cond = window_condition(spec, wm, overlap)
    return sql if cond == "TRUE" else f"{sql} WHERE {cond}"


@dataclass(frozen=True)
class SourceGeneration:
    """A shard's data generation (``data_generation``, see wework.models.generation) now,
    and the one this warehouse read last. A changed generation means the source's data
    was replaced (re-seeded, restored, emptied): its rows' times say nothing about what
    the marks have seen, and rows may be gone, so the shard must be read whole.

    A replacement that did not write a new generation (a restore or a reload by other
    tools) is still caught when it took the data back in time: the newest message change
    at the source is older than the newest one already in raw (by more than the overlap),
    which the source cannot show while it only moves forward."""

    shard: int
    current: str | None  # None: the source's row is missing (the table was emptied)
    reason: str | None
    seen: str | None  # None: this warehouse never recorded one (a first run)
    went_back: str | None = None  # why the source looks older than raw (None: it does not)

    @property
    def rotated(self) -> bool:
        """A new generation since the one this warehouse recorded."""
        return self.seen is not None and self.seen != self.current

    @property
    def replaced(self) -> bool:
        return self.rotated or bool(self.went_back)

    def describe(self) -> str:
        if self.rotated:
            why = self.reason or "its data_generation row is missing"
        else:
            why = self.went_back
        return f"shard {self.shard}: the source's data was replaced ({why})"


# One round trip per shard and run: the generation (a row even when the table is empty)
# and the newest message change (idx_updated_at: one index dive).
GENERATION_READ = (
    "SELECT g.generation, g.reason, (SELECT MAX(updated_at) FROM messages) AS newest "
    "FROM (SELECT 1 AS one) AS one LEFT JOIN data_generation g ON g.id = 1"
)


def _generation_key(shard: int) -> str:
    return f"source_generation:{int(shard)}"


def source_generation(
    con: duckdb.DuckDBPyConnection, src: str, shard: int, overlap: timedelta = DEFAULT_OVERLAP
) -> SourceGeneration:
    """The shard's generation at the attached source ``src`` and the one last recorded.

    "Back in time" means older than raw's newest change by more than ``overlap``: a replica
    read within the lag limit (seconds) right after a run that fell back to the primary is
    a little behind raw, and must not make the run reload the shard from it."""
    current, reason, newest = con.execute(
        f"SELECT * FROM {mysql_query_sql(src, GENERATION_READ)}").fetchone()
    went_back = None
    if changes.columns_of(con, 'raw."messages"') is not None:
        (in_raw,) = con.execute(
            f'SELECT max(updated_at) FROM raw."messages" WHERE _shard = {int(shard)}'
        ).fetchone()
        if in_raw is not None and (newest is None or newest < in_raw - overlap):
            went_back = (f"its newest message change, {newest or 'none'}, is older than "
                         f"the warehouse's, {in_raw}, and no new data generation was written")
    return SourceGeneration(int(shard), None if current is None else str(current),
                            None if reason is None else str(reason),
                            changes.get(con, _generation_key(shard)), went_back)


def remember_generation(con: duckdb.DuckDBPyConnection, generation: SourceGeneration) -> None:
    """Record that every table of the shard was read at ``generation.current``. Called
    only after all of them were: a run killed before leaves the old one, and the next run
    reads the shard whole again."""
    changes.put(con, _generation_key(generation.shard), generation.current)


def _select_list(spec: TableSpec, shard: int) -> str:
    exprs = [f"CAST({int(shard)} AS INTEGER) AS _shard"]
    for c in spec.columns:
        # JSON arrives as BLOB through mysql_query(); decode() keeps the UTF-8 text
        # (a plain CAST would escape every non-ASCII byte).
        exprs.append(f"decode({_q(c)}) AS {_q(c)}" if c in spec.json_columns else _q(c))
    return ", ".join(exprs)


def ensure_schemas(con: duckdb.DuckDBPyConnection) -> None:
    """The schemas extraction writes into (``raw``, and ``etl`` for the change logs).
    Created before tables are extracted concurrently: two cursors creating the same
    schema at once fail with a write-write conflict, even with IF NOT EXISTS."""
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    changes.ensure(con)


def _raw_columns(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> tuple[str, ...] | None:
    have = changes.columns_of(con, f"raw.{_q(spec.name)}")
    if have is None:  # a first load: the schemas may not exist yet either
        ensure_schemas(con)
    return have


def extract_table(
    con: duckdb.DuckDBPyConnection,
    src: str,
    spec: TableSpec,
    shard: int,
    *,
    full: bool = False,
    overlap: timedelta = DEFAULT_OVERLAP,
    seen_until: datetime | None = None,
) -> ExtractResult:
    """Bring ``raw.<table>`` up to date for one shard from the attached MySQL ``src``.

    ``seen_until``: the source's time up to which the previous read of this table saw
    every committed row (:func:`source_seen_until`); the window then starts no earlier
    than ``seen_until - overlap`` (:func:`_advance`).

    A raw table whose columns are not the registry's (an older warehouse, or a column
    newly excluded as a secret) is dropped and loaded again, so an excluded column never
    lingers in the warehouse.
    """
    started = time.perf_counter()
    shard = int(shard)
    have = _raw_columns(con, spec)
    t = f"raw.{_q(spec.name)}"
    if have is not None and have != ("_shard", *spec.columns):
        con.execute(f"DROP TABLE {t}")
        have = None
    exists = have is not None
    wm = _advance(_watermarks(con, spec, shard), seen_until) if exists and not full else {}
    query = source_query(spec, wm, overlap)
    select = f"SELECT {_select_list(spec, shard)} FROM {mysql_query_sql(src, query)}"
    if exists and not full and (spec.strategy == "snapshot" or not wm):
        # Small tables read whole every run, and tables this shard has no rows of yet
        # (mostly still empty at the source): compared with raw, so only a real change
        # (a row added, changed or deleted) is written and counted. Replacing them cost
        # 0.2 s per empty table per run (measured).
        rows_read, rows_changed = _upsert_rows(con, t, spec, shard, select, read_where="TRUE",
                                               range_filter="TRUE")
    elif not wm:
        rows_read = _replace_rows(con, t, spec, shard, select, create=not exists)
        rows_changed = rows_read
    else:
        window = window_condition(spec, wm, overlap, quote='"')
        # Insert-only: every raw version of a row in the window carries the same
        # created_at, so its old versions are in the window too. Its keys are random
        # strings (no min/max pruning by key), and without this every run scanned the
        # whole table: 925k callback keys at 2M, for the 37k of the window.
        old_where = window if spec.strategy == "created_at" else None
        rows_read, rows_changed = _upsert_rows(con, t, spec, shard, select, read_where=window,
                                               old_where=old_where)
    (rows_in_raw,) = con.execute(f"SELECT count(*) FROM {t} WHERE _shard = {shard}").fetchone()
    return ExtractResult(
        table=spec.name,
        shard=shard,
        strategy=spec.strategy,
        full=not wm,
        rows_read=int(rows_read),
        rows_changed=int(rows_changed),
        rows_in_raw=int(rows_in_raw),
        seconds=time.perf_counter() - started,
        watermark={k: str(v) for k, v in _watermarks(con, spec, shard).items()},
        query=query,
        window=wm,
    )


def reextract_range(
    con: duckdb.DuckDBPyConnection,
    src: str,
    spec: TableSpec,
    shard: int,
    column: str,
    first: date,
    last: date,
) -> int:
    """Re-read the rows whose ``column`` falls on the days ``first``..``last`` (UTC) and make
    raw's rows of that range equal to the source's: new and changed rows are upserted,
    rows gone from the source are deleted, and every one of them is recorded as a change
    (a backfill). Returns the number of rows that differed."""
    lo = datetime.combine(first, datetime.min.time())
    hi = datetime.combine(last, datetime.min.time()) + timedelta(days=1)
    cols = ", ".join(f"`{c}`" for c in spec.columns)
    query = (
        f"SELECT {cols} FROM `{spec.name}` "
        f"WHERE `{column}` >= {timestamp_literal(lo)} AND `{column}` < {timestamp_literal(hi)}"
    )
    select = f"SELECT {_select_list(spec, shard)} FROM {mysql_query_sql(src, query)}"
    in_range = f"{_q(column)} >= '{lo}' AND {_q(column)} < '{hi}'"
    return _upsert_rows(con, f"raw.{_q(spec.name)}", spec, shard, select, read_where=in_range,
                        range_filter=in_range)[1]


STREAM_BATCH_ROWS = 122_880  # one DuckDB row group


def _replace_rows(
    con: duckdb.DuckDBPyConnection, t: str, spec: TableSpec, shard: int, select: str, *,
    create: bool,
) -> int:
    """First load, --full or a snapshot table: replace the shard's rows in one transaction.

    With ``create`` the raw table does not exist yet and is created from the stream itself,
    with the types ``mysql_query()`` yields: asking MySQL for an empty result first would
    cost a round of catalog queries (0.4 s measured on a 2M-row table, 7% of its load).

    The MySQL stream is read on a second connection as Arrow batches, and raw is written
    from that stream by all DuckDB threads: while one thread compresses a row group into
    the file, another pulls the next batch off the socket. Straight ``INSERT … SELECT
    FROM mysql_query()`` runs the whole pipeline on one thread (the scan is a single
    stream); staging everything in a temp table first was as fast on 1M rows but held
    them all (1.3 GB RSS at 2M). Measured in bench/extract_bench.py.

    Row-level changes are not recorded here: the table is flagged for a full rebuild of
    the marts that read it (``etl.state``), in the same transaction.
    """
    reader_con = con.cursor()
    try:
        stream = reader_con.execute(select).to_arrow_reader(STREAM_BATCH_ROWS)
        con.register("_stream", stream)
        try:
            # In order: fewer, fuller row groups, 15% less memory and no slower (measured).
            with setting(con, "preserve_insertion_order", True), transaction(con):
                if create:
                    con.execute(f"CREATE TABLE {t} AS SELECT * FROM _stream")
                    (rows,) = con.execute(f"SELECT count(*) FROM {t}").fetchone()
                    deleted = 0
                else:
                    (deleted,) = con.execute(f"DELETE FROM {t} WHERE _shard = {shard}").fetchone()
                    (rows,) = con.execute(f"INSERT INTO {t} SELECT * FROM _stream").fetchone()
                # An empty table read again empty changed nothing: flagging it would
                # rebuild its marts whole on every run.
                if (spec.changes or spec.deltas) and (create or rows or deleted):
                    changes.flag_full(con, spec.name)
        finally:
            con.unregister("_stream")
    finally:
        reader_con.close()
    return int(rows)


TEMP_TABLES = ("_batch", "_held", "_changed", "_gone", "_old")


def _upsert_rows(
    con: duckdb.DuckDBPyConnection,
    t: str,
    spec: TableSpec,
    shard: int,
    select: str,
    *,
    read_where: str,
    range_filter: str | None = None,
    old_where: str | None = None,
) -> tuple[int, int]:
    """Incremental: apply the rows that differ from raw, and record them, in one transaction.

    The rows are staged in a temp table, committed before raw's transaction opens: a
    table created inside the same transaction is scanned by one thread only. The stage is
    private to this connection (several tables are extracted at once, each on its own
    cursor: pipelines.assets.raw) and spills to disk past the memory_limit. (Staging used
    to set ``threads = 1``; with DuckDB 1.5 it gains little, 0.18-0.20 s for 61,727
    messages against 0.21-0.26 s with 2 threads, and ``threads`` is a global setting,
    which concurrent cursors must not flip.) :func:`stage_changes` then finds what
    differs; the arguments are its.
    Returns (rows read, rows that differed).
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE _batch AS {select}")
    match = _key_match(spec)
    try:
        n_read, n_differ = stage_changes(con, t, spec, shard, read_where=read_where,
                                         range_filter=range_filter, old_where=old_where)
        if n_differ:
            with transaction(con):
                if spec.changes:
                    changes.record(con, spec.name, spec.changes, ("_old", "_changed"))
                if spec.deltas:
                    changes.record_delta(con, spec.name, spec.deltas, "_old", "_changed")
                con.execute(f"DELETE FROM {t} r USING _old b WHERE {match}")
                con.execute(f"INSERT INTO {t} SELECT * FROM _changed")
    finally:
        con.execute("; ".join(f"DROP TABLE IF EXISTS {n}" for n in TEMP_TABLES))
    return n_read, n_differ


def _key_match(spec: TableSpec) -> str:
    """Raw ``r`` and a staged row ``b`` have the same key."""
    return " AND ".join(f"r.{_q(k)} = b.{_q(k)}" for k in ("_shard", *spec.key))


def stage_changes(
    con: duckdb.DuckDBPyConnection,
    t: str,
    spec: TableSpec,
    shard: int,
    *,
    read_where: str,
    range_filter: str | None = None,
    old_where: str | None = None,
) -> tuple[int, int]:
    """From the rows read (temp table ``_batch``), stage ``_changed``: those that differ
    from raw's; and ``_old``: raw's versions of them (and of the rows gone), in the
    columns the change logs and the DELETE need. Returns (rows read, rows that differ).

    Rows read again that raw already holds unchanged (the overlap window re-reads the last
    minutes every run) are not changes, so a run with nothing new records no change and
    recomputes nothing. Finding them costs what the window holds, not what raw holds:

    - ``read_where`` is the condition every row read meets (the run's window, on raw's
      unqualified columns). A raw row equal to a row read meets it too, so only raw's
      rows that meet it are compared with the rows read, column by column (NULL alike
      NULL). raw appends every changed row, so those are its last row groups, and
      DuckDB's min/max statistics skip the rest.
    - The rows read are then matched to the rows found alike by key alone.
    - Only then are the old versions of the rows that changed looked up by key, reading
      only the logged columns. The late receipts of old messages spread those keys over
      the whole table, so that scan reads most of raw, but few of its columns.

    The previous way read every column of every raw row whose key was read, then EXCEPT
    hashed every column of every row read: for a 1 %-changed batch (80 % recent, 20 %
    late) plus the overlap read again, 1.01-1.09 s against 0.41-0.50 s this way at 20M
    messages, 129-133 ms against 64-74 ms at 2M (``bench/upsert_bench.py``). A whole
    1 %-changed run at 2M did not show a first draft of it (the old versions read in the
    logged columns, the comparison still by EXCEPT) beside its other steps: 1.78-2.02 s
    against 1.70-1.96 s in 4 alternating rounds of ``etl_scale_bench.py``.

    ``old_where``: a condition every raw version of a key read meets (unqualified). With
    ``range_filter`` (a backfill, or ``TRUE`` for a snapshot table) raw rows of the shard
    in that range that the source no longer has are staged as gone, in ``_old`` too.
    """
    keys = ("_shard", *spec.key)
    match = _key_match(spec)
    key_list = ", ".join(f"r.{_q(k)}" for k in keys)
    old_cols = ", ".join(f"r.{_q(c)}" for c in dict.fromkeys((*keys, *spec.changes,
                                                              *spec.deltas)))
    alike = " AND ".join(f"r.{_q(c)} IS NOT DISTINCT FROM b.{_q(c)}"
                         for c in spec.columns if c not in spec.key) or "TRUE"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _held AS SELECT {key_list} "
                f"FROM (SELECT * FROM {t} WHERE {read_where}) r JOIN _batch b ON {match} "
                f"WHERE {alike}")
    con.execute("CREATE OR REPLACE TEMP TABLE _changed AS "
                f"SELECT * FROM _batch b ANTI JOIN _held r ON {match}")
    n_gone = 0
    if range_filter:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _gone AS SELECT {key_list} FROM {t} r "
            f"WHERE r._shard = {int(shard)} AND {range_filter} "
            f"AND NOT EXISTS (SELECT 1 FROM _batch b WHERE {match})"
        )
        (n_gone,) = con.execute("SELECT count(*) FROM _gone").fetchone()
    n_read, n_changed = con.execute(
        "SELECT (SELECT count(*) FROM _batch), (SELECT count(*) FROM _changed)"
    ).fetchone()
    if n_changed or n_gone:
        # Staged before raw's transaction opens, like _batch (_upsert_rows).
        raw = f"(SELECT * FROM {t} WHERE {old_where})" if old_where else t
        gone = (f" UNION ALL SELECT {old_cols} FROM {t} r SEMI JOIN _gone b ON {match}"
                if n_gone else "")
        con.execute(f"CREATE OR REPLACE TEMP TABLE _old AS SELECT {old_cols} FROM {raw} r "
                    f"SEMI JOIN _changed b ON {match}{gone}")
    return int(n_read), int(n_changed + n_gone)


class SourceUnavailable(RuntimeError):
    """ATTACH of a source database failed; the message never carries its credentials."""


def attach_source(con: duckdb.DuckDBPyConnection, alias: str, url) -> None:
    """ATTACH a MySQL database (SQLAlchemy URL) read-only, uncompressed, pinned to UTC.

    The credentials go into a temporary DuckDB secret (in memory, never written to disk,
    shown redacted by ``duckdb_secrets()``), so neither the ATTACH statement nor an error
    it raises contains the password; the error is scrubbed once more before it is raised,
    in case a driver echoes it.
    """
    load_extensions(con, "mysql")
    con.execute("SET mysql_session_time_zone = '+00:00'")
    # With a MySQL catalog attached, a failed table lookup anywhere on this database
    # searches it for a "did you mean" hint, loading its catalog (0.4 s): off for the
    # database (a global setting, so the concurrent cursors have it too). See
    # changes.columns_of.
    con.execute("SET GLOBAL catalog_error_max_schemas = 0")
    password = url.password or ""
    secret = f"{alias}_secret"
    con.execute(
        f"CREATE OR REPLACE TEMPORARY SECRET {secret} (TYPE mysql, "
        f"HOST {_sql_string(url.host or '127.0.0.1')}, PORT {int(url.port or 3306)}, "
        f"USER {_sql_string(url.username or '')}, PASSWORD {_sql_string(password)}, "
        f"DATABASE {_sql_string(url.database or '')})"
    )
    con.execute(f"DETACH DATABASE IF EXISTS {alias}")
    try:
        con.execute(f"ATTACH 'compress=false' AS {alias} (TYPE mysql, READ_ONLY, SECRET {secret})")
    except duckdb.Error as e:
        message = str(e)
        if password:
            message = message.replace(password, "***")
        raise SourceUnavailable(
            f"cannot attach {url.database} on {url.host}:{url.port} as {url.username}: {message}"
        ) from None
