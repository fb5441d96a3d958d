"""A PRIVATE MariaDB primary + replica for the operations tests.

These tests drop databases, restore backups, stop and kill servers: they never touch the
shared pair on 33306/33307. One stack per session (starting it takes a few seconds);
each test module gets its own shard databases (``fresh_settings``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ports import free_ports
from sqlalchemy import text

from wework.config import Settings
from wework.db import migrate
from wework.db.engines import Role, dispose_engines, new_engine, server_url
from wework.db.localstack import LocalStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    s = LocalStack(
        tmp_path_factory.mktemp("opsstack"),
        *free_ports(2),
        buffer_pool_size="64M",
        log_file_size="48M",
    )
    try:
        s.up()
        yield s
    finally:
        dispose_engines()
        s.down()  # also when up() failed half-way: leave no server behind


def settings_for(stack: LocalStack, db_name: str, shard_count: int = 1) -> Settings:
    return stack.settings().model_copy(update={"db_name": db_name, "shard_count": shard_count})


@pytest.fixture
def fresh_settings(stack: LocalStack, tmp_path: Path) -> Iterator[Settings]:
    """Migrated shard databases (2 shards) of their own on the private stack, and a
    backup folder of their own."""
    stack.up()  # a previous test may have stopped a server
    s = settings_for(stack, f"ops_{uuid.uuid4().hex[:8]}", shard_count=2).model_copy(
        update={"backup_dir": tmp_path / "backups"}
    )
    migrate.upgrade(settings=s)
    yield s
    dispose_engines()
    engine = new_engine(server_url(Role.PRIMARY, s))
    try:
        with engine.begin() as conn:
            for name in s.shard_databases:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    finally:
        engine.dispose()


def cli_env(settings: Settings) -> dict[str, str]:
    """Environment that points the `wework` command at the private stack."""
    return {
        "WEWORK_DATA_DIR": str(settings.data_dir),
        "WEWORK_PRIMARY_PORT": str(settings.primary_port),
        "WEWORK_REPLICA_PORT": str(settings.replica_port),
        "WEWORK_LOCAL_DB_PASSWORD": settings.local_db_password or "",
        "WEWORK_DB_NAME": settings.db_name,
        "WEWORK_SHARD_COUNT": str(settings.shard_count),
        "WEWORK_BACKUP_DIR": str(settings.backup_dir),
        "WEWORK_PRIMARY_URL": "",
        "WEWORK_REPLICA_URL": "",
        "PATH": os.environ.get("PATH", ""),
    }


@pytest.fixture
def ops_env(fresh_settings: Settings) -> dict[str, str]:
    return cli_env(fresh_settings)
