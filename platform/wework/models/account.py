"""account_db (spec §2): WeCom accounts, their status history, conversations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Computed,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from wework.enums import AccountStatus, ConversationType, OperatorType
from wework.models.base import (
    Base,
    count_column,
    created_at_column,
    enum_type,
    flag_column,
    id_column,
    nullable_timestamp,
    table_args,
    updated_at_column,
)
from wework.models.partitioning import ACCOUNT_STATUS_HISTORY
from wework.security.crypto import EncryptedString


class WeworkAccount(Base):
    __tablename__ = "wework_accounts"
    __table_args__ = table_args(
        "企微账号表",
        Index("uk_tenant_account_name", "tenant_id", "account_name", unique=True),
        Index("uk_guid", "guid", unique=True),
        Index("idx_tenant_id", "tenant_id"),
        Index("idx_user_id", "user_id"),
        Index("idx_status", "status"),
        # Spec: KEY idx_phone (phone). phone is encrypted at rest, and an index on
        # ciphertext finds nothing, so the index covers the keyed lookup hash instead.
        Index("idx_phone", "phone_hash"),
        Index("idx_last_heartbeat", "last_heartbeat_time"),
        Index("idx_created_at", "created_at"),
        # §索引设计 extras
        Index("idx_tenant_status_heartbeat", "tenant_id", "status", "last_heartbeat_time"),
        # Spec: `... WHERE status = 'online'`; no partial indexes in MySQL, and with
        # status leading the composite index serves the same online-heartbeat scans.
        Index("idx_online_heartbeat", "status", "last_heartbeat_time"),
        Index(
            "idx_account_name_search",
            "tenant_id",
            "account_name",
            mysql_length={"account_name": 20},
        ),
        # Spec: `UNIQUE (guid) WHERE status != 'deleted'`. Emulated the MySQL way: a
        # unique index on a generated column that is NULL for excluded rows (NULLs never
        # collide). Same rows, same uniqueness as the partial index.
        Index("uk_guid_active", "guid_active", unique=True),
    )

    id: Mapped[str] = id_column("账号ID")
    tenant_id: Mapped[str] = mapped_column(String(36), nullable=False, comment="租户ID")
    user_id: Mapped[str | None] = mapped_column(String(36), comment="绑定用户ID")
    account_name: Mapped[str] = mapped_column(String(100), nullable=False, comment="账号名称")
    # Spec: varchar(20)/varchar(100) plaintext; encrypted at rest (personal data).
    phone: Mapped[str | None] = mapped_column(EncryptedString(255), comment="绑定手机号(加密存储)")
    email: Mapped[str | None] = mapped_column(EncryptedString(400), comment="绑定邮箱(加密存储)")
    phone_hash: Mapped[str | None] = mapped_column(String(64), comment="手机号HMAC(查找用)")
    email_hash: Mapped[str | None] = mapped_column(String(64), comment="邮箱HMAC(查找用)")
    guid: Mapped[str | None] = mapped_column(String(100), comment="企微实例GUID")
    guid_active: Mapped[str | None] = mapped_column(
        String(100),
        Computed("CASE WHEN `status` <> 'deleted' THEN `guid` END", persisted=False),
        comment="未删除账号的GUID(uk_guid_active用)",
    )
    qr_code_url: Mapped[str | None] = mapped_column(String(500), comment="登录二维码URL")
    # Spec: varchar(255) plaintext. A login token is a credential: encrypted at rest,
    # widened to fit the ciphertext of a 255-character token.
    login_token: Mapped[str | None] = mapped_column(
        EncryptedString(512), comment="登录令牌(加密存储)"
    )
    status: Mapped[AccountStatus] = mapped_column(
        enum_type(AccountStatus),
        nullable=False,
        server_default=AccountStatus.CREATED.value,
        default=AccountStatus.CREATED,
        comment="状态",
    )
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="账号配置")
    user_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="企微用户信息")
    last_login_time: Mapped[datetime | None] = nullable_timestamp("最后登录时间")
    last_heartbeat_time: Mapped[datetime | None] = nullable_timestamp("最后心跳时间")
    login_retry_count: Mapped[int] = count_column("登录重试次数")
    error_message: Mapped[str | None] = mapped_column(Text, comment="错误信息")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class AccountStatusHistory(Base):
    """Append-only; partitioned by year of created_at.

    Spec: PRIMARY KEY (id) with ``PARTITION BY RANGE (YEAR(created_at))``. MySQL requires
    the partition column in every unique key (ERROR 1503), so the key is
    ``(id, created_at)``; ``id`` stays AUTO_INCREMENT and unique in practice.
    """

    __tablename__ = "account_status_history"
    __table_args__ = table_args(
        "账号状态历史表",
        Index("idx_account_id", "account_id"),
        Index("idx_account_time", "account_id", "created_at"),
        Index("idx_new_status", "new_status"),
        Index("idx_created_at", "created_at"),
        mysql_partition_by=ACCOUNT_STATUS_HISTORY.clause(),
    )

    id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=True, comment="主键ID"
    )
    account_id: Mapped[str] = mapped_column(String(36), nullable=False, comment="账号ID")
    old_status: Mapped[str | None] = mapped_column(String(20), comment="原状态")
    new_status: Mapped[str] = mapped_column(String(20), nullable=False, comment="新状态")
    reason: Mapped[str | None] = mapped_column(String(500), comment="变更原因")
    error_message: Mapped[str | None] = mapped_column(Text, comment="错误信息")
    extra_data: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="扩展数据")
    operator_id: Mapped[str | None] = mapped_column(String(36), comment="操作者ID")
    operator_type: Mapped[OperatorType] = mapped_column(
        enum_type(OperatorType),
        nullable=False,
        server_default=OperatorType.SYSTEM.value,
        default=OperatorType.SYSTEM,
        comment="操作类型",
    )
    created_at: Mapped[datetime] = created_at_column(primary_key=True)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = table_args(
        "会话信息表",
        Index("uk_account_conversation", "account_id", "conversation_id", unique=True),
        Index("idx_account_id", "account_id"),
        Index("idx_conversation_type", "conversation_type"),
        Index("idx_last_msg_time", "last_msg_time"),
        Index("idx_is_active", "is_active"),
        Index("idx_updated_at", "updated_at"),
    )

    id: Mapped[str] = id_column("会话ID")
    account_id: Mapped[str] = mapped_column(String(36), nullable=False, comment="账号ID")
    conversation_id: Mapped[str] = mapped_column(
        String(100), nullable=False, comment="企微会话ID"
    )
    conversation_name: Mapped[str | None] = mapped_column(String(200), comment="会话名称")
    conversation_type: Mapped[ConversationType] = mapped_column(
        enum_type(ConversationType), nullable=False, comment="会话类型"
    )
    avatar_url: Mapped[str | None] = mapped_column(String(500), comment="头像URL")
    member_count: Mapped[int | None] = mapped_column(
        Integer, server_default="0", default=0, comment="成员数量"
    )
    last_msg_time: Mapped[datetime | None] = nullable_timestamp("最后消息时间")
    last_msg_content: Mapped[str | None] = mapped_column(Text, comment="最后消息内容")
    unread_count: Mapped[int | None] = mapped_column(
        Integer, server_default="0", default=0, comment="未读消息数"
    )
    is_active: Mapped[bool] = flag_column(True, "是否活跃")
    is_pinned: Mapped[bool] = flag_column(False, "是否置顶")
    tags: Mapped[list[str] | None] = mapped_column(JSON, comment="标签")
    extra_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="扩展信息")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()
