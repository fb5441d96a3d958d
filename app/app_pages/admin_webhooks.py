"""Tenant webhooks: the endpoint URL, the signing secret (shown once), the deliveries
with their status, attempts and last error, and replay. Everything is the acting
tenant's own (``tenant:manage``)."""

import pandas as pd
import streamlit as st

from ui import nav
from ui.forms import FieldErrors, attempt
from ui.paging import PAGE_SIZE, paged, reset
from wework.enums import OutboxStatus
from wework.services import tenants, webhooks

ctx = nav.start(__file__)
st.caption("The platform POSTs batch.completed, account.offline, account.error and "
           "message.failed events to your endpoint, signed per Standard Webhooks "
           "(webhook-id, webhook-timestamp, webhook-signature), retrying for up to 24 h.")

st.subheader("Endpoint")
tenant = tenants.get_tenant(ctx, ctx.tenant_id)
errors = FieldErrors()
with st.form("webhook_url_form"):
    url = st.text_input("Webhook URL (http or https)", value=tenant.webhook_url or "",
                        key="webhook_url")
    errors.slot("webhook_url")
    if st.form_submit_button("Save URL"):
        attempt(lambda: tenants.update_tenant(ctx, ctx.tenant_id, webhook_url=url or None),
                errors, success="Webhook URL saved.")

st.subheader("Signing secret")
info = webhooks.secret_info(ctx)
if info.exists:
    st.write(f"Created {info.created_at} UTC"
             + (f", last rotated {info.rotated_at} UTC" if info.rotated_at else "") + ".")
    if info.previous_valid_until:
        st.caption(f"The previous secret also signs until {info.previous_valid_until} UTC.")
else:
    st.warning("No signing secret yet: events wait until you create one.")
label = "Rotate secret" if info.exists else "Create secret"
if st.button(label, key="webhook_secret"):
    secret = attempt(lambda: webhooks.create_secret(ctx), rerun=False,
                     success="Copy the secret now: it is not shown again.")
    if secret:
        st.code(secret, language=None)

st.subheader("Deliveries")
choice = st.selectbox("Status", ["all", *[s.value for s in OutboxStatus]], key="wh_status",
                      on_change=reset, args=("webhooks",))
status = None if choice == "all" else choice
page = paged("webhooks", lambda c: webhooks.list_deliveries(ctx, status=status,
                                                            limit=PAGE_SIZE, cursor=c))
listing = pd.DataFrame([
    {"replay": False, "created": d.created_at, "event": d.event_type,
     "status": str(d.status), "attempts": d.attempts, "last attempt": d.last_attempt_at,
     "HTTP": d.last_status_code, "last error": d.last_error,
     "next attempt": d.next_attempt_at if str(d.status) == "pending" else None, "id": d.id}
    for d in page.items
])
chosen: list[str] = []
if listing.empty:
    st.info("No webhook events." if status is None else f"No {status} webhook events.")
else:
    edited = st.data_editor(listing, hide_index=True, key=f"wh_table_{choice}",
                            disabled=[c for c in listing.columns if c != "replay"])
    chosen = list(edited.loc[edited["replay"], "id"])
if st.button(f"Replay {len(chosen)} selected", key="wh_replay", disabled=not chosen):
    attempt(lambda: webhooks.replay_deliveries(ctx, chosen),
            success=f"{len(chosen)} event(s) queued for delivery.")
