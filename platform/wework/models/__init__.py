"""SQLAlchemy 2.x typed models: one module per spec database (user, account, message,
callback). Importing this package registers every table on ``Base.metadata``."""

from wework.models.account import (
    AccountStatus,
    AccountStatusHistory,
    Conversation,
    ConversationType,
    OperatorType,
    WeworkAccount,
)
from wework.models.base import Base, new_id, utcnow
from wework.models.callback import CallbackEvent, CallbackStatus
from wework.models.callback_dedup import CallbackEventKey, CallbackWebhookId
from wework.models.gateway import GatewaySecret
from wework.models.message import (
    BatchSendTask,
    BatchStatus,
    Message,
    MessageStatistic,
    MessageStatus,
    MessageTemplate,
    MessageType,
    TargetType,
)
from wework.models.user import Role, Tenant, TenantStatus, User, UserRole, UserStatus

__all__ = [
    "AccountStatus",
    "AccountStatusHistory",
    "Base",
    "BatchSendTask",
    "BatchStatus",
    "CallbackEvent",
    "CallbackEventKey",
    "CallbackStatus",
    "CallbackWebhookId",
    "Conversation",
    "ConversationType",
    "GatewaySecret",
    "Message",
    "MessageStatistic",
    "MessageStatus",
    "MessageTemplate",
    "MessageType",
    "OperatorType",
    "Role",
    "TargetType",
    "Tenant",
    "TenantStatus",
    "User",
    "UserRole",
    "UserStatus",
    "WeworkAccount",
    "new_id",
    "utcnow",
]
