"""Login, logout, idle timeout, and which pages each role sees."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from ui.nav import PAGES_DIR
from wework.config import reload_settings
from wework.models import User

PASSWORD = "app-test-password-1"  # the one conftest.py gives every test user

def login(at, username: str, password: str):
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button[0].click()
    return at.run()


def test_login_form_signs_in_and_records_the_login(app, app_world, primary):
    user = app_world.users["analyst"]
    at = app.run()
    assert not at.exception
    assert at.title[0].value == "WeWork Platform"
    at = login(at, user.username, PASSWORD)
    assert not at.exception
    assert at.session_state["wework_user_id"] == user.id
    assert at.title[0].value == "Overview" or "No marts" in " ".join(w.value for w in at.warning)
    with Session(primary) as s:
        assert s.scalar(select(User.last_login_time).where(User.id == user.id)) is not None


def test_wrong_password_shows_the_one_message(app, app_world):
    at = login(app.run(), app_world.users["operator"].username, "wrong-password-x")
    assert [e.value for e in at.error] == ["invalid username or password"]
    assert "wework_user_id" not in at.session_state


def test_logout_ends_the_session(app_as):
    at = app_as("analyst")
    at.sidebar.button(key="wework_logout").click()
    at = at.run()
    assert "wework_user_id" not in at.session_state
    assert at.title[0].value == "WeWork Platform"
    assert any("logged out" in i.value for i in at.info)


def test_idle_session_expires(app_as, monkeypatch):
    monkeypatch.setenv("WEWORK_APP_IDLE_MINUTES", "1")
    reload_settings()
    at = app_as("analyst")
    at.session_state["wework_last_seen"] = time.time() - 61
    at = at.run()
    assert "wework_user_id" not in at.session_state
    assert any("expired after 1 minutes" in i.value for i in at.info)


def test_deactivated_user_is_signed_out_on_the_next_click(app_as, app_world):
    from wework.services import auth, users

    name = f"gone-{time.time_ns()}"
    user = users.create_user(app_world.admin_ctx, username=name, email=f"{name}@example.com",
                             password=PASSWORD, role_codes=["analyst"])
    at = app_as("analyst")
    at.session_state["wework_user_id"] = user.id
    at.session_state["wework_session_stamp"] = auth.actor_for(user.id).session_stamp
    at = at.run()
    assert at.title[0].value == "Overview"
    users.deactivate_user(app_world.admin_ctx, user.id)
    at = at.run()
    assert "wework_user_id" not in at.session_state
    assert any("can no longer sign in" in i.value for i in at.info)


def test_super_admin_switches_tenant_for_every_page(app_as, app_world):
    at = app_as("super_admin")
    assert at.session_state["wework_acting_tenant"] == app_world.super_ctx.actor.tenant_id
    at.sidebar.selectbox(key="wework_tenant_switch").set_value(app_world.tenant_id).run()
    assert not at.exception
    assert at.session_state["wework_acting_tenant"] == app_world.tenant_id
    at.switch_page(str(PAGES_DIR / "admin_accounts.py")).run()
    assert not at.exception
    # the accounts listed are the chosen tenant's (the seeded tenant has some)
    assert at.dataframe and len(at.dataframe[0].value) > 0


def test_others_cannot_switch_tenant(app_as, app_world):
    at = app_as("admin")
    assert not [s for s in at.sidebar.selectbox if s.key == "wework_tenant_switch"]


def test_five_failures_lock_the_login_even_with_the_right_password(app, app_world, primary):
    from wework.services import users

    name = f"lock-{time.time_ns()}"
    user = users.create_user(app_world.admin_ctx, username=name, email=f"{name}@example.com",
                             password=PASSWORD, role_codes=["analyst"])
    at = app.run()
    for _ in range(5):
        at = login(at, name, "wrong-password-x")
    at = login(at, name, PASSWORD)
    assert at.error[0].value.startswith("too many sign-in attempts")
    assert "wework_user_id" not in at.session_state
    with Session(primary) as s:  # that address is locked out, not the user
        assert s.scalar(select(User.locked_until).where(User.id == user.id)) is None


def test_user_without_any_page_permission_sees_no_access(app_world):
    from streamlit.testing.v1 import AppTest

    from wework.services import roles, users

    code = f"sender{time.time_ns() % 10**8}"
    roles.create_role(app_world.admin_ctx, role_code=code, role_name="Sender only",
                      permissions=["message:send"])
    name = f"sender-{time.time_ns()}"
    user = users.create_user(app_world.admin_ctx, username=name, email=f"{name}@example.com",
                             password=PASSWORD, role_codes=[code])
    at = AppTest.from_file(str(PAGES_DIR.parent / "main.py"), default_timeout=60)
    at.session_state["wework_user_id"] = user.id
    at.session_state["wework_home_tenant"] = user.tenant_id
    at.session_state["wework_last_seen"] = time.time()
    at = at.run()
    assert not at.exception
    assert [t.value for t in at.title] == ["No access"]
