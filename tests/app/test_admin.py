"""Each admin form performs its write through the services (checked in the database) or
shows the service's error next to the field and changes nothing."""

from __future__ import annotations

import json
import uuid

import pytest
from rendered import shown
from sqlalchemy import text

from ui.nav import PAGES_DIR
from wework.services import accounts, callbacks, roles, templates, tenants

PASSWORD = "app-test-password-1"


def open_page(at, file):
    return at.switch_page(str(PAGES_DIR / file)).run()


def click(at, label):
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}: {[b.label for b in at.button]}"
    return matches[0].click().run()


def errors(at) -> list[str]:
    return [shown(e.value) for e in at.error]


def successes(at) -> list[str]:
    return [shown(s.value) for s in at.success]


def one(primary, sql, **params):
    with primary.connect() as c:
        return c.execute(text(sql), params).one_or_none()


def uid(prefix):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- tenants


def test_create_tenant_writes_it(app_as, primary):
    at = open_page(app_as("super_admin"), "admin_tenants.py")
    code = uid("t")
    at.text_input(key="tenant_code").input(code)
    at.text_input(key="tenant_name").input("Shop " + code)
    at.number_input(key="tenant_max_accounts").set_value(7)
    at = click(at, "Create tenant")
    assert not at.exception and not errors(at)
    assert any(code in s for s in successes(at))
    row = one(primary, "SELECT status, max_accounts FROM tenants WHERE tenant_code = :c", c=code)
    assert tuple(row) == ("active", 7)
    # with its system roles
    assert one(primary, "SELECT count(*) FROM roles r JOIN tenants t ON t.id = r.tenant_id "
                        "WHERE t.tenant_code = :c", c=code)[0] == 3


def test_bad_tenant_code_shows_the_error_and_writes_nothing(app_as, primary):
    at = open_page(app_as("super_admin"), "admin_tenants.py")
    at.text_input(key="tenant_code").input("bad code!")
    at.text_input(key="tenant_name").input("Bad")
    at = click(at, "Create tenant")
    assert any(e.startswith("tenant_code:") for e in errors(at)), errors(at)
    assert one(primary, "SELECT id FROM tenants WHERE tenant_code = 'bad code!'") is None


def test_edit_quotas_and_suspend(app_as, app_world, primary):
    code = uid("q")
    t = tenants.create_tenant(app_world.super_ctx, tenant_code=code, tenant_name=code)
    at = open_page(app_as("super_admin"), "admin_tenants.py")
    at.selectbox(key="tenant_edit_pick").set_value(t.id).run()
    at.number_input(key="quota_accounts").set_value(42)
    at = click(at, "Save quotas")
    assert not errors(at)
    assert one(primary, "SELECT max_accounts FROM tenants WHERE id = :i", i=t.id)[0] == 42
    at.selectbox(key="tenant_edit_pick").set_value(t.id).run()
    at = click(at, "Suspend tenant")
    assert one(primary, "SELECT status FROM tenants WHERE id = :i", i=t.id)[0] == "suspended"


# ---------------------------------------------------------------- users and roles


def test_create_user_with_role(app_as, app_world, primary):
    at = open_page(app_as("admin"), "admin_users.py")
    name = uid("u")
    at.text_input(key="user_new_username").input(name)
    at.text_input(key="user_new_email").input(f"{name}@example.com")
    at.text_input(key="user_new_password").input(PASSWORD)
    at.multiselect(key="user_new_roles").set_value(["analyst"])
    at = click(at, "Create user")
    assert not errors(at), errors(at)
    row = one(primary, "SELECT u.tenant_id, r.role_code FROM users u JOIN user_roles ur ON "
                       "ur.user_id = u.id JOIN roles r ON r.id = ur.role_id "
                       "WHERE u.username = :n", n=name)
    assert tuple(row) == (app_world.tenant_id, "analyst")


