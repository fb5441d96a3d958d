"""Key rotation: rows written under an old key stay readable once a new key is put
first, and after rotation they decrypt with the new key alone."""

from __future__ import annotations

import os

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import text
from typer.testing import CliRunner

from wework.cli.keys import keys_app
from wework.config import reload_settings
from wework.services import accounts, keys, tenants, users
from wework.services.uow import read_session


@pytest.fixture
def set_keys(settings):
    """Set WEWORK_ENCRYPTION_KEYS for the test; restore the session's key afterwards by
    rotating every row back under it (other tests of the session share the database)."""
    original = settings.encryption_keys
    saved_env = os.environ.get("WEWORK_ENCRYPTION_KEYS")
    used: list[str] = []

    def set_(*key_list: str) -> None:
        used.extend(k for k in key_list if k not in used)
        os.environ["WEWORK_ENCRYPTION_KEYS"] = ",".join(key_list)
        reload_settings()

    yield set_
    set_(original, *used)
    keys.rotate_encryption()
    if saved_env is None:
        os.environ.pop("WEWORK_ENCRYPTION_KEYS", None)
    else:
        os.environ["WEWORK_ENCRYPTION_KEYS"] = saved_env
    reload_settings()


def _raw(tenant_id, sql, **params):
    with read_session(tenant_id, fresh=True) as s:
        return s.execute(text(sql), params).one()


def test_rotation_keeps_old_rows_readable_then_frees_the_old_key(settings, set_keys,
                                                                   make_tenant, make_unique):
    original = settings.encryption_keys
    old, new = keys.generate_key(), keys.generate_key()
    set_keys(old, original)
    world = make_tenant(contact_phone="+86 131 0000 0009")
    acc = accounts.create_account(world.ctx, account_name=make_unique("k"),
                                  phone="+86 131 0000 0007", login_token="token-007")
    user = users.create_user(world.ctx, username=make_unique("k"), email="k@example.com",
                             password="long enough passphrase", phone="+86 131 0000 0008")
    raw_before = _raw(world.tenant.id, "SELECT login_token FROM wework_accounts WHERE id=:i",
                      i=acc.id).login_token
    assert Fernet(old.encode()).decrypt(raw_before.encode()) == b"token-007"

    set_keys(new, old, original)  # new key first: old rows still readable
    assert accounts.get_account(world.ctx, acc.id).login_token == "token-007"

    counts = keys.rotate_encryption(batch_size=2)  # small batches: several per table
    assert counts["wework_accounts"] >= 1 and counts["users"] >= 1 and counts["tenants"] >= 1
    raw_after = _raw(world.tenant.id, "SELECT login_token, phone FROM wework_accounts "
                     "WHERE id=:i", i=acc.id)
    assert raw_after.login_token != raw_before
    with pytest.raises(InvalidToken):
        Fernet(old.encode()).decrypt(raw_after.login_token.encode())

    set_keys(new)  # the new key alone reads everything, in every table
    got = accounts.get_account(world.ctx, acc.id)
    assert (got.login_token, got.phone) == ("token-007", "+86 131 0000 0007")
    assert users.get_user(world.ctx, user.id).phone == "+86 131 0000 0008"
    assert tenants.get_tenant(world.ctx, world.tenant.id).contact_phone == "+86 131 0000 0009"
    assert [a.id for a in accounts.find_by_phone(world.ctx, "+86 131 0000 0007")] == [acc.id]

    # The CLI runs the same rotation.
    set_keys(original, new)
    result = CliRunner().invoke(keys_app, ["rotate", "--batch-size", "50"])
    assert result.exit_code == 0, result.output
    assert "wework_accounts:" in result.output
    set_keys(original)
    assert accounts.get_account(world.ctx, acc.id).login_token == "token-007"


def test_rotation_refuses_bad_batch_size():
    with pytest.raises(Exception) as err:
        keys.rotate_encryption(batch_size=0)
    assert getattr(err.value, "field", None) == "batch_size"


def test_encrypted_columns_come_from_the_models():
    cols = keys.encrypted_columns()
    assert cols["wework_accounts"] == ["phone", "email", "login_token"]
    assert set(cols) >= {"tenants", "users", "wework_accounts"}
