-- marts.message_stats_daily: one row per (tenant_id, stat_date, message_type).
-- The counts of message_stats_hourly summed over the day's accounts and hours;
-- success_rate = success / (success + failed), NULL when both are 0. Latency figures are
-- computed over the day's messages themselves (not averaged from hours): delivery
-- seconds = callback_time - send_time where both are set; nearest-rank percentiles
-- (rank ceil(p * n) of the sorted values).
WITH m AS (
    SELECT
        tenant_id,
        CAST(created_at AS DATE) AS stat_date,
        message_type,
        status,
        retry_count,
        CASE WHEN send_time IS NOT NULL AND callback_time IS NOT NULL
             THEN epoch(callback_time) - epoch(send_time) END AS delivery_seconds
    FROM raw.messages
),
d AS (
    SELECT
        tenant_id,
        stat_date,
        message_type,
        count(*) AS total_count,
        count(*) FILTER (WHERE status = 'pending') AS pending_count,
        count(*) FILTER (WHERE status = 'sending') AS sending_count,
        count(*) FILTER (WHERE status = 'sent') AS sent_count,
        count(*) FILTER (WHERE status = 'delivered') AS delivered_count,
        count(*) FILTER (WHERE status = 'failed') AS failed_count,
        count(*) FILTER (WHERE status = 'cancelled') AS cancelled_count,
        count(*) FILTER (WHERE status IN ('sent', 'delivered')) AS success_count,
        CAST(sum(retry_count) AS BIGINT) AS retry_total,
        avg(delivery_seconds) AS avg_delivery_seconds,
        list_sort(list(delivery_seconds) FILTER (WHERE delivery_seconds IS NOT NULL))
            [CAST(ceil(0.50 * count(delivery_seconds)) AS BIGINT)] AS p50_delivery_seconds,
        list_sort(list(delivery_seconds) FILTER (WHERE delivery_seconds IS NOT NULL))
            [CAST(ceil(0.95 * count(delivery_seconds)) AS BIGINT)] AS p95_delivery_seconds
    FROM m
    GROUP BY ALL
)
SELECT
    tenant_id,
    stat_date,
    message_type,
    total_count,
    pending_count,
    sending_count,
    sent_count,
    delivered_count,
    failed_count,
    cancelled_count,
    success_count,
    retry_total,
    CASE WHEN success_count + failed_count > 0
         THEN success_count / (success_count + failed_count) END AS success_rate,
    avg_delivery_seconds,
    p50_delivery_seconds,
    p95_delivery_seconds
FROM d
ORDER BY tenant_id, stat_date, message_type
