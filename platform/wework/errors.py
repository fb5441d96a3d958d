"""The platform's error tree: every error the services (and the layers under them) raise
on purpose. Each names the field, object or server and the reason, so the CLI, the API
and the Streamlit forms can show the message as it is, next to the right input.

A leaf module (no imports from the platform), so any layer may raise these and the app
can catch them without importing the database layer::

    ServiceError
    ├── ValidationError             a field's value is refused (``field``, ``reason``)
    │   ├── ConflictError           it collides with an existing row
    │   ├── QuotaExceededError      a tenant quota would be exceeded
    │   └── InvalidTransitionError  the state machine does not allow the change
    ├── NotFoundError               missing, or another tenant's (indistinguishable)
    ├── PermissionDeniedError       the caller lacks a permission
    ├── AuthenticationError         login failed (one message for every cause)
    │   └── TooManyAttemptsError    throttled before the password was checked
    ├── PrimaryUnavailable          the primary cannot be reached; nothing was written
    └── ReplicaLagError             the replica is too far behind and the policy
                                    (WEWORK_REPLICA_FALLBACK) forbids reading elsewhere
"""

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


class PrimaryUnavailable(ServiceError):
    """The primary cannot be reached; the write did not happen (it was rolled back).
    Raised by :func:`wework.db.engines.unavailable_as_error`; the caller may retry."""

    def __init__(self, address: str, code: int, detail: str):
        self.address = address
        self.code = code
        super().__init__(
            f"primary unavailable at {address} (MySQL error {code}: {detail}); "
            "the write was not applied, retry when the primary is back"
        )


class ReplicaLagError(ServiceError):
    """The replica is too far behind (or unreadable) and the policy forbids falling over.
    Raised by :func:`wework.db.routing.choose_read_source`."""


class AuthenticationError(ServiceError):
    """Login failed. One message for every cause, so it reveals nothing."""

    def __init__(self, message: str = "invalid username or password"):
        super().__init__(message)


class TooManyAttemptsError(AuthenticationError):
    """Sign-in refused before the password was checked: too many attempts from this
    address, or for this username from this address (``retry_after`` seconds)."""

    def __init__(self, retry_after: float):
        self.retry_after = max(1, int(retry_after + 0.999))
        super().__init__(f"too many sign-in attempts; try again in {self.retry_after} s")
