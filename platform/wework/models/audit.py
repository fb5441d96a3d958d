"""The audit log of administrative writes (not in the spec; issue 16).

One row per write a user makes through an admin service (users, roles, tenants, accounts,
templates, batches, webhook settings), written in the same transaction as the write, on
the shard of the tenant acted on. ``changes`` holds the changed fields before and after,
without secrets (hashes, salts, tokens) and with personal data encrypted at rest (phones,
e-mails) recorded only as changed, never by value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from wework.models.base import (
    Base,
    created_at_column,
    id_column,
    reference_column,
    table_args,
    tenant_id_column,
)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = table_args(
        "审计日志表",
        Index("idx_tenant_created", "tenant_id", "created_at"),
        Index("idx_created_at", "created_at"),
        Index("idx_object", "object_type", "object_id"),
    )

    id: Mapped[str] = id_column("日志ID")
    tenant_id: Mapped[str] = tenant_id_column(comment="被操作的租户ID")
    actor_id: Mapped[str] = reference_column(comment="操作人ID")
    actor_tenant_id: Mapped[str] = reference_column(comment="操作人所属租户ID")
    actor_name: Mapped[str] = mapped_column(String(50), nullable=False, comment="操作人用户名")
    action: Mapped[str] = mapped_column(String(50), nullable=False, comment="操作")
    object_type: Mapped[str] = mapped_column(String(50), nullable=False, comment="对象类型")
    object_id: Mapped[str | None] = mapped_column(String(64), comment="对象ID")
    client_ip: Mapped[str | None] = mapped_column(String(45), comment="客户端IP")
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="变更字段(前/后)")
    created_at: Mapped[datetime] = created_at_column()
