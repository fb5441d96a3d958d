"""Monitoring: recent platform metrics read back from the metrics store (wework.metrics)."""

import plotly.express as px
import streamlit as st

from ui import nav
from ui.reports import chart
from ui.text import md
from wework.metrics.query import MetricsQueryError, recent

ctx = nav.start(__file__)
minutes = st.select_slider("Window (minutes)", [15, 60, 180, 720, 1440], value=60,
                           key="monitoring_minutes")
# (series prefix, title, carries a tenant_id tag) — names as wework.metrics.helpers writes.
PANELS = (
    ("accounts_*", "Accounts by status", True),
    ("heartbeat_*", "Heartbeat age (s)", True),
    ("messages_*", "Pending and recently failed messages", True),
    ("message_send_*", "Message sends", True),
    ("batch_progress_*", "Batch progress", True),
    ("callbacks_*", "Callback backlog and failures", False),
    ("callback_processed_*", "Callbacks processed", False),
    ("replica_lag_*", "Replica lag (s)", False),
    ("pipeline_run_*", "Pipeline runs", False),
    ("cache_hit_rate", "Cache hit rate per cache and process", False),
    (["cache_misses", "cache_evictions", "cache_errors"],
     "Cache misses, evictions and Redis errors (cumulative per process)", False),
)


def _key(series: str | list[str]) -> str:
    return "_".join(series if isinstance(series, list) else [series]).replace("*", "").strip("_")


# Super-admins see every tenant's series; everyone else only their own tenant's.
labels = None if ctx.actor.is_super_admin else {"tenant_id": ctx.tenant_id}
try:
    for series, title, tenant_scoped in PANELS:
        frame = recent(series, minutes=minutes, labels=labels if tenant_scoped else None)
        df = frame.to_pandas()
        chart(df, lambda d: px.line(d, x="time", y="value", color="series",
                                    line_group="labels", hover_data=["labels"]),
              name=title, key=f"mon_{_key(series)}")
except MetricsQueryError as e:
    st.info(f"Metrics are not available: {md(e)}")

