"""PII masking (issue 16 "Also") and item 14 (callback figures scoped to the tenant).

Phones and emails are masked in the admin lists, their CSVs and the edit form unless the
user holds ``pii:view`` (tenant admins and platform admins by default); callback figures
are the tenant's own for tenant users and platform-wide only for platform admins.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import date

import duckdb
import pytest

from ui.nav import PAGES_DIR
from ui.report_queries import CallbacksNotScoped, Filters, callbacks
from wework.security.masking import mask_email, mask_phone, may_view_pii
from wework.services import accounts, roles, users
from wework.services.permissions import PII_VIEW, PLATFORM_ADMIN, SYSTEM_ROLES

PASSWORD = "app-test-password-1"
PHONE, EMAIL = "13812345678", "alice.pii@example.com"


@pytest.mark.parametrize(("phone", "shown"), [
    ("13812345678", "138****5678"), ("+8613812345678", "+86****5678"),
    ("6543210", "65****10"), ("12345", "****"), (None, None), ("", ""),
])
def test_mask_phone(phone, shown):
    assert mask_phone(phone) == shown


@pytest.mark.parametrize(("email", "shown"), [
    ("alice@example.com", "a***@example.com"), ("a@b.cn", "a***@b.cn"),
    ("no-at-sign", "***"), ("@example.com", "***"), (None, None),
])
def test_mask_email(email, shown):
    assert mask_email(email) == shown


def test_who_may_view_pii_by_default():
    assert PII_VIEW in SYSTEM_ROLES["admin"][2]
    assert PII_VIEW not in SYSTEM_ROLES["operator"][2]
    assert PII_VIEW not in SYSTEM_ROLES["analyst"][2]
    assert may_view_pii({PLATFORM_ADMIN}) and not may_view_pii({"user:manage"})


@pytest.fixture(scope="module")
def pii_account(app_world):
    return accounts.create_account(app_world.admin_ctx, account_name=f"pii-{time.time_ns()}",
                                   phone=PHONE, email=EMAIL)


@pytest.fixture
def downloads(monkeypatch):
    import streamlit as st

    seen: dict[str, bytes] = {}
    real = st.download_button

    def recording(label, data, *args, **kwargs):
        seen[kwargs.get("file_name", label)] = data
        return real(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording)
    return seen


def account_row(at, account_id: str) -> dict:
    df = at.dataframe[0].value
    return df[df["id"] == account_id].iloc[0].to_dict()


def csv_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))


@pytest.mark.parametrize(("role", "phone", "email"), [
    ("operator", "138****5678", "a***@example.com"),
    ("admin", PHONE, EMAIL),
])
def test_account_list_and_csv_mask_unless_pii_view(app_as, pii_account, downloads, role,
                                                   phone, email):
    at = app_as(role).switch_page(str(PAGES_DIR / "admin_accounts.py")).run()
    for _ in range(50):  # the list is keyset-paged: find the account's page
        if pii_account.id in set(at.dataframe[0].value["id"]):
            break
        at = at.button(key="accounts_next").click().run()
    row = account_row(at, pii_account.id)
    assert (row["phone"], row["email"]) == (phone, email)
    exported = next(r for r in csv_rows(downloads["admin_accounts.csv"])
                    if r["id"] == pii_account.id)
    assert (exported["phone"], exported["email"]) == (phone, email)
    page_text = " ".join(str(e.proto) for e in at.dataframe)
    if role == "operator":
        assert PHONE not in page_text and EMAIL not in page_text


def test_user_manager_without_pii_view_sees_masked_emails_and_keeps_them(app_world, app_for):
    ctx = app_world.admin_ctx
    code = f"um{time.time_ns() % 10**8}"
    roles.create_role(ctx, role_code=code, role_name="User manager",
                      permissions=["user:manage"])
    name = f"um-{time.time_ns()}"
    manager = users.create_user(ctx, username=name, email=f"{name}@example.com",
                                password=PASSWORD, role_codes=[code])
    target_name = f"tg-{time.time_ns()}"
    target = users.create_user(ctx, username=target_name, email=f"{target_name}@example.com",
                               password=PASSWORD, role_codes=[code])

    at = app_for(manager).switch_page(str(PAGES_DIR / "admin_users.py")).run()
    assert not at.exception
    listing = at.dataframe[0].value
    assert len(listing) and all("***@" in e for e in listing["email"])

    at.selectbox(key="user_pick").set_value(target.id).run()
    box = at.text_input(key=f"user_edit_email_{target.id}")
    assert box.value == "" and box.placeholder == mask_email(target.email)
    # Saving the form with the email left empty keeps it.
    at.text_input(key=f"user_edit_real_name_{target.id}").input("Renamed")
    at = next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception and not [e.value for e in at.error], [e.value for e in at.error]
    again = users.get_user(ctx, target.id)
    assert again.email == target.email and again.real_name == "Renamed"


# ------------------------------------------------------------------ item 14: callbacks


def test_tenant_users_get_no_platform_wide_callback_figures(app_as):
    at = app_as("analyst").switch_page(str(PAGES_DIR / "callback_report.py")).run()
    assert not at.exception
    assert not at.get("plotly_chart") and not at.get("download_button")
    assert any("whole platform only" in i.value for i in at.info)
    at = at.switch_page(str(PAGES_DIR / "overview.py")).run()
    failures = next(m for m in at.metric if m.label == "Callback failures")
    assert failures.value == "–"


def test_platform_admins_see_platform_wide_callback_figures(app_as):
    at = app_as("super_admin").switch_page(str(PAGES_DIR / "callback_report.py")).run()
    assert not at.exception
    assert at.get("plotly_chart")


def scoped_marts() -> duckdb.DuckDBPyConnection:
    """A published-marts shape whose callback mart carries the tenant (as it will)."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("""CREATE TABLE marts.callback_processing_daily AS SELECT * FROM (VALUES
        ('A', DATE '2026-01-02', 'message.receipt', 10, 8, 2, 0, 0, 1.0, 2.0),
        ('B', DATE '2026-01-02', 'message.receipt', 90, 40, 50, 0, 0, 3.0, 9.0),
        (NULL, DATE '2026-01-02', 'unparsed', 5, 0, 5, 0, 0, NULL, NULL))
        AS t(tenant_id, stat_date, event_type, received_count, processed_count, failed_count,
             ignored_count, pending_count, avg_processing_seconds, p95_processing_seconds)""")
    return con


def test_callback_figures_follow_the_tenant_column_when_the_mart_has_one():
    con = scoped_marts()
    day = date(2026, 1, 2)
    own = callbacks(con, Filters("A", day, day))["daily"]
    assert own["received_count"].tolist() == [10] and own["failed_count"].tolist() == [2]
    everyone = callbacks(con, Filters(None, day, day))["by_event_type"]
    assert everyone["received_count"].sum() == 105


def test_tenant_callback_figures_are_refused_without_the_tenant_column():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.callback_processing_daily (stat_date DATE, "
                "event_type VARCHAR, received_count INT, failed_count INT)")
    day = date(2026, 1, 2)
    with pytest.raises(CallbacksNotScoped):
        callbacks(con, Filters("A", day, day))
