"""``POST /v1/callbacks``: a gateway's callback events, signed (Standard Webhooks).

The body is the existing event format (:mod:`wework.gateway.base`): one event, or a JSON
array of events. In order:

1. a body larger than ``WEWORK_API_MAX_BODY_BYTES`` gets 413, refused from its declared
   length before it is read, or as soon as the bytes read pass the limit;
2. missing signature headers, a timestamp more than 5 minutes off, or no signature
   matching a valid gateway secret get 401 (a body that is not UTF-8 cannot be verified:
   400); nothing is stored;
3. the events (an array's elements, each as its own raw text; anything else as one
   event) are stored with the delivery's ``webhook-id`` in one committed transaction
   (:func:`wework.services.callbacks.store_deliveries`) before the 2xx. A webhook-id seen
   before is acknowledged (200, ``"duplicate": true``) and stores nothing;
4. the stored events are processed at once, together (``process_many``): each ends
   processed, ignored (a duplicate event) or failed with its reason (an unparseable body
   too: failed, replayable). If processing is cut short (database trouble, the process
   dies) the events stay ``received`` and the worker's recovery processes them.

Steps 3 and 4 take the deliveries of concurrent requests together (group commit,
:mod:`wework.api.groups`): one transaction stores them all, one set-based round applies
their events, and each request gets the answer for its own events. A gateway that posts
one event per request pays for a transaction and a round per group, not per event. If
the group's transaction fails, every request of the group gets the error and none of
them is stored; one bad event still fails alone (step 4).

The answer counts the outcome: ``{"stored", "processed", "ignored", "failed",
"deferred"}``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from standardwebhooks import Webhook

from wework import metrics
from wework.api.errors import ApiError
from wework.api.groups import GroupCommit
from wework.config import Settings
from wework.errors import PrimaryUnavailable, ValidationError
from wework.security.webhooks import SignatureError, verify
from wework.services import callbacks, gateway_secrets

log = logging.getLogger("wework.api")
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
# A signature that matches no cached secret reloads them, at most this often per process
# (so a secret issued a moment ago verifies within a second, and forged requests cannot
# turn every attempt into a database read).
RELOAD_ON_MISS_SECONDS = 1.0
# Events processed per transaction: a large delivery holds no long transaction. A group
# of concurrent deliveries takes in at most this many events (and deliveries).
PROCESS_CHUNK = 500


class GatewaySigners:
    """The valid gateway secrets' verifiers, reloaded after ``ttl`` seconds."""

    def __init__(self, ttl: float,
                 load: Callable[[], list[Webhook]] = gateway_secrets.valid_signers):
        self.ttl = ttl
        self._load = load
        self._lock = threading.Lock()
        self._signers: list[Webhook] = []
        self._loaded_at = float("-inf")

    def current(self, *, after_miss: bool = False) -> list[Webhook]:
        with self._lock:
            age = time.monotonic() - self._loaded_at
            if age >= self.ttl or (after_miss and age >= RELOAD_ON_MISS_SECONDS):
                self._signers = self._load()
                self._loaded_at = time.monotonic()
            return self._signers


def router(settings: Settings) -> APIRouter:
    api = APIRouter()
    signers = GatewaySigners(settings.api_secret_cache_seconds)
    groups = GroupCommit(_store_and_process, _fits)
    limit = settings.api_max_body_bytes

    @api.post("/v1/callbacks")
    async def receive_callbacks(request: Request) -> dict:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, "body", f"larger than {limit} bytes")
        for header in SIGNATURE_HEADERS:  # refuse unsigned requests before reading them
            if not request.headers.get(header):
                raise ApiError(401, header, "header is missing")
        body = await _read_body(request, limit)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "body", "must be UTF-8 text (the signature covers text)") from None
        headers = {h: request.headers[h] for h in SIGNATURE_HEADERS}
        client = request.client.host if request.client else None
        return await run_in_threadpool(
            _accept, signers, groups, text, headers, client, request.headers.get("user-agent"))

    return api


async def _read_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body", f"larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


Groups = GroupCommit[callbacks.Delivery, dict]


def _accept(signers: GatewaySigners, groups: Groups, text: str, headers: dict[str, str],
            client: str | None, user_agent: str | None) -> dict:
    try:
        return _verify_and_store(signers, groups, text, headers, client, user_agent)
    except PrimaryUnavailable:  # nothing was stored: the gateway retries the delivery
        log.warning("callbacks not stored: the primary is unavailable")
        raise ApiError(503, None, "storage unavailable; retry later",
                       headers={"Retry-After": "5"}) from None


def _verify_and_store(signers: GatewaySigners, groups: Groups, text: str,
                      headers: dict[str, str], client: str | None,
                      user_agent: str | None) -> dict:
    try:
        webhook_id = _verified(signers, text, headers)
    except SignatureError as exc:
        log.info("callbacks refused from %s: %s", client, exc)
        raise ApiError(401, exc.field, exc.reason) from None
    try:
        delivery = callbacks.delivery(webhook_id, callbacks.split_events(text),
                                      source_ip=client, user_agent=(user_agent or "")[:500])
    except ValidationError as exc:  # the webhook-id header
        raise ApiError(400, exc.field, exc.reason) from None
    return groups.submit(delivery)


def _fits(group: list[callbacks.Delivery], delivery: callbacks.Delivery) -> bool:
    events = sum(len(d.rows) for d in group) + len(delivery.rows)
    return len(group) < PROCESS_CHUNK and events <= PROCESS_CHUNK


def _store_and_process(deliveries: list[callbacks.Delivery]) -> list[dict]:
    """Store the deliveries in one transaction, process their events together, and
    answer each delivery for its own events."""
    started = time.perf_counter()
    stored = callbacks.store_deliveries(deliveries)
    events = [e for kept in stored if kept for e in kept]
    outcome: dict[str, str] = {}
    try:
        for i in range(0, len(events), PROCESS_CHUNK):
            outcome.update((e.id, e.status.value)
                           for e in callbacks.process_many(events[i:i + PROCESS_CHUNK]))
    except Exception as exc:  # stored and safe: the worker's recovery processes them
        log.warning("processing of %d stored callback events deferred: %s",
                    len(events) - len(outcome), type(exc).__name__)
    metrics.callback_group(len(deliveries), sum(len(d.rows) for d in deliveries),
                           time.perf_counter() - started)
    return [_answer(kept, outcome) for kept in stored]


def _answer(stored: list | None, outcome: dict[str, str]) -> dict:
    if stored is None:
        return {"duplicate": True, "stored": 0}
    counts = Counter(outcome[e.id] for e in stored if e.id in outcome)
    done = counts["processed"] + counts["ignored"] + counts["failed"]
    return {"stored": len(stored), "processed": counts["processed"],
            "ignored": counts["ignored"], "failed": counts["failed"],
            "deferred": len(stored) - done}


def _verified(signers: GatewaySigners, text: str, headers: dict[str, str]) -> str:
    try:
        return verify(text, headers, signers.current())
    except SignatureError as exc:
        if exc.field != "webhook-signature":
            raise
    return verify(text, headers, signers.current(after_miss=True))
