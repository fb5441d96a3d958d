"""Which gateway a process sends through, from the settings (one place decides).

- ``WEWORK_GATEWAY_URL`` set: the WeCom instance gateway over HTTP (``HttpGateway``).
- unset: an in-process :class:`~wework.gateway.simulator.WeComGatewaySimulator`. It
  produces its callbacks in memory (:class:`~wework.gateway.base.CallbackSource`), so the
  process that drives it (``wework worker``) ingests them itself, as ``wework simulate``
  does. It is quiet on purpose: no failures, disconnects or reconnects of its own; it
  follows the account statuses in the database (see :mod:`wework.worker.local_gateway`).
"""

from __future__ import annotations

from wework.config import Settings, get_settings
from wework.gateway.base import Gateway
from wework.gateway.simulator import WeComGatewaySimulator


def local_simulator(settings: Settings | None = None) -> WeComGatewaySimulator:
    s = settings or get_settings()
    return WeComGatewaySimulator(
        latency_ms=(0.0, s.simulator_latency_ms),
        failure_rate=0.0, delivery_failure_rate=0.0, disconnect_rate=0.0, reconnect_rate=0.0,
    )


def configured_gateway(settings: Settings | None = None) -> Gateway:
    s = settings or get_settings()
    if s.gateway_url:
        from wework.gateway.http import HttpGateway

        return HttpGateway.from_settings(s)
    return local_simulator(s)
