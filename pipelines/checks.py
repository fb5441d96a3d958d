"""Asset checks: raw agrees with the source, marts agree with raw, keys are unique, the
replica lag is reported, the published marts are fresh.

The raw checks run inside the extraction asset, on the same connections right after the
extraction ("at extraction time"), comparing per shard with the database just read.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import duckdb

from pipelines.extract import TableSpec, mysql_query_sql
from pipelines.marts import MART_KEYS
from wework.db.routing import ReadDecision

SOURCE_ROWS = "rows_match_source"
STATUS_DAY_COUNTS = "message_counts_by_status_and_day_match_source"
KEY_UNIQUE = "key_unique"
REPLICA_LAG = "replica_lag_within_threshold"
TOTALS_MATCH_RAW = "totals_match_raw"
# The hourly schedule plus a run's duration: older published marts are stale.
PUBLISH_MAX_AGE = timedelta(hours=2)


def raw_check_specs(spec: TableSpec) -> list[dg.AssetCheckSpec]:
    key = dg.AssetKey(["raw", spec.name])
    specs = [
        dg.AssetCheckSpec(SOURCE_ROWS, asset=key, description="row count per shard = source"),
        dg.AssetCheckSpec(KEY_UNIQUE, asset=key, description="(_shard, primary key) unique"),
        dg.AssetCheckSpec(
            REPLICA_LAG, asset=key, description="replica lag under the threshold when read"
        ),
    ]
    if spec.name == "messages":
        specs.append(
            dg.AssetCheckSpec(
                STATUS_DAY_COUNTS, asset=key, description="per (day, status) counts = source"
            )
        )
    return specs


def source_row_count(con: duckdb.DuckDBPyConnection, src: str, table: str) -> int:
    (n,) = con.execute(
        f"SELECT * FROM {mysql_query_sql(src, f'SELECT COUNT(*) FROM `{table}`')}"
    ).fetchone()
    return int(n)


def raw_row_count(con: duckdb.DuckDBPyConnection, table: str, shard: int) -> int:
    (n,) = con.execute(f'SELECT count(*) FROM raw."{table}" WHERE _shard = {int(shard)}').fetchone()
    return int(n)


def status_day_differences(con: duckdb.DuckDBPyConnection, src: str, shard: int) -> list[tuple]:
    """(day, status, source count, raw count) wherever they differ."""
    query = (
        "SELECT DATE(created_at) AS d, CAST(status AS CHAR) AS status, COUNT(*) AS n "
        "FROM messages GROUP BY DATE(created_at), status"
    )
    # Literals, not parameters: see mysql_query_sql.
    return con.execute(
        f"""
        WITH s AS (SELECT d, status, n FROM {mysql_query_sql(src, query)}),
             r AS (SELECT CAST(created_at AS DATE) AS d, status, count(*) AS n
                   FROM raw.messages WHERE _shard = {int(shard)} GROUP BY ALL)
        SELECT coalesce(s.d, r.d), coalesce(s.status, r.status), coalesce(s.n, 0),
               coalesce(r.n, 0)
        FROM s FULL OUTER JOIN r ON s.d = r.d AND s.status = r.status
        WHERE coalesce(s.n, 0) <> coalesce(r.n, 0)
        ORDER BY 1, 2
        """
    ).fetchall()


def duplicate_keys(con: duckdb.DuckDBPyConnection, table: str, key: tuple[str, ...]) -> int:
    cols = ", ".join(f'"{k}"' for k in key)
    (n,) = con.execute(
        f"SELECT count(*) FROM (SELECT {cols} FROM {table} GROUP BY ALL HAVING count(*) > 1)"
    ).fetchone()
    return int(n)


def lag_result(decisions: list[ReadDecision]) -> dg.AssetCheckResult:
    late = [d for d in decisions if d.lag_seconds is None or d.lag_seconds > d.max_lag_seconds]
    return dg.AssetCheckResult(
        check_name=REPLICA_LAG,
        passed=not late,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "decisions": [d.as_metadata() for d in decisions],
            "read_from": ", ".join(f"shard {d.shard}: {d.role.value}" for d in decisions),
            "max_lag_seconds_seen": max(
                (d.lag_seconds for d in decisions if d.lag_seconds is not None), default=None
            ),
        },
        description="; ".join(d.reason for d in late) or None,
    )


# --------------------------------------------------------------------------- marts

MART_TOTALS = {
    # mart -> (SQL total over the mart, SQL of the same total over raw)
    "message_stats_hourly": (
        "SELECT sum(total_count), sum(success_count), sum(failed_count) "
        "FROM marts.message_stats_hourly",
        "SELECT count(*), count(*) FILTER (WHERE status IN ('sent', 'delivered')), "
        "count(*) FILTER (WHERE status = 'failed') FROM raw.messages",
    ),
    "message_stats_daily": (
        "SELECT sum(total_count), sum(success_count), sum(failed_count) "
        "FROM marts.message_stats_daily",
        "SELECT count(*), count(*) FILTER (WHERE status IN ('sent', 'delivered')), "
        "count(*) FILTER (WHERE status = 'failed') FROM raw.messages",
    ),
    "account_health_daily": (
        "SELECT sum(messages_sent), sum(messages_failed) FROM marts.account_health_daily",
        "SELECT count(*) FILTER (WHERE m.status IN ('sent', 'delivered')), "
        "count(*) FILTER (WHERE m.status = 'failed') FROM raw.messages m "
        "JOIN raw.wework_accounts a ON a.id = m.account_id "
        "WHERE a.created_at <= getvariable('as_of') "
        "AND m.created_at >= date_trunc('day', a.created_at) "
        "AND m.created_at < date_trunc('day', getvariable('as_of')) + INTERVAL 1 DAY",
    ),
    "batch_task_performance": (
        "SELECT count(*), sum(message_count) FROM marts.batch_task_performance",
        "SELECT (SELECT count(*) FROM raw.batch_send_tasks), "
        "(SELECT count(*) FROM raw.messages WHERE batch_id IN "
        "(SELECT id FROM raw.batch_send_tasks))",
    ),
    "callback_processing_daily": (
        "SELECT sum(received_count), sum(processed_count), sum(failed_count) "
        "FROM marts.callback_processing_daily",
        "SELECT count(*), count(*) FILTER (WHERE status = 'processed'), "
        "count(*) FILTER (WHERE status = 'failed') FROM raw.callback_events",
    ),
    "tenant_usage_daily": (
        "SELECT sum(messages_created) FROM marts.tenant_usage_daily",
        "SELECT count(*) FROM raw.messages WHERE tenant_id IN (SELECT id FROM raw.tenants)",
    ),
    "account_directory": (
        "SELECT count(*), count(tenant_code) FROM marts.account_directory",
        "SELECT count(*), count(*) FILTER (WHERE tenant_id IN (SELECT id FROM raw.tenants)) "
        "FROM raw.wework_accounts",
    ),
}


def mart_check_specs(name: str) -> list[dg.AssetCheckSpec]:
    key = dg.AssetKey(["marts", name])
    return [
        dg.AssetCheckSpec(KEY_UNIQUE, asset=key, description=f"grain {MART_KEYS[name]} unique"),
        dg.AssetCheckSpec(TOTALS_MATCH_RAW, asset=key, description="mart totals = raw totals"),
    ]


def mart_check_results(con: duckdb.DuckDBPyConnection, name: str) -> list[dg.AssetCheckResult]:
    dups = duplicate_keys(con, f"marts.{name}", MART_KEYS[name])
    mart_sql, raw_sql = MART_TOTALS[name]
    mart_totals = [int(v or 0) for v in con.execute(mart_sql).fetchone()]
    raw_totals = [int(v or 0) for v in con.execute(raw_sql).fetchone()]
    return [
        dg.AssetCheckResult(
            check_name=KEY_UNIQUE, passed=dups == 0, metadata={"duplicate_keys": dups}
        ),
        dg.AssetCheckResult(
            check_name=TOTALS_MATCH_RAW,
            passed=mart_totals == raw_totals,
            metadata={"mart_totals": str(mart_totals), "raw_totals": str(raw_totals)},
        ),
    ]
