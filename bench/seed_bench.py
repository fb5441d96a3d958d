"""Bulk seed throughput against a per-row ORM baseline, measured in the same run.

    .venv/bin/python bench/seed_bench.py [--messages 2000000] [--baseline-rows 2000]

Both write into a scratch database set (`<db_name>_bench_*`, dropped afterwards) on the
configured primary, with the replica following. The bulk path is `wework db seed`'s
(numpy/polars chunks streamed through LOAD DATA LOCAL, secondary indexes built after);
the baseline adds one ORM Message per row and commits it, as naive service code would.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from wework.config import Settings, get_settings
from wework.db import migrate
from wework.db.engines import Role, dispose_engines, get_engine
from wework.models import Message
from wework.seed import SeedConfig, seed


def scratch(settings: Settings, suffix: str) -> Settings:
    return Settings(**{**settings.model_dump(), "db_name": f"{settings.db_name}_bench_{suffix}",
                       "shard_count": 1})


def orm_per_row(settings: Settings, rows: int) -> float:
    now = datetime.now(UTC).replace(tzinfo=None)
    start = time.perf_counter()
    with Session(get_engine(Role.PRIMARY, 0, settings)) as session:
        for i in range(rows):
            session.add(Message(
                id=str(uuid.uuid4()), tenant_id="bench", account_id="bench",
                conversation_id=f"wm{i % 30:05d}", message_type="text",
                content={"text": f"hello {i}"}, status="delivered", send_time=now,
                callback_time=now, created_at=now,
            ))
            session.commit()
    return rows / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--baseline-rows", type=int, default=2_000)
    args = parser.parse_args()
    base = get_settings()
    bulk_s, orm_s = scratch(base, "bulk"), scratch(base, "orm")
    try:
        migrate.upgrade(settings=orm_s)
        baseline = orm_per_row(orm_s, args.baseline_rows)
        migrate.upgrade(settings=bulk_s)
        started = time.perf_counter()
        summary = seed(SeedConfig(messages=args.messages), bulk_s)
        total = time.perf_counter() - started
    finally:
        dispose_engines()
        migrate.drop_databases(bulk_s)
        migrate.drop_databases(orm_s)
    rate = summary.messages_per_second
    n, callbacks = summary.counts["messages"], summary.counts["callback_events"]
    load_s = summary.seconds["messages"]
    print(f"bulk seed: {n:,} messages (+{callbacks:,} callback events) in {load_s:.1f} s "
          f"= {rate:,.0f} messages/s; whole seed incl. entities and derived values {total:.1f} s")
    print(f"baseline, ORM add+commit per row: {baseline:,.0f} messages/s "
          f"({args.baseline_rows:,} rows)")
    print(f"ratio bulk / baseline: {rate / baseline:,.1f}x")


if __name__ == "__main__":
    main()
