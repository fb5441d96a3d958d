"""Users: creation with roles, conflicts per tenant, validation, status changes, password
reset, cross-tenant isolation, permissions, pagination."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from wework.enums import UserStatus
from wework.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from wework.security import passwords
from wework.services import auth, users
from wework.services.uow import read_session


def _user(ctx, name, **kw):
    return users.create_user(ctx, username=name, email=f"{name}@example.com",
                             password=kw.pop("password", "s3cret-passphrase-4x"), **kw)


def test_password_is_argon2id_with_its_salt(world, make_unique):
    user = _user(world.ctx, make_unique("u"), phone="+86 138 0000 1111")
    with read_session(world.tenant.id, fresh=True) as s:
        raw = s.execute(text("SELECT password_hash, salt, phone FROM users WHERE id=:i"),
                        {"i": user.id}).one()
    assert raw.password_hash.startswith("$argon2id$")
    assert raw.salt == passwords.salt_hex(raw.password_hash) and len(raw.salt) == 32
    assert "s3cret-passphrase-4x" not in raw.password_hash
    assert "1111" not in raw.phone  # encrypted at rest
    assert users.get_user(world.ctx, user.id).phone == "+86 138 0000 1111"


def test_username_unique_on_the_platform_email_per_tenant(make_tenant, make_unique):
    a, b = make_tenant(), make_tenant()
    name = make_unique("dup")
    _user(a.ctx, name)
    with pytest.raises(ConflictError) as err:
        _user(a.ctx, name)
    assert err.value.field == "username"
    with pytest.raises(ConflictError) as err:
        users.create_user(a.ctx, username=make_unique("o"), email=f"{name}@example.com",
                          password="long enough passphrase")
    assert err.value.field == "email"
    with pytest.raises(ConflictError) as err:  # usernames are platform-wide (issue 16)
        _user(b.ctx, name)
    assert err.value.field == "username"
    users.create_user(b.ctx, username=make_unique("b"), email=f"{name}@example.com",
                      password="long enough passphrase")  # an e-mail is per tenant
    other = _user(a.ctx, make_unique("x"))
    with pytest.raises(ConflictError) as err:
        users.update_user(a.ctx, other.id, email=f"{name}@example.com")
    assert err.value.field == "email"


@pytest.mark.parametrize(("field", "value"), [
    ("username", ""), ("username", "has space"), ("email", "nope"), ("password", "short"),
    ("phone", "12ab"), ("avatar_url", "javascript:alert(1)"), ("role_codes", ["no-such-role"]),
])
def test_bad_fields_are_named(world, make_unique, field, value):
    kw = {"username": make_unique("u"), "email": f"{make_unique('e')}@example.com",
          "password": "long enough passphrase", field: value}
    with pytest.raises(ValidationError) as err:
        users.create_user(world.ctx, **kw)
    assert err.value.field == field


def test_nothing_half_written_when_a_role_is_unknown(world, make_unique):
    name = make_unique("half")
    with pytest.raises(ValidationError):
        _user(world.ctx, name, role_codes=["operator", "ghost"])
    assert name not in {u.username for u in users.list_users(world.ctx, fresh=True).items}


def test_deactivate_reactivate_delete(world, make_unique, password):
    user = _user(world.ctx, make_unique("d"), password=password)
    users.deactivate_user(world.ctx, user.id)
    with pytest.raises(AuthenticationError):
        auth.login(user.username, password, "1.2.3.4")
    users.reactivate_user(world.ctx, user.id)
    assert auth.login(user.username, password, "1.2.3.4").user_id == user.id
    users.delete_user(world.ctx, user.id)
    assert users.get_user(world.ctx, user.id).status == UserStatus.DELETED
    with pytest.raises(AuthenticationError):
        auth.login(user.username, password, "1.2.3.4")
    with pytest.raises(NotFoundError):
        users.update_user(world.ctx, user.id, real_name="ghost")
    with pytest.raises(ValidationError) as err:
        users.deactivate_user(world.ctx, world.admin.id)
    assert err.value.field == "user_id"


def test_admin_lock_and_reset_password(world, make_unique, password):
    user = _user(world.ctx, make_unique("l"), password=password)
    users.lock_user(world.ctx, user.id)
    with pytest.raises(AuthenticationError):
        auth.login(user.username, password, "1.2.3.4")
    users.unlock_user(world.ctx, user.id)
    auth.login(user.username, password, "1.2.3.4")
    users.reset_password(world.ctx, user.id, "a brand new passphrase")
    with pytest.raises(AuthenticationError):
        auth.login(user.username, password, "1.2.3.4")
    assert auth.login(user.username, "a brand new passphrase", "1.2.3.4").user_id == user.id
    with pytest.raises(ValidationError) as err:
        users.reset_password(world.ctx, user.id, "short")
    assert err.value.field == "new_password"


def test_change_own_password(world, make_unique, password):
    ctx = world.user_ctx("analyst")
    with pytest.raises(ValidationError) as err:
        users.change_own_password(ctx, "wrong", "another long passphrase")
    assert err.value.field == "old_password"
    users.change_own_password(ctx, password, "another long passphrase")
    assert auth.login(ctx.actor.username, "another long passphrase", "1.2.3.4")


def test_other_tenants_users_look_missing(make_tenant, make_unique):
    a, b = make_tenant(), make_tenant()
    victim = _user(b.ctx, make_unique("v"))
    calls = [
        lambda: users.get_user(a.ctx, victim.id),
        lambda: users.update_user(a.ctx, victim.id, real_name="x"),
        lambda: users.deactivate_user(a.ctx, victim.id),
        lambda: users.reset_password(a.ctx, victim.id, "taken over!"),
        lambda: users.unlock_user(a.ctx, victim.id),
    ]
    for call in calls:
        with pytest.raises(NotFoundError) as err:
            call()
        assert str(err.value) == f"user {victim.id!r} not found"
    assert victim.id not in {u.id for u in users.list_users(a.ctx, fresh=True).items}
    assert users.get_user(b.ctx, victim.id).status == UserStatus.ACTIVE


def test_permission_required(world, make_unique):
    operator = world.user_ctx("operator")
    with pytest.raises(PermissionDeniedError) as err:
        _user(operator, make_unique("x"))
    assert err.value.permission == "user:manage"
    with pytest.raises(PermissionDeniedError):
        users.list_users(operator)


def test_list_pages_without_repeats(world, make_unique):
    made = {_user(world.ctx, make_unique("p")).id for _ in range(5)}
    seen, cursor = [], None
    while True:
        page = users.list_users(world.ctx, limit=2, cursor=cursor, fresh=True)
        assert len(page.items) <= 2
        seen += [u.id for u in page.items]
        if not page.has_next:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) and made <= set(seen) and len(seen) == 6
    with pytest.raises(ValidationError) as err:
        users.list_users(world.ctx, limit=0)
    assert err.value.field == "limit"
    with pytest.raises(ValidationError) as err:
        users.list_users(world.ctx, status="sleepy")
    assert err.value.field == "status"
