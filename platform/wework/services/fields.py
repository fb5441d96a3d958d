"""The rules of every field a caller gives a service, declared once as pydantic types.

Each service operation declares its input as a model of :mod:`wework.services.inputs`
(or :mod:`wework.services.content` for message content) built from the ``Annotated``
types below, and validates it with :func:`parse` at its entry. :func:`parse` turns
pydantic's first error into the platform's :class:`wework.errors.ValidationError`: the
field path as the app's forms key their slots (``content.text``, ``tags[1]``,
``rows[3].content.url``) and a reason in plain words.

Models are strict (``Input``): ``1`` is not ``True``, ``"5"`` is not ``5``, a tuple is
not a list, a number is not a time; enum fields take their values' strings, and times
may come as ISO 8601 text (a JSON body of the HTTP API, which declares its bodies with
the same models).
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, TypeVar
from urllib.parse import urlparse

import pydantic
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)
from pydantic_core import PydanticCustomError

from wework.errors import ValidationError
from wework.security import password_policy


class Input(BaseModel):
    """Base of the input models: strict types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    # Names the input in the reason of an unknown field ("is not a field of <what>").
    what: ClassVar[str] = "this input"

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        """An unknown field is named with what the input does take (``extra="forbid"``
        alone cannot say)."""
        if isinstance(data, dict) and not data.keys() <= cls.__pydantic_fields__.keys():
            unknown = data.keys() - cls.__pydantic_fields__.keys()
            raise refuse(f"is not a field of {cls.what}; allowed: "
                         f"{', '.join(cls.__pydantic_fields__)}", at=(min(unknown, key=str),))
        return data

    def given(self) -> dict[str, Any]:
        """The fields the caller passed (an update changes only those), validated."""
        return {name: getattr(self, name) for name in self.model_fields_set}


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Mapping[str, Any], *, at: str = "") -> M:
    """``data`` validated as ``model``; ValidationError naming the first bad field
    otherwise (its path under ``at``, e.g. ``rows[3].content``)."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise field_error(exc, at) from None


@functools.cache
def _adapter(field_type: Any) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(field_type, config=ConfigDict(strict=True))


def check(field_type: Any, field: str, value: Any) -> Any:
    """One value validated as ``field_type`` (one of the types below) outside a model,
    e.g. the phone number of a lookup."""
    try:
        return _adapter(field_type).validate_python(value)
    except pydantic.ValidationError as exc:
        raise field_error(exc, at=field) from None


def field_error(exc: pydantic.ValidationError, at: str = "") -> ValidationError:
    """The platform's ValidationError for pydantic's first error."""
    first = exc.errors(include_url=False)[0]
    loc = tuple(first["loc"]) + tuple((first.get("ctx") or {}).get("loc", ()))
    return ValidationError(join(at, path(loc)) or "input", reason(first))


def path(loc: tuple[str | int, ...]) -> str:
    """``("rows", 3, "content", "url")`` -> ``rows[3].content.url``."""
    out = ""
    for part in loc:
        out = join(out, f"[{part}]" if isinstance(part, int) else str(part))
    return out


def join(base: str, sub: str) -> str:
    """``rows[3]`` + ``content.url`` -> ``rows[3].content.url``; + ``[2]`` -> ``rows[3][2]``."""
    if not base or not sub:
        return base or sub
    return base + sub if sub.startswith("[") else f"{base}.{sub}"


NOT_BLANK = r"\S"  # a pattern: some character that is not white space

_REASONS = {
    "missing": "is required",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "list_type": "must be a list",
    "datetime_type": "must be a datetime",
    "datetime_parsing": "must be a datetime (ISO 8601)",
    "datetime_from_date_parsing": "must be a datetime (ISO 8601)",
    "timezone_aware": "must carry a time zone",
}


def reason(error: Any) -> str:
    """Plain words for one pydantic error (``error`` as in ``exc.errors()``)."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _REASONS:
        return _REASONS[kind]
    if kind in ("string_too_long", "too_long"):
        if isinstance(error.get("input"), str):
            return f"must be at most {ctx['max_length']} characters"
        return f"at most {ctx['max_length']} items"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NOT_BLANK:
        return "is required"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"must be {error['msg'].removeprefix('Input should be ')}"
    if kind == "enum" or kind == "literal_error":
        return f"unknown value {error['input']!r}; one of {ctx.get('expected', '')}"
    if kind == "extra_forbidden":  # Input names the model's fields itself (_known_fields)
        return "is not a field of this input"
    if kind == "refused":  # a rule of ours (refuse)
        return ctx["reason"]
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return error["msg"]


def refuse(message: str, *, at: tuple[str | int, ...] = ()) -> PydanticCustomError:
    """An error a field rule raises; ``at``: the path inside the field it is about (a
    rule over a whole object naming one of its keys, a list naming one item). The message
    goes in as a value, last, so text it quotes is never read as a template."""
    return PydanticCustomError("refused", "{reason}", {"loc": at, "reason": message})


# ---------------------------------------------------------------- text


