"""What changed since the marts were last built, and what the readers have not seen yet.

All of it lives in the warehouse's ``etl`` schema, written in the same DuckDB transaction
as the change it describes, so a run killed at any point leaves a log that the next run
simply works through again (recomputing a slice twice gives the same rows):

``etl.changed_<table>``
    the registry's ``changes`` columns of every raw row that an extraction changed,
    inserted or deleted: its old and its new version (a message whose ``created_at``
    moved dirties both days). The marts turn these into slices (``MartSpec.dirty``) and
    empty them once every mart is rebuilt.
``etl.delta_<table>``
    for a raw table that an aggregate reads (``pipelines.registry.AGGREGATES``): the
    aggregates' columns of every row version an extraction removed (``_sign`` -1: the
    old version of a changed row, a deleted row) or added (+1). ``pipelines.aggregates``
    adds them into the aggregates and drops the log in one transaction: applied once.
``etl.pending_<mart>``
    the keys (the mart's grain) of rows changed, added or removed in the warehouse but
    not yet published; the publisher replaces exactly those rows in the readers' lake
    and then empties them.
``etl.state``
    key/value: ``full:<table>`` (the table was reloaded whole: marts reading it rebuild
    whole), ``publish_full:<mart>``, ``sql:<mart>`` (hash of the SQL and spec the mart was
    built with: a changed definition rebuilds it), ``as_of`` (of the last build).
"""

from __future__ import annotations

import duckdb

SCHEMA = "etl"


def columns_of(con: duckdb.DuckDBPyConnection, relation: str) -> tuple[str, ...] | None:
    """The columns of a table (``schema."name"``), or None when it does not exist, without
    touching attached MySQL catalogs.

    ``duckdb_tables()`` and information_schema list every attached catalog, and so does a
    failed lookup, for its "did you mean" hint: either loads the MySQL catalog, 0.4 s
    (measured). :func:`pipelines.extract.attach_source` turns that hint search off
    (``catalog_error_max_schemas = 0``) on the connection it attaches MySQL to, so a
    failed lookup here costs 1 ms everywhere. (This used to set and restore the setting
    around every call: three statements each, 97 calls and ~0.1 s of a 1 %-changed run.)
    """
    try:
        # execute() returns the connection itself: read the columns from it at once.
        return tuple(d[0] for d in con.execute(f"SELECT * FROM {relation} LIMIT 0").description)
    except duckdb.CatalogException:
        return None


def _q(name: str) -> str:
    return f'"{name}"'


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``etl`` schema and ``etl.state``. Every step calls it once before it
    reads or writes them (the raw step through ``extract.ensure_schemas``, the marts and
    the publish steps at their start; a first load creates them as well): the functions
    below assume they exist. (Each of them used to ensure it first, two DDL statements a
    call, 88 calls in a 1 %-changed run.)"""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA}.state (key VARCHAR PRIMARY KEY, value VARCHAR)"
    )


def _lit(value: str) -> str:
    """A string literal. Inlined, not a prepared parameter: the first parameter a process
    binds imports numpy, pandas and pyarrow (0.46 s measured), which was a third of a
    run with nothing to do."""
    return "'" + value.replace("'", "''") + "'"


def get(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    row = con.execute(f"SELECT value FROM {SCHEMA}.state WHERE key = {_lit(key)}").fetchone()
    return None if row is None else row[0]


def put(con: duckdb.DuckDBPyConnection, key: str, value: str | None) -> None:
    con.execute(f"DELETE FROM {SCHEMA}.state WHERE key = {_lit(key)}")
    if value is not None:
        con.execute(f"INSERT INTO {SCHEMA}.state VALUES ({_lit(key)}, {_lit(value)})")


def keys_with_prefix(con: duckdb.DuckDBPyConnection, prefix: str) -> set[str]:
    rows = con.execute(
        f"SELECT key FROM {SCHEMA}.state WHERE starts_with(key, {_lit(prefix)})"
    ).fetchall()
    return {r[0][len(prefix) :] for r in rows}


def flag_full(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """The raw table was reloaded whole: its row-level logs are superseded (its marts and
    aggregates are rebuilt whole)."""
    put(con, f"full:{table}", "1")
    con.execute(f"DROP TABLE IF EXISTS {changed_table(table)}")
    con.execute(f"DROP TABLE IF EXISTS {delta_table(table)}")


def changed_table(table: str) -> str:
    return f"{SCHEMA}.{_q('changed_' + table)}"


def record(
    con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], sources: tuple[str, ...]
) -> None:
    """Append the ``columns`` of every row of the ``sources`` relations to the log."""
    cols = ", ".join(_q(c) for c in columns)
    target = changed_table(table)
    con.execute(f"CREATE TABLE IF NOT EXISTS {target} AS SELECT {cols} FROM {sources[0]} LIMIT 0")
    for src in sources:
        con.execute(f"INSERT INTO {target} SELECT DISTINCT {cols} FROM {src}")


def delta_table(table: str) -> str:
    return f"{SCHEMA}.{_q('delta_' + table)}"


def record_delta(
    con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], old: str, new: str
) -> None:
    """Append the ``columns`` of every row of ``old`` with ``_sign`` -1 and of ``new`` with
    +1 (every row: two messages alike are two messages, so no DISTINCT here)."""
    cols = ", ".join(_q(c) for c in columns)
    target = delta_table(table)
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {target} AS SELECT CAST(1 AS INTEGER) AS _sign, {cols} "
        f"FROM {new} LIMIT 0"
    )
    con.execute(f"INSERT INTO {target} SELECT -1, {cols} FROM {old} "
                f"UNION ALL SELECT 1, {cols} FROM {new}")


def changed_relation(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...]) -> str:
    """SQL for the logged changes of ``table`` (empty, with the right columns, if none)."""
    cols = ", ".join(_q(c) for c in columns)
    target = changed_table(table)
    if columns_of(con, target) is not None:
        return f"SELECT DISTINCT {cols} FROM {target}"
    return f"SELECT {cols} FROM raw.{_q(table)} LIMIT 0"


def clear_changes(con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    for t in tables:
        con.execute(f"DROP TABLE IF EXISTS {changed_table(t)}")
        put(con, f"full:{t}", None)


def pending_table(mart: str) -> str:
    return f"{SCHEMA}.{_q('pending_' + mart)}"


def same_key(key: tuple[str, ...], left: str, right: str) -> str:
    """Join condition on a mart's key (NULL equals NULL: a key column may be NULL)."""
    return " AND ".join(f"{left}.{_q(k)} IS NOT DISTINCT FROM {right}.{_q(k)}" for k in key)
