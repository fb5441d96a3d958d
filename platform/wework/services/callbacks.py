"""Callback ingestion: store raw first, then parse and apply; never lose an event.

The event format (JSON) is defined in :mod:`wework.gateway.base` (``event_id``, ``guid``,
``notify_type``, ``event_type``, ``timestamp``, ``data``); the simulator emits it.

:func:`ingest` does two things, each its own committed transaction:

1. **Store** the raw body in ``callback_events`` (status ``received``) on the intake
   shard, whatever it is — not JSON, not UTF-8 (undecodable bytes are kept as
   ``\\xNN`` escapes), unknown type. ``guid`` / ``notify_type`` / ``event_type`` are
   filled from the body when it can be read (else ``""`` / ``0`` / ``"unparsed"``).
2. **Parse and apply** on the shard of the account that owns ``guid``, in one
   transaction with the event's de-duplication key ``(guid, event_id)`` in
   ``callback_event_keys``:

   - ``message.receipt``: the message (of that account) becomes delivered / failed, with
     ``callback_time`` and ``wework_msg_id``; batch counters follow in the same
     transaction. A second receipt for a message already delivered/failed changes nothing.
   - ``account.status``: the account state machine (``accounts.change_status``, operator
     ``system``); ``qr_code_url`` and ``user_info`` are stored when given.
   - ``account.heartbeat``: ``last_heartbeat_time`` (never moved backwards).
   - ``conversation.upsert``: the conversation of the account is inserted or updated.

   Then the event row is marked ``processed`` (with ``parsed_data`` and
   ``process_time``), ``ignored`` (a duplicate: the key already belongs to another
   event, ``error_message`` names it; the duplicate is stored but never applied twice),
   or ``failed`` with ``error_message`` (unparseable, unknown guid, illegal transition…;
   the application was rolled back, so its key is free and a replay can apply it).

:func:`replay` retries events in a status (``failed`` by default; ``received`` catches
events whose processing was interrupted), counting ``retry_count``.

**One bad event fails alone**, in :func:`ingest`, :func:`ingest_many` and :func:`replay`:

- a ``data`` nested deeper than MariaDB stores JSON (:data:`MAX_JSON_NESTING`) is refused
  by :func:`parse`, before anything is written from it (Python's parser accepts it; the
  server would refuse the ``parsed_data`` save and, with it, every result saved alongside);
- a notify type without a handler in :data:`HANDLERS` fails that event, not its batch;
- a database error of one event's own statements (a value too long, a CHECK) rolls back
  only its savepoint; errors that end the whole transaction (deadlock, lost connection)
  send its events through one by one;
- if saving a batch of results fails, each is saved alone, and a result that still cannot
  be saved is recorded as ``failed`` with the database's reason.

Intake over HTTP (:mod:`wework.api`) stores signed deliveries with
:func:`store_deliveries` (those of concurrent requests together): their events and
``webhook-id``s in one transaction, so a repeated delivery is recognised durably (across
API processes and restarts) and stores nothing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from wework import metrics
from wework.db.sharding import shard_for_tenant
from wework.enums import AccountStatus, CallbackStatus, ConversationType, MessageStatus
from wework.errors import (
    InvalidTransitionError,
    NotFoundError,
    ServiceError,
    ValidationError,
)
from wework.gateway.base import EVENT_TYPE_OF, NotifyType
from wework.models import CallbackEvent, Conversation, WeworkAccount, new_id, utcnow
from wework.models.callback_dedup import CallbackEventKey
from wework.services import accounts, fields
from wework.services import messages as msgs
from wework.services.accounts import AccountRef
from wework.services.context import ServiceContext, system_context
from wework.services.fields import MAX_JSON_DEPTH, check, json_depth
from wework.services.inputs import REPLAYABLE, CallbackReplay, ConversationId, EventReplay
from wework.services.pagination import Page, paginate
from wework.services.permissions import CALLBACK_REPLAY
from wework.services.uow import (
    READ_COMMITTED,
    retry_on_deadlock,
    shard_transaction,
    transaction,
    transaction_lost,
)

# Callback events are applied under READ COMMITTED (uow.READ_COMMITTED). A receipt batch
# reads its messages FOR UPDATE by id, a prefix of the primary key (id, created_at);
# under REPEATABLE READ that read also locked the gap after each of them, so sends
# waited for the batch (tests/services/test_callback_batches.py). The dedup keys were
# read the same way before being inserted, and two intake processes applying events of
# one account deadlocked on each other's gaps (measured, 2 processes: 5 deadlocks and 69
# lock waits in 20,000 receipts, 2,633 events/s; 4,893/s under READ COMMITTED, none);
# they are claimed by INSERT now.
APPLY_ISOLATION = READ_COMMITTED

INTAKE_SHARD = 0  # raw events are stored before their tenant is known
UNPARSED = "unparsed"
# received/processing: processing was interrupted (crash, database down) before the result
# was saved; the dedup key makes re-applying such an event safe.
# MariaDB refuses JSON with more than 31 arrays/objects nested in one another (measured on
# 10.11: JSON_VALID is 0 and every JSON column's json_valid CHECK fails, ERROR 4025).
MAX_JSON_NESTING = MAX_JSON_DEPTH


class CallbackError(ValidationError):
    """The event cannot be parsed or applied; names the field of the event."""


@dataclass(frozen=True)
class ParsedEvent:
    event_id: str
    guid: str
    notify_type: NotifyType
    event_type: str
    timestamp: datetime | None
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "guid": self.guid,
            "notify_type": int(self.notify_type),
            "event_type": self.event_type,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "data": self.data,
        }


# ---------------------------------------------------------------- parsing


def _text(raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="backslashreplace")
    return raw


def _peek(raw: str) -> tuple[str, int, str]:
    """Best-effort header for the raw row; never raises."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return "", 0, UNPARSED
    if not isinstance(body, dict):
        return "", 0, UNPARSED
    guid = body.get("guid")
    guid = guid[:100] if isinstance(guid, str) else ""
    nt = body.get("notify_type")
    nt = nt if isinstance(nt, int) and not isinstance(nt, bool) and -(2**31) <= nt < 2**31 else 0
    et = body.get("event_type")
    et = et[:50] if isinstance(et, str) and et else UNPARSED
    return guid, nt, et


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CallbackError("timestamp", "must be an ISO 8601 string")
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CallbackError("timestamp", f"not an ISO 8601 time: {value!r}") from None
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.replace(microsecond=0)


