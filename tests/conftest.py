"""Session fixtures: a real MariaDB primary + replica and per-session test databases.

The local pair (``wework db up``) is started once if it is not running (or the servers
in WEWORK_PRIMARY_URL / WEWORK_REPLICA_URL are used). Each test session (each xdist
worker) migrates its own shard databases ``wework_test_<hex>_<i>`` and drops them at the
end, so concurrent sessions never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from wework.cache.layers import clear_all
from wework.config import Settings, reload_settings
from wework.db import generation, migrate
from wework.db.engines import DbUser, Role, dispose_engines, get_engine
from wework.models import Base

# Every table of the schema, from the models (so a new table is never forgotten).
TABLES = tuple(t.name for t in Base.metadata.sorted_tables)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    base = reload_settings()
    if base.uses_local_stack:
        from wework.db.localstack import LocalStack

        LocalStack.from_settings(base).up()
    warehouse = tmp_path_factory.mktemp("warehouse")
    os.environ["WEWORK_DB_NAME"] = f"wework_test_{uuid.uuid4().hex[:8]}"
    os.environ["WEWORK_WAREHOUSE_PATH"] = str(warehouse / "warehouse.duckdb")
    os.environ["WEWORK_PUBLISH_DIR"] = str(warehouse / "published")
    os.environ["WEWORK_REPORTS_DIR"] = str(warehouse / "reports")
    # Every in-process sign-in of the suite comes from one address (or none): the
    # per-address throttle would refuse them. tests/security/test_login_throttle.py
    # tests it with its own limits.
    os.environ["WEWORK_LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE"] = "100000"
    s = reload_settings()
    migrate.upgrade(settings=s)
    yield s
    dispose_engines()
    migrate.drop_databases(s)


@pytest.fixture(scope="session")
def primary(settings: Settings) -> Engine:
    """Engine on shard 0 of the primary."""
    return get_engine(Role.PRIMARY, 0, settings)


@pytest.fixture(scope="session")
def replica(settings: Settings) -> Engine:
    """Engine on shard 0 of the read replica."""
    return get_engine(Role.REPLICA, 0, settings)


@pytest.fixture
def empty_db(settings: Settings) -> Iterator[Settings]:
    """Every table of every shard emptied before the test (for tests that count rows)."""
    for shard in range(settings.shard_count):
        # TRUNCATE is DDL (it needs DROP): the migrator's, not the app's.
        with get_engine(Role.PRIMARY, shard, settings, user=DbUser.MIGRATOR).begin() as conn:
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
            for table in TABLES:
                conn.execute(text(f"TRUNCATE TABLE `{table}`"))
            conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
            generation.rotate(conn, "tests: every table emptied")
    clear_all()  # the caches held rows of the tables just emptied
    yield settings


@pytest.fixture(autouse=True)
def _no_settings_leak() -> Iterator[None]:
    """Commands run in-process (CliRunner with ``env=``) reload the global settings from
    their temporary environment, which is restored afterwards but the cached settings are
    not: reload after every test so no test inherits another's servers."""
    yield
    reload_settings()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the few long tests (marked ``slow``) first: with ``-n 2`` one worker runs
    them while the other works through everything else."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
