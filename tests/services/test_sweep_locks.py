"""The worker's sweeps hold back no intake.

Each sweep finds its rows with a locking read by status: expired send claims, stranded
callback events, finished batches, stale heartbeats, due webhook deliveries. Under the
server's REPEATABLE READ that read also locked the gap after the last row it scanned,
which is where every new row of that status goes (ids are UUIDv7): a send, a callback's
intake, a new batch and every transaction that records a webhook event waited for the
sweep to commit (the webhook sweep runs every second). The heartbeat sweep locked every
online account it looked at. Each test holds a sweep open right after its locking read
and makes the intake's write meanwhile; the write must not wait (uow.READ_COMMITTED)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from messaging_helpers import make_account
from sqlalchemy import Engine, event

from wework.enums import MessageStatus, WebhookEvent
from wework.gateway.base import NotifyType, make_event
from wework.models import WeworkAccount
from wework.models.base import utcnow
from wework.services import (
    accounts,
    batches,
    callbacks,
    dispatcher,
    messages,
    tenants,
    webhooks,
)
from wework.services.context import ServiceContext
from wework.services.uow import transaction

HOLD_SECONDS = 10.0  # a write held back waits this long, then the sweep lets go


@contextmanager
def held_open(*fragments: str) -> Iterator[tuple[threading.Event, threading.Event, list]]:
    """The first statement whose SQL holds every fragment, run by any thread, keeps its
    transaction open right after it ran: ``held`` is set then, and the thread waits for
    ``released``, at most HOLD_SECONDS. Yields (held, released, let_go): ``let_go`` gets
    True when the thread was released, False when it gave up waiting."""
    held, released, let_go = threading.Event(), threading.Event(), []

    def hold(conn, cursor, statement, *args) -> None:
        if not held.is_set() and all(f in statement for f in fragments):
            held.set()
            let_go.append(released.wait(HOLD_SECONDS))

    event.listen(Engine, "after_cursor_execute", hold)
    try:
        yield held, released, let_go
    finally:
        released.set()
        event.remove(Engine, "after_cursor_execute", hold)


def assert_not_held_back(sweep: Callable[[], object], fragments: tuple[str, ...],
                         write: Callable[[], object]) -> None:
    """Run ``sweep`` in a thread, held open after its locking read (``fragments``), and
    ``write`` meanwhile: the write must commit while the sweep is still held. (Held
    back, it would wait until the sweep gave up after HOLD_SECONDS.)"""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            sweep()
        except BaseException as e:  # reported below, not lost in the thread
            failures.append(e)

    with held_open(*fragments) as (held, released, let_go):
        sweeper = threading.Thread(target=run)
        sweeper.start()
        try:
            assert held.wait(timeout=30), f"the sweep never ran {fragments}"
            write()
        finally:
            released.set()
            sweeper.join(timeout=60)
    assert let_go == [True], "the write waited for the sweep's transaction"
    assert not failures, failures


FOR_UPDATE = "FOR UPDATE SKIP LOCKED"


def send(ctx: ServiceContext, account: WeworkAccount) -> Callable[[], object]:
    return lambda: messages.send_message(ctx, account_id=account.id, conversation_id="c",
                                         message_type="text", content={"text": "x"})


def test_a_send_goes_through_while_expired_claims_are_swept(tenant_ctx):
    account = make_account(tenant_ctx)
    send(tenant_ctx, account)()  # a pending message before the one sent meanwhile
    assert_not_held_back(
        lambda: dispatcher.recover_expired_claims(timedelta(0)),
        ("FROM messages", FOR_UPDATE),
        send(tenant_ctx, account),
    )


def test_a_callback_is_stored_while_stranded_events_are_swept(tenant_ctx):
    account = make_account(tenant_ctx)

    def body() -> str:
        return make_event(account.guid, NotifyType.MESSAGE_RECEIPT,
                          {"message_id": "m", "status": "delivered"})

    callbacks.store_raw(body())  # a received event before the one stored meanwhile
    assert_not_held_back(
        lambda: callbacks.replay(status="received", limit=1,
                                 received_before=utcnow() + timedelta(minutes=1)),
        ("FROM callback_events", FOR_UPDATE),
        lambda: callbacks.store_raw(body()),
    )


def test_a_batch_is_created_while_finished_batches_are_swept(tenant_ctx):
    account = make_account(tenant_ctx)

    def create() -> object:
        return batches.create_batch(
            tenant_ctx, task_name="b", account_id=account.id, target_type="manual",
            target_config={"conversation_ids": ["a"]}, message_type="text",
            content={"text": "x"})

    create()  # a running batch before the one created meanwhile
    assert_not_held_back(batches.complete_finished_batches,
                         ("FROM batch_send_tasks", FOR_UPDATE), create)


def test_a_webhook_event_is_recorded_while_deliveries_are_claimed(tenant_ctx):
    tenants.update_tenant(tenant_ctx, tenant_ctx.tenant_id,
                          webhook_url="https://hooks.example.com/x")

    def record() -> None:
        with transaction(tenant_ctx.tenant_id) as s:
            assert webhooks.record_event(s, tenant_ctx.tenant_id, WebhookEvent.MESSAGE_FAILED,
                                         {"message_id": "m"}, utcnow()) == 1

    record()  # a pending delivery before the one recorded meanwhile
    assert_not_held_back(
        # Claims the delivery recorded first (marks it delivering; nothing is sent).
        lambda: webhooks.claim_due(0, 1, timedelta(seconds=30)),
        ("FROM webhook_outbox", FOR_UPDATE),
        record,
    )


def test_an_expired_claim_is_still_recovered_once(tenant_ctx):
    """READ COMMITTED changes what a sweep locks, not what it finds."""
    m = send(tenant_ctx, make_account(tenant_ctx))()
    with transaction(tenant_ctx.tenant_id) as s:
        msg = messages.lock_message(s, m.id)
        messages.change_status(s, msg, MessageStatus.SENDING, utcnow(),
                                send_time=utcnow() - timedelta(minutes=5))
    assert dispatcher.recover_expired_claims(timedelta(0)) >= 1
    assert messages.get_message(tenant_ctx, m.id).status is MessageStatus.PENDING
    assert dispatcher.recover_expired_claims(timedelta(0)) == 0


def test_a_stranded_event_is_still_taken_once(tenant_ctx):
    """READ COMMITTED changes what a sweep locks, not what it finds."""
    account = make_account(tenant_ctx)
    stored = callbacks.store_raw(make_event(account.guid, NotifyType.ACCOUNT_HEARTBEAT, {}))
    before = utcnow() + timedelta(seconds=5)
    taken = callbacks.replay(status="received", limit=1000, received_before=before)
    assert stored.id in {e.id for e in taken}
    again = callbacks.replay(status="received", limit=1000, received_before=before)
    assert stored.id not in {e.id for e in again}


def test_a_heartbeat_is_applied_while_stale_accounts_are_swept(tenant_ctx):
    """The heartbeat sweep scans the online accounts in id order; under REPEATABLE READ
    its read locked every one it looked at, stale or not, and their heartbeats waited."""
    account = make_account(tenant_ctx)  # online, its heartbeat just now: not stale
    beat = make_event(account.guid, NotifyType.ACCOUNT_HEARTBEAT, {})
    assert_not_held_back(
        lambda: accounts.sweep_stale_heartbeats(timeout_seconds=3600),
        ("FROM wework_accounts", FOR_UPDATE),
        lambda: callbacks.ingest(beat),
    )
