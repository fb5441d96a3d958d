"""Permission names and the system roles seeded for every tenant."""

from __future__ import annotations

PLATFORM_ADMIN = "platform:admin"  # super-admin: may act on every tenant
TENANT_MANAGE = "tenant:manage"
USER_MANAGE = "user:manage"
ACCOUNT_MANAGE = "account:manage"
MESSAGE_SEND = "message:send"
TEMPLATE_MANAGE = "template:manage"
BATCH_MANAGE = "batch:manage"
REPORT_VIEW = "report:view"
CALLBACK_REPLAY = "callback:replay"
PII_VIEW = "pii:view"  # phones and emails unmasked (wework.security.masking)

TENANT_PERMISSIONS = (
    TENANT_MANAGE,
    USER_MANAGE,
    ACCOUNT_MANAGE,
    MESSAGE_SEND,
    TEMPLATE_MANAGE,
    BATCH_MANAGE,
    REPORT_VIEW,
    CALLBACK_REPLAY,
    PII_VIEW,
)
ALL_PERMISSIONS = (PLATFORM_ADMIN, *TENANT_PERMISSIONS)

# role_code -> (role_name, description, permissions)
SYSTEM_ROLES: dict[str, tuple[str, str, list[str]]] = {
    "admin": ("管理员", "Tenant administrator: everything in the tenant", list(TENANT_PERMISSIONS)),
    "operator": (
        "运营",
        "Runs accounts, templates, sends and callbacks",
        [ACCOUNT_MANAGE, MESSAGE_SEND, TEMPLATE_MANAGE, BATCH_MANAGE, REPORT_VIEW, CALLBACK_REPLAY],
    ),
    "analyst": ("分析师", "Reads reports", [REPORT_VIEW]),
}
# Only in the platform tenant.
SUPER_ADMIN_ROLE = ("super_admin", "平台超级管理员", "Platform super-admin", list(ALL_PERMISSIONS))
PLATFORM_TENANT_CODE = "platform"
