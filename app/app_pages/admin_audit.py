"""The audit log of administrative writes: who did what to which object, when, from
which address, and the fields before and after (secrets never recorded). A tenant admin
(``tenant:manage``) sees the acting tenant's log; a platform admin may also list every
tenant's."""

import json

import pandas as pd
import streamlit as st

from ui import nav
from ui.paging import PAGE_SIZE, paged, reset
from wework.services import audit

ctx = nav.start(__file__)
st.caption("Every change made on the admin pages and through the services, written in the "
           "same transaction as the change. Kept for WEWORK_RETENTION_AUDIT_LOG_MONTHS.")

all_tenants = False
if ctx.actor.is_super_admin:
    all_tenants = st.toggle("All tenants", key="audit_all", on_change=reset, args=("audit",))
action = st.text_input("Action (exact, e.g. user.reset_password)", key="audit_action",
                       on_change=reset, args=("audit",)).strip() or None
page = paged("audit", lambda c: audit.list_entries(ctx, all_tenants=all_tenants,
                                                   action=action, limit=PAGE_SIZE, cursor=c))
rows = pd.DataFrame([
    {"when (UTC)": e.created_at, "who": e.actor_name, "action": e.action,
     "object": f"{e.object_type} {e.object_id or ''}".strip(), "tenant": e.tenant_id,
     "address": e.client_ip,
     "changes": json.dumps(e.changes, ensure_ascii=False) if e.changes else ""}
    for e in page.items
])
if rows.empty:
    st.info("Nothing recorded yet.")
else:
    # A dataframe renders every cell as text: what users typed is never interpreted.
    st.dataframe(rows, hide_index=True)
