"""Schema migrations for every shard database (`wework db migrate`).

Each shard is its own database (``{db_name}_{i}``) with its own ``alembic_version``;
migrating creates missing shard databases, upgrades each to head, then makes sure the
partitioned tables have their upcoming partitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from wework.config import Settings, get_settings
from wework.db.engines import DbUser, Role, get_engine, new_engine, server_url
from wework.db.partitions import PartitionReport, ensure_partitions

# Schema work is DDL: it runs as the migrator, never as the app's DML-only user.
MIGRATOR = DbUser.MIGRATOR
ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


@dataclass
class ShardMigration:
    shard: int
    database: str
    before: str | None
    after: str | None
    partitions: list[PartitionReport]


def alembic_config() -> Config:
    return Config(str(ALEMBIC_INI))


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def ensure_database(name: str, settings: Settings | None = None) -> None:
    engine = new_engine(server_url(Role.PRIMARY, settings, MIGRATOR))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    f"CREATE DATABASE IF NOT EXISTS `{name}` "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            )
    finally:
        engine.dispose()


def current_revision(shard: int, settings: Settings | None = None) -> str | None:
    with get_engine(Role.PRIMARY, shard, settings, user=MIGRATOR).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _run(shard: int, action, settings: Settings) -> None:
    cfg = alembic_config()
    with get_engine(Role.PRIMARY, shard, settings, user=MIGRATOR).begin() as conn:
        cfg.attributes["connection"] = conn
        try:
            action(cfg)
        except Exception as exc:
            raise RuntimeError(
                f"migration of shard {shard} ({settings.shard_database(shard)}) failed: {exc}. "
                "MySQL cannot roll DDL back, so the shard may be half-migrated: on the local "
                "stack `wework db reset --yes` starts it afresh."
            ) from exc


def upgrade(revision: str = "head", settings: Settings | None = None) -> list[ShardMigration]:
    """Create missing shard databases, upgrade each, then ensure upcoming partitions."""
    s = settings or get_settings()
    results = []
    for shard in range(s.shard_count):
        ensure_database(s.shard_database(shard), s)
        before = current_revision(shard, s)
        _run(shard, lambda cfg: command.upgrade(cfg, revision), s)
        with get_engine(Role.PRIMARY, shard, s, user=MIGRATOR).begin() as conn:
            reports = ensure_partitions(conn)
        after = current_revision(shard, s)
        results.append(ShardMigration(shard, s.shard_database(shard), before, after, reports))
    return results


def downgrade(revision: str, settings: Settings | None = None) -> None:
    s = settings or get_settings()
    for shard in range(s.shard_count):
        _run(shard, lambda cfg: command.downgrade(cfg, revision), s)


def partitions(settings: Settings | None = None) -> dict[int, list[PartitionReport]]:
    s = settings or get_settings()
    out = {}
    for shard in range(s.shard_count):
        with get_engine(Role.PRIMARY, shard, s, user=MIGRATOR).begin() as conn:
            out[shard] = ensure_partitions(conn)
    return out


def drop_databases(settings: Settings | None = None) -> None:
    """Drop every shard database (tests and `db reset` on external servers)."""
    s = settings or get_settings()
    engine = new_engine(server_url(Role.PRIMARY, s, MIGRATOR))
    try:
        with engine.begin() as conn:
            for name in s.shard_databases:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    finally:
        engine.dispose()
