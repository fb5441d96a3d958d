"""WeCom accounts: quota, encryption at rest with hash lookup, the state machine (every
transition of the table, both allowed and refused), history rows, retries, heartbeats."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from sqlalchemy import select, text

from wework.enums import AccountStatus
from wework.errors import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    ValidationError,
)
from wework.models import AccountStatusHistory, WeworkAccount, utcnow
from wework.services import accounts, tenants
from wework.services.accounts import TRANSITIONS, LoginRetryLimitError
from wework.services.context import SYSTEM_USER_ID, system_context
from wework.services.uow import read_session, transaction

S = AccountStatus

# A path from `created` to each status, along allowed transitions.
PATH_TO = {
    S.CREATED: [],
    S.LOGGING_IN: [S.LOGGING_IN],
    S.WAITING_SCAN: [S.LOGGING_IN, S.WAITING_SCAN],
    S.WAITING_CONFIRM: [S.LOGGING_IN, S.WAITING_SCAN, S.WAITING_CONFIRM],
    S.NEED_VERIFY: [S.LOGGING_IN, S.WAITING_SCAN, S.NEED_VERIFY],
    S.ONLINE: [S.LOGGING_IN, S.WAITING_SCAN, S.WAITING_CONFIRM, S.ONLINE],
    S.OFFLINE: [S.LOGGING_IN, S.WAITING_SCAN, S.OFFLINE],
    S.ERROR: [S.LOGGING_IN, S.ERROR],
    S.RECOVERING: [S.LOGGING_IN, S.ERROR, S.RECOVERING],
}


def _new(ctx, make_unique, **fields):
    return accounts.create_account(ctx, account_name=make_unique("acct"), **fields)


def _drive(ctx, account_id, path):
    for status in path:
        accounts.change_status(ctx, account_id, status, reason="test")


def test_the_table_is_the_documented_one():
    assert TRANSITIONS[S.WAITING_SCAN] == {S.WAITING_CONFIRM, S.NEED_VERIFY, S.ERROR, S.OFFLINE}
    assert set(TRANSITIONS) == set(S)
    for target in PATH_TO.values():  # the helper paths only use allowed steps
        prev = S.CREATED
        for step in target:
            assert step in TRANSITIONS[prev]
            prev = step


def test_every_pair_of_statuses_against_the_table(make_tenant, make_unique):
    """All 81 (from, to) pairs: the allowed ones succeed with a history row, the others
    are refused with InvalidTransitionError and change nothing."""
    ctx = make_tenant(max_accounts=100).ctx
    for source in S:
        account = _new(ctx, make_unique)
        _drive(ctx, account.id, PATH_TO[source])
        for target in S:
            if target in TRANSITIONS[source]:
                continue
            with pytest.raises(InvalidTransitionError) as err:
                accounts.change_status(ctx, account.id, target)
            assert err.value.field == "status"
            assert (err.value.current, err.value.target) == (source.value, target.value)
        assert accounts.get_account(ctx, account.id).status == source
        for target in TRANSITIONS[source]:
            probe = _new(ctx, make_unique)
            _drive(ctx, probe.id, PATH_TO[source])
            before = len(accounts.status_history(ctx, probe.id))
            assert accounts.change_status(ctx, probe.id, target).status == target
            hist = accounts.status_history(ctx, probe.id)
            assert len(hist) == before + 1
            assert (hist[-1].old_status, hist[-1].new_status) == (source.value, target.value)


def test_history_rows_carry_reason_and_operator(world, make_unique):
    account = _new(world.ctx, make_unique)
    accounts.change_status(world.ctx, account.id, "logging_in", reason="operator clicked")
    sys_ctx = system_context(world.tenant.id)
    accounts.change_status(sys_ctx, account.id, S.ERROR, reason="gateway",
                           error_message="timeout", extra_data={"code": 504})
    hist = accounts.status_history(world.ctx, account.id)
    assert [(h.old_status, h.new_status) for h in hist] == [
        (None, "created"), ("created", "logging_in"), ("logging_in", "error")]
    assert (hist[1].operator_id, hist[1].operator_type, hist[1].reason) == (
        world.admin.id, "user", "operator clicked")
    assert (hist[2].operator_id, hist[2].operator_type) == (SYSTEM_USER_ID, "system")
    assert (hist[2].error_message, hist[2].extra_data) == ("timeout", {"code": 504})
    assert accounts.get_account(world.ctx, account.id).error_message == "timeout"


def test_change_status_joins_the_callers_transaction(world, make_unique):
    account = _new(world.ctx, make_unique)
    with pytest.raises(RuntimeError), transaction(world.tenant.id) as s:
        accounts.change_status(world.ctx, account.id, S.LOGGING_IN, session=s)
        raise RuntimeError("caller fails after the change")
    assert accounts.get_account(world.ctx, account.id).status == S.CREATED
    assert len(accounts.status_history(world.ctx, account.id)) == 1  # rolled back together
    with transaction(world.tenant.id) as s:
        accounts.change_status(world.ctx, account.id, S.LOGGING_IN, session=s)
    assert accounts.get_account(world.ctx, account.id).status == S.LOGGING_IN


def test_unknown_status_names_the_field(world, make_unique):
    account = _new(world.ctx, make_unique)
    with pytest.raises(ValidationError) as err:
        accounts.change_status(world.ctx, account.id, "flying")
    assert err.value.field == "new_status"


def test_online_sets_login_time_and_resets_retries(world, make_unique):
    account = _new(world.ctx, make_unique)
    _drive(world.ctx, account.id, [S.LOGGING_IN, S.ERROR, S.LOGGING_IN, S.WAITING_SCAN, S.ERROR])
    assert accounts.get_account(world.ctx, account.id).login_retry_count == 2
    _drive(world.ctx, account.id, [S.RECOVERING, S.ONLINE])
    got = accounts.get_account(world.ctx, account.id)
    assert got.login_retry_count == 0 and got.last_login_time is not None


def test_login_retry_cap(make_tenant, make_unique, super_ctx):
    world = make_tenant(config={"max_login_retries": 2})
    account = _new(world.ctx, make_unique)
    _drive(world.ctx, account.id, [S.LOGGING_IN, S.ERROR, S.LOGGING_IN, S.ERROR])
    for target in (S.LOGGING_IN, S.RECOVERING):
        with pytest.raises(LoginRetryLimitError) as err:
            accounts.change_status(world.ctx, account.id, target)
        assert err.value.field == "login_retry_count"
    accounts.change_status(world.ctx, account.id, S.OFFLINE)  # giving up is still allowed
    accounts.reset_login_retries(world.ctx, account.id)
    accounts.change_status(world.ctx, account.id, S.LOGGING_IN)
    # Default cap without tenant config.
    other = make_tenant()
    acc = _new(other.ctx, make_unique)
    _drive(other.ctx, acc.id, [S.LOGGING_IN, S.ERROR] + [S.LOGGING_IN, S.ERROR] * (
        accounts.MAX_LOGIN_RETRIES - 1))
    with pytest.raises(LoginRetryLimitError):
        accounts.change_status(other.ctx, acc.id, S.LOGGING_IN)


def test_quota_max_accounts(make_tenant, make_unique, super_ctx):
    world = make_tenant(max_accounts=2)
    _new(world.ctx, make_unique)
    _new(world.ctx, make_unique)
    with pytest.raises(QuotaExceededError) as err:
        _new(world.ctx, make_unique)
    assert err.value.field == "max_accounts"
    assert len(accounts.list_accounts(world.ctx, fresh=True).items) == 2
    tenants.update_tenant(super_ctx, world.tenant.id, max_accounts=3)
    _new(world.ctx, make_unique)


def test_duplicate_name_and_guid_conflict(make_tenant, make_unique):
    a, b = make_tenant(), make_tenant()
    guid = make_unique("guid")
    acc = accounts.create_account(a.ctx, account_name="sales", guid=guid)
    with pytest.raises(ConflictError) as err:
        accounts.create_account(a.ctx, account_name="sales")
    assert err.value.field == "account_name"
    accounts.create_account(b.ctx, account_name="sales")  # names are per tenant
    with pytest.raises(ConflictError) as err:
        accounts.create_account(b.ctx, account_name="other", guid=guid)
    assert err.value.field == "guid"
    assert accounts.get_by_guid(guid).id == acc.id
    with pytest.raises(NotFoundError):
        accounts.get_by_guid("no-such-guid")


def test_encrypted_at_rest_and_found_by_hash(world, make_unique):
    phone, token = "+86 138 0013 8000", "tok-" + make_unique("secret")
    acc = _new(world.ctx, make_unique, phone=phone, email="Bot@Example.com", login_token=token)
    with read_session(world.tenant.id, fresh=True) as s:
        raw = s.execute(text("SELECT phone, email, login_token, phone_hash FROM "
                             "wework_accounts WHERE id = :id"), {"id": acc.id}).one()
    assert phone not in raw.phone and "bot@example.com" not in raw.email.lower()
    assert token not in raw.login_token and raw.phone_hash and phone not in raw.phone_hash
    got = accounts.get_account(world.ctx, acc.id)
    assert (got.phone, got.email, got.login_token) == (phone, "bot@example.com", token)
    assert [a.id for a in accounts.find_by_phone(world.ctx, phone)] == [acc.id]
    assert [a.id for a in accounts.find_by_email(world.ctx, "BOT@example.com")] == [acc.id]
    assert accounts.find_by_phone(world.ctx, "+86 139 0000 0000") == []
    accounts.update_account(world.ctx, acc.id, phone="+1 555 0100")
    assert accounts.find_by_phone(world.ctx, phone) == []
    assert [a.id for a in accounts.find_by_phone(world.ctx, "+1 555 0100")] == [acc.id]


def test_bad_fields_are_named(world, make_unique):
    for field, value in [("account_name", ""), ("phone", "call me"), ("email", "x@"),
                         ("qr_code_url", "nope"), ("config", "[]")]:
        kwargs = {"account_name": make_unique("a"), field: value}
        with pytest.raises(ValidationError) as err:
            accounts.create_account(world.ctx, **kwargs)
        assert err.value.field == field
    acc = _new(world.ctx, make_unique)
    with pytest.raises(ValidationError) as err:
        accounts.update_account(world.ctx, acc.id, status="online")
    assert err.value.field == "status"


def test_cross_tenant_and_permissions(make_tenant, make_unique):
    a, b = make_tenant(), make_tenant()
    acc = _new(b.ctx, make_unique, phone="+86 100 0000 0001")
    for call in (lambda: accounts.get_account(a.ctx, acc.id),
                 lambda: accounts.change_status(a.ctx, acc.id, S.LOGGING_IN),
                 lambda: accounts.update_account(a.ctx, acc.id, account_name="x"),
                 lambda: accounts.record_heartbeat(a.ctx, acc.id)):
        with pytest.raises(NotFoundError) as err:
            call()
        assert str(err.value) == f"account {acc.id!r} not found"
    assert accounts.find_by_phone(a.ctx, "+86 100 0000 0001") == []
    assert acc.id not in {x.id for x in accounts.list_accounts(a.ctx, fresh=True).items}
    analyst = b.user_ctx("analyst")
    with pytest.raises(PermissionDeniedError):
        accounts.change_status(analyst, acc.id, S.LOGGING_IN)
    with pytest.raises(PermissionDeniedError):
        _new(analyst, make_unique)
    assert accounts.get_account(b.ctx, acc.id).status == S.CREATED


def test_list_filters_and_pages(world, make_unique):
    ids = [_new(world.ctx, make_unique).id for _ in range(5)]
    accounts.change_status(world.ctx, ids[0], S.LOGGING_IN)
    seen, cursor = [], None
    while True:
        page = accounts.list_accounts(world.ctx, limit=2, cursor=cursor, fresh=True)
        seen += [a.id for a in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
    only = accounts.list_accounts(world.ctx, status="logging_in", fresh=True)
    assert [a.id for a in only.items] == [ids[0]]
    with pytest.raises(ValidationError):
        accounts.list_accounts(world.ctx, cursor="garbage!")


def test_heartbeat_sweep(world, make_unique):
    ctx = world.ctx
    fresh_acc, stale_acc, offline_acc = (_new(ctx, make_unique) for _ in range(3))
    for acc in (fresh_acc, stale_acc):
        _drive(ctx, acc.id, PATH_TO[S.ONLINE])
    _drive(ctx, offline_acc.id, PATH_TO[S.OFFLINE])
    now = utcnow()
    accounts.record_heartbeat(ctx, fresh_acc.id, at=now - timedelta(seconds=10))
    accounts.record_heartbeat(ctx, stale_acc.id, at=now - timedelta(seconds=300))
    accounts.record_heartbeat(ctx, offline_acc.id, at=now - timedelta(seconds=300))
    swept = accounts.sweep_stale_heartbeats(60, now=now)
    assert stale_acc.id in swept and fresh_acc.id not in swept and offline_acc.id not in swept
    assert accounts.get_account(ctx, stale_acc.id).status == S.OFFLINE
    assert accounts.get_account(ctx, fresh_acc.id).status == S.ONLINE
    last = accounts.status_history(ctx, stale_acc.id)[-1]
    assert (last.old_status, last.new_status, last.reason, last.operator_type) == (
        "online", "offline", "heartbeat timeout", "auto")
    assert stale_acc.id not in accounts.sweep_stale_heartbeats(60, now=now)  # idempotent
    assert fresh_acc.id in accounts.sweep_stale_heartbeats(5, now=now)


def test_last_history_row_equals_status(world, make_unique):
    acc = _new(world.ctx, make_unique)
    _drive(world.ctx, acc.id, PATH_TO[S.RECOVERING] + [S.ONLINE, S.OFFLINE])
    with read_session(world.tenant.id, fresh=True) as s:
        status = s.scalar(select(WeworkAccount.status).where(WeworkAccount.id == acc.id))
        last = s.scalar(select(AccountStatusHistory.new_status)
                        .where(AccountStatusHistory.account_id == acc.id)
                        .order_by(AccountStatusHistory.id.desc()).limit(1))
    assert last == status.value == "offline"


def test_quota_holds_under_concurrent_creation(make_tenant, make_unique):
    """Six threads race for the last two slots: the tenant row lock lets exactly two in."""
    world = make_tenant(max_accounts=2)
    barrier = Barrier(6)

    def attempt(i):
        barrier.wait()
        try:
            accounts.create_account(world.ctx, account_name=f"race-{i}")
            return "ok"
        except QuotaExceededError:
            return "quota"

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(attempt, range(6)))
    assert sorted(results) == ["ok"] * 2 + ["quota"] * 4
    assert len(accounts.list_accounts(world.ctx, fresh=True).items) == 2
