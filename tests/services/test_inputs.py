"""The input declarations (services/inputs.py, fields.py, content.py) without a database:
strict types, the field path and the reason of pydantic's first error as the forms and
the API show them, and the rules shared by every model that uses a field type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wework.errors import ValidationError
from wework.services import inputs
from wework.services.fields import (
    MAX_JSON_DEPTH,
    TIMESTAMP_MAX,
    UNSET,
    Phone,
    ReportedTime,
    check,
    parse,
    passed,
)

ROW = {"account_id": "a1", "conversation_id": "c1", "message_type": "text",
       "content": {"text": "hi"}}
TEMPLATE = {"template_name": "t", "template_type": "text", "template_content": {"text": "x"}}
TENANT = {"tenant_code": "acme", "tenant_name": "Acme"}


def nested(levels: int) -> list:
    value: list = [1]
    for _ in range(levels - 1):
        value = [value]
    return value


def refused(model, data, at=""):
    with pytest.raises(ValidationError) as err:
        parse(model, data, at=at)
    return err.value.field, err.value.reason


@pytest.mark.parametrize(("model", "data", "field", "reason"), [
    # strict: no guessing of booleans, numbers, lists or text
    (inputs.NewTemplate, {**TEMPLATE, "is_public": 1}, "is_public", "must be true or false"),
    (inputs.NewTemplate, {**TEMPLATE, "is_public": "false"}, "is_public",
     "must be true or false"),
    (inputs.MessageRow, {**ROW, "priority": "5"}, "priority", "must be an integer"),
    (inputs.MessageRow, {**ROW, "priority": True}, "priority", "must be an integer"),
    (inputs.MessageRow, {**ROW, "priority": 11}, "priority",
     "must be less than or equal to 10"),
    (inputs.NewTemplate, {**TEMPLATE, "tags": ("a", "b")}, "tags", "must be a list"),
    (inputs.NewTemplate, {**TEMPLATE, "tags": {"vip": True}}, "tags", "must be a list"),
    (inputs.NewTemplate, {**TEMPLATE, "tags": ["ok", 5]}, "tags[1]", "must be text"),
    (inputs.NewTemplate, {**TEMPLATE, "tags": ["t"] * 21}, "tags", "at most 20 items"),
    (inputs.NewTenant, {**TENANT, "tenant_name": b"Acme"}, "tenant_name", "must be text"),
    # blank text is missing text; lengths name the limit
    (inputs.NewTemplate, {**TEMPLATE, "template_name": "   "}, "template_name", "is required"),
    (inputs.NewTemplate, {k: v for k, v in TEMPLATE.items() if k != "template_name"},
     "template_name", "is required"),
    (inputs.NewTemplate, {**TEMPLATE, "category": "c" * 101}, "category",
     "must be at most 50 characters"),
    # JSON a column stores: an object, at most MAX_JSON_DEPTH deep
    (inputs.NewTenant, {**TENANT, "config": ["a"]}, "config", "must be a JSON object"),
    (inputs.NewTenant, {**TENANT, "config": {"d": nested(MAX_JSON_DEPTH)}},
     "config", f"is nested deeper than {MAX_JSON_DEPTH} levels"),
    (inputs.NewTenant, {**TENANT, "config": {"pad": "x" * 70_000}}, "config",
     "bytes as JSON; at most"),
    # times the TIMESTAMP columns hold
    (inputs.MessageRow, {**ROW, "scheduled_time": datetime(2038, 1, 19, 3, 14, 8)},
     "scheduled_time", "must be before 2038-01-19T03:14:07 UTC"),
    (inputs.MessageRow, {**ROW, "scheduled_time": 1_900_000_000}, "scheduled_time",
     "must be a datetime"),
    (inputs.MessageRow, {**ROW, "scheduled_time": "next tuesday"}, "scheduled_time",
     "must be a datetime (ISO 8601)"),
    # enums, unknown fields, nested paths
    (inputs.MessageRow, {**ROW, "message_type": "video"}, "message_type", "unknown value 'video'"),
    (inputs.TemplateChanges, {"usage_count": 5}, "usage_count",
     "is not a field of a template update; allowed: template_name,"),
    (inputs.NewTemplate, {**TEMPLATE, "variables": ["a", {"name": "a"}]}, "variables.a",
     "is declared twice"),
    (inputs.NewTemplate, {**TEMPLATE, "variables": [{"name": "9x"}]}, "variables[0].name",
     "must be an identifier"),
    (inputs.NewBatch, {"task_name": "b", "account_id": "a", "target_type": "manual",
                       "target_config": {}, "send_strategy": {"windows": [["9:00", "21:00"]]},
                       "template_id": "t"},
     "send_strategy.windows[0]", 'must be ["HH:MM", "HH:MM"] (24-hour)'),
    (inputs.NewBatch, {"task_name": "b", "account_id": "a", "target_type": "manual",
                       "target_config": {}}, "template_id", "give either template_id or content"),
    (inputs.ImportTargets, {"rows": [{"conversation_id": "c"}, {"conversation_id": " "}]},
     "rows[1].conversation_id", "is required"),
    (inputs.NewUser, {"username": "eve\x00", "email": "e@example.com", "password": "p"},
     "username", "must not contain control characters (U+0000)"),
    (inputs.NewUser, {"username": "ｅｖｅ ｘ", "email": "e@example.com", "password": "p"},
     "username", "may contain only letters, digits and . _ - @"),
    (inputs.NewRole, {"role_code": "r", "role_name": "R", "permissions": ["root"]},
     "permissions", "unknown permission 'root'"),
    (inputs.GatewaySecretRequest, {"gateway_name": "gw", "grace_hours": True}, "grace_hours",
     "must be a number"),
])
def test_the_first_error_names_the_field_and_the_reason(model, data, field, reason):
    got_field, got_reason = refused(model, data)
    assert got_field == field
    assert reason in got_reason


def test_a_path_under_a_row_of_a_batch():
    assert refused(inputs.MessageRow, {**ROW, "conversation_id": 7}, at="rows[3]") == (
        "rows[3].conversation_id", "must be text")


def test_values_are_cleaned_once_for_every_model_using_the_type():
    user = parse(inputs.NewUser, {"username": "  ＡＬＩＣＥ ", "email": " A@Example.COM ",
                                  "password": "p"})
    assert (user.username, user.email) == ("alice", "a@example.com")
    tenant = parse(inputs.NewTenant, {**TENANT, "contact_email": "Ops@Acme.COM",
                                      "contact_person": "   "})
    assert (tenant.contact_email, tenant.contact_person) == ("ops@acme.com", None)
    aware = datetime(2030, 1, 1, 8, 0, 30, 999, tzinfo=UTC)
    row = parse(inputs.MessageRow, {**ROW, "scheduled_time": aware})
    assert row.scheduled_time == datetime(2030, 1, 1, 8, 0, 30)  # naive UTC, whole seconds
    text = parse(inputs.MessageRow, {**ROW, "scheduled_time": "2030-01-01T16:00:30+08:00"})
    assert text.scheduled_time == row.scheduled_time
    assert parse(inputs.MessageRow, {**ROW, "scheduled_time": TIMESTAMP_MAX}
                                  ).scheduled_time == TIMESTAMP_MAX


def test_an_update_changes_only_what_was_passed():
    changes = parse(inputs.UserChanges, passed(email=UNSET, phone=None, real_name=" Li ",
                                               avatar_url=UNSET))
    assert changes.given() == {"phone": None, "real_name": "Li"}
    with pytest.raises(ValidationError) as err:  # a required field cannot be cleared
        parse(inputs.TemplateChanges, {"template_name": None})
    assert (err.value.field, err.value.reason) == ("template_name", "is required")


def test_one_field_checked_outside_a_model():
    assert check(Phone, "phone", " +86 138 0000 1111 ") == "+86 138 0000 1111"
    with pytest.raises(ValidationError) as err:
        check(Phone, "phone", "call me")
    assert err.value.field == "phone" and "phone number" in err.value.reason
    ahead = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(ValidationError) as err:
        check(ReportedTime, "data.at", ahead)
    assert err.value.field == "data.at" and "in the future" in err.value.reason
    late = datetime.now(UTC) - timedelta(days=3)
    assert check(ReportedTime, "at", late) == late.replace(tzinfo=None)
