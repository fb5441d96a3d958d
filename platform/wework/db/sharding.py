"""Tenant → shard routing (spec §分库策略: ``crc32(tenant_id) % N``).

N comes from ``WEWORK_SHARD_COUNT`` (1 by default). Shard i is the database
``f"{db_name}_{i}"`` on the primary and, replicated, on the replica.
"""

from __future__ import annotations

import zlib

from wework.config import get_settings


def shard_for_tenant(tenant_id: str, shard_count: int | None = None) -> int:
    n = shard_count if shard_count is not None else get_settings().shard_count
    return zlib.crc32(tenant_id.encode("utf-8")) % n


def all_shards(shard_count: int | None = None) -> list[int]:
    n = shard_count if shard_count is not None else get_settings().shard_count
    return list(range(n))
