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

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
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

    # Warehouse (DuckDB) and its published, read-only copy for readers; default under
    # set_dir/warehouse.
    warehouse_path: Path | None = None
    publish_dir: Path | None = None

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
    retention_batch_size: int = Field(default=10_000, ge=1)

    # The Streamlit app (`wework app serve`): its port on localhost, and a session ends
    # after this many minutes without interaction.
    app_port: int = Field(default=8501, ge=1, le=65535)
    app_idle_minutes: float = Field(default=30.0, gt=0)

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
