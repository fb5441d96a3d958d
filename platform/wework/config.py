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

    # Notebook reports (wework.reports): where their versions are kept and how many per
    # report, the days a report covers, the kernels that run the notebooks in parallel and
    # how long one cell may run.
    reports_dir: Path | None = None
    report_keep_versions: int = Field(default=20, ge=1)
    report_period_days: int = Field(default=30, ge=1, le=3660)
    report_workers: int = Field(default=2, ge=1, le=32)
    report_cell_timeout_seconds: int = Field(default=600, ge=1)

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

    @property
    def reports_path(self) -> Path:
        return self.reports_dir or self.data_dir / "reports"

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
