"""End to end in a real browser (Debian's chromium driven by Playwright) against the app
served by ``streamlit run`` on a free port: log in, open each report, create a template
and a batch send, see the error for a bad input, log out. Screenshots go to
``artifacts/screenshots/`` (git-ignored)."""

from __future__ import annotations

import os
import re
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from ports import free_port

from ui.text import WORD_JOINER
from wework.cli.webapp import app_url, start_app
from wework.config import REPO_ROOT
from wework.services import accounts

pytestmark = pytest.mark.browser

SHOTS = REPO_ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
PASSWORD = "app-test-password-1"
TIMEOUT_MS = 30_000
expect.set_options(timeout=TIMEOUT_MS)  # a cold app's first run can pass expect's 5 s



@pytest.fixture(scope="module")
def served_app(app_world, tmp_path_factory) -> Iterator[str]:
    """The app as users run it, in its own process group, on this session's databases
    and published marts (the environment the session fixtures set up)."""
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "streamlit.log"
    proc = start_app(port, log=log)
    try:
        yield app_url(port)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser_page(served_app) -> Iterator[Page]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        yield page
        browser.close()


def shot(page: Page, name: str) -> Path:
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def heading(page: Page, text: str) -> None:
    """The page's title (st.title, h1): a section of the page may share its name."""
    expect(page.get_by_role("heading", name=text, exact=True, level=1)).to_be_visible()


def open_nav(page: Page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    heading(page, title)


def choose(page: Page, label: str, option: str) -> None:
    """Pick in a Streamlit selectbox by typing into its search and taking the match."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label)
    box.locator("input").click()
    page.keyboard.type(option)
    page.get_by_role("option").filter(has_text=option).first.click()
    expect(box.locator("input")).to_have_value(re.compile(re.escape(option)))


def test_operator_journey(browser_page: Page, served_app, app_world):
    page = browser_page
    user = app_world.users["operator"]
    sender = accounts.create_account(app_world.admin_ctx,
                                     account_name=f"e2e-{uuid.uuid4().hex[:6]}")
    for status in ("logging_in", "waiting_scan", "waiting_confirm", "online"):
        accounts.change_status(app_world.admin_ctx, sender.id, status)

    # Sign in
    page.goto(served_app)
    heading(page, "WeWork Platform")
    shot(page, "01_login")
    page.get_by_label("Username", exact=True).fill(user.username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    heading(page, "Overview")
    expect(page.get_by_text("Marts published")).to_be_visible()
    expect(page.get_by_test_id("stMetric").first).to_be_visible()
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
    shot(page, "02_overview")
    # Pages the operator may not use are not offered.
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="Tenants")).to_have_count(0)
    expect(nav.get_by_role("link", name="Users & roles")).to_have_count(0)

    # Every report
    for n, title in enumerate(["Message statistics", "Account health", "Batch tasks",
                               "Callbacks", "Tenant usage", "Monitoring"], start=3):
        open_nav(page, title)
        if title == "Callbacks":  # a tenant's user: no platform-wide figures (issue 16)
            expect(page.get_by_text("count callbacks for the whole platform only")
                   ).to_be_visible()
        elif title != "Monitoring":
            expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
        shot(page, f"{n:02d}_{title.lower().replace(' ', '_')}")

    # A bad input: a template without a name
    open_nav(page, "Templates")
    page.get_by_role("button", name="Create template").click()
    expect(page.get_by_text("template_name: is required")).to_be_visible()
    shot(page, "10_template_error")

    # Create a template
    name = f"e2e-template-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Template name", exact=True).first.fill(name)
    page.get_by_role("button", name="Create template").click()
    expect(page.get_by_text(f"Template {name} created.")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    shot(page, "11_template_created")

    # Create a batch send from it
    open_nav(page, "Batch sends")
    choose(page, "Template", name)
    task = f"e2e-batch-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Task name", exact=True).fill(task)
    choose(page, "Sending account", sender.account_name)
    page.get_by_label("Conversation ids (one per line)", exact=True).fill("conv-a\nconv-b")
    page.get_by_label("Variable name", exact=True).fill("Li")
    page.get_by_label("Variable company", exact=True).fill("Acme")
    page.get_by_role("button", name="Create batch send").click()
    expect(page.get_by_text(f"Batch send {task} created.")).to_be_visible()
    expect(page.get_by_text(task).first).to_be_visible()
    shot(page, "12_batch_created")

    # Log out
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have been logged out.")).to_be_visible()
    heading(page, "WeWork Platform")
    shot(page, "13_logged_out")


def test_wrong_password_is_refused(browser_page: Page, served_app, app_world):
    page = browser_page
    page.goto(served_app)
    heading(page, "WeWork Platform")
    page.get_by_label("Username", exact=True).fill(app_world.users["analyst"].username)
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("invalid username or password")).to_be_visible()
    shot(page, "14_login_refused")


# Attributes through which an element fetches or links to a URL. (Plotly keeps a label's
# source text in ``data-unformatted``: text, which names the host without pointing at it.)
URL_ATTRIBUTES = ["src", "href", "xlink:href", "srcset", "action", "formaction", "poster",
                  "background", "data", "style", "ping"]


def elements_pointing_at(page: Page, host: str) -> int:
    """Elements (HTML or SVG) with a URL-bearing attribute naming ``host``."""
    return page.evaluate(
        "([host, names]) => [...document.querySelectorAll('*')].filter(e => [...e.attributes]"
        ".some(a => names.includes(a.name) && a.value.includes(host))).length",
        [host, URL_ATTRIBUTES])


def test_hostile_names_render_as_text_and_load_nothing(browser_page: Page, served_app,
                                                       hostile_world):
    """Names carrying Markdown images and links, HTML and LaTeX show as their literal text
    in the live progress label, the report figures and the lists; the browser sends no
    request to the host they name. The app runs with the viewer toolbar, and tables offer
    no unescaped CSV export."""
    page = browser_page
    evil = hostile_world.evil
    names = hostile_world.names
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if evil.host in r.url else None)

    page.goto(served_app)
    heading(page, "WeWork Platform")
    page.get_by_label("Username", exact=True).fill(hostile_world.admin.username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    heading(page, "Overview")
    expect(page.get_by_test_id("stAppDeployButton")).to_have_count(0)

    open_nav(page, "Batch sends")
    progress = page.get_by_test_id("stProgress").filter(has_text="$x$ :smile:")
    # the literal text, markup and all (the invisible word joiners that stop autolinks aside)
    expect(progress).to_have_count(1)
    assert names["task"] in progress.inner_text().replace(WORD_JOINER, "")
    expect(progress.locator("img, a, .katex")).to_have_count(0)
    page.get_by_test_id("stDataFrame").first.hover()
    expect(page.get_by_role("button", name="Download as CSV")).to_have_count(0)
    shot(page, "15_hostile_batch_progress")

    open_nav(page, "Message statistics")
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
    open_nav(page, "Tenant usage")
    legend = page.get_by_test_id("stPlotlyChart").first.locator(".legend")
    expect(legend).to_contain_text('<a href="http://')  # the tenant name as text
    shot(page, "16_hostile_tenant_legend")

    # Rendering is done; an image or prefetch would have been requested by now.
    page.wait_for_timeout(1000)
    assert elements_pointing_at(page, evil.host) == 0
    assert asked == [] and evil.hits == []
