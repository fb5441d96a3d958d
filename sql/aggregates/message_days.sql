-- agg.message_days: the messages counted per (tenant_id, stat_date, message_type, status,
-- delivery_seconds), with their retries. Additive: pipelines.aggregates adds the signed
-- rows an extraction changed (the old version -1, the new one +1) instead of reading the
-- day's messages again. delivery_seconds (the macro in sql/marts/_macros.sql) is a whole
-- number of seconds, so a day has a few dozen distinct values: the histogram that
-- message_stats_daily takes its exact percentiles from. Input: messages with _sign.
SELECT
    tenant_id,
    CAST(created_at AS DATE) AS stat_date,
    message_type,
    status,
    delivery_seconds(send_time, callback_time) AS delivery_seconds,
    CAST(sum(_sign) AS BIGINT) AS messages,
    CAST(sum(_sign * retry_count) AS BIGINT) AS retry_total
FROM messages
GROUP BY ALL
