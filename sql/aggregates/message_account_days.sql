-- agg.message_account_days: the messages counted per (tenant_id, account_id, stat_date,
-- status). Additive, kept by deltas like message_days (pipelines.aggregates): what
-- account_health_daily (sent/failed per account-day) and tenant_usage_daily (messages and
-- active accounts per tenant-day) need, ~1/10 of the messages' rows at 2M, so neither
-- reads the messages (nor the hourly mart) again for a late receipt. Input: messages
-- with _sign.
SELECT
    tenant_id,
    account_id,
    CAST(created_at AS DATE) AS stat_date,
    status,
    CAST(sum(_sign) AS BIGINT) AS messages
FROM messages
GROUP BY ALL
