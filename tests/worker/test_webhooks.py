"""Tenant webhooks: events written with the change they report, signed delivery with
retries against a real local HTTP receiver, secret rotation, give-up, address guard,
tenant scoping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from messaging_helpers import RecordingGateway, make_account, text_rows
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from worker_helpers import fast, running_worker, wait_for

from wework.config import reload_settings
from wework.enums import OutboxStatus
from wework.errors import NotFoundError, PermissionDeniedError, ValidationError
from wework.models import WebhookOutbox, utcnow
from wework.services import accounts, batches, messages, tenants, webhooks
from wework.services.dispatcher import dispatch_once
from wework.services.uow import transaction
from wework.worker.webhooks import WebhookSender, deliver_due


@pytest.fixture
def allow_local(monkeypatch):
    """The receiver listens on 127.0.0.1, which tenants may not use by default."""
    monkeypatch.setenv("WEWORK_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
    return reload_settings()


def outbox(tenant_id: str) -> list[WebhookOutbox]:
    with transaction(tenant_id) as s:
        return list(s.scalars(select(WebhookOutbox).where(WebhookOutbox.tenant_id == tenant_id)
                              .order_by(WebhookOutbox.created_at, WebhookOutbox.id)))


def hooked(make_tenant, url: str = "https://hooks.example.com/in"):
    world = make_tenant()
    tenants.update_tenant(world.ctx, world.tenant.id, webhook_url=url)
    return world


def deliver(settings, tenant_id: str, now=None) -> list[str]:
    """One delivery round (it serves every tenant of the database); returns the statuses
    of this tenant's events after it."""
    sender = WebhookSender(settings)
    try:
        deliver_due(sender, now=now)
    finally:
        sender.close()
    return [r.status.value for r in outbox(tenant_id)]


def retry_times(settings, window: timedelta):
    """The retry offsets from the first attempt that still fall inside ``window``."""
    at, n = 0.0, 1
    while True:
        at += webhooks.retry_delay(n).total_seconds()
        if at > window.total_seconds():
            return
        yield at
        n += 1


# ---------------------------------------------------------------- the outbox


def test_each_event_is_written_with_its_change(make_tenant):
    world = hooked(make_tenant)
    ctx = world.ctx
    account = make_account(ctx)
    accounts.change_status(ctx, account.id, "offline", reason="test")
    accounts.change_status(ctx, account.id, "recovering")
    accounts.change_status(ctx, account.id, "error", error_message="kicked out")
    online = make_account(ctx)
    task = batches.create_batch(ctx, task_name="b", account_id=online.id, target_type="manual",
                                target_config={"conversation_ids": ["c1", "c2"]},
                                message_type="text", content={"text": "hi"})
    gateway = RecordingGateway(fail_all=True, retryable=False)  # both fail for good
    dispatch_once(gateway)
    rows = outbox(ctx.tenant_id)
    kinds = [r.event_type for r in rows]
    assert kinds.count("account.offline") == 1 and kinds.count("account.error") == 1
    assert kinds.count("message.failed") == 2
    assert kinds.count("batch.completed") == 1
    completed = next(r for r in rows if r.event_type == "batch.completed").payload
    assert completed["type"] == "batch.completed"
    assert completed["data"]["batch_id"] == task.id
    assert (completed["data"]["total_count"], completed["data"]["failed_count"]) == (2, 2)
    failed = next(r for r in rows if r.event_type == "message.failed").payload["data"]
    assert failed["error_code"] == "E_TEST" and failed["batch_id"] == task.id
    error = next(r for r in rows if r.event_type == "account.error").payload["data"]
    assert (error["account_id"], error["error_message"]) == (account.id, "kicked out")
    assert all(r.status is OutboxStatus.PENDING and r.attempts == 0 for r in rows)


def test_no_url_no_rows_and_a_rolled_back_change_leaves_no_event(make_tenant, tenant_ctx):
    account = make_account(tenant_ctx)  # this tenant has no webhook_url
    accounts.change_status(tenant_ctx, account.id, "offline")
    assert outbox(tenant_ctx.tenant_id) == []

    world = hooked(make_tenant)
    other = make_account(world.ctx)
    with pytest.raises(RuntimeError), transaction(world.ctx.tenant_id) as s:
        accounts.change_status(world.ctx, other.id, "offline", session=s)
        raise RuntimeError("the rest of the transaction failed")
    assert outbox(world.ctx.tenant_id) == []
    assert accounts.get_account(world.ctx, other.id).status.value == "online"


