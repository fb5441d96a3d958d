"""WeCom accounts: list with status and heartbeat age, create (within max_accounts),
allowed status transitions only, status history."""

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from ui import session
from ui.forms import FieldErrors, attempt
from ui.paging import PAGE_SIZE, paged, reset
from wework.enums import AccountStatus
from wework.services import accounts
from wework.services.permissions import ACCOUNT_MANAGE

ctx = session.require(ACCOUNT_MANAGE)
st.title("WeCom accounts")

status_filter = st.selectbox("Status", ["(all)", *[s.value for s in AccountStatus]],
                             key="accounts_status", on_change=reset, args=("accounts",))
wanted = None if status_filter == "(all)" else status_filter
page = paged("accounts", lambda c: accounts.list_accounts(ctx, status=wanted, limit=PAGE_SIZE,
                                                          cursor=c, fresh=True))
now = datetime.now(UTC).replace(tzinfo=None)


def age(ts):
    return None if ts is None else round((now - ts).total_seconds())


listing = pd.DataFrame([
    {"name": a.account_name, "status": str(a.status),
     "heartbeat_age_s": age(a.last_heartbeat_time), "last_login": a.last_login_time,
     "login_retries": a.login_retry_count, "error": a.error_message, "id": a.id}
    for a in page.items
])
if listing.empty:
    st.info("No accounts match.")
else:
    st.dataframe(listing, hide_index=True)

with st.expander("Create account"), st.form("account_create"):
    errors = FieldErrors()
    name = st.text_input("Account name", key="account_new_name")
    errors.slot("account_name")
    phone = st.text_input("Phone", key="account_new_phone")
    errors.slot("phone")
    email = st.text_input("Email", key="account_new_email")
    errors.slot("email")
    guid = st.text_input("Instance GUID", key="account_new_guid")
    errors.slot("guid")
    errors.slot("max_accounts")
    if st.form_submit_button("Create account", type="primary"):
        attempt(lambda: accounts.create_account(
            ctx, account_name=name.strip(), phone=phone.strip() or None,
            email=email.strip() or None, guid=guid.strip() or None),
            errors, success=f"Account {name} created.")

by_id = {a.id: a for a in page.items}
if by_id:
    st.subheader("Status")
    aid = st.selectbox("Account", list(by_id), key="account_pick",
                       format_func=lambda i: f"{by_id[i].account_name} ({by_id[i].status})")
    account = by_id[aid]
    allowed = sorted(s.value for s in accounts.allowed_transitions(account.status))
    with st.form("account_status"):
        errors = FieldErrors()
        target = st.selectbox(f"Move from {account.status} to", allowed,
                              key=f"account_target_{aid}")
        errors.slot("new_status")
        reason = st.text_input("Reason", key=f"account_reason_{aid}")
        errors.slot("reason")
        if st.form_submit_button("Change status"):
            attempt(lambda: accounts.change_status(ctx, aid, target, reason=reason or None),
                    errors, success=f"Status changed to {target}.")
    if account.login_retry_count and st.button("Reset login retries", key="account_retries"):
        attempt(lambda: accounts.reset_login_retries(ctx, aid), success="Retries reset.")
    history = accounts.status_history(ctx, aid)
    st.subheader("Status history")
    st.dataframe(pd.DataFrame([
        {"at": h.created_at, "from": h.old_status, "to": h.new_status, "reason": h.reason,
         "operator_type": str(h.operator_type), "operator_id": h.operator_id}
        for h in reversed(history)
    ]), hide_index=True)
