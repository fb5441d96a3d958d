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
#     title: Message delivery
#     reads: [message_stats_hourly, message_stats_daily, account_directory]
# ---

# %% [markdown]
# # 1 · Message delivery
#
# **Question.** How many messages does the platform send, how many get through, and how
# fast — by tenant, by message type and by hour of day (UTC)? Where do failures cluster:
# on which accounts and at which hours?
#
# Source: `marts.message_stats_hourly` and `marts.message_stats_daily` (success = sent +
# delivered; success rate = success / (success + failed); delivery latency = callback time −
# send time). Every figure below is computed from the published marts.

# %% tags=["parameters"]
# Report parameters: Dagster (papermill) injects each run's values in a cell after this one.
tenant_id = None  # one tenant's id, or None for the whole platform
period_days = 30  # whole UTC days covered, ending on period_end
period_end = None  # "YYYY-MM-DD", or None for the day of the marts' as_of

# %%
import plotly.express as px
import polars as pl
from IPython.display import display
from nbhelpers import Marts, code, findings, has, num, pct, say, show

marts = Marts(tenant_id, period_days, period_end)
say(marts.describe())
hourly = marts["message_stats_hourly"]
daily = marts["message_stats_daily"]
HAS_DATA = has(hourly, "failed_count", "stat_hour") and has(daily, "success_rate")
if not HAS_DATA:
    say("**No data:** the message marts are empty, so there is nothing to analyse yet.")


# %%
def rate(frame: pl.DataFrame, *keys: str) -> pl.DataFrame:
    """Volume, success, failures and success rate per ``keys``."""
    return (
        frame.group_by(*keys)
        .agg(
            pl.col("total_count").sum().alias("messages"),
            pl.col("success_count").sum().alias("success"),
            pl.col("failed_count").sum().alias("failed"),
        )
        .with_columns(
            pl.when(pl.col("success") + pl.col("failed") > 0)
            .then(pl.col("success") / (pl.col("success") + pl.col("failed")))
            .alias("success_rate")
        )
        .sort(*keys)
    )


# %% [markdown]
# ## Volume over time, by message type

# %%
if HAS_DATA:
    by_day_type = rate(daily, "stat_date", "message_type")
    show(
        px.bar(
            by_day_type,
            x="stat_date",
            y="messages",
            color="message_type",
            title="Messages created per day (UTC) by type",
        )
    )

# %% [markdown]
# ## Success rate by tenant and by type

# %%
if HAS_DATA:
    by_tenant = marts.labelled(rate(daily, "tenant_id"))
    by_type = rate(daily, "message_type")
    show(
        px.bar(
            by_tenant,
            x="tenant",
            y="success_rate",
            title="Success rate by tenant",
            hover_data=["messages", "failed"],
        )
    )
    show(
        px.bar(
            by_type,
            x="message_type",
            y="success_rate",
            title="Success rate by type",
            hover_data=["messages", "failed"],
        )
    )
    display_cols = ["tenant", "messages", "success", "failed", "success_rate"]
    display(by_tenant.select(display_cols))

# %% [markdown]
# ## Delivery latency by tenant and type
#
# Percentiles cannot be added up across days, so this shows the spread of each day's
# p50 and p95 (box plots) rather than one blended figure.

# %%
if HAS_DATA:
    latency = marts.labelled(daily.filter(pl.col("p95_delivery_seconds").is_not_null()))
    if latency.is_empty():
        say("No message has both a send and a callback time: no latency to show.")
    else:
        show(
            px.box(
                latency,
                x="tenant",
                y="p95_delivery_seconds",
                color="message_type",
                title="Daily p95 delivery seconds by tenant and type",
            )
        )
        latency_by_type = (
            latency.group_by("message_type")
            .agg(
                pl.col("p50_delivery_seconds").median().alias("median_daily_p50"),
                pl.col("p95_delivery_seconds").max().alias("worst_daily_p95"),
            )
            .sort("message_type")
        )
        display(latency_by_type)

# %% [markdown]
# ## Hour of day (UTC)

# %%
if HAS_DATA:
    by_hour = rate(hourly, "stat_hour")
    show(
        px.bar(
            by_hour,
            x="stat_hour",
            y=["success", "failed"],
            title="Messages by hour of day (UTC)",
            barmode="stack",
        )
    )
    show(
        px.line(
            by_hour,
            x="stat_hour",
            y="success_rate",
            markers=True,
            title="Success rate by hour of day (UTC)",
        )
    )

# %% [markdown]
# ## Where failures cluster
#
# Failed messages per account and hour of day. A cell is a *cluster* when it holds at
# least 3 failures and its failure share is at least twice the platform's.

