"""What is waiting for the workers, for ``wework worker status`` (read on the primary:
it is about work in flight right now)."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from wework.config import Settings
from wework.db.engines import Role, get_engine
from wework.enums import MessageStatus, OutboxStatus
from wework.models import Message, WebhookOutbox, utcnow


def queue_counts(settings: Settings) -> dict[str, int]:
    now = utcnow()
    counts = {"messages due": 0, "messages sending": 0, "webhook events waiting": 0,
              "webhook events failed": 0}
    for shard in range(settings.shard_count):
        with get_engine(Role.PRIMARY, shard, settings).connect() as conn:
            counts["messages due"] += conn.scalar(
                select(func.count()).select_from(Message).where(
                    Message.status == MessageStatus.PENDING,
                    or_(Message.scheduled_time.is_(None), Message.scheduled_time <= now),
                )
            )
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
