"""Settings from ``WEWORK_*`` environment variables (pydantic-settings).

Sources, later wins: defaults < ``<data_dir>/local.env`` (secrets generated for the local
stack on first ``wework db up``) < ``<repo>/.env`` < the process environment.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_data_dir() -> Path:
    return Path(os.environ.get("WEWORK_DATA_DIR", REPO_ROOT / ".data")).resolve()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEWORK_", extra="ignore")

    # Where the local stack keeps its servers' data, logs, secrets and the warehouse.
    data_dir: Path = Field(default_factory=_default_data_dir)

    # External servers. When both are unset the project runs its own local pair.
    primary_url: str | None = None
    replica_url: str | None = None

    # Local stack (used only when the URLs above are unset).
    primary_port: int = 33306
    replica_port: int = 33307
    # The app's user (DML only). Its password, and those below, are generated into
    # <data_dir>/local.env by `wework db up`.
    local_db_user: str = "wework"
    local_db_password: str | None = None
    # Worker threads the local replica applies replicated transactions with
    # (slave_parallel_mode=optimistic); 0 applies them one at a time.
    local_replica_parallel_threads: int = Field(default=4, ge=0, le=64)

    # Least privilege: one database user per kind of work (wework.db.privileges). On the
    # local stack the names default to wework_<role> with generated passwords; on external
    # servers a role whose user is unset falls back to the user of the URL (and
    # `wework db check` reports it).
    db_migrator_user: str | None = None  # DDL: migrations, partitions, retention, seed
    db_migrator_password: str | None = None
    db_etl_user: str | None = None  # SELECT: the pipelines' extract from the replica
    db_etl_password: str | None = None
    db_backup_user: str | None = None  # mariadb-dump and binlog copies
    db_backup_password: str | None = None
    db_monitor_user: str | None = None  # replication status, gauges, `db check`
    db_monitor_password: str | None = None
    # Restore (load a dump, replay binlogs) needs BINLOG REPLAY, which no standing user
    # holds: the local stack restores as root over the server's unix socket; on external
    # servers give a DBA account here (default: the migrator's).
    db_restore_user: str | None = None
    db_restore_password: str | None = None

    # Logical database name; shard i lives in database f"{db_name}_{i}" (spec §分库策略).
    db_name: str = "wework_platform"
    shard_count: int = Field(default=1, ge=1, le=64)

    # Sensitive-column encryption: comma-separated Fernet keys, the first encrypts,
    # all decrypt (rotation). lookup_key keys the HMAC used for equality lookups.
    encryption_keys: str | None = None
    lookup_key: str | None = None

    # Replica reads refuse (or fail over, see replica_fallback) past this lag.
    replica_max_lag_seconds: float = 5.0
    replica_fallback: str = Field(default="primary", pattern="^(primary|wait|fail)$")

    # Warehouse (DuckDB) and its published, read-only copy for readers.
    warehouse_path: Path | None = None
    publish_dir: Path | None = None

    # Redis (cache, throttles; never the source of truth). Unset: the local redis-server
    # of `wework cache up` on redis_port, with the password generated into local.env.
    redis_url: str | None = None
    redis_port: int = 16379
    redis_password: str | None = None
    # Every Redis call gives up after this long; after redis_breaker_fail_max failures in
    # a row the circuit opens and calls fail at once for redis_breaker_reset_seconds.
    redis_timeout_seconds: float = Field(default=0.25, gt=0)
    redis_breaker_fail_max: int = Field(default=3, ge=1)
    redis_breaker_reset_seconds: float = Field(default=5.0, gt=0)

    # Monitoring (InfluxDB v2 write API); off when url is unset.
    influx_url: str | None = None
    influx_token: str = ""
    influx_org: str = "wework"
    influx_bucket: str = "wework"

    @property
    def uses_local_stack(self) -> bool:
        return not (self.primary_url or self.replica_url)

    @property
    def warehouse_file(self) -> Path:
        return self.warehouse_path or self.data_dir / "warehouse" / "warehouse.duckdb"

    @property
    def publish_path(self) -> Path:
        return self.publish_dir or self.data_dir / "warehouse" / "published"

    def shard_database(self, shard: int) -> str:
        return f"{self.db_name}_{shard}"

    @property
    def shard_databases(self) -> list[str]:
        return [self.shard_database(i) for i in range(self.shard_count)]


def local_env_file(data_dir: Path | None = None) -> Path:
    return (data_dir or _default_data_dir()) / "local.env"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    files = [p for p in (local_env_file(), REPO_ROOT / ".env") if p.exists()]
    return Settings(_env_file=files or None)  # type: ignore[call-arg]


def reload_settings() -> Settings:
    """Drop the cached settings (tests and `db up` change the environment)."""
    get_settings.cache_clear()
    return get_settings()
