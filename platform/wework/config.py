"""The one settings object: every ``WEWORK_*`` environment variable (pydantic-settings).

Sources, later wins: defaults < ``<data_dir>/local.env`` (secrets generated for the local
stack on first ``wework db up``) < ``<repo>/.env`` < the process environment.

Every part of the project (CLI, services, operations, pipelines, app) reads its knobs
from :class:`Settings` through :func:`get_settings`; nothing reads ``os.environ`` for a
``WEWORK_`` variable. A new setting is a field here (grouped by area), a commented line in
``.env.example``, and is covered by ``tests/test_config.py``. A field whose name ends in
``password``, ``key(s)``, ``token`` or ``secret`` is a secret (:func:`is_secret`): never
printed, logged or written anywhere but where it is used; a ``*_url`` may carry a password
and is shown with it masked.

Files are generated in two places: per *server* in ``data_dir`` (the local MariaDB pair,
its secrets in ``local.env``, logs) and per *database set* in :attr:`Settings.set_dir`
(``<data_dir>/sets/<db_name>``: the set's warehouse and published marts, backups, Dagster
runs and demo logins), so two database sets in one data dir never mix theirs.
"""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = REPO_ROOT / ".env"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEWORK_", extra="ignore", populate_by_name=True)

    # Where the local stack keeps its servers' data, logs and secrets, and (under
    # sets/<db_name>) what is generated per database set.
    data_dir: Path = REPO_ROOT / ".data"

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
    # The local replica's replication link (local stack only; generated into local.env).
    db_repl_password: str | None = None
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

    # Connections each engine (one per server, shard and user) keeps open per process, and
    # as many more it opens when busier (closed again when returned): size it to the
    # process's concurrent transactions (the API's threads, a bench's clients), since a
    # connection opened and closed per transaction costs more than the transaction.
    db_pool_size: int = Field(default=20, ge=1, le=500)

    # Replica reads refuse (or fail over, see replica_fallback) past this lag; with the
    # `wait` fallback a read waits this long for the replica to catch up, then fails.
    replica_max_lag_seconds: float = 5.0
    replica_fallback: str = Field(default="primary", pattern="^(primary|wait|fail)$")
    replica_wait_timeout_seconds: float = Field(default=60.0, ge=0)

    # Warehouse (DuckDB) and the published marts readers open (a DuckLake folder); default
    # under set_dir/warehouse.
    warehouse_path: Path | None = None
    publish_dir: Path | None = None
    # First day of the pipelines' daily partitions (backfills, the Dagster UI's day view).
    etl_first_day: date = date(2024, 1, 1)

    # Notebook reports (wework.reports): where their versions are kept (default
    # set_dir/reports) and how many per report, the days a report covers, the kernels that
    # run the notebooks in parallel and how long one cell may run. JupyterLab (started by
    # scripts/demo.sh on notebooks/) listens on jupyter_port.
    reports_dir: Path | None = None
    report_keep_versions: int = Field(default=20, ge=1)
    report_period_days: int = Field(default=30, ge=1, le=3660)
    report_workers: int = Field(default=2, ge=1, le=32)
    report_cell_timeout_seconds: int = Field(default=600, ge=1)
    jupyter_port: int = Field(default=8888, ge=1, le=65535)

    # Dagster's instance folder (run history, schedules, dagster.yaml), default
    # set_dir/dagster; Dagster's own DAGSTER_HOME is honoured too. The Dagster UI
    # (`dagster dev`, started by scripts/demo.sh) listens on dagster_port.
    dagster_home: Path | None = Field(
        default=None, validation_alias=AliasChoices("WEWORK_DAGSTER_HOME", "DAGSTER_HOME")
    )
    dagster_port: int = Field(default=3000, ge=1, le=65535)

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
    # The two cache levels (wework.cache.layers): L1 in each process, L2 in Redis; the TTLs
    # bound staleness when an eviction message is lost (the spec's 5 and 30 minutes). Each
    # process records its cache counters as metrics every cache_stats_seconds.
    cache_enabled: bool = True
    cache_l1_ttl_seconds: float = Field(default=300, gt=0)
    cache_l1_max_entries: int = Field(default=10_000, ge=1)
    cache_l2_ttl_seconds: int = Field(default=1800, ge=1)
    cache_stats_seconds: float = Field(default=15, gt=0)

    # Monitoring (InfluxDB v2 write API); off when url is unset.
    influx_url: str | None = None
    influx_token: str = ""
    influx_org: str = "wework"
    influx_bucket: str = "wework"

    # Backups (wework.ops.backup): where they and their manifest live (default
    # set_dir/backups). Older ones are removed after each backup, but the newest full
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
    retention_audit_log_months: int = Field(default=36, ge=1)
    # tenant_daily_quota (not in the spec): a day's stripes count only that day, so past
    # days are history the messages table holds too; a month of them is kept to look at.
    retention_daily_quota_months: int = Field(default=1, ge=1)
    retention_batch_size: int = Field(default=10_000, ge=1)

    # The Streamlit app (`wework app serve`): its port on localhost, and a session ends
    # after this many minutes without interaction.
    app_port: int = Field(default=8501, ge=1, le=65535)
    app_idle_minutes: float = Field(default=30.0, gt=0)

    # Sign-in throttling (wework.services.login_throttle), checked before argon2 runs:
    # attempts per client address and minute; failures of one username from one address
    # before that pair is locked out for login_lockout_minutes; failures of one username
    # from all addresses in that window before addresses that never signed in as that
    # user are refused too; argon2 verifications running at once in one process (each
    # takes 64 MiB), and how long an attempt waits for one before it is refused.
    login_attempts_per_address_per_minute: int = Field(default=20, ge=1)
    login_failures_per_pair: int = Field(default=5, ge=1)
    login_failures_per_username: int = Field(default=50, ge=1)
    login_lockout_minutes: float = Field(default=15.0, gt=0)
    login_max_concurrent_hashes: int = Field(default=4, ge=1)
    login_hash_wait_seconds: float = Field(default=5.0, gt=0)

    # HTTP intake (`wework api`): where it listens, how many processes, the largest body
    # it reads (413 beyond), and how long a process reuses the gateway secrets it loaded
    # (a revoked secret stops verifying within this time; a new one within a second).
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    api_workers: int = Field(default=2, ge=1, le=64)
    api_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    api_secret_cache_seconds: float = Field(default=5.0, ge=0)
    # `wework gateway secrets rotate`: how long the old secret keeps verifying.
    gateway_secret_grace_hours: float = Field(default=24.0, ge=0)

    # The WeCom gateway over HTTP (wework.gateway.http). Sends time out after
    # gateway_timeout_seconds and are tried gateway_attempts times in the call (timeouts,
    # connection errors, 5xx, 429); after that the dispatcher's retry backoff takes over.
    gateway_url: str | None = None
    gateway_timeout_seconds: float = Field(default=5.0, gt=0)
    gateway_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    gateway_attempts: int = Field(default=3, ge=1, le=10)
    gateway_max_connections: int = Field(default=32, ge=1, le=1024)
    # The gateway's API token: HttpGateway sends it as `Authorization: Bearer …`, and
    # `wework gateway-sim serve` refuses sends without it (401) when it is set. Masked
    # by `wework config show` (is_secret).
    gateway_token: str | None = None

    # `wework gateway-sim serve`: the gateway SIMULATOR as an HTTP server. It posts its
    # signed callbacks to gateway_sim_callback_url (the API's base URL) with
    # gateway_sim_secret (one issued by `wework gateway secrets create`).
    gateway_sim_host: str = "127.0.0.1"
    gateway_sim_port: int = Field(default=8090, ge=1, le=65535)
    gateway_sim_callback_url: str | None = None
    gateway_sim_secret: str | None = None  # masked by `wework config show` (is_secret)

    # Without gateway_url the worker sends through an in-process SIMULATOR and ingests its
    # callbacks itself (like `wework simulate`). Each of its sends takes a random
    # 0..simulator_latency_ms milliseconds.
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

    # Operator monitoring and alerts (wework.metrics.database, wework.alerts). The worker
    # records the database's health every worker_db_monitor_every seconds and evaluates
    # the alert rules every worker_alerts_every; the rules are alerts/rules.yaml, merged
    # with alert_rules_file (a deployment's overrides, same shape, by rule name). Firing
    # and resolved alerts are posted to alert_webhook_url, signed with
    # alert_webhook_secret (whsec_..., `wework alerts secret` makes one), retried until
    # alert_webhook_give_up_minutes after the alert.
    worker_db_monitor_every: float = Field(default=60.0, gt=0)
    worker_alerts_every: float = Field(default=60.0, gt=0)
    monitor_top_statements: int = Field(default=10, ge=1, le=100)
    alert_rules_file: Path | None = None
    alert_webhook_url: str | None = None
    alert_webhook_secret: str | None = None
    alert_webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    alert_webhook_give_up_minutes: float = Field(default=1440.0, gt=0)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return path.resolve()  # a relative WEWORK_DATA_DIR is taken from the working dir

    @property
    def uses_local_stack(self) -> bool:
        return not (self.primary_url or self.replica_url)

    @property
    def set_dir(self) -> Path:
        """What is generated for this database set (``db_name``) lives here."""
        return self.data_dir / "sets" / self.db_name

    @property
    def warehouse_file(self) -> Path:
        return self.warehouse_path or self.set_dir / "warehouse" / "warehouse.duckdb"

    @property
    def publish_path(self) -> Path:
        return self.publish_dir or self.set_dir / "warehouse" / "published"

    @property
    def dagster_home_path(self) -> Path:
        return (self.dagster_home or self.set_dir / "dagster").resolve()

    @property
    def backup_path(self) -> Path:
        return (self.backup_dir or self.set_dir / "backups").resolve()

    @property
    def demo_logins_file(self) -> Path:
        """The seed's demo logins (one generated password) for this database set."""
        return self.set_dir / "demo-logins.txt"

    @property
    def reports_path(self) -> Path:
        return (self.reports_dir or self.set_dir / "reports").resolve()

    def shard_database(self, shard: int) -> str:
        return f"{self.db_name}_{shard}"

    @property
    def shard_databases(self) -> list[str]:
        return [self.shard_database(i) for i in range(self.shard_count)]


