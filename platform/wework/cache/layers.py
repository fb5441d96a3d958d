"""The two cache levels in front of MariaDB (the spec's 多级缓存): L1 in the process
(cachetools TTL), L2 in Redis, cache-aside. MariaDB stays the source of truth.

Use a named cache from the registry (:func:`cache`)::

    TENANTS = cache("tenant")
    snapshot = TENANTS.get(tenant_id, load=lambda: read_from_mariadb(tenant_id))
    ...
    with transaction(tenant_id) as s:
        change_it(s)
        TENANTS.evict_on_commit(s, tenant_id)

Values are JSON-able dicts (what a caller needs, never a secret); ``load`` returns None
for "no such row", which is not cached.

**Reads**: L1, then L2 (and the value is put into L1), then ``load`` (put into both).
**Writes** evict *after their transaction commits* (:meth:`TwoLevelCache.evict_on_commit`):
the L1 entry of this process at once, the L2 key, and an eviction message on the Redis
channel :func:`channel` that every process's :class:`EvictionListener` applies to its own
L1 (the spec's 缓存失效事件). A load that was under way while the write committed does not
put its (older) value into L1 (a generation count per key), so a process never reads its
own write stale. L2 entries expire after ``WEWORK_CACHE_L2_TTL_SECONDS`` and L1 entries
after ``WEWORK_CACHE_L1_TTL_SECONDS``: the bound on staleness if an eviction message is
lost. While the listener is not subscribed (Redis down, reconnecting) evictions of other
processes cannot arrive, so L1 is bypassed and emptied; with Redis away every read comes
from MariaDB. Redis calls go through :func:`wework.cache.redis.get_redis` (short timeouts,
circuit breaker): a failure is counted per cache (``errors``), logged by the client, and
never fails the caller.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import redis as redis_lib
from cachetools import TTLCache
from sqlalchemy import event
from sqlalchemy.orm import Session

from wework.config import get_settings

log = logging.getLogger(__name__)

_KEY_PREFIX = "wework:cache:"
# A load that raced an eviction must not put its older value into L2: an evicted key
# refuses values for this long (longer than any load takes).
TOMBSTONE_SECONDS = 10
_SET_UNLESS_EVICTED = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
ALL = "*"  # an eviction message for every key of every cache
ORIGIN = f"{socket.gethostname()}:{os.getpid()}"  # this process, in eviction messages
_PENDING = "wework_cache_evictions"  # Session.info key: evictions due after commit


@dataclass
class CacheStats:
    hits_l1: int = 0
    hits_l2: int = 0
    misses: int = 0  # loaded from MariaDB
    evictions: int = 0  # keys evicted by this process's writes or by eviction messages
    errors: int = 0  # Redis calls of this cache that failed or were refused (open circuit)

    @property
    def hit_rate(self) -> float | None:
        reads = self.hits_l1 + self.hits_l2 + self.misses
        return None if reads == 0 else (self.hits_l1 + self.hits_l2) / reads


Value = dict[str, Any]


class TwoLevelCache:
    def __init__(self, name: str) -> None:
        if ":" in name:
            raise ValueError(f"cache name {name!r}: no colons")
        self.name = name
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._l1: TTLCache | None = None
        self._generation: dict[str, int] = {}
        # Keys whose eviction could not reach Redis: their L2 entry may be stale, so this
        # process reads them from MariaDB, and the listener sends them again.
        self._unsent: set[str] = set()

    # -- plumbing

    def _local(self) -> TTLCache:
        if self._l1 is None:
            s = get_settings()
            self._l1 = TTLCache(maxsize=s.cache_l1_max_entries, ttl=s.cache_l1_ttl_seconds)
        return self._l1

    def redis_key(self, key: str) -> str:
        return f"{_namespace()}{self.name}:{key}"

    def _redis(self, operation: Callable[[redis_lib.Redis], Any], default: Any) -> Any:
        """A Redis call through the guarded client; a failure counts as this cache's."""
        from wework.cache.redis import get_redis

        failed = object()
        result = get_redis().call(operation, default=failed)
        if result is failed:
            self._count("errors")
            return default
        return result

    def _count(self, field: str) -> None:
        with self._lock:
            setattr(self.stats, field, getattr(self.stats, field) + 1)

    # -- reads

    def get(self, key: str, load: Callable[[], Value | None]) -> Value | None:
        """The value of ``key``: L1, else L2, else ``load()`` (None = no such row)."""
        if not get_settings().cache_enabled:
            return load()
        use_l1 = listener().subscribed
        if use_l1:
            with self._lock:
                value = self._local().get(key)
                generation = self._generation.get(key, 0)
            if value is not None:
                self._count("hits_l1")
                return value
        else:
            self.clear_local()
            generation = None
        with self._lock:
            unsent = key in self._unsent
        raw = None if unsent else self._redis(lambda r: r.get(self.redis_key(key)),
                                              default=None)
        value = _decode(raw)
        if value is not None:
            self._count("hits_l2")
        else:
            self._count("misses")
            value = load()
            if value is None:
                return None
            self._redis(lambda r: self._put(r, {key: value}), default=None)
        if use_l1:
            with self._lock:
                # Not if a write evicted the key meanwhile: the value may predate it.
                if self._generation.get(key, 0) == generation:
                    self._local()[key] = value
        return value

    def get_many(
        self, keys: list[str], load_many: Callable[[list[str]], dict[str, Value]]
    ) -> dict[str, Value]:
        """The values of ``keys`` that exist, as :meth:`get` for each, in one Redis round
        trip (MGET) and one ``load_many(missing keys)`` → {key: value}."""
        keys = list(dict.fromkeys(keys))
        if not get_settings().cache_enabled:
            return load_many(keys)
        found: dict[str, Value] = {}
        use_l1 = listener().subscribed
        generations: dict[str, int] = {}
        if use_l1:
            with self._lock:
                local = self._local()
                for key in keys:
                    value = local.get(key)
                    if value is not None:
                        found[key] = value
                    generations[key] = self._generation.get(key, 0)
                self.stats.hits_l1 += len(found)
        else:
            self.clear_local()
        with self._lock:
            wanted = [k for k in keys if k not in found and k not in self._unsent]
            unsent = [k for k in keys if k not in found and k in self._unsent]
        raws = self._redis(lambda r: r.mget([self.redis_key(k) for k in wanted]),
                           default=[None] * len(wanted)) if wanted else []
        from_l2 = {k: v for k, v in zip(wanted, map(_decode, raws), strict=True)
                   if v is not None}
        missing = [k for k in wanted if k not in from_l2] + unsent
        loaded = load_many(missing) if missing else {}
        with self._lock:
            self.stats.hits_l2 += len(from_l2)
            self.stats.misses += len(missing)
        if loaded:
            self._redis(lambda r: self._put(r, loaded), default=None)
        fetched = {**from_l2, **loaded}
        if use_l1:
            with self._lock:
                local = self._local()
                for key, value in fetched.items():
                    if self._generation.get(key, 0) == generations.get(key, 0):
                        local[key] = value
        return {**found, **fetched}

    def tombstone_key(self, key: str) -> str:
        return f"{_namespace()}evicted:{self.name}:{key}"

    def _put(self, r: redis_lib.Redis, values: dict[str, Value]) -> None:
        """Put loaded values into L2 — unless the key was evicted within the last
        :data:`TOMBSTONE_SECONDS`: the value may have been read before that write
        committed, and would otherwise sit stale in L2 for its whole TTL."""
        ttl = get_settings().cache_l2_ttl_seconds
        pipe = r.pipeline(transaction=False)
        for key, value in values.items():
            pipe.eval(_SET_UNLESS_EVICTED, 2, self.redis_key(key), self.tombstone_key(key),
                      json.dumps(value, ensure_ascii=False, default=str), ttl)
        pipe.execute()

    # -- writes

    def evict_on_commit(self, session: Session, *keys: str) -> None:
        """Evict ``keys`` once ``session``'s transaction commits (nothing on rollback)."""
        session.info.setdefault(_PENDING, []).extend((self, k) for k in keys if k)

    def evict(self, *keys: str) -> None:
        """Evict now: L1 of this process, the L2 keys, and the message every process's L1
        listens to."""
        keys = tuple(k for k in keys if k)
        if not keys:
            return
        self.evict_local(keys)
        if get_settings().cache_enabled:
            self._send(keys)

    def _send(self, keys: tuple[str, ...]) -> None:
        """Delete the L2 keys and publish their eviction; remembered if Redis fails."""
        message = json.dumps({"cache": self.name, "keys": list(keys), "origin": ORIGIN})

        def publish(r: redis_lib.Redis) -> bool:
            pipe = r.pipeline(transaction=False)
            pipe.delete(*(self.redis_key(k) for k in keys))
            for k in keys:
                pipe.set(self.tombstone_key(k), 1, ex=TOMBSTONE_SECONDS)
            pipe.publish(channel(), message)
            pipe.execute()
            return True

        sent = self._redis(publish, default=False)
        with self._lock:
            if sent:
                self._unsent.difference_update(keys)
            else:
                self._unsent.update(keys)

    def send_unsent(self) -> None:
        """Send again the evictions Redis did not take (the listener calls this)."""
        with self._lock:
            keys = tuple(sorted(self._unsent))
        if keys:
            self._send(keys)

    def evict_local(self, keys: tuple[str, ...] | list[str]) -> None:
        with self._lock:
            local = self._local()
            for key in keys:
                self._generation[key] = self._generation.get(key, 0) + 1
                local.pop(key, None)
                self.stats.evictions += 1

    def clear_local(self) -> None:
        with self._lock:
            if self._l1 is not None and len(self._l1):
                for key in list(self._l1):
                    self._generation[key] = self._generation.get(key, 0) + 1
                self._l1.clear()


