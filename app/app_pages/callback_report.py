"""Callbacks: received / processed / failed / ignored per day and event type, processing
time (callback events are platform-wide: they carry no tenant)."""

import plotly.express as px
import streamlit as st

from ui import reports

ctx, path = reports.start(__file__)
st.caption("Callback events arrive per WeCom instance and are counted platform-wide.")
f = reports.filters("cbrep", path, ctx, account=False, message_type=False, tenant=False)
data = reports.load("callbacks", path, f)
daily = data["daily"]
reports.chart(
    daily,
    lambda df: px.bar(
        df.groupby("stat_date", as_index=False)[
            ["processed_count", "failed_count", "ignored_count", "pending_count"]].sum()
        .melt(id_vars="stat_date", var_name="outcome", value_name="events"),
        x="stat_date", y="events", color="outcome"),
    name="Callback events per day", key="cbrep_daily",
)
left, right = st.columns(2)
with left:
    reports.chart(data["by_event_type"],
                  lambda df: px.bar(df, x="event_type", y=["processed_count", "failed_count"]),
                  name="Events by type", key="cbrep_types", table=True)
with right:
    reports.chart(daily.dropna(subset=["p95_processing_seconds"]),
                  lambda df: px.line(df, x="stat_date", y="p95_processing_seconds",
                                     color="event_type", markers=True),
                  name="p95 processing time (s)", key="cbrep_p95")
