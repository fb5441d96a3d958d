# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
#   wework:
#     title: Platform operations
#     reads: [alert_history, account_directory]
#     platform_only: true
# ---

# %% [markdown]
# # 5 · Platform operations
#
# **Question.** How healthy was the platform's database tier over the period — replica
# lag, the statements that cost the most time, connections and buffer-pool hit rate,
# partition headroom and backup age — and which operator alerts fired, how long they took
# to resolve and which still fire?
#
# A platform-wide report for operators (`platform_only`): it is never built for a tenant,
# and the app does not list it for one.
#
# Sources, and why:
#
# - **Alert history**: `marts.alert_history`, one row per firing episode of an operator
#   alert (`wework.alerts`: from its firing notice to the resolved one). The alerts live in
#   MariaDB (`alert_notices`); like every other table the notebooks read, they reach the
#   warehouse through the extraction (facts only: the webhook delivery state stays out),
#   so the report is reproducible from one published snapshot, needs no database login,
#   and is rebuilt when the alert history changes. `marts.account_directory` names the
#   tenants of tenant-scoped alerts by their code.
# - **Time series**: the metrics store, where the worker's `db_monitor` job records the
#   database's health every minute (`wework.metrics.database`). They are read as of the
#   report's period with `wework.metrics.query.over_range`: the store aggregates (per hour
#   or per day), so a month of per-minute points never comes back raw. They are not
#   copied into the warehouse: they already live in a time-series store, with its own
#   retention (90 days in the local VictoriaMetrics). The queries are MetricsQL
#   (VictoriaMetrics); a store that does not speak it refuses them. When the store is
#   off, unreachable or empty for the period, or refuses a query, each section says
#   "no data" and why; the report still builds. Because the store is not a mart, a
#   report is rebuilt when the alert history or the period changes (at least daily), not
#   on every new point.
#
# Thresholds (replica lag, partition headroom, backup RPO) are those of the alert rules in
# force (`alerts/rules.yaml` with the deployment's overrides).

# %% tags=["parameters"]
# Report parameters: Dagster (papermill) injects each run's values in a cell after this one.
tenant_id = None  # one tenant's id, or None for the whole platform
period_days = 30  # whole UTC days covered, ending on period_end
period_end = None  # "YYYY-MM-DD", or None for the day of the marts' as_of

# %%
from datetime import UTC, datetime, time, timedelta

import plotly.express as px
import polars as pl
from IPython.display import display
from nbhelpers import Marts, code, findings, has, num, pct, say, show

from wework.alerts.rules import RuleError, load_rules
from wework.metrics.query import MetricsQueryError, MetricsQueryRefused, over_range
from wework.reports.scope import ScopeError

if tenant_id:
    raise ScopeError("05_operations is a platform-wide report: it is not built per tenant")

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
marts = Marts(None, period_days, period_end)
say(marts.describe())
START = datetime.combine(marts.period.start, time(), UTC)
END = datetime.combine(marts.period.end, time(), UTC) + DAY
AS_OF = (marts.as_of or datetime.now(UTC).replace(tzinfo=None)).replace(tzinfo=UTC)

# The thresholds of the rules in force; the rules file's defaults if it does not load.
LIMITS = {
    "replica_lag": 1.0,
    "partition_headroom": 30.0,
    "backup_full_age": 86400.0,
    "backup_recovery_point_age": 900.0,
}
try:
    for rule in load_rules():
        if rule.name in LIMITS:
            LIMITS[rule.name] = rule.threshold
except RuleError as e:
    say(f"The alert rules do not load ({code(str(e))}): the default thresholds are used.")
LAG_LIMIT = LIMITS["replica_lag"]

# %%
METRICS: dict[str, str | None] = {"error": None}  # the store is off or down: no more tries
REFUSED: dict[str, str] = {}  # query -> why the store refused it


def metric(query: str, step: timedelta) -> pl.DataFrame:
    """``query`` over the period, one value per ``step``, each labelled by the start of
    the window it covers; empty when the store is off, has nothing or refuses it."""
    if METRICS["error"] is None:
        try:
            frame = over_range(query, START + step, END, step)
        except MetricsQueryRefused as e:
            REFUSED[query] = str(e)
        except MetricsQueryError as e:
            METRICS["error"] = str(e)
        else:
            return frame.filter(pl.col("value").is_not_nan()).with_columns(
                (pl.col("time") - step).alias("time")
            )
    return pl.DataFrame(schema={"time": pl.Datetime("ms", "UTC"), "value": pl.Float64})


