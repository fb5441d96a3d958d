"""What every report page shares: the permission gate, the marts' freshness, the filter
row, cached loading of the page's data, and charts/tables that say "no data" instead of
drawing an empty figure, each with a CSV download of exactly what is shown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui import session
from ui.report_queries import REPORTS, Filters, account_labels
from wework.enums import MessageType
from wework.services.context import ServiceContext
from wework.services.permissions import REPORT_VIEW
from wework.warehouse import NoPublishedMarts, open_marts, published_file

# Report data is cached this long; a new publish of the marts invalidates it earlier,
# because the published file's path is part of every cache key.
REPORT_CACHE_TTL_SECONDS = 300

# One colour per status on every chart: good news green, trouble red/orange.
STATUS_COLORS = {
    "online": "#2e9d5b", "delivered": "#2e9d5b", "sent": "#7cc48f", "processed": "#2e9d5b",
    "offline": "#9aa0a6", "cancelled": "#9aa0a6", "ignored": "#9aa0a6",
    "error": "#d93025", "failed": "#d93025",
    "recovering": "#f29900", "need_verify": "#f29900", "sending": "#f2c200",
    "pending": "#4f8ad6", "created": "#8ab4f8", "logging_in": "#6b9be0",
    "waiting_scan": "#5c7fc0", "waiting_confirm": "#4a6aa8",
    "running": "#4f8ad6", "paused": "#f29900", "completed": "#2e9d5b",
}
STALE_AFTER = timedelta(hours=2)  # the schedule refreshes hourly
ALL = "(all)"


def published_marts() -> Path:
    """The published marts file, or stop the page with a clear note when there is none."""
    path = published_file()
    if path is None:
        st.warning("No marts have been published yet: run `wework etl run` to build them.")
        st.stop()
    return path


@st.cache_data(ttl=REPORT_CACHE_TTL_SECONDS, show_spinner=False)
def _publish_info(path: str) -> tuple[datetime | None, datetime | None]:
    con = open_marts()
    try:
        row = con.execute("SELECT published_at, as_of FROM marts.publish_info").fetchone()
    finally:
        con.close()
    return (row[0], row[1]) if row else (None, None)


def show_freshness(path: Path) -> None:
    published_at, as_of = _publish_info(str(path))
    if published_at is None:
        st.caption("Marts freshness unknown.")
        return
    age = datetime.now(UTC).replace(tzinfo=None) - published_at
    minutes = max(0, int(age.total_seconds() // 60))
    text = (f"Marts published {published_at:%Y-%m-%d %H:%M} UTC ({minutes} min ago)"
            + (f", data as of {as_of:%Y-%m-%d %H:%M} UTC" if as_of else ""))
    if age > STALE_AFTER:
        st.warning(text + ": older than the hourly schedule allows.", icon=":material/schedule:")
    else:
        st.caption(text)


@st.cache_data(ttl=REPORT_CACHE_TTL_SECONDS, show_spinner=False)
def _account_options(path: str, tenant_id: str | None) -> dict[str, str]:
    con = open_marts()
    try:
        return account_labels(con, tenant_id)
    finally:
        con.close()


def _tenant_labels(ctx: ServiceContext) -> dict[str, str]:
    from ui.sidebar import tenant_choices

    return tenant_choices(ctx.actor)


def _own_tenant_label(ctx: ServiceContext) -> str:
    cache = st.session_state.setdefault("wework_own_tenant_label", {})
    if ctx.tenant_id not in cache:
        from wework.services import tenants

        t = tenants.get_tenant(ctx, ctx.tenant_id)
        cache[ctx.tenant_id] = f"{t.tenant_name} ({t.tenant_code})"
    return cache[ctx.tenant_id]


def tenant_labels(ctx: ServiceContext) -> dict[str, str]:
    """tenant_id -> "name (code)" of the tenants this user may see in reports."""
    if ctx.actor.is_super_admin:
        return _tenant_labels(ctx)
    return {ctx.tenant_id: _own_tenant_label(ctx)}


def with_tenant_names(df: pd.DataFrame, ctx: ServiceContext) -> pd.DataFrame:
    """A copy with a readable ``tenant`` column next to ``tenant_id``."""
    if df.empty or "tenant_id" not in df:
        return df
    labels = tenant_labels(ctx)
    out = df.copy()
    out.insert(0, "tenant", out["tenant_id"].map(lambda t: labels.get(t, t)))
    return out


def filters(key: str, path: Path, ctx: ServiceContext, *, account: bool = True,
            message_type: bool = True, tenant: bool = True,
            default_days: int = 7) -> Filters:
    """The filter row. Tenant: a super-admin may pick any tenant or all of them (default:
    the tenant chosen in the sidebar); everyone else is pinned to their own tenant."""
    cols = st.columns(4)
    tenant_id: str | None = ctx.tenant_id
    if tenant and ctx.actor.is_super_admin:
        labels = _tenant_labels(ctx)
        options = [ALL, *labels]
        # The super-admin's own (platform) tenant has no traffic: start on all tenants.
        own = ctx.tenant_id == ctx.actor.tenant_id
        default = options.index(ctx.tenant_id) if ctx.tenant_id in labels and not own else 0
        picked = cols[0].selectbox("Tenant", options, index=default, key=f"{key}_tenant",
                                   format_func=lambda t: labels.get(t, t))
        tenant_id = None if picked == ALL else picked
    elif tenant:
        cols[0].text_input("Tenant", value=_own_tenant_label(ctx), disabled=True,
                           key=f"{key}_tenant")
    today = datetime.now(UTC).date()
    picked_dates = cols[1].date_input(
        "Date range (UTC)", value=(today - timedelta(days=default_days - 1), today),
        key=f"{key}_dates")
    if isinstance(picked_dates, tuple | list) and len(picked_dates) == 2:
        date_from, date_to = picked_dates
    else:  # a half-picked range: treat it as one day
        date_from = date_to = picked_dates[0] if isinstance(picked_dates, tuple | list) \
            else picked_dates
    account_id = None
    if account:
        # Its own name: the tenant box's format_func above closes over ``labels``.
        account_labels = _account_options(str(path), tenant_id)
        chosen = cols[2].selectbox("Account", [ALL, *account_labels], key=f"{key}_account",
                                   format_func=lambda a: account_labels.get(a, a))
        account_id = None if chosen == ALL else chosen
    mtype = None
    if message_type:
        chosen = cols[3].selectbox("Message type", [ALL, *[t.value for t in MessageType]],
                                   key=f"{key}_type")
        mtype = None if chosen == ALL else chosen
    return Filters(tenant_id, date_from, date_to, account_id, mtype)


@st.cache_data(ttl=REPORT_CACHE_TTL_SECONDS, show_spinner="Loading report…")
def _load(report: str, path: str, f: Filters, options: tuple) -> dict[str, pd.DataFrame]:
    # ``path`` (the published file) is part of the key: a new publish is a new cache entry.
    con = open_marts()
    try:
        return REPORTS[report](con, f, *options)
    finally:
        con.close()


def load(report: str, path: Path, f: Filters, *options) -> dict[str, pd.DataFrame]:
    try:
        return _load(report, str(path), f, tuple(options))
    except NoPublishedMarts as e:
        st.warning(str(e))
        st.stop()


def start(title: str) -> tuple[ServiceContext, Path]:
    """Header of a report page: gate on report:view, title, freshness."""
    ctx = session.require(REPORT_VIEW)
    st.title(title)
    path = published_marts()
    show_freshness(path)
    return ctx, path


def csv_button(df: pd.DataFrame, name: str, key: str) -> None:
    st.download_button(
        f"Download {name} (CSV)", df.to_csv(index=False).encode(), file_name=f"{key}.csv",
        mime="text/csv", key=f"csv_{key}", icon=":material/download:",
    )


def no_data(what: str) -> None:
    st.info(f"No data for these filters ({what}).", icon=":material/info:")


def chart(df: pd.DataFrame, make: Callable[[pd.DataFrame], go.Figure], *, name: str,
          key: str, table: bool = False) -> None:
    """The figure of ``df`` (or a "no data" note), then its CSV download."""
    if df is None or df.empty:
        no_data(name)
        return
    fig = make(df)
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10), title=name)
    st.plotly_chart(fig, key=f"fig_{key}")
    if table:
        st.dataframe(df, hide_index=True)
    csv_button(df, name, key)


def table(df: pd.DataFrame, *, name: str, key: str) -> None:
    if df is None or df.empty:
        no_data(name)
        return
    st.subheader(name)
    st.dataframe(df, hide_index=True)
    csv_button(df, name, key)


def today() -> date:
    return datetime.now(UTC).date()


def heartbeat_freshness(ctx: ServiceContext, f: Filters) -> None:
    """Heartbeat age of the tenant's accounts *now*. The marts keep daily aggregates, not
    heartbeats, so this section asks the accounts service (a replica read, never the
    primary); it needs account:manage, else it says so."""
    from wework.errors import ServiceError
    from wework.services import accounts
    from wework.services.permissions import ACCOUNT_MANAGE

    st.subheader("Heartbeat freshness (now)")
    if not session.can(ctx.actor, ACCOUNT_MANAGE):
        st.caption("Heartbeat ages are shown to users who manage accounts.")
        return
    if f.tenant_id is None:
        st.caption("Pick one tenant to see its accounts' heartbeats.")
        return
    tctx = ctx if f.tenant_id == ctx.tenant_id else ctx.for_tenant(f.tenant_id)
    now = datetime.now(UTC).replace(tzinfo=None)
    rows, cursor = [], None
    try:
        while True:
            page = accounts.list_accounts(tctx, limit=500, cursor=cursor)
            for a in page.items:
                if f.account_id and a.id != f.account_id:
                    continue
                age = (now - a.last_heartbeat_time).total_seconds() \
                    if a.last_heartbeat_time else None
                rows.append({"account_id": a.id, "account_name": a.account_name,
                             "status": str(a.status), "heartbeat_age_seconds": age})
            if not page.next_cursor:
                break
            cursor = page.next_cursor
    except ServiceError as e:
        st.error(str(e))
        return
    df = pd.DataFrame(rows)
    if df.empty:
        no_data("heartbeats")
        return
    bins = [-1, 60, 90, 300, 3600, float("inf")]
    names = ["< 1 min", "1–1.5 min", "1.5–5 min", "5–60 min", "> 1 h"]
    df["freshness"] = pd.cut(df["heartbeat_age_seconds"], bins=bins, labels=names)
    df["freshness"] = df["freshness"].astype("string").fillna("never")
    counts = df.groupby("freshness", as_index=False).agg(accounts=("account_id", "count"))
    import plotly.express as px

    chart(counts, lambda d: px.bar(d, x="freshness", y="accounts"),
          name="Accounts by heartbeat age", key="health_heartbeat")
    table(df, name="Heartbeat age per account", key="health_heartbeat_table")
