"""Message templates with declared variables.

``template_type`` is a message type; ``template_content`` is that type's content in
which any string may hold ``{{name}}`` placeholders. ``variables`` declares each
placeholder: ``[{"name": "customer", "required": true, "default": null}, ...]``.
Rendering refuses a missing required variable and any value whose name is not declared
(``ValidationError`` naming ``variables.<name>``), validates the rendered content for the
type, and counts ``usage_count`` / ``last_used_time``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wework.cache.layers import cache
from wework.db.sharding import shard_for_tenant
from wework.enums import MessageType
from wework.errors import (
    PermissionDeniedError,
    ValidationError,
)
from wework.models import MessageTemplate, utcnow
from wework.services import audit
from wework.services.content import validate_content
from wework.services.context import ServiceContext
from wework.services.fields import parse
from wework.services.inputs import NewTemplate, TemplateChanges, Variable
from wework.services.pagination import Page, paginate
from wework.services.permissions import MESSAGE_SEND, TEMPLATE_MANAGE
from wework.services.rows import flush_unique, load_owned
from wework.services.uow import read_session, shard_read_session, tenant_transaction

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


_UNIQUE_KEYS = {"uk_tenant_template_name": "template_name"}

def placeholders(value: Any) -> set[str]:
    """Every ``{{name}}`` used anywhere in a JSON value."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, Mapping):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


