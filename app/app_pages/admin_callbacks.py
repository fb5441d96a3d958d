"""Callback events: failed events with their error, replay one or many.

A tenant user sees and replays the events of its own accounts (callbacks.list_events /
replay_events scope them by guid); replaying the oldest N of a status is platform-wide,
so only a super-admin gets that button."""

import pandas as pd
import streamlit as st

from ui import session
from ui.forms import attempt
from ui.paging import PAGE_SIZE, paged, reset
from wework.services import callbacks
from wework.services.permissions import CALLBACK_REPLAY

ctx = session.require(CALLBACK_REPLAY)
st.title("Callback events")

status = st.selectbox("Status", ["failed", "received", "processing", "ignored", "processed"],
                      key="cb_status", on_change=reset, args=("callbacks",))
page = paged("callbacks", lambda c: callbacks.list_events(ctx, status=status,
                                                          limit=PAGE_SIZE, cursor=c))
listing = pd.DataFrame([
    {"replay": False, "received": e.received_time, "event_type": e.event_type,
     "guid": e.guid, "error": e.error_message, "retries": e.retry_count, "id": e.id}
    for e in page.items
])
chosen: list[str] = []
if listing.empty:
    st.info(f"No {status} callback events.")
else:
    edited = st.data_editor(listing, hide_index=True, key=f"cb_table_{status}",
                            disabled=[c for c in listing.columns if c != "replay"])
    chosen = list(edited.loc[edited["replay"], "id"])
replayable = status in ("failed", "received", "processing")
if replayable and st.button(f"Replay {len(chosen)} selected", key="cb_replay_selected",
                            disabled=not chosen):
    attempt(lambda: callbacks.replay_events(ctx, chosen),
            success=f"Replayed {len(chosen)} event(s).")

if replayable and ctx.actor.is_super_admin:
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
