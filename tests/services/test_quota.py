"""The daily quota without a global queue: concurrent sends of one tenant do not wait for
each other, and the limit is never exceeded — 64 senders at its edge."""

from __future__ import annotations

import threading

import pytest
from messaging_helpers import make_account, messages_of, sql_statements, text_rows
from sqlalchemy import func, select

from wework.errors import QuotaExceededError
from wework.models import TenantDailyQuota, utcnow
from wework.services import messages, quota, tenants
from wework.services.uow import transaction


def send(ctx, account, text: str = "hi"):
    return messages.send_message(ctx, account_id=account.id, conversation_id="c",
                                 message_type="text", content={"text": text})


def counted(tenant_id: str) -> int:
    with transaction(tenant_id) as s:
        return s.scalar(select(func.sum(TenantDailyQuota.used)).where(
            TenantDailyQuota.tenant_id == tenant_id, TenantDailyQuota.day == utcnow().date()))


def test_the_stripes_caps_add_up_to_the_limit():
    for limit in (0, 1, 5, 15, 16, 17, 100, 10_001):
        caps = [quota.stripe_cap(limit, i) for i in range(quota.STRIPES)]
        assert sum(caps) == limit and max(caps) - min(caps) <= 1


def test_64_concurrent_senders_at_the_edge_never_exceed_the_quota(make_tenant):
    world = make_tenant(max_daily_messages=100)
    account = make_account(world.ctx)
    messages.enqueue_many(world.ctx, text_rows(account.id, 90))
    start = threading.Barrier(64)
    outcomes: list[str] = []
    lock = threading.Lock()

    def sender(i: int) -> None:
        start.wait()
        try:
            send(world.ctx, account, f"edge {i}")
            result = "sent"
        except QuotaExceededError as exc:
            assert exc.field == "max_daily_messages"
            result = "refused"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes).count("sent") == 10 and outcomes.count("refused") == 54
    assert len(messages_of(world.ctx.tenant_id)) == 100
    assert counted(world.ctx.tenant_id) == 100


def test_a_send_does_not_wait_for_another_send_of_the_tenant(make_tenant):
    """With one send's transaction still open (its stripe locked), another send of the
    same tenant commits: they no longer queue on the tenant row."""
    world = make_tenant(max_daily_messages=1000)
    account = make_account(world.ctx)
    send(world.ctx, account)  # the day's stripes exist
    finished = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            send(world.ctx, account, "second")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finished.set()

    tenant_id = world.ctx.tenant_id
    with quota.stripe_for(tenant_id) as stripe, transaction(tenant_id) as s:
        assert quota.take(s, tenant_id, 1, utcnow().date(), stripe)  # holds one stripe
        thread = threading.Thread(target=second)
        thread.start()
        done = finished.wait(timeout=30)
    thread.join(timeout=30)
    assert done and not errors, errors
    assert counted(world.ctx.tenant_id) == 3


def test_a_new_limit_applies_to_the_next_send_of_this_process(make_tenant, super_ctx):
    world = make_tenant(max_daily_messages=2)
    account = make_account(world.ctx)
    send(world.ctx, account)
    send(world.ctx, account)  # the tenant is in the cache now
    with pytest.raises(QuotaExceededError):
        send(world.ctx, account)
    tenants.update_tenant(super_ctx, world.ctx.tenant_id, max_daily_messages=3)
    send(world.ctx, account)  # not refused from a stale cached limit
    tenants.suspend_tenant(super_ctx, world.ctx.tenant_id)
    with pytest.raises(Exception) as err:
        send(world.ctx, account)
    assert getattr(err.value, "field", None) == "tenant.status"
    assert len(messages_of(world.ctx.tenant_id)) == 3


def test_the_first_send_of_the_day_counts_the_messages_already_there(make_tenant):
    world = make_tenant(max_daily_messages=5)
    account = make_account(world.ctx)
    messages.enqueue_many(world.ctx, text_rows(account.id, 4))
    with transaction(world.ctx.tenant_id) as s:  # as if made before the counter existed
        s.execute(TenantDailyQuota.__table__.delete().where(
            TenantDailyQuota.tenant_id == world.ctx.tenant_id))
    send(world.ctx, account)
    with pytest.raises(QuotaExceededError) as err:
        send(world.ctx, account)
    assert "5 messages today + 1 would exceed the daily limit of 5" in err.value.reason


def test_a_lowered_limit_is_exact_even_with_stripes_over_their_new_caps(make_tenant,
                                                                        super_ctx):
    world = make_tenant(max_daily_messages=1000)
    account = make_account(world.ctx)
    for i in range(40):  # spread over the stripes by the 1000 limit's caps (62-63 each)
        send(world.ctx, account, f"m{i}")
    tenants.update_tenant(super_ctx, world.ctx.tenant_id, max_daily_messages=42)
    send(world.ctx, account)
    send(world.ctx, account)
    with pytest.raises(QuotaExceededError):
        send(world.ctx, account)
    assert counted(world.ctx.tenant_id) == 42 == len(messages_of(world.ctx.tenant_id))


def test_a_send_takes_its_quota_with_one_update(make_tenant):
    """The fast path: the send's only quota statement is one UPDATE of one stripe."""
    world = make_tenant(max_daily_messages=1000)
    account = make_account(world.ctx)
    send(world.ctx, account)  # the day's stripes exist
    with sql_statements() as seen:
        send(world.ctx, account, "second")
    on_quota = [st.split()[0] for st in seen if "tenant_daily_quota" in st]
    assert on_quota == ["UPDATE"], seen
    assert counted(world.ctx.tenant_id) == 2


def test_a_raised_limit_spreads_todays_new_room_over_the_stripes(make_tenant, super_ctx):
    world = make_tenant(max_daily_messages=16)
    account = make_account(world.ctx)
    for i in range(16):  # one per stripe: every stripe is full
        send(world.ctx, account, f"m{i}")
    with pytest.raises(QuotaExceededError):
        send(world.ctx, account)
    tenants.update_tenant(super_ctx, world.ctx.tenant_id, max_daily_messages=20)
    with transaction(world.ctx.tenant_id) as s:
        caps = s.scalar(select(func.sum(TenantDailyQuota.cap)).where(
            TenantDailyQuota.tenant_id == world.ctx.tenant_id))
    assert caps == 20
    for i in range(4):
        send(world.ctx, account, f"more {i}")
    with pytest.raises(QuotaExceededError) as err:
        send(world.ctx, account)
    assert "20 messages today + 1 would exceed the daily limit of 20" in err.value.reason
    assert counted(world.ctx.tenant_id) == 20 == len(messages_of(world.ctx.tenant_id))
