"""Sign-in form against the platform's users (argon2id). Throttled before the password is
checked (wework.services.login_throttle): five failures lock out that username from that
address for 15 minutes, not the user."""

import streamlit as st

from ui import session
from wework.errors import AuthenticationError

st.title("WeWork Platform")
flash = session.pop_flash()
if flash:
    st.info(flash)

with st.form("login", enter_to_submit=True):
    username = st.text_input("Username", key="login_username")
    password = st.text_input("Password", type="password", key="login_password")
    tenant_code = st.text_input(
        "Tenant code (only if your username exists in several tenants)", key="login_tenant"
    )
    submitted = st.form_submit_button("Sign in", type="primary")

if submitted:
    try:
        session.sign_in(username.strip(), password, tenant_code.strip() or None)
    except AuthenticationError as e:
        # One message for every cause (unknown user, wrong password, locked, inactive),
        # or the throttle's "too many sign-in attempts; try again in N s".
        st.error(str(e))
    else:
        st.rerun()
