"""The ASGI application of ``wework api`` (:func:`create_app`, a uvicorn factory)."""

from __future__ import annotations

from fastapi import FastAPI

from wework.api import callbacks, errors, health
from wework.config import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    s = settings or get_settings()
    app = FastAPI(title="WeWork Platform API", docs_url=None, redoc_url=None,
                  openapi_url=None)
    errors.install(app)
    app.include_router(health.router(s))
    app.include_router(callbacks.router(s))
    return app