def no_series(what: str, *queries: str) -> str:
    refused = [REFUSED[q] for q in queries if q in REFUSED]
    reason = (
        METRICS["error"]
        or (refused[0] if refused else None)
        or "the metrics store holds no points for the period"
    )
    return f"**No data** for {what}: {reason}."


# %% [markdown]
# ## Replica lag

# %%
LAG_HOURLY = "max_over_time(db_replication_lag_seconds[1h])"
lag_hourly = metric(LAG_HOURLY, HOUR)
# db_monitor records one point a minute: points over the limit are minutes over it.
lag_minutes = metric(f"count_gt_over_time(db_replication_lag_seconds[1d], {LAG_LIMIT})", DAY)
lag_max_daily = metric("max_over_time(db_replication_lag_seconds[1d])", DAY)
stopped_minutes = metric("count_eq_over_time(db_replication_sql_running[1d], 0)", DAY)
if lag_hourly.is_empty():
    say(no_series("replica lag", LAG_HOURLY))
else:
    show(
        px.line(
            lag_hourly.to_pandas(),
            x="time",
            y="value",
            color="labels",
            labels={"value": "max lag (s)", "time": "hour (UTC)"},
            title=f"Largest replica lag per hour (the alert fires over {num(LAG_LIMIT)} s)",
        )
    )
    lag_days = (
        lag_max_daily.select(pl.col("time").dt.date().alias("day"), pl.col("value").alias("max_s"))
        .join(
            lag_minutes.select(
                pl.col("time").dt.date().alias("day"), pl.col("value").alias("minutes_over")
            ),
            on="day",
            how="left",
        )
        .with_columns(pl.col("minutes_over").fill_null(0))
        .sort("day")
    )
    display(lag_days)

# %% [markdown]
# ## Slow statements: the digests that cost the most time
#
# Statement digests (`performance_schema`) keep running totals per normalized statement;
# `db_monitor` records the top ones by total time every minute. The time and calls of a
# digest in a day are the increase of its totals over that day (a server restart resets
# them; the store accounts for it). The digest's text is not stored with the metrics:
# `wework db monitor` shows it for a digest that is still among the top ones.

# %%
TOP = 10
# increase_prometheus: only the points inside each day (increase() would count the whole
# running total of a digest on its first day in the store).
SPENT = "increase_prometheus(db_statement_total_seconds[1d])"
spent = metric(SPENT, DAY)
calls = metric("increase_prometheus(db_statement_calls[1d])", DAY)
p95 = metric("max_over_time(db_statement_p95_seconds[1d])", DAY)
KEY = ["server", "schema", "digest"]
HAS_DIGESTS = has(spent, *KEY)
if not HAS_DIGESTS:
    say(no_series("statement digests", SPENT))
else:
    daily = spent.select("time", *KEY, pl.col("value").alias("seconds")).join(
        calls.select("time", *KEY, pl.col("value").alias("calls"))
        if has(calls, *KEY)
        else pl.DataFrame(
            schema={
                "time": spent["time"].dtype,
                **dict.fromkeys(KEY, pl.String),
                "calls": pl.Float64,
            }
        ),
        on=["time", *KEY],
        how="left",
    )
    p95_max = (
        p95.group_by(KEY).agg(pl.col("value").max().alias("max_p95_s"))
        if has(p95, *KEY)
        else pl.DataFrame(schema={**dict.fromkeys(KEY, pl.String), "max_p95_s": pl.Float64})
    )
    top = (
        daily.group_by(KEY)
        .agg(pl.col("seconds").sum(), pl.col("calls").sum())
        .filter(pl.col("seconds") > 0)
        .sort("seconds", descending=True)
        .head(TOP)
        .join(p95_max, on=KEY, how="left", maintain_order="left")
        .with_columns(
            pl.col("digest").str.slice(0, 12).alias("digest_id"),
            pl.when(pl.col("calls") > 0).then(pl.col("seconds") / pl.col("calls")).alias("avg_s"),
        )
    )
    TOTAL_SECONDS = daily["seconds"].sum()
    display(top.select("digest_id", "server", "schema", "seconds", "calls", "avg_s", "max_p95_s"))
    if not top.is_empty():
        shown = daily.join(top.select(*KEY, "digest_id"), on=KEY).with_columns(
            pl.col("time").dt.date().alias("day")
        )
        show(
            px.bar(
                shown.to_pandas(),
                x="day",
                y="seconds",
                color="digest_id",
                hover_data=["server", "schema", "calls"],
                title=f"Time spent per day by the top {top.height} statement digest(s)",
            )
        )

