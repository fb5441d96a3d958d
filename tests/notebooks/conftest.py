"""A published warehouse built from seeded data, for executing the analyst notebooks.

Seeds the session's databases with a small coherent dataset (``wework.seed``), lets the
replica catch up, then runs every Dagster asset in-process (extract from the replica, build
the marts, publish them), exactly as ``wework etl run`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from wework.config import Settings, reload_settings
from wework.db.replication import wait_for_replica

# Small: the notebooks must run every code path, not measure anything. Ten days so that
# growth and flapping have something to compare.
SEED = {"tenants": 4, "accounts": 24, "days": 10, "messages": 6_000, "seed": 7}


@pytest.fixture(scope="session")
def published_marts(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The publish folder of a warehouse built from seeded data (WEWORK_PUBLISH_DIR)."""
    from pipelines.assets import mart_assets, published_marts, raw_assets
    from pipelines.resources import MySQLReplicaResource, WarehouseResource
    from wework.seed import SeedConfig, seed

    seed(SeedConfig(**SEED), settings, replace=True)
    wait_for_replica(timeout=60, settings=settings)
    result = dg.materialize(
        [*raw_assets, *mart_assets, published_marts],
        resources={"warehouse": WarehouseResource(), "replica": MySQLReplicaResource()},
    )
    assert result.success
    s = reload_settings()
    assert (s.publish_path / "catalog.sqlite").exists(), "the pipelines published nothing"
    yield s.publish_path


@pytest.fixture(scope="session")
def empty_published_marts(published_marts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A publish folder whose marts have the real schema but no rows."""
    import duckdb

    from pipelines.publish import publish
    from pipelines.registry import MART_NAMES
    from wework.warehouse import open_marts

    folder = tmp_path_factory.mktemp("empty-published") / "published"
    source = open_marts(Settings(publish_dir=published_marts))
    con = duckdb.connect()
    try:
        con.execute("CREATE SCHEMA marts")
        for name in MART_NAMES:
            con.register("empty", source.execute(f"SELECT * FROM marts.{name} LIMIT 0").arrow())
            con.execute(f"CREATE TABLE marts.{name} AS SELECT * FROM empty")
            con.unregister("empty")
        publish(con, Settings(publish_dir=folder), run_id="empty")
    finally:
        con.close()
        source.close()
    return folder
