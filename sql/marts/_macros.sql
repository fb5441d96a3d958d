-- Macros the mart SQL shares (loaded by pipelines.marts before any mart is built).
-- Inputs: every mart reads its inputs by bare name (messages, tenants, wework_accounts,
-- account_status_history, batch_send_tasks, callback_events, or another mart): the
-- builder binds each name to raw.<table> (or marts.<mart>), cut down to the slices
-- being recomputed (pipelines.registry.Input).

-- Seconds from send to delivery receipt; NULL unless both are set.
CREATE OR REPLACE TEMP MACRO delivery_seconds(send_time, callback_time) AS
    CASE WHEN send_time IS NOT NULL AND callback_time IS NOT NULL
         THEN epoch(callback_time) - epoch(send_time) END;

-- Nearest-rank percentile: the value at rank ceil(p * n) of the n sorted non-NULL values
-- (an exact value that MySQL can reproduce); NULL when there are none.
CREATE OR REPLACE TEMP MACRO nearest_rank(vals, p) AS
    list_sort(vals)[CAST(ceil(p * len(vals)) AS BIGINT)];

-- Sum of ``n`` over the rows where ``cond`` holds, 0 when none do (an aggregate's counts
-- by status: message_stats_daily reads them from agg.message_days).
CREATE OR REPLACE TEMP MACRO count_where(n, cond) AS
    CAST(coalesce(sum(n) FILTER (WHERE cond), 0) AS BIGINT);
