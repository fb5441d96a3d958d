"""The platform's enumerations: the values of the spec's ENUM columns.

Kept apart from the ORM models so that code which only needs the values (the app, the
seed, the gateway simulator) does not import SQLAlchemy mappings. The models use them as
the column types (``wework.models.base.enum_type``), so the database and the code share
one list of values.
"""

from __future__ import annotations

from enum import StrEnum

# user_db (spec §1)

class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


class UserStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    LOCKED = "locked"
    DELETED = "deleted"


# account_db (spec §2)

class AccountStatus(StrEnum):
    CREATED = "created"
    LOGGING_IN = "logging_in"
    WAITING_SCAN = "waiting_scan"
    WAITING_CONFIRM = "waiting_confirm"
    NEED_VERIFY = "need_verify"
    ONLINE = "online"
    OFFLINE = "offline"
    ERROR = "error"
    RECOVERING = "recovering"


class OperatorType(StrEnum):
    USER = "user"
    SYSTEM = "system"
    AUTO = "auto"


class ConversationType(StrEnum):
    PRIVATE = "private"
    GROUP = "group"


# message_db (spec §3)

class MessageType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    FILE = "file"
    LINK = "link"
    MINIPROGRAM = "miniprogram"
    AT = "at"


class MessageStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TargetType(StrEnum):
    MANUAL = "manual"
    IMPORT = "import"
    GROUP = "group"
    FILTER = "filter"


class BatchStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# callback_db (spec §4)

class CallbackStatus(StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"
    IGNORED = "ignored"


# tenant webhooks (not in the spec: wework.models.webhook)

class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERING = "delivering"  # claimed by a worker until next_attempt_at
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # gave up (past expires_at, or refused for good)


class WebhookEvent(StrEnum):
    BATCH_COMPLETED = "batch.completed"
    ACCOUNT_OFFLINE = "account.offline"
    ACCOUNT_ERROR = "account.error"
    MESSAGE_FAILED = "message.failed"
    ALERT_FIRING = "alert.firing"  # a tenant-scoped operator alert (wework.alerts)
    ALERT_RESOLVED = "alert.resolved"


# operator alerts (not in the spec: wework.models.alert)

class AlertState(StrEnum):
    OK = "ok"  # the condition does not hold (never fired, or resolved)
    PENDING = "pending"  # holds, but not yet for the rule's `for` duration
    FIRING = "firing"


class NoticeKind(StrEnum):
    FIRING = "firing"  # the alert started firing (or a repeat while it still fires)
    RESOLVED = "resolved"


class NoticeDelivery(StrEnum):
    PENDING = "pending"  # to be posted to WEWORK_ALERT_WEBHOOK_URL
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after WEWORK_ALERT_WEBHOOK_GIVE_UP_MINUTES
    UNSENT = "unsent"  # no alert webhook configured: history only