def _namespace() -> str:
    """Keys and the eviction channel are per database (``WEWORK_DB_NAME``): deployments and
    test sessions sharing one Redis never see each other's entries."""
    return f"{_KEY_PREFIX}{get_settings().db_name}:"


def channel() -> str:
    """The Redis channel eviction messages are published on."""
    return f"{_namespace()}evict"


def _decode(raw: bytes | None) -> Value | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# ---------------------------------------------------------------- registry

_CACHES: dict[str, TwoLevelCache] = {}
_registry_lock = threading.Lock()


def cache(name: str) -> TwoLevelCache:
    """The process's cache called ``name`` (one per name)."""
    with _registry_lock:
        found = _CACHES.get(name)
        if found is None:
            found = _CACHES[name] = TwoLevelCache(name)
        return found


def all_caches() -> dict[str, TwoLevelCache]:
    with _registry_lock:
        return dict(_CACHES)


def stats_rows() -> list[dict[str, Any]]:
    """Each cache's counters (for the metrics store and the Monitoring page)."""
    rows = []
    for name, c in sorted(all_caches().items()):
        with c._lock:
            row = {"cache": name, **asdict(c.stats), "hit_rate": c.stats.hit_rate}
        rows.append(row)
    return rows


@event.listens_for(Session, "after_commit")
def _evict_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    for c, key in pending or ():
        c.evict(key)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


