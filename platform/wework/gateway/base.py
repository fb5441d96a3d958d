"""The gateway interface the dispatcher sends through, and the callback event format
a gateway (real or simulated) posts back.

Callback event (one JSON object; one per line in ``wework callbacks ingest``)::

    {
      "event_id":    "8c0f…",                 # unique per guid; the de-duplication key
      "guid":        "instance-guid",          # the WeCom instance = wework_accounts.guid
      "notify_type": 20001,                    # NotifyType
      "event_type":  "message.receipt",        # EventType (must match notify_type)
      "timestamp":   "2026-11-28T17:40:00Z",   # when it happened (UTC, ISO 8601)
      "data":        {...}                      # per type, below
    }

``data`` per type:

- 11001 ``account.status``: ``{"status": "<account status>", "reason": "...",
  "error_message"?: "...", "qr_code_url"?: "...", "user_info"?: {...}}``
- 11002 ``account.heartbeat``: ``{}``
- 20001 ``message.receipt``: ``{"message_id": "<messages.id>", "status": "delivered" |
  "failed", "wework_msg_id"?: "...", "error_code"?: "...", "error_message"?: "..."}``
- 30001 ``conversation.upsert``: ``{"conversation_id": "...", "conversation_type":
  "private" | "group", "conversation_name"?, "member_count"?, "avatar_url"?, "tags"?,
  "last_msg_time"?, "last_msg_content"?, "is_active"?}``
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any, Protocol, runtime_checkable


class NotifyType(IntEnum):
    ACCOUNT_STATUS = 11001
    ACCOUNT_HEARTBEAT = 11002
    MESSAGE_RECEIPT = 20001
    CONVERSATION_UPSERT = 30001


class EventType(StrEnum):
    ACCOUNT_STATUS = "account.status"
    ACCOUNT_HEARTBEAT = "account.heartbeat"
    MESSAGE_RECEIPT = "message.receipt"
    CONVERSATION_UPSERT = "conversation.upsert"


EVENT_TYPE_OF = {n: EventType[n.name] for n in NotifyType}


@dataclass(frozen=True)
class SendRequest:
    message_id: str
    tenant_id: str
    account_id: str
    guid: str
    conversation_id: str
    message_type: str
    content: dict[str, Any]


@dataclass(frozen=True)
class SendResult:
    ok: bool
    wework_msg_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    retryable: bool = True  # False: retrying cannot help (e.g. content refused)


@runtime_checkable
class Gateway(Protocol):
    """Sends one message through the WeCom instance ``request.guid``. Must not raise for
    a refused send: it returns ``SendResult(ok=False, ...)``. An exception is treated as
    a retryable failure by the dispatcher."""

    def send(self, request: SendRequest) -> SendResult: ...


@runtime_checkable
class CallbackSource(Protocol):
    """A gateway that also produces callback events (JSON strings) to ingest."""

    def drain_events(self) -> list[str]: ...


def make_event(
    guid: str, notify_type: NotifyType, data: dict[str, Any], *, event_id: str | None = None
) -> str:
    """One callback event as a JSON string in the format above."""
    return json.dumps(
        {
            "event_id": event_id or uuid.uuid4().hex,
            "guid": guid,
            "notify_type": int(notify_type),
            "event_type": EVENT_TYPE_OF[notify_type].value,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "data": data,
        },
        ensure_ascii=False,
    )
