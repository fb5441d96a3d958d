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
#     title: Tenant usage and quotas
#     reads: [tenant_usage_daily, account_directory]
# ---

# %% [markdown]
# # 3 · Tenant usage and quotas
#
# **Question.** Which tenants are close to their limits — daily messages
# (`max_daily_messages`) and accounts (`max_accounts`) — and how fast is each tenant's
# usage growing over the period?
#
# Source: `marts.tenant_usage_daily`, one row per tenant and UTC day: `messages_created`,
# `daily_quota_ratio`, `over_daily_quota`, `active_accounts`, `accounts`,
# `accounts_quota_ratio`. The day of the run (`as_of`) is still in progress, so growth is
# measured over complete days only. Every figure below is computed from the published marts.

# %% tags=["parameters"]
# Report parameters: Dagster (papermill) injects each run's values in a cell after this one.
tenant_id = None  # one tenant's id, or None for the whole platform
period_days = 30  # whole UTC days covered, ending on period_end
period_end = None  # "YYYY-MM-DD", or None for the day of the marts' as_of

# %%
from datetime import timedelta

import plotly.express as px
import polars as pl
from IPython.display import display
from nbhelpers import Marts, code, findings, has, num, pct, say, show

NEAR_LIMIT = 0.8  # a tenant at 80% of a limit is "near" it
RECENT_DAYS = 7  # the window for "recently" and for growth

marts = Marts(tenant_id, period_days, period_end)
say(marts.describe())
usage = marts["tenant_usage_daily"]
HAS_DATA = has(usage, "daily_quota_ratio", "accounts_quota_ratio", "messages_created")
if not HAS_DATA:
    say("**No data:** `tenant_usage_daily` is empty, so there is nothing to analyse yet.")
else:
    usage = marts.labelled(usage)
    last_day = usage["stat_date"].max()
    # The run's own day is incomplete: leave it out of growth figures.
    as_of_day = marts.as_of.date() if marts.as_of else last_day
    complete = usage.filter(pl.col("stat_date") < as_of_day)
    if complete.is_empty():
        complete = usage
    recent_start = complete["stat_date"].max() - timedelta(days=RECENT_DAYS - 1)

# %% [markdown]
# ## Daily messages against the quota

# %%
if HAS_DATA:
    show(
        px.line(
            usage.sort("stat_date"),
            x="stat_date",
            y="daily_quota_ratio",
            color="tenant",
            markers=True,
            title="Messages created / max_daily_messages, per day (UTC)",
        )
    )
    show(
        px.bar(
            usage.sort("stat_date"),
            x="stat_date",
            y="messages_created",
            color="tenant",
            title="Messages created per day (UTC) by tenant",
        )
    )

# %% [markdown]
# ## Who is near a limit

# %%
if HAS_DATA:
    latest_accounts = (
        usage.sort("stat_date")
        .group_by("tenant_id", "tenant")
        .agg(
            pl.col("accounts").last(),
            pl.col("max_accounts").last(),
            pl.col("accounts_quota_ratio").last(),
        )
    )
    recent = complete.filter(pl.col("stat_date") >= recent_start)
    recent_peak = recent.group_by("tenant_id").agg(
        pl.col("daily_quota_ratio").max().alias("peak_daily_ratio"),
        pl.col("over_daily_quota").sum().alias("days_over_quota"),
        pl.col("max_daily_messages").last(),
    )
    limits = (
        latest_accounts.join(recent_peak, on="tenant_id", how="left")
        .with_columns(
            (
                (pl.col("peak_daily_ratio").fill_null(0) >= NEAR_LIMIT)
                | (pl.col("accounts_quota_ratio").fill_null(0) >= NEAR_LIMIT)
            ).alias("near_limit")
        )
        .sort("near_limit", "peak_daily_ratio", descending=True, nulls_last=True)
    )
    display(
        limits.select(
            "tenant",
            "peak_daily_ratio",
            "days_over_quota",
            "max_daily_messages",
            "accounts",
            "max_accounts",
            "accounts_quota_ratio",
            "near_limit",
        )
    )
    show(
        px.bar(
            limits,
            x="tenant",
            y=["peak_daily_ratio", "accounts_quota_ratio"],
            barmode="group",
            title=f"Share of each limit used (last {RECENT_DAYS} days)",
        )
    )

