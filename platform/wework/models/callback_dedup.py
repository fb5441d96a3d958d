"""Global de-duplication keys of callback events.

Not in the spec. ``callback_events`` is partitioned by month of ``received_time``, so any
unique key on it must include ``received_time`` (ERROR 1503) and cannot recognise the
same event delivered twice at different times. This small non-partitioned table holds one
row per applied event key ``(guid, event_id)``; the row is inserted in the same
transaction that applies the event, so an event is applied at most once and a failed
application leaves no key behind (a replay can apply it later).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
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
