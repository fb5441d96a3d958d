"""Tenants (super-admin): list, create, edit quotas, suspend / reactivate."""

import pandas as pd
import streamlit as st

from ui import nav
from ui.downloads import csv_button
from ui.forms import FieldErrors, attempt
from ui.paging import paged
from ui.sidebar import forget_tenant_choices
from wework.services import tenants

ctx = nav.start(__file__)

page = paged("tenants", lambda cursor: tenants.list_tenants(ctx, limit=20, cursor=cursor,
                                                             fresh=True))
rows = pd.DataFrame([
    {"code": t.tenant_code, "name": t.tenant_name, "status": str(t.status),
     "max_accounts": t.max_accounts, "max_daily_messages": t.max_daily_messages,
     "contact": t.contact_person, "created_at": t.created_at, "id": t.id}
    for t in page.items
])
if rows.empty:
    st.info("No tenants.")
else:
    st.dataframe(rows, hide_index=True)
    csv_button(rows, "tenants", "admin_tenants")

tab_create, tab_edit = st.tabs(["Create tenant", "Quotas and status"])
with tab_create, st.form("tenant_create", clear_on_submit=False):
    errors = FieldErrors()
    code = st.text_input("Tenant code", key="tenant_code")
    errors.slot("tenant_code")
    name = st.text_input("Tenant name", key="tenant_name")
    errors.slot("tenant_name")
    contact = st.text_input("Contact person", key="tenant_contact")
    errors.slot("contact_person")
    email = st.text_input("Contact email", key="tenant_email")
    errors.slot("contact_email")
    c1, c2 = st.columns(2)
    max_accounts = c1.number_input("Max accounts", min_value=0, value=10, step=1,
                                   key="tenant_max_accounts")
    max_daily = c2.number_input("Max daily messages", min_value=0, value=10000, step=100,
                                key="tenant_max_daily")
    errors.slot("max_accounts", "max_daily_messages")
    if st.form_submit_button("Create tenant", type="primary"):
        def create():
            tenant = tenants.create_tenant(
                ctx, tenant_code=code.strip(), tenant_name=name.strip(),
                contact_person=contact.strip() or None, contact_email=email.strip() or None,
                max_accounts=int(max_accounts), max_daily_messages=int(max_daily))
            forget_tenant_choices()
            return tenant

        attempt(create, errors, success=f"Tenant {code} created.")

with tab_edit:
    by_id = {t.id: t for t in page.items}
    if not by_id:
        st.info("No tenant on this page.")
    else:
        tid = st.selectbox("Tenant", list(by_id), key="tenant_edit_pick",
                           format_func=lambda t: f"{by_id[t].tenant_name} ({by_id[t].tenant_code})")
        chosen = by_id[tid]
        with st.form("tenant_quota"):
            errors = FieldErrors()
            c1, c2 = st.columns(2)
            qa = c1.number_input("Max accounts", min_value=0, value=int(chosen.max_accounts),
                                 step=1, key="quota_accounts")
            qm = c2.number_input("Max daily messages", min_value=0,
                                 value=int(chosen.max_daily_messages), step=100,
                                 key="quota_daily")
            errors.slot("max_accounts", "max_daily_messages")
            if st.form_submit_button("Save quotas"):
                attempt(lambda: tenants.update_tenant(ctx, tid, max_accounts=int(qa),
                                                      max_daily_messages=int(qm)),
                        errors, success="Quotas saved.")
        st.write(f"Status: **{chosen.status}**")
        c1, c2 = st.columns(2)
        if c1.button("Suspend tenant", key="tenant_suspend", disabled=chosen.status != "active"):
            forget_tenant_choices()
            attempt(lambda: tenants.suspend_tenant(ctx, tid), success="Tenant suspended.")
        if c2.button("Reactivate tenant", key="tenant_reactivate",
                     disabled=chosen.status != "suspended"):
            forget_tenant_choices()
            attempt(lambda: tenants.reactivate_tenant(ctx, tid), success="Tenant reactivated.")