def test_duplicate_username_and_short_password_show_errors(app_as, app_world, primary):
    at = open_page(app_as("admin"), "admin_users.py")
    taken = app_world.users["analyst"].username
    at.text_input(key="user_new_username").input(taken)
    at.text_input(key="user_new_email").input(f"{uid('x')}@example.com")
    at.text_input(key="user_new_password").input(PASSWORD)
    at = click(at, "Create user")
    assert any(e.startswith("username:") for e in errors(at)), errors(at)
    at.text_input(key="user_new_username").input(uid("v"))
    at.text_input(key="user_new_password").input("x")
    at = click(at, "Create user")
    assert any(e.startswith("password:") for e in errors(at)), errors(at)
    assert one(primary, "SELECT count(*) FROM users WHERE username = :n AND tenant_id = :t",
               n=taken, t=app_world.tenant_id)[0] == 1


def test_reset_password_unlock_and_deactivate(app_as, app_world, primary):
    from wework.services import auth, users

    name = uid("w")
    user = users.create_user(app_world.admin_ctx, username=name, email=f"{name}@example.com",
                             password=PASSWORD, role_codes=["analyst"])
    with primary.begin() as c:  # as after 5 failed logins
        c.execute(text("UPDATE users SET failed_login_count = 5, locked_until = "
                       "UTC_TIMESTAMP() + INTERVAL 15 MINUTE WHERE id = :i"), {"i": user.id})
    at = open_page(app_as("admin"), "admin_users.py")
    at.selectbox(key="user_pick").set_value(user.id).run()
    at = click(at, "Unlock")
    assert tuple(one(primary, "SELECT failed_login_count, locked_until FROM users "
                              "WHERE id = :i", i=user.id)) == (0, None)
    at.selectbox(key="user_pick").set_value(user.id).run()
    at.text_input(key="user_reset_password").input("a-brand-new-password")
    at = click(at, "Reset password")
    assert not errors(at)
    assert auth.login(name, "a-brand-new-password", None).user_id == user.id
    at.selectbox(key="user_pick").set_value(user.id).run()
    at = click(at, "Deactivate")
    assert one(primary, "SELECT status FROM users WHERE id = :i", i=user.id)[0] == "inactive"


def test_assign_roles(app_as, app_world, primary):
    from wework.services import users

    name = uid("ra")
    user = users.create_user(app_world.admin_ctx, username=name, email=f"{name}@example.com",
                             password=PASSWORD, role_codes=["analyst"])
    codes = {r.id: r.role_code
             for r in roles.list_roles(app_world.admin_ctx, limit=50, fresh=True).items}
    operator = next(i for i, c in codes.items() if c == "operator")
    at = open_page(app_as("admin"), "admin_users.py")
    at.selectbox(key="user_pick").set_value(user.id).run()
    at.multiselect(key=f"user_roles_pick_{user.id}").set_value([operator])
    at = click(at, "Save roles")
    assert not errors(at), errors(at)
    with primary.connect() as c:
        held = c.execute(text("SELECT r.role_code, ur.assigned_by FROM user_roles ur JOIN "
                              "roles r ON r.id = ur.role_id WHERE ur.user_id = :u"),
                         {"u": user.id}).all()
    assert [tuple(h) for h in held] == [("operator", app_world.users["admin"].id)]


def test_create_role_refuses_unknown_field_values(app_as, app_world, primary):
    at = open_page(app_as("admin"), "admin_users.py")
    code = uid("r")
    at.text_input(key="role_new_code").input(code)
    at.text_input(key="role_new_name").input("Reporter")
    at.multiselect(key="role_new_perms").set_value(["report:view"])
    at = click(at, "Create role")
    assert not errors(at), errors(at)
    perms = one(primary, "SELECT permissions FROM roles WHERE role_code = :c", c=code)[0]
    assert json.loads(perms) == ["report:view"]
    # no escalation: a tenant admin cannot grant platform:admin
    at.text_input(key="role_new_code").input(uid("r"))
    at.multiselect(key="role_new_perms").set_value(["platform:admin"])
    at = click(at, "Create role")
    assert any("platform:admin" in e for e in errors(at)), errors(at)


# ---------------------------------------------------------------- accounts


