"""SQLAlchemy 2.x typed models: one module per spec database (user, account, message,
callback). Importing this package registers every table on ``Base.metadata``. The
enumerations of their ENUM columns live in :mod:`wework.enums`."""

from wework.models.account import (
    AccountStatusHistory,
    Conversation,
    WeworkAccount,
)
from wework.models.base import Base, new_id, utcnow
from wework.models.callback import CallbackEvent
from wework.models.callback_dedup import CallbackEventKey
from wework.models.message import (
    BatchSendTask,
    Message,
    MessageStatistic,
    MessageTemplate,
)
from wework.models.user import Role, Tenant, User, UserRole

__all__ = [
    "AccountStatusHistory",
    "Base",
    "BatchSendTask",
    "CallbackEvent",
    "CallbackEventKey",
    "Conversation",
    "Message",
    "MessageStatistic",
    "MessageTemplate",
    "Role",
    "Tenant",
    "User",
    "UserRole",
    "WeworkAccount",
    "new_id",
    "utcnow",
]
