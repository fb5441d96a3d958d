"""Bulk loading with ``LOAD DATA LOCAL INFILE``.

A chunk is written as tab-separated text with no quoting and no escape character:
JSON from json.dumps never holds a raw tab or newline, and with ``ESCAPED BY ''`` its
backslashes reach the server untouched. NULL is the bare word NULL, which the server reads
as NULL only when an ENCLOSED BY character is declared; no generated value starts with
that quote, so nothing is ever read as enclosed.
``LOAD DATA LOCAL`` turns data errors into warnings, so any warning fails the load.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl
from sqlalchemy import Engine, Index, Table
from sqlalchemy.dialects import mysql
from sqlalchemy.schema import CreateIndex

from wework.db.engines import new_engine


def loader_engine(engine: Engine) -> Engine:
    """A separate engine on the same database whose connections allow LOCAL INFILE."""
    return new_engine(engine.url, connect_args={"local_infile": True}, poolclass=None)


def write_tsv(df: pl.DataFrame, path: str) -> None:
    df.write_csv(
        path,
        separator="\t",
        include_header=False,
        quote_style="never",
        null_value="NULL",
        datetime_format="%Y-%m-%d %H:%M:%S",
    )


def load_file(raw_conn, table: str, columns: list[str], path: str) -> int:
    cols = ", ".join(f"`{c}`" for c in columns)
    with raw_conn.cursor() as cur:
        cur.execute(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE `{table}` CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY '\\t' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
            "LINES TERMINATED BY '\\n' "
            f"({cols})",
            (path,),
        )
        loaded = cur.rowcount
        cur.execute("SHOW WARNINGS LIMIT 5")
        warnings = cur.fetchall()
    if warnings:
        raise ValueError(f"LOAD DATA into {table} reported problems: {warnings}")
    return loaded


def load_frame(raw_conn, table: str, df: pl.DataFrame, tmp_dir: str | None = None) -> int:
    """Load one DataFrame (columns named as the table's) and commit."""
    if df.height == 0:
        return 0
    fd, path = tempfile.mkstemp(suffix=".tsv", dir=tmp_dir)
    os.close(fd)
    try:
        write_tsv(df, path)
        loaded = load_file(raw_conn, table, df.columns, path)
        raw_conn.commit()
    finally:
        os.unlink(path)
    if loaded != df.height:
        raise ValueError(f"LOAD DATA into {table}: {loaded} of {df.height} rows loaded")
    return loaded


def _add_index_clause(index: Index, dialect) -> str:
    ddl = str(CreateIndex(index).compile(dialect=dialect))
    match = re.match(r"CREATE (UNIQUE )?INDEX (\S+) ON \S+ (\(.*\))$", ddl.strip(), re.S)
    if not match:
        raise ValueError(f"unexpected index DDL: {ddl}")
    unique, name, cols = match.groups()
    return f"ADD {unique or ''}INDEX {name} {cols}"


@contextmanager
def indexes_deferred(raw_conn, table: Table) -> Iterator[None]:
    """Load into ``table`` without its secondary indexes, then build them all in one
    ``ALTER TABLE`` (a sorted build is many times faster than maintaining fifteen B-trees
    row by row). Only for an empty table; the indexes come back even if loading fails."""
    dialect = mysql.dialect()
    with raw_conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{table.name}`")
        if cur.fetchone()[0]:
            yield
            return
        drops = ", ".join(f"DROP INDEX `{ix.name}`" for ix in table.indexes)
        cur.execute(f"ALTER TABLE `{table.name}` {drops}")
    try:
        yield
    finally:
        adds = ", ".join(_add_index_clause(ix, dialect) for ix in table.indexes)
        with raw_conn.cursor() as cur:
            cur.execute(f"ALTER TABLE `{table.name}` {adds}")