def test_create_account_and_drive_a_transition(app_as, app_world, primary):
    at = open_page(app_as("operator"), "admin_accounts.py")
    name = uid("acc")
    at.text_input(key="account_new_name").input(name)
    at = click(at, "Create account")
    assert not errors(at), errors(at)
    acc_id, status = one(primary, "SELECT id, status FROM wework_accounts "
                                  "WHERE account_name = :n", n=name)
    assert status == "created"
    at.selectbox(key="account_pick").set_value(acc_id).run()
    box = at.selectbox(key=f"account_target_{acc_id}")
    assert box.options == ["logging_in"]  # only allowed transitions are offered
    at.text_input(key=f"account_reason_{acc_id}").input("operator starts login")
    at = click(at, "Change status")
    assert not errors(at), errors(at)
    assert one(primary, "SELECT status FROM wework_accounts WHERE id = :i",
               i=acc_id)[0] == "logging_in"
    last = one(primary, "SELECT old_status, new_status, reason FROM account_status_history "
                        "WHERE account_id = :i ORDER BY id DESC LIMIT 1", i=acc_id)
    assert tuple(last) == ("created", "logging_in", "operator starts login")


def test_account_quota_is_refused_with_its_message(app_as, app_world, primary):
    code = uid("full")
    t = tenants.create_tenant(app_world.super_ctx, tenant_code=code, tenant_name=code,
                              max_accounts=1)
    accounts.create_account(app_world.super_ctx.for_tenant(t.id), account_name="only one")
    at = open_page(app_as("super_admin", acting_tenant=t.id), "admin_accounts.py")
    at.text_input(key="account_new_name").input("one too many")
    at = click(at, "Create account")
    assert any(e.startswith("max_accounts:") for e in errors(at)), errors(at)
    assert one(primary, "SELECT count(*) FROM wework_accounts WHERE tenant_id = :t",
               t=t.id)[0] == 1


# ---------------------------------------------------------------- templates


def test_create_template_and_preview(app_as, app_world, primary):
    at = open_page(app_as("operator"), "admin_templates.py")
    name = uid("tpl")
    at.text_input(key="tpl_new_name").input(name)
    at = click(at, "Create template")
    assert not errors(at), errors(at)
    row = one(primary, "SELECT id, template_type, variables FROM message_templates "
                       "WHERE template_name = :n", n=name)
    assert row[1] == "text"
    assert {v["name"] for v in json.loads(row[2])} == {"name", "company"}
    at.selectbox(key="tpl_pick").set_value(row[0]).run()
    at.text_input(key=f"tpl_preview_{row[0]}_name").input("Li")
    at.text_input(key=f"tpl_preview_{row[0]}_company").input("Acme")
    at = click(at, "Preview")
    assert not errors(at), errors(at)
    assert at.json and at.json[0].value and "Hello Li, welcome to Acme!" in at.json[0].value


def test_edit_template(app_as, app_world, primary):
    tpl = templates.create_template(app_world.admin_ctx, template_name=uid("ed"),
                                    template_type="text", template_content={"text": "Hi"})
    at = open_page(app_as("operator"), "admin_templates.py")
    at.selectbox(key="tpl_pick").set_value(tpl.id).run()
    at.text_area(key=f"tpl_edit_content_{tpl.id}").input('{"text": "Hi {{who}}"}')
    at.text_area(key=f"tpl_edit_vars_{tpl.id}").input("who=friend")
    at = click(at, "Save template")
    assert not errors(at), errors(at)
    content, variables = one(primary, "SELECT template_content, variables FROM "
                                      "message_templates WHERE id = :i", i=tpl.id)
    assert json.loads(content) == {"text": "Hi {{who}}"}
    assert json.loads(variables) == [{"name": "who", "required": False, "default": "friend"}]
    # invalid JSON is refused next to the content field, and nothing changes
    at.selectbox(key="tpl_pick").set_value(tpl.id).run()
    at.text_area(key=f"tpl_edit_content_{tpl.id}").input('{"text": ')
    at = click(at, "Save template")
    assert any(e.startswith("template_content: is not valid JSON") for e in errors(at))
    assert json.loads(one(primary, "SELECT template_content FROM message_templates "
                                   "WHERE id = :i", i=tpl.id)[0]) == {"text": "Hi {{who}}"}


