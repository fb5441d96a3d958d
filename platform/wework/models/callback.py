"""callback_db (spec §4): callback events from WeCom instances."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, text
from sqlalchemy.dialects.mysql import LONGTEXT, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from wework.enums import CallbackStatus
from wework.models.base import (
    Base,
    count_column,
    enum_type,
    id_column,
    nullable_timestamp,
    table_args,
)
from wework.models.partitioning import CALLBACK_EVENTS


class CallbackEvent(Base):
    """Stored raw before it is parsed; partitioned by month of received_time.

    Spec: PRIMARY KEY (id) with a monthly RANGE on UNIX_TIMESTAMP(received_time). The key
    must contain the partition column (ERROR 1503), so it is ``(id, received_time)``. The
    spec's "按月分表" example (`CREATE TABLE ... PARTITION OF ... FOR VALUES FROM`) is
    PostgreSQL syntax; here new months are split off ``p_future`` by
    ``wework db partitions`` (ALTER TABLE ... REORGANIZE PARTITION).
    """

    __tablename__ = "callback_events"
    __table_args__ = table_args(
        "回调事件表",
        Index("idx_guid", "guid"),
        Index("idx_notify_type", "notify_type"),
        Index("idx_event_type", "event_type"),
        Index("idx_status", "status"),
        Index("idx_received_time", "received_time"),
        Index("idx_process_time", "process_time"),
        mysql_partition_by=CALLBACK_EVENTS.clause(),
    )

    id: Mapped[str] = id_column("事件ID")
    guid: Mapped[str] = mapped_column(String(100), nullable=False, comment="实例GUID")
    notify_type: Mapped[int] = mapped_column(Integer, nullable=False, comment="通知类型")
    event_type: Mapped[str] = mapped_column(String(50), nullable=False, comment="事件类型")
    raw_data: Mapped[str] = mapped_column(LONGTEXT, nullable=False, comment="原始数据")
    parsed_data: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="解析后数据")
    status: Mapped[CallbackStatus] = mapped_column(
        enum_type(CallbackStatus),
        nullable=False,
        server_default=CallbackStatus.RECEIVED.value,
        default=CallbackStatus.RECEIVED,
        comment="处理状态",
    )
    error_message: Mapped[str | None] = mapped_column(Text, comment="错误信息")
    retry_count: Mapped[int] = count_column("重试次数")
    process_time: Mapped[datetime | None] = nullable_timestamp("处理时间")
    received_time: Mapped[datetime] = mapped_column(
        TIMESTAMP,
        primary_key=True,
        nullable=False,
        server_default=text("CURRENT_TIMESTAMP"),
        comment="接收时间",
    )
    source_ip: Mapped[str | None] = mapped_column(String(45), comment="来源IP")
    user_agent: Mapped[str | None] = mapped_column(Text, comment="用户代理")