# Settings derived from the fields, shown by `wework config` beside them.
DERIVED = ("set_dir", "warehouse_file", "publish_path", "dagster_home_path", "backup_path",
           "demo_logins_file", "shard_databases", "uses_local_stack")

_SECRET_SUFFIXES = ("password", "key", "keys", "token", "secret")


def is_secret(name: str) -> bool:
    return name.endswith(_SECRET_SUFFIXES)


def shown(name: str, value: object) -> str:
    """A setting's value as it may be printed: secrets masked, URL passwords masked."""
    if value is None:
        return ""
    if is_secret(name):
        return "********" if value else ""
    if name.endswith("_url"):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            return make_url(str(value)).render_as_string(hide_password=True)
        except ArgumentError:  # not a database URL (e.g. the metrics store's)
            return str(value)
    return str(value)


def local_env_file(data_dir: Path) -> Path:
    return data_dir / "local.env"


class SettingsError(ValueError):
    """A WEWORK_ variable has a value its setting cannot take; says which and why."""


def _existing(*paths: Path) -> list[Path] | None:
    return [p for p in paths if p.exists()] or None


def _load(files: list[Path] | None) -> Settings:
    try:
        return Settings(_env_file=files)  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = [
            f"WEWORK_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']} "
            f"(got {e['input']!r})"
            for e in exc.errors()
        ]
        where = ", ".join(str(f) for f in files or []) or "the environment"
        raise SettingsError(
            "invalid setting(s), from the environment or " + where + ":\n  "
            + "\n  ".join(problems)
        ) from None


def env_files() -> list[Path]:
    """The env files read, lowest precedence first (the environment beats both)."""
    # local.env lives in the data dir, which .env or the environment may move: find the
    # data dir without it first.
    data_dir = _load(_existing(ENV_FILE)).data_dir
    return _existing(local_env_file(data_dir), ENV_FILE) or []


def unknown_variables() -> dict[str, str]:
    """WEWORK_ variables set (in the environment or an env file) that are no setting:
    ignored, most likely a typo. Maps each name to where it was found."""
    known = {f"WEWORK_{name.upper()}" for name in Settings.model_fields}
    found = {name: "environment" for name in os.environ if name.startswith("WEWORK_")}
    for path in env_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            name = line.split("=", 1)[0].strip().removeprefix("export ").strip()
            if name.startswith("WEWORK_") and "=" in line:
                found.setdefault(name, str(path))
    return {name: where for name, where in sorted(found.items()) if name not in known}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return _load(env_files() or None)


def reload_settings() -> Settings:
    """Drop the cached settings (tests and `db up` change the environment)."""
    get_settings.cache_clear()
    return get_settings()
