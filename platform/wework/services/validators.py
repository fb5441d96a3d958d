"""Field checks shared by the tenant, user, role and account services.

Each returns the cleaned value or raises ValidationError naming the field and the reason.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from wework.errors import ValidationError

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")
MIN_PASSWORD_LENGTH = 8


def text(field: str, value: Any, max_len: int, *, required: bool = True) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(field, "is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(field, "must be text")
    value = value.strip()
    if len(value) > max_len:
        raise ValidationError(field, f"must be at most {max_len} characters")
    return value


def code(field: str, value: Any, max_len: int = 50) -> str:
    value = text(field, value, max_len)
    if not CODE_RE.match(value):
        raise ValidationError(
            field, "may contain only lower-case letters, digits, '_' and '-', "
            "and must start with a letter or digit"
        )
    return value


def username(field: str, value: Any) -> str:
    value = text(field, value, 50)
    if not USERNAME_RE.match(value):
        raise ValidationError(field, "may contain only letters, digits and . _ - @")
    return value


def email(field: str, value: Any, *, required: bool = True, max_len: int = 100) -> str | None:
    value = text(field, value, max_len, required=required)
    if value is not None and not EMAIL_RE.match(value):
        raise ValidationError(field, "is not an e-mail address")
    return value.lower() if value else value


def phone(field: str, value: Any) -> str | None:
    value = text(field, value, 20, required=False)
    if value is not None and not PHONE_RE.match(value):
        raise ValidationError(field, "is not a phone number (digits, optional leading +)")
    return value


def url(field: str, value: Any, *, required: bool = False, max_len: int = 500) -> str | None:
    value = text(field, value, max_len, required=required)
    if value is not None:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValidationError(field, "must be an http(s) URL")
    return value


def positive_int(field: str, value: Any, *, maximum: int = 2**31 - 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(field, "must be an integer")
    if not 0 <= value <= maximum:
        raise ValidationError(field, f"must be between 0 and {maximum}")
    return value


def password(field: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) < MIN_PASSWORD_LENGTH:
        raise ValidationError(field, f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(value) > 1024:
        raise ValidationError(field, "must be at most 1024 characters")
    return value


def json_object(field: str, value: Any) -> dict | None:
    if value is not None and not isinstance(value, dict):
        raise ValidationError(field, "must be a JSON object")
    return value


class _Unset:
    """Marks an update argument the caller did not pass (None means "clear it")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
