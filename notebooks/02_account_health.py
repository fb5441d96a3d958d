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
#     title: Account health
#     reads: [account_health_daily, account_directory]
# ---

# %% [markdown]
# # 2 · Account health
#
# **Question.** How available are the WeCom accounts — uptime, disconnects, time to
# recover? Which accounts *flap* (drop and come back repeatedly), and does flapping predict
# failed sends?
#
# Source: `marts.account_health_daily`, one row per account and UTC day: `uptime_ratio`,
# `disconnect_count` (online → offline/error), `recover_count`,
# `mean_time_to_recover_seconds`, `messages_sent`, `messages_failed`, `health_score`.
# Every figure below is computed from the published marts.

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

# A flapping day: at least this many disconnects in one UTC day. A flapping account: at
# least FLAP_DAYS such days in the period.
FLAP_DISCONNECTS_PER_DAY = 2
FLAP_DAYS = 2

marts = Marts(tenant_id, period_days, period_end)
say(marts.describe())
health = marts["account_health_daily"]
HAS_DATA = has(health, "uptime_ratio", "disconnect_count", "messages_failed")
if not HAS_DATA:
    say("**No data:** `account_health_daily` is empty, so there is nothing to analyse yet.")
else:
    health = marts.labelled(health).with_columns(
        (pl.col("disconnect_count") >= FLAP_DISCONNECTS_PER_DAY).alias("flapping_day"),
    )

# %% [markdown]
# ## Uptime

# %%
if HAS_DATA:
    per_account = (
        health.group_by("account_id", "account", "tenant")
        .agg(
            pl.col("online_seconds").sum(),
            pl.col("uptime_ratio").mean().alias("mean_uptime"),
            pl.col("disconnect_count").sum().alias("disconnects"),
            pl.col("recover_count").sum().alias("recoveries"),
            pl.col("flapping_day").sum().alias("flapping_days"),
            pl.col("messages_sent").sum(),
            pl.col("messages_failed").sum(),
            pl.col("health_score").mean().alias("mean_health_score"),
            pl.col("status_at_day_end").sort_by("stat_date").last().alias("status_now"),
        )
        .sort("mean_uptime")
    )
    show(
        px.histogram(per_account, x="mean_uptime", nbins=20, title="Mean daily uptime per account")
    )
    by_day = (
        health.group_by("stat_date")
        .agg(
            pl.col("uptime_ratio").mean().alias("mean_uptime"),
            pl.col("disconnect_count").sum().alias("disconnects"),
        )
        .sort("stat_date")
    )
    show(
        px.line(
            by_day,
            x="stat_date",
            y="mean_uptime",
            markers=True,
            title="Mean uptime of all accounts per day (UTC)",
        )
    )
    show(px.bar(by_day, x="stat_date", y="disconnects", title="Disconnects per day (UTC)"))

# %% [markdown]
# ## Recovery times
#
# `mean_time_to_recover_seconds`: from a disconnect to the account's next return to
# online, averaged over the recoveries of that day.

# %%
if HAS_DATA:
    recoveries = health.filter(pl.col("mean_time_to_recover_seconds").is_not_null())
    if recoveries.is_empty():
        say("No recoveries in the period.")
    else:
        show(
            px.box(
                recoveries.with_columns(
                    (pl.col("mean_time_to_recover_seconds") / 60).alias("minutes")
                ),
                x="tenant",
                y="minutes",
                points="all",
                title="Time to recover (minutes) by tenant",
            )
        )

# %% [markdown]
# ## Flapping accounts

# %%
if HAS_DATA:
    flapping = per_account.filter(pl.col("flapping_days") >= FLAP_DAYS).sort(
        "flapping_days", "disconnects", descending=True
    )
    if flapping.is_empty():
        say(f"No account had {FLAP_DAYS}+ days with {FLAP_DISCONNECTS_PER_DAY}+ disconnects.")
    else:
        display(
            flapping.select(
                "account",
                "tenant",
                "flapping_days",
                "disconnects",
                "mean_uptime",
                "messages_failed",
                "status_now",
            )
        )
    show(
        px.scatter(
            per_account,
            x="disconnects",
            y="mean_uptime",
            color="tenant",
            hover_data=["account"],
            title="Disconnects against uptime, per account",
        )
    )

