"""Issue 16 item 9: one canonical username (NFKC, lower-case, no control characters),
and one user per username on the platform."""

from __future__ import annotations

import pytest

from wework.errors import AuthenticationError, ConflictError, ValidationError
from wework.models import User
from wework.services import auth, users
from wework.services.uow import transaction


def _user(world, name: str, password: str) -> User:
    return users.create_user(world.ctx, username=name, email=f"{name}@example.com",
                             password=password)


def test_padded_and_accented_variants_do_not_sign_in(world, make_unique, password):
    name = make_unique("admin0")
    _user(world, name, password)
    for variant in (name + "\x00", name.replace("a", "ä", 1), name + "\u200b",
                    "\x00" + name):
        with pytest.raises(AuthenticationError):
            auth.login(variant, password, None)
    # The canonical forms of one name are one user: case and full-width letters fold.
    full_width = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)
    for same in (name.upper(), full_width, f"  {name} "):
        assert auth.login(same, password, None).tenant_id == world.tenant.id


def test_new_usernames_are_stored_canonical(world, make_unique, password):
    name = make_unique("MixedCase")
    assert _user(world, name, password).username == name.lower()
    for bad in (name + "\x00", "t\u00e4st" + name, name + "\u202e"):
        with pytest.raises(ValidationError) as err:
            _user(world, bad, password)
        assert err.value.field == "username"


def test_another_tenant_cannot_squat_a_username(make_tenant, make_unique, password):
    victim, squatter = make_tenant(), make_tenant()
    name = make_unique("boss")
    _user(victim, name, password)
    with pytest.raises(ConflictError) as err:
        _user(squatter, name.upper(), password)
    assert err.value.field == "username"
    assert auth.login(name, password, None).tenant_id == victim.tenant.id


def test_a_deleted_user_never_shadows_a_login(make_tenant, make_unique, password):
    """Rows from before the rule (one name in two tenants): once the squatter is deleted,
    the victim signs in without a tenant code again."""
    victim, squatter = make_tenant(), make_tenant()
    name = make_unique("boss")
    mine = _user(victim, name, password)
    twin = _user(squatter, make_unique("twin"), password)
    with transaction(squatter.tenant.id) as s:  # the state older code allowed
        s.get(User, twin.id).username = name
    with pytest.raises(AuthenticationError):
        auth.login(name, password, None)  # ambiguous: the tenant code is needed
    users.delete_user(squatter.ctx, twin.id)
    assert auth.login(name, password, None).user_id == mine.id
