"""Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature; HMAC-SHA256
over ``id.timestamp.body``), on top of the ``standardwebhooks`` package.

Used by the callback intake (``POST /v1/callbacks`` verifies a gateway's callbacks against
every valid gateway secret) and by whatever posts signed requests (the gateway simulator,
the worker's tenant webhooks).
Secrets have the package's format: ``whsec_`` + base64 of 32 random bytes.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

# Standard Webhooks' tolerance, which the package enforces too: a captured request replays
# for at most this long, and the API remembers every webhook-id far longer.
TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"


class SignatureError(Exception):
    """The request is not signed by a current secret; ``field`` names the header."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def fingerprint(secret: str) -> str:
    """16 hex digits of SHA-256(secret): names a secret without revealing it."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


def check_secret(secret: str) -> Webhook:
    """The package's signer for ``secret``; ValueError if it is not a usable secret."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX}")
    try:
        return Webhook(secret)
    except Exception as exc:  # bad base64, empty
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc


def sign(secret: str | Webhook | Sequence[str | Webhook], body: str,
         webhook_id: str | None = None, at: float | None = None) -> dict[str, str]:
    """The three headers that sign ``body`` (UTF-8 text) with ``secret``. A retry of the
    same delivery passes the same ``webhook_id``. Several secrets (a rotation's old and
    new one) give one signature each, space-separated, as the convention allows: a
    receiver that knows either secret accepts the request."""
    keys = [secret] if isinstance(secret, str | Webhook) else list(secret)
    if not keys:
        raise ValueError("sign needs at least one secret")
    signers = [k if isinstance(k, Webhook) else check_secret(k) for k in keys]
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    ts = math.floor(time.time() if at is None else at)
    when = datetime.fromtimestamp(ts, UTC)
    signature = " ".join(signer.sign(webhook_id, when, body) for signer in signers)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(ts),
            "webhook-signature": signature}


def verify(body: str, headers: Mapping[str, str], signers: Iterable[Webhook],
           now: float | None = None) -> str:
    """Check that ``body`` carries a valid signature of one of ``signers`` and a timestamp
    within :data:`TOLERANCE_SECONDS`; returns the webhook-id. Raises SignatureError
    naming the header at fault."""
    h = {k.lower(): v for k, v in headers.items()}
    webhook_id = h.get("webhook-id", "")
    if not webhook_id:
        raise SignatureError("webhook-id", "header is missing")
    raw_ts = h.get("webhook-timestamp", "")
    if not raw_ts:
        raise SignatureError("webhook-timestamp", "header is missing")
    try:
        ts = int(raw_ts)
    except ValueError:
        raise SignatureError("webhook-timestamp", "must be Unix seconds") from None
    if abs((time.time() if now is None else now) - ts) > TOLERANCE_SECONDS:
        raise SignatureError("webhook-timestamp",
                             f"more than {TOLERANCE_SECONDS // 60} minutes off the server's clock")
    if not h.get("webhook-signature"):
        raise SignatureError("webhook-signature", "header is missing")
    for signer in signers:
        try:
            signer.verify(body, h, json_parse=False)
            return webhook_id
        except (WebhookVerificationError, ValueError):  # ValueError: a malformed header
            continue
    raise SignatureError("webhook-signature", "no signature matches a current gateway secret")