# %% [markdown]
# ## Connections and buffer-pool hit rate

# %%
CONN_HOURLY = "max_over_time(db_connections_in_use[1h])"
conn_hourly = metric(CONN_HOURLY, HOUR)
conn_max = metric("max_over_time(db_connections_max[1d])", DAY)
HIT_HOURLY = "min_over_time(db_buffer_pool_hit_rate[1h])"
hit_hourly = metric(HIT_HOURLY, HOUR)
if not has(conn_hourly, "server"):
    say(no_series("connections", CONN_HOURLY))
else:
    show(
        px.line(
            conn_hourly.to_pandas(),
            x="time",
            y="value",
            color="server",
            labels={"value": "connections in use (max)", "time": "hour (UTC)"},
            title="Connections in use, the most per hour",
        )
    )
if not has(hit_hourly, "server"):
    say(no_series("the buffer-pool hit rate", HIT_HOURLY))
else:
    show(
        px.line(
            hit_hourly.to_pandas(),
            x="time",
            y="value",
            color="server",
            labels={"value": "hit rate (lowest)", "time": "hour (UTC)"},
            title="Buffer-pool hit rate, the lowest per hour",
        )
    )

# %% [markdown]
# ## Partition headroom and backup age
#
# Headroom: days until a monthly-partitioned table's `p_future` would receive rows (the
# partitions job splits new months off ahead of time). Backups: the age of the last full
# backup and of the last recovery point (full or incremental), against the RPOs.

# %%
HEADROOM = "min_over_time(db_partition_headroom_days[1d])"
headroom = metric(HEADROOM, DAY)
if not has(headroom, "schema", "table"):
    say(no_series("partition headroom", HEADROOM))
else:
    headroom = headroom.with_columns(
        (pl.col("schema") + "." + pl.col("table")).alias("partitioned_table"),
        pl.col("time").dt.date().alias("day"),
    )
    show(
        px.line(
            headroom.to_pandas(),
            x="day",
            y="value",
            color="partitioned_table",
            labels={"value": "headroom (days)"},
            title=f"Partition headroom per day (the alert fires under "
            f"{num(LIMITS['partition_headroom'])} days)",
        )
    )
    last_day = headroom["day"].max()
    headroom_now = headroom.filter(pl.col("day") == last_day).sort("value")
    display(headroom_now.select("partitioned_table", pl.col("value").alias("days"), "day"))

RPO = LIMITS["backup_recovery_point_age"]
BACKUPS = {
    "full backup": "db_backup_full_age_seconds",
    "recovery point": "db_backup_recovery_point_age_seconds",
}
backup_hourly = pl.concat(
    [
        metric(f"max_over_time({series}[1h])", HOUR)
        .select("time", "value")
        .with_columns(pl.lit(kind).alias("backup"))
        for kind, series in BACKUPS.items()
    ]
)
backup_last = {
    kind: metric(f"last_over_time({series}[1d])", DAY).sort("time")["value"].tail(1).to_list()
    for kind, series in BACKUPS.items()
}
backup_over = metric(f"count_gt_over_time({BACKUPS['recovery point']}[1d], {RPO})", DAY)
if backup_hourly.is_empty():
    say(no_series("backup age") + " No backup recorded: backups may not be configured.")
else:
    show(
        px.line(
            backup_hourly.with_columns((pl.col("value") / 3600).alias("hours")).to_pandas(),
            x="time",
            y="hours",
            color="backup",
            labels={"hours": "age (h)", "time": "hour (UTC)"},
            title="Age of the last full backup and of the last recovery point",
        )
    )