def _blank_is_none(value: Any) -> Any:
    """Surrounding spaces are not part of a value; a value of spaces only is none."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _required(value: Any) -> Any:
    value = _blank_is_none(value)
    if value is None:
        raise refuse("is required")
    return value


def _text(max_len: int, *rules: Any) -> Any:
    """Required text, stripped, at most ``max_len`` characters."""
    return Annotated[str, BeforeValidator(_required), Field(max_length=max_len), *rules]


def _optional(max_len: int, *rules: Any) -> Any:
    """Optional text: None (or blank, which means None), else as :func:`_text`."""
    return Annotated[Annotated[str, Field(max_length=max_len)] | None,
                     BeforeValidator(_blank_is_none), *rules]


CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.@-]*$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")


def _code(value: str) -> str:
    if not CODE_RE.match(value):
        raise refuse("may contain only lower-case letters, digits, '_' and '-', "
                     "and must start with a letter or digit")
    return value


def _email(value: str | None) -> str | None:
    if value is not None and not EMAIL_RE.match(value):
        raise refuse("is not an e-mail address")
    return value.lower() if value else value


def _phone(value: str | None) -> str | None:
    if value is not None and not PHONE_RE.match(value):
        raise refuse("is not a phone number (digits, optional leading +)")
    return value


def _http_url(value: str | None) -> str | None:
    if value is not None:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise refuse("must be an http(s) URL")
    return value


def canonical_username(value: str) -> str:
    """The one form a username is stored, looked up and compared in (issue 16 item 9):
    Unicode NFKC (full-width and compatibility characters fold to their plain form),
    surrounding spaces stripped, **lower-case** (usernames are case-insensitive: ``Alice``
    and ``alice`` are one user). Control and format characters (NUL, zero-width …) are
    refused (ValueError), never stripped, so no two different inputs reach one account by
    accident."""
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise ValueError(f"must not contain control characters (U+{ord(ch):04X})")
    return unicodedata.normalize("NFKC", value).strip().lower()


def _canonical(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # the str type refuses it
    try:
        return canonical_username(value)
    except ValueError as exc:
        raise refuse(str(exc)) from None


def _username(value: str) -> str:
    if not USERNAME_RE.match(value):
        raise refuse("may contain only letters, digits and . _ - @")
    return value


Text = _text  # Text(100): required text of at most 100 characters
OptionalText = _optional
Name = _text(100)
Description = _optional(500)
Category = _optional(50)  # the templates' category column is VARCHAR(50)
Code = _text(50, AfterValidator(_code))
# Before-validators run last-declared first: the canonical form, then required.
Username = Annotated[str, BeforeValidator(_required), BeforeValidator(_canonical),
                     Field(max_length=50), AfterValidator(_username)]
Email = _text(100, AfterValidator(_email))
OptionalEmail = _optional(100, AfterValidator(_email))
Phone = _optional(20, AfterValidator(_phone))
HttpUrl = _optional(500, AfterValidator(_http_url))


def check_password(field: str, value: str, context: tuple[str | None, ...] = ()) -> str:
    """The password policy of :mod:`wework.security.password_policy` (NIST SP 800-63B),
    checked after the model (where a password is just text): it needs ``context``, the
    username and e-mail the password must not contain."""
    problem = password_policy.problem(value, context)
    if problem is not None:
        raise ValidationError(field, problem)
    return value


# ---------------------------------------------------------------- numbers, flags, times

Flag = Annotated[bool, Strict()]  # strictly true or false: 1, "yes", "false" are refused
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]

# MariaDB's TIMESTAMP ends at 2038-01-19 03:14:07 UTC; a later time would be refused (or
# stored as zero) by the database instead of named here.
TIMESTAMP_MAX = datetime(2038, 1, 19, 3, 14, 7)


def _utc_naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    if value > TIMESTAMP_MAX:
        raise refuse(f"must be before {TIMESTAMP_MAX.isoformat()} UTC")
    return value.replace(microsecond=0)


def _iso_text(value: Any) -> Any:
    """A datetime may come as ISO 8601 text (a JSON body, a form); numbers are refused."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            raise refuse("must be a datetime (ISO 8601)") from None
    return value


# A time the database's TIMESTAMP columns hold, as naive UTC (aware times are converted).
Timestamp = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_utc_naive)]

# How far ahead of this server's clock a reported time may be (issue 16 item 11): a
# heartbeat from the future would pin the account online (the stale sweep compares it
# with now) and show a negative age.
MAX_CLOCK_SKEW = timedelta(minutes=5)


def _not_ahead(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    if value > datetime.now(UTC).replace(tzinfo=None) + MAX_CLOCK_SKEW:
        raise refuse(f"{value.isoformat()} is in the future (more than "
                     f"{MAX_CLOCK_SKEW.total_seconds() / 60:g} minutes ahead of the "
                     "server's clock)")
    return value


# A time something happened, as naive UTC: not beyond a small clock skew ahead (a late
# report is real and kept).
ReportedTime = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_not_ahead)]


# ---------------------------------------------------------------- JSON

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


def _storable_json(value: Any) -> Any:
    """``value`` if it is storable JSON: only JSON types (string keys), nested at most
    MAX_JSON_DEPTH deep, at most MAX_JSON_BYTES serialised. Checked before pydantic looks
    inside (a hostile document is measured without recursion)."""
    if json_depth(value) > MAX_JSON_DEPTH:
        raise refuse(f"is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise refuse(f"is not JSON ({exc})") from None
    if size > MAX_JSON_BYTES:
        raise refuse(f"is {size} bytes as JSON; at most {MAX_JSON_BYTES}")
    return value


# Any storable JSON value; an object (dict) of it.
Json = Annotated[Any, BeforeValidator(_storable_json)]
JsonObject = Annotated[dict[str, Any], BeforeValidator(_storable_json)]


class _Unset:
    """Marks an update argument the caller did not pass (None means "clear it")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def passed(**arguments: Any) -> dict[str, Any]:
    """The keyword arguments the caller passed (those not UNSET)."""
    return {k: v for k, v in arguments.items() if v is not UNSET}