def parse(raw: str) -> ParsedEvent:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CallbackError("body", f"not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise CallbackError("body", "must be a JSON object")
    for key, value in body.items():
        # parsed_data keeps every field one level below its top-level object
        depth = 1 + json_depth(value)
        if depth > MAX_JSON_NESTING:
            raise CallbackError(
                str(key)[:100],
                f"nests {depth} arrays/objects deep; MariaDB stores JSON up to "
                f"{MAX_JSON_NESTING} levels",
            )
    for key in ("event_id", "guid"):
        value = body.get(key)
        if not isinstance(value, str) or not value.strip():
            raise CallbackError(key, "is required (non-empty string)")
        if len(value) > 100:
            raise CallbackError(key, "is longer than 100 characters")
    nt = body.get("notify_type")
    try:
        notify_type = NotifyType(nt)
    except (ValueError, TypeError):
        known = ", ".join(f"{n.value} ({EVENT_TYPE_OF[n].value})" for n in NotifyType)
        raise CallbackError("notify_type", f"unknown notify type {nt!r}; one of {known}") from None
    expected = EVENT_TYPE_OF[notify_type].value
    event_type = body.get("event_type", expected)
    if event_type != expected:
        raise CallbackError("event_type", f"{event_type!r} does not match notify_type {nt}")
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise CallbackError("data", "must be a JSON object")
    return ParsedEvent(
        body["event_id"],
        body["guid"],
        notify_type,
        event_type,
        _timestamp(body.get("timestamp")),
        data,
    )


_decoder = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def split_events(raw: str) -> list[str]:
    """The events of one intake body, each as its exact raw text: the elements of a JSON
    array, or the body itself (one event; or anything that is not a well-formed array,
    which is then stored whole and fails to parse with its reason). ``[]`` has none."""

    def skip(i: int) -> int:
        return _WHITESPACE.match(raw, i).end()

    i = skip(0)
    if not raw.startswith("[", i):
        return [raw]
    i = skip(i + 1)
    if raw.startswith("]", i):
        return [] if skip(i + 1) == len(raw) else [raw]
    events = []
    while True:
        try:
            _, end = _decoder.raw_decode(raw, i)
        except (ValueError, RecursionError):
            return [raw]
        events.append(raw[i:end])
        i = skip(end)
        if raw.startswith(",", i):
            i = skip(i + 1)
        elif raw.startswith("]", i) and skip(i + 1) == len(raw):
            return events
        else:
            return [raw]


# ---------------------------------------------------------------- store + process


def store_raw(
    raw_body: str | bytes, source_ip: str | None = None, user_agent: str | None = None
) -> CallbackEvent:
    """Step 1: the raw event, committed, status ``received``."""
    raw = _text(raw_body)
    guid, notify_type, event_type = _peek(raw)
    event = CallbackEvent(
        id=new_id(),
        guid=guid,
        notify_type=notify_type,
        event_type=event_type,
        raw_data=raw,
        status=CallbackStatus.RECEIVED,
        retry_count=0,
        received_time=utcnow().replace(microsecond=0),  # TIMESTAMP keeps seconds
        source_ip=source_ip,
        user_agent=user_agent,
    )
    with shard_transaction(INTAKE_SHARD) as s:
        s.add(event)
    metrics.callback_ingested(event_type, None)
    return event


def store_raw_many(
    raw_bodies: list[str | bytes], source_ip: str | None = None, user_agent: str | None = None
) -> list[CallbackEvent]:
    """Step 1 for many events at once: one multi-row INSERT, one commit."""
    rows = _raw_rows(raw_bodies, source_ip, user_agent)
    if rows:
        with shard_transaction(INTAKE_SHARD) as s:
            s.execute(insert(CallbackEvent.__table__), rows)
    return _stored(rows)


@dataclass(frozen=True)
class Delivery:
    """One signed HTTP delivery, checked and turned into its raw rows; nothing stored yet
    (:func:`delivery`, then :func:`store_deliveries`)."""

    webhook_id: str
    rows: list[dict[str, Any]]


def delivery(
    webhook_id: str, raw_bodies: list[str], source_ip: str | None = None,
    user_agent: str | None = None,
) -> Delivery:
    """A delivery's webhook id checked and its events' raw rows built (no database)."""
    if not isinstance(webhook_id, str) or not 0 < len(webhook_id) <= 255:
        raise ValidationError("webhook-id", "must be 1 to 255 characters")
    return Delivery(webhook_id, _raw_rows(raw_bodies, source_ip, user_agent))


# The deliveries' webhook ids as one JSON document (as the events' dedup keys, below):
# the ids this transaction took come back; an id already held is skipped.
_CLAIM_WEBHOOK_IDS_SQL = text("""
INSERT IGNORE INTO callback_webhook_ids (webhook_id, event_count)
SELECT j.webhook_id, j.event_count FROM JSON_TABLE(:ids, '$[*]' COLUMNS (
    webhook_id VARCHAR(255) PATH '$[0]',
    event_count INT PATH '$[1]'
)) AS j
RETURNING webhook_id
""")


def store_deliveries(deliveries: Sequence[Delivery]) -> list[list[CallbackEvent] | None]:
    """Step 1 for several deliveries at once (the API stores concurrent requests
    together: wework.api.groups): their webhook ids and events in one transaction. Per
    delivery, in order: its stored events, or None when its webhook id was stored before
    (by any API process, at any time within the callback events' retention, or by an
    earlier delivery of the same call). If the transaction fails, none is stored."""
    if not deliveries:
        return []
    ids = json.dumps([[d.webhook_id, len(d.rows)] for d in deliveries], ensure_ascii=False)
    with shard_transaction(INTAKE_SHARD) as s:
        # A concurrent delivery of the same id waits on this row's lock, then finds it.
        claimed = set(s.scalars(_CLAIM_WEBHOOK_IDS_SQL, {"ids": ids}))
        stored: list[list[dict[str, Any]] | None] = []
        for d in deliveries:
            stored.append(d.rows if d.webhook_id in claimed else None)
            claimed.discard(d.webhook_id)  # a second delivery of the id is a duplicate
        rows = [r for kept in stored if kept for r in kept]
        if rows:
            s.execute(insert(CallbackEvent.__table__), rows)
    return [None if kept is None else _stored(kept) for kept in stored]


def _raw_rows(
    raw_bodies: list[str | bytes], source_ip: str | None, user_agent: str | None
) -> list[dict[str, Any]]:
    now = utcnow().replace(microsecond=0)
    rows = []
    for raw_body in raw_bodies:
        raw = _text(raw_body)
        guid, notify_type, event_type = _peek(raw)
        rows.append(
            {
                "id": new_id(),
                "guid": guid,
                "notify_type": notify_type,
                "event_type": event_type,
                "raw_data": raw,
                "status": CallbackStatus.RECEIVED,
                "retry_count": 0,
                "received_time": now,
                "source_ip": source_ip,
                "user_agent": user_agent,
            }
        )
    return rows


def _stored(rows: list[dict[str, Any]]) -> list[CallbackEvent]:
    for r in rows:
        metrics.callback_ingested(r["event_type"], None)
    return [CallbackEvent(**r) for r in rows]


def ingest(
    raw_body: str | bytes, source_ip: str | None = None, user_agent: str | None = None
) -> CallbackEvent:
    """Store the raw event, then parse and apply it. Returns the event row with its final
    status (processed / ignored / failed). Raises only if the raw store itself fails."""
    return process(store_raw(raw_body, source_ip, user_agent))


def ingest_many(
    raw_bodies: list[str | bytes], source_ip: str | None = None, user_agent: str | None = None
) -> list[CallbackEvent]:
    """Store all raw events in one transaction, then process them together
    (:func:`process_many`)."""
    return process_many(store_raw_many(raw_bodies, source_ip, user_agent))


Outcome = tuple[CallbackStatus, str | None, ParsedEvent | None]


def process(event: CallbackEvent) -> CallbackEvent:
    """Step 2: parse and apply a stored event (its own transaction), and record the
    result on its row."""
    started = time.perf_counter()
    parsed: ParsedEvent | None = None
    try:
        parsed = parse(event.raw_data)
        account = _account_for(parsed.guid)

        def apply() -> tuple[CallbackStatus, str | None]:
            with transaction(account.tenant_id, isolation_level=APPLY_ISOLATION) as s:
                return _apply(s, parsed, account, event.id)

        # Concurrent deliveries of the same events (a gateway retrying, several intake
        # processes) can deadlock on the dedup keys; InnoDB rolled the victim back, so
        # running it again is safe, and then the key decides (processed or duplicate).
        status, note = retry_on_deadlock(apply)
    except ServiceError as exc:
        status, note = CallbackStatus.FAILED, str(exc)
    except SQLAlchemyError as exc:  # still failing: kept as failed, replayable
        status, note = CallbackStatus.FAILED, _db_error(exc)
    _record([(event, (status, note, parsed))])
    metrics.callback_processed(event.event_type, status.value, time.perf_counter() - started)
    return event


def process_many(events: list[CallbackEvent]) -> list[CallbackEvent]:
    """Step 2 for many stored events, with the same result as :func:`process` on each
    in order, in fewer round trips: accounts are looked up once per guid, the events of
    one shard are applied in one transaction with a SAVEPOINT per event (a failing event
    rolls back only its own changes and its dedup key), and the results are recorded in
    one transaction — the same one as the changes for events of accounts on the intake
    shard (every event with one shard). If a shard transaction breaks (deadlock, lost
    connection), its events are processed again one by one."""
    started = time.perf_counter()
    outcomes: dict[str, Outcome] = {}
    parsed_events: list[tuple[CallbackEvent, ParsedEvent]] = []
    for event in events:
        try:
            parsed_events.append((event, parse(event.raw_data)))
        except ServiceError as exc:
            outcomes[event.id] = (CallbackStatus.FAILED, str(exc), None)
    found = _accounts_for({p.guid for _, p in parsed_events})
    by_shard: dict[int, list[tuple[CallbackEvent, ParsedEvent, AccountRef]]] = {}
    for event, parsed in parsed_events:
        account = found.get(parsed.guid)
        if account is None:
            outcomes[event.id] = (CallbackStatus.FAILED, _unknown_guid(parsed.guid), parsed)
        else:
            by_shard.setdefault(shard_for_tenant(account.tenant_id), []).append(
                (event, parsed, account)
            )
    redo: list[CallbackEvent] = []
    recorded: set[str] = set()
    for shard, items in by_shard.items():
        try:
            with shard_transaction(shard, isolation_level=APPLY_ISOLATION) as s:
                _apply_shard(s, items, outcomes)
                if shard == INTAKE_SHARD:  # the events' rows live here: one commit for both
                    results = [(event, outcomes[event.id]) for event, _, _ in items]
                    now = utcnow()
                    _write_results(s, results, now)
            if shard == INTAKE_SHARD:
                _mark(results, now)
                recorded.update(event.id for event, _, _ in items)
        except SQLAlchemyError:
            redo += [event for event, _, _ in items]
    _record([(e, outcomes[e.id]) for e in events
             if e.id in outcomes and e.id not in recorded and e not in redo])
    for event in redo:
        process(event)
    per_event = (time.perf_counter() - started) / max(len(events), 1)
    for event in events:
        if event not in redo:  # process() reported those
            metrics.callback_processed(event.event_type, event.status.value, per_event)
    return events


Item = tuple[CallbackEvent, ParsedEvent, AccountRef]


class _KeyTaken(Exception):
    """A dedup key the claim could not take and whose holder the next read did not find
    (deleted in between, e.g. by retention): the set-based round is rolled back and its
    events go one by one, where the key decides."""


def _apply_shard(s: Session, items: list[Item], outcomes: dict[str, Outcome]) -> None:
    """Apply one shard's events in the caller's transaction. Receipts and heartbeats (the
    bulk of the traffic) go set-based (:data:`SET_BASED`), each kind under one savepoint;
    every other event, and any event whose key repeats an earlier one of this call (its
    outcome depends on that one's), goes one by one under a savepoint each. If a set-based
    round hits a database error of its own (a value the server refuses), it is rolled
    back and its events go one by one too, so the error stays with its event."""
    grouped: dict[NotifyType, list[Item]] = {}
    keys = set()
    for item in items:
        _, parsed, _ = item
        key = (parsed.guid, parsed.event_id)
        kind = SET_BASED.get(parsed.notify_type)
        # (a test that swaps a handler gets the one-by-one path with its handler)
        if kind is not None and key not in keys and HANDLERS.get(parsed.notify_type) is kind[0]:
            grouped.setdefault(parsed.notify_type, []).append(item)
        keys.add(key)
    settled: dict[str, Outcome] = {}
    for notify_type, group in grouped.items():
        _, prepare, apply_all = SET_BASED[notify_type]
        try:
            with s.begin_nested():
                settled.update(_apply_set_based(s, group, prepare, apply_all))
        except SQLAlchemyError as exc:
            if transaction_lost(exc):
                raise
        except _KeyTaken:
            pass
    outcomes.update(settled)
    for event, parsed, account in items:
        if event.id in settled:
            continue
        try:
            with s.begin_nested():
                status, note = _apply(s, parsed, account, event.id)
        except ServiceError as exc:
            status, note = CallbackStatus.FAILED, str(exc)
        except SQLAlchemyError as exc:
            if transaction_lost(exc):
                raise
            status, note = CallbackStatus.FAILED, _db_error(exc)
        outcomes[event.id] = (status, note, parsed)


Prepare = Callable[[ParsedEvent, AccountRef], Any]
ApplyAll = Callable[[Session, list[Any]], list[tuple[CallbackStatus, str | None]]]


def _apply_set_based(s: Session, items: list[Item], prepare: Prepare,
                     apply_all: ApplyAll) -> dict[str, Outcome]:
    """Events of one kind with distinct keys, set-based: ``prepare`` validates each (the
    one check of both paths; a refusal fails that event alone); one ``INSERT IGNORE …
    RETURNING`` claims the dedup keys of the rest; a key it could not claim is held
    already (applied before by this very event, or this event is a duplicate of the one
    holding it), read in one more statement only then; ``apply_all`` applies the claimed
    ones in a few statements, in arrival order; the keys of the events it refuses are
    deleted again in the same transaction, so a replay can apply them.

    Claiming first takes no locking read: reading the keys ``FOR UPDATE`` before
    inserting them locked the gaps around absent keys (under REPEATABLE READ), and cost a
    statement and a primary-key lookup per event. A key another transaction holds
    uncommitted makes the claim wait for it: committed, the key is held; rolled back,
    the claim takes it. The keys are claimed in key order, so two batches claiming some
    of the same keys take them in the same order and never deadlock on them."""
    outcomes: dict[str, Outcome] = {}
    candidates: list[tuple[CallbackEvent, ParsedEvent, Any]] = []
    for event, parsed, account in items:
        try:
            candidates.append((event, parsed, prepare(parsed, account)))
        except ServiceError as exc:
            outcomes[event.id] = (CallbackStatus.FAILED, str(exc), parsed)
    if not candidates:
        return outcomes
    keys = sorted((p.guid, p.event_id, e.id) for e, p, _ in candidates)
    claimed = {(row.guid, row.event_id)
               for row in s.execute(_CLAIM_KEYS_SQL, {"keys": _keys_json(keys)})}
    fresh = [c for c in candidates if (c[1].guid, c[1].event_id) in claimed]
    held = [c for c in candidates if (c[1].guid, c[1].event_id) not in claimed]
    if held:
        owners = {(row.guid, row.event_id): row.callback_event_id for row in s.execute(
            _HOLDERS_SQL, {"keys": _keys_json((p.guid, p.event_id) for _, p, _ in held)})}
        for event, parsed, _ in held:
            first = owners.get((parsed.guid, parsed.event_id))
            if first is None:
                raise _KeyTaken()
            if first == event.id:  # applied before; only its status was not saved
                outcomes[event.id] = (CallbackStatus.PROCESSED, None, parsed)
            else:
                outcomes[event.id] = (CallbackStatus.IGNORED,
                                      f"duplicate of callback event {first}", parsed)
    results = apply_all(s, [payload for _, _, payload in fresh]) if fresh else []
    refused = []
    for (event, parsed, _), (status, note) in zip(fresh, results, strict=True):
        outcomes[event.id] = (status, note, parsed)
        if status is not CallbackStatus.PROCESSED:
            refused.append((parsed.guid, parsed.event_id))
    if refused:
        s.execute(_FREE_KEYS_SQL, {"keys": _keys_json(refused)})
    return outcomes


# The dedup keys of a set-based round go to the server as one JSON document: a statement
# whose text never changes (compiled once; a multi-row VALUES or a tuple IN of n pairs
# was compiled again for every n, a tenth of the round's client CPU) and one parameter
# to escape instead of 2-3 per event. STRAIGHT_JOIN: the keys are looked up by primary
# key from the list (eq_ref), never the table scanned.
_KEYS_COLUMNS = """JSON_TABLE(:keys, '$[*]' COLUMNS (
    guid VARCHAR(100) PATH '$[0]',
    event_id VARCHAR(100) PATH '$[1]',
    callback_event_id VARCHAR(36) PATH '$[2]'
)) AS j"""
_CLAIM_KEYS_SQL = text(f"""
INSERT IGNORE INTO callback_event_keys (guid, event_id, callback_event_id)
SELECT j.guid, j.event_id, j.callback_event_id FROM {_KEYS_COLUMNS}
RETURNING guid, event_id
""")
_HOLDERS_SQL = text(f"""
SELECT STRAIGHT_JOIN k.guid, k.event_id, k.callback_event_id
FROM {_KEYS_COLUMNS}
JOIN callback_event_keys k ON k.guid = j.guid AND k.event_id = j.event_id
""")
_FREE_KEYS_SQL = text(f"""
DELETE k FROM {_KEYS_COLUMNS}
JOIN callback_event_keys k ON k.guid = j.guid AND k.event_id = j.event_id
""")


def _keys_json(keys) -> str:
    return json.dumps(list(keys), ensure_ascii=False)


def _apply_receipts(s: Session, receipts: list[msgs.Receipt]
                    ) -> list[tuple[CallbackStatus, str | None]]:
    return [_receipt_outcome(r) for r in msgs.apply_receipts(s, receipts, utcnow())]


def _heartbeat_of(e: ParsedEvent, account: AccountRef) -> tuple[AccountRef, datetime]:
    """The account and time a heartbeat stamps, validated (the one check of both paths)."""
    return account, accounts.heartbeat_time(e.timestamp, "timestamp")  # none from the future


# Every heartbeat of a call in one statement: each account keeps the latest time it has
# seen (GREATEST, so a heartbeat that arrives late never moves it back).
_HEARTBEATS_SQL = text("""
UPDATE wework_accounts a JOIN JSON_TABLE(:beats, '$[*]' COLUMNS (
    id VARCHAR(36) PATH '$.id',
    tenant_id VARCHAR(36) PATH '$.tenant_id',
    at DATETIME(6) PATH '$.at'
)) AS b ON a.id = b.id AND a.tenant_id = b.tenant_id
SET a.last_heartbeat_time = GREATEST(COALESCE(a.last_heartbeat_time, b.at), b.at)
""")


def _apply_heartbeats(s: Session, beats: list[tuple[AccountRef, datetime]]
                      ) -> list[tuple[CallbackStatus, str | None]]:
    latest: dict[str, tuple[AccountRef, datetime]] = {}
    for account, at in beats:
        if account.id not in latest or at > latest[account.id][1]:
            latest[account.id] = (account, at)
    rows = [{"id": a.id, "tenant_id": a.tenant_id, "at": at.isoformat(sep=" ")}
            for a, at in latest.values()]
    s.execute(_HEARTBEATS_SQL, {"beats": json.dumps(rows)})
    return [(CallbackStatus.PROCESSED, None)] * len(beats)


def _db_error(exc: Exception) -> str:
    """The server's own message (code and text), without SQLAlchemy's echo of the
    statement and its parameters."""
    orig = getattr(exc, "orig", exc)
    return f"database error: {type(orig).__name__}: {orig}"[:2000]


def _unknown_guid(guid: str) -> str:
    return str(CallbackError("guid", f"no account has guid {guid!r}"))


def _account_for(guid: str) -> AccountRef:
    try:
        return accounts.get_by_guid(guid)
    except NotFoundError:
        raise CallbackError("guid", f"no account has guid {guid!r}") from None


def _accounts_for(guids: set[str]) -> dict[str, AccountRef]:
    return accounts.accounts_by_guid(guids)


def _record(results: list[tuple[CallbackEvent, Outcome]]) -> None:
    """Save each event's outcome on its row and on the object: all in one transaction;
    if that fails, each alone; a result that still cannot be saved (its parsed data
    refused by the server, say) is saved as ``failed`` with the server's reason."""
    if not results:
        return
    try:
        _save_results(results)
    except SQLAlchemyError as exc:
        if len(results) > 1:
            for result in results:
                _record([result])
            return
        ((event, _),) = results
        _save_results([(event, (CallbackStatus.FAILED, _db_error(exc), None))])


def _save_results(results: list[tuple[CallbackEvent, Outcome]]) -> None:
    now = utcnow()
    with shard_transaction(INTAKE_SHARD) as s:
        _write_results(s, results, now)
    _mark(results, now)


# One statement saves every outcome of a call (JSON_TABLE): the rows are found by their
# full primary key (id, received_time: the table is partitioned by month). An event that
# was not parsed keeps its header and has no parsed_data.
_RESULTS_SQL = text("""
UPDATE callback_events e JOIN JSON_TABLE(:results, '$[*]' COLUMNS (
    id VARCHAR(36) PATH '$.id',
    received_time DATETIME PATH '$.received_time',
    status VARCHAR(20) PATH '$.status',
    error_message LONGTEXT PATH '$.error_message',
    parsed_data LONGTEXT PATH '$.parsed_data',
    guid VARCHAR(100) PATH '$.guid',
    notify_type INT PATH '$.notify_type',
    event_type VARCHAR(50) PATH '$.event_type'
)) AS r ON e.id = r.id AND e.received_time = r.received_time
SET e.status = r.status,
    e.error_message = r.error_message,
    e.process_time = :now,
    e.parsed_data = IF(r.parsed_data IS NULL, e.parsed_data, r.parsed_data),
    e.guid = IF(r.parsed_data IS NULL, e.guid, r.guid),
    e.notify_type = IF(r.parsed_data IS NULL, e.notify_type, r.notify_type),
    e.event_type = IF(r.parsed_data IS NULL, e.event_type, r.event_type)
""")


def _write_results(s: Session, results: list[tuple[CallbackEvent, Outcome]],
                   now: datetime) -> None:
    """The outcomes onto the events' rows, in the caller's transaction on the intake
    shard: one statement for them all."""
    rows: dict[str, dict[str, Any]] = {}  # by id: an event named twice is saved once
    for event, (status, note, parsed) in results:
        row: dict[str, Any] = {"id": event.id,
                               "received_time": event.received_time.isoformat(sep=" "),
                               "status": status.value, "error_message": note}
        if parsed is not None:
            row.update(parsed_data=json.dumps(parsed.as_json(), ensure_ascii=False),
                       guid=parsed.guid, notify_type=int(parsed.notify_type),
                       event_type=parsed.event_type)
        rows[event.id] = {k: v for k, v in row.items() if v is not None}  # absent = NULL
    matched = s.execute(
        _RESULTS_SQL, {"results": json.dumps(list(rows.values()), ensure_ascii=False),
                       "now": now}
    ).rowcount
    if matched != len(rows):
        raise RuntimeError(f"{len(rows) - matched} of {len(rows)} callback events not found "
                           "to record their result")


def _mark(results: list[tuple[CallbackEvent, Outcome]], now: datetime) -> None:
    """The saved outcomes onto the objects (after their transaction committed)."""
    for event, (status, note, parsed) in results:
        event.status, event.error_message, event.process_time = status, note, now
        if parsed is not None:
            event.parsed_data = parsed.as_json()
            event.guid, event.notify_type = parsed.guid, int(parsed.notify_type)
            event.event_type = parsed.event_type


def _apply(
    s: Session, event: ParsedEvent, account: AccountRef, callback_event_id: str
) -> tuple[CallbackStatus, str | None]:
    """Claim the event's dedup key and apply it, inside the caller's transaction."""
    handler = HANDLERS.get(event.notify_type)
    if handler is None:
        raise CallbackError(
            "notify_type", f"no handler for notify type {int(event.notify_type)} "
            f"({event.event_type}); the event is kept and can be replayed once there is one")
    inserted = s.execute(
        insert(CallbackEventKey)
        .prefix_with("IGNORE")
        .values(guid=event.guid, event_id=event.event_id, callback_event_id=callback_event_id)
    ).rowcount
    if not inserted:
        first = s.scalar(
            select(CallbackEventKey.callback_event_id).where(
                CallbackEventKey.guid == event.guid,
                CallbackEventKey.event_id == event.event_id,
            )
        )
        if first == callback_event_id:  # applied before; only its status was not saved
            return CallbackStatus.PROCESSED, None
        return CallbackStatus.IGNORED, f"duplicate of callback event {first}"
    ctx = system_context(account.tenant_id)
    note = handler(s, ctx, account, event)
    return CallbackStatus.PROCESSED, note


# ---------------------------------------------------------------- handlers

Handler = Callable[[Session, ServiceContext, AccountRef, ParsedEvent], str | None]
# notify type -> the function that applies it (inside the caller's transaction; returns a
# note for the event row or None). A test ties every NotifyType to a handler.
HANDLERS: dict[NotifyType, Handler] = {}


def handles(notify_type: NotifyType) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``notify_type``."""

    def register(handler: Handler) -> Handler:
        if notify_type in HANDLERS:
            raise RuntimeError(f"two handlers for notify type {int(notify_type)}")
        HANDLERS[notify_type] = handler
        return handler

    return register



def _receipt_of(e: ParsedEvent, account: AccountRef) -> msgs.Receipt:
    """The receipt an event carries, validated (the one check of both paths)."""
    message_id = e.data.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise CallbackError("data.message_id", "is required")
    status = e.data.get("status")
    if status not in ("delivered", "failed"):
        raise CallbackError("data.status", 'must be "delivered" or "failed"')
    for key in ("wework_msg_id", "error_code", "error_message"):
        if e.data.get(key) is not None and not isinstance(e.data[key], str):
            raise CallbackError(f"data.{key}", "must be a string")
    return msgs.Receipt(
        message_id=message_id,
        tenant_id=account.tenant_id,
        account_id=account.id,
        delivered=status == "delivered",
        at=e.timestamp or utcnow().replace(microsecond=0),
        wework_msg_id=e.data.get("wework_msg_id"),
        error_code=e.data.get("error_code"),
        error_message=e.data.get("error_message"),
    )


def _receipt_outcome(result: msgs.ReceiptResult) -> tuple[CallbackStatus, str | None]:
    if result is None:
        return CallbackStatus.PROCESSED, None
    if isinstance(result, MessageStatus):
        return CallbackStatus.PROCESSED, f"message already {result.value}; receipt not applied"
    return CallbackStatus.FAILED, str(_receipt_refusal(result))


def _receipt_refusal(error: ValidationError) -> ServiceError:
    if isinstance(error, InvalidTransitionError):
        return error
    return CallbackError(f"data.{error.field}", error.reason)


@handles(NotifyType.MESSAGE_RECEIPT)
def _receipt(s: Session, ctx: ServiceContext, account: AccountRef, e: ParsedEvent):
    (result,) = msgs.apply_receipts(s, [_receipt_of(e, account)], utcnow())
    if isinstance(result, ValidationError):
        raise _receipt_refusal(result)
    return _receipt_outcome(result)[1]


@handles(NotifyType.ACCOUNT_STATUS)
def _account_status(s: Session, ctx: ServiceContext, account: AccountRef, e: ParsedEvent):
    raw = e.data.get("status")
    try:
        target = AccountStatus(raw)
    except ValueError:
        raise CallbackError("data.status", f"unknown account status {raw!r}") from None
    current = s.scalar(
        select(WeworkAccount).where(WeworkAccount.id == account.id).with_for_update()
    )
    note = None
    if current.status == target:
        note = f"account already {target.value}"
    else:
        accounts.change_status(
            ctx,
            account.id,
            target,
            reason=(e.data.get("reason") or f"callback {e.event_type}")[:500],
            error_message=e.data.get("error_message"),
            extra_data={"callback_event_id": e.event_id},
            session=s,
        )
    if isinstance(e.data.get("qr_code_url"), str):
        current.qr_code_url = e.data["qr_code_url"][:500]
    if isinstance(e.data.get("user_info"), dict):
        current.user_info = e.data["user_info"]
    return note


@handles(NotifyType.ACCOUNT_HEARTBEAT)
def _heartbeat(s: Session, ctx: ServiceContext, account: AccountRef, e: ParsedEvent):
    at = accounts.heartbeat_time(e.timestamp, "timestamp")  # none from the future
    s.execute(
        update(WeworkAccount)
        .where(WeworkAccount.id == account.id)
        .values(
            last_heartbeat_time=func.greatest(
                func.coalesce(WeworkAccount.last_heartbeat_time, at), at
            )
        )
        .execution_options(synchronize_session=False)
    )


# The kinds applied set-based (:func:`_apply_set_based`): the handler they replace (the
# one-by-one path keeps using it), how one event is validated, how many are applied.
SET_BASED: dict[NotifyType, tuple[Handler, Prepare, ApplyAll]] = {
    NotifyType.MESSAGE_RECEIPT: (_receipt, _receipt_of, _apply_receipts),
    NotifyType.ACCOUNT_HEARTBEAT: (_heartbeat, _heartbeat_of, _apply_heartbeats),
}


@handles(NotifyType.CONVERSATION_UPSERT)
def _conversation(s: Session, ctx: ServiceContext, account: AccountRef, e: ParsedEvent):
    d = e.data
    conversation_id = _conversation_id_field(d.get("conversation_id"))
    try:
        ctype = ConversationType(d.get("conversation_type", "private"))
    except ValueError:
        raise CallbackError("data.conversation_type", "must be private or group") from None
    values: dict[str, Any] = {"conversation_type": ctype}
    for key, kind, limit in (
        ("conversation_name", str, 200),
        ("avatar_url", str, 500),
        ("last_msg_content", str, None),
    ):
        if key in d:
            if d[key] is not None and not isinstance(d[key], kind):
                raise CallbackError(f"data.{key}", "must be a string")
            values[key] = d[key][:limit] if (limit and d[key]) else d[key]
    for key in ("member_count", "unread_count"):
        if key in d:
            if not isinstance(d[key], int) or isinstance(d[key], bool) or d[key] < 0:
                raise CallbackError(f"data.{key}", "must be a non-negative integer")
            values[key] = d[key]
    if "tags" in d:
        if not isinstance(d["tags"], list) or not all(isinstance(t, str) for t in d["tags"]):
            raise CallbackError("data.tags", "must be a list of strings")
        values["tags"] = d["tags"]
    if "is_active" in d:
        values["is_active"] = bool(d["is_active"])
    if "last_msg_time" in d:
        try:
            values["last_msg_time"] = _timestamp(d["last_msg_time"])
        except CallbackError as exc:
            raise CallbackError("data.last_msg_time", exc.reason) from None
    now = utcnow()
    stmt = mysql_insert(Conversation).values(
        id=new_id(),
        account_id=account.id,
        conversation_id=conversation_id,
        created_at=now,
        updated_at=now,
        **values,
    )
    s.execute(stmt.on_duplicate_key_update(updated_at=now, **values))


def _conversation_id_field(value: Any) -> str:
    try:
        return check(ConversationId, "data.conversation_id", value)
    except ValidationError as exc:
        raise CallbackError(exc.field, exc.reason) from None


# ---------------------------------------------------------------- replay


def replay(
    ctx: ServiceContext | None = None,
    *,
    status: str = "failed",
    limit: int = 100,
    received_before: datetime | None = None,
) -> list[CallbackEvent]:
    """Process again up to ``limit`` events in ``status`` (failed, or received ones whose
    processing was interrupted), oldest first, incrementing their ``retry_count``; only
    events received before ``received_before`` when given (the worker's recovery of
    events an intake process stored and then died on).
    With a context, it needs ``callback:replay`` and replays only the events of the
    tenant's own accounts (a super-admin's replay is platform-wide); without one it runs
    as the system, platform-wide."""
    request = fields.parse(CallbackReplay, dict(status=status, limit=limit,
                                                received_before=received_before))
    wanted, limit = request.status, request.limit
    guids = None
    if ctx is not None:
        ctx.require(CALLBACK_REPLAY)
        guids = _tenant_guids(ctx)
    # Also the worker's sweep of stranded events: no gap lock where the intake's next
    # event goes (uow.READ_COMMITTED).
    with shard_transaction(INTAKE_SHARD, isolation_level=READ_COMMITTED) as s:
        events = list(
            s.scalars(
                select(CallbackEvent)
                .where(CallbackEvent.status == wanted,
                       True if guids is None else CallbackEvent.guid.in_(guids or [""]),
                       True if received_before is None
                       else CallbackEvent.received_time < received_before)
                .order_by(CallbackEvent.received_time, CallbackEvent.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for event in events:
            event.retry_count += 1
            event.status = CallbackStatus.PROCESSING
    return process_many(events)


def get_event(event_id: str) -> CallbackEvent:
    with shard_transaction(INTAKE_SHARD) as s:
        event = s.scalar(select(CallbackEvent).where(CallbackEvent.id == event_id))
    if event is None:
        raise NotFoundError("callback event", event_id)
    return event


def _tenant_guids(ctx: ServiceContext) -> list[str] | None:
    """The guids of the acting tenant's accounts; None for a super-admin (sees all).

    Raw events belong to no tenant until parsed: a tenant user sees the events of its own
    accounts' instances; events with an unknown guid are the platform's to look at."""
    if ctx.actor.is_super_admin:
        return None
    with transaction(ctx.tenant_id) as s:
        return list(s.scalars(
            select(WeworkAccount.guid).where(WeworkAccount.tenant_id == ctx.tenant_id,
                                             WeworkAccount.guid.is_not(None))
        ))


def list_events(
    ctx: ServiceContext, *, status: str | None = "failed", limit: int = 50,
    cursor: str | None = None,
) -> Page[CallbackEvent]:
    """Callback events newest first (keyset-paged by received_time, id), with their error;
    needs ``callback:replay``. Tenant users see only their own accounts' events."""
    ctx.require(CALLBACK_REPLAY)
    stmt = select(CallbackEvent)
    if status is not None:
        try:
            stmt = stmt.where(CallbackEvent.status == CallbackStatus(status))
        except ValueError:
            raise ValidationError("status", f"unknown callback status {status!r}") from None
    guids = _tenant_guids(ctx)
    if guids is not None:
        stmt = stmt.where(CallbackEvent.guid.in_(guids or [""]))
    with shard_transaction(INTAKE_SHARD) as s:
        return paginate(s, stmt, CallbackEvent.received_time, CallbackEvent.id,
                        limit=limit, cursor=cursor)


