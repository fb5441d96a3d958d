"""What each service operation takes from its caller, declared once per operation.

Each service validates its arguments with :func:`wework.services.fields.parse` against
its model here before it opens a transaction; the field rules themselves are the
``Annotated`` types of :mod:`wework.services.fields`, and message content is checked per
type by :mod:`wework.services.content`. What needs the database or the caller's
permissions (an id of the caller's tenant, a unique name, a permission the caller may
grant) stays in the service.

An update model's fields all have defaults: the caller changes only the fields it passes
(``model.given()``), and each of those is checked like at creation.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from wework.enums import (
    AccountStatus,
    CallbackStatus,
    ConversationType,
    MessageType,
    TargetType,
)
from wework.services.fields import (
    NOT_BLANK,
    Category,
    Code,
    Count,
    Description,
    Email,
    Flag,
    HttpUrl,
    Input,
    JsonObject,
    Name,
    OptionalEmail,
    OptionalText,
    Phone,
    Text,
    Timestamp,
    Username,
    refuse,
)
from wework.services.permissions import ALL_PERMISSIONS

# Enum fields take their values' strings too (strict mode would want the enum itself).
Lax = Field(strict=False)


def _exact(max_len: int) -> Any:
    """Required text stored exactly as given (an id: no stripping, no case folding); checked
    without Python code (the batch path checks two per row)."""
    return Annotated[str, Field(max_length=max_len, pattern=NOT_BLANK)]


Id = _exact(64)
ConversationId = _exact(100)


# ---------------------------------------------------------------- messages

PRIORITY_MIN, PRIORITY_MAX, DEFAULT_PRIORITY = 1, 10, 5
Priority = Annotated[int, Field(ge=PRIORITY_MIN, le=PRIORITY_MAX)]


class MessageRow(Input):
    """One message to enqueue (``send_message``, each row of ``enqueue_many``); its
    content is checked for its type by :func:`wework.services.content.validate_content`."""

    what = "a message"
    message_type: Annotated[MessageType, Lax]
    content: dict[str, Any]
    account_id: Id
    conversation_id: ConversationId
    template_id: Id | None = None
    batch_id: Id | None = None
    priority: Priority = DEFAULT_PRIORITY
    scheduled_time: Timestamp | None = None


# ---------------------------------------------------------------- templates

IDENTIFIER_MAX = 64
MAX_TAGS, MAX_TAG_LENGTH = 20, 50


IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _identifier(value: str) -> str:
    if not IDENTIFIER_RE.match(value):
        raise refuse("must be an identifier (letters, digits, '_'; not starting with a digit)")
    return value


def _scalar(value: Any) -> Any:
    if value is not None and (isinstance(value, bool) or not isinstance(value, str | int | float)):
        raise refuse("must be a string or number")
    return value


class Variable(Input):
    """A template variable: ``{"name": ..., "required": ..., "default": ...}`` (or just
    its name as a string)."""

    what = "a template variable"
    name: Annotated[str, Field(max_length=IDENTIFIER_MAX), AfterValidator(_identifier)]
    required: Flag | None = None  # default: required unless it has a default
    default: Annotated[Any, AfterValidator(_scalar)] = None


def _names_as_variables(value: Any) -> Any:
    if isinstance(value, list):
        return [{"name": v} if isinstance(v, str) else v for v in value]
    return value


def _declared_once(variables: list[Variable] | None) -> list[Variable] | None:
    seen: set[str] = set()
    for var in variables or ():
        if var.name in seen:
            raise refuse("is declared twice", at=(var.name,))
        seen.add(var.name)
    return variables


Variables = Annotated[list[Variable] | None, BeforeValidator(_names_as_variables),
                      AfterValidator(_declared_once)]
# Valid for its type once its variables are filled in: templates.check_definition.
TemplateContent = Annotated[JsonObject, Field(min_length=1)]
Tags = Annotated[list[Text(MAX_TAG_LENGTH)], Field(max_length=MAX_TAGS)] | None


class TemplateChanges(Input):
    what = "a template update"
    template_name: Name = None
    template_type: Annotated[MessageType, Lax] = None
    category: Category = None
    description: Description = None
    template_content: TemplateContent = None
    variables: Variables = None
    preview_data: JsonObject | None = None
    is_public: Flag = False
    tags: Tags = None


class NewTemplate(TemplateChanges):
    what = "a new template"
    template_name: Name
    template_type: Annotated[MessageType, Lax]
    template_content: TemplateContent


# ---------------------------------------------------------------- batches

MAX_RATE_PER_MINUTE = 10_000


HHMM_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _hhmm(value: Any) -> bool:
    return isinstance(value, str) and HHMM_RE.match(value) is not None


def _window(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or len(value) != 2 or not all(map(_hhmm, value)):
        raise refuse('must be ["HH:MM", "HH:MM"] (24-hour)')
    if value[0] == value[1]:
        raise refuse("start equals end")
    return list(value)


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise refuse(f"unknown time zone {value!r}") from None
    return value


class SendStrategy(Input):
    """How the dispatcher paces a batch: at most ``rate_per_minute`` sends per account and
    minute, only inside the local ``windows`` of ``timezone``."""

    what = "a send strategy"
    rate_per_minute: Annotated[int, Field(ge=1, le=MAX_RATE_PER_MINUTE)] | None = None
    windows: Annotated[list[Annotated[Any, AfterValidator(_window)]],
                       Field(min_length=1)] | None = None
    timezone: Annotated[str, AfterValidator(_time_zone)] = "UTC"


class ManualTargets(Input):
    what = "manual targets"
    conversation_ids: Annotated[list[ConversationId], Field(min_length=1)]


class ImportRow(Input):
    what = "an import row"
    conversation_id: ConversationId
    variables: dict[str, Any] | None = None


class ImportTargets(Input):
    what = "import targets"
    rows: Annotated[list[ImportRow], Field(min_length=1)]


class GroupTargets(Input):
    what = "group targets (no settings)"


class FilterTargets(Input):
    what = "filter targets"
    tags: list[Text(MAX_TAG_LENGTH)] | None = None
    conversation_type: Annotated[ConversationType, Lax] | None = None

    @model_validator(mode="after")
    def _something_to_filter_on(self):
        if self.tags is None and self.conversation_type is None:
            raise refuse("filter needs tags and/or conversation_type")
        return self


TARGETS: dict[TargetType, type[Input]] = {
    TargetType.MANUAL: ManualTargets,
    TargetType.IMPORT: ImportTargets,
    TargetType.GROUP: GroupTargets,
    TargetType.FILTER: FilterTargets,
}


class NewBatch(Input):
    """A batch send; ``target_config`` is checked for its ``target_type`` (``TARGETS``),
    and exactly one of ``template_id`` and ``content`` (with ``message_type``) is given."""

    what = "a new batch send"
    task_name: Name
    account_id: Id
    target_type: Annotated[TargetType, Lax]
    target_config: JsonObject
    template_id: Id | None = None
    template_values: JsonObject | None = None
    message_type: Annotated[MessageType, Lax] | None = None
    content: JsonObject | None = None
    send_strategy: SendStrategy | None = None
    priority: Priority = DEFAULT_PRIORITY
    scheduled_time: Timestamp | None = None

    @model_validator(mode="after")
    def _template_or_content(self):
        if (self.template_id is None) == (self.content is None):
            raise refuse("give either template_id or content", at=("template_id",))
        if self.content is not None and self.message_type is None:
            raise refuse("is required with content", at=("message_type",))
        return self


# ---------------------------------------------------------------- accounts


class AccountChanges(Input):
    what = "an account update"
    account_name: Name = None
    phone: Phone = None
    email: OptionalEmail = None
    user_id: Id | None = None
    guid: OptionalText(100) = None
    login_token: OptionalText(255) = None
    qr_code_url: HttpUrl = None
    config: JsonObject | None = None
    user_info: JsonObject | None = None


class NewAccount(AccountChanges):
    what = "a new account"
    account_name: Name


class StatusChange(Input):
    what = "an account status change"
    new_status: Annotated[AccountStatus, Lax]
    reason: OptionalText(500) = None
    error_message: Annotated[str, Field(max_length=65_535)] | None = None  # as the gateway said
    extra_data: JsonObject | None = None


# ---------------------------------------------------------------- tenants


class TenantChanges(Input):
    what = "a tenant update"
    tenant_name: Name = None
    contact_person: OptionalText(50) = None
    contact_phone: Phone = None
    contact_email: OptionalEmail = None
    webhook_url: HttpUrl = None
    config: JsonObject | None = None
    max_accounts: Count = None
    max_daily_messages: Count = None


class NewTenant(TenantChanges):
    what = "a new tenant"
    tenant_code: Code
    tenant_name: Name
    max_accounts: Count = 10
    max_daily_messages: Count = 10000


# ---------------------------------------------------------------- users and roles


class UserChanges(Input):
    what = "a user update"
    email: Email = None
    phone: Phone = None
    real_name: OptionalText(50) = None
    avatar_url: HttpUrl = None


class NewUser(UserChanges):
    """A new user; the password policy (which needs the username and e-mail) is
    :func:`wework.services.fields.check_password`."""

    what = "a new user"
    username: Username
    email: Email
    password: str
    role_codes: list[Code] = []


class NewAdmin(Input):
    what = "the platform's super-admin"
    admin_username: Username
    admin_email: Email
    admin_password: str


def _known_permissions(value: list[str]) -> list[str]:
    unknown = [p for p in value if p not in ALL_PERMISSIONS]
    if unknown:
        raise refuse(f"unknown permission {unknown[0]!r}; known: {', '.join(ALL_PERMISSIONS)}")
    return value


Permissions = Annotated[list[str], AfterValidator(_known_permissions)]


class RoleChanges(Input):
    what = "a role update"
    role_name: Name = None
    description: Description = None
    permissions: Permissions = None
    is_active: Flag = None


class NewRole(RoleChanges):
    what = "a new role"
    role_code: Code
    role_name: Name
    permissions: Permissions


# ---------------------------------------------------------------- webhooks, callbacks, gateways

REPLAY_LIMIT = 500


class DeliveryReplay(Input):
    what = "a webhook replay"
    ids: Annotated[list[Id], Field(min_length=1, max_length=REPLAY_LIMIT)]


REPLAYABLE = frozenset({CallbackStatus.FAILED, CallbackStatus.RECEIVED,
                        CallbackStatus.PROCESSING})


def _replayable(value: CallbackStatus) -> CallbackStatus:
    if value not in REPLAYABLE:
        raise refuse("only failed, received or processing events replay")
    return value


class CallbackReplay(Input):
    what = "a callback replay"
    status: Annotated[CallbackStatus, Lax, AfterValidator(_replayable)] = CallbackStatus.FAILED
    limit: Annotated[int, Field(ge=1)] = 100
    received_before: datetime | None = None


class EventReplay(Input):
    what = "a callback replay"
    event_ids: Annotated[list[Id], Field(min_length=1, max_length=REPLAY_LIMIT)]


GATEWAY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_GRACE_HOURS = 24 * 30


def _gateway_name(value: str) -> str:
    if not GATEWAY_NAME_RE.match(value):
        raise refuse("1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


class GatewaySecretRequest(Input):
    """A gateway's first secret (``gateway_name``), or its rotation (with the hours its
    current secrets stay valid)."""

    what = "a gateway secret request"
    gateway_name: Text(100, AfterValidator(_gateway_name))
    grace_hours: Annotated[float, Field(ge=0, le=MAX_GRACE_HOURS)] | None = None
