-- marts.batch_task_performance: one row per batch task.
-- Counters are the task's own (total/sent/success/failed_count); message_* columns count
-- the task's messages (messages.batch_id) by status (success = sent + delivered).
-- duration_seconds = end_time - start_time (NULL until both are set);
-- messages_per_minute = sent_count / duration in minutes (NULL when duration is 0/NULL);
-- failure_rate = failed_count / (success_count + failed_count), NULL when both are 0;
-- counters_match: the task's counters equal what its messages say, in the batch
-- service's terms (wework.services.batches): total_count = messages not cancelled,
-- sent_count = sent + delivered, success_count = delivered, failed_count = failed.
-- rate_per_minute: the send strategy's per-account rate (NULL when none is set).
WITH msg AS (
    SELECT
        batch_id,
        count(*) AS message_count,
        count(*) FILTER (WHERE status IN ('sent', 'delivered')) AS message_success_count,
        count(*) FILTER (WHERE status = 'failed') AS message_failed_count,
        count(*) FILTER (WHERE status <> 'cancelled') AS service_total,
        count(*) FILTER (WHERE status = 'delivered') AS service_success
    FROM messages
    WHERE batch_id IS NOT NULL
    GROUP BY batch_id
)
SELECT
    t.id AS batch_id,
    t.tenant_id,
    t.account_id,
    t.task_name,
    t.status,
    t.total_count,
    t.sent_count,
    t.success_count,
    t.failed_count,
    t.start_time,
    t.end_time,
    epoch(t.end_time) - epoch(t.start_time) AS duration_seconds,
    CASE WHEN epoch(t.end_time) - epoch(t.start_time) > 0
         THEN t.sent_count / ((epoch(t.end_time) - epoch(t.start_time)) / 60.0)
    END AS messages_per_minute,
    CASE WHEN t.success_count + t.failed_count > 0
         THEN t.failed_count / (t.success_count + t.failed_count) END AS failure_rate,
    coalesce(msg.message_count, 0) AS message_count,
    coalesce(msg.message_success_count, 0) AS message_success_count,
    coalesce(msg.message_failed_count, 0) AS message_failed_count,
    (t.total_count = coalesce(msg.service_total, 0)
        AND t.sent_count = coalesce(msg.message_success_count, 0)
        AND t.success_count = coalesce(msg.service_success, 0)
        AND t.failed_count = coalesce(msg.message_failed_count, 0)) AS counters_match,
    try_cast(json_extract_string(t.send_strategy, '$.rate_per_minute') AS INTEGER)
        AS rate_per_minute
FROM batch_send_tasks AS t
LEFT JOIN msg ON msg.batch_id = t.id
ORDER BY t.tenant_id, t.created_at, t.id
