"""The "Notebook reports" page over reports built by the real report assets: a tenant user
sees their tenant's reports only, a platform admin any scope; findings, history,
downloads; the report inline in a sandboxed iframe; a failed build shown with its cell
while the last good version stays on show."""

from __future__ import annotations

import html
import re
import time

import dagster as dg
import pytest
from streamlit.testing.v1 import AppTest

from ui.nav import PAGES_DIR
from wework.config import REPO_ROOT, get_settings
from wework.reports.scope import PLATFORM
from wework.reports.store import ReportStore
from wework.services import auth, users

PAGE = str(PAGES_DIR / "notebook_reports.py")
USAGE, BATCHES = "03_tenant_usage", "04_batch_performance"
OPS = "05_operations"  # platform-only


@pytest.fixture(scope="module")
def reports(app_world, tmp_path_factory) -> ReportStore:
    """Two notebooks built for the platform and the test tenant, the operations report
    asked for both (built for the platform only); then the batches notebook, broken, built
    again for the tenant (its newest version fails)."""
    from pipelines.reports import materialize_reports

    with dg.instance_for_test() as instance:
        results = materialize_reports(
            instance, notebooks=[USAGE, BATCHES, OPS], scopes=[PLATFORM, app_world.tenant_id]
        )
        assert all(r.success for r in results)
        folder = tmp_path_factory.mktemp("broken-notebooks")
        source = (REPO_ROOT / "notebooks" / f"{BATCHES}.py").read_text()
        cell = "# %% [markdown]\n# ## Where tasks stall"
        (folder / f"{BATCHES}.py").write_text(
            source.replace(cell, '# %%\nraise KeyError("rate_per_minute")\n\n' + cell)
        )
        (failed,) = materialize_reports(
            instance, notebooks=[BATCHES], scopes=[app_world.tenant_id], folder=folder
        )
        assert not failed.success
    s = get_settings()
    return ReportStore(s.reports_path, keep=s.report_keep_versions)


def open_page(at):
    return at.switch_page(PAGE).run()


def text_of(at) -> str:
    """The text of the page's st.html blocks as a reader sees it (tags removed)."""
    bodies = " ".join(h.proto.body for h in at.get("html"))
    return html.unescape(re.sub(r"<[^>]+>", "", bodies))


def iframe_srcdoc(at) -> str:
    frames = list(at.get("iframe"))
    assert frames, "no iframe on the page"
    return frames[-1].proto.srcdoc


def test_tenant_user_sees_own_reports_findings_and_downloads(app_as, app_world, reports):
    at = open_page(app_as("analyst"))
    assert not at.exception, at.exception
    assert not [s for s in at.selectbox if s.label == "Scope"]  # no way to pick a scope
    assert at.text_input(key="nbreports_tenant").disabled
    at.radio(key="nbreports_notebook").set_value(USAGE).run()
    good = reports.latest(app_world.tenant_id, USAGE)[1]
    shown = text_of(at)
    first = re.sub(r"`+ ?(.*?) ?`+", r"\1", good.manifest["findings"][0])[:30]
    assert first in shown
    assert app_world.tenant_code in shown  # the scope line names the tenant
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download HTML", "Download .ipynb"]
    page = good.page()  # what "Download HTML" serves
    assert page.startswith(b"<!DOCTYPE html>") and b"Content-Security-Policy" in page


def test_the_report_is_inline_in_a_sandboxed_iframe(app_as, reports):
    at = open_page(app_as("analyst"))
    at.radio(key="nbreports_notebook").set_value(USAGE).run()
    srcdoc = iframe_srcdoc(at)
    frame = re.match(r'<iframe title="report" sandbox="([^"]*)" srcdoc="', srcdoc)
    assert frame and frame.group(1) == "allow-scripts"  # no allow-same-origin
    assert srcdoc.count("<iframe") == 1  # the report's markup is only an attribute value
    assert "&lt;script" in srcdoc and "Plotly.newPlot" in srcdoc


def test_a_failed_build_is_shown_with_its_cell_and_the_last_good_report_stays(
    app_as, app_world, reports
):
    newest, good = reports.latest(app_world.tenant_id, BATCHES)
    assert not newest.ok and good is not None
    at = open_page(app_as("analyst"))
    at.radio(key="nbreports_notebook").set_value(BATCHES).run()
    assert not at.exception
    assert any("failed" in e.value for e in at.error)
    codes = [c.value for c in at.code]
    assert any("KeyError" in c and "rate_per_minute" in c for c in codes)
    assert any('raise KeyError("rate_per_minute")' in c for c in codes)
    assert not at.expander  # the traceback is for platform admins
    # The version on show is the last good one, with its page.
    assert at.selectbox(key=f"nbreports_version_{BATCHES}").value == good.id
    assert "Plotly.newPlot" in iframe_srcdoc(at)
    assert [b.proto.label for b in at.get("download_button")] == [
        "Download HTML",
        "Download .ipynb",
    ]
    admin = open_page(app_as("super_admin", acting_tenant=app_world.tenant_id))
    admin.radio(key="nbreports_notebook").set_value(BATCHES).run()
    assert [e.label for e in admin.expander] == ["Traceback (platform admins)"]


