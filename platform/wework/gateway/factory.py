"""The gateway the platform sends through, from the settings."""

from __future__ import annotations

from wework.config import Settings, get_settings
from wework.gateway.base import Gateway


def configured_gateway(settings: Settings | None = None) -> Gateway:
    """``WEWORK_GATEWAY_URL`` set: the gateway over HTTP. Unset: an in-process SIMULATOR."""
    s = settings or get_settings()
    if s.gateway_url:
        from wework.gateway.http import HttpGateway

        return HttpGateway.from_settings(s)
    # The in-process branch is the `worker` task's (its simulator and callback loop).
    from wework.gateway.simulator import WeComGatewaySimulator

    return WeComGatewaySimulator()
