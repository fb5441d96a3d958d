"""Entry script of the WeWork Platform app: ``streamlit run app/main.py``
(or ``wework app serve``).

Every run: end an idle or revoked session, then build the navigation from the signed-in
user's permissions (Reports / Admin groups). Signed out, the only page is the login form.
An unexpected error anywhere in the run shows an error id, never a traceback
(``ui.errors``).
"""

from __future__ import annotations

import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent
if str(APP_DIR) not in sys.path:  # pages import the shared helpers as ``ui.*``
    sys.path.insert(0, str(APP_DIR))

import streamlit as st  # noqa: E402

from ui import errors, nav, session, sidebar  # noqa: E402

st.set_page_config(page_title="WeWork Platform", page_icon=":material/hub:", layout="wide")

with errors.guarded():
    actor = session.refresh()
    if actor is None:
        page = st.navigation(
            [st.Page(str(nav.PAGES_DIR / "login.py"), title="Sign in", icon=":material/login:",
                     url_path="login")],
            position="hidden",
        )
    else:
        groups = {
            group: [
                st.Page(str(nav.PAGES_DIR / spec.file), title=spec.title, icon=spec.icon,
                        url_path=spec.url_path)
                for spec in specs
            ]
            for group, specs in nav.grouped(actor).items()
        }
        if not groups:
            groups = {"": [st.Page(str(nav.PAGES_DIR / "no_access.py"), title="No access",
                                   url_path="no-access")]}
        # expanded: every page the user may open is listed (collapsed, the sidebar shows the
        # first ten and hides the admin pages of a platform admin behind "View more")
        page = st.navigation(groups, expanded=True)
        sidebar.render(actor)
    page.run()
