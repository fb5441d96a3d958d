"""What a Redis call costs through the guarded client, Redis up, slow and down.

Starts a private redis-server (like `wework cache up`) on a free port and times GET
through :class:`wework.cache.redis.GuardedRedis`:

- Redis up: the guard (breaker + counters) beside the bare redis-py client (baseline);
- Redis paused (``CLIENT PAUSE``: accepts, never answers): each call waits the socket
  timeout until the breaker opens;
- circuit open: calls return the fallback without touching the network;
- Redis stopped (connection refused on localhost) with the circuit held closed: the
  cost without a breaker when the host answers with a refusal.

    .venv/bin/python bench/redis_bench.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ports import free_port

from wework.cache.redis import new_redis
from wework.cache.server import PASSWORD_KEY, LocalRedis
from wework.config import Settings
from wework.localenv import read_env_file


def per_call(fn, calls: int) -> float:
    """Median-free simple mean: seconds per call over ``calls`` calls."""
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:,.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="wework-redis-bench-"))
    server = LocalRedis(base, free_port(), echo=lambda _: None)
    try:
        server.up()
        password = read_env_file(server.env_file)[PASSWORD_KEY]
        settings = Settings(data_dir=base, redis_url=None, redis_port=server.port,
                            redis_password=password, redis_breaker_reset_seconds=3600)
        guarded = new_redis(settings)
        bare = redis.Redis(host="127.0.0.1", port=server.port, password=password)
        bare.set("k", "v")
        rows = []

        up_bare = per_call(lambda: bare.get("k"), args.calls)
        up_guarded = per_call(lambda: guarded.call(lambda r: r.get("k"), None), args.calls)
        rows.append(("Redis up, bare redis-py GET (baseline)", up_bare))
        rows.append(("Redis up, guarded GET", up_guarded))

        bare.execute_command("CLIENT", "PAUSE", "60000", "ALL")
        fail_max = guarded.breaker.fail_max
        slow = per_call(lambda: guarded.call(lambda r: r.get("k"), None), fail_max)
        assert guarded.state == "open", guarded.state
        rows.append((f"Redis paused: each of the first {fail_max} calls (timeout "
                     f"{settings.redis_timeout_seconds} s)", slow))
        opened = per_call(lambda: guarded.call(lambda r: r.get("k"), None), args.calls)
        rows.append(("circuit open: guarded GET returns the fallback", opened))
        bare.execute_command("CLIENT", "UNPAUSE")

        server.down()
        logging.getLogger("wework.cache.redis").setLevel(logging.ERROR)  # 2,000 refusals
        refused = new_redis(settings.model_copy(update={"redis_breaker_fail_max": 10**9}))
        down = per_call(lambda: refused.call(lambda r: r.get("k"), None), 2000)
        rows.append(("Redis stopped, circuit held closed: refused connection", down))

        load = os.getloadavg()
        print(f"\nRedis call cost ({args.calls:,} calls each; load average "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
        for label, seconds in rows:
            print(f"  {label:<62} {fmt(seconds):>12} per call "
                  f"({seconds / up_bare:,.2f}x the bare GET)")
        print(f"  guard failures {guarded.stats.failures}, refused while open "
              f"{guarded.stats.rejected:,}")
    finally:
        server.down()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
