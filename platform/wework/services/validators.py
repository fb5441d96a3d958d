"""Field checks shared by the tenant, user, role and account services.

Each returns the cleaned value or raises ValidationError naming the field and the reason.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

from wework.errors import ValidationError
from wework.security import password_policy

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.@-]*$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")


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


def canonical_username(field: str, value: Any) -> str:
    """The one form a username is stored, looked up and compared in (issue 16 item 9):
    Unicode NFKC (full-width and compatibility characters fold to their plain form),
    surrounding spaces stripped, **lower-case** (usernames are case-insensitive: ``Alice``
    and ``alice`` are one user). Control and format characters (NUL, zero-width …) are
    refused, never stripped, so no two different inputs reach one account by accident."""
    if not isinstance(value, str):
        raise ValidationError(field, "must be text")
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise ValidationError(field, f"must not contain control characters (U+{ord(ch):04X})")
    return unicodedata.normalize("NFKC", value).strip().lower()


def username(field: str, value: Any) -> str:
    """A new username: canonical (:func:`canonical_username`), 1–50 characters of
    a-z, 0-9 and . _ - @ (ASCII only: no look-alike letters), starting with a letter or
    digit."""
    value = text(field, canonical_username(field, value if value is not None else ""), 50)
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


def password(field: str, value: Any, context: Iterable[str | None] = ()) -> str:
    """The password policy of :mod:`wework.security.password_policy` (NIST SP 800-63B);
    ``context``: the username and e-mail the password must not contain."""
    reason = password_policy.problem(value, context)
    if reason is not None:
        raise ValidationError(field, reason)
    return value


# The deepest JSON MariaDB stores: 31 nested arrays/objects (measured: JSON_VALID is 0,
# and the column's CHECK constraint fails, at 32). One JSON value a caller stores is
# bounded in size too (a 5 MB blob of extra keys must not reach the database).
MAX_JSON_DEPTH = 31
MAX_JSON_BYTES = 64 * 1024


def json_depth(value: Any) -> int:
    """How many arrays/objects are nested in one another in ``value`` (a scalar: 0),
    without recursion (a hostile document cannot exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def json_value(field: str, value: Any, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """``value`` if it is storable JSON: only JSON types (string keys), nested at most
    MAX_JSON_DEPTH deep, at most ``max_bytes`` serialised."""
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValidationError(field, f"is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise ValidationError(field, f"is not JSON ({exc})") from None
    if size > max_bytes:
        raise ValidationError(field, f"is {size} bytes as JSON; at most {max_bytes}")
    return value


def json_object(field: str, value: Any, *, max_bytes: int = MAX_JSON_BYTES) -> dict | None:
    if value is not None and not isinstance(value, dict):
        raise ValidationError(field, "must be a JSON object")
    return value if value is None else json_value(field, value, max_bytes=max_bytes)


def boolean(field: str, value: Any) -> bool:
    """Strictly true or false: 1, "yes" or "false" are refused, not guessed."""
    if not isinstance(value, bool):
        raise ValidationError(field, "must be true or false")
    return value


def string_list(field: str, value: Any, *, max_items: int, max_len: int) -> list[str] | None:
    """None, or a list of at most ``max_items`` non-empty strings of ``max_len``."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValidationError(field, "must be a list of strings")
    if len(value) > max_items:
        raise ValidationError(field, f"at most {max_items} items")
    return [text(f"{field}[{i}]", item, max_len) for i, item in enumerate(value)]


class _Unset:
    """Marks an update argument the caller did not pass (None means "clear it")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
