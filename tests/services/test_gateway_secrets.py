"""Gateway signing secrets: platform admins only, shown once, stored encrypted, two valid
during a rotation, revocable; the CLI."""

from __future__ import annotations

import stat
from datetime import timedelta

import pytest
from sqlalchemy import String, select, type_coerce
from typer.testing import CliRunner

from wework.cli import app as cli
from wework.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from wework.models import GatewaySecret, utcnow
from wework.security import webhooks
from wework.services import gateway_secrets as gs
from wework.services.uow import shard_transaction


def valid_fingerprints() -> set[str]:
    with shard_transaction(0) as s:
        secrets = s.scalars(select(GatewaySecret.secret).where(*gs._valid(utcnow())))
        return {webhooks.fingerprint(v) for v in secrets}


def test_only_a_platform_admin_manages_secrets(world, super_ctx, make_unique):
    for action in (lambda c: gs.create(c, make_unique("gw")), lambda c: gs.list_secrets(c)):
        with pytest.raises(PermissionDeniedError):
            action(world.ctx)  # a tenant's own admin
    issued = gs.create(super_ctx, make_unique("gw"))
    assert issued.info.created_by == super_ctx.actor.username


def test_a_secret_is_shown_once_and_stored_encrypted(super_ctx, make_unique):
    name = make_unique("gw")
    issued = gs.create(super_ctx, name)
    assert issued.secret.startswith("whsec_") and webhooks.check_secret(issued.secret)
    assert issued.info.fingerprint == webhooks.fingerprint(issued.secret)
    with shard_transaction(0) as s:
        stored = s.scalar(select(type_coerce(GatewaySecret.secret, String))
                          .where(GatewaySecret.id == issued.info.id))
    assert issued.secret not in stored and stored.startswith("gAAAA")  # Fernet ciphertext
    listed = [i for i in gs.list_secrets(super_ctx) if i.gateway_name == name]
    assert [(i.id, i.state) for i in listed] == [(issued.info.id, "active")]
    assert not hasattr(listed[0], "secret")


def test_secrets_never_reach_the_warehouse():
    from pipelines.extract import table_specs

    assert "gateway_secrets" not in table_specs()


def test_rotation_keeps_the_old_secret_for_the_grace_period(super_ctx, make_unique):
    name = make_unique("gw")
    first = gs.create(super_ctx, name)
    with pytest.raises(ConflictError) as refused:
        gs.create(super_ctx, name)
    assert refused.value.field == "gateway_name"
    second = gs.rotate(super_ctx, name, grace_hours=2)
    states = {i.id: i for i in gs.list_secrets(super_ctx) if i.gateway_name == name}
    assert (states[first.info.id].state, states[second.info.id].state) == ("expiring", "active")
    expires = states[first.info.id].expires_at
    assert timedelta(hours=2) - timedelta(seconds=5) < expires - utcnow() <= timedelta(hours=2)
    assert {first.info.fingerprint, second.info.fingerprint} <= valid_fingerprints()
    # Rotating again with no grace ends both earlier secrets now.
    third = gs.rotate(super_ctx, name, grace_hours=0)
    valid = valid_fingerprints()
    assert third.info.fingerprint in valid
    assert not {first.info.fingerprint, second.info.fingerprint} & valid
    assert [i.id for i in gs.list_secrets(super_ctx, include_ended=False)
            if i.gateway_name == name] == [third.info.id]


def test_revoke_ends_a_secret_at_once(super_ctx, make_unique):
    issued = gs.create(super_ctx, make_unique("gw"))
    assert gs.revoke(super_ctx, issued.info.id).state == "revoked"
    assert issued.info.fingerprint not in valid_fingerprints()
    with pytest.raises(ValidationError, match="already revoked"):
        gs.revoke(super_ctx, issued.info.id)
    with pytest.raises(NotFoundError):
        gs.revoke(super_ctx, "no-such-secret")


def test_bad_input_names_the_field(super_ctx, make_unique):
    for bad in ("", "has space", "-leading", "x" * 101):
        with pytest.raises(ValidationError) as e:
            gs.create(super_ctx, bad)
        assert e.value.field == "gateway_name"
    name = make_unique("gw")
    gs.create(super_ctx, name)
    for grace in (-1, gs.MAX_GRACE_HOURS + 1):
        with pytest.raises(ValidationError) as e:
            gs.rotate(super_ctx, name, grace_hours=grace)
        assert e.value.field == "grace_hours"
    with pytest.raises(NotFoundError):
        gs.rotate(super_ctx, make_unique("never-created"))


def test_cli_creates_lists_rotates_and_revokes(settings, tmp_path, make_unique):
    runner = CliRunner()
    name = make_unique("gw-cli")
    printed = runner.invoke(cli, ["gateway", "secrets", "create", name])
    assert printed.exit_code == 0, printed.output
    secret = printed.stdout.strip().splitlines()[0]
    assert secret.startswith("whsec_")
    out = tmp_path / "rotated.secret"
    rotated = runner.invoke(cli, ["gateway", "secrets", "rotate", name, "--grace-hours", "1",
                                  "--output-file", str(out)])
    assert rotated.exit_code == 0, rotated.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    new_secret = out.read_text().strip()
    assert new_secret.startswith("whsec_") and new_secret not in rotated.output
    listing = runner.invoke(cli, ["gateway", "secrets", "list"])
    assert listing.exit_code == 0
    lines = [line for line in listing.output.splitlines() if line.startswith(name)]
    assert sorted(line.split()[3] for line in lines) == ["active", "expiring"]
    assert secret not in listing.output and new_secret not in listing.output
    secret_id = lines[0].split()[1]
    assert runner.invoke(cli, ["gateway", "secrets", "revoke", secret_id]).exit_code == 0
    again = runner.invoke(cli, ["gateway", "secrets", "revoke", secret_id])
    assert again.exit_code == 1 and "already revoked" in again.output
    bad = runner.invoke(cli, ["gateway", "secrets", "create", "bad name"])
    assert bad.exit_code == 1 and "gateway_name" in bad.output
