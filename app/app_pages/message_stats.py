"""Message statistics: volume over time, by type and status, delivery latency, top
accounts by volume and by failure rate."""

import plotly.express as px
import streamlit as st

from ui import reports

ctx, path = reports.start(__file__)
f = reports.filters("msgstats", path, ctx)
granularity = st.radio("Time series by", ["day", "hour"], horizontal=True,
                       key="msgstats_granularity")
data = reports.load("message_stats", path, f, granularity)

reports.chart(data["series"],
              lambda df: px.line(df, x="period", y="total", color="message_type", markers=True),
              name=f"Messages per {granularity} by type", key="msgstats_series")
left, right = st.columns(2)
with left:
    reports.chart(data["by_type_status"],
                  lambda df: px.bar(df, x="message_type", y="messages", color="status",
                                    color_discrete_map=reports.STATUS_COLORS),
                  name="Messages by type and status", key="msgstats_type_status")
with right:
    reports.chart(
        data["latency"],
        lambda df: px.line(df.melt(id_vars="stat_date", var_name="measure",
                                   value_name="seconds"),
                           x="stat_date", y="seconds", color="measure", markers=True),
        name="Delivery latency (s): mean, p50, p95", key="msgstats_latency",
    )
left, right = st.columns(2)
with left:
    reports.chart(data["top_volume"],
                  lambda df: px.bar(df, x="messages", y="account", orientation="h")
                  .update_yaxes(autorange="reversed"),  # the first row on top
                  name="Top accounts by volume", key="msgstats_top_volume", table=True)
with right:
    reports.chart(data["top_failure_rate"],
                  lambda df: px.bar(df, x="failure_rate", y="account", orientation="h",
                                    hover_data=["failed", "messages"])
                  .update_yaxes(autorange="reversed"),
                  name="Top accounts by failure rate", key="msgstats_top_failure", table=True)
