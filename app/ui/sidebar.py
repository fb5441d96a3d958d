"""The sidebar block under the navigation: who is signed in, the tenant switch
(super-admins only) and the logout button."""

from __future__ import annotations

import streamlit as st

from ui import session
from wework.errors import ServiceError
from wework.services import tenants
from wework.services.context import Actor

_TENANT_CHOICES = "wework_tenant_choices"


def tenant_choices(actor: Actor) -> dict[str, str]:
    """tenant_id -> label of every tenant a super-admin may switch to (cached per session;
    the Tenants page clears it after a change)."""
    cached = st.session_state.get(_TENANT_CHOICES)
    if cached is not None:
        return cached
    ctx = session.context()
    choices: dict[str, str] = {}
    cursor = None
    while True:  # keyset pages; a platform has at most a few thousand tenants
        page = tenants.list_tenants(ctx, limit=500, cursor=cursor, fresh=True)
        for t in page.items:
            choices[t.id] = f"{t.tenant_name} ({t.tenant_code})"
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    st.session_state[_TENANT_CHOICES] = choices
    return choices


def forget_tenant_choices() -> None:
    st.session_state.pop(_TENANT_CHOICES, None)


def render(actor: Actor) -> None:
    with st.sidebar:
        st.caption(f"Signed in as **{actor.username}**")
        if actor.is_super_admin:
            try:
                choices = tenant_choices(actor)
            except ServiceError as e:
                st.error(str(e))
                choices = {}
            current = session.acting_tenant()
            ids = list(choices)
            if current not in choices:
                ids.insert(0, current)
            picked = st.selectbox(
                "Tenant", ids, index=ids.index(current),
                format_func=lambda tid: choices.get(tid, tid), key="wework_tenant_switch",
                help="Super-admins act on the tenant chosen here, on every page.",
            )
            if picked != current:
                session.set_acting_tenant(picked)
                st.rerun()
        if st.button("Log out", icon=":material/logout:", key="wework_logout"):
            session.sign_out("You have been logged out.")
            st.rerun()
