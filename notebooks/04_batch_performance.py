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
#     title: Batch send performance
#     reads: [batch_task_performance, account_directory]
# ---

# %% [markdown]
# # 4 · Batch send performance
#
# **Question.** How fast do batch send tasks deliver, does throughput follow the send
# strategy (the configured rate), and where do tasks stall — at what progress, in which
# status, for how long?
#
# Source: `marts.batch_task_performance`, one row per batch task: counters, start/end,
# `duration_seconds`, `messages_per_minute`, `failure_rate`, `counters_match`. The send
# strategy is read from the mart's `send_strategy` / `rate_per_minute` column when it has
# one. Every figure below is computed from the published marts.

# %% tags=["parameters"]
# Report parameters: Dagster (papermill) injects each run's values in a cell after this one.
tenant_id = None  # one tenant's id, or None for the whole platform
period_days = 30  # whole UTC days covered, ending on period_end
period_end = None  # "YYYY-MM-DD", or None for the day of the marts' as_of

# %%
import json

import plotly.express as px
import polars as pl
from IPython.display import display
from nbhelpers import Marts, code, findings, has, num, pct, say, short, show

# A running task is stalled when it has been running this many times longer than its
# total would take at the median throughput of finished tasks.
STALL_FACTOR = 2.0
UNFINISHED = ("created", "running", "paused")

marts = Marts(tenant_id, period_days, period_end)
say(marts.describe())
tasks = marts["batch_task_performance"]
HAS_DATA = has(tasks, "messages_per_minute", "total_count", "status")
if not HAS_DATA:
    say("**No data:** `batch_task_performance` is empty, so there is nothing to analyse yet.")


# %%
def strategy_label(frame: pl.DataFrame) -> pl.Expr:
    """The configured send rate as a label, from whichever column the mart carries."""
    if "rate_per_minute" in frame.columns:
        return pl.col("rate_per_minute").cast(pl.String).fill_null("unset")

    if "send_strategy" in frame.columns:

        def rate_of(text: str | None) -> str:
            try:
                value = json.loads(text or "null")
            except ValueError:
                return "unparsable"
            if isinstance(value, dict) and value.get("rate_per_minute") is not None:
                return str(value["rate_per_minute"])
            return "unset"

        return pl.col("send_strategy").map_elements(rate_of, return_dtype=pl.String)
    return pl.lit("not in mart")


if HAS_DATA:
    as_of = marts.as_of
    tasks = marts.labelled(tasks).with_columns(
        strategy_label(tasks).alias("strategy"),
        pl.col("batch_id").map_elements(short, return_dtype=pl.String).alias("task"),
        pl.when(pl.col("total_count") > 0)
        .then((pl.col("success_count") + pl.col("failed_count")) / pl.col("total_count"))
        .alias("progress"),
    )
    STRATEGY_KNOWN = tasks["strategy"].ne("not in mart").any()

# %% [markdown]
# ## Throughput against the send strategy

# %%
if HAS_DATA:
    finished = tasks.filter(pl.col("messages_per_minute").is_not_null())
    by_strategy = (
        finished.group_by("strategy")
        .agg(
            pl.len().alias("tasks"),
            pl.col("messages_per_minute").median().alias("median_per_minute"),
            pl.col("messages_per_minute").max().alias("max_per_minute"),
            pl.col("failure_rate").mean().alias("mean_failure_rate"),
        )
        .sort("strategy")
    )
    display(by_strategy)
    if not finished.is_empty():
        show(
            px.box(
                finished,
                x="strategy",
                y="messages_per_minute",
                points="all",
                hover_data=["task", "tenant", "total_count"],
                title="Messages per minute by configured send rate",
            )
        )
        show(
            px.scatter(
                finished,
                x="total_count",
                y="messages_per_minute",
                color="status",
                hover_data=["task"],
                title="Throughput against task size",
            )
        )
    else:
        say("No task has both a start and an end time yet: no throughput to compare.")

# %% [markdown]
# ## Where tasks stall

