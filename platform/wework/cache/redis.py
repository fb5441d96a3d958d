"""The one way to Redis: :func:`get_redis` returns the process's :class:`GuardedRedis`.

Redis is never the source of truth: whatever is kept there (cache entries, throttle
counters, eviction messages) can be lost, and every caller must work without it. So a
call never waits long and never fails the caller:

- redis-py with the hiredis parser, connect and socket timeouts of
  ``WEWORK_REDIS_TIMEOUT_SECONDS`` (0.25 s), and redis-py's own retries turned off (they
  would multiply the wait);
- a circuit breaker (pybreaker): after ``WEWORK_REDIS_BREAKER_FAIL_MAX`` failures in a row
  it opens, and for ``WEWORK_REDIS_BREAKER_RESET_SECONDS`` every call returns its fallback
  at once without touching the network; then one trial call decides whether it closes;
- every failure is counted (:attr:`GuardedRedis.stats`) and logged with the server's
  address, never its password; opening and closing the circuit are logged too.

Use::

    redis = get_redis()
    value = redis.call(lambda r: r.get(key), default=None)   # None when Redis is away
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pybreaker
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from wework.config import Settings, get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")


def redis_url(settings: Settings) -> str:
    """``WEWORK_REDIS_URL``, else the local server of ``wework cache up``."""
    if settings.redis_url:
        return settings.redis_url
    password = settings.redis_password or ""
    auth = f":{password}@" if password else ""
    return f"redis://{auth}127.0.0.1:{settings.redis_port}/0"


@dataclass
class RedisStats:
    calls: int = 0  # calls made through the guard
    failures: int = 0  # calls that went to Redis and failed (refused, timeout, error)
    rejected: int = 0  # calls answered at once by the open circuit


class _LogStateChanges(pybreaker.CircuitBreakerListener):
    def __init__(self, address: str) -> None:
        self.address = address

    def state_change(self, cb, old_state, new_state) -> None:
        name = new_state.name if new_state else "?"
        if name == pybreaker.STATE_OPEN:
            log.warning(
                "redis at %s: circuit OPEN after %d failures in a row; calls fall back at "
                "once for %.1f s",
                self.address, cb.fail_counter, cb.reset_timeout,
            )
        elif name == pybreaker.STATE_HALF_OPEN:
            log.info("redis at %s: circuit half-open, trying one call", self.address)
        else:
            log.warning("redis at %s: circuit closed, Redis answers again", self.address)


class GuardedRedis:
    """A Redis client whose every call is bounded, broken on failure and falls back."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        fail_max: int,
        reset_seconds: float,
        address: str,
    ) -> None:
        self.client = client
        self.address = address  # host:port, for logs (no credentials)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_seconds,
            # A command error (WRONGTYPE ...) is a bug in the caller, not an outage: it
            # falls back and is logged, but does not open the circuit for everyone.
            exclude=[redis.exceptions.ResponseError],
            listeners=[_LogStateChanges(address)],
            name=f"redis {address}",
            # The call that opens the circuit raises its own error (counted as a
            # failure); CircuitBreakerError then only means "refused while open".
            throw_new_error_on_trip=False,
        )
        self.stats = RedisStats()
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        return self.breaker.current_state

    def call(self, operation: Callable[[redis.Redis], T], default: T) -> T:
        """``operation(client)``, or ``default`` if Redis fails or the circuit is open."""
        with self._lock:
            self.stats.calls += 1
        try:
            return self.breaker.call(operation, self.client)
        except pybreaker.CircuitBreakerError:
            with self._lock:
                self.stats.rejected += 1
            return default
        except redis.RedisError as e:
            with self._lock:
                self.stats.failures += 1
            log.warning("redis at %s: call failed: %s: %s", self.address, type(e).__name__, e)
            return default

    def ping(self) -> bool:
        return self.call(lambda r: bool(r.ping()), default=False)


def new_redis(settings: Settings | None = None) -> GuardedRedis:
    """A new guarded client for the configured Redis (tests; processes use get_redis)."""
    s = settings or get_settings()
    timeout = s.redis_timeout_seconds
    client = redis.Redis.from_url(
        redis_url(s),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        # redis-py retries 3 times by default: with the breaker in front, one try is it.
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
        client_name="wework",
    )
    kwargs = client.connection_pool.connection_kwargs
    address = f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
    return GuardedRedis(
        client,
        fail_max=s.redis_breaker_fail_max,
        reset_seconds=s.redis_breaker_reset_seconds,
        address=address,
    )


_instances: dict[str, GuardedRedis] = {}
_instances_lock = threading.Lock()


def get_redis(settings: Settings | None = None) -> GuardedRedis:
    """The process's guarded client for the configured Redis (one pool, one breaker)."""
    s = settings or get_settings()
    key = redis_url(s)
    with _instances_lock:
        guarded = _instances.get(key)
        if guarded is None:
            guarded = _instances[key] = new_redis(s)
        return guarded
