"""``wework worker``: the long-running process that makes the platform move.

Any number may run at once, on one machine or many; they coordinate only through
MariaDB. Each worker runs, on its own threads:

- dispatch loops (:mod:`wework.services.dispatcher`): claim due messages with
  ``SKIP LOCKED``, send them concurrently, record the outcomes set-based;
- webhook delivery (:mod:`wework.worker.webhooks`): the tenants' outbox, signed, with
  retries and backoff;
- the once-at-a-time jobs (:mod:`wework.worker.jobs`): heartbeat sweep, partitions,
  gauges, batch completion, recovery of expired claims and stranded callback events,
  outbox purge — each under a database-wide named lock (:mod:`wework.worker.locks`) and
  a cluster-wide interval;
- with the in-process gateway simulator, its callbacks (:mod:`wework.worker.local_gateway`).

:mod:`wework.worker.runner` starts and stops them (SIGTERM: stop claiming, finish
in-flight sends, exit within ``WEWORK_WORKER_STOP_SECONDS``).
"""
