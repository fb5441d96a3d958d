"""Issue 16 item 11: a heartbeat stamped in the future (2037) is refused with an error
naming the field, through the service and through a gateway callback; it never pins an
account against the stale-heartbeat sweep."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from messaging_helpers import make_account

from wework.enums import CallbackStatus
from wework.errors import ValidationError
from wework.models import utcnow
from wework.services import accounts, callbacks


def test_a_heartbeat_from_the_future_is_refused(tenant_ctx):
    account = make_account(tenant_ctx, status="online")
    before = accounts.get_account(tenant_ctx, account.id).last_heartbeat_time
    with pytest.raises(ValidationError) as err:
        accounts.record_heartbeat(tenant_ctx, account.id, at=datetime(2037, 1, 1, tzinfo=UTC))
    assert err.value.field == "at" and "future" in err.value.reason
    assert accounts.get_account(tenant_ctx, account.id).last_heartbeat_time == before


def test_a_small_clock_skew_is_accepted(tenant_ctx):
    account = make_account(tenant_ctx, status="online")
    ahead = utcnow() + timedelta(minutes=2)
    got = accounts.record_heartbeat(tenant_ctx, account.id, at=ahead)
    assert abs(got.last_heartbeat_time - ahead) < timedelta(seconds=1)


def test_a_callback_heartbeat_from_the_future_fails(tenant_ctx):
    account = make_account(tenant_ctx, status="online")
    event = callbacks.ingest(json.dumps({"event_id": "hb-2037", "guid": account.guid,
                                         "notify_type": 11002,
                                         "timestamp": "2037-06-01T00:00:00Z"}))
    assert event.status is CallbackStatus.FAILED
    assert "timestamp" in event.error_message and "future" in event.error_message
    # The stamp stayed in the present, so the stale sweep still sees the account age.
    stamped = accounts.get_account(tenant_ctx, account.id).last_heartbeat_time
    assert stamped is not None and stamped < utcnow() + timedelta(minutes=1)
