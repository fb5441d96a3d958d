"""Users & roles: list, create, edit, deactivate/reactivate, reset password, unlock,
assign roles; roles with their permission lists."""

import pandas as pd
import streamlit as st

from ui import session
from ui.forms import FieldErrors, attempt
from ui.paging import PAGE_SIZE, paged
from wework.services import roles, users
from wework.services.permissions import ALL_PERMISSIONS, USER_MANAGE

ctx = session.require(USER_MANAGE)
st.title("Users & roles")

all_roles = roles.list_roles(ctx, limit=500, fresh=True).items
role_by_id = {r.id: r for r in all_roles}

tab_users, tab_roles = st.tabs(["Users", "Roles"])
with tab_users:
    page = paged("users", lambda c: users.list_users(ctx, limit=PAGE_SIZE, cursor=c,
                                                     fresh=True))
    listing = pd.DataFrame([
        {"username": u.username, "email": u.email, "real_name": u.real_name,
         "status": str(u.status), "locked_until": u.locked_until,
         "failed_logins": u.failed_login_count, "last_login": u.last_login_time, "id": u.id}
        for u in page.items
    ])
    if listing.empty:
        st.info("No users.")
    else:
        st.dataframe(listing, hide_index=True)

    with st.expander("Create user", expanded=False), st.form("user_create"):
        errors = FieldErrors()
        username = st.text_input("Username", key="user_new_username")
        errors.slot("username")
        email = st.text_input("Email", key="user_new_email")
        errors.slot("email")
        real_name = st.text_input("Real name", key="user_new_real_name")
        errors.slot("real_name")
        password = st.text_input("Password", type="password", key="user_new_password")
        errors.slot("password")
        codes = st.multiselect("Roles", [r.role_code for r in all_roles if r.is_active],
                               key="user_new_roles")
        errors.slot("role_codes")
        if st.form_submit_button("Create user", type="primary"):
            attempt(lambda: users.create_user(
                ctx, username=username.strip(), email=email.strip(), password=password,
                real_name=real_name.strip() or None, role_codes=codes),
                errors, success=f"User {username} created.")

    by_id = {u.id: u for u in page.items}
    if by_id:
        st.subheader("Manage a user")
        uid = st.selectbox("User", list(by_id), key="user_pick",
                           format_func=lambda i: f"{by_id[i].username} ({by_id[i].status})")
        user = by_id[uid]
        with st.form("user_edit"):
            errors = FieldErrors()
            new_email = st.text_input("Email", value=user.email, key=f"user_edit_email_{uid}")
            errors.slot("email")
            new_name = st.text_input("Real name", value=user.real_name or "",
                                     key=f"user_edit_real_name_{uid}")
            errors.slot("real_name")
            if st.form_submit_button("Save"):
                attempt(lambda: users.update_user(ctx, uid, email=new_email.strip(),
                                                  real_name=new_name.strip() or None),
                        errors, success="User saved.")
        c1, c2, c3 = st.columns(3)
        if c1.button("Deactivate", key="user_deactivate", disabled=user.status != "active"):
            attempt(lambda: users.deactivate_user(ctx, uid), success="User deactivated.")
        if c2.button("Reactivate", key="user_reactivate", disabled=user.status != "inactive"):
            attempt(lambda: users.reactivate_user(ctx, uid), success="User reactivated.")
        if c3.button("Unlock", key="user_unlock"):
            attempt(lambda: users.unlock_user(ctx, uid), success="User unlocked.")
        with st.form("user_password"):
            errors = FieldErrors()
            new_password = st.text_input("New password", type="password",
                                         key="user_reset_password")
            errors.slot("new_password")
            if st.form_submit_button("Reset password"):
                attempt(lambda: users.reset_password(ctx, uid, new_password),
                        errors, success="Password reset.")
        held = {r.id for r in roles.roles_of_user(ctx, uid)}
        with st.form("user_roles"):
            errors = FieldErrors()
            wanted = st.multiselect("Roles", list(role_by_id), default=sorted(held),
                                    format_func=lambda r: role_by_id[r].role_code,
                                    key=f"user_roles_pick_{uid}")
            errors.slot("role_id")
            if st.form_submit_button("Save roles"):
                def save_roles():
                    for rid in set(wanted) - held:
                        roles.assign_role(ctx, uid, rid)
                    for rid in held - set(wanted):
                        roles.unassign_role(ctx, uid, rid)

                attempt(save_roles, errors, success="Roles saved.")

with tab_roles:
    st.dataframe(pd.DataFrame([
        {"code": r.role_code, "name": r.role_name, "system": r.is_system,
         "active": r.is_active, "permissions": ", ".join(r.permissions)}
        for r in all_roles
    ]), hide_index=True)
    with st.form("role_create"):
        errors = FieldErrors()
        code = st.text_input("Role code", key="role_new_code")
        errors.slot("role_code")
        name = st.text_input("Role name", key="role_new_name")
        errors.slot("role_name")
        perms = st.multiselect("Permissions", list(ALL_PERMISSIONS), key="role_new_perms")
        errors.slot("permissions")
        if st.form_submit_button("Create role", type="primary"):
            attempt(lambda: roles.create_role(ctx, role_code=code.strip(),
                                              role_name=name.strip(), permissions=perms),
                    errors, success=f"Role {code} created.")
    custom = {r.id: r for r in all_roles if not r.is_system}
    if custom:
        rid = st.selectbox("Custom role", list(custom), key="role_edit_pick",
                           format_func=lambda r: custom[r].role_code)
        with st.form("role_edit"):
            errors = FieldErrors()
            perms = st.multiselect("Permissions", list(ALL_PERMISSIONS),
                                   default=list(custom[rid].permissions),
                                   key=f"role_edit_perms_{rid}")
            errors.slot("permissions")
            if st.form_submit_button("Save permissions"):
                attempt(lambda: roles.update_role(ctx, rid, permissions=perms), errors,
                        success="Permissions saved.")
