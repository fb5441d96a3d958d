"""Signing secrets of the WeCom instance gateways: create, list, rotate, revoke.

Platform-wide (``platform:admin``; without a context, the CLI on the server acts as the
platform). Secrets are generated here, stored encrypted (``EncryptedString``, rotated by
``wework keys rotate`` like every encrypted column) and returned in plaintext only by
:func:`create` and :func:`rotate`, once. :func:`valid_signers` gives the API what it
verifies against: every secret neither revoked nor past its ``expires_at``.

Rotation: :func:`rotate` issues a new secret for the gateway and lets the gateway's
current ones expire after a grace period (``WEWORK_GATEWAY_SECRET_GRACE_HOURS``, 24 by
default): both verify meanwhile, so the gateway can switch without losing a callback.
:func:`revoke` ends a secret at once (a leaked one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from standardwebhooks import Webhook

from wework.config import get_settings
from wework.errors import ConflictError, NotFoundError, ValidationError
from wework.models import GatewaySecret, utcnow
from wework.security import webhooks
from wework.services.context import ServiceContext
from wework.services.fields import parse
from wework.services.inputs import MAX_GRACE_HOURS as MAX_GRACE_HOURS  # the app's input bound
from wework.services.inputs import GatewaySecretRequest
from wework.services.permissions import PLATFORM_ADMIN
from wework.services.uow import shard_transaction

SECRETS_SHARD = 0  # platform-wide rows live on the intake shard


@dataclass(frozen=True)
class SecretInfo:
    """A secret as lists show it: never its value."""

    id: str
    gateway_name: str
    fingerprint: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    state: str  # active | expiring | expired | revoked


@dataclass(frozen=True)
class IssuedSecret:
    info: SecretInfo
    secret: str  # the plaintext: show it once, then forget it


def _actor(ctx: ServiceContext | None) -> str:
    if ctx is None:
        return "cli"
    ctx.require(PLATFORM_ADMIN)
    return ctx.actor.username


def _state(row: GatewaySecret, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is None:
        return "active"
    return "expiring" if row.expires_at > now else "expired"


def _info(row: GatewaySecret, now: datetime) -> SecretInfo:
    return SecretInfo(row.id, row.gateway_name, row.fingerprint, row.created_by,
                      row.created_at, row.expires_at, row.revoked_at, _state(row, now))


def _valid(now: datetime):
    return (GatewaySecret.revoked_at.is_(None),
            or_(GatewaySecret.expires_at.is_(None), GatewaySecret.expires_at > now))


def _issue(s, name: str, created_by: str, now: datetime) -> IssuedSecret:
    secret = webhooks.new_secret()
    row = GatewaySecret(gateway_name=name, secret=secret, created_by=created_by[:100],
                        fingerprint=webhooks.fingerprint(secret), created_at=now)
    s.add(row)
    s.flush()
    return IssuedSecret(_info(row, now), secret)


def create(ctx: ServiceContext | None, gateway_name: str) -> IssuedSecret:
    """A first secret for a gateway. Refused if the gateway already has a valid one
    (rotate it instead)."""
    created_by = _actor(ctx)
    name = parse(GatewaySecretRequest, {"gateway_name": gateway_name}).gateway_name
    now = utcnow().replace(microsecond=0)
    with shard_transaction(SECRETS_SHARD) as s:
        existing = s.scalar(select(GatewaySecret.id).where(
            GatewaySecret.gateway_name == name, *_valid(now)).limit(1).with_for_update())
        if existing is not None:
            raise ConflictError("gateway_name", f"gateway {name!r} already has a valid secret; "
                                                "rotate it instead")
        return _issue(s, name, created_by, now)


def rotate(ctx: ServiceContext | None, gateway_name: str,
           grace_hours: float | None = None) -> IssuedSecret:
    """A new secret for the gateway; its current secrets stay valid for ``grace_hours``
    more (0: they end now). Secrets already expiring keep the earlier of the two ends."""
    created_by = _actor(ctx)
    request = parse(GatewaySecretRequest, {
        "gateway_name": gateway_name,
        "grace_hours": get_settings().gateway_secret_grace_hours if grace_hours is None
        else grace_hours})
    name, grace = request.gateway_name, request.grace_hours
    now = utcnow().replace(microsecond=0)
    ends = now + timedelta(hours=grace)
    with shard_transaction(SECRETS_SHARD) as s:
        current = list(s.scalars(select(GatewaySecret).where(
            GatewaySecret.gateway_name == name, *_valid(now)).with_for_update()))
        if not current:
            raise NotFoundError("gateway", name)
        for row in current:
            if row.expires_at is None or row.expires_at > ends:
                row.expires_at = ends
        return _issue(s, name, created_by, now)


def revoke(ctx: ServiceContext | None, secret_id: str) -> SecretInfo:
    """End a secret now (e.g. it leaked). Revoking twice is refused."""
    _actor(ctx)
    now = utcnow().replace(microsecond=0)
    with shard_transaction(SECRETS_SHARD) as s:
        row = s.scalar(select(GatewaySecret).where(GatewaySecret.id == secret_id)
                       .with_for_update())
        if row is None:
            raise NotFoundError("gateway secret", secret_id)
        if row.revoked_at is not None:
            raise ValidationError("secret_id", "already revoked")
        s.execute(update(GatewaySecret).where(GatewaySecret.id == secret_id)
                  .values(revoked_at=now).execution_options(synchronize_session=False))
        row.revoked_at = now
        return _info(row, now)


def list_secrets(ctx: ServiceContext | None, *, include_ended: bool = True) -> list[SecretInfo]:
    """Every gateway's secrets, newest first (without their values)."""
    _actor(ctx)
    now = utcnow()
    stmt = select(GatewaySecret).order_by(GatewaySecret.gateway_name,
                                          GatewaySecret.created_at.desc(), GatewaySecret.id.desc())
    if not include_ended:
        stmt = stmt.where(*_valid(now))
    with shard_transaction(SECRETS_SHARD) as s:
        return [_info(row, now) for row in s.scalars(stmt)]


def valid_signers() -> list[Webhook]:
    """The verifiers of every valid secret (for the API; the platform itself)."""
    now = utcnow()
    with shard_transaction(SECRETS_SHARD) as s:
        values = list(s.scalars(select(GatewaySecret.secret).where(*_valid(now))))
    return [webhooks.check_secret(v) for v in values]
