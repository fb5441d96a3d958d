-- marts.message_stats_daily: one row per (tenant_id, stat_date, message_type).
-- Read from the aggregate message_days (sql/aggregates/message_days.sql: the day's
-- messages counted by status and by delivery seconds), not from the messages: counts add
-- up, and a histogram of whole seconds gives the same nearest-rank percentiles as the
-- sorted list of the day's delivery times (the value at rank ceil(p * n): the smallest
-- value whose cumulative count reaches that rank). A percentile of the hours'
-- percentiles would not be the day's. success_rate = success / (success + failed), NULL
-- when both are 0; success = sent + delivered.
WITH counts AS (
    SELECT
        tenant_id,
        stat_date,
        message_type,
        CAST(sum(messages) AS BIGINT) AS total_count,
        count_where(messages, status = 'pending') AS pending_count,
        count_where(messages, status = 'sending') AS sending_count,
        count_where(messages, status = 'sent') AS sent_count,
        count_where(messages, status = 'delivered') AS delivered_count,
        count_where(messages, status = 'failed') AS failed_count,
        count_where(messages, status = 'cancelled') AS cancelled_count,
        count_where(messages, status IN ('sent', 'delivered')) AS success_count,
        CAST(sum(retry_total) AS BIGINT) AS retry_total
    FROM message_days
    GROUP BY ALL
),
histogram AS (
    SELECT tenant_id, stat_date, message_type, delivery_seconds AS s, sum(messages) AS n
    FROM message_days
    WHERE delivery_seconds IS NOT NULL
    GROUP BY ALL
),
ranked AS (
    SELECT
        *,
        sum(n) OVER (PARTITION BY tenant_id, stat_date, message_type ORDER BY s) AS upto,
        sum(n) OVER (PARTITION BY tenant_id, stat_date, message_type) AS total
    FROM histogram
),
latency AS (
    SELECT
        tenant_id,
        stat_date,
        message_type,
        sum(s * n) / sum(n) AS avg_delivery_seconds,
        min(s) FILTER (WHERE upto >= ceil(0.50 * total)) AS p50_delivery_seconds,
        min(s) FILTER (WHERE upto >= ceil(0.95 * total)) AS p95_delivery_seconds
    FROM ranked
    GROUP BY ALL
)
SELECT
    c.tenant_id,
    c.stat_date,
    c.message_type,
    c.total_count,
    c.pending_count,
    c.sending_count,
    c.sent_count,
    c.delivered_count,
    c.failed_count,
    c.cancelled_count,
    c.success_count,
    c.retry_total,
    CASE WHEN c.success_count + c.failed_count > 0
         THEN c.success_count / (c.success_count + c.failed_count) END AS success_rate,
    l.avg_delivery_seconds,
    l.p50_delivery_seconds,
    l.p95_delivery_seconds
FROM counts AS c
LEFT JOIN latency AS l USING (tenant_id, stat_date, message_type)
ORDER BY c.tenant_id, c.stat_date, c.message_type
