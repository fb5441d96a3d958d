"""Overview: the period's key figures against the previous period of the same length."""

import math

import plotly.express as px
import streamlit as st

from ui import downloads, reports

ctx, path = reports.start(__file__)
f = reports.filters("overview", path, ctx)
data = reports.load("overview", path, f, reports.today())
kpis = data["kpis"]


RATE, SECONDS = "Success rate", "Delivery p95 (s)"


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(metric: str, value) -> str:
    if missing(value):
        return "–"
    if metric == RATE:
        return f"{value:.1%}"
    if metric == SECONDS:
        return f"{value:,.2f}"
    return f"{int(value):,}"  # counts (the column is float because it mixes in the rate)


def delta(metric: str, value, previous):
    if missing(value) or missing(previous):
        return None
    if metric == RATE:
        return f"{(value - previous) * 100:+.1f} pp"
    if metric == SECONDS:
        return f"{value - previous:+,.2f} s"
    return f"{int(value) - int(previous):+,}"


# Rising latency, failures, offline or error accounts are bad news: colour them red.
WORSE_WHEN_UP = {SECONDS, "Accounts offline", "Accounts in error",
                 "Callback failures"}
cols = st.columns(3)
for i, row in enumerate(kpis.itertuples(index=False)):
    cols[i % 3].metric(
        row.metric, fmt(row.metric, row.value), delta(row.metric, row.value, row.previous),
        delta_color="inverse" if row.metric in WORSE_WHEN_UP else "normal",
        help="Compared with yesterday" if row.metric == "Messages today"
        else "Compared with the previous period of the same length",
    )
downloads.csv_button(kpis, "key figures", "overview_kpis")

reports.chart(
    data["daily"],
    lambda df: px.bar(df.melt(id_vars="stat_date", var_name="status", value_name="messages"),
                      x="stat_date", y="messages", color="status",
                      color_discrete_map=reports.STATUS_COLORS),
    name="Messages per day by status", key="overview_daily",
)
