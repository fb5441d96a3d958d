"""Shown to a signed-in user whose roles grant no page."""

import streamlit as st

st.title("No access")
st.info("Your roles grant no page of this app. Ask a tenant administrator for a role "
        "(for example analyst, to read the reports).")
