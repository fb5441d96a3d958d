"""A report page in a real Chromium with the network cut off: it draws its charts and
shows its findings from the file alone, and names typed by users (a tenant's, accounts')
that look like markup show as text and run nothing.

The names come from a copy of the published marts in which one tenant and two of its
accounts are renamed as a user could have named them (the services accept any text); the
reports are then built from that copy by the real runner and renderer.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import sync_playwright
from published_copy import republish

from wework.config import REPO_ROOT, reload_settings
from wework.reports.build import build_reports
from wework.reports.notebooks import load
from wework.reports.runner import KernelPool
from wework.reports.store import ReportStore

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TENANT_NAME = '</script><script>document.title="pwned by the tenant"</script>'
WORST_UPTIME = "Bob`s <img src=x onerror=\"document.title='pwned'\"> ![p](http://127.0.0.1:9/p.png)"
MOST_FAILURES = "<b>bold</b> & <a href='https://example.com'>link</a>"


@pytest.fixture(scope="module")
def hostile(published_marts: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A publish folder like the real one, with hostile names for one tenant's data."""
    chosen = {}

    def rename(con: duckdb.DuckDBPyConnection) -> None:
        tenant, worst = con.execute(
            "SELECT tenant_id, account_id FROM marts.account_health_daily "
            "GROUP BY ALL ORDER BY avg(uptime_ratio) LIMIT 1"
        ).fetchone()
        failing = con.execute(
            "SELECT account_id FROM marts.message_stats_hourly WHERE tenant_id = ? "
            "AND account_id <> ? GROUP BY 1 ORDER BY sum(failed_count) DESC LIMIT 1",
            [tenant, worst],
        ).fetchone()[0]
        con.execute(
            "UPDATE marts.account_directory SET tenant_name = ? WHERE tenant_id = ?",
            [TENANT_NAME, tenant],
        )
        for account, name in ((worst, WORST_UPTIME), (failing, MOST_FAILURES)):
            con.execute(
                "UPDATE marts.account_directory SET account_name = ?, "
                "account_label = ? || ' · ' || right(account_id, 6) WHERE account_id = ?",
                [name, name, account],
            )
        chosen["tenant"] = tenant

    folder = republish(published_marts, tmp_path_factory.mktemp("hostile"), edit=rename)
    return {"folder": folder, "tenant": chosen["tenant"]}


@pytest.fixture(scope="module")
def pages(hostile: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The delivery and account-health reports of that tenant, as HTML files."""
    out = tmp_path_factory.mktemp("pages")
    mp = pytest.MonkeyPatch()
    mp.setenv("WEWORK_PUBLISH_DIR", str(hostile["folder"]))
    reload_settings()
    notebooks = [
        load(REPO_ROOT / "notebooks" / f"{n}.py")
        for n in ("01_message_delivery", "02_account_health")
    ]
    store = ReportStore(out / "reports")
    paths = {}
    try:
        with KernelPool(2, env={"WEWORK_PUBLISH_DIR": str(hostile["folder"])}) as pool:
            for built in build_reports(
                notebooks, [hostile["tenant"]], store=store, pool=pool, period_days=30
            ):
                assert built.ok, built.error
                paths[built.notebook.name] = out / f"{built.notebook.name}.html"
                paths[built.notebook.name].write_bytes(built.version.page())
                paths[built.notebook.name + ".findings"] = built.version.manifest["findings"]
    finally:
        mp.undo()
        reload_settings()
    return paths


def open_offline(path: Path, check) -> list[str]:
    """Open ``path`` in Chromium with every request but the file itself refused; run
    ``check(page)``; return the refused requests."""
    refused: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith("file://")
                else (refused.append(route.request.url), route.abort())
            ),
        )
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
        check(page)
        browser.close()
    assert not errors, errors
    return refused


def test_the_page_works_offline_and_shows_hostile_names_as_text(pages: dict) -> None:
    def check(page) -> None:
        assert page.locator(".js-plotly-plot").count() >= 4
        assert not page.title().startswith("pwned")
        assert page.locator('img[src="x"]').count() == 0
        assert page.locator('img[src^="http"]').count() == 0
        body = page.inner_text("body")
        assert TENANT_NAME in body  # the banner and the scope line, as typed
        # (Whether the hostile account is named in a finding depends on which account had
        # the worst uptime in the seeded window; the img checks above hold either way.)
        for finding in pages["02_account_health.findings"]:
            assert finding.split("`")[0].strip()[:25] in body

    refused = open_offline(pages["02_account_health"], check)
    assert refused == []  # nothing fetched, not even the markdown image in a name


def test_chart_labels_show_markup_as_typed(pages: dict) -> None:
    def check(page) -> None:
        assert not page.title().startswith("pwned")
        # The failures heatmap lists accounts on its y axis: the label's text is the name
        # with its tags, not a bold word and a link.
        # (SVG elements have no innerText: read their textContent)
        ticks = page.locator(".js-plotly-plot .ytick text").all_text_contents()
        assert any(t.startswith("<b>bold</b> & <a href=") for t in ticks), ticks[:5]
        assert page.locator(".js-plotly-plot a[href='https://example.com']").count() == 0

    assert open_offline(pages["01_message_delivery"], check) == []