def substitute(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], value)
    if isinstance(value, Mapping):
        return {k: substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    return value


def stored_variables(variables: list[Variable] | None) -> list[dict[str, Any]]:
    """The declarations as stored: each with its name, whether it is required (default:
    unless it has a default) and its default as text."""
    return [
        {
            "name": var.name,
            "required": var.required if var.required is not None else var.default is None,
            "default": None if var.default is None else str(var.default),
        }
        for var in variables or ()
    ]


def check_definition(template_type: Any, content: dict[str, Any], variables: list[dict]) -> str:
    """The type's value, once ``content`` (a checked ``inputs.NewTemplate``
    template_content) is valid for the type with every declared variable filled in."""
    mtype = MessageType(template_type)
    declared = {v["name"] for v in variables}
    for name in sorted(placeholders(content) - declared):
        raise ValidationError(f"variables.{name}", "is used in template_content but not declared")
    # The content must be valid for its type once every variable is filled in.
    sample = substitute(content, {name: "x" for name in declared})
    try:
        validate_content(mtype, sample)
    except ValidationError as exc:  # content.url -> template_content.url
        raise ValidationError(f"template_{exc.field}", exc.reason) from None
    return mtype.value


def resolve_values(template: MessageTemplate, values: Mapping[str, Any] | None) -> dict[str, str]:
    values = dict(values or {})
    declared = {v["name"]: v for v in template.variables or []}
    for name in sorted(set(values) - set(declared)):
        raise ValidationError(f"variables.{name}", "is not a variable of this template")
    resolved: dict[str, str] = {}
    for name, var in declared.items():
        value = values.get(name)
        if value is None:
            value = var.get("default")
        if value is None:
            if var.get("required", True):
                raise ValidationError(f"variables.{name}", "is required")
            value = ""
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValidationError(f"variables.{name}", "must be a string or number")
        resolved[name] = str(value)
    return resolved


def render_content(template: MessageTemplate, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """The template's content with ``values`` filled in, validated for its type. Pure:
    does not count usage (see :func:`render`)."""
    content = substitute(template.template_content, resolve_values(template, values))
    return validate_content(template.template_type, content)


def create_template(
    ctx: ServiceContext,
    *,
    template_name: str,
    template_type: str,
    template_content: dict[str, Any],
    variables: list[Any] | None = None,
    category: str | None = None,
    description: str | None = None,
    preview_data: dict[str, Any] | None = None,
    is_public: bool = False,
    tags: list[str] | None = None,
) -> MessageTemplate:
    ctx.require(TEMPLATE_MANAGE)
    new = parse(NewTemplate, dict(
        template_name=template_name, template_type=template_type,
        template_content=template_content, variables=variables, category=category,
        description=description, preview_data=preview_data, is_public=is_public, tags=tags))
    variables = stored_variables(new.variables)
    mtype = check_definition(new.template_type, template_content, variables)
    now = utcnow()
    template = MessageTemplate(
        tenant_id=ctx.tenant_id,
        creator_id=ctx.actor.user_id,
        template_name=new.template_name,
        template_type=mtype,
        category=new.category,
        description=new.description,
        template_content=template_content,
        variables=variables,
        preview_data=preview_data,
        usage_count=0,
        is_public=new.is_public,
        is_active=True,
        tags=new.tags,
        created_at=now,
        updated_at=now,
    )
    if preview_data is not None:
        render_content(template, preview_data)  # preview data must render
    with tenant_transaction(ctx) as s:
        s.add(template)
        flush_unique(s, _UNIQUE_KEYS, f"{new.template_name!r} already exists")
        audit.created(s, ctx, "template.create", template)
    return template


def update_template(ctx: ServiceContext, template_id: str, **changes: Any) -> MessageTemplate:
    ctx.require(TEMPLATE_MANAGE)
    changes = parse(TemplateChanges, changes).given()
    if "variables" in changes:
        changes["variables"] = stored_variables(changes["variables"])
    with tenant_transaction(ctx) as s:
        template = load_owned(s, ctx, MessageTemplate, template_id, "template", lock=True)
        before = audit.snapshot(template)
        for key, value in changes.items():
            setattr(template, key, value)
        template.template_type = check_definition(
            template.template_type, template.template_content, template.variables or []
        )
        if template.preview_data is not None:
            render_content(template, template.preview_data)
        template.updated_at = utcnow()
        flush_unique(s, _UNIQUE_KEYS, "a template with this name already exists")
        audit.record(s, ctx, "template.update", template.__tablename__, template.id,
                     before=before, after=audit.snapshot(template))
    return template


def deactivate_template(ctx: ServiceContext, template_id: str) -> MessageTemplate:
    ctx.require(TEMPLATE_MANAGE)
    with tenant_transaction(ctx) as s:
        template = load_owned(s, ctx, MessageTemplate, template_id, "template", lock=True)
        with audit.change(s, ctx, "template.deactivate", template):
            template.is_active = False
            template.updated_at = utcnow()
    return template


def get_template(ctx: ServiceContext, template_id: str) -> MessageTemplate:
    _require_use(ctx)
    with read_session(ctx.tenant_id, fresh=True) as s:
        return load_owned(s, ctx, MessageTemplate, template_id, "template")


def list_templates(
    ctx: ServiceContext,
    *,
    active_only: bool = True,
    limit: int = 50,
    cursor: str | None = None,
    fresh: bool = False,
) -> Page[MessageTemplate]:
    _require_use(ctx)
    stmt = select(MessageTemplate).where(MessageTemplate.tenant_id == ctx.tenant_id)
    if active_only:
        stmt = stmt.where(MessageTemplate.is_active.is_(True))
    with read_session(ctx.tenant_id, fresh=fresh) as s:
        return paginate(
            s, stmt, MessageTemplate.created_at, MessageTemplate.id, limit=limit, cursor=cursor
        )


def use_template(
    session: Session, ctx: ServiceContext, template_id: str, uses: int = 1
) -> MessageTemplate:
    """Load an active template of the tenant for sending and count ``uses`` uses, inside
    the caller's transaction (so a refused send does not count)."""
    template = load_owned(session, ctx, MessageTemplate, template_id, "template")
    if not template.is_active:
        raise ValidationError("template_id", "template is deactivated")
    session.execute(
        update(MessageTemplate)
        .where(MessageTemplate.id == template_id, MessageTemplate.tenant_id == ctx.tenant_id)
        .values(
            usage_count=MessageTemplate.usage_count + uses,
            last_used_time=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return template


def render(ctx: ServiceContext, template_id: str, values: Mapping[str, Any] | None = None):
    """Render the template with ``values`` and count one use. Returns
    ``(message_type, content)``."""
    _require_use(ctx)
    with tenant_transaction(ctx) as s:
        template = load_owned(s, ctx, MessageTemplate, template_id, "template")
        content = render_content(template, values)  # refuse before counting
        use_template(s, ctx, template_id)
    return template.template_type, content


def preview(ctx: ServiceContext, template_id: str) -> dict[str, Any]:
    """The template rendered with its ``preview_data`` (defaults fill the rest); not
    counted as a use."""
    _require_use(ctx)
    template = get_template(ctx, template_id)
    return render_content(template, template.preview_data or {})


# ---------------------------------------------------------------- cached references

# Which tenant a template belongs to: every send that names a template checks it (issue
# 16 item 1). A template never changes tenant and is never deleted, so no write has to
# evict it; the cache's TTLs bound any surprise all the same.
TEMPLATES = cache("template")


def owned_template_ids(tenant_id: str, template_ids: set[str]) -> set[str]:
    """The ids among ``template_ids`` that are templates of ``tenant_id``."""

    def load(missing: list[str]) -> dict[str, dict[str, Any]]:
        with shard_read_session(shard_for_tenant(tenant_id), fresh=True) as s:
            return {row.id: {"id": row.id, "tenant_id": row.tenant_id} for row in s.execute(
                select(MessageTemplate.id, MessageTemplate.tenant_id)
                .where(MessageTemplate.id.in_(missing), MessageTemplate.tenant_id == tenant_id))}

    found = TEMPLATES.get_many(sorted(template_ids), load)
    return {i for i, v in found.items() if v["tenant_id"] == tenant_id}


def _require_use(ctx: ServiceContext) -> None:
    if not (ctx.can(MESSAGE_SEND) or ctx.can(TEMPLATE_MANAGE)):
        raise PermissionDeniedError(MESSAGE_SEND)
