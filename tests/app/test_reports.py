"""Report pages over the real published marts: charts, CSV downloads, freshness, the
"no data" note, and the tenant pinning of non-super-admins."""

from __future__ import annotations

from datetime import date

import pytest

from ui.nav import PAGES_DIR
from ui.report_queries import Filters, account_health, message_stats, overview
from wework.services import accounts
from wework.warehouse import open_marts

REPORT_FILES = ["overview.py", "message_stats.py", "account_health.py", "batch_report.py",
                "callback_report.py", "tenant_usage.py"]


def open_page(at, file):
    return at.switch_page(str(PAGES_DIR / file)).run()


def elements(at, kind):
    return list(at.get(kind))


@pytest.mark.parametrize("file", REPORT_FILES)
def test_report_shows_charts_downloads_and_freshness(app_as, file):
    # Platform-wide callback figures are the platform admins' (tests/app/test_privacy.py).
    at = open_page(app_as("super_admin" if file == "callback_report.py" else "analyst"), file)
    assert not at.exception
    assert elements(at, "plotly_chart"), f"{file} drew no chart"
    assert elements(at, "download_button"), f"{file} offers no CSV"
    assert any("Marts published" in c.value for c in at.caption), "freshness not shown"


@pytest.mark.parametrize("file", ["overview.py", "message_stats.py", "account_health.py"])
def test_empty_filters_say_no_data(app_as, file):
    at = open_page(app_as("analyst"), file)
    key = {"overview.py": "overview", "message_stats.py": "msgstats",
           "account_health.py": "health"}[file]
    at.date_input(key=f"{key}_dates").set_value((date(2019, 1, 1), date(2019, 1, 7))).run()
    assert not at.exception
    assert any("No data for these filters" in i.value for i in at.info)


def test_non_super_admin_is_pinned_to_own_tenant(app_as, app_world):
    at = open_page(app_as("analyst"), "overview.py")
    box = at.text_input(key="overview_tenant")
    assert box.value.endswith(f"({app_world.tenant_code})") and box.disabled
    # Even a forged acting tenant in the session is replaced by the user's own.
    at.session_state["wework_acting_tenant"] = app_world.super_ctx.actor.tenant_id
    at = at.run()
    assert at.session_state["wework_acting_tenant"] == app_world.tenant_id


def tenant_days(con, tenant_id: str) -> tuple[date, date]:
    """The first and last day of the tenant's messages in the marts."""
    return con.execute("SELECT min(stat_date), max(stat_date) FROM "
                       "marts.message_stats_daily WHERE tenant_id = ?", [tenant_id]).fetchone()


def test_overview_figures_match_the_marts(app_world):
    """The Overview's period total equals a direct sum over the daily mart."""
    con = open_marts()
    try:
        lo, hi = tenant_days(con, app_world.tenant_id)
        expected = con.execute("SELECT sum(total_count) FROM marts.message_stats_daily "
                               "WHERE tenant_id = ?", [app_world.tenant_id]).fetchone()[0]
        kpis = overview(con, Filters(app_world.tenant_id, lo, hi), today=hi)["kpis"]
    finally:
        con.close()
    assert expected > 0
    got = kpis.set_index("metric").loc["Messages in period", "value"]
    assert got == expected
    assert kpis.set_index("metric").loc["Messages in period", "previous"] == 0


def account_names(world) -> dict[str, str]:
    """The names of the tenant's accounts in the published marts, read from MySQL through
    the accounts service (other tests add accounts to the tenant after the publish)."""
    con = open_marts()
    try:
        published = {a for (a,) in con.execute(
            "SELECT account_id FROM marts.account_directory WHERE tenant_id = ?",
            [world.tenant_id]).fetchall()}
    finally:
        con.close()
    names, cursor = {}, None
    while True:
        page = accounts.list_accounts(world.admin_ctx, limit=500, cursor=cursor)
        names.update({a.id: a.account_name for a in page.items if a.id in published})
        if not page.next_cursor:
            return names
        cursor = page.next_cursor


def test_top_and_per_account_reports_name_the_accounts(app_world):
    con = open_marts()
    try:
        f = Filters(app_world.tenant_id, *tenant_days(con, app_world.tenant_id))
        tables = [message_stats(con, f)["top_volume"], account_health(con, f)["per_account"]]
    finally:
        con.close()
    names = account_names(app_world)
    for df in tables:
        assert not df.empty
        labels = dict(zip(df["account_id"], df["account"], strict=True))
        assert labels == {a: f"{names[a]} · {a[-6:]}" for a in labels}


def test_super_admin_can_pick_all_tenants(app_as):
    at = open_page(app_as("super_admin"), "overview.py")
    box = at.selectbox(key="overview_tenant")
    box.set_value("(all)").run()
    assert not at.exception
    assert elements(at, "plotly_chart")


def test_account_filter_and_hourly_series(app_as, app_world):
    at = open_page(app_as("analyst"), "message_stats.py")
    shown = [o for o in at.selectbox(key="msgstats_account").options if o != "(all)"]
    assert shown, "the seeded tenant has accounts in the marts"
    con = open_marts()
    try:
        busiest = con.execute(
            "SELECT account_id FROM marts.message_stats_hourly WHERE tenant_id = ? "
            "GROUP BY 1 ORDER BY sum(total_count) DESC LIMIT 1", [app_world.tenant_id]
        ).fetchone()[0]
    finally:
        con.close()
    names = account_names(app_world)
    assert sorted(shown) == sorted(f"{names[a]} · {a[-6:]}" for a in names)  # by name
    at.selectbox(key="msgstats_account").set_value(busiest).run()
    assert at.selectbox(key="msgstats_account").value == busiest
    at.radio(key="msgstats_granularity").set_value("hour").run()
    assert not at.exception
    assert elements(at, "plotly_chart")
    assert any("per hour" in str(c.proto.spec) for c in elements(at, "plotly_chart"))
