"""Issue 16 item 10: a password reset, a role change, a deactivation or a suspended
tenant ends the user's sessions at once — on the next run of the app and on the next
tick of an auto-refreshing fragment — and the services refuse writes from a context
built before."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from wework.errors import AuthenticationError, PermissionDeniedError, ValidationError
from wework.services import auth, roles, templates, tenants, users
from wework.services.uow import read_session

APP_DIR = Path(__file__).resolve().parents[2] / "app"
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

NEW_PASSWORD = "a brand new passphrase 99"


def _member(world, make_unique, password, *role_codes):
    name = make_unique("member")
    return users.create_user(world.ctx, username=name, email=f"{name}@example.com",
                             password=password, role_codes=list(role_codes))


def _role_id(tenant_id: str, code: str) -> str:
    from wework.models import Role

    with read_session(tenant_id, fresh=True) as s:
        return s.query(Role.id).filter_by(tenant_id=tenant_id, role_code=code).scalar()


def _template(ctx):
    return templates.create_template(ctx, template_name=f"t-{time.time_ns()}",
                                     template_type="text", template_content={"text": "hi"})


# ------------------------------------------------------------------ the services


def test_a_context_built_before_suspension_cannot_write(world, super_ctx):
    ctx = world.ctx
    _template(ctx)
    tenants.suspend_tenant(super_ctx, world.tenant.id)
    for write in (lambda: _template(ctx),
                  lambda: users.update_user(ctx, world.admin.id, real_name="still here"),
                  lambda: tenants.update_tenant(ctx, world.tenant.id, contact_person="me")):
        with pytest.raises(ValidationError) as err:
            write()
        assert err.value.field == "tenant.status"


def test_a_context_of_a_deactivated_user_cannot_write(world, make_unique, password):
    member = _member(world, make_unique, password, "operator")
    ctx = auth.context_for(auth.actor_for(member.id))
    _template(ctx)
    users.deactivate_user(world.ctx, member.id)
    with pytest.raises(AuthenticationError):
        _template(ctx)


def test_a_context_keeps_no_permission_its_user_lost(world, make_unique, password):
    member = _member(world, make_unique, password, "operator")
    ctx = auth.context_for(auth.actor_for(member.id))
    roles.unassign_role(world.ctx, member.id, _role_id(world.tenant.id, "operator"))
    with pytest.raises(PermissionDeniedError):
        _template(ctx)


def test_the_session_stamp_follows_password_and_roles(world, make_unique, password):
    member = _member(world, make_unique, password, "analyst")
    first = auth.actor_for(member.id).session_stamp
    assert auth.login(member.username, password, None).session_stamp == first
    users.reset_password(world.ctx, member.id, NEW_PASSWORD)
    second = auth.actor_for(member.id).session_stamp
    assert second != first
    roles.assign_role(world.ctx, member.id, _role_id(world.tenant.id, "operator"))
    assert auth.actor_for(member.id).session_stamp not in (first, second)


# ------------------------------------------------------------------ the app


def _signed_in(username: str, password: str) -> AppTest:
    at = AppTest.from_file(str(APP_DIR / "main.py"), default_timeout=60).run()
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button[0].click()
    at = at.run()
    assert at.session_state["wework_user_id"]
    return at


def _signed_out(at: AppTest) -> bool:
    return "wework_user_id" not in at.run().session_state


@pytest.mark.parametrize("change", ["reset_password", "role_change", "deactivate", "suspend"])
def test_the_next_run_of_the_app_signs_the_user_out(world, make_unique, password, super_ctx,
                                                    change):
    member = _member(world, make_unique, password, "analyst")
    at = _signed_in(member.username, password)
    assert not _signed_out(at)
    if change == "reset_password":
        users.reset_password(world.ctx, member.id, NEW_PASSWORD)
    elif change == "role_change":
        roles.assign_role(world.ctx, member.id, _role_id(world.tenant.id, "operator"))
    elif change == "deactivate":
        users.deactivate_user(world.ctx, member.id)
    else:
        tenants.suspend_tenant(super_ctx, world.tenant.id)
    assert _signed_out(at)
    assert at.info  # it says why


def _fragment_check() -> None:
    """What the Batch sends page's 3-s fragment asks before each refresh."""
    import streamlit as st

    from ui import session

    st.write(f"still active: {session.still_active()}")


def test_the_auto_refresh_fragment_stops_after_a_password_reset(world, make_unique, password):
    member = _member(world, make_unique, password, "operator")
    actor = auth.actor_for(member.id)
    at = AppTest.from_function(_fragment_check, default_timeout=60)
    at.session_state["wework_user_id"] = member.id
    at.session_state["wework_home_tenant"] = member.tenant_id
    at.session_state["wework_last_seen"] = time.time()
    at.session_state["wework_session_stamp"] = actor.session_stamp
    assert at.run().markdown[0].value == "still active: True"
    users.reset_password(world.ctx, member.id, NEW_PASSWORD)
    assert at.run().markdown[0].value == "still active: False"
