"""Gateway secrets (super-admin): the signing secrets the WeCom instance gateways sign
their callbacks with. Issue a gateway's first secret, rotate it (the old one keeps
verifying for a grace period), revoke one. A new secret is shown once, right after it is
issued; lists show a fingerprint, never a value."""

import pandas as pd
import streamlit as st

from ui import nav
from ui.forms import FieldErrors, attempt
from wework.config import get_settings
from wework.services import gateway_secrets

ISSUED = "gw_issued_secret"  # (gateway, secret) to show on the next run, then forgotten

ctx = nav.start(__file__)

issued = st.session_state.pop(ISSUED, None)
if issued is not None:
    name, secret = issued
    st.warning(f"New secret of gateway {name}. Copy it into the gateway's configuration "
               "now: it is shown only this once.", icon=":material/key:")
    st.code(secret, language=None)

show_ended = st.toggle("Show expired and revoked secrets", key="gw_show_ended")
secrets = gateway_secrets.list_secrets(ctx, include_ended=show_ended)
if secrets:
    st.dataframe(pd.DataFrame([
        {"gateway": i.gateway_name, "state": i.state, "fingerprint": i.fingerprint,
         "created": i.created_at, "expires": i.expires_at, "revoked": i.revoked_at,
         "created by": i.created_by, "id": i.id}
        for i in secrets
    ]), hide_index=True)
else:
    st.info("No gateway secrets yet: issue one for each gateway that posts callbacks.")


def keep_for_next_run(result):
    st.session_state[ISSUED] = (result.info.gateway_name, result.secret)
    return result


valid = [i for i in secrets if i.state in ("active", "expiring")]
tab_issue, tab_rotate, tab_revoke = st.tabs(["Issue", "Rotate", "Revoke"])
with tab_issue, st.form("gw_issue"):
    errors = FieldErrors()
    gateway = st.text_input("Gateway name", key="gw_name",
                            help="Letters, digits, '.', '_' or '-', e.g. gw-shanghai-1")
    errors.slot("gateway_name")
    if st.form_submit_button("Issue secret", type="primary"):
        attempt(lambda: keep_for_next_run(gateway_secrets.create(ctx, gateway.strip())),
                errors, success=f"Secret issued for gateway {gateway.strip()}.")

with tab_rotate:
    gateways = sorted({i.gateway_name for i in valid})
    if not gateways:
        st.info("No gateway has a valid secret to rotate.")
    else:
        with st.form("gw_rotate"):
            errors = FieldErrors()
            chosen = st.selectbox("Gateway", gateways, key="gw_rotate_name")
            grace = st.number_input("Old secret stays valid for (hours)", min_value=0.0,
                                    max_value=float(gateway_secrets.MAX_GRACE_HOURS),
                                    value=float(get_settings().gateway_secret_grace_hours),
                                    key="gw_rotate_grace")
            errors.slot("grace_hours")
            if st.form_submit_button("Rotate"):
                attempt(lambda: keep_for_next_run(
                    gateway_secrets.rotate(ctx, chosen, grace_hours=float(grace))),
                    errors, success=f"Gateway {chosen} rotated.")

with tab_revoke:
    if not valid:
        st.info("No valid secret to revoke.")
    else:
        by_id = {i.id: i for i in valid}
        target = st.selectbox("Secret", list(by_id), key="gw_revoke_id",
                              format_func=lambda i: f"{by_id[i].gateway_name} · "
                                                    f"{by_id[i].fingerprint} · {by_id[i].state}")
        confirm = st.checkbox("It stops verifying at once: callbacks signed with it get 401",
                              key="gw_revoke_confirm")
        if st.button("Revoke", key="gw_revoke", disabled=not confirm):
            attempt(lambda: gateway_secrets.revoke(ctx, target), success="Secret revoked.")
