"""Callbacks: received / processed / failed / ignored per day and event type, processing
time. A tenant's users see the callbacks of their own tenant's accounts; platform-wide
figures are for platform admins (the tenant filter's "(all)")."""

import plotly.express as px
import streamlit as st

from ui import reports
from ui.report_queries import CallbacksNotScoped

ctx, path = reports.start(__file__)
st.caption("Callback events arrive per WeCom instance; each counts for the tenant of the "
           "instance's account.")
f = reports.filters("cbrep", path, ctx, account=False, message_type=False)
try:
    data = reports.load("callbacks", path, f)
except CallbacksNotScoped:
    st.info("The published marts count callbacks for the whole platform only, not per "
            "tenant, so there are no figures to show for one tenant yet. Platform admins "
            "see the platform-wide figures.", icon=":material/info:")
    st.stop()
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