# %% [markdown]
# ## Alert history
#
# Every firing episode of an operator alert that was active during the period (fired in
# it, or fired before and not yet resolved when it began): when it fired, when it
# resolved, how often it was repeated while firing. Tenant-scoped alerts (accounts
# offline) name their tenant by its code.

# %%
episodes = marts["alert_history"]
HAS_ALERTS = has(episodes, "rule", "start_time", "end_time")
if not HAS_ALERTS:
    say("No operator alert was firing during the period.")
else:
    as_of_naive = AS_OF.replace(tzinfo=None)
    episodes = marts.labelled(episodes).with_columns(
        pl.when(pl.col("tenant_id").is_not_null())
        .then(pl.concat_str(pl.lit("tenant "), pl.col("tenant")))
        .otherwise(pl.col("subject"))
        .alias("on"),
        (pl.col("duration_seconds") / 60).alias("minutes_to_resolve"),
        pl.col("end_time").is_null().alias("firing"),
        pl.coalesce("end_time", pl.lit(as_of_naive)).alias("until"),
        pl.col("start_time").dt.date().alias("day"),
    )
    fired_in_period = episodes.filter(
        pl.col("day").is_between(marts.period.start, marts.period.end)
    )
    per_rule = (
        episodes.group_by("rule")
        .agg(
            pl.col("day").is_between(marts.period.start, marts.period.end).sum().alias("fired"),
            pl.col("minutes_to_resolve").median().alias("median_minutes_to_resolve"),
            pl.col("minutes_to_resolve").max().alias("max_minutes_to_resolve"),
            pl.col("firing").sum().alias("firing_now"),
            pl.col("subject").n_unique().alias("subjects"),
            pl.col("repeat_notices").sum().alias("repeats"),
        )
        .sort("fired", descending=True)
    )
    display(per_rule)
    if not fired_in_period.is_empty():
        show(
            px.histogram(
                fired_in_period.to_pandas(),
                x="day",
                color="rule",
                title="Alerts fired per day, by rule",
            )
        )
    show(
        px.timeline(
            episodes.with_columns(
                pl.concat_str("rule", pl.lit(" · "), "on").alias("alert")
            ).to_pandas(),
            x_start="start_time",
            x_end="until",
            y="alert",
            color="severity",
            title="Firing episodes (an open bar is still firing)",
        )
    )
    firing_now = episodes.filter(pl.col("firing")).sort("start_time", "on")
    if not firing_now.is_empty():
        display(firing_now.select("rule", "on", "severity", "start_time", "fired_summary"))

# %% [markdown]
# ## Findings

# %%
HAS_METRICS = not (
    lag_hourly.is_empty()
    and not HAS_DIGESTS
    and conn_hourly.is_empty()
    and headroom.is_empty()
    and backup_hourly.is_empty()
)


def when(ts) -> str:
    return f"{ts:%Y-%m-%d %H:%M} UTC"


if not HAS_ALERTS and not HAS_METRICS:
    reason = marts.error or (
        "no operator alert was firing during the period, and "
        + (METRICS["error"] or "the metrics store holds no points for the period")
    )
    findings(marts, no_data=reason)