def test_undeclared_variable_is_refused(app_as, primary):
    at = open_page(app_as("operator"), "admin_templates.py")
    name = uid("tpl")
    at.text_input(key="tpl_new_name").input(name)
    at.text_area(key="tpl_new_vars_text").input("name")  # company is used but not declared
    at = click(at, "Create template")
    assert any(e.startswith("variables.company:") for e in errors(at)), errors(at)
    assert one(primary, "SELECT id FROM message_templates WHERE template_name = :n",
               n=name) is None


# ---------------------------------------------------------------- batch sends


@pytest.fixture
def online_account_and_template(app_world):
    ctx = app_world.admin_ctx
    acc = accounts.create_account(ctx, account_name=uid("sender"))
    for status in ("logging_in", "waiting_scan", "waiting_confirm", "online"):
        accounts.change_status(ctx, acc.id, status)
    tpl = templates.create_template(ctx, template_name=uid("bt"), template_type="text",
                                    template_content={"text": "Hi {{name}}"},
                                    variables=["name"])
    return acc, tpl


def test_create_batch_send_then_pause(app_as, online_account_and_template, primary):
    acc, tpl = online_account_and_template
    at = open_page(app_as("operator"), "admin_batches.py")
    at.selectbox(key="batch_new_template").set_value(tpl.id).run()
    name = uid("batch")
    at.text_input(key="batch_new_name").input(name)
    at.selectbox(key="batch_new_account").set_value(acc.id)
    at.text_area(key="batch_new_ids").input("conv-1\nconv-2\nconv-3")
    at.text_input(key=f"batch_var_{tpl.id}_name").input("Li")
    at = click(at, "Create batch send")
    assert not errors(at), errors(at)
    bid, total, status = one(primary, "SELECT id, total_count, status FROM batch_send_tasks "
                                      "WHERE task_name = :n", n=name)
    assert (total, status) == (3, "running")
    assert one(primary, "SELECT count(*) FROM messages WHERE batch_id = :b", b=bid)[0] == 3
    def status():
        return one(primary, "SELECT status FROM batch_send_tasks WHERE id = :b", b=bid)[0]

    for button, expected in (("Pause", "paused"), ("Resume", "running"),
                             ("Cancel", "cancelled")):
        at.selectbox(key="batch_pick").set_value(bid).run()
        at = click(at, button)
        assert not errors(at), errors(at)
        assert status() == expected
    # cancelling cancelled every pending message of the task
    assert one(primary, "SELECT count(*) FROM messages WHERE batch_id = :b AND "
                        "status = 'pending'", b=bid)[0] == 0


def test_batch_without_targets_is_refused(app_as, online_account_and_template, primary):
    acc, tpl = online_account_and_template
    at = open_page(app_as("operator"), "admin_batches.py")
    at.selectbox(key="batch_new_template").set_value(tpl.id).run()
    name = uid("batch")
    at.text_input(key="batch_new_name").input(name)
    at.selectbox(key="batch_new_account").set_value(acc.id)
    at.text_input(key=f"batch_var_{tpl.id}_name").input("Li")
    at = click(at, "Create batch send")
    assert any(e.startswith("target_config") for e in errors(at)), errors(at)
    assert one(primary, "SELECT id FROM batch_send_tasks WHERE task_name = :n", n=name) is None


# ---------------------------------------------------------------- callbacks


def test_operator_lists_its_own_failed_callbacks_only(app_as, app_world):
    from wework.services import accounts

    guid = uid("guid")
    accounts.create_account(app_world.admin_ctx, account_name=uid("acct"), guid=guid)
    receipt = {"message_id": uid("no-such-message"), "status": "delivered"}
    mine = callbacks.ingest(json.dumps({"event_id": uid("e"), "guid": guid,
                                        "notify_type": 20001, "event_type": "message.receipt",
                                        "data": receipt}))
    foreign = callbacks.ingest(json.dumps({"event_id": uid("e"), "guid": uid("other"),
                                           "notify_type": 11002,
                                           "event_type": "account.heartbeat", "data": {}}))
    assert str(mine.status) == str(foreign.status) == "failed"
    at = open_page(app_as("operator"), "admin_callbacks.py")
    assert not errors(at), errors(at)
    listed = set(at.dataframe[0].value["id"]) if at.dataframe else set()
    assert mine.id in listed and foreign.id not in listed
    assert not [b for b in at.button if b.label == "Replay oldest"]  # platform-wide: hidden


