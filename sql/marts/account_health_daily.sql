-- marts.account_health_daily: one row per (account_id, stat_date) for every UTC day from the
-- account's created_at to the run's as_of (getvariable('as_of'), naive UTC "now").
--
-- Status timeline: account_status_history rows ordered by id (auto-increment = order of
-- the changes). Each row starts a segment [created_at, next row's created_at or as_of)
-- with its new_status; before the first row the account had that row's old_status
-- ('created' when NULL), or, with no history at all, its current status.
-- prev_status of a row = the previous row's new_status (the first row: its old_status).
--
-- A day's window is [max(day start, account created_at), min(next day start, as_of)).
--   online_seconds        seconds of the window in status 'online'
--   uptime_ratio          online_seconds / window seconds (NULL for an empty window)
--   status_at_day_end     new_status of the highest-id change before the window's end
--   disconnect_count      changes that day from online to offline or error
--   error_count           changes that day into error
--   recover_count         changes that day into online that end an outage: the first entry
--                         into online after a disconnect
--   mean_time_to_recover_seconds  mean of (recovery time - that disconnect's time)
--   messages_sent/failed  the account's messages created that day: sent + delivered / failed
--
-- health_score (0-100, one decimal) =
--     60 * coalesce(uptime_ratio, 0)                             availability
--   + 30 * messages_sent / (messages_sent + messages_failed)     delivery (1 if none sent)
--   + 10 * (1 - least(disconnect_count + error_count, 5) / 5)    stability
WITH params AS (
    SELECT CAST(getvariable('as_of') AS TIMESTAMP) AS as_of
),
acc AS (
    SELECT a.id AS account_id, a.tenant_id, a.created_at, a.status AS current_status
    FROM wework_accounts AS a, params
    WHERE a.created_at <= params.as_of
),
h0 AS (
    SELECT s.account_id, s.id, s.created_at, s.old_status, s.new_status
    FROM account_status_history AS s, params
    WHERE s.created_at <= params.as_of
),
h1 AS (
    SELECT
        account_id, id, created_at, old_status, new_status,
        coalesce(lag(new_status) OVER w, old_status) AS prev_status,
        lead(created_at) OVER w AS next_at
    FROM h0
    WINDOW w AS (PARTITION BY account_id ORDER BY id)
),
h AS (
    SELECT
        *,
        (prev_status = 'online' AND new_status IN ('offline', 'error')) AS is_disconnect
    FROM h1
),
hr AS (
    SELECT
        *,
        max(CASE WHEN is_disconnect THEN id END) OVER w AS last_disconnect_id,
        max(CASE WHEN new_status = 'online' THEN id END) OVER w AS last_online_id
    FROM h
    WINDOW w AS (PARTITION BY account_id ORDER BY id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
first_change AS (
    SELECT account_id, arg_min(old_status, id) AS first_old, arg_min(created_at, id) AS first_at
    FROM h
    GROUP BY account_id
),
initial AS (
    SELECT
        a.account_id,
        a.created_at AS seg_start,
        coalesce(f.first_at, params.as_of) AS seg_end,
        CASE WHEN f.account_id IS NULL THEN a.current_status
             ELSE coalesce(f.first_old, 'created') END AS status
    FROM acc AS a
    CROSS JOIN params
    LEFT JOIN first_change AS f ON f.account_id = a.account_id
),
seg AS (
    SELECT account_id, seg_start, seg_end, status FROM initial
    UNION ALL
    SELECT h.account_id, h.created_at, coalesce(h.next_at, params.as_of), h.new_status
    FROM h, params
),
days AS (
    SELECT
        account_id,
        tenant_id,
        current_status,
        CAST(d AS DATE) AS stat_date,
        greatest(d, created_at) AS win_start,
        least(d + INTERVAL 1 DAY, as_of) AS win_end
    FROM (
        SELECT a.*, params.as_of,
               unnest(generate_series(date_trunc('day', a.created_at),
                                      date_trunc('day', params.as_of),
                                      INTERVAL 1 DAY)) AS d
        FROM acc AS a, params
    )
),
online AS (
    SELECT
        d.account_id,
        d.stat_date,
        sum(greatest(0, epoch(least(s.seg_end, d.win_end))
                        - epoch(greatest(s.seg_start, d.win_start)))) AS online_seconds
    FROM days AS d
    JOIN seg AS s
      ON s.account_id = d.account_id AND s.status = 'online'
     AND s.seg_start < d.win_end AND s.seg_end > d.win_start
    GROUP BY ALL
),
day_end AS (
    SELECT d.account_id, d.stat_date, arg_max(h.new_status, h.id) AS status_at_day_end
    FROM days AS d
    JOIN h ON h.account_id = d.account_id AND h.created_at < d.win_end
    GROUP BY ALL
),
recoveries AS (
    SELECT
        r.account_id,
        CAST(r.created_at AS DATE) AS stat_date,
        epoch(r.created_at) - epoch(dc.created_at) AS recover_seconds
    FROM hr AS r
    JOIN h AS dc ON dc.account_id = r.account_id AND dc.id = r.last_disconnect_id
    WHERE r.new_status = 'online'
      AND r.prev_status <> 'online'
      AND r.last_disconnect_id > coalesce(r.last_online_id, 0)
),
changes AS (
    SELECT
        account_id,
        CAST(created_at AS DATE) AS stat_date,
        count(*) FILTER (WHERE is_disconnect) AS disconnect_count,
        count(*) FILTER (WHERE new_status = 'error') AS error_count
    FROM h
    GROUP BY ALL
),
rec AS (
    SELECT account_id, stat_date, count(*) AS recover_count,
           avg(recover_seconds) AS mean_time_to_recover_seconds
    FROM recoveries
    GROUP BY ALL
),
msg AS (
    -- From the aggregate message_account_days (messages per account-day and status).
    SELECT
        account_id,
        stat_date,
        CAST(sum(messages) FILTER (WHERE status IN ('sent', 'delivered')) AS BIGINT)
            AS messages_sent,
        CAST(sum(messages) FILTER (WHERE status = 'failed') AS BIGINT) AS messages_failed
    FROM message_account_days
    GROUP BY ALL
),
joined AS (
    SELECT
        d.account_id,
        d.stat_date,
        d.tenant_id,
        coalesce(de.status_at_day_end, i.status) AS status_at_day_end,
        coalesce(o.online_seconds, 0) AS online_seconds,
        epoch(d.win_end) - epoch(d.win_start) AS window_seconds,
        coalesce(c.disconnect_count, 0) AS disconnect_count,
        coalesce(c.error_count, 0) AS error_count,
        coalesce(r.recover_count, 0) AS recover_count,
        r.mean_time_to_recover_seconds,
        coalesce(m.messages_sent, 0) AS messages_sent,
        coalesce(m.messages_failed, 0) AS messages_failed
    FROM days AS d
    LEFT JOIN online AS o USING (account_id, stat_date)
    LEFT JOIN day_end AS de USING (account_id, stat_date)
    LEFT JOIN changes AS c USING (account_id, stat_date)
    LEFT JOIN rec AS r USING (account_id, stat_date)
    LEFT JOIN msg AS m USING (account_id, stat_date)
    JOIN initial AS i ON i.account_id = d.account_id
),
scored AS (
    SELECT
        *,
        CASE WHEN window_seconds > 0 THEN online_seconds / window_seconds END AS uptime_ratio
    FROM joined
)
SELECT
    account_id,
    stat_date,
    tenant_id,
    status_at_day_end,
    online_seconds,
    uptime_ratio,
    disconnect_count,
    error_count,
    recover_count,
    mean_time_to_recover_seconds,
    messages_sent,
    messages_failed,
    round(
        60 * coalesce(uptime_ratio, 0)
        + 30 * CASE WHEN messages_sent + messages_failed > 0
                    THEN messages_sent / (messages_sent + messages_failed) ELSE 1 END
        + 10 * (1 - least(disconnect_count + error_count, 5) / 5),
        1
    ) AS health_score
FROM scored
ORDER BY account_id, stat_date
