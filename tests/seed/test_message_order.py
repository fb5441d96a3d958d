"""The message generator hands out messages in creation order: the clustered index of
``messages`` (ids are UUIDv7, by creation time) is appended to, not split at random
(random days per chunk halved the 20M seed's load rate once the table outgrew the
buffer pool)."""

from __future__ import annotations

import itertools
from datetime import datetime

import numpy as np
import polars as pl

from wework.seed.messages import IN_FLIGHT_AT_LEAST, AccountArrays, MessageGenerator

NOW = datetime(2026, 11, 20, 10, 0, 0)


def generator(days: int) -> MessageGenerator:
    accounts = AccountArrays(
        ids=np.array(["acct-a", "acct-b"], dtype=object),
        tenant_ids=np.array(["tenant-1", "tenant-1"], dtype=object),
        tenant_index=np.array([0, 0]),
        numbers=np.array([1, 2]),
        fail_rate=np.array([0.02, 0.1]),
        latency_scale=np.array([1.0, 2.5]),
        weight=np.array([1.0, 3.0]),
        template_ids=np.array([[f"tpl-{k}" for k in range(8)]], dtype=object),
    )
    return MessageGenerator(11, accounts, NOW, days, groups=2, conversations=5)


def test_chunks_come_oldest_day_first_each_sorted_by_id():
    chunks = list(generator(days=30).chunks(9_000, 1_000))
    assert [c.height for c in chunks] == [1_000] * 9
    for c in chunks:
        assert c["id"].is_sorted()
    days = [c["created_at"].dt.date() for c in chunks]
    # A chunk starts on the day the previous one ended, or later (a day's messages may
    # span two chunks); the ids of a chunk are never older than the day before it.
    for before, after in itertools.pairwise(days):
        assert after.min() >= before.max()
    every = pl.concat(chunks)
    assert every["created_at"].dt.date().n_unique() > 25  # still spread over the period


def test_the_newest_messages_of_a_small_seed_are_in_flight():
    # 600 messages over 30 days: the last two minutes hold none by chance alone.
    every = pl.concat(list(generator(days=30).chunks(600, 200)))
    newest = every.sort("created_at").tail(IN_FLIGHT_AT_LEAST)
    assert set(newest["status"]) <= {"pending", "sending"}
    assert every.filter(pl.col("status").is_in(["pending", "sending"])).height >= (
        IN_FLIGHT_AT_LEAST)
