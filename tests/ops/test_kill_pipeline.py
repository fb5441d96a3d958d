"""A pipeline run SIGKILLed at random points leaves the published marts as they were, and
the next run converges to the marts of an uninterrupted run (private stack and warehouse)."""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from pipelines.registry import MART_NAMES
from wework.config import Settings
from wework.db.engines import Role, get_engine
from wework.db.replication import wait_for_replica
from wework.warehouse import NoPublishedMarts, open_marts

KILLS = 10
RUNNER = Path(__file__).with_name("pipeline_run.py")
DATASET = Path(__file__).parents[1] / "pipelines" / "etl_dataset.py"


def _dataset_module():
    """The pipelines tests' seeded data set (one definition of coherent source data)."""
    spec = importlib.util.spec_from_file_location("ops_etl_dataset", DATASET)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _env(settings, warehouse_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEWORK_")}
    env.update(
        WEWORK_DATA_DIR=str(settings.data_dir),
        WEWORK_PRIMARY_PORT=str(settings.primary_port),
        WEWORK_REPLICA_PORT=str(settings.replica_port),
        WEWORK_LOCAL_DB_PASSWORD=settings.local_db_password or "",
        WEWORK_DB_NAME=settings.db_name,
        WEWORK_SHARD_COUNT=str(settings.shard_count),
        WEWORK_WAREHOUSE_PATH=str(warehouse_dir / "warehouse.duckdb"),
        WEWORK_PUBLISH_DIR=str(warehouse_dir / "published"),
        WEWORK_REPLICA_FALLBACK="primary",
    )
    return env


def _start(env: dict[str, str], as_of: str) -> tuple[subprocess.Popen, float]:
    """Start a run; return it once its imports are done, with the moment it began work."""
    proc = subprocess.Popen(
        [sys.executable, str(RUNNER), as_of],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own group: the kill reaches every child
    )
    line = proc.stdout.readline()
    assert line.strip() == "materializing", f"runner did not start: {line!r}"
    return proc, time.monotonic()


def _run(env: dict[str, str], as_of: str) -> float:
    proc, began = _start(env, as_of)
    out = proc.stdout.read()
    assert proc.wait() == 0 and "done" in out, f"pipeline run failed: {out}"
    return time.monotonic() - began


def new_data(ds_module, now, seed: int):
    """A data set as it would arrive now: its change columns carry the write time, as
    ON UPDATE CURRENT_TIMESTAMP and the callback processor would set them (incremental
    extraction relies on that)."""
    ds = ds_module.build_dataset(now, seed=seed, n_messages=400)
    written = ds_module.utcnow()
    for rows in (ds.tenants, ds.accounts, ds.messages, ds.tasks):
        for row in rows:
            row["updated_at"] = written
    for row in ds.callbacks:
        row["received_time"] = written
        if row.get("process_time") is not None:
            row["process_time"] = written
    return ds


def differences(a: dict, b: dict) -> dict[str, tuple[list, list]]:
    """Per mart, rows only in a and rows only in b (for a readable failure)."""
    out = {}
    for m in MART_NAMES:
        only_a = sorted(set(a[m]) - set(b[m]), key=repr)[:3]
        only_b = sorted(set(b[m]) - set(a[m]), key=repr)[:3]
        if only_a or only_b or len(a[m]) != len(b[m]):
            out[m] = (only_a, only_b)
    return out


def marts(publish_dir: Path) -> dict[str, list] | None:
    """Rows of every published mart (floats rounded: parallel sums differ in the last bit)."""
    try:
        con = open_marts(Settings(publish_dir=publish_dir))
    except NoPublishedMarts:
        return None
    try:
        return {
            m: [
                tuple(round(v, 9) if isinstance(v, float) else v for v in row)
                for row in con.execute(f"SELECT * FROM marts.{m} ORDER BY ALL").fetchall()
            ]
            for m in MART_NAMES
        }
    finally:
        con.close()


@pytest.mark.slow
def test_sigkilled_pipeline_runs_never_damage_the_published_marts(fresh_settings, tmp_path):
    ds_module = _dataset_module()
    primary = get_engine(Role.PRIMARY, 0, fresh_settings)
    now = ds_module.utcnow()
    as_of = (now + timedelta(days=1)).isoformat()  # after every write, fixed for all runs
    ds_module.write_dataset(primary, ds_module.build_dataset(now, seed=7, n_messages=400))
    wait_for_replica(timeout=60, settings=fresh_settings)

    env = _env(fresh_settings, tmp_path / "wh")
    publish_dir = tmp_path / "wh" / "published"
    _run(env, as_of)
    before = marts(publish_dir)
    assert before is not None and any(before.values())

    # New source data: a completed run would now publish different marts.
    ds_module.write_dataset(primary, new_data(ds_module, now, seed=8))
    wait_for_replica(timeout=60, settings=fresh_settings)

    # The reference: an uninterrupted full run of the same data into a clean warehouse.
    clean_env = _env(fresh_settings, tmp_path / "clean")
    _run(clean_env, as_of)
    reference = marts(tmp_path / "clean" / "published")
    assert reference != before

    # An incremental run on this warehouse (what the killed runs are) sets the kill window.
    window = _run(env, as_of)
    before = marts(publish_dir)
    assert before == reference, differences(before, reference)
    ds_module.write_dataset(primary, new_data(ds_module, now, seed=9))
    wait_for_replica(timeout=60, settings=fresh_settings)
    _run(_env(fresh_settings, tmp_path / "clean2"), as_of)  # again from nothing
    reference = marts(tmp_path / "clean2" / "published")
    assert reference != before

    rng = random.Random(20261128)
    outcomes: list[tuple[float, str]] = []
    attempts = 0
    while len(outcomes) < KILLS and attempts < 3 * KILLS:
        attempts += 1
        delay = window * (len(outcomes) + rng.random()) / KILLS  # spread over the run
        proc, began = _start(env, as_of)
        time.sleep(max(0.0, delay - (time.monotonic() - began)))
        if proc.poll() is not None:  # it finished first: not a kill, try again earlier
            proc.stdout.close()
            # Runs get quicker once the new data is in (nothing left to extract) and the
            # machine's load varies: shrink the window so the kill points stay inside a run.
            window *= 0.8
            before = marts(publish_dir)
            assert before == reference
            continue
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        published = marts(publish_dir)  # must open: never a torn file
        state = "before" if published == before else "new" if published == reference else "BAD"
        outcomes.append((round(delay, 2), state))
        assert state != "BAD", f"kill {len(outcomes)} at {delay:.2f} s left other marts published"
        before = published  # a run that got to publish has published the reference
    assert len(outcomes) == KILLS

    _run(env, as_of)  # the next run after all the kills
    assert marts(publish_dir) == reference
    rows = sum(len(v) for v in reference.values())
    print(
        f"\npipeline kills: {KILLS} SIGKILLs at (s into the run, published marts after) "
        f"{outcomes}; incremental run {window:.1f} s; marts after the next run equal the "
        f"uninterrupted run's ({rows} mart rows); published marts damaged: 0"
    )
