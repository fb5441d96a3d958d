-- marts.tenant_usage_daily: one row per (tenant_id, stat_date), for every UTC day from the
-- tenant's creation (or its first message, if earlier) to the run's as_of
-- (getvariable('as_of')) or its last message, if later.
--   messages_created       the tenant's messages created that day
--   max_daily_messages     the tenant's current limit
--   daily_quota_ratio      messages_created / max_daily_messages (NULL when the limit is 0)
--   over_daily_quota       messages_created > max_daily_messages
--   active_accounts        distinct accounts that created a message that day
--   accounts               the tenant's accounts that existed by the end of the day
--   max_accounts           the tenant's current limit
--   accounts_quota_ratio   accounts / max_accounts (NULL when the limit is 0)
WITH params AS (
    SELECT CAST(getvariable('as_of') AS TIMESTAMP) AS as_of
),
msg AS (
    -- From the aggregate message_account_days (messages per account-day and status; a
    -- group whose count reaches 0 is dropped, so every account in it sent that day).
    SELECT
        tenant_id,
        stat_date,
        CAST(sum(messages) AS BIGINT) AS messages_created,
        count(DISTINCT account_id) AS active_accounts
    FROM message_account_days
    GROUP BY ALL
),
bounds AS (
    SELECT
        t.id AS tenant_id,
        t.max_daily_messages,
        t.max_accounts,
        least(CAST(t.created_at AS DATE), min(m.stat_date)) AS first_day,
        greatest(CAST(params.as_of AS DATE), max(m.stat_date)) AS last_day
    FROM tenants AS t
    CROSS JOIN params
    LEFT JOIN msg AS m ON m.tenant_id = t.id
    GROUP BY t.id, t.max_daily_messages, t.max_accounts, t.created_at, params.as_of
),
days AS (
    SELECT
        tenant_id, max_daily_messages, max_accounts,
        CAST(unnest(generate_series(first_day, last_day, INTERVAL 1 DAY)) AS DATE) AS stat_date
    FROM bounds
),
accounts AS (
    SELECT d.tenant_id, d.stat_date, count(a.id) AS accounts
    FROM days AS d
    LEFT JOIN wework_accounts AS a
      ON a.tenant_id = d.tenant_id AND a.created_at < d.stat_date + INTERVAL 1 DAY
    GROUP BY ALL
)
SELECT
    d.tenant_id,
    d.stat_date,
    coalesce(m.messages_created, 0) AS messages_created,
    d.max_daily_messages,
    CASE WHEN d.max_daily_messages > 0
         THEN coalesce(m.messages_created, 0) / d.max_daily_messages END AS daily_quota_ratio,
    coalesce(m.messages_created, 0) > d.max_daily_messages AS over_daily_quota,
    coalesce(m.active_accounts, 0) AS active_accounts,
    a.accounts,
    d.max_accounts,
    CASE WHEN d.max_accounts > 0 THEN a.accounts / d.max_accounts END AS accounts_quota_ratio
FROM days AS d
JOIN accounts AS a USING (tenant_id, stat_date)
LEFT JOIN msg AS m USING (tenant_id, stat_date)
ORDER BY d.tenant_id, d.stat_date
