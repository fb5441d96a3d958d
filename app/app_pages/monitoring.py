"""Monitoring: recent platform metrics read back from the metrics store (wework.metrics),
the operator alerts (wework.alerts) and, for platform admins, the databases' health
(wework.metrics.database) with its lag and size history."""

from datetime import UTC, datetime

import pandas as pd
import plotly.express as px
import streamlit as st

from ui import nav
from ui.reports import chart, table
from ui.text import md
from wework.alerts.history import active_alerts, recent_notices
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
    (["callback_group_deliveries", "callback_group_events"],
     "Callback deliveries and events stored and applied together per group (API)", False),
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


def line_chart(frame, title: str, key: str) -> None:
    chart(frame.to_pandas(), lambda d: px.line(d, x="time", y="value", color="series",
                                               line_group="labels", hover_data=["labels"]),
          name=title, key=key)


metrics_up = True
try:
    for series, title, tenant_scoped in PANELS:
        frame = recent(series, minutes=minutes, labels=labels if tenant_scoped else None)
        line_chart(frame, title, f"mon_{_key(series)}")
except MetricsQueryError as e:
    metrics_up = False
    st.info(f"Metrics are not available: {md(e)}")

# ---------------------------------------------------------------- alerts
st.header("Alerts")
# Tenant users see only their tenant's alerts (wework.alerts.history scopes the query).
alerts = active_alerts(ctx)
if alerts:
    firing = sum(a.state.value == "firing" for a in alerts)
    st.error(f"{firing} alert(s) firing, {len(alerts) - firing} pending.",
             icon=":material/notifications_active:")
    table(pd.DataFrame([{
        "state": a.state.value, "severity": a.severity, "rule": a.rule, "subject": a.subject,
        "value": a.value, "summary": a.summary, "since (UTC)": a.fired_at or a.pending_since,
    } for a in alerts]), name="Firing and pending", key="mon_alerts_active")
else:
    st.success("No alert is firing.", icon=":material/check_circle:")
notices = recent_notices(ctx, limit=200)
if notices:
    table(pd.DataFrame([{
        "at (UTC)": n.at, "notice": n.kind.value, "repeat": n.repeat, "severity": n.severity,
        "rule": n.rule, "subject": n.subject, "summary": n.summary,
        "webhook": n.delivery.value,
    } for n in notices]), name="Alert history", key="mon_alert_history")

# ---------------------------------------------------------------- database (platform admins)
if ctx.actor.is_super_admin:
    from wework.metrics.database import read_database_health

    st.header("Database")

    @st.cache_data(ttl=30, show_spinner="Reading the databases' health…")
    def health_now():
        return read_database_health(top=15)

    health = health_now()
    st.caption(f"Read at {health.at:%H:%M:%S} UTC as the monitor user (cached 30 s).")
    r = health.replication
    cols = st.columns(4)
    if r is not None:
        cols[0].metric("Replica lag", "-" if r.lag_seconds is None else f"{r.lag_seconds:.2f} s",
                       help=f"IO thread {r.io_running}, SQL thread {r.sql_running}")
    b = health.backups
    cols[1].metric("Last full backup", "never" if b.full_age_seconds is None
                   else f"{b.full_age_seconds / 3600:.1f} h ago")
    cols[2].metric("Last recovery point", "never" if b.recovery_point_age_seconds is None
                   else f"{b.recovery_point_age_seconds / 60:.0f} min ago")
    if health.disk is not None:
        cols[3].metric("Disk free (data dir)", f"{health.disk.free_ratio:.1%}")
    for server in health.servers:
        st.subheader(f"{server.server.title()} server")
        if server.error:
            st.warning(f"Could not read it: {md(server.error)}")
            continue
        c = st.columns(2)
        c[0].metric("Connections", f"{server.connections} / {server.max_connections}",
                    help=f"most at once since start: {server.max_used_connections}")
        if server.buffer_pool_hit_rate is not None:
            c[1].metric("Buffer-pool hit rate", f"{server.buffer_pool_hit_rate:.3%}")
        table(pd.DataFrame([{
            "schema": s.schema, "statement": s.text, "calls": s.calls,
            "total (s)": round(s.total_seconds, 4), "avg (ms)": round(s.avg_seconds * 1e3, 3),
            "p95 (ms)": None if s.p95_seconds is None else round(s.p95_seconds * 1e3, 3),
            "p95 from": s.p95_source, "max (ms)": round(s.max_seconds * 1e3, 3),
            "rows examined": s.rows_examined, "without index": s.no_index_used,
        } for s in server.statements]), name=f"Top statements by total time ({server.server})",
            key=f"mon_db_statements_{server.server}")
        if server.userstat:
            table(pd.DataFrame([{
                "schema": i.schema, "table": i.table, "index": i.name,
                "columns": ", ".join(i.columns), "unique": i.unique,
            } for i in server.unused_indexes]),
                name=f"Unused indexes since the server started ({server.server})",
                key=f"mon_db_unused_{server.server}")
        else:
            st.info("userstat is off on this server: index use is unknown "
                    "(see `wework db check`).")
        table(pd.DataFrame([{
            "schema": d.schema, "table": d.table, "index": d.name,
            "columns": ", ".join(d.columns), "covered by": d.covered_by,
        } for d in server.duplicate_indexes]), name=f"Duplicate indexes ({server.server})",
            key=f"mon_db_duplicate_{server.server}")
        if server.headroom:
            table(pd.DataFrame([{
                "schema": h.schema, "table": h.table, "p_future from": h.future_from,
                "days of headroom": round(h.days, 1), "rows in p_future": h.rows_in_future,
            } for h in server.headroom]), name="Partition headroom",
                key="mon_db_headroom")
        if server.server == "primary":
            sizes = pd.DataFrame([{
                "schema": t.schema, "table": t.table, "partition": t.partition,
                "rows (est.)": t.rows, "data MiB": round(t.data_bytes / 2**20, 2),
                "index MiB": round(t.index_bytes / 2**20, 2),
            } for t in server.tables])
            if metrics_up:
                try:
                    week = recent("db_table_total_bytes", minutes=7 * 1440).to_pandas()
                except MetricsQueryError:
                    week = pd.DataFrame()
                if not week.empty:
                    ends = week.sort_values("time").groupby(["schema", "table"])["value"]
                    growth = (ends.last() - ends.first()).rename("7-day growth MiB") / 2**20
                    sizes = sizes.merge(growth.round(2).reset_index(), on=["schema", "table"],
                                        how="left")
            table(sizes, name="Table and partition sizes", key="mon_db_sizes")
    if metrics_up:
        st.subheader("History")
        for series, title in (("replica_lag_seconds", "Replica lag (s)"),
                              ("db_connections_in_use", "Connections in use"),
                              ("db_table_total_bytes", "Table sizes (bytes)"),
                              ("db_buffer_pool_hit_rate", "Buffer-pool hit rate")):
            line_chart(recent(series, minutes=max(minutes, 1440)), title,
                       f"mon_db_{series}")
    st.caption(f"Page built {datetime.now(UTC):%H:%M:%S} UTC.")