def replay_events(ctx: ServiceContext, event_ids: list[str]) -> list[CallbackEvent]:
    """Process the named events again (each must be replayable: failed, or received /
    processing after an interruption). Another tenant's event is not found."""
    event_ids = fields.parse(EventReplay, {"event_ids": event_ids}).event_ids
    ctx.require(CALLBACK_REPLAY)
    guids = _tenant_guids(ctx)
    # A locking read by id, a prefix of the key: no gap lock after the newest event
    # (uow.READ_COMMITTED).
    with shard_transaction(INTAKE_SHARD, isolation_level=READ_COMMITTED) as s:
        events = {e.id: e for e in s.scalars(
            select(CallbackEvent).where(CallbackEvent.id.in_(event_ids))
            .with_for_update(skip_locked=True)
        )}
        for event_id in event_ids:
            event = events.get(event_id)
            if event is None or (guids is not None and event.guid not in guids):
                raise NotFoundError("callback event", event_id)
            if event.status not in REPLAYABLE:
                raise ValidationError(
                    "event_ids", f"event {event_id} is {event.status.value}: only failed, "
                    "received or processing events replay")
        for event in events.values():
            event.retry_count += 1
            event.status = CallbackStatus.PROCESSING
    return process_many([events[i] for i in event_ids])