# %% [markdown]
# ## Does flapping predict failed sends?
#
# For every account-day we compare the failure share of the account's messages on the
# *next* day after a flapping day with the next day after a calm day (prediction, not just
# coincidence), and report the rank correlation between a day's disconnects and the next
# day's failure share. Groups with fewer than 30 finished messages are too small to judge.

# %%
MIN_MESSAGES = 30
if HAS_DATA:
    lagged = (
        health.sort("account_id", "stat_date")
        .with_columns(
            pl.col("messages_sent").shift(-1).over("account_id").alias("next_sent"),
            pl.col("messages_failed").shift(-1).over("account_id").alias("next_failed"),
            pl.col("stat_date").shift(-1).over("account_id").alias("next_date"),
        )
        # Consecutive days only (the mart has every day an account existed).
        .filter(pl.col("next_date").is_not_null())
    )
    compare = (
        lagged.group_by("flapping_day")
        .agg(
            pl.len().alias("account_days"),
            pl.col("next_sent").sum(),
            pl.col("next_failed").sum(),
        )
        .with_columns(
            pl.when(pl.col("next_sent") + pl.col("next_failed") > 0)
            .then(pl.col("next_failed") / (pl.col("next_sent") + pl.col("next_failed")))
            .alias("next_day_failure_share")
        )
        .sort("flapping_day")
    )
    display(compare)
    scored = lagged.filter(pl.col("next_sent") + pl.col("next_failed") > 0).with_columns(
        (pl.col("next_failed") / (pl.col("next_sent") + pl.col("next_failed"))).alias(
            "next_failure_share"
        )
    )
    correlation = (
        scored.select(pl.corr("disconnect_count", "next_failure_share", method="spearman")).item()
        if len(scored) >= 3
        else None
    )
    if not scored.is_empty():
        show(
            px.box(
                scored,
                x="disconnect_count",
                y="next_failure_share",
                title="Next day's failure share by today's disconnects",
            )
        )

# %% [markdown]
# ## Findings

# %%
if not HAS_DATA:
    findings(
        marts,
        no_data=marts.error
        or "no account health rows in the published marts for this scope and period.",
    )
else:
    worst = per_account.head(1).row(0, named=True)
    mttr = health["mean_time_to_recover_seconds"].drop_nulls()
    lines = [
        f"{per_account.height} account(s) over {health['stat_date'].n_unique()} day(s): "
        f"mean daily uptime {pct(health['uptime_ratio'].mean())}, "
        f"{num(health['disconnect_count'].sum())} disconnects, "
        f"{num(health['recover_count'].sum())} recoveries.",
        f"Least available account: {code(worst['account'])} (tenant {code(worst['tenant'])}) at "
        f"{pct(worst['mean_uptime'])} mean uptime, {num(worst['disconnects'])} disconnects.",
        (
            f"Time to recover: median {num(mttr.median() / 60)} min, worst day's mean "
            f"{num(mttr.max() / 60)} min."
            if len(mttr)
            else "No recoveries to time."
        ),
        f"{flapping.height} flapping account(s) ({FLAP_DAYS}+ days with "
        f"{FLAP_DISCONNECTS_PER_DAY}+ disconnects)"
        + (
            ": " + ", ".join(f"{code(a)}" for a in flapping["account"].head(5).to_list()) + "."
            if flapping.height
            else "."
        ),
    ]
    groups = {row["flapping_day"]: row for row in compare.iter_rows(named=True)}
    after_flap, after_calm = groups.get(True), groups.get(False)

    def enough(row) -> bool:
        return row is not None and row["next_sent"] + row["next_failed"] >= MIN_MESSAGES

    if enough(after_flap) and enough(after_calm):
        a, c = after_flap["next_day_failure_share"], after_calm["next_day_failure_share"]
        verdict = (
            "higher: flapping does precede failed sends"
            if a > c * 1.2
            else "not clearly higher: flapping does not predict failed sends here"
        )
        lines.append(
            f"Failure share the day after a flapping day {pct(a)} vs after a calm day "
            f"{pct(c)} — {verdict}."
        )
    else:
        lines.append(
            "Too few messages on the days after flapping days to say whether flapping "
            f"predicts failed sends (fewer than {MIN_MESSAGES} finished messages in a group)."
        )
    if correlation is not None:
        lines.append(
            f"Rank correlation between a day's disconnects and the next day's failure share: "
            f"{correlation:+.2f} over {scored.height} account-days."
        )
    findings(marts, lines)
