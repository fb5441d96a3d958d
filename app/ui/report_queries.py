"""The data behind every report page: SQL over the published marts (``marts.*``, see
``sql/marts/``), one function per report, each returning named pandas DataFrames.

Pure functions of a DuckDB connection and :class:`Filters`, without Streamlit, so the
benchmark (``bench/report_bench.py``) times exactly what the pages run. Pages call them
through :func:`ui.reports.load`, which opens the published marts read-only and caches.
All dates are UTC days, as in the marts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta

import duckdb
import pandas as pd

FLAPPING_MIN_DISCONNECTS = 3  # disconnects in the period that make an account "flapping"
TOP_N = 10
# How an account is shown (``d`` is marts.account_directory, which defines the label); an
# account missing from it is shown by id.
ACCOUNT_LABEL = "coalesce(d.account_label, account_id)"


@dataclass(frozen=True)
class Filters:
    tenant_id: str | None  # None: every tenant (offered to super-admins only)
    date_from: date
    date_to: date
    account_id: str | None = None
    message_type: str | None = None

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def previous(self) -> Filters:
        """The period of the same length just before this one (for deltas)."""
        return replace(self, date_from=self.date_from - timedelta(days=self.days),
                       date_to=self.date_from - timedelta(days=1))


def _where(f: Filters, *, date_col: str = "stat_date", tenant: bool = True,
           account: bool = True, mtype: bool = True) -> tuple[str, list]:
    clauses = [f"{date_col} BETWEEN ? AND ?"]
    params: list = [f.date_from, f.date_to]
    if tenant and f.tenant_id:
        clauses.append("tenant_id = ?")
        params.append(f.tenant_id)
    if account and f.account_id:
        clauses.append("account_id = ?")
        params.append(f.account_id)
    if mtype and f.message_type:
        clauses.append("message_type = ?")
        params.append(f.message_type)
    return " AND ".join(clauses), params


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> pd.DataFrame:
    return con.execute(sql, params).df()


def _message_source(f: Filters) -> str:
    # The daily mart is per tenant; an account filter needs the per-account hourly mart.
    return "marts.message_stats_hourly" if f.account_id else "marts.message_stats_daily"


def _message_totals(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, float | None]:
    where, params = _where(f)
    row = con.execute(
        f"""
        SELECT coalesce(sum(total_count), 0), coalesce(sum(success_count), 0),
               coalesce(sum(failed_count), 0),
               -- p95 of the period: the days' (or hours') p95 weighted by their delivered
               -- volume; exact percentiles across buckets would need the raw messages.
               sum(p95_delivery_seconds * success_count)
                 / nullif(sum(success_count) FILTER (WHERE p95_delivery_seconds IS NOT NULL), 0)
        FROM {_message_source(f)} WHERE {where}""",
        params,
    ).fetchone()
    total, success, failed, p95 = row
    rate = success / (success + failed) if success + failed else None
    return {"messages": total, "success_rate": rate, "p95_delivery_seconds": p95}


def _account_status_at(con: duckdb.DuckDBPyConnection, f: Filters, day: date) -> dict[str, int]:
    where, params = _where(replace(f, date_from=date(1970, 1, 1), date_to=day), mtype=False)
    rows = con.execute(
        f"""
        SELECT status_at_day_end, count(*) FROM (
            SELECT account_id, arg_max(status_at_day_end, stat_date) AS status_at_day_end
            FROM marts.account_health_daily WHERE {where} GROUP BY account_id)
        GROUP BY 1""",
        params,
    ).fetchall()
    return {status: n for status, n in rows}


class CallbacksNotScoped(LookupError):
    """The published callback mart has no tenant column, so one tenant's callback figures
    cannot be told apart from the platform's."""