def test_a_delivery_receipt_for_an_earlier_attempt_completes_the_message(tenant_ctx):
    """A gateway that timed out may still have sent: its receipt must apply to the
    message now pending its retry (else the retry is answered from the idempotency
    memory and the message stays 'sent' for ever)."""
    from messaging_helpers import messages_of

    from wework.services.messages import Receipt, apply_receipts

    account = make_account(tenant_ctx)
    (mid,) = messages.enqueue_many(tenant_ctx, text_rows(account.id, 1))
    dispatch_once(RecordingGateway(fail_all=True))  # "timed out": pending, retry 1
    assert messages_of(tenant_ctx.tenant_id, [mid])[mid].status.value == "pending"
    receipt = Receipt(mid, tenant_ctx.tenant_id, account.id, delivered=True, at=utcnow())
    with transaction(tenant_ctx.tenant_id) as s:
        assert apply_receipts(s, [receipt], utcnow()) == [None]  # applied
    assert messages_of(tenant_ctx.tenant_id, [mid])[mid].status.value == "delivered"


# ---------------------------------------------------------------- delivery


def test_delivery_is_signed_and_retried_after_a_failure(make_tenant, receiver, allow_local):
    world = hooked(make_tenant, receiver.url)
    secret = webhooks.create_secret(world.ctx)
    assert secret.startswith("whsec_")
    account = make_account(world.ctx)
    accounts.change_status(world.ctx, account.id, "offline", reason="unplugged")
    receiver.answers = [500]  # the first attempt fails

    assert deliver(allow_local, world.ctx.tenant_id) == ["pending"]
    (row,) = outbox(world.ctx.tenant_id)
    assert (row.status, row.attempts, row.last_status_code) == (OutboxStatus.PENDING, 1, 500)
    assert row.last_error == "HTTP 500: receiver says no"
    delay = timedelta(seconds=allow_local.webhook_retry_seconds[0])
    assert row.next_attempt_at >= row.last_attempt_at + delay - timedelta(seconds=1)
    deliver(allow_local, world.ctx.tenant_id)
    assert outbox(world.ctx.tenant_id)[0].attempts == 1  # not due yet

    assert deliver(allow_local, world.ctx.tenant_id, now=utcnow() + delay) == ["delivered"]
    (row,) = outbox(world.ctx.tenant_id)
    assert (row.status, row.attempts, row.last_status_code) == (OutboxStatus.DELIVERED, 2, 200)
    assert row.last_error is None and row.delivered_at is not None

    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == row.id
    for request in (first, second):
        body = Webhook(secret).verify(request.body, request.headers)  # raises if wrong
        assert body["type"] == "account.offline"
        assert body["data"]["account_id"] == account.id
        assert body["data"]["reason"] == "unplugged"
        with pytest.raises(WebhookVerificationError):
            Webhook(webhooks.new_secret()).verify(request.body, request.headers)
        tampered = request.body.replace(b"unplugged", b"plugged!!")
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(tampered, request.headers)
    assert secret.encode() not in first.body and b"whsec_" not in first.body


def test_after_a_rotation_both_secrets_verify(make_tenant, receiver, allow_local):
    world = hooked(make_tenant, receiver.url)
    old = webhooks.create_secret(world.ctx)
    new = webhooks.create_secret(world.ctx)
    info = webhooks.secret_info(world.ctx)
    assert info.exists and info.previous_valid_until is not None
    accounts.change_status(world.ctx, make_account(world.ctx).id, "offline")
    assert deliver(allow_local, world.ctx.tenant_id) == ["delivered"]
    (request,) = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)


def test_the_stored_secret_is_encrypted(make_tenant, primary):
    from sqlalchemy import text

    world = hooked(make_tenant)
    secret = webhooks.create_secret(world.ctx)
    with primary.connect() as conn:
        stored = conn.execute(
            text("SELECT secret FROM tenant_webhook_secrets WHERE tenant_id = :t"),
            {"t": world.ctx.tenant_id}).scalar()
    assert stored and secret not in stored and secret[6:] not in stored


def test_no_secret_waits_and_gone_fails_at_once(make_tenant, receiver, allow_local):
    world = hooked(make_tenant, receiver.url)
    accounts.change_status(world.ctx, make_account(world.ctx).id, "offline")
    assert deliver(allow_local, world.ctx.tenant_id) == ["pending"]
    (row,) = outbox(world.ctx.tenant_id)
    assert "no signing secret" in row.last_error and receiver.requests == []

    webhooks.create_secret(world.ctx)
    receiver.answers = [410]
    later = utcnow() + timedelta(seconds=allow_local.webhook_retry_seconds[0])
    assert deliver(allow_local, world.ctx.tenant_id, now=later) == ["failed"]
    (row,) = outbox(world.ctx.tenant_id)
    assert (row.status, row.last_status_code) == (OutboxStatus.FAILED, 410)


