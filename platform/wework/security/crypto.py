"""Encryption at rest for sensitive columns, and keyed hashes for looking them up.

Keys come from the environment: ``WEWORK_ENCRYPTION_KEYS`` is a comma-separated list of
Fernet keys; the first encrypts, every one decrypts, so a key can be rotated by putting
the new key first and re-encrypting at leisure (old rows stay readable meanwhile).
A ciphertext is useless for ``WHERE phone = ?``, so columns looked up by value get a
companion ``*_hash`` column holding HMAC-SHA256(lookup_key, normalised value).
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import String
from sqlalchemy.types import TypeDecorator

from wework.config import get_settings


class KeyError_(RuntimeError):
    """Raised when the encryption keys are missing or cannot decrypt a value."""


@lru_cache(maxsize=8)
def _fernet(keys: str) -> MultiFernet:
    parts = [k.strip() for k in keys.split(",") if k.strip()]
    if not parts:
        raise KeyError_("WEWORK_ENCRYPTION_KEYS is empty")
    return MultiFernet([Fernet(k.encode()) for k in parts])


def fernet() -> MultiFernet:
    keys = get_settings().encryption_keys
    if not keys:
        raise KeyError_(
            "WEWORK_ENCRYPTION_KEYS is not set (run `wework db up` for local keys, "
            "or set it in the environment)"
        )
    return _fernet(keys)


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise KeyError_("a stored value cannot be decrypted with the configured keys") from exc


def rotate(token: str) -> str:
    """Re-encrypt a ciphertext under the first (newest) key."""
    return fernet().rotate(token.encode("ascii")).decode("ascii")


def lookup_hash(value: str | None) -> str | None:
    """HMAC-SHA256 hex of the normalised value: equal inputs give equal hashes."""
    if value is None:
        return None
    key = get_settings().lookup_key
    if not key:
        raise KeyError_("WEWORK_LOOKUP_KEY is not set")
    normalised = value.strip().lower()
    return hmac.new(key.encode(), normalised.encode("utf-8"), hashlib.sha256).hexdigest()


class EncryptedString(TypeDecorator[str]):
    """A VARCHAR holding Fernet ciphertext; Python sees the plaintext.

    ``length`` is the column width for the ciphertext (about 1.4 × plaintext + 100).
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect) -> str | None:
        return None if value is None else decrypt(value)
