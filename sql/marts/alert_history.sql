-- marts.alert_history: one row per firing episode of an operator alert (wework.alerts),
-- from the alert_notices written up to as_of. An episode starts with a first firing
-- notice (repeat = 0) and ends with the resolved notice that follows it; the notices of
-- one alert (rule + subject) are taken in time order (at, then id: ids are UUIDv7).
-- start_time = fired, end_time = resolved (NULL: still firing at as_of);
-- duration_seconds = end_time - start_time (NULL while firing);
-- repeat_notices = firing notices repeated while it fired (the rule's repeat interval);
-- fired_value / fired_summary: the value and text of the first firing notice.
-- Pending (not yet fired) conditions send no notice and are not episodes.
WITH n AS (
    SELECT
        *,
        CAST(sum(CASE WHEN kind = 'firing' AND "repeat" = 0 THEN 1 ELSE 0 END)
            OVER (PARTITION BY alert_id ORDER BY "at", id
                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS INTEGER) AS episode
    FROM alert_notices
    WHERE "at" <= getvariable('as_of')
)
SELECT
    alert_id,
    episode,
    any_value(rule) AS rule,
    any_value(subject) AS subject,
    any_value(tenant_id) AS tenant_id,
    arg_min(severity, "at") FILTER (WHERE kind = 'firing') AS severity,
    min("at") FILTER (WHERE kind = 'firing' AND "repeat" = 0) AS start_time,
    min("at") FILTER (WHERE kind = 'resolved') AS end_time,
    epoch(min("at") FILTER (WHERE kind = 'resolved'))
        - epoch(min("at") FILTER (WHERE kind = 'firing' AND "repeat" = 0)) AS duration_seconds,
    count(*) FILTER (WHERE kind = 'firing' AND "repeat" > 0) AS repeat_notices,
    arg_min("value", "at") FILTER (WHERE kind = 'firing') AS fired_value,
    arg_min(summary, "at") FILTER (WHERE kind = 'firing') AS fired_summary
FROM n
WHERE episode > 0
GROUP BY alert_id, episode
ORDER BY start_time, alert_id
