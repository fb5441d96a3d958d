"""user_db (spec §1): tenants, users, roles and their assignment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, text
from sqlalchemy.dialects.mysql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from wework.enums import TenantStatus, UserStatus
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
from wework.security.crypto import EncryptedString


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = table_args(
        "租户表",
        Index("uk_tenant_code", "tenant_code", unique=True),
        Index("idx_status", "status"),
        Index("idx_created_at", "created_at"),
    )

    id: Mapped[str] = id_column("租户ID")
    tenant_code: Mapped[str] = mapped_column(String(50), nullable=False, comment="租户编码")
    tenant_name: Mapped[str] = mapped_column(String(100), nullable=False, comment="租户名称")
    contact_person: Mapped[str | None] = mapped_column(String(50), comment="联系人")
    # Spec: varchar(20)/varchar(100) plaintext. Contact details are personal data, so
    # they are encrypted at rest; the column is widened to hold the ciphertext.
    contact_phone: Mapped[str | None] = mapped_column(
        EncryptedString(255), comment="联系电话(加密存储)"
    )
    contact_email: Mapped[str | None] = mapped_column(
        EncryptedString(400), comment="联系邮箱(加密存储)"
    )
    max_accounts: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default="10", default=10, comment="最大账号数"
    )
    max_daily_messages: Mapped[int] = mapped_column(
        Integer, nullable=False, server_default="10000", default=10000, comment="日消息限额"
    )
    webhook_url: Mapped[str | None] = mapped_column(String(500), comment="回调地址")
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON, comment="租户配置")
    status: Mapped[TenantStatus] = mapped_column(
        enum_type(TenantStatus),
        nullable=False,
        server_default=TenantStatus.ACTIVE.value,
        default=TenantStatus.ACTIVE,
        comment="状态",
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class User(Base):
    __tablename__ = "users"
    __table_args__ = table_args(
        "用户表",
        Index("uk_tenant_username", "tenant_id", "username", unique=True),
        Index("uk_tenant_email", "tenant_id", "email", unique=True),
        Index("idx_tenant_id", "tenant_id"),
        Index("idx_status", "status"),
        Index("idx_email", "email"),
        Index("idx_last_login", "last_login_time"),
        # §索引设计 extras
        Index("idx_tenant_status_login", "tenant_id", "status", "last_login_time"),
        Index(
            "idx_search_fields",
            "tenant_id",
            "username",
            "email",
            mysql_length={"username": 10, "email": 20},
        ),
        # Spec: `(status, last_login_time) WHERE status = 'active'`. MySQL has no partial
        # indexes; with status leading, the plain composite index keeps the active rows
        # contiguous and ordered by last_login_time, which is what the partial one gave.
        Index("idx_active_users", "status", "last_login_time"),
    )

    id: Mapped[str] = id_column("用户ID")
    tenant_id: Mapped[str] = mapped_column(
        String(36),
        ForeignKey("tenants.id", name="fk_users_tenant"),
        nullable=False,
        comment="租户ID",
    )
    username: Mapped[str] = mapped_column(String(50), nullable=False, comment="用户名")
    email: Mapped[str] = mapped_column(String(100), nullable=False, comment="邮箱")
    # Spec: varchar(20) plaintext; encrypted at rest (personal data), widened for it.
    phone: Mapped[str | None] = mapped_column(EncryptedString(255), comment="手机号(加密存储)")
    real_name: Mapped[str | None] = mapped_column(String(50), comment="真实姓名")
    avatar_url: Mapped[str | None] = mapped_column(String(500), comment="头像URL")
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False, comment="密码哈希")
    # argon2id embeds its own salt in password_hash; the spec's column is kept and holds
    # that salt (hex) for compatibility with tools that expect it.
    salt: Mapped[str] = mapped_column(String(32), nullable=False, comment="密码盐值")
    status: Mapped[UserStatus] = mapped_column(
        enum_type(UserStatus),
        nullable=False,
        server_default=UserStatus.ACTIVE.value,
        default=UserStatus.ACTIVE,
        comment="状态",
    )
    last_login_time: Mapped[datetime | None] = nullable_timestamp("最后登录时间")
    last_login_ip: Mapped[str | None] = mapped_column(String(45), comment="最后登录IP")
    failed_login_count: Mapped[int] = count_column("失败登录次数")
    locked_until: Mapped[datetime | None] = nullable_timestamp("锁定截止时间")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = table_args(
        "角色表",
        Index("uk_tenant_role_code", "tenant_id", "role_code", unique=True),
        Index("idx_tenant_id", "tenant_id"),
        Index("idx_is_active", "is_active"),
    )

    id: Mapped[str] = id_column("角色ID")
    tenant_id: Mapped[str] = mapped_column(
        String(36),
        ForeignKey("tenants.id", name="fk_roles_tenant"),
        nullable=False,
        comment="租户ID",
    )
    role_code: Mapped[str] = mapped_column(String(50), nullable=False, comment="角色编码")
    role_name: Mapped[str] = mapped_column(String(100), nullable=False, comment="角色名称")
    description: Mapped[str | None] = mapped_column(String(500), comment="角色描述")
    permissions: Mapped[list[str]] = mapped_column(JSON, nullable=False, comment="权限列表")
    is_system: Mapped[bool] = flag_column(False, "是否系统角色")
    is_active: Mapped[bool] = flag_column(True, "是否激活")
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = table_args(
        "用户角色关联表",
        Index("uk_user_role", "user_id", "role_id", unique=True),
        Index("idx_user_id", "user_id"),
        Index("idx_role_id", "role_id"),
        Index("idx_assigned_at", "assigned_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, autoincrement=True, comment="主键ID"
    )
    user_id: Mapped[str] = mapped_column(
        String(36),
        ForeignKey("users.id", name="fk_user_roles_user"),
        nullable=False,
        comment="用户ID",
    )
    role_id: Mapped[str] = mapped_column(
        String(36),
        ForeignKey("roles.id", name="fk_user_roles_role"),
        nullable=False,
        comment="角色ID",
    )
    assigned_by: Mapped[str] = mapped_column(String(36), nullable=False, comment="分配者ID")
    assigned_at: Mapped[datetime] = mapped_column(
        TIMESTAMP, nullable=False, server_default=text("CURRENT_TIMESTAMP"), comment="分配时间"
    )
