"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile).

``verify`` never raises for a wrong password or a malformed hash: it answers False.
``verify_dummy`` spends the same work as a real verification against a hash nobody knows,
so that a login for a username that does not exist costs as much as one with a wrong
password (timing must not reveal which usernames exist).
"""

from __future__ import annotations

import base64
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4

# Computed once at import with the same parameters as real hashes, so a dummy
# verification has exactly the cost of a real one.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(24))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def verify_dummy(password: str) -> None:
    """Burn one verification's worth of time; always fails."""
    verify_password(_DUMMY_HASH, password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with parameters older than the current ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def salt_hex(password_hash: str) -> str:
    """The salt embedded in an argon2 hash, as hex (16 bytes → 32 chars, fits users.salt).

    PHC format: ``$argon2id$v=19$m=…,t=…,p=…$<salt b64, unpadded>$<hash b64>``.
    """
    salt_b64 = password_hash.split("$")[4]
    salt = base64.b64decode(salt_b64 + "=" * (-len(salt_b64) % 4))
    return salt.hex()[:32]
