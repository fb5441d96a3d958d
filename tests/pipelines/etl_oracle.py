"""Every mart computed independently, directly in MySQL (MariaDB), on the same data.

Written differently from the DuckDB SQL on purpose (correlated subqueries, recursive date
series, ROW_NUMBER for nearest-rank percentiles) so a shared mistake is unlikely.
Percentiles: the value at rank CEIL(p * n) of the sorted values (nearest rank).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, text


def _pct(p: float, value: str = "v") -> str:
    return f"MAX(CASE WHEN rn = CEIL({p} * n) THEN {value} END)"


def _ranked(select: str, group: str) -> str:
    """Rows of ``select`` (must yield column v) with rn / n over non-NULL v per group."""
    return (
        f"SELECT x.*, CASE WHEN v IS NOT NULL THEN ROW_NUMBER() OVER "
        f"(PARTITION BY {group}, v IS NULL ORDER BY v) END AS rn, "
        f"COUNT(v) OVER (PARTITION BY {group}) AS n FROM ({select}) x"
    )


STATUS_COUNTS = """
    COUNT(*) AS total_count,
    SUM(status = 'pending') AS pending_count,
    SUM(status = 'sending') AS sending_count,
    SUM(status = 'sent') AS sent_count,
    SUM(status = 'delivered') AS delivered_count,
    SUM(status = 'failed') AS failed_count,
    SUM(status = 'cancelled') AS cancelled_count,
    SUM(status IN ('sent', 'delivered')) AS success_count,
    SUM(retry_count) AS retry_total
"""

MESSAGES_V = """
    SELECT tenant_id, account_id, DATE(created_at) AS stat_date, HOUR(created_at) AS stat_hour,
           CAST(message_type AS CHAR) AS message_type, CAST(status AS CHAR) AS status,
           retry_count,
           CASE WHEN send_time IS NOT NULL AND callback_time IS NOT NULL
                THEN TIMESTAMPDIFF(SECOND, send_time, callback_time) END AS v
    FROM messages
