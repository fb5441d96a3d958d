"""Sign-in throttling (issue 16 item 3): decided before argon2 runs, so a flood of logins
costs a few Redis round trips, not 64 MiB and tens of milliseconds each.

Rules (the ``login_*`` settings of wework.config.Settings):

- **per address**: at most ``login_attempts_per_address_per_minute`` attempts from one
  client address in a minute (from its first attempt), whatever the usernames;
- **per (username, address)**: ``login_failures_per_pair`` failures of one username from
  one address lock *that pair* out for ``login_lockout_minutes``. A stranger locks only
  themselves out: the user signs in from their own address as before. This replaces the
  old per-user lockout, with which anyone could keep ``superadmin`` out for 15 minutes;
- **per username**: after ``login_failures_per_username`` failures of one username from
  all addresses in one lockout window (a distributed guessing attack), only addresses
  that have signed in as that user before (kept 30 days) may still try. The owner keeps
  signing in from a known address; the attack stops;
- a success clears the pair's failures and remembers the address as known;
- an administrator's :func:`wework.services.users.unlock_user` clears the username's
  lockouts (:func:`clear`).

The bound on concurrent argon2 verifications is :func:`hash_slot`.

State lives in Redis (``wework.cache.redis.get_redis()``, behind its circuit breaker) so it
holds across app processes; when Redis does not answer, in this process's memory
(``cachetools.TTLCache``), which keeps throttling each process on its own until Redis is
back. Keys hold a digest of the username, never the username itself.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cachetools import TTLCache

from wework.cache.redis import get_redis
from wework.config import get_settings
from wework.errors import TooManyAttemptsError

KNOWN_ADDRESS_DAYS = 30
_PREFIX = "wework:login:"
_UNAVAILABLE = object()  # GuardedRedis.call's default: Redis did not answer


def _digest(username: str) -> str:
    return hashlib.sha256(username.encode()).hexdigest()[:24]


def _address(client_ip: str | None) -> str:
    return (client_ip or "-")[:45]


@dataclass(frozen=True)
class _Keys:
    address: str
    pair: str
    username: str
    known: str

    @classmethod
    def of(cls, username: str, client_ip: str | None) -> _Keys:
        user, addr = _digest(username), _address(client_ip)
        return cls(address=f"{_PREFIX}addr:{addr}", pair=f"{_PREFIX}pair:{user}:{addr}",
                   username=f"{_PREFIX}user:{user}", known=f"{_PREFIX}known:{user}:{addr}")


class _LocalStore:
    """The per-process fallback: counters that expire as Redis keys would, in a bounded
    cache (the oldest entries go first when a flood fills it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # key -> (count, expires at); the cache's own ttl only bounds the longest key.
        self._entries: TTLCache = TTLCache(maxsize=100_000, ttl=KNOWN_ADDRESS_DAYS * 86400)

    def _live(self, key: str) -> tuple[int, float]:
        count, expires = self._entries.get(key, (0, 0.0))
        return (count, expires) if expires > time.time() else (0, 0.0)

    def get(self, key: str) -> tuple[int, float]:
        """(count, seconds left)."""
        with self._lock:
            count, expires = self._live(key)
            return count, max(0.0, expires - time.time())

    def incr(self, key: str, ttl: float) -> int:
        with self._lock:
            count, expires = self._live(key)
            if not count:
                expires = time.time() + ttl
            self._entries[key] = (count + 1, expires)
            return count + 1

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def delete_prefix(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_local = _LocalStore()


def _incr(key: str, ttl: float) -> int:
    """Add one to ``key`` (created with ``ttl`` seconds to live); the new count."""
    def op(r):
        with r.pipeline() as p:
            p.set(key, 0, ex=max(1, int(ttl)), nx=True)
            p.incr(key)
            return p.execute()[1]
    got = get_redis().call(op, _UNAVAILABLE)
    return _local.incr(key, ttl) if got is _UNAVAILABLE else int(got)


def _counts(*keys: str) -> list[tuple[int, float]]:
    """(count, seconds left) of each key (0 and 0.0 when absent)."""
    def op(r):
        with r.pipeline() as p:
            for key in keys:
                p.get(key)
                p.pttl(key)
            return p.execute()
    got = get_redis().call(op, _UNAVAILABLE)
    if got is _UNAVAILABLE:
        return [_local.get(k) for k in keys]
    return [(int(got[2 * i] or 0), max(0, got[2 * i + 1]) / 1000) for i in range(len(keys))]


def _delete(*keys: str) -> None:
    get_redis().call(lambda r: r.delete(*keys), None)
    _local.delete(*keys)


def before_attempt(username: str, client_ip: str | None) -> None:
    """Count this attempt against the address and refuse it (TooManyAttemptsError, before
    any password check) when a rule above says so."""
    s = get_settings()
    keys = _Keys.of(username, client_ip)
    lockout = s.login_lockout_minutes * 60
    counts = _counts(keys.pair, keys.username, keys.known, keys.address)
    (pair, pair_left), (user, user_left), (known, _), (_, address_left) = counts
    if pair >= s.login_failures_per_pair:
        raise TooManyAttemptsError(pair_left or lockout)
    if user >= s.login_failures_per_username and not known:
        raise TooManyAttemptsError(user_left or lockout)
    if _incr(keys.address, 60) > s.login_attempts_per_address_per_minute:
        raise TooManyAttemptsError(address_left or 60)


def record_failure(username: str, client_ip: str | None) -> None:
    lockout = get_settings().login_lockout_minutes * 60
    keys = _Keys.of(username, client_ip)
    _incr(keys.pair, lockout)
    _incr(keys.username, lockout)


def record_success(username: str, client_ip: str | None) -> None:
    keys = _Keys.of(username, client_ip)
    _delete(keys.pair)
    _incr(keys.known, KNOWN_ADDRESS_DAYS * 86400)


def clear(username: str) -> None:
    """Lift every lockout of ``username`` (an administrator unlocked the user)."""
    prefix = f"{_PREFIX}pair:{_digest(username)}:"
    user_key = f"{_PREFIX}user:{_digest(username)}"

    def op(r):
        return r.delete(user_key, *r.scan_iter(match=prefix + "*", count=1000))
    get_redis().call(op, None)
    _local.delete(user_key)
    _local.delete_prefix(prefix)


_slots_lock = threading.Lock()
_slots: tuple[int, threading.BoundedSemaphore] | None = None


@contextmanager
def hash_slot() -> Iterator[None]:
    """Hold one of ``login_max_concurrent_hashes`` argon2 slots of this process while
    verifying a password; TooManyAttemptsError when none frees up within
    ``login_hash_wait_seconds`` (a flood queues briefly, then is refused, instead of
    holding 64 MiB per attempt)."""
    global _slots
    s = get_settings()
    with _slots_lock:
        if _slots is None or _slots[0] != s.login_max_concurrent_hashes:
            _slots = (s.login_max_concurrent_hashes,
                      threading.BoundedSemaphore(s.login_max_concurrent_hashes))
        semaphore = _slots[1]
    if not semaphore.acquire(timeout=s.login_hash_wait_seconds):
        raise TooManyAttemptsError(s.login_hash_wait_seconds)
    try:
        yield
    finally:
        semaphore.release()
