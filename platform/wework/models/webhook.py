"""Tenant webhooks: the outbox of events to deliver and each tenant's signing secret.

Not in the spec (``tenants.webhook_url`` is, but nothing called it). An event (a batch
completed, an account going offline or into error, a message failing for good) is
written to ``webhook_outbox`` in the same transaction as the change itself, on the
tenant's shard, so a change is never committed without its event nor the other way
round. The worker delivers the rows (see :mod:`wework.worker.webhooks`); a row is one
event and its delivery state: attempts, the next attempt, the last error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.dialects.mysql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from wework.enums import OutboxStatus
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
from wework.security.crypto import EncryptedString


class WebhookOutbox(Base):
    __tablename__ = "webhook_outbox"
    __table_args__ = table_args(
        "租户Webhook发件箱",
        # The worker's due scan: status IN (pending, delivering) AND next_attempt_at <= now.
        Index("idx_status_next_attempt", "status", "next_attempt_at"),
        Index("idx_tenant_created", "tenant_id", "created_at"),
        Index("idx_created_at", "created_at"),
    )

    # Also the webhook-id header: stable across retries, so receivers can de-duplicate.
    id: Mapped[str] = id_column("事件ID")
    tenant_id: Mapped[str] = mapped_column(String(36), nullable=False, comment="租户ID")
    event_type: Mapped[str] = mapped_column(String(50), nullable=False, comment="事件类型")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, comment="事件内容")
    status: Mapped[OutboxStatus] = mapped_column(
        enum_type(OutboxStatus),
        nullable=False,
        server_default=OutboxStatus.PENDING.value,
        default=OutboxStatus.PENDING,
        comment="投递状态",
    )
    attempts: Mapped[int] = count_column("投递次数")
    # pending: when to try next; delivering: when the worker's claim expires.
    next_attempt_at: Mapped[datetime] = mapped_column(
        TIMESTAMP, nullable=False, comment="下次投递时间"
    )
    expires_at: Mapped[datetime] = mapped_column(TIMESTAMP, nullable=False, comment="放弃时间")
    last_attempt_at: Mapped[datetime | None] = nullable_timestamp("最后投递时间")
    last_status_code: Mapped[int | None] = mapped_column(Integer, comment="最后HTTP状态码")
    last_error: Mapped[str | None] = mapped_column(String(1000), comment="最后错误")
    delivered_at: Mapped[datetime | None] = nullable_timestamp("送达时间")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class TenantWebhookSecret(Base):
    """The tenant's signing secret (``whsec_`` + base64), encrypted at rest, shown once
    when created. After a rotation the previous secret signs too until
    ``previous_valid_until``, so receivers can switch without losing a delivery."""

    __tablename__ = "tenant_webhook_secrets"
    # Secrets stay out of the warehouse (pipelines.extract skips tables marked so).
    __table_args__ = table_args("租户Webhook签名密钥")

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True, comment="租户ID")
    secret: Mapped[str] = mapped_column(
        EncryptedString(255), nullable=False, comment="签名密钥(加密存储)"
    )
    previous_secret: Mapped[str | None] = mapped_column(
        EncryptedString(255), comment="上一密钥(加密存储)"
    )
    previous_valid_until: Mapped[datetime | None] = nullable_timestamp("上一密钥有效期")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
