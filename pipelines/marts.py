"""Build the marts from ``raw`` with the SQL in ``sql/marts/<mart>.sql``.

Each mart is built into a new table and swapped in by one transaction (drop the old one,
rename the new one), so a failure while building leaves the previous mart in place and a
reader of the warehouse never sees a half-built table.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from wework.config import REPO_ROOT
from wework.warehouse import transaction

SQL_DIR = REPO_ROOT / "sql" / "marts"

# Which raw tables each mart reads (the assets' dependencies).
MART_INPUTS: dict[str, tuple[str, ...]] = {
    "message_stats_hourly": ("messages",),
    "message_stats_daily": ("messages",),
    "account_health_daily": ("wework_accounts", "account_status_history", "messages"),
    "batch_task_performance": ("batch_send_tasks", "messages"),
    "callback_processing_daily": ("callback_events",),
    "tenant_usage_daily": ("tenants", "wework_accounts", "messages"),
    "account_directory": ("wework_accounts", "tenants"),
}

# Each mart's grain: its key must be unique (an asset check verifies it).
MART_KEYS: dict[str, tuple[str, ...]] = {
    "message_stats_hourly": ("tenant_id", "account_id", "stat_date", "stat_hour", "message_type"),
    "message_stats_daily": ("tenant_id", "stat_date", "message_type"),
    "account_health_daily": ("account_id", "stat_date"),
    "batch_task_performance": ("batch_id",),
    "callback_processing_daily": ("stat_date", "event_type"),
    "tenant_usage_daily": ("tenant_id", "stat_date"),
    "account_directory": ("account_id",),
}


def mart_sql(name: str) -> str:
    path: Path = SQL_DIR / f"{name}.sql"
    return path.read_text(encoding="utf-8").strip().rstrip(";")


def build_mart(con: duckdb.DuckDBPyConnection, name: str, as_of: datetime) -> int:
    """Rebuild ``marts.<name>`` atomically; returns its row count."""
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute("SET VARIABLE as_of = ?::TIMESTAMP", [as_of])
    new = f"marts.{name}__new"
    con.execute(f"DROP TABLE IF EXISTS {new}")
    con.execute(f"CREATE TABLE {new} AS {mart_sql(name)}")
    with transaction(con):
        con.execute(f"DROP TABLE IF EXISTS marts.{name}")
        con.execute(f"ALTER TABLE {new} RENAME TO {name}")
    (rows,) = con.execute(f"SELECT count(*) FROM marts.{name}").fetchone()
    return int(rows)
