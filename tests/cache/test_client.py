"""The Redis client factory: bounded calls, a circuit breaker, counted and logged failures.

Against a real redis-server that the tests stop, pause and start again mid-use."""

from __future__ import annotations

import logging
import time

import pytest
import redis

from wework.cache.redis import GuardedRedis, get_redis, new_redis
from wework.cache.server import PASSWORD_KEY
from wework.config import Settings
from wework.localenv import read_env_file

FAIL_MAX = 3


@pytest.fixture
def settings(local_redis) -> Settings:
    local_redis.up()  # a previous test may have stopped it
    return Settings(
        data_dir=local_redis.data_dir,
        redis_url=None,
        redis_port=local_redis.port,
        redis_password=read_env_file(local_redis.env_file)[PASSWORD_KEY],
        redis_timeout_seconds=0.2,
        redis_breaker_fail_max=FAIL_MAX,
        redis_breaker_reset_seconds=0.5,
    )


def wait_for(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_client_uses_hiredis_short_timeouts_and_no_retries(settings):
    guarded = new_redis(settings)
    kwargs = guarded.client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.2
    connection = guarded.client.connection_pool.get_connection()
    try:
        assert type(connection._parser).__name__ == "_HiredisParser"
        assert connection.retry._retries == 0
    finally:
        guarded.client.connection_pool.release(connection)
    assert guarded.call(lambda r: r.set("k", "v"), default=None)
    assert guarded.call(lambda r: r.get("k"), default=None) == b"v"


def test_one_client_per_process(settings):
    assert get_redis(settings) is get_redis(settings)


def _assert_open_and_not_calling_redis(guarded: GuardedRedis) -> None:
    assert guarded.state == "open"
    touched = []
    rejected = guarded.stats.rejected
    assert guarded.call(lambda r: touched.append(r), default="fallback") == "fallback"
    assert touched == []  # the operation never ran: no network, no timeout
    assert guarded.stats.rejected == rejected + 1


def test_redis_stopped_mid_use_opens_the_circuit_and_it_closes_when_redis_is_back(
    settings, local_redis, caplog
):
    caplog.set_level(logging.INFO, logger="wework.cache.redis")
    guarded = new_redis(settings)
    assert guarded.call(lambda r: r.set("session", "1"), default=False)

    local_redis.down()
    for _ in range(FAIL_MAX):
        assert guarded.call(lambda r: r.get("session"), default="from-db") == "from-db"
    assert guarded.stats.failures == FAIL_MAX
    _assert_open_and_not_calling_redis(guarded)

    local_redis.up()
    # After the reset timeout one trial call goes through and closes the circuit.
    wait_for(lambda: guarded.call(lambda r: r.ping(), default=False))
    assert guarded.state == "closed"
    # A restarted Redis starts empty (it persists nothing): callers re-read the database.
    assert guarded.call(lambda r: r.get("session"), default="from-db") is None

    messages = [r.getMessage() for r in caplog.records]
    assert any("circuit OPEN" in m for m in messages), messages
    assert any("circuit closed" in m for m in messages), messages
    assert sum("call failed" in m for m in messages) == FAIL_MAX
    assert not any(settings.redis_password in m for m in messages)


def test_a_slow_redis_costs_a_timeout_until_the_circuit_opens(settings):
    guarded = new_redis(settings)
    admin = redis.Redis(host="127.0.0.1", port=settings.redis_port,
                        password=settings.redis_password)
    assert guarded.ping()
    admin.execute_command("CLIENT", "PAUSE", "10000", "ALL")  # answers nobody for 10 s
    try:
        for _ in range(FAIL_MAX):
            assert guarded.call(lambda r: r.get("k"), default="db") == "db"
        assert guarded.stats.failures == FAIL_MAX
        _assert_open_and_not_calling_redis(guarded)
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
    wait_for(lambda: guarded.ping())
    assert guarded.state == "closed"


def test_a_command_error_falls_back_without_opening_the_circuit(settings):
    guarded = new_redis(settings)
    guarded.call(lambda r: r.set("a-string", "x"), default=None)
    for _ in range(FAIL_MAX + 2):
        # LPUSH on a string: WRONGTYPE, a bug in the caller rather than an outage.
        assert guarded.call(lambda r: r.lpush("a-string", 1), default=-1) == -1
    assert guarded.stats.failures == FAIL_MAX + 2
    assert guarded.state == "closed"
    assert guarded.ping()