def test_super_admin_replays_the_oldest_failed_callbacks(app_as, primary):
    bad = json.dumps({"event_id": uid("e"), "guid": uid("no-such-instance"),
                      "notify_type": 11002, "event_type": "account.heartbeat", "data": {}})
    event = callbacks.ingest(bad, source_ip="127.0.0.1")
    assert str(event.status) == "failed"
    at = open_page(app_as("super_admin"), "admin_callbacks.py")
    at.number_input(key="cb_replay_n").set_value(1000)
    at = click(at, "Replay oldest")
    assert not errors(at), errors(at)
    retries, status = one(primary, "SELECT retry_count, status FROM callback_events "
                                   "WHERE id = :i", i=event.id)
    assert retries == 1 and status == "failed"  # the guid is still unknown


def test_lists_page_with_cursors(app_as, app_world):
    from wework.services import users

    for _ in range(21):  # more than one page of users in this tenant, whatever exists already
        name = uid("pg")
        users.create_user(app_world.admin_ctx, username=name, email=f"{name}@example.com",
                          password=PASSWORD)
    at = open_page(app_as("admin"), "admin_users.py")
    first = list(at.dataframe[0].value["id"])
    assert len(first) == 20
    at = click(at, "Next ▶")
    second = list(at.dataframe[0].value["id"])
    assert second and not set(first) & set(second)
    assert any("Page 2" in c.value for c in at.caption)
    at = click(at, "◀ Previous")
    assert list(at.dataframe[0].value["id"]) == first


# ---------------------------------------------------------------- gateway secrets


def test_gateway_secret_is_shown_once_rotated_and_revoked(app_as, primary):
    at = open_page(app_as("super_admin"), "admin_gateway.py")
    name = uid("gw-")
    at.text_input(key="gw_name").input(name)
    at = click(at, "Issue secret")
    assert not at.exception and not errors(at)
    (shown,) = [c.value for c in at.code]
    assert shown.startswith("whsec_")
    fingerprint = one(primary, "SELECT fingerprint FROM gateway_secrets WHERE gateway_name = :n",
                      n=name)[0]
    assert fingerprint in at.dataframe[0].value["fingerprint"].tolist()
    at = at.run()  # shown once: gone on the next run
    assert not at.code and shown not in str(at.dataframe[0].value.to_dict())

    at.selectbox(key="gw_rotate_name").set_value(name)
    at.number_input(key="gw_rotate_grace").set_value(2.0)
    at = click(at, "Rotate")
    assert not errors(at) and at.code[0].value.startswith("whsec_")
    states = at.dataframe[0].value.query("gateway == @name")["state"].tolist()
    assert sorted(states) == ["active", "expiring"]

    old_id = one(primary, "SELECT id FROM gateway_secrets WHERE gateway_name = :n AND "
                          "expires_at IS NOT NULL", n=name)[0]
    at.selectbox(key="gw_revoke_id").set_value(old_id)
    at = at.checkbox(key="gw_revoke_confirm").check().run()
    at = click(at, "Revoke")
    assert not errors(at)
    assert one(primary, "SELECT revoked_at IS NOT NULL FROM gateway_secrets WHERE id = :i",
               i=old_id)[0] == 1


def test_gateway_secret_with_a_bad_name_shows_the_field_error(app_as, primary):
    at = open_page(app_as("super_admin"), "admin_gateway.py")
    at.text_input(key="gw_name").input("<b>bad name</b>")
    at = click(at, "Issue secret")
    assert any(e.startswith("gateway_name:") for e in errors(at))
    assert one(primary, "SELECT COUNT(*) FROM gateway_secrets WHERE gateway_name LIKE '%bad%'"
               )[0] == 0


def test_only_a_super_admin_sees_the_gateway_secrets_page(app_as):
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        open_page(app_as("admin"), "admin_gateway.py")  # a tenant's own admin
