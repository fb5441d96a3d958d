"""Posting alert notices to ``WEWORK_ALERT_WEBHOOK_URL``, signed like the tenant webhooks.

Each pending notice (``alert_notices.delivery = 'pending'``) is POSTed as JSON
(``{"type": "alert.firing" | "alert.resolved", "timestamp": ..., "data": {...}}``) with
the Standard Webhooks headers of :func:`wework.security.webhooks.sign` and the secret
``WEWORK_ALERT_WEBHOOK_SECRET``; ``webhook-id`` is the notice id, the same on every
retry, so a receiver that saw it already can drop the repeat. A 2xx answer delivers it;
anything else is retried with a growing pause (1, 2, 4 … minutes, at most an hour)
until ``WEWORK_ALERT_WEBHOOK_GIVE_UP_MINUTES`` after the notice, then it is ``failed``
(it stays in the history either way). The URL is the operator's own, so unlike a
tenant's it may point into the private network. Errors never contain the URL (it may
carry a token) or the secret.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import or_, select

from wework.config import Settings, get_settings
from wework.enums import NoticeDelivery
from wework.models import AlertNotice
from wework.security.webhooks import check_secret, sign
from wework.services.uow import shard_transaction

log = logging.getLogger("wework.alerts")

CONTROL_SHARD = 0
PER_ROUND = 100
MAX_PAUSE = timedelta(hours=1)
USER_AGENT = "wework-alerts/1"


def body_of(notice: AlertNotice) -> str:
    return json.dumps(notice.payload, ensure_ascii=False, separators=(",", ":"))


def _post(client: httpx.Client, settings: Settings, notice: AlertNotice) -> tuple[int | None,
                                                                                str | None]:
    """(status code, error) of one attempt."""
    if not settings.alert_webhook_secret:
        return None, "WEWORK_ALERT_WEBHOOK_SECRET: not set (a whsec_ secret signs every notice)"
    try:
        signer = check_secret(settings.alert_webhook_secret)
    except ValueError as e:
        return None, f"WEWORK_ALERT_WEBHOOK_SECRET: {e}"
    body = body_of(notice)
    headers = {**sign(signer, body, webhook_id=notice.id), "content-type": "application/json",
               "user-agent": USER_AGENT}
    try:
        response = client.post(settings.alert_webhook_url, content=body.encode(), headers=headers)
    except httpx.HTTPError as e:
        return None, f"{type(e).__name__} posting to the alert webhook"
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"the alert webhook answered HTTP {response.status_code}"


def deliver_pending(settings: Settings | None = None, now: datetime | None = None,
                    client: httpx.Client | None = None) -> Counter:
    """Post the notices that are due; returns counts of delivered / retry / failed."""
    s = settings or get_settings()
    outcome: Counter = Counter()
    if not s.alert_webhook_url:
        return outcome
    at = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    own = client is None
    client = client or httpx.Client(timeout=s.alert_webhook_timeout_seconds,
                                    follow_redirects=False)
    try:
        # Read, post outside any transaction (no row lock waits on a slow receiver), then
        # record. The worker runs this under its job lock; two posters running at once
        # (a CLI beside the worker) could post a notice twice with the same webhook-id.
        with shard_transaction(CONTROL_SHARD) as session:
            due = list(session.scalars(
                select(AlertNotice)
                .where(AlertNotice.delivery == NoticeDelivery.PENDING,
                       or_(AlertNotice.next_attempt_at.is_(None),
                           AlertNotice.next_attempt_at <= at))
                .order_by(AlertNotice.at, AlertNotice.id)
                .limit(PER_ROUND)
            ))
        attempts = {n.id: _post(client, s, n) for n in due}
        with shard_transaction(CONTROL_SHARD) as session:
            for notice in session.scalars(
                select(AlertNotice).where(AlertNotice.id.in_(list(attempts)))
                .with_for_update()
            ):
                code, error = attempts[notice.id]
                notice.attempts += 1
                notice.last_status_code = code
                notice.last_error = error
                if error is None:
                    notice.delivery, notice.delivered_at = NoticeDelivery.DELIVERED, at
                    outcome["delivered"] += 1
                elif at - notice.at >= timedelta(minutes=s.alert_webhook_give_up_minutes):
                    notice.delivery = NoticeDelivery.FAILED
                    outcome["failed"] += 1
                    log.warning("alert notice %s given up: %s", notice.id, error)
                else:
                    pause = min(MAX_PAUSE, timedelta(minutes=2 ** (notice.attempts - 1)))
                    notice.next_attempt_at = at + pause
                    outcome["retry"] += 1
                    log.info("alert notice %s not delivered (%s); next try in %s",
                             notice.id, error, pause)
    finally:
        if own:
            client.close()
    return outcome
