"""Callback events: failed events with their error, replay one or many.

Callback events belong to no tenant until parsed, so listing and replaying them is
platform-wide (callback:replay), as the callbacks service defines."""

import pandas as pd
import streamlit as st
from ui import session
from ui.config import PAGE_SIZE
from ui.forms import attempt
from ui.paging import paged, reset
from wework.services import callbacks
from wework.services.permissions import CALLBACK_REPLAY

ctx = session.require(CALLBACK_REPLAY)
st.title("Callback events")

status = st.selectbox("Status", ["failed", "received", "processing", "ignored", "processed"],
                      key="cb_status", on_change=reset, args=("callbacks",))
lister = getattr(callbacks, "list_events", None)
replay_ids = getattr(callbacks, "replay_events", None)
if lister is None:
    st.info("This version of the callbacks service cannot list events; "
            "replaying the oldest ones still works below.")
    chosen: list[str] = []
else:
    page = paged("callbacks", lambda c: lister(ctx, status=status, limit=PAGE_SIZE,
                                               cursor=c))
    listing = pd.DataFrame([
        {"replay": False, "received": e.received_time, "event_type": e.event_type,
         "guid": e.guid, "error": e.error_message, "retries": e.retry_count, "id": e.id}
        for e in page.items
    ])
    chosen = []
    if listing.empty:
        st.info(f"No {status} callback events.")
    else:
        edited = st.data_editor(listing, hide_index=True, key=f"cb_table_{status}",
                                disabled=[c for c in listing.columns if c != "replay"])
        chosen = list(edited.loc[edited["replay"], "id"])
    replayable = replay_ids is not None and status in ("failed", "received", "processing")
    if replayable and st.button(f"Replay {len(chosen)} selected", key="cb_replay_selected",
                                disabled=not chosen):
        attempt(lambda: replay_ids(ctx, chosen), success=f"Replayed {len(chosen)} event(s).")

if status in ("failed", "received", "processing"):
    n = st.number_input("Replay the oldest N events in this status", min_value=1,
                        max_value=1000, value=10, key="cb_replay_n")
    if st.button("Replay oldest", key="cb_replay_oldest"):
        def run():
            events = callbacks.replay(ctx, status=status, limit=int(n))
            done = sum(1 for e in events if str(e.status) == "processed")
            st.session_state["cb_last_replay"] = (
                f"Replayed {len(events)} event(s): {done} processed, "
                f"{len(events) - done} still failing.")
            return events

        attempt(run, success="Replay finished.")
    if "cb_last_replay" in st.session_state:
        st.caption(st.session_state["cb_last_replay"])
