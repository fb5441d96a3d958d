"""Issue 16 item 12 (service side): the inputs that used to reach MariaDB unvalidated and
came back as raw database errors are refused first, each with a ValidationError naming
the field, and nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from messaging_helpers import make_account

from wework.errors import ValidationError
from wework.services import accounts, batches, messages, templates, tenants


def _deep(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"x": value}
    return value


def _template(ctx, **fields):
    base = dict(template_name=f"gap-{datetime.now().timestamp()}", template_type="text",
                template_content={"text": "hi"})
    return templates.create_template(ctx, **{**base, **fields})


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("category", "c" * 101, "must be at most 50 characters"),
    ("is_public", "yes", "must be true or false"),
    ("is_public", 1, "must be true or false"),
    ("tags", {"vip": True}, "must be a list"),
    ("tags", ["ok", 5], "must be text"),
    ("preview_data", _deep(32), "is nested deeper than 31 levels"),
    ("template_content", {"text": "hi", "extra": _deep(40)}, "is nested deeper than 31 levels"),
])
def test_template_fields(tenant_ctx, field, value, reason):
    with pytest.raises(ValidationError) as err:
        _template(tenant_ctx, **{field: value})
    assert err.value.field.startswith(field)
    assert err.value.reason == reason
    assert not templates.list_templates(tenant_ctx, fresh=True).items


def test_template_updates_are_checked_alike(tenant_ctx):
    template = _template(tenant_ctx)
    for field, value in (("category", "c" * 101), ("is_public", "no"), ("tags", {"a": 1})):
        with pytest.raises(ValidationError) as err:
            templates.update_template(tenant_ctx, template.id, **{field: value})
        assert err.value.field.startswith(field)
    got = templates.get_template(tenant_ctx, template.id)
    assert got.category is None and got.is_public is False and got.tags is None


def _send(ctx, account, **fields):
    base = dict(account_id=account.id, conversation_id="c1", message_type="text",
                content={"text": "hi"})
    return messages.send_message(ctx, **{**base, **fields})


@pytest.mark.parametrize("when", [datetime(2038, 1, 20), datetime(2100, 1, 1, tzinfo=UTC)])
def test_a_scheduled_time_past_the_timestamp_range(tenant_ctx, when):
    account = make_account(tenant_ctx)
    with pytest.raises(ValidationError) as err:
        _send(tenant_ctx, account, scheduled_time=when)
    assert err.value.field == "scheduled_time"
    assert err.value.reason == "must be before 2038-01-19T03:14:07 UTC"
    rows = [{"account_id": account.id, "conversation_id": f"c{i}", "message_type": "text",
             "content": {"text": "x"}} for i in range(3)]
    rows[2]["scheduled_time"] = when
    with pytest.raises(ValidationError) as err:  # the batch path: the row is named
        messages.enqueue_many(tenant_ctx, rows)
    assert err.value.field == "rows[2].scheduled_time"
    assert not messages.list_messages(tenant_ctx, fresh=True).items
    with pytest.raises(ValidationError) as err:
        batches.create_batch(tenant_ctx, task_name="late", account_id=account.id,
                             target_type="manual", target_config={"conversation_ids": ["c"]},
                             message_type="text", content={"text": "x"}, scheduled_time=when)
    assert err.value.field == "scheduled_time"


def test_text_content_with_megabytes_of_extra_keys(tenant_ctx):
    account = make_account(tenant_ctx)
    with pytest.raises(ValidationError) as err:
        _send(tenant_ctx, account, content={"text": "hi", "pad": "x" * 5_000_000})
    assert err.value.field == "content.pad"
    assert err.value.reason == "is not a field of a text message; allowed: text"
    with pytest.raises(ValidationError) as err:
        messages.enqueue_many(tenant_ctx, [{"account_id": account.id, "conversation_id": "c",
                                            "message_type": "link",
                                            "content": {"title": "t", "url": "https://e.x",
                                                        "more": 1}}])
    assert err.value.field == "rows[0].content.more"
    assert not messages.list_messages(tenant_ctx, fresh=True).items


@pytest.mark.parametrize("depth", [32, 200])
def test_json_nested_deeper_than_the_database_stores(tenant_ctx, depth):
    with pytest.raises(ValidationError) as err:
        tenants.update_tenant(tenant_ctx, tenant_ctx.tenant_id, config=_deep(depth))
    assert err.value.field == "config"
    with pytest.raises(ValidationError) as err:
        accounts.create_account(tenant_ctx, account_name="deep", config=_deep(depth))
    assert err.value.field == "config"
    account = make_account(tenant_ctx)
    with pytest.raises(ValidationError) as err:
        batches.create_batch(tenant_ctx, task_name="deep", account_id=account.id,
                             target_type="manual",
                             target_config={"conversation_ids": ["c"], "x": _deep(depth)},
                             message_type="text", content={"text": "x"})
    assert err.value.field == "target_config"


def test_json_nested_31_deep_is_still_stored(tenant_ctx):
    tenants.update_tenant(tenant_ctx, tenant_ctx.tenant_id, config=_deep(31))
    assert tenants.get_tenant(tenant_ctx, tenant_ctx.tenant_id).config == _deep(31)