# ---------------------------------------------------------------- eviction listener


class EvictionListener:
    """One daemon thread per process: subscribed to :func:`channel`, it applies every
    eviction message to this process's L1 caches, and every
    ``WEWORK_CACHE_STATS_SECONDS`` records the caches' counters as metrics. When the
    subscription breaks it empties L1 (evictions may have been missed) and resubscribes
    with a growing pause; meanwhile :attr:`subscribed` is False and L1 is not used."""

    def __init__(self) -> None:
        self.subscribed = False
        self.received = 0
        self._started = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._started or not get_settings().cache_enabled:
                return
            self._started = True
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="cache-evictions",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            self._started = False
            self.subscribed = False

    def _client(self) -> redis_lib.Redis:
        from wework.cache.redis import redis_url

        s = get_settings()
        # Its own connection: a subscribed connection cannot serve other commands, and it
        # waits for messages longer than the guarded client's command timeout.
        return redis_lib.Redis.from_url(
            redis_url(s), socket_connect_timeout=s.redis_timeout_seconds,
            socket_timeout=5.0, health_check_interval=0, client_name="wework-evictions")

    def _run(self) -> None:
        pause = 0.2
        next_stats = time.monotonic()
        while not self._stop.is_set():
            client = pubsub = None
            try:
                client = self._client()
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(channel())
                pubsub.get_message(timeout=1.0)  # the subscription's confirmation
                self.subscribed = True
                pause = 0.2
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._apply(message.get("data"))
                    for c in all_caches().values():
                        c.send_unsent()
                    next_stats = self._record_stats(next_stats)
            except (redis_lib.RedisError, OSError) as exc:
                if self.subscribed:
                    log.warning("cache evictions: subscription lost (%s); L1 bypassed until "
                                "it is back", type(exc).__name__)
            finally:
                self.subscribed = False
                for c in all_caches().values():
                    c.clear_local()
                if pubsub is not None:
                    with contextlib.suppress(redis_lib.RedisError):
                        pubsub.close()
                if client is not None:
                    client.close()
            next_stats = self._record_stats(next_stats)
            self._stop.wait(pause)
            pause = min(pause * 2, 5.0)

    def _apply(self, data: Any) -> None:
        try:
            message = json.loads(data)
            target = all_caches().get(message["cache"])
            keys = [str(k) for k in message["keys"]]
            origin = message.get("origin")
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("cache evictions: unreadable message ignored")
            return
        self.received += 1
        if origin == ORIGIN:  # our own: evicted here already
            return
        if message["cache"] == ALL:
            for c in all_caches().values():
                c.clear_local()
        elif target is not None:
            target.evict_local(keys)

    def _record_stats(self, due: float) -> float:
        now = time.monotonic()
        if now < due:
            return due
        from wework import metrics

        for row in stats_rows():
            metrics.cache_stats(row)
        return now + get_settings().cache_stats_seconds


_listener = EvictionListener()


def reset() -> None:
    """Stop the listener and forget every cache's entries and counters (tests, and a
    process whose Redis settings changed)."""
    _listener.stop()
    for c in all_caches().values():
        c.clear_local()
        c.stats = CacheStats()
        c._l1 = None
        c._unsent.clear()


def clear_all() -> None:
    """Empty every cache, both levels, in every process (after rows changed behind the
    services' back: a restore, a test emptying its tables)."""
    for c in all_caches().values():
        c.clear_local()

    def delete_namespace(r: redis_lib.Redis) -> None:
        keys = list(r.scan_iter(match=f"{_namespace()}*", count=1000))
        if keys:
            r.delete(*keys)
        r.publish(channel(), json.dumps({"cache": ALL, "keys": [], "origin": ORIGIN}))

    from wework.cache.redis import get_redis

    get_redis().call(delete_namespace, default=None)


def listener() -> EvictionListener:
    """The process's eviction listener, started on first use."""
    if not _listener._started:
        _listener.start()
    return _listener
