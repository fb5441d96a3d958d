"""The Webhooks page: the tenant admin sets the URL, creates a signing secret that is
shown once, and sees its own deliveries only."""

from __future__ import annotations

import uuid

from rendered import shown
from sqlalchemy import text

from ui.nav import PAGES_DIR
from wework.services import accounts, tenants, webhooks


def open_page(at):
    return at.switch_page(str(PAGES_DIR / "admin_webhooks.py")).run()


def click(at, label):
    (button,) = [b for b in at.button if b.label == label]
    return button.click().run()


def test_url_secret_shown_once_and_own_deliveries(app_as, app_world, primary):
    at = open_page(app_as("admin"))
    assert not at.exception, at.exception
    at.text_input(key="webhook_url").input("ftp://nope.example.com")
    at = click(at, "Save URL")
    # the error shows next to the field, and nothing is saved
    assert any("webhook_url" in shown(e.value) for e in at.error)
    with primary.connect() as conn:
        stored = conn.execute(text("SELECT webhook_url FROM tenants WHERE id = :t"),
                              {"t": app_world.tenant_id}).scalar()
    assert stored != "ftp://nope.example.com"

    at.text_input(key="webhook_url").input("https://hooks.example.com/wework")
    at = click(at, "Save URL")
    assert not at.error, [e.value for e in at.error]
    assert tenants.get_tenant(app_world.admin_ctx, app_world.tenant_id).webhook_url == \
        "https://hooks.example.com/wework"

    label = "Rotate secret" if webhooks.secret_info(app_world.admin_ctx).exists else "Create secret"
    at = click(at, label)
    secrets_shown = [c.value for c in at.code if c.value.startswith("whsec_")]
    assert len(secrets_shown) == 1
    at = at.run()  # any later run: the secret is gone from the page
    assert not [c for c in at.code if c.value.startswith("whsec_")]
    assert webhooks.secret_info(app_world.admin_ctx).exists

    # An event of this tenant is listed; another tenant's never is.
    mine = accounts.create_account(app_world.admin_ctx, account_name="wh-page-acct")
    for status in ("logging_in", "error"):
        accounts.change_status(app_world.admin_ctx, mine.id, status, error_message="boom")
    other = tenants.create_tenant(app_world.super_ctx, tenant_code=f"wh{uuid.uuid4().hex[:8]}",
                                  tenant_name="other", webhook_url="https://x.example.com/h")
    as_other = app_world.super_ctx.for_tenant(other.id)
    theirs = accounts.create_account(as_other, account_name="theirs")
    for status in ("logging_in", "error"):
        accounts.change_status(as_other, theirs.id, status)
    at = open_page(at)
    listed = at.dataframe[0].value if at.dataframe else None
    assert listed is not None and "account.error" in set(listed["event"])
    own_ids = {d.id for d in webhooks.list_deliveries(app_world.admin_ctx, limit=200).items}
    assert set(listed["id"]) <= own_ids
