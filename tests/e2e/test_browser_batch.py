"""In a real browser (Chromium driven by Playwright) with the app, the API, a worker and the
gateway simulator all running as their own processes: sign in, create a batch send on the
Batch sends page and watch its live progress reach ``completed`` — no other command, no
reload: the worker sends it over HTTP and the simulator's receipts come back through the
API while the page re-reads its progress."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import browsing
import pytest
from browsing import SHOTS, choose, chromium_page
from loop_helpers import PASSWORD
from playwright.sync_api import Page, expect

from wework.services import templates

pytestmark = pytest.mark.browser

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def served_app(settings, e2e_logs) -> Iterator[str]:
    with browsing.served_app(e2e_logs / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def page(served_app) -> Iterator[Page]:
    with chromium_page(TIMEOUT_MS) as page:
        yield page


def test_a_batch_created_in_the_browser_completes_by_itself(page: Page, served_app, loop,
                                                            make_sender_tenant):
    sender = make_sender_tenant()
    template = templates.create_template(sender.ctx, template_name=f"e2e-{uuid.uuid4().hex[:6]}",
                                         template_type="text",
                                         template_content={"text": "hello from the browser"})
    worker = loop.start_worker()

    page.goto(served_app)
    page.get_by_label("Username", exact=True).fill(sender.operator_username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    nav = page.get_by_test_id("stSidebarNav")
    try:
        nav.get_by_role("link", name="Batch sends").click()
    finally:
        page.screenshot(path=str(SHOTS / "e2e_00_signed_in.png"), full_page=True)
    expect(page.get_by_role("heading", name="Batch sends", exact=True, level=1)).to_be_visible(
        timeout=TIMEOUT_MS)

    choose(page, "Template", template.template_name)
    task = f"e2e-browser-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Task name", exact=True).fill(task)
    choose(page, "Sending account", sender.account_name)
    conversations = [f"conv-{i}" for i in range(12)]
    page.get_by_label("Conversation ids (one per line)", exact=True).fill("\n".join(conversations))
    page.get_by_role("button", name="Create batch send").click()
    expect(page.get_by_text(f"Batch send {task} created.")).to_be_visible(timeout=TIMEOUT_MS)
    page.screenshot(path=str(SHOTS / "e2e_01_batch_created.png"), full_page=True)

    # The live progress (a fragment re-read every 3 s) of this task, until it completes.
    progress = page.get_by_test_id("stProgress").filter(has_text=task)
    expect(progress).to_contain_text(f"{task} — completed: 12/12 (sent 12, delivered 12, "
                                     "failed 0)", timeout=120_000)
    page.screenshot(path=str(SHOTS / "e2e_02_batch_completed.png"), full_page=True)
    assert worker.stop(), worker.log_text()[-3000:]
