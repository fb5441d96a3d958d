"""Operator alerts (:mod:`wework.alerts`): each alert's current state and its history.

Not in the spec (its monitor service, 系统监控、告警, has no tables). An *alert* is one
rule applied to one subject (the platform, a replica, a table, a tenant): its row holds
where the condition stands (ok / pending / firing), since when, and when it was last
notified. Every notification (fired, repeated while firing, resolved) is a row of
``alert_notices``: the history the app and notebook 05 show, and the outbox the worker
posts to ``WEWORK_ALERT_WEBHOOK_URL`` from (its id is the ``webhook-id``, stable across
retries, so a receiver de-duplicates). Only shard 0's tables are used, beside the
worker's job schedule; migrations create them on every shard like every other table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects.mysql import DOUBLE, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from wework.enums import AlertState, NoticeDelivery, NoticeKind
from wework.models.base import (
    Base,
    count_column,
    created_at_column,
    enum_type,
    id_column,
    nullable_timestamp,
    table_args,
    updated_at_column,
)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = table_args(
        "运维告警状态",
        UniqueConstraint("rule", "subject", name="uk_rule_subject"),
        Index("idx_state", "state"),
        Index("idx_tenant_state", "tenant_id", "state"),
    )

    id: Mapped[str] = id_column("告警ID")
    rule: Mapped[str] = mapped_column(String(64), nullable=False, comment="规则名")
    # What the rule looked at: "platform", "replica", a table, a tenant id ...
    subject: Mapped[str] = mapped_column(String(191), nullable=False, comment="对象")
    tenant_id: Mapped[str | None] = mapped_column(String(36), comment="租户ID(租户级规则)")
    severity: Mapped[str] = mapped_column(String(16), nullable=False, comment="级别")
    state: Mapped[AlertState] = mapped_column(
        enum_type(AlertState), nullable=False, server_default=AlertState.OK.value,
        default=AlertState.OK, comment="状态",
    )
    value: Mapped[float | None] = mapped_column(DOUBLE, comment="最近取值")
    summary: Mapped[str] = mapped_column(String(500), nullable=False, comment="摘要")
    pending_since: Mapped[datetime | None] = nullable_timestamp("条件成立起始时间")
    fired_at: Mapped[datetime | None] = nullable_timestamp("触发时间")
    resolved_at: Mapped[datetime | None] = nullable_timestamp("恢复时间")
    last_notified_at: Mapped[datetime | None] = nullable_timestamp("最后通知时间")
    evaluated_at: Mapped[datetime] = mapped_column(TIMESTAMP, nullable=False,
                                                   comment="最后评估时间")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class AlertNotice(Base):
    __tablename__ = "alert_notices"
    __table_args__ = table_args(
        "运维告警通知历史",
        Index("idx_at", "at"),
        Index("idx_delivery_next", "delivery", "next_attempt_at"),
        Index("idx_alert_at", "alert_id", "at"),
        Index("idx_tenant_at", "tenant_id", "at"),
    )

    # Also the webhook-id header of its notification.
    id: Mapped[str] = id_column("通知ID")
    alert_id: Mapped[str] = mapped_column(String(36), nullable=False, comment="告警ID")
    rule: Mapped[str] = mapped_column(String(64), nullable=False, comment="规则名")
    subject: Mapped[str] = mapped_column(String(191), nullable=False, comment="对象")
    tenant_id: Mapped[str | None] = mapped_column(String(36), comment="租户ID(租户级规则)")
    severity: Mapped[str] = mapped_column(String(16), nullable=False, comment="级别")
    kind: Mapped[NoticeKind] = mapped_column(enum_type(NoticeKind), nullable=False,
                                              comment="通知类型")
    repeat: Mapped[int] = count_column("重复通知序号(0=首次)")
    value: Mapped[float | None] = mapped_column(DOUBLE, comment="取值")
    summary: Mapped[str] = mapped_column(String(500), nullable=False, comment="摘要")
    at: Mapped[datetime] = mapped_column(TIMESTAMP, nullable=False, comment="发生时间")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, comment="通知内容")
    delivery: Mapped[NoticeDelivery] = mapped_column(
        enum_type(NoticeDelivery), nullable=False, server_default=NoticeDelivery.PENDING.value,
        default=NoticeDelivery.PENDING, comment="投递状态",
    )
    attempts: Mapped[int] = count_column("投递次数")
    next_attempt_at: Mapped[datetime | None] = nullable_timestamp("下次投递时间")
    last_error: Mapped[str | None] = mapped_column(String(1000), comment="最后错误")
    delivered_at: Mapped[datetime | None] = nullable_timestamp("送达时间")
    last_status_code: Mapped[int | None] = mapped_column(Integer, comment="最后HTTP状态码")
    created_at: Mapped[datetime] = created_at_column()
