"""The pipelines as the report tests run them: the real assets, in-process, with the
marts' "now" pinned."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

# The marts' "now" for every pipeline run of these tests: with it pinned, a second run on
# unchanged data publishes identical rows (as_of moves today's figures otherwise).
AS_OF = datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)


def run_pipeline(instance: dg.DagsterInstance | None = None) -> None:
    """Extract, build and publish the marts: the real assets, in-process."""
    from pipelines.assets import mart_assets, published_marts, raw_assets
    from pipelines.resources import MySQLReplicaResource, WarehouseResource

    result = dg.materialize(
        [*raw_assets, *mart_assets, published_marts],
        instance=instance,
        resources={
            "warehouse": WarehouseResource(as_of=AS_OF.isoformat()),
            "replica": MySQLReplicaResource(),
        },
    )
    assert result.success


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
