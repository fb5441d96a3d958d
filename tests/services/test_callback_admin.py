"""Listing failed callback events and replaying chosen ones (the app's Callback events page)."""

from __future__ import annotations

import uuid

import pytest
from messaging_helpers import make_account

from wework.enums import CallbackStatus
from wework.errors import NotFoundError, PermissionDeniedError, ValidationError
from wework.gateway.base import NotifyType, make_event
from wework.services import callbacks


def failed_receipt(guid: str) -> str:
    """A receipt for a message that does not exist: it is stored and fails."""
    event = callbacks.ingest(make_event(guid, NotifyType.MESSAGE_RECEIPT,
                                        {"message_id": str(uuid.uuid4()), "status": "delivered"}))
    assert event.status is CallbackStatus.FAILED
    return event.id


def test_a_tenant_lists_only_its_own_accounts_failed_events(make_tenant):
    mine, theirs = make_tenant(), make_tenant()
    my_account = make_account(mine.ctx, guid=f"guid-{uuid.uuid4().hex}")
    their_account = make_account(theirs.ctx, guid=f"guid-{uuid.uuid4().hex}")
    my_event, their_event = failed_receipt(my_account.guid), failed_receipt(their_account.guid)
    page = callbacks.list_events(mine.ctx, status="failed", limit=500)
    ids = {e.id for e in page.items}
    assert my_event in ids and their_event not in ids
    assert all(e.error_message for e in page.items)


def test_super_admin_sees_every_tenants_events(make_tenant, super_ctx):
    world = make_tenant()
    account = make_account(world.ctx, guid=f"guid-{uuid.uuid4().hex}")
    event_id = failed_receipt(account.guid)
    seen = set()
    cursor = None
    while True:  # walk the keyset pages until the event shows up
        page = callbacks.list_events(super_ctx, status="failed", limit=50, cursor=cursor)
        seen |= {e.id for e in page.items}
        if event_id in seen or not page.has_next:
            break
        cursor = page.next_cursor
    assert event_id in seen


def test_replay_chosen_events_and_refuse_other_tenants(make_tenant):
    mine, theirs = make_tenant(), make_tenant()
    account = make_account(mine.ctx, guid=f"guid-{uuid.uuid4().hex}")
    other = make_account(theirs.ctx, guid=f"guid-{uuid.uuid4().hex}")
    first, second = failed_receipt(account.guid), failed_receipt(account.guid)
    foreign = failed_receipt(other.guid)
    with pytest.raises(NotFoundError):
        callbacks.replay_events(mine.ctx, [first, foreign])
    # Nothing was touched by the refused call.
    assert callbacks.get_event(first).retry_count == 0
    replayed = callbacks.replay_events(mine.ctx, [first])
    assert [e.id for e in replayed] == [first]
    assert callbacks.get_event(first).retry_count == 1
    assert callbacks.get_event(second).retry_count == 0


def test_list_and_replay_need_the_permission_and_valid_input(make_tenant):
    world = make_tenant()
    analyst = world.user_ctx("analyst")
    with pytest.raises(PermissionDeniedError):
        callbacks.list_events(analyst, status="failed")
    with pytest.raises(PermissionDeniedError):
        callbacks.replay_events(analyst, [str(uuid.uuid4())])
    with pytest.raises(ValidationError, match=r"^status:"):
        callbacks.list_events(world.ctx, status="lost")
    with pytest.raises(ValidationError, match=r"^event_ids:"):
        callbacks.replay_events(world.ctx, [])


def test_a_tenants_bulk_replay_leaves_other_tenants_events_alone(make_tenant):
    mine, theirs = make_tenant(), make_tenant()
    account = make_account(mine.ctx, guid=f"guid-{uuid.uuid4().hex}")
    other = make_account(theirs.ctx, guid=f"guid-{uuid.uuid4().hex}")
    own, foreign = failed_receipt(account.guid), failed_receipt(other.guid)
    replayed = {e.id for e in callbacks.replay(mine.ctx, status="failed", limit=500)}
    assert own in replayed and foreign not in replayed
    assert callbacks.get_event(foreign).retry_count == 0
