"""Account health: status distribution, uptime and disconnects per account, flapping
accounts, time to recover, heartbeat freshness."""

import plotly.express as px
import streamlit as st

from ui import reports
from ui.report_queries import FLAPPING_MIN_DISCONNECTS

ctx, path = reports.start(__file__)
f = reports.filters("health", path, ctx, message_type=False)
data = reports.load("account_health", path, f)

left, right = st.columns(2)
with left:
    reports.chart(data["status"],
                  lambda df: px.pie(df, names="status", values="accounts", color="status",
                                    color_discrete_map=reports.STATUS_COLORS),
                  name="Status at the end of the period", key="health_status")
with right:
    reports.chart(
        data["daily"],
        lambda df: px.line(df, x="stat_date", y=["mean_uptime", "disconnects"], markers=True),
        name="Mean uptime and disconnects per day", key="health_daily",
    )
reports.chart(
    data["per_account"],
    lambda df: px.scatter(df, x="uptime_ratio", y="disconnects", color="status",
                          color_discrete_map=reports.STATUS_COLORS,
                          hover_data=["account", "health_score"]),
    name="Uptime and disconnects per account", key="health_per_account", table=True,
)
st.caption(f"Flapping: {FLAPPING_MIN_DISCONNECTS} or more disconnects in the period.")
reports.table(data["flapping"], name="Flapping accounts", key="health_flapping")
reports.chart(
    data["daily"].dropna(subset=["mean_time_to_recover_seconds"]),
    lambda df: px.bar(df, x="stat_date", y="mean_time_to_recover_seconds"),
    name="Mean time to recover (s)", key="health_mttr",
)
reports.heartbeat_freshness(ctx, f)
