"""``wework api``: the HTTP API (POST /v1/callbacks, GET /healthz, GET /readyz)."""

from __future__ import annotations

import typer

from wework.config import reload_settings


def api(
    host: str = typer.Option(None, help="Listen address [WEWORK_API_HOST, 127.0.0.1]."),
    port: int = typer.Option(None, help="Port [WEWORK_API_PORT, 8080]."),
    workers: int = typer.Option(None, min=1, help="Processes [WEWORK_API_WORKERS, 2]."),
    access_log: bool = typer.Option(True, help="Log one line per request."),
) -> None:
    """Serve the HTTP API (POST /v1/callbacks, GET /healthz, GET /readyz) until stopped
    (SIGTERM/SIGINT: requests in flight finish)."""
    from wework.api.server import serve

    s = reload_settings()
    serve(host or s.api_host, port or s.api_port, workers or s.api_workers, access_log)
