-- marts.message_stats_daily: one row per (tenant_id, stat_date, message_type).
-- The status counts are message_stats_hourly's, summed over the day's accounts and hours
-- (not counted again); success_rate = success / (success + failed), NULL when both are 0.
-- Latency figures are computed over the day's messages themselves (a percentile of the
-- hours' percentiles would not be the day's): delivery seconds and nearest-rank
-- percentiles as in message_stats_hourly (the macros in _macros.sql).
WITH counts AS (
    SELECT
        tenant_id,
        stat_date,
        message_type,
        CAST(sum(total_count) AS BIGINT) AS total_count,
        CAST(sum(pending_count) AS BIGINT) AS pending_count,
        CAST(sum(sending_count) AS BIGINT) AS sending_count,
        CAST(sum(sent_count) AS BIGINT) AS sent_count,
        CAST(sum(delivered_count) AS BIGINT) AS delivered_count,
        CAST(sum(failed_count) AS BIGINT) AS failed_count,
        CAST(sum(cancelled_count) AS BIGINT) AS cancelled_count,
        CAST(sum(success_count) AS BIGINT) AS success_count,
        CAST(sum(retry_total) AS BIGINT) AS retry_total
    FROM message_stats_hourly
    GROUP BY ALL
),
latency AS (
    SELECT
        tenant_id,
        CAST(created_at AS DATE) AS stat_date,
        message_type,
        avg(s) AS avg_delivery_seconds,
        nearest_rank(list(s) FILTER (WHERE s IS NOT NULL), 0.50) AS p50_delivery_seconds,
        nearest_rank(list(s) FILTER (WHERE s IS NOT NULL), 0.95) AS p95_delivery_seconds
    FROM (SELECT *, delivery_seconds(send_time, callback_time) AS s FROM messages)
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
