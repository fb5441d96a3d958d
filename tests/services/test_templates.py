"""Templates: declared variables, render refusals, usage counting, preview."""

from __future__ import annotations

import pytest

from wework.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from wework.services import templates

VARS = [{"name": "name", "required": True}, {"name": "shop", "default": "our shop"}]


def greeting(ctx, **kw):
    return templates.create_template(
        ctx,
        template_name=kw.pop("template_name", "greeting"),
        template_type="text",
        template_content={"text": "Hi {{name}}, welcome to {{ shop }}!"},
        variables=VARS,
        preview_data={"name": "Preview"},
        **kw,
    )


def test_render_fills_values_and_counts_usage(tenant_ctx):
    t = greeting(tenant_ctx)
    assert t.usage_count == 0 and t.last_used_time is None
    mtype, content = templates.render(tenant_ctx, t.id, {"name": "Li"})
    assert (mtype, content) == ("text", {"text": "Hi Li, welcome to our shop!"})
    templates.render(tenant_ctx, t.id, {"name": "Wang", "shop": "Store 9"})
    again = templates.get_template(tenant_ctx, t.id)
    assert again.usage_count == 2
    assert again.last_used_time is not None


def test_missing_and_unknown_variables_are_refused_and_not_counted(tenant_ctx):
    t = greeting(tenant_ctx)
    with pytest.raises(ValidationError) as err:
        templates.render(tenant_ctx, t.id, {"shop": "x"})
    assert err.value.field == "variables.name"
    with pytest.raises(ValidationError) as err:
        templates.render(tenant_ctx, t.id, {"name": "Li", "coupon": "X1"})
    assert err.value.field == "variables.coupon"
    assert templates.get_template(tenant_ctx, t.id).usage_count == 0


def test_preview_uses_preview_data_without_counting(tenant_ctx):
    t = greeting(tenant_ctx)
    assert templates.preview(tenant_ctx, t.id) == {"text": "Hi Preview, welcome to our shop!"}
    assert templates.get_template(tenant_ctx, t.id).usage_count == 0


def test_definition_is_checked(tenant_ctx):
    with pytest.raises(ValidationError) as err:
        templates.create_template(tenant_ctx, template_name="x", template_type="text",
                                  template_content={"text": "Hi {{who}}"}, variables=[])
    assert err.value.field == "variables.who"
    with pytest.raises(ValidationError) as err:
        templates.create_template(tenant_ctx, template_name="x", template_type="link",
                                  template_content={"title": "{{t}}"}, variables=["t"])
    assert err.value.field == "template_content.url"
    with pytest.raises(ValidationError) as err:
        templates.create_template(tenant_ctx, template_name="x", template_type="sticker",
                                  template_content={"text": "x"})
    assert err.value.field == "template_type"
    with pytest.raises(ValidationError) as err:
        templates.create_template(tenant_ctx, template_name="x", template_type="text",
                                  template_content={"text": "{{a}}"},
                                  variables=["a", {"name": "a"}])
    assert err.value.field == "variables.a"


def test_unique_name_update_and_deactivate(tenant_ctx):
    t = greeting(tenant_ctx)
    with pytest.raises(ConflictError):
        greeting(tenant_ctx)
    updated = templates.update_template(
        tenant_ctx, t.id, template_content={"text": "Yo {{name}}"}, variables=["name"],
    )
    assert templates.render(tenant_ctx, updated.id, {"name": "A"})[1] == {"text": "Yo A"}
    with pytest.raises(ValidationError) as err:
        templates.update_template(tenant_ctx, t.id, usage_count=5)
    assert err.value.field == "usage_count"
    templates.deactivate_template(tenant_ctx, t.id)
    assert templates.list_templates(tenant_ctx, fresh=True).items == []
    assert len(templates.list_templates(tenant_ctx, active_only=False, fresh=True).items) == 1


def test_other_tenant_and_missing_permission(make_tenant):
    a, b = make_tenant(), make_tenant()
    t = greeting(a.ctx)
    with pytest.raises(NotFoundError):
        templates.get_template(b.ctx, t.id)
    with pytest.raises(NotFoundError):
        templates.render(b.ctx, t.id, {"name": "x"})
    analyst = a.user_ctx("analyst")
    with pytest.raises(PermissionDeniedError):
        greeting(analyst, template_name="other")
    with pytest.raises(PermissionDeniedError):
        templates.render(analyst, t.id, {"name": "x"})
    with pytest.raises(PermissionDeniedError):
        templates.get_template(analyst, t.id)
    operator = a.user_ctx("operator")
    assert templates.render(operator, t.id, {"name": "Op"})[1]["text"].startswith("Hi Op")