def test_platform_admin_chooses_any_scope(app_as, reports):
    at = open_page(app_as("super_admin"))
    assert not at.exception
    scope = at.selectbox(key="nbreports_scope")
    assert scope.value == PLATFORM and len(scope.options) > 2
    at.radio(key="nbreports_notebook").set_value(USAGE).run()
    assert reports.latest(PLATFORM, USAGE)[1].manifest["scope_label"] == "All tenants"
    assert "All tenants" in text_of(at)


def test_the_operations_report_is_offered_for_the_platform_only(app_as, app_world, reports):
    assert reports.latest(PLATFORM, OPS)[1] is not None
    assert OPS not in reports.notebooks(app_world.tenant_id)  # never built for a tenant
    analyst = open_page(app_as("analyst"))
    assert not analyst.exception
    choices = analyst.radio(key="nbreports_notebook").options
    assert "Tenant usage" in "".join(choices) and "Platform operations" not in choices
    admin = open_page(app_as("super_admin"))
    assert "Platform operations" in admin.radio(key="nbreports_notebook").options
    admin.radio(key="nbreports_notebook").set_value(OPS).run()
    assert not admin.exception and "All tenants" in text_of(admin)
    # The same admin looking at a tenant's reports: not offered there either.
    admin.selectbox(key="nbreports_scope").set_value(app_world.tenant_id).run()
    assert "Platform operations" not in admin.radio(key="nbreports_notebook").options


def test_another_tenants_user_sees_none_of_these_reports(app_world, reports, seeded):
    other_code = next(c for c in seeded.demo_users if c != app_world.tenant_code)
    from wework.services import tenants

    other = tenants.find_tenant_by_code(other_code)
    user = users.create_user(
        app_world.super_ctx.for_tenant(other.id),
        username=f"nbr-{other_code}",
        email=f"nbr-{other_code}@example.com",
        password="app-test-password-1",
        role_codes=["analyst"],
    )
    at = AppTest.from_file(str(PAGES_DIR.parent / "main.py"), default_timeout=60)
    at.session_state["wework_user_id"] = user.id
    at.session_state["wework_home_tenant"] = user.tenant_id
    at.session_state["wework_acting_tenant"] = user.tenant_id
    at.session_state["wework_last_seen"] = time.time()
    at = open_page(at.run())
    assert not at.exception
    assert any("No report has been built for this scope yet" in i.value for i in at.info)
    assert auth.actor_for(user.id).tenant_id == other.id
    assert not reports.notebooks(other.id)


@pytest.mark.browser
def test_report_runs_in_the_browser_but_cannot_reach_the_app(app_world, reports, tmp_path):
    """In Chromium: the report's charts draw inside the page, and its scripts run in an
    opaque origin that cannot touch the app's document."""
    from browsing import chromium_page, heading, open_nav, served_app, shot
    from playwright.sync_api import expect
    from test_browser import PASSWORD, TIMEOUT_MS

    with served_app(tmp_path / "streamlit.log") as url, chromium_page(TIMEOUT_MS) as page:
        page.goto(url)
        heading(page, "WeWork Platform")
        page.get_by_label("Username", exact=True).fill(app_world.users["analyst"].username)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        open_nav(page, "Notebook reports")
        page.get_by_test_id("stRadio").get_by_text("Tenant usage and quotas").click()
        report = page.frame_locator("iframe[title='st.iframe']").frame_locator(
            "iframe[title='report']"
        )
        expect(report.locator(".js-plotly-plot .main-svg").first).to_be_visible()
        expect(report.get_by_role("heading", name="Findings", exact=True)).to_be_visible()
        shot(page, "20_notebook_report")
        inner = next(f for f in page.frames if f.parent_frame and f.parent_frame.parent_frame)
        assert inner.evaluate("() => window.origin") == "null"
        reach = inner.evaluate(
            "() => { try { return window.parent.document.title } "
            "catch (e) { return 'blocked: ' + e.name } }"
        )
        assert reach == "blocked: SecurityError"
