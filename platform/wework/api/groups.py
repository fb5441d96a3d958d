"""Group commit: work that concurrent requests hand in is done together, one group at a
time.

A gateway posting one callback event per request spends two transactions and about ten
statements on each (store, then apply). Requests that arrive together are stored in one
transaction and applied in one set-based round instead.

No request waits for a timer. A request that arrives while no group is running runs one
at once, with its own item first. Requests that arrive meanwhile queue. When a group
ends, the first of them runs the next group with everything queued since, up to what
``fits`` allows. Alone, an item is a group of one; under load the groups grow by
themselves. Each request waits for at most the group before its own and its own.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class _Waiter(Generic[T, R]):
    item: T
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    result: R | None = None
    error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """``submit(item)`` from any number of threads; ``run(items)`` gets a group of them
    in the order they arrived and returns one result per item, in that order.
    ``fits(group, item)``: whether ``item`` may join ``group`` (which is never empty).
    An exception of ``run`` is raised to every caller of that group, and to them only."""

    def __init__(self, run: Callable[[list[T]], list[R]],
                 fits: Callable[[list[T], T], bool]) -> None:
        self._run = run
        self._fits = fits
        self._lock = threading.Lock()
        self._queue: deque[_Waiter[T, R]] = deque()
        self._running = False

    def submit(self, item: T) -> R:
        me: _Waiter[T, R] = _Waiter(item)
        with self._lock:
            self._queue.append(me)
            lead = not self._running
            self._running = True
        if not lead:
            me.wake.wait()  # woken when its group is done, or to run the next group
        if not me.done:
            self._run_next()
        if me.error is not None:
            raise me.error
        return me.result  # type: ignore[return-value]

    def _run_next(self) -> None:
        """Run the group at the head of the queue (the caller's item is its first), then
        wake its callers and hand the next group to the first caller still queued."""
        with self._lock:
            group = [self._queue.popleft()]
            items = [group[0].item]
            while self._queue and self._fits(items, self._queue[0].item):
                group.append(self._queue.popleft())
                items.append(group[-1].item)
        try:
            results = self._run(items)
            if len(results) != len(group):
                raise RuntimeError(f"{len(results)} results for a group of {len(group)}")
            for w, r in zip(group, results, strict=True):
                w.result = r
        except BaseException as exc:
            for w in group:
                w.error = exc
        finally:
            with self._lock:
                following = self._queue[0] if self._queue else None
                self._running = following is not None
            for w in group:
                w.done = True
                w.wake.set()
            if following is not None:
                following.wake.set()
