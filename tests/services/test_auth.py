"""Login: success bookkeeping, lockout after 5 failures (by time), refusals with one
message, ambiguity across tenants, timing, and the actor/context helpers."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import text

from wework.enums import UserStatus
from wework.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    TooManyAttemptsError,
)
from wework.models import utcnow
from wework.security import passwords
from wework.services import auth, users
from wework.services.uow import read_session, transaction

MESSAGE = str(AuthenticationError())


def _row(tenant_id, user_id):
    with read_session(tenant_id, fresh=True) as s:
        return s.execute(text("SELECT status, failed_login_count, locked_until, "
                              "last_login_time, last_login_ip FROM users WHERE id=:i"),
                         {"i": user_id}).one()


FAILURES_PER_PAIR = 5  # WEWORK_LOGIN_FAILURES_PER_PAIR's default


def _fail(username, tenant_code=None, password="wrong password"):
    with pytest.raises(AuthenticationError) as err:
        auth.login(username, password, "10.1.1.1", tenant_code)
    assert str(err.value) == MESSAGE


def test_success_records_login_and_resets_failures(world, password):
    name = world.admin.username
    _fail(name)
    _fail(name)
    assert _row(world.tenant.id, world.admin.id).failed_login_count == 2
    before = utcnow().replace(microsecond=0)
    actor = auth.login(name, password, "192.168.7.9")
    row = _row(world.tenant.id, world.admin.id)
    assert (row.failed_login_count, row.last_login_ip) == (0, "192.168.7.9")
    assert row.last_login_time >= before
    assert (actor.user_id, actor.tenant_id, actor.username) == (
        world.admin.id, world.tenant.id, name)
    assert "user:manage" in actor.permissions and not actor.is_super_admin


def test_five_failures_lock_out_that_address_not_the_user(world, password):
    """The lockout is per (username, address) (issue 16 item 3): whoever failed five
    times is refused before the password is checked; the user, elsewhere, is not."""
    name = world.admin.username
    for _ in range(FAILURES_PER_PAIR):
        _fail(name)
    row = _row(world.tenant.id, world.admin.id)
    assert row.failed_login_count == FAILURES_PER_PAIR and row.status == UserStatus.ACTIVE
    assert row.locked_until is None
    with pytest.raises(TooManyAttemptsError):  # that address: even the right password
        auth.login(name, password, "10.1.1.1")
    assert _row(world.tenant.id, world.admin.id).last_login_time is None
    assert auth.login(name, password, "10.0.0.2").user_id == world.admin.id
    row = _row(world.tenant.id, world.admin.id)
    assert (row.failed_login_count, row.locked_until) == (0, None)


def test_a_lockout_of_an_older_version_ends_by_time(world, password):
    name = world.admin.username
    with transaction(world.tenant.id) as s:
        s.execute(text("UPDATE users SET locked_until = :t WHERE id = :i"),
                  {"t": utcnow() + timedelta(minutes=5), "i": world.admin.id})
    _fail(name, password=password)
    with transaction(world.tenant.id) as s:
        s.execute(text("UPDATE users SET locked_until = :t WHERE id = :i"),
                  {"t": utcnow() - timedelta(seconds=1), "i": world.admin.id})
    assert auth.login(name, password, "10.0.0.2")
    assert _row(world.tenant.id, world.admin.id).locked_until is None


def test_admin_unlock_lifts_the_lockout(world, make_unique, password):
    ctx = world.user_ctx("analyst")
    for _ in range(FAILURES_PER_PAIR):
        _fail(ctx.actor.username)
    with pytest.raises(TooManyAttemptsError):
        auth.login(ctx.actor.username, password, "10.1.1.1")
    users.unlock_user(world.ctx, ctx.actor.user_id)
    assert auth.login(ctx.actor.username, password, "10.1.1.1")


def test_inactive_user_is_refused(world, password):
    """(A suspended or deleted tenant: see test_tenants.)"""
    member = world.user_ctx("operator")
    users.deactivate_user(world.ctx, member.actor.user_id)
    _fail(member.actor.username, password=password)
    assert _row(world.tenant.id, member.actor.user_id).failed_login_count == 0
    with pytest.raises(NotFoundError):
        auth.actor_for(member.actor.user_id)


def test_unknown_user_and_unknown_tenant_code(world, password):
    _fail("nobody-at-all", password=password)
    _fail(world.admin.username, tenant_code="no-such-tenant", password=password)
    assert auth.login(world.admin.username, password, None, world.tenant.tenant_code)
    _fail("", password=password)


def test_a_username_belongs_to_one_tenant(make_tenant, make_unique, password):
    """Usernames are unique on the platform (issue 16 item 9): another tenant cannot take
    one, so the login without a tenant code always resolves."""
    a, b = make_tenant(), make_tenant()
    name = make_unique("same")
    users.create_user(a.ctx, username=name, email=f"{name}@example.com", password=password)
    with pytest.raises(ConflictError) as err:
        users.create_user(b.ctx, username=name.upper(), email=f"{name}@example.com",
                          password=password)
    assert err.value.field == "username"
    assert auth.login(name, password, None).tenant_id == a.tenant.id
    assert auth.login(name, password, None, a.tenant.tenant_code).tenant_id == a.tenant.id
    _fail(name, b.tenant.tenant_code, password=password)


def test_context_for(make_tenant, super_ctx):
    a, b = make_tenant(), make_tenant()
    assert auth.context_for(a.ctx.actor).tenant_id == a.tenant.id
    with pytest.raises(NotFoundError):
        auth.context_for(a.ctx.actor, b.tenant.id)
    assert auth.context_for(super_ctx.actor, b.tenant.id).tenant_id == b.tenant.id


def test_timing_does_not_reveal_missing_users(world):
    """Median login time for a missing username is within a generous factor of the time
    for an existing username with a wrong password (argon2 runs on both paths)."""

    def median_seconds(username: str) -> float:
        times = []
        for i in range(10):  # one address each: the per-address lockout stays out of it
            start = time.perf_counter()
            with pytest.raises(AuthenticationError):
                auth.login(username, "wrong password", f"10.9.{time.time_ns() % 250}.{i}")
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    missing = median_seconds(f"no-such-user-{time.time_ns()}")
    wrong = median_seconds(world.admin.username)
    assert wrong / 3 < missing < wrong * 3, (missing, wrong)
    # Without the dummy verification a missing user would cost only the lookup:
    # the argon2 work dominates both paths.
    start = time.perf_counter()
    passwords.verify_dummy("x")
    assert time.perf_counter() - start > missing / 4


def test_concurrent_failures_are_all_counted(world):
    """The user row is locked per attempt: parallel wrong passwords are not lost."""
    def attempt(_):
        with pytest.raises(AuthenticationError):
            auth.login(world.admin.username, "wrong password", "10.2.2.2")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(attempt, range(4)))
    assert _row(world.tenant.id, world.admin.id).failed_login_count == 4