def callbacks_scoped(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether marts.callback_processing_daily carries the tenant (of the event's account)."""
    return con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'marts' "
        "AND table_name = 'callback_processing_daily' AND column_name = 'tenant_id'"
    ).fetchone()[0] > 0


def _callback_where(con: duckdb.DuckDBPyConnection, f: Filters) -> tuple[str, list]:
    """Callback figures of ``f.tenant_id``'s accounts, or of the whole platform when
    ``f.tenant_id`` is None (offered to platform admins only). Never platform-wide figures
    for a tenant: CallbacksNotScoped when the mart cannot scope them."""
    if f.tenant_id and not callbacks_scoped(con):
        raise CallbacksNotScoped
    return _where(f, account=False, mtype=False)


def _callback_failures(con: duckdb.DuckDBPyConnection, f: Filters) -> int | None:
    try:
        where, params = _callback_where(con, f)
    except CallbacksNotScoped:
        return None
    return con.execute(
        f"SELECT coalesce(sum(failed_count), 0) FROM marts.callback_processing_daily "
        f"WHERE {where}", params).fetchone()[0]


def _running_batches(con: duckdb.DuckDBPyConnection, f: Filters) -> int:
    """Tasks running now (as of the publish), whatever the period."""
    sql, params = "SELECT count(*) FROM marts.batch_task_performance WHERE status = 'running'", []
    if f.tenant_id:
        sql += " AND tenant_id = ?"
        params.append(f.tenant_id)
    if f.account_id:
        sql += " AND account_id = ?"
        params.append(f.account_id)
    return con.execute(sql, params).fetchone()[0]


def overview(con: duckdb.DuckDBPyConnection, f: Filters,
             today: date | None = None) -> dict[str, pd.DataFrame]:
    """KPIs of the period against the previous period of the same length, today against
    yesterday, and the daily message volume by status."""
    today = today or date.today()
    cur, prev = _message_totals(con, f), _message_totals(con, f.previous())
    day = _message_totals(con, replace(f, date_from=today, date_to=today))
    yday = _message_totals(con, replace(f, date_from=today - timedelta(days=1),
                                        date_to=today - timedelta(days=1)))
    acc_now = _account_status_at(con, f, f.date_to)
    acc_prev = _account_status_at(con, f, f.date_from - timedelta(days=1))
    running = _running_batches(con, f)
    kpis = [
        ("Messages today", day["messages"], yday["messages"]),
        ("Messages in period", cur["messages"], prev["messages"]),
        ("Success rate", cur["success_rate"], prev["success_rate"]),
        ("Delivery p95 (s)", cur["p95_delivery_seconds"], prev["p95_delivery_seconds"]),
        ("Accounts online", acc_now.get("online", 0), acc_prev.get("online", 0)),
        ("Accounts offline", acc_now.get("offline", 0), acc_prev.get("offline", 0)),
        ("Accounts in error", acc_now.get("error", 0), acc_prev.get("error", 0)),
        ("Batch tasks running", running, None),
        ("Callback failures", _callback_failures(con, f), _callback_failures(con, f.previous())),
    ]
    kpi_df = pd.DataFrame(kpis, columns=["metric", "value", "previous"])
    where, params = _where(f)
    daily = _df(con, f"""
        SELECT stat_date, sum(pending_count) AS pending, sum(sending_count) AS sending,
               sum(sent_count) AS sent, sum(delivered_count) AS delivered,
               sum(failed_count) AS failed, sum(cancelled_count) AS cancelled
        FROM {_message_source(f)} WHERE {where} GROUP BY stat_date ORDER BY stat_date""",
        params)
    return {"kpis": kpi_df, "daily": daily}


def message_stats(con: duckdb.DuckDBPyConnection, f: Filters,
                  granularity: str = "day") -> dict[str, pd.DataFrame]:
    where, params = _where(f)
    if granularity == "hour":
        series = _df(con, f"""
            SELECT stat_date + to_hours(stat_hour) AS period, message_type,
                   sum(total_count) AS total, sum(success_count) AS success,
                   sum(failed_count) AS failed
            FROM marts.message_stats_hourly WHERE {where} GROUP BY ALL ORDER BY period""",
            params)
    else:
        series = _df(con, f"""
            SELECT stat_date AS period, message_type, sum(total_count) AS total,
                   sum(success_count) AS success, sum(failed_count) AS failed
            FROM {_message_source(f)} WHERE {where} GROUP BY ALL ORDER BY period""", params)
    by_type_status = _df(con, f"""
        UNPIVOT (
            SELECT message_type, sum(pending_count) AS pending,
                   sum(sending_count) AS sending, sum(sent_count) AS sent,
                   sum(delivered_count) AS delivered, sum(failed_count) AS failed,
                   sum(cancelled_count) AS cancelled
            FROM {_message_source(f)} WHERE {where} GROUP BY message_type)
        ON pending, sending, sent, delivered, failed, cancelled
        INTO NAME status VALUE messages
        ORDER BY message_type, status""", params)
    by_type_status = by_type_status[by_type_status["messages"] > 0]
    latency = _df(con, f"""
        SELECT stat_date,
               sum(avg_delivery_seconds * success_count) / nullif(sum(success_count), 0)
                   AS avg_seconds,
               sum(p50_delivery_seconds * success_count) / nullif(sum(success_count), 0)
                   AS p50_seconds,
               sum(p95_delivery_seconds * success_count) / nullif(sum(success_count), 0)
                   AS p95_seconds
        FROM {_message_source(f)} WHERE {where} GROUP BY stat_date
        HAVING sum(success_count) > 0 ORDER BY stat_date""", params)
    accounts = f"""
        SELECT {ACCOUNT_LABEL} AS account, s.* FROM (
            SELECT account_id, tenant_id, sum(total_count) AS messages,
                   sum(success_count) AS success, sum(failed_count) AS failed,
                   sum(failed_count) / nullif(sum(success_count) + sum(failed_count), 0)
                       AS failure_rate
            FROM marts.message_stats_hourly WHERE {where} GROUP BY ALL) AS s
        LEFT JOIN marts.account_directory AS d USING (account_id)"""
    top_volume = _df(con, f"{accounts} ORDER BY messages DESC, account_id LIMIT {TOP_N}",
                     params)
    top_failure = _df(con, f"""
        SELECT * FROM ({accounts}) WHERE failed > 0
        ORDER BY failure_rate DESC, failed DESC, account_id LIMIT {TOP_N}""", params)
    return {"series": series, "by_type_status": by_type_status, "latency": latency,
            "top_volume": top_volume, "top_failure_rate": top_failure}


def account_health(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, pd.DataFrame]:
    where, params = _where(f, mtype=False)
    status = _df(con, f"""
        SELECT status_at_day_end AS status, count(*) AS accounts FROM (
            SELECT account_id, arg_max(status_at_day_end, stat_date) AS status_at_day_end
            FROM marts.account_health_daily WHERE {where} GROUP BY account_id)
        GROUP BY 1 ORDER BY accounts DESC""", params)
    per_account = _df(con, f"""
        SELECT {ACCOUNT_LABEL} AS account, s.* FROM (
            SELECT account_id, tenant_id,
                   avg(uptime_ratio) AS uptime_ratio,
                   sum(disconnect_count) AS disconnects, sum(error_count) AS errors,
                   sum(recover_count) AS recoveries,
                   sum(mean_time_to_recover_seconds * recover_count)
                       / nullif(sum(recover_count), 0) AS mean_time_to_recover_seconds,
                   avg(health_score) AS health_score,
                   arg_max(status_at_day_end, stat_date) AS status
            FROM marts.account_health_daily WHERE {where} GROUP BY ALL) AS s
        LEFT JOIN marts.account_directory AS d USING (account_id)
        ORDER BY health_score, account_id""", params)
    flapping = per_account[per_account["disconnects"] >= FLAPPING_MIN_DISCONNECTS]
    flapping = flapping.sort_values("disconnects", ascending=False)
    daily = _df(con, f"""
        SELECT stat_date, avg(uptime_ratio) AS mean_uptime, sum(disconnect_count) AS disconnects,
               sum(recover_count) AS recoveries,
               sum(mean_time_to_recover_seconds * recover_count) / nullif(sum(recover_count), 0)
                   AS mean_time_to_recover_seconds
        FROM marts.account_health_daily WHERE {where} GROUP BY stat_date ORDER BY stat_date""",
        params)
    return {"status": status, "per_account": per_account, "flapping": flapping,
            "daily": daily}


def batch_tasks(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, pd.DataFrame]:
    # A task is in the period when it started in it; tasks not started yet are always shown.
    where, params = _where(f, date_col="CAST(start_time AS DATE)", mtype=False)
    where = where.replace("CAST(start_time AS DATE) BETWEEN ? AND ?",
                          "(start_time IS NULL OR CAST(start_time AS DATE) BETWEEN ? AND ?)")
    tasks = _df(con, f"""
        SELECT batch_id, task_name, tenant_id, account_id, status, total_count, sent_count,
               success_count, failed_count, start_time, end_time, duration_seconds,
               messages_per_minute, failure_rate, counters_match
        FROM marts.batch_task_performance WHERE {where}
        ORDER BY start_time DESC NULLS FIRST, batch_id""", params)
    by_status = tasks.groupby("status", as_index=False).agg(tasks=("batch_id", "count"))
    return {"tasks": tasks, "by_status": by_status}


def callbacks(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, pd.DataFrame]:
    """Per day and event type. With a tenant column, a day's figures of several tenants
    are summed (the p95 as the received-weighted mean of the tenants' p95s)."""
    where, params = _callback_where(con, f)
    daily = _df(con, f"""
        SELECT stat_date, event_type, sum(received_count) AS received_count,
               sum(processed_count) AS processed_count, sum(failed_count) AS failed_count,
               sum(ignored_count) AS ignored_count, sum(pending_count) AS pending_count,
               sum(avg_processing_seconds * received_count)
                   / nullif(sum(received_count) FILTER (
                       WHERE avg_processing_seconds IS NOT NULL), 0)
                   AS avg_processing_seconds,
               sum(p95_processing_seconds * received_count)
                   / nullif(sum(received_count) FILTER (
                       WHERE p95_processing_seconds IS NOT NULL), 0)
                   AS p95_processing_seconds
        FROM marts.callback_processing_daily WHERE {where}
        GROUP BY stat_date, event_type ORDER BY stat_date, event_type""", params)
    by_type = daily.groupby("event_type", as_index=False)[
        ["received_count", "processed_count", "failed_count", "ignored_count", "pending_count"]
    ].sum()
    return {"daily": daily, "by_event_type": by_type}


def tenant_usage(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, pd.DataFrame]:
    where, params = _where(f, account=False, mtype=False)
    daily = _df(con, f"SELECT * FROM marts.tenant_usage_daily WHERE {where} "
                "ORDER BY stat_date, tenant_id", params)
    return {"daily": daily}


def account_labels(con: duckdb.DuckDBPyConnection, tenant_id: str | None) -> dict[str, str]:
    """Account id -> its label, for the account filter, ordered by label."""
    sql = f"SELECT account_id, {ACCOUNT_LABEL} AS label FROM marts.account_directory AS d"
    params: list = []
    if tenant_id:
        sql += " WHERE tenant_id = ?"
        params.append(tenant_id)
    return dict(con.execute(sql + " ORDER BY label, account_id", params).fetchall())


REPORTS: dict[str, Callable[..., dict[str, pd.DataFrame]]] = {
    "overview": overview,
    "message_stats": message_stats,
    "account_health": account_health,
    "batch_tasks": batch_tasks,
    "callbacks": callbacks,
    "tenant_usage": tenant_usage,
}
