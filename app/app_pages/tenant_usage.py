"""Tenant usage against quotas: messages per day vs max_daily_messages, accounts vs
max_accounts."""

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from ui import reports

ctx, path = reports.start(__file__)
f = reports.filters("usage", path, ctx, account=False, message_type=False)
daily = reports.with_tenant_names(reports.load("tenant_usage", path, f)["daily"], ctx)


def messages_vs_quota(df):
    fig = px.bar(df, x="stat_date", y="messages_created", color="tenant")
    if df["tenant_id"].nunique() == 1:  # one quota line makes sense for one tenant
        fig.add_trace(go.Scatter(x=df["stat_date"], y=df["max_daily_messages"],
                                 mode="lines", name="max_daily_messages"))
    return fig


reports.chart(daily, messages_vs_quota, name="Messages created per day vs quota",
              key="usage_messages")
if not daily.empty:
    over = daily[daily["over_daily_quota"]]
    if not over.empty:
        st.warning(f"{len(over)} tenant-day(s) over the daily message quota.")
    latest = daily.sort_values("stat_date").groupby(["tenant_id", "tenant"],
                                                     as_index=False).last()
    reports.chart(
        latest,
        lambda df: px.bar(df, x="tenant", y=["accounts", "max_accounts"], barmode="group"),
        name="Accounts vs max_accounts (last day)", key="usage_accounts",
    )
reports.table(daily, name="Usage per tenant and day", key="usage_table")