# %%
if HAS_DATA:
    median_rate = finished["messages_per_minute"].median() if not finished.is_empty() else None
    open_tasks = tasks.filter(pl.col("status").is_in(UNFINISHED))
    if as_of is not None and not open_tasks.is_empty():
        open_tasks = open_tasks.with_columns(
            ((pl.lit(as_of) - pl.col("start_time")).dt.total_seconds() / 60).alias(
                "minutes_running"
            ),
            (pl.col("total_count") / median_rate if median_rate else pl.lit(None))
            .cast(pl.Float64)
            .alias("expected_minutes"),
        ).with_columns(
            (
                (pl.col("status") == "paused")
                | (
                    (pl.col("status") == "running")
                    & (pl.col("minutes_running") > STALL_FACTOR * pl.col("expected_minutes"))
                )
            )
            .fill_null(False)
            .alias("stalled")
        )
    stopped = tasks.filter(
        ~pl.col("status").is_in(UNFINISHED) & (pl.col("progress").fill_null(0) < 1)
    )
    show(
        px.histogram(
            tasks,
            x="progress",
            color="status",
            nbins=10,
            title="Progress of every task ((success + failed) / total) by status",
        )
    )
    display(
        tasks.select(
            "task",
            "tenant",
            "status",
            "strategy",
            "total_count",
            "progress",
            "duration_seconds",
            "messages_per_minute",
            "failure_rate",
            "counters_match",
        ).sort("progress", nulls_last=True)
    )

# %% [markdown]
# ## Findings

# %%
if not HAS_DATA:
    findings(
        marts,
        no_data=marts.error or "no batch tasks in the published marts for this scope and period.",
    )
else:
    statuses = ", ".join(
        f"{r['status']} {r['len']}"
        for r in tasks.group_by("status").len().sort("status").iter_rows(named=True)
    )
    lines = [f"{tasks.height} batch task(s): {statuses}."]
    if finished.is_empty():
        lines.append("No task has finished with a start and end time: no throughput yet.")
    else:
        lines.append(
            f"Median throughput {num(median_rate)} messages/min (range "
            f"{num(finished['messages_per_minute'].min())}–"
            f"{num(finished['messages_per_minute'].max())}); mean failure rate "
            f"{pct(finished['failure_rate'].mean())}."
        )
        if STRATEGY_KNOWN and by_strategy.height >= 2:
            ranked = by_strategy.sort("median_per_minute", descending=True)
            hi, lo = ranked.row(0, named=True), ranked.row(-1, named=True)
            lines.append(
                f"Fastest configured rate {code(hi['strategy'])}: median "
                f"{num(hi['median_per_minute'])}/min; slowest {code(lo['strategy'])}: "
                f"{num(lo['median_per_minute'])}/min."
            )
        elif not STRATEGY_KNOWN:
            lines.append(
                "The mart carries no send strategy column, so throughput cannot be split by "
                "strategy yet (see the note at the top)."
            )
        else:
            lines.append("All finished tasks share one configured rate: nothing to compare.")
    if "stalled" in open_tasks.columns:
        stalled = open_tasks.filter(pl.col("stalled"))
        lines.append(
            f"{open_tasks.height} unfinished task(s), {stalled.height} stalled"
            + (
                ": "
                + "; ".join(
                    f"{code(r['task'])} {r['status']} at {pct(r['progress'])} after "
                    f"{num(r['minutes_running'])} min"
                    for r in stalled.iter_rows(named=True)
                )
                + "."
                if stalled.height
                else "."
            )
        )
    else:
        lines.append("No unfinished task.")
    if stopped.height:
        lines.append(
            f"{stopped.height} task(s) ended before finishing their list, at a median progress "
            f"of {pct(stopped['progress'].median())}."
        )
    mismatched = tasks.filter(~pl.col("counters_match").fill_null(True)).height
    lines.append(
        f"{mismatched} task(s) whose counters disagree with their messages."
        if mismatched
        else "Every task's counters agree with its messages."
    )
    findings(marts, lines)
