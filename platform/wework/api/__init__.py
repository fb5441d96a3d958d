"""``wework api``: the platform's HTTP service (FastAPI on uvicorn, several processes).

- ``POST /v1/callbacks`` (:mod:`wework.api.callbacks`): a gateway's signed callbacks;
- ``GET /healthz`` / ``GET /readyz`` (:mod:`wework.api.health`): liveness and readiness.

Errors are JSON ``{"error": {"field": ..., "reason": ...}}`` (:mod:`wework.api.errors`);
no stack trace or secret reaches an answer or a log line.
"""
