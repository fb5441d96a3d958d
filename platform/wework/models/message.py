"""message_db (spec §3): messages, templates, batch send tasks, message statistics."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Computed,
    Date,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)

# MySQL's own TIMESTAMP: Dagster's storage module compiles the generic one as TIMESTAMP(6)
# in any process that imports it.
from sqlalchemy.dialects.mysql import TIMESTAMP, TINYINT
from sqlalchemy.orm import Mapped, mapped_column

from wework.enums import BatchStatus, MessageStatus, MessageType, TargetType
from wework.models.base import (
    Base,
    count_column,
    created_at_column,
    enum_type,
    flag_column,
    id_column,
    nullable_timestamp,
    table_args,
    tenant_id_column,
    updated_at_column,
)
from wework.models.partitioning import MESSAGES


class Message(Base):
    """Partitioned by year of created_at.

    Spec: PRIMARY KEY (id) with ``PARTITION BY RANGE (YEAR(created_at))``: the key must
    contain the partition column (ERROR 1503) and YEAR() of a TIMESTAMP is refused
    (ERROR 1486), so the key is ``(id, created_at)`` and the range is on
    UNIX_TIMESTAMP (see wework.models.partitioning). No foreign keys: partitioned InnoDB
    tables take none (ERROR 1506); the services keep references consistent.
    """

    __tablename__ = "messages"
    __table_args__ = table_args(
        "消息记录表",
        Index("idx_tenant_account", "tenant_id", "account_id"),
        Index("idx_conversation_id", "conversation_id"),
        Index("idx_status", "status"),
        Index("idx_batch_id", "batch_id"),
        Index("idx_template_id", "template_id"),
        Index("idx_send_time", "send_time"),
        Index("idx_created_at", "created_at"),
        Index("idx_scheduled_time", "scheduled_time"),
        # Not in the spec: the incremental extract reads rows changed since a watermark;
        # without this index every run would scan the whole table. status: its check
        # counts the window by (day, status) from the index alone (migration 0016).
        Index("idx_updated_at", "updated_at", "status"),
        # §索引设计 extras
        Index("idx_tenant_time_status", "tenant_id", "created_at", "status"),
        Index("idx_batch_status", "batch_id", "status"),
        # Not in the spec: the admin list's order, newest first by (created_at, id)
        # (migration 0010 says why idx_tenant_time_status cannot serve it).
        Index("idx_tenant_created", "tenant_id", "created_at", "id"),
        # idx_scheduled_pending: below (a descending key part).
        mysql_partition_by=MESSAGES.clause(),
    )

    id: Mapped[str] = id_column("消息ID")
    tenant_id: Mapped[str] = tenant_id_column()
    account_id: Mapped[str] = mapped_column(String(36), nullable=False, comment="发送账号ID")
    conversation_id: Mapped[str] = mapped_column(String(100), nullable=False, comment="会话ID")
    message_type: Mapped[MessageType] = mapped_column(
        enum_type(MessageType), nullable=False, comment="消息类型"
    )
    content: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, comment="消息内容")
    template_id: Mapped[str | None] = mapped_column(String(36), comment="模板ID")
    status: Mapped[MessageStatus] = mapped_column(
        enum_type(MessageStatus),
        nullable=False,
        server_default=MessageStatus.PENDING.value,
        default=MessageStatus.PENDING,
        comment="状态",
    )
    wework_msg_id: Mapped[str | None] = mapped_column(String(100), comment="企微消息ID")
    send_time: Mapped[datetime | None] = nullable_timestamp("发送时间")
    callback_time: Mapped[datetime | None] = nullable_timestamp("回调时间")
    error_code: Mapped[str | None] = mapped_column(String(50), comment="错误码")
    error_message: Mapped[str | None] = mapped_column(Text, comment="错误信息")
    retry_count: Mapped[int] = count_column("重试次数")
    batch_id: Mapped[str | None] = mapped_column(String(36), comment="批量任务ID")
    priority: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default="5", default=5, comment="优先级(1-10)"
    )
    scheduled_time: Mapped[datetime | None] = nullable_timestamp("计划发送时间")
    created_at: Mapped[datetime] = created_at_column(primary_key=True)
    updated_at: Mapped[datetime] = updated_at_column()
    # Not in the spec: when the message is due, derived by the database (VIRTUAL: kept in
    # idx_scheduled_pending only, never written by the services; migration 0014).
    due_at: Mapped[datetime | None] = mapped_column(
        TIMESTAMP, Computed("coalesce(`scheduled_time`,`created_at`)", persisted=False),
        comment="到期时间(派生)",
    )


# Spec: `(account_id, send_time DESC)` and `(conversation_id, created_at DESC)`;
# MariaDB ≥ 10.8 and MySQL 8 honour descending key parts.
Index("idx_account_send_time", Message.account_id, Message.send_time.desc())
# Spec: `(scheduled_time, status) WHERE status = 'pending'`. No partial indexes in
# MySQL; putting status first makes the pending rows one contiguous range, which
# is what the partial index served the dispatcher. batch_id next splits that
# range by batch, so the dispatcher reads only the running batches' pending rows
# and the unbatched ones (migration 0013), each in dispatch order — priority
# first, then due time, then id — so a poll reads the head of each queue and stops
# (migration 0014); the columns after them make it cover the candidate query
# (migration 0012).
Index("idx_scheduled_pending", Message.status, Message.batch_id, Message.priority.desc(),
      Message.due_at, Message.id, Message.account_id, Message.tenant_id)
Index("idx_conversation_time", Message.conversation_id, Message.created_at.desc())


class MessageTemplate(Base):
    __tablename__ = "message_templates"
    __table_args__ = table_args(
        "消息模板表",
        Index("uk_tenant_template_name", "tenant_id", "template_name", unique=True),
        Index("idx_tenant_id", "tenant_id"),
        Index("idx_creator_id", "creator_id"),
        Index("idx_template_type", "template_type"),
        Index("idx_category", "category"),
        Index("idx_is_active", "is_active"),
        Index("idx_usage_count", "usage_count"),
        Index("idx_created_at", "created_at"),
    )

    id: Mapped[str] = id_column("模板ID")
    tenant_id: Mapped[str] = tenant_id_column()
    creator_id: Mapped[str] = mapped_column(String(36), nullable=False, comment="创建者ID")
    template_name: Mapped[str] = mapped_column(String(100), nullable=False, comment="模板名称")
    template_type: Mapped[str] = mapped_column(String(50), nullable=False, comment="模板类型")
    category: Mapped[str | None] = mapped_column(String(50), comment="模板分类")
    description: Mapped[str | None] = mapped_column(String(500), comment="模板描述")
    template_content: Mapped[dict[str, Any]] = mapped_column(
        JSON, nullable=False, comment="模板内容"
    )
    variables: Mapped[list[Any] | None] = mapped_column(JSON, comment="变量定义")
    preview_data: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="预览数据")
    usage_count: Mapped[int] = count_column("使用次数")
    last_used_time: Mapped[datetime | None] = nullable_timestamp("最后使用时间")
    is_public: Mapped[bool] = flag_column(False, "是否公开")
    is_active: Mapped[bool] = flag_column(True, "是否激活")
    tags: Mapped[list[str] | None] = mapped_column(JSON, comment="标签")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class BatchSendTask(Base):
    __tablename__ = "batch_send_tasks"
    __table_args__ = table_args(
        "批量发送任务表",
        Index("idx_tenant_id", "tenant_id"),
        Index("idx_creator_id", "creator_id"),
        Index("idx_account_id", "account_id"),
        Index("idx_status", "status"),
        Index("idx_created_at", "created_at"),
    )

    id: Mapped[str] = id_column("任务ID")
    tenant_id: Mapped[str] = tenant_id_column()
    creator_id: Mapped[str] = mapped_column(String(36), nullable=False, comment="创建者ID")
    task_name: Mapped[str] = mapped_column(String(100), nullable=False, comment="任务名称")
    account_id: Mapped[str] = mapped_column(String(36), nullable=False, comment="发送账号ID")
    template_id: Mapped[str | None] = mapped_column(String(36), comment="模板ID")
    message_content: Mapped[dict[str, Any]] = mapped_column(
        JSON, nullable=False, comment="消息内容"
    )
    target_type: Mapped[TargetType] = mapped_column(
        enum_type(TargetType), nullable=False, comment="目标类型"
    )
    target_config: Mapped[dict[str, Any]] = mapped_column(
        JSON, nullable=False, comment="目标配置"
    )
    send_strategy: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="发送策略")
    status: Mapped[BatchStatus] = mapped_column(
        enum_type(BatchStatus),
        nullable=False,
        server_default=BatchStatus.CREATED.value,
        default=BatchStatus.CREATED,
        comment="状态",
    )
    total_count: Mapped[int] = count_column("总数量")
    sent_count: Mapped[int] = count_column("已发送数量")
    success_count: Mapped[int] = count_column("成功数量")
    failed_count: Mapped[int] = count_column("失败数量")
    progress_percent: Mapped[Decimal] = mapped_column(
        Numeric(5, 2),
        nullable=False,
        server_default="0.00",
        default=Decimal("0.00"),
        comment="进度百分比",
    )
    start_time: Mapped[datetime | None] = nullable_timestamp("开始时间")
    end_time: Mapped[datetime | None] = nullable_timestamp("结束时间")
    estimated_duration: Mapped[int | None] = mapped_column(Integer, comment="预估时长(秒)")
    error_message: Mapped[str | None] = mapped_column(Text, comment="错误信息")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class MessageStatistic(Base):
    """Spec §统计查询优化. The spec fills it with an AFTER UPDATE trigger on messages; we do
    not install that trigger: it counts a retried message twice, never counts
    ``delivered``, and puts a write on the 10,000 msg/s hot path. The analytics marts
    (DuckDB, `message_stats_hourly`) compute these figures from the messages instead;
    the table is kept as the spec defines it, for tools written against the spec, and
    the platform itself does not fill it."""

    __tablename__ = "message_statistics"
    __table_args__ = table_args(
        "消息统计表",
        Index(
            "uk_tenant_account_date_hour",
            "tenant_id",
            "account_id",
            "stat_date",
            "stat_hour",
            unique=True,
        ),
        Index("idx_stat_date", "stat_date"),
        Index("idx_tenant_date", "tenant_id", "stat_date"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_id_column(comment=None)
    account_id: Mapped[str] = mapped_column(String(36), nullable=False)
    stat_date: Mapped[date] = mapped_column(Date, nullable=False)
    stat_hour: Mapped[int | None] = mapped_column(TINYINT)
    total_count: Mapped[int] = count_column()
    success_count: Mapped[int] = count_column()
    failed_count: Mapped[int] = count_column()
    avg_response_time: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()



