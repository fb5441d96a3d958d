"""Messages: content rules per type, priority, quota, enqueue_many, cancel, list."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from messaging_helpers import make_account, messages_of, text_rows
from sqlalchemy import func, select, update

from wework.enums import MessageStatus
from wework.errors import (
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    ValidationError,
)
from wework.models import Message, TenantDailyQuota
from wework.services import messages
from wework.services.content import validate_content
from wework.services.uow import transaction

BAD_CONTENT = [
    ("text", {}, "content.text"),
    ("text", {"text": "   "}, "content.text"),
    ("text", {"text": "x" * 5000}, "content.text"),
    ("image", {}, "content.url"),
    ("image", {"url": "ftp://x"}, "content.url"),
    ("file", {"filename": "a.pdf"}, "content.url"),
    ("link", {"url": "https://x.example"}, "content.title"),
    ("link", {"title": "t"}, "content.url"),
    ("miniprogram", {"title": "t", "pagepath": "p"}, "content.appid"),
    ("miniprogram", {"appid": "wx1", "title": "t"}, "content.pagepath"),
    ("at", {"text": "hi"}, "content.mentions"),
    ("at", {"mentions": []}, "content.mentions"),
    ("at", {"mentions": ["u1", ""]}, "content.mentions[1]"),
    ("video", {"url": "https://x"}, "message_type"),
]
GOOD_CONTENT = [
    ("text", {"text": "hello"}),
    ("image", {"media_id": "m1"}),
    ("file", {"url": "https://f.example/a.pdf", "filename": "a.pdf"}),
    ("link", {"title": "t", "url": "https://x.example"}),
    ("miniprogram", {"appid": "wx1", "title": "t", "pagepath": "pages/i", "thumb_url": "https://t"}),
    ("at", {"mentions": ["u1", "u2"], "text": "hi"}),
    ("at", {"mentions": "all"}),
]


@pytest.mark.parametrize(("mtype", "content", "field"), BAD_CONTENT)
def test_bad_content_is_refused_naming_the_field(mtype, content, field):
    with pytest.raises(ValidationError) as err:
        validate_content(mtype, content)
    assert err.value.field == field


@pytest.mark.parametrize(("mtype", "content"), GOOD_CONTENT)
def test_good_content_of_every_type_is_accepted(mtype, content):
    assert validate_content(mtype, content) == content


def test_send_message_enqueues_pending_and_reads_back(tenant_ctx):
    account = make_account(tenant_ctx)
    when = datetime.now(UTC) + timedelta(hours=1)
    m = messages.send_message(
        tenant_ctx, account_id=account.id, conversation_id="c1", message_type="text",
        content={"text": "hi"}, priority=9, scheduled_time=when,
    )
    got = messages.get_message(tenant_ctx, m.id)
    assert got.status is MessageStatus.PENDING
    assert got.priority == 9
    assert got.scheduled_time == when.replace(tzinfo=None, microsecond=0)


@pytest.mark.parametrize("priority", [0, 11, "5", 2.5, True])
def test_priority_out_of_range_is_refused(tenant_ctx, priority):
    account = make_account(tenant_ctx)
    with pytest.raises(ValidationError) as err:
        messages.send_message(
            tenant_ctx, account_id=account.id, conversation_id="c", message_type="text",
            content={"text": "x"}, priority=priority,
        )
    assert err.value.field == "priority"


def test_bad_content_through_the_service_writes_nothing(tenant_ctx):
    account = make_account(tenant_ctx)
    with pytest.raises(ValidationError) as err:
        messages.send_message(tenant_ctx, account_id=account.id, conversation_id="c",
                              message_type="link", content={"title": "t"})
    assert err.value.field == "content.url"
    assert messages_of(tenant_ctx.tenant_id) == {}


def test_daily_quota_is_enforced_on_both_paths(make_tenant):
    world = make_tenant(max_daily_messages=3)
    ctx = world.ctx
    account = make_account(ctx)
    messages.enqueue_many(ctx, text_rows(account.id, 2))
    with pytest.raises(QuotaExceededError) as err:
        messages.enqueue_many(ctx, text_rows(account.id, 2))
    assert err.value.field == "max_daily_messages"
    assert len(messages_of(ctx.tenant_id)) == 2  # nothing half-written
    messages.send_message(ctx, account_id=account.id, conversation_id="c", message_type="text",
                          content={"text": "3rd"})
    with pytest.raises(QuotaExceededError):
        messages.send_message(ctx, account_id=account.id, conversation_id="c",
                              message_type="text", content={"text": "4th"})
    assert len(messages_of(ctx.tenant_id)) == 3


def test_enqueue_many_refuses_the_whole_call_naming_the_row(tenant_ctx):
    account = make_account(tenant_ctx)
    rows = text_rows(account.id, 3)
    rows[1]["content"] = {"text": ""}
    with pytest.raises(ValidationError) as err:
        messages.enqueue_many(tenant_ctx, rows)
    assert err.value.field == "rows[1].content.text"
    assert messages_of(tenant_ctx.tenant_id) == {}
    ids = messages.enqueue_many(tenant_ctx, text_rows(account.id, 50))
    stored = messages_of(tenant_ctx.tenant_id)
    assert set(ids) == set(stored) and len(ids) == 50
    assert {m.status for m in stored.values()} == {MessageStatus.PENDING}
    assert stored[ids[7]].content == {"text": "hello 7"}


def test_other_tenants_account_and_message_look_missing(make_tenant):
    a, b = make_tenant(), make_tenant()
    account_a = make_account(a.ctx)
    with pytest.raises(NotFoundError) as err:
        messages.send_message(b.ctx, account_id=account_a.id, conversation_id="c",
                              message_type="text", content={"text": "x"})
    assert err.value.entity == "account_id"
    m = messages.send_message(a.ctx, account_id=account_a.id, conversation_id="c",
                              message_type="text", content={"text": "x"})
    with pytest.raises(NotFoundError):
        messages.get_message(b.ctx, m.id)
    with pytest.raises(NotFoundError):
        messages.cancel_message(b.ctx, m.id)
    assert messages.list_messages(b.ctx, fresh=True).items == []


def test_missing_permission_is_refused(world):
    analyst = world.user_ctx("analyst")
    account = make_account(world.ctx)
    with pytest.raises(PermissionDeniedError):
        messages.send_message(analyst, account_id=account.id, conversation_id="c",
                              message_type="text", content={"text": "x"})
    with pytest.raises(PermissionDeniedError):
        messages.enqueue_many(analyst, text_rows(account.id, 1))
    assert messages.list_messages(analyst, fresh=True).items == []  # report:view may read


def test_cancel_only_while_pending(tenant_ctx):
    account = make_account(tenant_ctx)
    m = messages.send_message(tenant_ctx, account_id=account.id, conversation_id="c",
                              message_type="text", content={"text": "x"})
    assert messages.cancel_message(tenant_ctx, m.id).status is MessageStatus.CANCELLED
    with pytest.raises(InvalidTransitionError):
        messages.cancel_message(tenant_ctx, m.id)


def test_a_send_commits_while_a_cancel_is_open(tenant_ctx, monkeypatch):
    """A cancel locks the message it cancels, and nothing else: a new message of the same
    tenant is sent while the cancel of the newest one is still open. (Locking by ``id``
    alone, a prefix of the primary key ``(id, created_at)``, also locked the gap after
    the newest message under REPEATABLE READ, where every new message id goes: sends
    waited for the cancel to commit.)"""
    account = make_account(tenant_ctx)
    newest = messages.send_message(tenant_ctx, account_id=account.id, conversation_id="c",
                                   message_type="text", content={"text": "x"})
    held, released = threading.Event(), threading.Event()
    waited: list[bool] = []
    change_status = messages.change_status

    def held_open(session, message, status, now):
        change_status(session, message, status, now)
        held.set()
        waited.append(released.wait(timeout=10))

    monkeypatch.setattr(messages, "change_status", held_open)
    cancelled: list = []
    holder = threading.Thread(
        target=lambda: cancelled.append(messages.cancel_message(tenant_ctx, newest.id)))
    holder.start()
    try:
        assert held.wait(timeout=30)
        sent = messages.send_message(tenant_ctx, account_id=account.id, conversation_id="c",
                                     message_type="text", content={"text": "after"})
    finally:
        released.set()
        holder.join(timeout=60)
    assert waited == [True], "the send waited for the open cancel to commit"
    assert [m.status for m in cancelled] == [MessageStatus.CANCELLED]
    stored = messages_of(tenant_ctx.tenant_id, [newest.id, sent.id])
    assert {i: m.status for i, m in stored.items()} == {
        newest.id: MessageStatus.CANCELLED, sent.id: MessageStatus.PENDING}


def test_illegal_status_transition_is_refused(tenant_ctx):
    account = make_account(tenant_ctx)
    m = messages.send_message(tenant_ctx, account_id=account.id, conversation_id="c",
                              message_type="text", content={"text": "x"})
    with transaction(tenant_ctx.tenant_id) as s, pytest.raises(InvalidTransitionError):
        msg = messages.lock_message(s, m.id)
        messages.change_status(s, msg, MessageStatus.DELIVERED, msg.created_at)
    assert messages.get_message(tenant_ctx, m.id).status is MessageStatus.PENDING


def test_list_messages_is_cursor_paged(tenant_ctx):
    account = make_account(tenant_ctx)
    ids = set(messages.enqueue_many(tenant_ctx, text_rows(account.id, 7)))
    seen, cursor = [], None
    while True:
        page = messages.list_messages(tenant_ctx, limit=3, cursor=cursor, fresh=True)
        seen += [m.id for m in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == 7 and set(seen) == ids
    with pytest.raises(ValidationError) as err:
        messages.list_messages(tenant_ctx, status="bogus")
    assert err.value.field == "status"


def test_quota_counts_only_today(make_tenant):
    world = make_tenant(max_daily_messages=2)
    account = make_account(world.ctx)
    messages.enqueue_many(world.ctx, text_rows(account.id, 2))
    with transaction(world.ctx.tenant_id) as s:  # yesterday's messages do not count
        for m in s.scalars(select(Message).where(Message.tenant_id == world.ctx.tenant_id)):
            m.created_at = m.created_at - timedelta(days=1)
        # ... nor what they took of yesterday's quota (the counters are per UTC day)
        s.execute(update(TenantDailyQuota)
                  .where(TenantDailyQuota.tenant_id == world.ctx.tenant_id)
                  .values(day=func.subdate(TenantDailyQuota.day, 1)))
    messages.enqueue_many(world.ctx, text_rows(account.id, 2))
    with transaction(world.ctx.tenant_id) as s:
        total = s.scalar(select(func.count()).select_from(Message)
                         .where(Message.tenant_id == world.ctx.tenant_id))
    assert total == 4


def test_suspended_tenant_cannot_send_and_super_admin_can_read(make_tenant, super_ctx):
    from wework.services import tenants

    world = make_tenant()
    account = make_account(world.ctx)
    m = messages.send_message(world.ctx, account_id=account.id, conversation_id="c",
                              message_type="text", content={"text": "x"})
    as_super = super_ctx.for_tenant(world.ctx.tenant_id)
    assert messages.get_message(as_super, m.id).id == m.id
    tenants.suspend_tenant(super_ctx, world.ctx.tenant_id)
    with pytest.raises(ValidationError) as err:
        messages.send_message(world.ctx, account_id=account.id, conversation_id="c",
                              message_type="text", content={"text": "y"})
    assert err.value.field == "tenant.status"
