"""Signing secrets of the WeCom instance gateways (not in the spec).

A gateway signs every callback it posts to ``POST /v1/callbacks`` with its secret
(Standard Webhooks: HMAC-SHA256 over ``webhook-id.webhook-timestamp.body``); the API
accepts a request signed with any valid secret. Rotation keeps the old secret valid until
``expires_at`` while the gateway switches to the new one. Platform-wide, so the rows live
on the intake shard (0), like the raw callback events.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from wework.models.base import Base, created_at_column, id_column, nullable_timestamp, table_args
from wework.security.crypto import EncryptedString


class GatewaySecret(Base):
    __tablename__ = "gateway_secrets"
    __table_args__ = table_args(
        "网关签名密钥表",
        Index("idx_gateway_name", "gateway_name"),
    )

    id: Mapped[str] = id_column("密钥ID")
    gateway_name: Mapped[str] = mapped_column(String(100), nullable=False, comment="网关名称")
    # whsec_<base64 of 32 random bytes>, encrypted at rest; never shown after creation.
    secret: Mapped[str] = mapped_column(EncryptedString(255), nullable=False,
                                        comment="签名密钥(加密存储)")
    # First 16 hex digits of SHA-256(secret): tells which secret a gateway holds without
    # revealing it.
    fingerprint: Mapped[str] = mapped_column(String(16), nullable=False, comment="密钥指纹")
    created_by: Mapped[str] = mapped_column(String(100), nullable=False, comment="创建人")
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime | None] = nullable_timestamp("过期时间(轮换后)")
    revoked_at: Mapped[datetime | None] = nullable_timestamp("吊销时间")
