"""Global de-duplication of callback events (per event) and of HTTP deliveries (per
webhook-id).

Neither is in the spec. ``callback_events`` is partitioned by month of ``received_time``, so any
unique key on it must include ``received_time`` (ERROR 1503) and cannot recognise the
same event delivered twice at different times. This small non-partitioned table holds one
row per applied event key ``(guid, event_id)``; the row is inserted in the same
transaction that applies the event, so an event is applied at most once and a failed
application leaves no key behind (a replay can apply it later).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, text
from sqlalchemy.dialects.mysql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from wework.models.base import Base, created_at_column, table_args


class CallbackEventKey(Base):
    __tablename__ = "callback_event_keys"
    __table_args__ = table_args(
        "回调事件去重键表",
        Index("idx_created_at", "created_at"),
    )

    guid: Mapped[str] = mapped_column(String(100), primary_key=True, comment="实例GUID")
    event_id: Mapped[str] = mapped_column(String(100), primary_key=True, comment="事件唯一ID")
    callback_event_id: Mapped[str] = mapped_column(
        String(36), nullable=False, comment="首次应用的回调事件ID"
    )
    created_at: Mapped[datetime] = created_at_column()


class CallbackWebhookId(Base):
    """One row per signed HTTP delivery accepted by ``POST /v1/callbacks``.

    Not in the spec. Standard Webhooks senders retry a delivery with the same
    ``webhook-id``; a repeated id is acknowledged and stores nothing. The row is inserted in
    the transaction that stores the delivery's events, so the id is durable exactly when
    they are, whichever API process took it.
    """

    __tablename__ = "callback_webhook_ids"
    __table_args__ = table_args(
        "回调投递ID表",
        Index("idx_received_at", "received_at"),
    )

    webhook_id: Mapped[str] = mapped_column(
        String(255), primary_key=True, comment="投递ID (webhook-id)"
    )
    event_count: Mapped[int] = mapped_column(Integer, nullable=False, comment="事件数")
    received_at: Mapped[datetime] = mapped_column(
        TIMESTAMP, nullable=False, server_default=text("CURRENT_TIMESTAMP"), comment="接收时间"
    )
