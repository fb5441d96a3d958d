"""Batch tasks: status, throughput, failure rate, and whether counters match messages."""

import plotly.express as px
import streamlit as st

from ui import reports

ctx, path = reports.start(__file__)
f = reports.filters("batchrep", path, ctx, message_type=False, default_days=30)
data = reports.load("batch_tasks", path, f)
tasks = reports.with_tenant_names(data["tasks"], ctx)
if not tasks.empty and not tasks["counters_match"].all():
    st.warning(f"{int((~tasks['counters_match']).sum())} task(s) have counters that disagree "
               "with their messages.")
left, right = st.columns(2)
with left:
    reports.chart(data["by_status"], lambda df: px.bar(df, x="status", y="tasks", color="status",
                                    color_discrete_map=reports.STATUS_COLORS),
                  name="Tasks by status", key="batchrep_status")
with right:
    reports.chart(
        tasks.dropna(subset=["failure_rate"]),
        lambda df: px.bar(df, x="task_name", y="failure_rate",
                          hover_data=["messages_per_minute", "sent_count"]),
        name="Failure rate per task", key="batchrep_failure",
    )
reports.table(tasks, name="Batch tasks", key="batchrep_tasks")
