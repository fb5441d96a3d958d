-- marts.callback_processing_daily: one row per (stat_date, event_type), the day being the
-- UTC date of received_time. received_count counts every event received that day;
-- processed/failed/ignored count them by current status, pending_count those still
-- received/processing. processing seconds = process_time - received_time over events that
-- have a process_time; p95 is nearest-rank (rank ceil(0.95 * n) of the sorted values).
WITH e AS (
    SELECT
        CAST(received_time AS DATE) AS stat_date,
        event_type,
        status,
        CASE WHEN process_time IS NOT NULL
             THEN epoch(process_time) - epoch(received_time) END AS processing_seconds
    FROM callback_events
)
SELECT
    stat_date,
    event_type,
    count(*) AS received_count,
    count(*) FILTER (WHERE status = 'processed') AS processed_count,
    count(*) FILTER (WHERE status = 'failed') AS failed_count,
    count(*) FILTER (WHERE status = 'ignored') AS ignored_count,
    count(*) FILTER (WHERE status IN ('received', 'processing')) AS pending_count,
    avg(processing_seconds) AS avg_processing_seconds,
    nearest_rank(list(processing_seconds) FILTER (WHERE processing_seconds IS NOT NULL), 0.95)
        AS p95_processing_seconds
FROM e
GROUP BY ALL
ORDER BY stat_date, event_type
