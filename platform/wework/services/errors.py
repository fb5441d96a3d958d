"""Domain errors. Each names the field (or object) and the reason, so the CLI and the
Streamlit forms can show the message next to the right input."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error a service raises on purpose."""


class ValidationError(ServiceError):
    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class ConflictError(ValidationError):
    """The value collides with an existing row (e.g. a unique name)."""


class QuotaExceededError(ValidationError):
    """A tenant quota (max_accounts, max_daily_messages) would be exceeded."""


class InvalidTransitionError(ValidationError):
    """A status change the state machine does not allow."""

    def __init__(self, field: str, current: str, target: str, allowed: list[str] | None = None):
        hint = f"; allowed from {current}: {', '.join(allowed)}" if allowed is not None else ""
        super().__init__(field, f"cannot change from {current} to {target}{hint}")
        self.current = current
        self.target = target


class NotFoundError(ServiceError):
    """Also raised for another tenant's object: it must look exactly like a missing one."""

    def __init__(self, entity: str, key: str):
        self.entity = entity
        self.key = key
        super().__init__(f"{entity} {key!r} not found")


class PermissionDeniedError(ServiceError):
    def __init__(self, permission: str):
        self.permission = permission
        super().__init__(f"permission denied: {permission} is required")


class AuthenticationError(ServiceError):
    """Login failed. One message for every cause, so it reveals nothing."""

    def __init__(self, message: str = "invalid username or password"):
        super().__init__(message)