def test_gives_up_after_the_window(make_tenant, receiver, allow_local):
    world = hooked(make_tenant, receiver.url)
    webhooks.create_secret(world.ctx)
    accounts.change_status(world.ctx, make_account(world.ctx).id, "offline")
    receiver.answers = [503] * 10
    now = utcnow()
    give_up = timedelta(hours=allow_local.webhook_give_up_hours)
    outcomes = []
    for _ in range(10):
        outcomes += deliver(allow_local, world.ctx.tenant_id, now=now)
        (row,) = outbox(world.ctx.tenant_id)
        if row.status is OutboxStatus.FAILED:
            break
        now = row.next_attempt_at
    assert row.status is OutboxStatus.FAILED
    assert row.last_attempt_at <= row.created_at + give_up
    assert row.attempts == len(receiver.requests) == len(outcomes)
    assert set(outcomes[:-1]) == {"pending"} and outcomes[-1] == "failed"
    # the schedule's entries, the last repeating, until the next one would pass the window
    assert len(outcomes) == 1 + sum(1 for _ in retry_times(allow_local, give_up))


def test_private_addresses_are_refused_by_default(make_tenant, receiver, settings):
    world = hooked(make_tenant, receiver.url)
    webhooks.create_secret(world.ctx)
    accounts.change_status(world.ctx, make_account(world.ctx).id, "offline")
    assert not settings.webhook_allow_private_networks
    assert deliver(settings, world.ctx.tenant_id) == ["failed"]
    (row,) = outbox(world.ctx.tenant_id)
    assert "private" in row.last_error and receiver.requests == []
    assert "t0k3n" not in row.last_error  # the URL (and its token) is never in an error


def test_the_worker_delivers_and_retries_on_its_own(make_tenant, receiver, allow_local):
    world = hooked(make_tenant, receiver.url)
    secret = webhooks.create_secret(world.ctx)
    receiver.answers = [502]
    accounts.change_status(world.ctx, make_account(world.ctx).id, "offline")
    with running_worker(fast(allow_local, webhook_retry_seconds=[1.0]),
                        gateway=RecordingGateway(), jobs=[]):
        wait_for(lambda: outbox(world.ctx.tenant_id)[0].status is OutboxStatus.DELIVERED,
                 timeout=30, what="the webhook to be delivered after one failure")
    assert [r.headers["webhook-id"] for r in receiver.requests] == [
        outbox(world.ctx.tenant_id)[0].id] * 2
    Webhook(secret).verify(receiver.requests[1].body, receiver.requests[1].headers)


# ---------------------------------------------------------------- tenant view


def test_deliveries_are_listed_and_replayed_within_the_tenant(make_tenant, receiver,
                                                              allow_local):
    a = hooked(make_tenant, receiver.url)
    b = hooked(make_tenant, receiver.url)
    webhooks.create_secret(a.ctx)
    accounts.change_status(a.ctx, make_account(a.ctx).id, "offline")
    accounts.change_status(b.ctx, make_account(b.ctx).id, "offline")
    (mine,) = webhooks.list_deliveries(a.ctx).items
    assert [d.id for d in webhooks.list_deliveries(b.ctx).items] != [mine.id]
    with pytest.raises(NotFoundError):
        webhooks.replay_deliveries(b.ctx, [mine.id])  # another tenant's: not found
    with pytest.raises(PermissionDeniedError):
        webhooks.list_deliveries(a.user_ctx("operator"))
    with pytest.raises(PermissionDeniedError):
        webhooks.create_secret(a.user_ctx("operator"))
    with pytest.raises(ValidationError) as err:
        webhooks.list_deliveries(a.ctx, status="lost")
    assert err.value.field == "status"

    deliver(allow_local, a.ctx.tenant_id)
    assert webhooks.list_deliveries(a.ctx, status="delivered").items[0].id == mine.id
    assert webhooks.replay_deliveries(a.ctx, [mine.id]) == 1
    (again,) = webhooks.list_deliveries(a.ctx).items
    assert again.status is OutboxStatus.PENDING
    assert deliver(allow_local, a.ctx.tenant_id) == ["delivered"]
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert ids.count(mine.id) == 2  # sent again, with the same webhook-id


def test_purge_keeps_what_is_recent_or_unfinished(make_tenant, receiver, allow_local):
    world = hooked(make_tenant, receiver.url)
    webhooks.create_secret(world.ctx)
    for _ in range(3):
        accounts.change_status(world.ctx, make_account(world.ctx).id, "offline")
    assert deliver(allow_local, world.ctx.tenant_id) == ["delivered"] * 3
    rows = outbox(world.ctx.tenant_id)
    with transaction(world.ctx.tenant_id) as s:  # two of them 31 days old, one still pending
        old = s.get(WebhookOutbox, rows[0].id)
        old.created_at = utcnow() - timedelta(days=31)
        stuck = s.get(WebhookOutbox, rows[1].id)
        stuck.created_at = utcnow() - timedelta(days=31)
        stuck.status = OutboxStatus.PENDING
    assert webhooks.purge_finished(30) >= 1
    assert {r.id for r in outbox(world.ctx.tenant_id)} == {rows[1].id, rows[2].id}
