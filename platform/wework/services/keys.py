"""Encryption key rotation for the columns encrypted at rest.

Procedure (``WEWORK_ENCRYPTION_KEYS`` is a comma-separated list; the first key encrypts,
every key decrypts):

1. ``wework keys generate`` → a new key; put it FIRST in WEWORK_ENCRYPTION_KEYS, keep the
   old ones after it. Every row stays readable; new writes use the new key.
2. ``wework keys rotate`` → re-encrypts every encrypted column of every table of every
   shard under the new key (:func:`rotate_encryption`), in batches of ``batch_size`` rows,
   one transaction per batch (row locks only on the batch in hand).
3. Remove the old keys from WEWORK_ENCRYPTION_KEYS.

The encrypted columns are found from the models (every column typed EncryptedString), so a
new encrypted column is rotated without touching this module. Rotating bumps the rows'
``updated_at`` (the stored bytes did change), so the next incremental extract re-reads
them. Keyed-hash lookup columns (``*_hash``, WEWORK_LOOKUP_KEY) are not affected.
"""

from __future__ import annotations

from cryptography.fernet import Fernet
from sqlalchemy import String, Table, bindparam, select, type_coerce, update

from wework.db.sharding import all_shards
from wework.errors import ValidationError
from wework.models import Base
from wework.security import crypto
from wework.security.crypto import EncryptedString
from wework.services.uow import shard_transaction


def encrypted_columns() -> dict[str, list[str]]:
    """table name → names of its EncryptedString columns (from the models)."""
    found: dict[str, list[str]] = {}
    for table in Base.metadata.sorted_tables:
        cols = [c.name for c in table.columns if isinstance(c.type, EncryptedString)]
        if cols:
            found[table.name] = cols
    return found


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def _rotate_table(shard: int, table: Table, columns: list[str], batch_size: int) -> int:
    (pk,) = table.primary_key.columns  # every encrypted table has a one-column key
    # type_coerce to String: read and write the stored ciphertext, bypassing the
    # EncryptedString decrypt/encrypt of the column type.
    raw = [type_coerce(table.c[name], String).label(name) for name in columns]
    stmt = update(table).where(pk == bindparam("_pk")).values(
        {table.c[name]: type_coerce(bindparam(f"_{name}"), String) for name in columns}
    )
    done, last = 0, None
    while True:
        with shard_transaction(shard) as s:
            query = select(pk, *raw).order_by(pk).limit(batch_size).with_for_update()
            if last is not None:
                query = query.where(pk > last)
            rows = s.execute(query).all()
            params = [
                {"_pk": row[0], **{
                    f"_{name}": None if row[i + 1] is None else crypto.rotate(row[i + 1])
                    for i, name in enumerate(columns)
                }}
                for row in rows
                if any(value is not None for value in row[1:])
            ]
            if params:
                s.connection().execute(stmt, params)
            done += len(params)
        if len(rows) < batch_size:
            return done
        last = rows[-1][0]


def rotate_encryption(batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt every encrypted value of every shard under the newest (first) key.

    Returns the number of rows rewritten per table. Raises crypto.KeyError_ if a value
    cannot be decrypted with any configured key (nothing of that batch is written)."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError("batch_size", "must be a positive integer")
    crypto.fernet()  # fail early, before any work, when no key is configured
    counts: dict[str, int] = {}
    for table_name, columns in encrypted_columns().items():
        table = Base.metadata.tables[table_name]
        counts[table_name] = sum(
            _rotate_table(shard, table, columns, batch_size) for shard in all_shards()
        )
    return counts
