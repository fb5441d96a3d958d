"""Masking of personal data (phones, emails) for users who may not see it in full.

The one place that decides how a phone or an email is shown: in full to holders of
``pii:view`` (and platform admins), otherwise masked — ``138****5678``,
``a***@example.com``. Admin lists and their CSV downloads go through :class:`PiiMask`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wework.services.permissions import PII_VIEW, PLATFORM_ADMIN

HIDDEN = "****"


def mask_phone(phone: str | None) -> str | None:
    """Keep the 3 leading and 4 trailing characters of a mobile-length number
    (``138****5678``), 2 and 2 of a shorter one, none of a very short one."""
    if not phone:
        return phone
    value = phone.strip()
    if len(value) >= 11:
        return value[:3] + HIDDEN + value[-4:]
    if len(value) >= 7:
        return value[:2] + HIDDEN + value[-2:]
    return HIDDEN


def mask_email(email: str | None) -> str | None:
    """The first character of the local part and the domain: ``a***@example.com``."""
    if not email:
        return email
    local, at, domain = email.strip().rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def may_view_pii(permissions: Iterable[str]) -> bool:
    held = set(permissions)
    return PII_VIEW in held or PLATFORM_ADMIN in held


@dataclass(frozen=True)
class PiiMask:
    """How phones and emails are shown to one user."""

    visible: bool

    @classmethod
    def for_permissions(cls, permissions: Iterable[str]) -> PiiMask:
        return cls(may_view_pii(permissions))

    def phone(self, value: str | None) -> str | None:
        return value if self.visible else mask_phone(value)

    def email(self, value: str | None) -> str | None:
        return value if self.visible else mask_email(value)
