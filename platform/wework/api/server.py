"""Run the API under uvicorn: ``workers`` processes share the listening socket, each
building the app from the settings (:func:`wework.api.app.create_app`)."""

from __future__ import annotations

import uvicorn

# SIGTERM: stop accepting, let requests in flight finish (their events are stored before
# the answer; processing that is cut off is recovered by the worker).
GRACEFUL_SHUTDOWN_SECONDS = 10
# The supervisor kills a process that does not answer its ping within this time, also one
# still importing at startup: its 5 s default, and 30 s under a load average of 30, killed
# and respawned the processes in a loop on a busy 2-core machine (seen here). A hung
# process is still replaced, after 2 minutes; /readyz probes see it sooner.
WORKER_HEALTHCHECK_SECONDS = 120


def serve(host: str, port: int, workers: int, access_log: bool = True) -> None:
    uvicorn.run(
        "wework.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