# %% [markdown]
# ## Growth
#
# Messages per complete day in the last 7 days against the 7 days before, and the
# least-squares slope of messages per day over the whole period.

# %%
if HAS_DATA:
    previous_start = recent_start - timedelta(days=RECENT_DAYS)
    growth = (
        complete.with_columns(
            pl.col("stat_date").cast(pl.Int64).cast(pl.Float64).alias("day_number")
        )
        .group_by("tenant_id", "tenant")
        .agg(
            pl.col("messages_created")
            .filter(pl.col("stat_date") >= recent_start)
            .mean()
            .alias("recent_per_day"),
            pl.col("messages_created")
            .filter((pl.col("stat_date") >= previous_start) & (pl.col("stat_date") < recent_start))
            .mean()
            .alias("previous_per_day"),
            (pl.cov("day_number", "messages_created") / pl.col("day_number").var()).alias(
                "slope_per_day"
            ),
            pl.col("max_daily_messages").last(),
        )
        .with_columns(
            pl.when(pl.col("previous_per_day") > 0)
            .then(pl.col("recent_per_day") / pl.col("previous_per_day") - 1)
            .alias("growth"),
            # Days until the daily quota is reached if the trend continues.
            pl.when(pl.col("slope_per_day") > 0)
            .then(
                (
                    (pl.col("max_daily_messages") - pl.col("recent_per_day"))
                    / pl.col("slope_per_day")
                ).clip(lower_bound=0)
            )
            .alias("days_to_quota"),
        )
        .sort("growth", descending=True, nulls_last=True)
    )
    display(
        growth.select(
            "tenant",
            "previous_per_day",
            "recent_per_day",
            "growth",
            "slope_per_day",
            "max_daily_messages",
            "days_to_quota",
        )
    )

# %% [markdown]
# ## Findings

# %%
if not HAS_DATA:
    findings(
        marts,
        no_data=marts.error
        or "no tenant usage rows in the published marts for this scope and period.",
    )
else:
    near = limits.filter(pl.col("near_limit"))
    over = limits.filter(pl.col("days_over_quota").fill_null(0) > 0)
    lines = [
        f"{limits.height} tenant(s), {usage['stat_date'].n_unique()} day(s) up to {last_day} "
        f"(complete days up to {complete['stat_date'].max()}).",
        f"{near.height} tenant(s) at or above {pct(NEAR_LIMIT, 0)} of a limit in the last "
        f"{RECENT_DAYS} days"
        + (
            ": "
            + "; ".join(
                f"{code(r['tenant'])} (daily peak {pct(r['peak_daily_ratio'])}, accounts "
                f"{num(r['accounts'])}/{num(r['max_accounts'])})"
                for r in near.iter_rows(named=True)
            )
            + "."
            if near.height
            else "."
        ),
        (
            f"{over.height} tenant(s) exceeded the daily message quota on at least one recent "
            "day: " + ", ".join(f"{code(t)}" for t in over["tenant"].to_list()) + "."
            if over.height
            else "No tenant exceeded its daily message quota recently."
        ),
    ]
    grown = growth.filter(pl.col("growth").is_not_null())
    if grown.height:
        top, bottom = grown.row(0, named=True), grown.row(-1, named=True)
        lines.append(
            f"Fastest growth: {code(top['tenant'])} ({pct(top['growth'])} week on week, "
            f"{num(top['recent_per_day'])} messages/day); slowest: {code(bottom['tenant'])} "
            f"({pct(bottom['growth'])})."
        )
        soon = growth.filter(pl.col("days_to_quota").is_not_null()).sort("days_to_quota")
        if soon.height:
            s = soon.row(0, named=True)
            lines.append(
                f"At the current trend {code(s['tenant'])} reaches its daily quota first, in about "
                f"{num(s['days_to_quota'], 0)} day(s)."
            )
    else:
        lines.append(
            f"The period is shorter than {2 * RECENT_DAYS} complete days: no week-on-week growth."
        )
    findings(marts, lines)
