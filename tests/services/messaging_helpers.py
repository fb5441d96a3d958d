"""Helpers for the messaging tests (messages, templates, batches, dispatcher, callbacks).

Accounts and conversations are inserted directly (with the account's first history row,
so the "last history row equals the status" invariant holds from the start): these tests
are about messaging, and need accounts in a given state without running a login flow.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event, select

from wework.enums import AccountStatus, ConversationType
from wework.gateway.base import SendRequest, SendResult
from wework.models import (
    AccountStatusHistory,
    BatchSendTask,
    Conversation,
    Message,
    WeworkAccount,
    utcnow,
)
from wework.services.batches import counts_from_messages, stored_counts
from wework.services.context import ServiceContext
from wework.services.uow import transaction


def make_account(
    ctx: ServiceContext, status: str = "online", guid: str | None = None
) -> WeworkAccount:
    now = utcnow()
    account = WeworkAccount(
        tenant_id=ctx.tenant_id,
        account_name=f"acct-{uuid.uuid4().hex[:10]}",
        guid=guid or f"guid-{uuid.uuid4().hex}",
        status=AccountStatus(status),
        login_retry_count=0,
        last_login_time=now if status == "online" else None,
        last_heartbeat_time=now if status == "online" else None,
    )
    with transaction(ctx.tenant_id) as s:
        s.add(account)
        s.flush()
        s.add(
            AccountStatusHistory(
                account_id=account.id, old_status=None, new_status=status, reason="test setup",
                operator_type="system", created_at=now,
            )
        )
    return account


def make_conversations(
    account: WeworkAccount,
    n: int,
    conversation_type: str = "private",
    tags: list[str] | None = None,
    prefix: str = "conv",
) -> list[str]:
    ids = [f"{prefix}-{uuid.uuid4().hex[:12]}" for _ in range(n)]
    with transaction(account.tenant_id) as s:
        for cid in ids:
            s.add(
                Conversation(
                    account_id=account.id,
                    conversation_id=cid,
                    conversation_type=ConversationType(conversation_type),
                    tags=tags,
                    is_active=True,
                )
            )
    return ids


def text_rows(account_id: str, n: int, **extra) -> list[dict]:
    return [
        {
            "account_id": account_id,
            "conversation_id": f"c-{i}",
            "message_type": "text",
            "content": {"text": f"hello {i}"},
            **extra,
        }
        for i in range(n)
    ]


def messages_of(tenant_id: str, ids: Iterable[str] | None = None) -> dict[str, Message]:
    with transaction(tenant_id) as s:
        stmt = select(Message).where(Message.tenant_id == tenant_id)
        if ids is not None:
            stmt = stmt.where(Message.id.in_(list(ids)))
        return {m.id: m for m in s.scalars(stmt)}


def batch_invariant(tenant_id: str, batch_id: str) -> tuple[dict, dict]:
    """(stored counters, counters recomputed from the messages)."""
    with transaction(tenant_id) as s:
        task = s.scalar(select(BatchSendTask).where(BatchSendTask.id == batch_id))
        return stored_counts(task), counts_from_messages(s, batch_id)


class RecordingGateway:
    """Gateway for tests: records every request; fails the message ids in ``fail_ids``
    (or every send when ``fail_all``). Thread-safe."""

    def __init__(self, fail_all: bool = False, retryable: bool = True):
        self.fail_all = fail_all
        self.retryable = retryable
        self.fail_ids: set[str] = set()
        self.requests: list[SendRequest] = []
        self._lock = threading.Lock()

    def send(self, request: SendRequest) -> SendResult:
        with self._lock:
            self.requests.append(request)
        if self.fail_all or request.message_id in self.fail_ids:
            return SendResult(False, None, "E_TEST", "test failure", self.retryable)
        return SendResult(True, f"wx-{request.message_id[:8]}")

    def sent_for(self, tenant_id: str) -> list[str]:
        return [r.message_id for r in self.requests if r.tenant_id == tenant_id]


@contextmanager
def sql_statements() -> Iterator[list[str]]:
    """Every SQL statement any engine of this process sends inside the block, in order."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)