# %%
CLUSTER_MIN_FAILURES = 3
CLUSTER_FACTOR = 2.0
if HAS_DATA:
    cells = marts.labelled(
        rate(hourly, "account_id", "stat_hour").with_columns(
            (1 - pl.col("success_rate")).alias("failure_rate")
        )
    )
    total_success = int(hourly["success_count"].sum())
    total_failed = int(hourly["failed_count"].sum())
    done = total_success + total_failed
    platform_failure_rate = total_failed / done if done else None
    clusters = cells.filter(
        (pl.col("failed") >= CLUSTER_MIN_FAILURES)
        & (pl.col("failure_rate") >= CLUSTER_FACTOR * (platform_failure_rate or 0))
    ).sort("failed", descending=True)
    heat = cells.filter(pl.col("failed") > 0)
    if heat.is_empty():
        say("No failed messages at all.")
    else:
        show(
            px.density_heatmap(
                heat,
                x="stat_hour",
                y="account",
                z="failed",
                histfunc="sum",
                nbinsx=24,
                title="Failed messages by account and hour (UTC)",
            )
        )
    # Concentration: what share of all failures the worst 10% of accounts produce.
    per_account = (
        cells.group_by("account_id").agg(pl.col("failed").sum()).sort("failed", descending=True)
    )
    top_n = max(1, round(len(per_account) * 0.1))
    top_share = per_account.head(top_n)["failed"].sum() / total_failed if total_failed else None
    display(clusters.select("account", "stat_hour", "messages", "failed", "failure_rate").head(10))

# %% [markdown]
# ## Findings

# %%
if not HAS_DATA:
    findings(
        marts,
        no_data=marts.error or "no messages in the published marts for this scope and period.",
    )
else:
    overall = rate(daily.with_columns(pl.lit(1).alias("all")), "all").row(0, named=True)
    rated = by_tenant.filter(pl.col("success_rate").is_not_null()).sort("success_rate")
    worst_type = by_type.filter(pl.col("success_rate").is_not_null()).sort("success_rate")
    hour_rated = by_hour.filter(pl.col("success_rate").is_not_null())
    worst_hour = hour_rated.sort("success_rate").head(1)
    busiest_fail_hour = by_hour.sort("failed", descending=True).head(1)
    days = daily["stat_date"].n_unique()
    lines = [
        f"{num(overall['messages'])} messages over {days} day(s) from "
        f"{daily['tenant_id'].n_unique()} tenant(s); overall success rate "
        f"{pct(overall['success_rate'])} ({num(overall['failed'])} failed).",
    ]
    if len(rated) >= 2:
        lo, hi = rated.row(0, named=True), rated.row(-1, named=True)
        lines.append(
            f"Tenants range from {pct(lo['success_rate'])} (tenant {code(lo['tenant'])}) to "
            f"{pct(hi['success_rate'])} (tenant {code(hi['tenant'])})."
        )
    if len(worst_type):
        t = worst_type.row(0, named=True)
        lines.append(
            f"Weakest message type: {code(t['message_type'])} at {pct(t['success_rate'])}."
        )
    if len(worst_hour) and len(busiest_fail_hour):
        w, b = worst_hour.row(0, named=True), busiest_fail_hour.row(0, named=True)
        lines.append(
            f"Lowest success rate at {w['stat_hour']:02d}:00 UTC ({pct(w['success_rate'])}); "
            f"most failures at {b['stat_hour']:02d}:00 UTC ({num(b['failed'])})."
        )
    if not latency.is_empty():
        slowest = latency.sort("p95_delivery_seconds", descending=True).row(0, named=True)
        lines.append(
            f"Median daily p50 delivery {num(latency['p50_delivery_seconds'].median())} s; "
            f"worst daily p95 {num(slowest['p95_delivery_seconds'])} s (tenant "
            f"{code(slowest['tenant'])}, {code(slowest['message_type'])}, {slowest['stat_date']})."
        )
    if total_failed:
        lines.append(
            f"The worst {top_n} account(s) (10%) produced {pct(top_share)} of all failures; "
            f"{len(clusters)} account-hour cell(s) qualify as clusters"
            + (
                f", the largest on account {code(clusters.row(0, named=True)['account'])} at "
                f"{clusters.row(0, named=True)['stat_hour']:02d}:00 UTC "
                f"({num(clusters.row(0, named=True)['failed'])} failures)."
                if len(clusters)
                else "."
            )
        )
    else:
        lines.append("No failures to cluster.")
    findings(marts, lines)
