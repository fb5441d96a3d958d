"""What every browser test shares: Debian's Chromium driven by Playwright, the app served
as users run it (its own process group, on this session's databases and published marts),
screenshots under ``artifacts/screenshots/`` (git-ignored), and the few page helpers the
Streamlit pages need."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright
from ports import free_port

from wework.cli.webapp import app_url, start_app
from wework.config import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
SHOTS = REPO_ROOT / "artifacts" / "screenshots"


@contextmanager
def served_app(log: Path) -> Iterator[str]:
    """The app on a free port; its URL."""
    proc = start_app(port := free_port(), log=log)
    try:
        yield app_url(port)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


@contextmanager
def chromium_page(timeout_ms: int, viewport: tuple[int, int] = (1400, 1000)) -> Iterator[Page]:
    """A page of a fresh Chromium, every wait bounded by ``timeout_ms``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
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
