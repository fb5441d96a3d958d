"""Property test: random sequences of messaging operations keep the invariants.

Operations: enqueue single messages, create batches, dispatch (through a gateway that
succeeds or fails), delivery / failure receipts through callback ingestion, cancel a
message, pause / resume / cancel a batch, account status changes (legal or not), and
time passing (retries become due). After every operation:

- every batch's stored counters equal the counts recomputed from its messages;
- the account's last status history row equals its status;
- nothing of the tenant is visible from another tenant.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from messaging_helpers import RecordingGateway, batch_invariant, make_account, text_rows
from sqlalchemy import select

from wework.enums import AccountStatus
from wework.errors import NotFoundError, ServiceError
from wework.gateway.base import NotifyType, make_event
from wework.models import AccountStatusHistory, BatchSendTask, Message, utcnow
from wework.services import accounts, batches, callbacks, messages
from wework.services.dispatcher import dispatch_once
from wework.services.uow import transaction

INDEX = st.integers(min_value=0, max_value=50)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), st.integers(1, 3)),
        st.tuples(st.just("batch"), st.integers(1, 4)),
        st.tuples(st.just("dispatch"), st.booleans()),
        st.tuples(st.just("receipt"), INDEX, st.sampled_from(["delivered", "failed"])),
        st.tuples(st.just("cancel_message"), INDEX),
        st.tuples(st.sampled_from(["pause", "resume", "cancel"]), INDEX),
        st.tuples(st.just("account"), st.sampled_from(list(AccountStatus))),
        st.tuples(st.just("later"), st.integers(1, 10)),
    ),
    min_size=1,
    max_size=10,
)


def check_invariants(world, other, account):
    tid = world.ctx.tenant_id
    with transaction(tid) as s:
        batch_ids = list(s.scalars(select(BatchSendTask.id).where(BatchSendTask.tenant_id == tid)))
        message_ids = list(s.scalars(select(Message.id).where(Message.tenant_id == tid)))
        status = s.scalar(
            select(AccountStatusHistory.new_status)
            .where(AccountStatusHistory.account_id == account.id)
            .order_by(AccountStatusHistory.created_at.desc(), AccountStatusHistory.id.desc())
            .limit(1)
        )
    for batch_id in batch_ids:
        stored, expected = batch_invariant(tid, batch_id)
        assert stored == expected, batch_id
    assert status == accounts.get_account(world.ctx, account.id).status.value
    # Nothing of this tenant is visible from the other one.
    for message_id in message_ids[:5]:
        with pytest.raises(NotFoundError):
            messages.get_message(other.ctx, message_id)
    for batch_id in batch_ids[:5]:
        with pytest.raises(NotFoundError):
            batches.get_batch(other.ctx, batch_id)
    with pytest.raises(NotFoundError):
        accounts.get_account(other.ctx, account.id)
    seen = {m.id for m in messages.list_messages(other.ctx, fresh=True, limit=500).items}
    assert not seen & set(message_ids)
    return message_ids, batch_ids


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS)
@example(  # one sequence that surely touches every counter path, beside the random ones
    operations=[
        ("batch", 3),
        ("dispatch", False),
        ("receipt", 0, "delivered"),
        ("receipt", 1, "failed"),
        ("enqueue", 2),
        ("batch", 2),
        ("pause", 1),
        ("dispatch", True),
        ("later", 5),
        ("dispatch", False),
        ("cancel", 1),
        ("account", AccountStatus.OFFLINE),
        ("dispatch", False),
        ("cancel_message", 3),
    ]
)
def test_random_operation_sequences_keep_the_invariants(make_tenant, operations):
    world, other = make_tenant(), make_tenant()
    ctx = world.ctx
    account = make_account(ctx)
    now = utcnow()
    message_ids: list[str] = []
    batch_ids: list[str] = []
    for op, *args in operations:
        try:
            if op == "enqueue":
                messages.enqueue_many(ctx, text_rows(account.id, args[0]))
            elif op == "batch":
                batches.create_batch(
                    ctx,
                    task_name="p",
                    account_id=account.id,
                    target_type="manual",
                    target_config={"conversation_ids": [f"c{i}" for i in range(args[0])]},
                    message_type="text",
                    content={"text": "hi"},
                )
            elif op == "dispatch":
                dispatch_once(RecordingGateway(fail_all=args[0]), now=now, limit=20)
            elif op == "receipt" and message_ids:
                mid = message_ids[args[0] % len(message_ids)]
                callbacks.ingest(
                    make_event(
                        account.guid,
                        NotifyType.MESSAGE_RECEIPT,
                        {"message_id": mid, "status": args[1]},
                    )
                )
            elif op == "cancel_message" and message_ids:
                messages.cancel_message(ctx, message_ids[args[0] % len(message_ids)])
            elif op in ("pause", "resume", "cancel") and batch_ids:
                action = getattr(batches, f"{op}_batch")
                action(ctx, batch_ids[args[0] % len(batch_ids)])
            elif op == "account":
                accounts.change_status(ctx, account.id, args[0], reason="property test")
            elif op == "later":
                now = now + timedelta(minutes=args[0])
        except ServiceError:
            pass  # refusals (illegal transitions, …) are part of the sequence
        message_ids, batch_ids = check_invariants(world, other, account)
