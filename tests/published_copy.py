"""Copies of published marts for tests: the same marts republished elsewhere, emptied or
edited (a column dropped, rows changed), through the pipelines' own publisher."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb


def republish(
    published: Path,
    folder: Path,
    *,
    empty: bool = False,
    edit: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> Path:
    """Publish a copy of the marts published in ``published`` into ``folder``, as the
    pipeline does: without rows when ``empty``, after ``edit(con)`` changed the copy."""
    from pipelines.publish import publish
    from pipelines.registry import MART_NAMES
    from wework.config import Settings
    from wework.warehouse import open_marts

    source = open_marts(Settings(publish_dir=published))
    con = duckdb.connect()
    try:
        con.execute("CREATE SCHEMA marts")
        limit = " LIMIT 0" if empty else ""
        for name in MART_NAMES:
            con.register("copy", source.execute(f"SELECT * FROM marts.{name}{limit}").arrow())
            con.execute(f"CREATE TABLE marts.{name} AS SELECT * FROM copy")
            con.unregister("copy")
        if edit is not None:
            edit(con)
        publish(con, Settings(publish_dir=folder), run_id="copy")
    finally:
        con.close()
        source.close()
    return folder
