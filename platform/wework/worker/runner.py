"""One worker process: its threads, and how it stops.

Threads (daemons; the main thread only waits for a stop request):

- ``WEWORK_WORKER_DISPATCH_LOOPS`` dispatch loops, sharing a pool of
  ``WEWORK_WORKER_SEND_CONCURRENCY`` send threads. A loop that found nothing due waits
  ``WEWORK_WORKER_IDLE_SECONDS`` (one cheap indexed query per wait, whatever the data
  size); after an error it backs off up to 30 s and tries again.
- the jobs loop (:mod:`wework.worker.jobs`), checking each job when this worker last
  saw it due;
- the webhook loop (:mod:`wework.worker.webhooks`), on its own small pool so a slow
  tenant endpoint never holds message sends back;
- with the in-process simulator, its pump (:mod:`wework.worker.local_gateway`).

Stopping (SIGTERM/SIGINT → :meth:`Worker.request_stop`): no loop starts another round;
a round in flight finishes (its claimed messages are sent and recorded); the process
exits within ``WEWORK_WORKER_STOP_SECONDS``. Anything still ``sending`` then (a gateway
that did not answer in time) is recovered by another worker once its claim expires, as
after a SIGKILL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from wework.config import Settings, get_settings
from wework.gateway.base import CallbackSource, Gateway
from wework.gateway.factory import configured_gateway
from wework.services.dispatcher import dispatch_once
from wework.worker.jobs import Job, describe, identity, platform_jobs, run_if_due
from wework.worker.local_gateway import BACKPRESSURE, LocalGatewayPump
from wework.worker.webhooks import WebhookSender, deliver_due

log = logging.getLogger("wework.worker")

PUMP_EVERY = 0.2  # seconds between ingests of the in-process simulator's callbacks
MAX_BACKOFF = 30.0
WEBHOOK_THREADS = 8
SUMMARY_EVERY = 60.0


class Worker:
    def __init__(self, settings: Settings | None = None, gateway: Gateway | None = None,
                 jobs: list[Job] | None = None):
        self.settings = settings or get_settings()
        self.gateway = gateway or configured_gateway(self.settings)
        self.jobs = platform_jobs(self.settings) if jobs is None else jobs
        self.identity = identity()
        self.counts: Counter = Counter()
        self._counts_lock = threading.Lock()
        self._stop = threading.Event()
        self._pump_stop = threading.Event()  # set once nothing sends any more
        self._threads: list[threading.Thread] = []
        self._pump_thread: threading.Thread | None = None
        self._send_pool = ThreadPoolExecutor(self.settings.worker_send_concurrency,
                                             thread_name_prefix="send")
        self._webhook_pool = ThreadPoolExecutor(WEBHOOK_THREADS, thread_name_prefix="webhook")
        self.sender = WebhookSender(self.settings)
        self.pump = (LocalGatewayPump(self.gateway)
                     if isinstance(self.gateway, CallbackSource) else None)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Worker:
        loops: list[tuple[str, Callable[[], None]]] = [
            (f"dispatch-{i}", self._dispatch_loop)
            for i in range(self.settings.worker_dispatch_loops)
        ]
        if self.jobs:
            loops.append(("jobs", self._jobs_loop))
        loops.append(("webhooks", self._webhook_loop))
        for name, target in loops:
            self._threads.append(self._spawn(name, target))
        if self.pump is not None:
            self._pump_thread = self._spawn("gateway-pump", self._pump_loop)
        log.info("worker %s started: %d dispatch loop(s), %d send thread(s), gateway %s",
                 self.identity, self.settings.worker_dispatch_loops,
                 self.settings.worker_send_concurrency, type(self.gateway).__name__)
        return self

    def request_stop(self) -> None:
        """Stop claiming; rounds in flight finish. Safe from a signal handler."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _spawn(self, name: str, target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=self._guard, args=(name, target), name=name,
                                  daemon=True)
        thread.start()
        return thread

    def shutdown(self) -> bool:
        """Wait (at most WEWORK_WORKER_STOP_SECONDS) for the loops to finish their round,
        then for the in-process simulator's last callbacks to be stored; True if all
        finished in time."""
        self._stop.set()
        deadline = time.monotonic() + self.settings.worker_stop_seconds
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._pump_stop.set()
        threads = list(self._threads)
        if self._pump_thread is not None:
            self._pump_thread.join(max(0.0, deadline - time.monotonic()))
            threads.append(self._pump_thread)
        left = [t.name for t in threads if t.is_alive()]
        self._send_pool.shutdown(wait=False, cancel_futures=True)
        self._webhook_pool.shutdown(wait=False, cancel_futures=True)
        if left:
            log.warning("stopping with %s still busy: messages they hold stay 'sending' "
                        "until their claim expires and another worker recovers them",
                        ", ".join(left))
            if self.pump is not None and self.pump.waiting():
                log.warning("%d callback(s) of the in-process simulator were not stored "
                            "and are lost with it", self.pump.waiting())
        else:
            self.sender.close()
        log.info("worker %s stopped: %s", self.identity, dict(self.counts))
        return not left

    def run(self) -> bool:
        """Start, wait for :meth:`request_stop` (the signal handlers call it), stop."""
        self.start()
        next_summary = time.monotonic() + SUMMARY_EVERY
        while not self._stop.wait(1.0):
            if time.monotonic() >= next_summary:
                log.info("worker %s so far: %s", self.identity, dict(self.counts))
                next_summary += SUMMARY_EVERY
        return self.shutdown()

    # ------------------------------------------------------------ loops

    def _count(self, counter: Counter) -> None:
        with self._counts_lock:
            self.counts.update(counter)

    def _guard(self, name: str, loop: Callable[[], None]) -> None:
        """Run a loop; if it raises anyway, log it and start it again after a pause."""
        failures = 0
        stop = self._pump_stop if loop == self._pump_loop else self._stop
        while not stop.is_set():
            try:
                loop()
                return
            except Exception as exc:
                failures += 1
                log.error("%s loop failed (%d in a row): %s", name, failures, describe(exc))
                self._stop.wait(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        return min(MAX_BACKOFF, 0.5 * 2 ** failures)

    def _polling(self, what: str, round_: Callable[[], Counter], idle: float) -> None:
        """Run rounds until stopped: wait ``idle`` after a round with nothing to do, back
        off after a failed one."""
        failures = 0
        while not self._stop.is_set():
            try:
                done = round_()
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning("%s round failed: %s", what, describe(exc))
                self._stop.wait(self._backoff(failures))
                continue
            self._count(done)
            if not done:
                self._stop.wait(idle)

    def _dispatch_loop(self) -> None:
        self._polling("dispatch", self._dispatch_round, self.settings.worker_idle_seconds)

    def _dispatch_round(self) -> Counter:
        if self.pump is not None and self.pump.waiting() > BACKPRESSURE:
            return Counter()  # let the simulator's callbacks catch up first
        return dispatch_once(self.gateway, limit=self.settings.worker_batch_size,
                             pool=self._send_pool).outcomes

    def _jobs_loop(self) -> None:
        next_check = {job.name: 0.0 for job in self.jobs}
        while not self._stop.is_set():
            for job in self.jobs:
                if self._stop.is_set():
                    return
                if time.monotonic() < next_check[job.name]:
                    continue
                try:
                    run = run_if_due(job, self.settings, self.identity)
                    wait = run.next_due_in
                    if run.ran:
                        self._count(Counter({f"job.{job.name}": 1}))
                except Exception as exc:  # e.g. the primary is down: try again soon
                    log.warning("job %s could not run: %s", job.name, describe(exc))
                    wait = 5.0
                next_check[job.name] = time.monotonic() + max(wait, 0.05)
            pause = min(next_check.values()) - time.monotonic()
            self._stop.wait(min(max(pause, 0.05), 1.0))

    def _webhook_loop(self) -> None:
        self._polling("webhook", lambda: Counter({
            f"webhook.{k}": v for k, v in deliver_due(self.sender, self._webhook_pool).items()
        }), self.settings.worker_webhooks_every)

    def _pump_loop(self) -> None:
        """Runs until nothing sends any more (``_pump_stop``), then stores the callbacks
        of the last sends and ends."""
        failures = 0
        while True:
            last = self._pump_stop.is_set()
            try:
                ingested = self.pump.step()
                if ingested:
                    self._count(Counter({"callbacks.ingested": ingested}))
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning("ingesting the simulator's callbacks failed: %s", describe(exc))
                if self._pump_stop.wait(self._backoff(failures)):
                    continue
            if last:
                return
            self._pump_stop.wait(PUMP_EVERY)
