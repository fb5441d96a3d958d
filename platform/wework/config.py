"""The one settings object: every ``WEWORK_*`` environment variable (pydantic-settings).

Sources, later wins: defaults < ``<data_dir>/local.env`` (secrets generated for the local
stack on first ``wework db up``) < ``<repo>/.env`` < the process environment.

Every part of the project (CLI, services, operations, pipelines, app) reads its knobs
from :class:`Settings` through :func:`get_settings`; nothing reads ``os.environ`` for a
``WEWORK_`` variable. A new setting is a field here (grouped by area), a commented line in
``.env.example``, and is covered by ``tests/test_config.py``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = REPO_ROOT / ".env"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEWORK_", extra="ignore")

    # Where the local stack keeps its servers' data, logs, secrets and the warehouse.
    data_dir: Path = REPO_ROOT / ".data"

    # External servers. When both are unset the project runs its own local pair.
    primary_url: str | None = None
    replica_url: str | None = None

    # Local stack (used only when the URLs above are unset).
    primary_port: int = 33306
    replica_port: int = 33307
    local_db_user: str = "wework"
    local_db_password: str | None = None

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

    # Monitoring (InfluxDB v2 write API); off when url is unset.
    influx_url: str | None = None
    influx_token: str = ""
    influx_org: str = "wework"
    influx_bucket: str = "wework"

    # Backups (wework.ops.backup): where they and their manifest live (default
    # <data_dir>/backups). Older ones are removed after each backup, but the newest full
    # backup and everything after it are always kept, so there is always something to
    # restore. gzip level 1 is several times faster than 6 for ~10% more bytes.
    backup_dir: Path | None = None
    backup_retention_days: int = Field(default=30, ge=1)
    backup_compress_level: int = Field(default=1, ge=1, le=9)

    # Data retention (wework.ops.retention) in calendar months (spec §分表策略: messages
    # older than 3 years go), deleted in short transactions of this many rows (spec:
    # LIMIT 10000) so no long locks are held.
    retention_messages_months: int = Field(default=36, ge=1)
    retention_account_status_history_months: int = Field(default=36, ge=1)
    retention_callback_events_months: int = Field(default=36, ge=1)
    retention_batch_size: int = Field(default=10_000, ge=1)

    # The Streamlit app: a session ends after this many minutes without interaction.
    app_idle_minutes: float = Field(default=30.0, gt=0)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return path.resolve()  # a relative WEWORK_DATA_DIR is taken from the working dir

    @property
    def uses_local_stack(self) -> bool:
        return not (self.primary_url or self.replica_url)

    @property
    def warehouse_file(self) -> Path:
        return self.warehouse_path or self.data_dir / "warehouse" / "warehouse.duckdb"

    @property
    def publish_path(self) -> Path:
        return self.publish_dir or self.data_dir / "warehouse" / "published"

    @property
    def backup_path(self) -> Path:
        return (self.backup_dir or self.data_dir / "backups").resolve()

    def shard_database(self, shard: int) -> str:
        return f"{self.db_name}_{shard}"

    @property
    def shard_databases(self) -> list[str]:
        return [self.shard_database(i) for i in range(self.shard_count)]


def local_env_file(data_dir: Path) -> Path:
    return data_dir / "local.env"


def _existing(*paths: Path) -> list[Path] | None:
    return [p for p in paths if p.exists()] or None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    # local.env lives in the data dir, which .env or the environment may move: find the
    # data dir without it first.
    data_dir = Settings(_env_file=_existing(ENV_FILE)).data_dir  # type: ignore[call-arg]
    files = _existing(local_env_file(data_dir), ENV_FILE)
    return Settings(_env_file=files)  # type: ignore[call-arg]


def reload_settings() -> Settings:
    """Drop the cached settings (tests and `db up` change the environment)."""
    get_settings.cache_clear()
    return get_settings()
