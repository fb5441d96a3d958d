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

    # Monitoring (InfluxDB v2 write API); off when url is unset.
    influx_url: str | None = None
    influx_token: str = ""
    influx_org: str = "wework"
    influx_bucket: str = "wework"

    # The WeCom gateway the worker sends through. Unset: an in-process SIMULATOR whose
    # callbacks the worker ingests itself (like `wework simulate`).
    gateway_url: str | None = None
    # The in-process simulator: each send takes a random 0..this many milliseconds.
    simulator_latency_ms: float = Field(default=0.0, ge=0)

    # `wework worker`: dispatching. A claim on a message ('sending') expires claim_seconds
    # after it was taken; another worker then recovers it (the message id is the gateway's
    # idempotency key, so the recovered send is never delivered twice). It must exceed
    # the longest send (gateway timeout x attempts).
    worker_batch_size: int = Field(default=500, ge=1, le=10_000)
    worker_send_concurrency: int = Field(default=32, ge=1, le=1024)
    worker_dispatch_loops: int = Field(default=2, ge=1, le=64)
    worker_idle_seconds: float = Field(default=0.5, gt=0)
    worker_claim_seconds: float = Field(default=120.0, gt=0)
    worker_stop_seconds: float = Field(default=8.0, gt=0)  # SIGTERM: in-flight sends finish
    # How often each once-at-a-time job runs, cluster-wide (seconds).
    worker_heartbeat_sweep_every: float = Field(default=30.0, gt=0)
    worker_partitions_every: float = Field(default=86_400.0, gt=0)
    worker_gauges_every: float = Field(default=60.0, gt=0)
    worker_batches_every: float = Field(default=30.0, gt=0)
    worker_recovery_every: float = Field(default=15.0, gt=0)  # sending claims, callbacks
    worker_outbox_purge_every: float = Field(default=86_400.0, gt=0)
    worker_webhooks_every: float = Field(default=1.0, gt=0)
    # An online account silent this long is marked offline by the sweep.
    heartbeat_timeout_seconds: float = Field(default=90.0, gt=0)
    # A callback event still received/processing this long after it arrived was stranded
    # by an intake process that died; the worker processes it.
    callback_stranded_seconds: float = Field(default=300.0, gt=0)

    # Tenant webhooks (the outbox). Retries follow this schedule (seconds after each
    # failed attempt, the last repeating) until webhook_give_up_hours after the event.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_seconds: list[float] = Field(
        default_factory=lambda: [5, 300, 1800, 7200, 18_000, 36_000]
    )
    webhook_give_up_hours: float = Field(default=24.0, gt=0)
    webhook_secret_overlap_hours: float = Field(default=24.0, ge=0)  # old secret still signs
    webhook_retention_days: int = Field(default=30, ge=1)
    # Tenants choose their webhook URL: by default it may not point into private,
    # loopback or link-local networks (the worker would call our own servers for them).
    webhook_allow_private_networks: bool = False

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