"""


def message_stats_hourly() -> str:
    g = "tenant_id, account_id, stat_date, stat_hour, message_type"
    return f"""
        SELECT {g}, {STATUS_COUNTS}, AVG(v) AS avg_delivery_seconds,
               {_pct(0.5)} AS p50_delivery_seconds, {_pct(0.95)} AS p95_delivery_seconds
        FROM ({_ranked(MESSAGES_V, g)}) r GROUP BY {g}
    """


def message_stats_daily() -> str:
    g = "tenant_id, stat_date, message_type"
    return f"""
        SELECT {g}, {STATUS_COUNTS},
               SUM(status IN ('sent', 'delivered'))
                 / NULLIF(SUM(status IN ('sent', 'delivered', 'failed')), 0) AS success_rate,
               AVG(v) AS avg_delivery_seconds,
               {_pct(0.5)} AS p50_delivery_seconds, {_pct(0.95)} AS p95_delivery_seconds
        FROM ({_ranked(MESSAGES_V, g)}) r GROUP BY {g}
    """


def callback_processing_daily() -> str:
    events = """
        SELECT DATE(received_time) AS stat_date, event_type, CAST(status AS CHAR) AS status,
               TIMESTAMPDIFF(SECOND, received_time, process_time) AS v
        FROM callback_events
    """
    g = "stat_date, event_type"
    return f"""
        SELECT {g}, COUNT(*) AS received_count, SUM(status = 'processed') AS processed_count,
               SUM(status = 'failed') AS failed_count, SUM(status = 'ignored') AS ignored_count,
               SUM(status IN ('received', 'processing')) AS pending_count,
               AVG(v) AS avg_processing_seconds, {_pct(0.95)} AS p95_processing_seconds
        FROM ({_ranked(events, g)}) r GROUP BY {g}
    """


def batch_task_performance() -> str:
    return """
        SELECT t.id AS batch_id, t.tenant_id, t.account_id, t.task_name,
               CAST(t.status AS CHAR) AS status, t.total_count, t.sent_count,
               t.success_count, t.failed_count, t.start_time, t.end_time,
               TIMESTAMPDIFF(SECOND, t.start_time, t.end_time) AS duration_seconds,
               t.sent_count * 60 / NULLIF(TIMESTAMPDIFF(SECOND, t.start_time, t.end_time), 0)
                   AS messages_per_minute,
               t.failed_count / NULLIF(t.success_count + t.failed_count, 0) AS failure_rate,
               (SELECT COUNT(*) FROM messages m WHERE m.batch_id = t.id) AS message_count,
               (SELECT COUNT(*) FROM messages m WHERE m.batch_id = t.id
                  AND m.status IN ('sent', 'delivered')) AS message_success_count,
               (SELECT COUNT(*) FROM messages m WHERE m.batch_id = t.id
                  AND m.status = 'failed') AS message_failed_count,
               (SELECT COUNT(*) FROM messages m WHERE m.batch_id = t.id
                  AND m.status <> 'cancelled') AS service_total,
               (SELECT COUNT(*) FROM messages m WHERE m.batch_id = t.id
                  AND m.status = 'delivered') AS service_success,
               CAST(JSON_VALUE(t.send_strategy, '$.rate_per_minute') AS SIGNED)
                  AS rate_per_minute
        FROM batch_send_tasks t
    """


def tenant_usage_daily() -> str:
    return """
        WITH RECURSIVE bounds AS (
            SELECT t.id AS tenant_id,
                   LEAST(DATE(t.created_at), COALESCE((SELECT MIN(DATE(m.created_at))
                       FROM messages m WHERE m.tenant_id = t.id), DATE(t.created_at))) AS d0,
                   GREATEST(DATE(:as_of), COALESCE((SELECT MAX(DATE(m.created_at))
                       FROM messages m WHERE m.tenant_id = t.id), DATE(:as_of))) AS d1
            FROM tenants t
        ),
        days AS (
            SELECT tenant_id, d0 AS stat_date, d1 FROM bounds
            UNION ALL
            SELECT tenant_id, stat_date + INTERVAL 1 DAY, d1 FROM days WHERE stat_date < d1
        )
        SELECT d.tenant_id, d.stat_date,
               (SELECT COUNT(*) FROM messages m WHERE m.tenant_id = d.tenant_id
                  AND DATE(m.created_at) = d.stat_date) AS messages_created,
               t.max_daily_messages,
               (SELECT COUNT(*) FROM messages m WHERE m.tenant_id = d.tenant_id
                  AND DATE(m.created_at) = d.stat_date) / NULLIF(t.max_daily_messages, 0)
                   AS daily_quota_ratio,
               (SELECT COUNT(DISTINCT m.account_id) FROM messages m
                  WHERE m.tenant_id = d.tenant_id AND DATE(m.created_at) = d.stat_date)
                   AS active_accounts,
               (SELECT COUNT(*) FROM wework_accounts a WHERE a.tenant_id = d.tenant_id
                  AND a.created_at < d.stat_date + INTERVAL 1 DAY) AS accounts,
               t.max_accounts
        FROM days d JOIN tenants t ON t.id = d.tenant_id
    """


def account_health_daily() -> str:
    return """
        WITH RECURSIVE
        h AS (
            SELECT s.account_id, s.id, s.created_at, s.new_status,
                   COALESCE(LAG(s.new_status) OVER (PARTITION BY s.account_id ORDER BY s.id),
                            s.old_status) AS prev_status,
                   LEAD(s.created_at) OVER (PARTITION BY s.account_id ORDER BY s.id) AS next_at
            FROM account_status_history s WHERE s.created_at <= :as_of
        ),
        hd AS (
            SELECT h.*, (prev_status = 'online' AND new_status IN ('offline', 'error')) AS disc
            FROM h
        ),
        acc AS (
            SELECT a.id AS account_id, a.tenant_id, a.created_at,
                   COALESCE(
                     (SELECT COALESCE(s.old_status, 'created') FROM account_status_history s
                      WHERE s.account_id = a.id AND s.created_at <= :as_of
                      ORDER BY s.id LIMIT 1),
                     CAST(a.status AS CHAR)) AS initial_status,
                   COALESCE((SELECT s.created_at FROM account_status_history s
                      WHERE s.account_id = a.id AND s.created_at <= :as_of
                      ORDER BY s.id LIMIT 1), :as_of) AS initial_end
            FROM wework_accounts a WHERE a.created_at <= :as_of
        ),
        seg AS (
            SELECT account_id, created_at AS s0, initial_end AS s1,
                   CAST(initial_status AS CHAR) COLLATE utf8mb4_unicode_ci AS st FROM acc
            UNION ALL
            SELECT account_id, created_at, COALESCE(next_at, :as_of),
                   CAST(new_status AS CHAR) COLLATE utf8mb4_unicode_ci FROM h
        ),
        days AS (
            SELECT account_id, tenant_id, created_at, DATE(created_at) AS stat_date FROM acc
            UNION ALL
            SELECT account_id, tenant_id, created_at, stat_date + INTERVAL 1 DAY FROM days
            WHERE stat_date < DATE(:as_of)
        ),
        win AS (
            SELECT d.*, GREATEST(CAST(d.stat_date AS DATETIME), d.created_at) AS w0,
                   LEAST(CAST(d.stat_date AS DATETIME) + INTERVAL 1 DAY, :as_of) AS w1
            FROM days d
        ),
        rec AS (
            SELECT r.account_id, DATE(r.created_at) AS stat_date,
                   TIMESTAMPDIFF(SECOND,
                     (SELECT x.created_at FROM hd x WHERE x.account_id = r.account_id
                        AND x.disc AND x.id < r.id ORDER BY x.id DESC LIMIT 1),
                     r.created_at) AS secs
            FROM hd r
            WHERE r.new_status = 'online' AND r.prev_status <> 'online'
              AND (SELECT MAX(x.id) FROM hd x WHERE x.account_id = r.account_id AND x.disc
                     AND x.id < r.id)
                  > COALESCE((SELECT MAX(y.id) FROM hd y WHERE y.account_id = r.account_id
                     AND y.new_status = 'online' AND y.id < r.id), 0)
        )
        SELECT w.account_id, w.stat_date, w.tenant_id,
               COALESCE((SELECT s.new_status FROM account_status_history s
                          WHERE s.account_id = w.account_id AND s.created_at < w.w1
                          ORDER BY s.id DESC LIMIT 1),
                        (SELECT a.initial_status FROM acc a WHERE a.account_id = w.account_id))
                   AS status_at_day_end,
               COALESCE((SELECT SUM(GREATEST(0, TIMESTAMPDIFF(SECOND, GREATEST(g.s0, w.w0),
                                                            LEAST(g.s1, w.w1))))
                         FROM seg g WHERE g.account_id = w.account_id AND g.st = 'online'), 0)
                   AS online_seconds,
               TIMESTAMPDIFF(SECOND, w.w0, w.w1) AS window_seconds,
               (SELECT COUNT(*) FROM hd x WHERE x.account_id = w.account_id AND x.disc
                  AND DATE(x.created_at) = w.stat_date) AS disconnect_count,
               (SELECT COUNT(*) FROM hd x WHERE x.account_id = w.account_id
                  AND x.new_status = 'error' AND DATE(x.created_at) = w.stat_date) AS error_count,
               (SELECT COUNT(*) FROM rec WHERE rec.account_id = w.account_id
                  AND rec.stat_date = w.stat_date) AS recover_count,
               (SELECT AVG(secs) FROM rec WHERE rec.account_id = w.account_id
                  AND rec.stat_date = w.stat_date) AS mean_time_to_recover_seconds,
               (SELECT COUNT(*) FROM messages m WHERE m.account_id = w.account_id
                  AND DATE(m.created_at) = w.stat_date AND m.status IN ('sent', 'delivered'))
                   AS messages_sent,
               (SELECT COUNT(*) FROM messages m WHERE m.account_id = w.account_id
                  AND DATE(m.created_at) = w.stat_date AND m.status = 'failed')
                   AS messages_failed
        FROM win w
    """


def account_directory() -> str:
    return """
        SELECT a.id AS account_id, a.tenant_id, t.tenant_code, t.tenant_name,
               a.account_name, CONCAT(a.account_name, ' · ', RIGHT(a.id, 6)) AS account_label,
               a.status, a.created_at
        FROM wework_accounts a LEFT JOIN tenants t ON t.id = a.tenant_id
    """


def alert_history() -> str:
    # Each notice up to as_of is mapped to the first firing notice (repeat 0) at or before
    # it in (at, id) order: its episode's start.
    started = """
        SELECT x.*, (SELECT f.id FROM alert_notices f
                     WHERE f.alert_id = x.alert_id AND f.kind = 'firing' AND f.`repeat` = 0
                       AND f.at <= :as_of AND (f.at, f.id) <= (x.at, x.id)
                     ORDER BY f.at DESC, f.id DESC LIMIT 1) AS start_id
        FROM alert_notices x WHERE x.at <= :as_of
    """
    return f"""
        SELECT f.alert_id,
               (SELECT COUNT(*) FROM alert_notices p
                WHERE p.alert_id = f.alert_id AND p.kind = 'firing' AND p.`repeat` = 0
                  AND p.at <= :as_of AND (p.at, p.id) <= (f.at, f.id)) AS episode,
               f.rule, f.subject, f.tenant_id, f.severity, f.at AS start_time,
               MIN(CASE WHEN e.kind = 'resolved' THEN e.at END) AS end_time,
               TIMESTAMPDIFF(SECOND, f.at, MIN(CASE WHEN e.kind = 'resolved' THEN e.at END))
                   AS duration_seconds,
               SUM(e.kind = 'firing' AND e.`repeat` > 0) AS repeat_notices,
               f.value AS fired_value, f.summary AS fired_summary
        FROM ({started}) e JOIN alert_notices f ON f.id = e.start_id
        GROUP BY f.id, f.alert_id, f.rule, f.subject, f.tenant_id, f.severity, f.at,
                 f.value, f.summary
    """


# One independent computation per registered mart (a test fails when one is missing).
ORACLES = {
    "message_stats_hourly": message_stats_hourly,
    "message_stats_daily": message_stats_daily,
    "account_health_daily": account_health_daily,
    "batch_task_performance": batch_task_performance,
    "callback_processing_daily": callback_processing_daily,
    "tenant_usage_daily": tenant_usage_daily,
    "account_directory": account_directory,
    "alert_history": alert_history,
}


def oracle_rows(engine: Engine, mart: str, as_of: datetime) -> list[dict]:
    sql = ORACLES[mart]()
    with engine.connect() as conn:
        # MariaDB rounds AVG and / to 4 decimals by default; DuckDB computes doubles.
        conn.execute(text("SET SESSION div_precision_increment = 30"))
        return [dict(r) for r in conn.execute(text(sql), {"as_of": as_of}).mappings()]
