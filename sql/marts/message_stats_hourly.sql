-- marts.message_stats_hourly: one row per (tenant_id, account_id, stat_date, stat_hour,
-- message_type).
-- Bucketed by the message's created_at in UTC (as the spec's statistics trigger does).
-- success = sent + delivered. delivery seconds = callback_time - send_time, over the
-- messages that have both. Percentiles are nearest-rank: the value at rank ceil(p * n)
-- of the n sorted delivery times (an exact value that MySQL can reproduce).
WITH m AS (
    SELECT
        tenant_id,
        account_id,
        CAST(created_at AS DATE) AS stat_date,
        CAST(hour(created_at) AS INTEGER) AS stat_hour,
        message_type,
        status,
        retry_count,
        delivery_seconds(send_time, callback_time) AS delivery_seconds
    FROM messages
)
SELECT
    tenant_id,
    account_id,
    stat_date,
    stat_hour,
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
    nearest_rank(list(delivery_seconds) FILTER (WHERE delivery_seconds IS NOT NULL), 0.50)
        AS p50_delivery_seconds,
    nearest_rank(list(delivery_seconds) FILTER (WHERE delivery_seconds IS NOT NULL), 0.95)
        AS p95_delivery_seconds
FROM m
GROUP BY ALL
ORDER BY tenant_id, account_id, stat_date, stat_hour, message_type
