"""Callback ingestion SIGKILLed while ingesting 100,000 events (5% malformed, 5%
duplicates), restarted and replayed: every event stored exactly once, applied at most once.

The operator's restart procedure (what the test does after each kill):

1. ``wework callbacks replay --status received`` (and ``processing``): finish the events
   of the interrupted chunk that were stored but not processed;
2. resume the input after the last stored line: chunks are stored in input order, each in
   one transaction, so the number of stored rows is exactly the number of lines consumed
   (``tail -n +$((stored + 1)) events.jsonl | wework callbacks ingest -``).

Set WEWORK_OPS_CALLBACK_EVENTS to a smaller number for a quick run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from wework.db.engines import Role, get_engine
from wework.db.sharding import shard_for_tenant
from wework.models import Tenant, WeworkAccount

EVENTS = int(os.environ.get("WEWORK_OPS_CALLBACK_EVENTS", "100000"))
KILLS = 3
CHUNK = 500  # wework callbacks ingest --chunk (its default)
ACCOUNTS = 20
WEWORK = Path(sys.executable).with_name("wework")


def make_accounts(settings) -> list[str]:
    guids = []
    for t in range(2):
        tenant = str(uuid.uuid4())
        shard = shard_for_tenant(tenant, settings.shard_count)
        with get_engine(Role.PRIMARY, shard, settings).begin() as conn:
            conn.execute(
                insert(Tenant.__table__),
                [{"id": tenant, "tenant_code": f"kill-{t}-{tenant[:6]}", "tenant_name": "k"}],
            )
            rows = []
            for a in range(ACCOUNTS // 2):
                guid = f"guid-{t}-{a}-{uuid.uuid4().hex[:6]}"
                guids.append(guid)
                rows.append(
                    {
                        "id": str(uuid.uuid4()),
                        "tenant_id": tenant,
                        "account_name": f"acc {a}",
                        "guid": guid,
                        "status": "online",
                    }
                )
            conn.execute(insert(WeworkAccount.__table__), rows)
    return guids


def make_events(guids: list[str], n: int, rng: random.Random) -> tuple[list[str], dict]:
    """n lines: 90% valid unique events, 5% malformed, 5% copies of earlier valid lines."""
    n_bad = n * 5 // 100
    n_dup = n * 5 // 100
    valid = []
    kinds = Counter()
    for i in range(n - n_bad - n_dup):
        guid = guids[i % len(guids)]
        event = {
            "event_id": f"ev-{i}",
            "guid": guid,
            "timestamp": f"2026-11-28T10:{i // 3600 % 60:02d}:{i % 60:02d}Z",
        }
        if i % 2:
            event |= {"notify_type": 11002, "event_type": "account.heartbeat", "data": {}}
            kinds["heartbeat"] += 1
        else:
            event |= {
                "notify_type": 30001,
                "event_type": "conversation.upsert",
                "data": {"conversation_id": f"conv-{i}", "conversation_type": "group"},
            }
            kinds["conversation"] += 1
        valid.append(json.dumps(event))
    malformed = []
    for i in range(n_bad):
        malformed.append(
            [
                f"not json {i} {{",
                json.dumps({"event_id": f"bad-{i}", "notify_type": 11002}),  # no guid
                json.dumps({"event_id": f"bad-{i}", "guid": guids[0], "notify_type": 999}),
                json.dumps(
                    {
                        "guid": "no-such-guid",
                        "event_id": f"bad-{i}",
                        "notify_type": 11002,
                        "event_type": "account.heartbeat",
                        "data": {},
                    }
                ),
            ][i % 4]
        )
    lines = valid + malformed
    rng.shuffle(lines)
    for _ in range(n_dup):  # a duplicate always comes after its original
        original = rng.randrange(len(lines))
        while lines[original] in malformed or not lines[original].startswith('{"event_id": "ev-'):
            original = rng.randrange(len(lines))
        lines.insert(rng.randrange(original + 1, len(lines) + 1), lines[original])
    return lines, {"valid": len(valid), "malformed": n_bad, "duplicates": n_dup, **kinds}


def stored(settings) -> int:
    with get_engine(Role.PRIMARY, 0, settings).connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM callback_events")).scalar_one()


def unfinished(settings) -> int:
    """Stored but not (yet) processed: what the replay after a kill must finish."""
    with get_engine(Role.PRIMARY, 0, settings).connect() as conn:
        return conn.execute(
            text("SELECT COUNT(*) FROM callback_events WHERE status IN ('received', 'processing')")
        ).scalar_one()


def env_for(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEWORK_")}
    env.update(
        WEWORK_DATA_DIR=str(settings.data_dir),
        WEWORK_PRIMARY_PORT=str(settings.primary_port),
        WEWORK_REPLICA_PORT=str(settings.replica_port),
        WEWORK_LOCAL_DB_PASSWORD=settings.local_db_password or "",
        WEWORK_ENCRYPTION_KEYS=settings.encryption_keys or "",
        WEWORK_LOOKUP_KEY=settings.lookup_key or "",
        WEWORK_DB_NAME=settings.db_name,
        WEWORK_SHARD_COUNT=str(settings.shard_count),
    )
    return env


def replay(env: dict[str, str]) -> None:
    for status in ("received", "processing"):
        done = subprocess.run(
            [str(WEWORK), "callbacks", "replay", "--status", status, "--limit", "1000000"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_sigkilled_callback_ingestion_stores_every_event_once_and_applies_it_at_most_once(
    fresh_settings, tmp_path
):
    rng = random.Random(7)
    guids = make_accounts(fresh_settings)
    lines, mix = make_events(guids, EVENTS, rng)
    env = env_for(fresh_settings)
    # Kill points in different chunks (500 lines are stored per transaction), each a
    # random moment after that chunk was stored: while its events are being processed.
    chunks = len(lines) // CHUNK
    kill_at = [c * CHUNK for c in sorted(rng.sample(range(1, chunks - 1), KILLS))]

    started = time.monotonic()
    kills = []
    offset = 0
    while True:
        part = tmp_path / f"events-from-{offset}.jsonl"
        part.write_text("".join(line + "\n" for line in lines[offset:]))
        proc = subprocess.Popen(
            [str(WEWORK), "callbacks", "ingest", str(part), "--chunk", str(CHUNK)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        target = kill_at[len(kills)] if len(kills) < KILLS else None
        while proc.poll() is None:
            if target is not None and stored(fresh_settings) >= target:
                time.sleep(rng.uniform(0.0, 1.0))
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                kills.append((stored(fresh_settings), unfinished(fresh_settings)))
                break
            time.sleep(0.1)
        else:
            assert proc.returncode == 0, proc.stderr.read().decode()
            proc.stderr.close()
            break
        proc.stderr.close()
        # Restart: finish the interrupted chunk, then resume after the last stored line.
        replay(env)
        offset = stored(fresh_settings)
    replay(env)  # nothing should be left, but an operator would run it anyway
    seconds = time.monotonic() - started

    engine = get_engine(Role.PRIMARY, 0, fresh_settings)
    with engine.connect() as conn:
        # Stored exactly once: the stored raw bodies are the input lines, as a multiset.
        stored_lines = Counter(
            dict(
                conn.execute(
                    text("SELECT raw_data, COUNT(*) FROM callback_events GROUP BY 1")
                ).all()
            )
        )
        statuses = dict(
            conn.execute(text("SELECT status, COUNT(*) FROM callback_events GROUP BY 1")).all()
        )
        # Applied at most once: one processed row per event id, and it owns the key.
        per_event = conn.execute(
            text(
                "SELECT JSON_VALUE(raw_data, '$.event_id') AS ev, SUM(status = 'processed'), "
                "SUM(status = 'ignored') FROM callback_events "
                'WHERE raw_data LIKE \'{"event_id": "ev-%\' GROUP BY ev'
            )
        ).all()
        keys_not_processed = conn.execute(
            text(
                "SELECT COUNT(*) FROM callback_event_keys k LEFT JOIN callback_events e "
                "ON e.id = k.callback_event_id AND e.status = 'processed' WHERE e.id IS NULL"
            )
        ).scalar_one()
    keys = conversations = 0
    for shard in range(fresh_settings.shard_count):
        with get_engine(Role.PRIMARY, shard, fresh_settings).connect() as conn:
            keys += conn.execute(text("SELECT COUNT(*) FROM callback_event_keys")).scalar_one()
            conversations += conn.execute(text("SELECT COUNT(*) FROM conversations")).scalar_one()

    lost = mix["valid"] - sum(1 for _, processed, _ in per_event if processed == 1)
    print(
        f"\ncallback kills: {len(lines)} events ({mix}); {len(kills)} SIGKILLs at (rows stored, "
        f"stored but unprocessed) {kills}; {seconds:.0f} s in all; statuses {statuses}; "
        f"distinct events applied {keys}; rows lost: {lost}; applied twice: "
        f"{sum(1 for _, p, _ in per_event if p > 1)}"
    )
    assert len(kills) == KILLS
    assert stored_lines == Counter(lines)  # every line stored once, none lost, none doubled
    assert statuses.get("received", 0) == 0 and statuses.get("processing", 0) == 0
    assert statuses["failed"] == mix["malformed"]
    assert statuses["ignored"] == mix["duplicates"]
    assert statuses["processed"] == mix["valid"]
    assert len(per_event) == mix["valid"] and lost == 0
    assert all(processed == 1 for _, processed, _ in per_event)
    assert keys == mix["valid"] and keys_not_processed == 0
    assert conversations == mix["conversation"]
