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
   (:func:`wework.services.callbacks.store_delivery`) before the 2xx. A webhook-id seen
   before is acknowledged (200, ``"duplicate": true``) and stores nothing;
4. the stored events are processed at once, together (``process_many``): each ends
   processed, ignored (a duplicate event) or failed with its reason (an unparseable body
   too: failed, replayable). If processing is cut short (database trouble, the process
   dies) the events stay ``received`` and the worker's recovery processes them.

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

from wework.api.errors import ApiError
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
# Events processed per transaction: a large delivery holds no long transaction.
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
            _accept, signers, text, headers, client, request.headers.get("user-agent"))

    return api


async def _read_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body", f"larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _accept(signers: GatewaySigners, text: str, headers: dict[str, str],
            client: str | None, user_agent: str | None) -> dict:
    try:
        return _verify_and_store(signers, text, headers, client, user_agent)
    except PrimaryUnavailable:  # nothing was stored: the gateway retries the delivery
        log.warning("callbacks not stored: the primary is unavailable")
        raise ApiError(503, None, "storage unavailable; retry later",
                       headers={"Retry-After": "5"}) from None


def _verify_and_store(signers: GatewaySigners, text: str, headers: dict[str, str],
                      client: str | None, user_agent: str | None) -> dict:
    try:
        webhook_id = _verified(signers, text, headers)
    except SignatureError as exc:
        log.info("callbacks refused from %s: %s", client, exc)
        raise ApiError(401, exc.field, exc.reason) from None
    try:
        stored = callbacks.store_delivery(webhook_id, callbacks.split_events(text),
                                          source_ip=client, user_agent=(user_agent or "")[:500])
    except ValidationError as exc:  # the webhook-id header
        raise ApiError(400, exc.field, exc.reason) from None
    if stored is None:
        return {"duplicate": True, "stored": 0}
    counts: Counter = Counter()
    try:
        for i in range(0, len(stored), PROCESS_CHUNK):
            counts.update(e.status.value
                          for e in callbacks.process_many(stored[i:i + PROCESS_CHUNK]))
    except Exception as exc:  # stored and safe: the worker's recovery processes them
        log.warning("processing of %d stored callback events deferred: %s",
                    len(stored), type(exc).__name__)
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
