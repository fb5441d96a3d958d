"""Notebook reports: the latest version of every analyst notebook report for a scope (the
whole platform, or one tenant), with its findings and history, the report itself inline
and its HTML and .ipynb for download.

Tenant users see their own tenant's reports only (the scope is their tenant, never a value
from the page); platform admins choose any tenant or the platform-wide reports. A
platform-only report (the operations report) is listed for the platform scope only. The
report page is shown in an iframe sandboxed without ``allow-same-origin``: its charts run, but as
an opaque origin that cannot reach the app, its session or its cookies.
"""

import html
from datetime import datetime

import streamlit as st

from ui import nav, session
from ui.downloads import file_button
from ui.reports import REPORT_CACHE_TTL_SECONDS, tenant_labels
from wework.config import get_settings
from wework.reports.markdown import code, to_html
from wework.reports.notebooks import discover
from wework.reports.scope import PLATFORM
from wework.reports.store import IPYNB, PAGE, ReportStore, Version

REPORT_HEIGHT = 900


def safe_markdown(text: str) -> None:
    """Markdown in which user-supplied text stays text (no raw HTML, links or images)."""
    st.html(to_html(text))


@st.cache_data(ttl=REPORT_CACHE_TTL_SECONDS, max_entries=8, show_spinner=False)
def _page(scope: str, notebook: str, version_id: str) -> str | None:
    # Versions never change once written: (scope, notebook, version) is a sufficient key.
    version = _store().version(scope, notebook, version_id)
    page = version.page() if version is not None else None
    return page.decode("utf-8") if page is not None else None


def _store() -> ReportStore:
    settings = get_settings()
    return ReportStore(settings.reports_path, keep=settings.report_keep_versions)


def sandboxed(page: str, height: int = REPORT_HEIGHT) -> None:
    """``page`` inside an iframe that may run its own scripts but nothing against the app
    (no ``allow-same-origin``, no popups, no top navigation, no forms)."""
    frame = (
        f'<iframe title="report" sandbox="allow-scripts" srcdoc="{html.escape(page, quote=True)}"'
        f' style="width:100%;height:{height}px;border:1px solid #ddd;border-radius:4px">'
        "</iframe>"
    )
    st.iframe(frame, height=height + 12)


def when(stamp: str | None) -> str:
    if not stamp:
        return "-"
    return f"{datetime.fromisoformat(stamp):%Y-%m-%d %H:%M} UTC"


def label(v: Version) -> str:
    m = v.manifest
    status = "failed" if not v.ok else ("no data" if m.get("no_data") else "ok")
    return f"{when(m.get('built_at'))} · {status}"


def show_failure(v: Version, admin: bool) -> None:
    error = v.manifest.get("error") or {}
    st.error(
        f"The build of {when(v.manifest.get('built_at'))} failed. Readers keep the last good "
        "version until a build succeeds.",
        icon=":material/error:",
    )
    cell = error.get("cell_index")
    where = f"Cell {cell}" if cell is not None else "The notebook"
    st.code(f"{where} raised {error.get('ename')}: {error.get('evalue')}", language=None)
    if error.get("source"):
        st.caption("The failing cell:")
        st.code(error["source"], language="python")
    if admin and error.get("traceback"):
        with st.expander("Traceback (platform admins)"):
            st.code(error["traceback"], language=None)


def show_version(v: Version, scope: str, notebook: str, admin: bool,
                 failure_shown: bool) -> None:
    m = v.manifest
    if not v.ok:
        if not failure_shown:
            show_failure(v, admin)
    else:
        findings = m.get("findings") or []
        st.subheader("No data" if m.get("no_data") else "Findings")
        safe_markdown("\n".join(f"- {line}" for line in findings))
    marts = m.get("marts") or {}
    rows = sum((m.get("rows_read") or {}).values())
    period = " – ".join(m.get("period") or [])
    safe_markdown(
        f"Scope {code(m.get('scope_label', ''))} · period {code(period)} · built "
        f"{when(m.get('built_at'))} in {m.get('duration_seconds', 0):.1f} s · marts published "
        f"{when(marts.get('published_at'))} (snapshot {code(marts.get('snapshot') or '-')}) · "
        f"{rows:,} rows read"
    )
    stem = f"{notebook}-{'platform' if scope == PLATFORM else scope[-8:]}-{v.id[:15]}"
    cols = st.columns(2)
    has_page = v.file(PAGE) is not None
    if has_page:
        file_button("Download HTML", v.page, f"{stem}.html", "text/html", f"html_{v.id}",
                    cols[0])
    ipynb = v.file(IPYNB)
    if ipynb is not None and (v.ok or admin):  # a failed notebook's outputs hold a traceback
        file_button("Download .ipynb", ipynb.read_bytes, f"{stem}.ipynb",
                    "application/x-ipynb+json", f"ipynb_{v.id}", cols[1])
    if has_page:
        sandboxed(_page(scope, notebook, v.id))


ctx = nav.start(__file__)
admin = ctx.actor.is_super_admin
st.caption(
    "The analyst notebooks, run by the pipelines for the whole platform and for each tenant "
    "after every publish of the marts whose rows they read changed."
)
store = _store()

if admin:
    from ui.sidebar import tenant_choices

    scopes = {PLATFORM: "All tenants (platform-wide)", **tenant_choices(ctx.actor)}
    acting = session.acting_tenant()
    default = acting if acting in scopes and acting != ctx.actor.tenant_id else PLATFORM
    scope = st.selectbox("Scope", list(scopes), index=list(scopes).index(default),
                         format_func=lambda s: scopes.get(s, s), key="nbreports_scope")
else:
    scope = ctx.actor.tenant_id  # pinned: never taken from the page
    st.text_input("Tenant", value=tenant_labels(ctx)[scope], disabled=True,
                  key="nbreports_tenant")

# Platform-only reports (the operations report) are not offered for a tenant at all.
notebooks = [nb for nb in discover() if nb.offered_for(scope)]
latest = {nb.name: store.latest(scope, nb.name) for nb in notebooks}
if not any(newest for newest, _ in latest.values()):
    st.info("No report has been built for this scope yet: they are built after the next "
            "publish of the marts (or run `wework reports build`).", icon=":material/info:")
    st.stop()

overview = []
for nb in notebooks:
    newest, good = latest[nb.name]
    overview.append({
        "report": nb.title,
        "latest build": label(newest) if newest else "not built yet",
        "shown version": when(good.manifest.get("built_at")) if good else "-",
        "findings": len(good.manifest.get("findings") or []) if good else 0,
    })
st.dataframe(overview, hide_index=True)

titles = {nb.name: nb.title for nb in notebooks}
chosen = st.radio("Report", list(titles), format_func=titles.get, horizontal=True,
                  key="nbreports_notebook")
newest, good = latest[chosen]
if newest is None:
    st.info("This report has not been built for this scope yet.", icon=":material/info:")
    st.stop()
if not newest.ok:
    show_failure(newest, admin)
history = store.versions(scope, chosen)
shown = good or newest
labels = {v.id: label(v) for v in history}
picked = st.selectbox("Version", list(labels), index=list(labels).index(shown.id),
                      format_func=labels.get, key=f"nbreports_version_{chosen}",
                      help="Every kept build of this report, newest first.")
version = store.version(scope, chosen, picked)
if version is None:  # removed by retention since the list was read
    st.warning("That version is no longer kept.")
    st.stop()
show_version(version, scope, chosen, admin,
             failure_shown=version.id == newest.id and not newest.ok)