else:
    lines = []
    # Replica lag
    if lag_hourly.is_empty():
        lines.append(no_series("replica lag", LAG_HOURLY).replace("**", ""))
    else:
        over = lag_days.filter(pl.col("minutes_over") > 0)
        for r in over.iter_rows(named=True):
            lines.append(
                f"Replica lag exceeded {num(LAG_LIMIT)} s for {num(r['minutes_over'])} "
                f"minute(s) on {r['day']} (max {num(r['max_s'])} s)."
            )
        if over.is_empty():
            lines.append(
                f"Replica lag stayed at or under {num(LAG_LIMIT)} s all period "
                f"(max {num(lag_hourly['value'].max())} s)."
            )
        stops = stopped_minutes.filter(pl.col("value") > 0)
        for r in stops.iter_rows(named=True):
            lines.append(
                f"Replication's SQL thread was stopped for {num(r['value'])} minute(s) on "
                f"{r['time']:%Y-%m-%d}."
            )
    # Slow statements
    if HAS_DIGESTS and not top.is_empty():
        t = top.row(0, named=True)
        avg = f", avg {num(t['avg_s'], 3)} s" if t["avg_s"] is not None else ""
        share = t["seconds"] / TOTAL_SECONDS if TOTAL_SECONDS else None
        lines.append(
            f"Costliest statement digest {code(t['digest_id'])} ({code(t['schema'])} on "
            f"{t['server']}): {num(t['seconds'], 2)} s over {num(t['calls'])} call(s){avg}, "
            f"{pct(share)} of the time recorded for the top digests."
        )
    elif not HAS_DIGESTS:
        lines.append(no_series("statement digests", SPENT).replace("**", ""))
    # Connections and buffer pool
    if has(conn_hourly, "server"):
        for server, frame in sorted(conn_hourly.group_by("server"), key=lambda g: g[0][0]):
            peak = frame.sort("value", descending=True).row(0, named=True)
            limit = (
                conn_max.filter(pl.col("server") == server[0])["value"].max()
                if has(conn_max, "server")
                else None
            )
            of = f" of {num(limit)} ({pct(peak['value'] / limit)})" if limit else ""
            lines.append(
                f"Connections on {server[0]} peaked at {num(peak['value'])}{of} in the hour "
                f"from {when(peak['time'])}."
            )
    if has(hit_hourly, "server"):
        low = hit_hourly.sort("value").row(0, named=True)
        lines.append(
            f"Lowest buffer-pool hit rate: {pct(low['value'], 2)} on {low['server']} in the "
            f"hour from {when(low['time'])}."
        )
    # Headroom and backups
    if has(headroom, "partitioned_table"):
        h = headroom_now.row(0, named=True)
        under = h["value"] < LIMITS["partition_headroom"]
        lines.append(
            f"Partition headroom on {h['day']}: smallest {num(h['value'])} day(s) "
            f"({code(h['partitioned_table'])})"
            + (
                f", under the {num(LIMITS['partition_headroom'])}-day threshold: are the "
                "worker's partitions running?"
                if under
                else "."
            )
        )
    if not backup_hourly.is_empty():
        full = (backup_last["full backup"] or [None])[0]
        point = (backup_last["recovery point"] or [None])[0]
        minutes_over = backup_over["value"].sum() if not backup_over.is_empty() else 0
        lines.append(
            "At the end of the period the last full backup was "
            f"{num(full / 3600 if full is not None else None)} h old and the last recovery "
            f"point {num(point / 60 if point is not None else None)} min old; the recovery "
            f"point was older than the {num(RPO / 60)}-minute RPO for {num(minutes_over)} "
            "minute(s) of the period."
        )
    else:
        lines.append("No backup age recorded in the period: backups may not be configured.")
    # Alerts
    if not HAS_ALERTS:
        lines.append("No operator alert was firing during the period.")
    else:
        for r in per_rule.iter_rows(named=True):
            if not r["fired"]:
                continue
            on = f" on {r['subjects']} subjects" if r["subjects"] > 1 else ""
            resolve = (
                f", median {num(r['median_minutes_to_resolve'])} min to resolve"
                if r["median_minutes_to_resolve"] is not None
                else ", none resolved yet"
            )
            lines.append(
                f"Rule {code(r['rule'])} fired {r['fired']} time(s){on}{resolve}"
                + (f"; {r['repeats']} repeated notice(s)" if r["repeats"] else "")
                + "."
            )
        if firing_now.is_empty():
            lines.append("No alert is firing at the end of the period.")
        LISTED = 5  # subjects named per rule; the table above lists them all
        for (rule,), group in sorted(firing_now.group_by("rule"), key=lambda g: g[0][0]):
            first = group.sort("start_time").row(0, named=True)
            hours = (as_of_naive - first["start_time"]).total_seconds() / 3600
            names = ", ".join(code(on) for on in group["on"].head(LISTED))
            more = f" and {group.height - LISTED} more" if group.height > LISTED else ""
            lines.append(
                f"Still firing: {code(rule)} ({first['severity']}) on {names}{more}; the "
                f"oldest since {when(first['start_time'])}, {num(hours)} h."
            )
    findings(marts, lines)
