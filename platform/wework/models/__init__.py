"""SQLAlchemy 2.x typed models: one module per spec database (user, account, message,
callback), plus the platform's own tables (webhook outbox and secrets, worker jobs, operator
alerts, audit log, the data generation).
Importing this package registers every table on ``Base.metadata``. The enumerations of
their ENUM columns live in :mod:`wework.enums`."""

from wework.models.account import (
    AccountStatusHistory,
    Conversation,
    WeworkAccount,
)
from wework.models.alert import Alert, AlertNotice
from wework.models.audit import AuditLog
from wework.models.base import Base, new_id, utcnow
from wework.models.callback import CallbackEvent
from wework.models.callback_dedup import CallbackEventKey, CallbackWebhookId
from wework.models.gateway import GatewaySecret
from wework.models.generation import DataGeneration
from wework.models.message import (
    BatchSendTask,
    Message,
    MessageStatistic,
    MessageTemplate,
)
from wework.models.quota import TenantDailyQuota
from wework.models.user import Role, Tenant, User, UserRole
from wework.models.webhook import TenantWebhookSecret, WebhookOutbox
from wework.models.worker import WorkerJob

__all__ = [
    "AccountStatusHistory",
    "Alert",
    "AlertNotice",
    "AuditLog",
    "Base",
    "BatchSendTask",
    "CallbackEvent",
    "CallbackEventKey",
    "CallbackWebhookId",
    "Conversation",
    "DataGeneration",
    "GatewaySecret",
    "Message",
    "MessageStatistic",
    "MessageTemplate",
    "Role",
    "Tenant",
    "TenantDailyQuota",
    "TenantWebhookSecret",
    "User",
    "UserRole",
    "WebhookOutbox",
    "WeworkAccount",
    "WorkerJob",
    "new_id",
    "utcnow",
]
