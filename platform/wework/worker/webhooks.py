"""Delivering tenant webhooks from the outbox (:mod:`wework.services.webhooks`).

Each round claims due events per shard (``SKIP LOCKED``, so every worker can deliver),
POSTs them concurrently and records every attempt. A request is signed following the
Standard Webhooks convention with the ``standardwebhooks`` package: headers
``webhook-id`` (the event id, the same on every retry), ``webhook-timestamp`` (Unix
seconds) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of id.timestamp.body>``;
two signatures, space-separated, while a rotated-out secret is still valid).

A 2xx answer delivers it. Anything else (another status, a timeout, a refused
connection) is retried on the ``WEWORK_WEBHOOK_RETRY_SECONDS`` schedule until
``WEWORK_WEBHOOK_GIVE_UP_HOURS`` after the event; 410 Gone, a tenant without a URL and a
refused destination fail at once. Redirects are not followed.

The URL is the tenant's, so the worker must not become a way into our own network: the
host is resolved once, every address must be public (unless
``WEWORK_WEBHOOK_ALLOW_PRIVATE_NETWORKS``), and the request goes to the address that was
checked (the Host header and TLS server name stay the URL's), so a second DNS answer
cannot point it elsewhere. Error texts never contain the URL (it may carry a token),
the secret or more than a short excerpt of the answer.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from collections import Counter
from concurrent.futures import Executor
from datetime import datetime, timedelta
from typing import Any

import httpx

from wework import metrics
from wework.config import Settings
from wework.db.sharding import all_shards
from wework.models import utcnow
from wework.security import webhooks as signatures
from wework.services import webhooks
from wework.services.webhooks import Attempt, Delivery

log = logging.getLogger("wework.worker")

USER_AGENT = "wework-webhooks/1"
EXCERPT = 200  # characters of a failed answer kept in last_error
READ_AT_MOST = 4096  # bytes of an answer ever read
CLAIM_LIMIT = 100  # events per shard and round


class UnsafeDestination(Exception):
    """The URL cannot or may not be called; retrying will not help."""


def body_of(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def resolve_destination(url: str, allow_private: bool) -> tuple[httpx.URL, str]:
    """(the URL with its host replaced by the checked address, the original host)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise UnsafeDestination("webhook_url is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UnsafeDestination("webhook_url must be an http(s) URL with a host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectionError(f"cannot resolve the webhook host ({exc.strerror})") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not allow_private:
        for address in addresses:
            if not address.is_global:
                raise UnsafeDestination(
                    "webhook_url resolves to a private, loopback or reserved address; "
                    "refused (WEWORK_WEBHOOK_ALLOW_PRIVATE_NETWORKS)"
                )
    return parsed.copy_with(host=str(addresses[0])), parsed.host


class WebhookSender:
    """Sends one claimed event; thread-safe (one pooled httpx client)."""

    def __init__(self, settings: Settings, client: httpx.Client | None = None):
        self.settings = settings
        self.client = client or httpx.Client(
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            headers={"user-agent": USER_AGENT},
        )

    def close(self) -> None:
        self.client.close()

    def send(self, delivery: Delivery) -> Attempt:
        started = time.perf_counter()
        attempt = self._attempt(delivery)
        metrics.record(
            "webhook_delivery",
            {"count": 1, "seconds": time.perf_counter() - started},
            {"tenant_id": delivery.tenant_id, "outcome": "delivered" if attempt.ok else
             ("retry" if attempt.retryable else "failed")},
        )
        return attempt

    def _attempt(self, d: Delivery) -> Attempt:
        if not d.url:
            return Attempt(d, False, error="the tenant has no webhook_url (or is not active)",
                           retryable=False)
        if not d.secrets:
            return Attempt(d, False, error="no signing secret yet: create one on the "
                                           "Webhooks page")
        try:
            target, host = resolve_destination(d.url, self.settings.webhook_allow_private_networks)
        except UnsafeDestination as exc:
            return Attempt(d, False, error=str(exc), retryable=False)
        except ConnectionError as exc:
            return Attempt(d, False, error=str(exc))
        body = body_of(d.payload)
        headers = {**signatures.sign(d.secrets, body, d.id),
                   "content-type": "application/json", "host": _host_header(d.url, host)}
        extensions = {"sni_hostname": host} if target.scheme == "https" else {}
        try:
            with self.client.stream("POST", target, content=body.encode(), headers=headers,
                                    extensions=extensions) as response:
                code = response.status_code
                if 200 <= code < 300:
                    return Attempt(d, True, code)
                excerpt = _excerpt(response)
        except httpx.TimeoutException:
            return Attempt(d, False, error=f"timed out after "
                                           f"{self.settings.webhook_timeout_seconds:g} s")
        except httpx.HTTPError as exc:
            return Attempt(d, False, error=_scrub(f"{type(exc).__name__}: {exc}", d.url))
        error = f"HTTP {code}" + (f": {excerpt}" if excerpt else "")
        if 300 <= code < 400:
            error += " (redirects are not followed)"
        return Attempt(d, False, code, error, retryable=code != 410)


def _host_header(url: str, host: str) -> str:
    port = httpx.URL(url).port
    return f"{host}:{port}" if port else host


def _excerpt(response: httpx.Response) -> str:
    data = b""
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= READ_AT_MOST:
            break
    return " ".join(data.decode("utf-8", "replace").split())[:EXCERPT]


def _scrub(text: str, url: str) -> str:
    return text.replace(url, "<webhook_url>")


def deliver_due(sender: WebhookSender, pool: Executor | None = None,
                now: datetime | None = None, limit: int = CLAIM_LIMIT) -> Counter:
    """One round on every shard: claim due events, send them, record the attempts.
    Returns how many ended delivered / pending (retry scheduled) / failed."""
    settings = sender.settings
    lease = timedelta(seconds=3 * settings.webhook_timeout_seconds + 10)
    outcome: Counter = Counter()
    for shard in all_shards():
        claimed = webhooks.claim_due(shard, limit, lease, now)
        if not claimed:
            continue
        if pool is None or len(claimed) == 1:
            attempts = [sender.send(d) for d in claimed]
        else:
            attempts = list(pool.map(sender.send, claimed))
        outcome += webhooks.record_attempts(attempts, now or utcnow())
    if outcome:
        log.info("webhooks: %s", dict(outcome))
    return outcome
