"""What is waiting for the workers, for ``wework worker status`` (read on the primary:
it is about work in flight right now)."""

from __future__ import annotations

from sqlalchemy import func, select

from wework.config import Settings
from wework.db.engines import Role, get_engine
from wework.enums import MessageStatus, OutboxStatus
from wework.models import Message, WebhookOutbox, utcnow
from wework.services.dispatcher import dispatchable, due


def queue_counts(settings: Settings) -> dict[str, int]:
    now = utcnow()
    # "due" counts every pending message whose time has come; "dispatchable" those the
    # dispatcher may claim now (account online, tenant active, batch running): the rest
    # wait on an account, a tenant or a paused batch, not on the workers.
    counts = {"messages due": 0, "messages due and dispatchable": 0, "messages sending": 0,
              "webhook events waiting": 0, "webhook events failed": 0}
    for shard in range(settings.shard_count):
        with get_engine(Role.PRIMARY, shard, settings).connect() as conn:
            counts["messages due"] += conn.scalar(
                select(func.count()).select_from(Message).where(*due(now)))
            counts["messages due and dispatchable"] += conn.scalar(
                select(func.count()).select_from(Message).where(*dispatchable(now)))
            counts["messages sending"] += conn.scalar(
                select(func.count()).select_from(Message)
                .where(Message.status == MessageStatus.SENDING)
            )
            for status, n in conn.execute(
                select(WebhookOutbox.status, func.count())
                .where(WebhookOutbox.status != OutboxStatus.DELIVERED)
                .group_by(WebhookOutbox.status)
            ):
                key = "webhook events failed" if status == "failed" else "webhook events waiting"
                counts[key] += n
    return counts
