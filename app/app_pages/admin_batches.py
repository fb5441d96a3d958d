"""Batch sends: create from a template and targets, live progress, pause/resume/cancel."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from ui import errors, nav, session
from ui.downloads import csv_button
from ui.forms import FieldErrors, attempt, parse_json
from ui.paging import PAGE_SIZE, paged
from ui.text import md
from wework.enums import TargetType
from wework.errors import ServiceError
from wework.services import accounts, batches, templates
from wework.services.permissions import ACCOUNT_MANAGE

ctx = nav.start(__file__)

ACTIVE = ("created", "running", "paused")
# A task that ended this recently stays in the live progress with its final state, so
# whoever watched it run sees it complete (or fail, or be cancelled) without reloading.
RECENTLY_ENDED = timedelta(minutes=10)


@st.fragment(run_every="3s")
@errors.guard  # its reruns run outside the page's own error handler
def progress() -> None:
    """Re-read every 3 s (primary, fresh): counters move as the worker sends and receipts
    arrive; a task that just ended shows its final state."""
    if not session.still_active():
        st.rerun(scope="app")  # the idle timeout signs the user out
    page = batches.list_batches(ctx, limit=PAGE_SIZE, fresh=True)
    since = datetime.now(UTC).replace(tzinfo=None) - RECENTLY_ENDED  # stored naive UTC
    live = [b for b in page.items if str(b.status) in ACTIVE
            or (b.end_time is not None and b.end_time >= since)]
    st.subheader("Live progress")
    if not live:
        st.caption("No task is running or paused, and none ended in the last 10 minutes.")
    for b in live:
        done = b.sent_count + b.failed_count
        st.progress(min(1.0, float(b.progress_percent) / 100),
                    text=f"{md(b.task_name)} — {b.status}: {done}/{b.total_count} "
                         f"(sent {b.sent_count}, delivered {b.success_count}, "
                         f"failed {b.failed_count})")


progress()

page = paged("batches", lambda c: batches.list_batches(ctx, limit=PAGE_SIZE, cursor=c,
                                                       fresh=True))
listing = pd.DataFrame([
    {"task": b.task_name, "status": str(b.status), "total": b.total_count,
     "sent": b.sent_count, "delivered": b.success_count, "failed": b.failed_count,
     "progress_%": float(b.progress_percent), "started": b.start_time, "id": b.id}
    for b in page.items
])
if listing.empty:
    st.info("No batch tasks yet.")
else:
    st.dataframe(listing, hide_index=True)
    csv_button(listing, "batch tasks", "admin_batches")
by_id = {b.id: b for b in page.items}
if by_id:
    bid = st.selectbox("Task", list(by_id), key="batch_pick",
                       format_func=lambda i: f"{by_id[i].task_name} ({by_id[i].status})")
    status = str(by_id[bid].status)
    c1, c2, c3 = st.columns(3)
    if c1.button("Pause", key="batch_pause", disabled=status not in ("created", "running")):
        attempt(lambda: batches.pause_batch(ctx, bid), success="Task paused.")
    if c2.button("Resume", key="batch_resume", disabled=status != "paused"):
        attempt(lambda: batches.resume_batch(ctx, bid), success="Task resumed.")
    if c3.button("Cancel", key="batch_cancel", disabled=status not in ACTIVE):
        attempt(lambda: batches.cancel_batch(ctx, bid), success="Task cancelled.")

st.subheader("New batch send")
tpl_items = templates.list_templates(ctx, limit=500, fresh=True).items
tpl_by_id = {t.id: t for t in tpl_items}
if not tpl_by_id:
    st.info("Create a template first (Admin → Templates).")
    st.stop()
tid = st.selectbox("Template", list(tpl_by_id), key="batch_new_template",
                   format_func=lambda i: tpl_by_id[i].template_name)
target_type = st.radio("Targets", [t.value for t in TargetType], horizontal=True,
                       key="batch_new_target_type",
                       help="manual: conversation ids; group: every group chat of the account; "
                            "filter: conversations by tags/type; import: JSON rows with "
                            "per-target variables")
account_names: dict[str, str] = {}
if session.can(ctx.actor, ACCOUNT_MANAGE):
    try:
        account_names = {a.id: f"{a.account_name} ({a.status})"
                         for a in accounts.list_accounts(ctx, limit=500, fresh=True).items}
    except ServiceError:
        account_names = {}

with st.form("batch_create"):
    errors = FieldErrors()
    name = st.text_input("Task name", key="batch_new_name")
    errors.slot("task_name")
    if account_names:
        account_id = st.selectbox("Sending account", list(account_names),
                                  format_func=account_names.get, key="batch_new_account")
    else:
        account_id = st.text_input("Sending account id", key="batch_new_account_id")
    errors.slot("account", "account_id")
    if target_type == "manual":
        ids_text = st.text_area("Conversation ids (one per line)", key="batch_new_ids")
    elif target_type == "filter":
        tags_text = st.text_input("Tags (comma separated)", key="batch_new_tags")
    elif target_type == "import":
        rows_text = st.text_area(
            "Rows (JSON)", '[{"conversation_id": "c1", "variables": {"name": "Li"}}]',
            key="batch_new_rows")
    errors.slot("target_config", "targets")
    tpl = tpl_by_id[tid]
    values = {}
    for var in tpl.variables or []:
        values[var["name"]] = st.text_input(f"Variable {md(var['name'])}",
                                            key=f"batch_var_{tid}_{var['name']}")
    errors.slot("variables", "template_values", "template_id")
    rate = st.number_input("Rate per minute (0 = unlimited)", min_value=0, value=0,
                           key="batch_new_rate")
    errors.slot("send_strategy")
    errors.slot("max_daily_messages")
    if st.form_submit_button("Create batch send", type="primary"):
        def create():
            if target_type == "manual":
                config = {"conversation_ids": [x.strip() for x in ids_text.splitlines()
                                               if x.strip()]}
            elif target_type == "filter":
                config = {"tags": [t.strip() for t in tags_text.split(",") if t.strip()]}
            elif target_type == "import":
                config = {"rows": parse_json(rows_text, "target_config.rows", default=[])}
            else:
                config = {}
            return batches.create_batch(
                ctx, task_name=name.strip(), account_id=account_id, target_type=target_type,
                target_config=config, template_id=tid,
                template_values={k: v for k, v in values.items() if v != ""},
                send_strategy={"rate_per_minute": int(rate)} if rate else None)

        attempt(create, errors, success=f"Batch send {name} created.")
