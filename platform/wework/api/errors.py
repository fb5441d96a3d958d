"""Every error the API answers is ``{"error": {"field": <name or null>, "reason": <text>}}``.

An unexpected exception is answered 500 with an error id and logged as one line (the id,
the route and the exception's type): no stack trace, no exception text (database errors
echo statements and their values), so nothing secret reaches the answer or the log.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wework.errors import ValidationError
from wework.services import fields

log = logging.getLogger("wework.api")


class ApiError(Exception):
    """An answer other than success: status code, the field at fault, the reason."""

    def __init__(self, status: int, field: str | None, reason: str,
                 headers: dict[str, str] | None = None):
        self.status = status
        self.field = field
        self.reason = reason
        self.headers = headers
        super().__init__(f"{status} {field}: {reason}")


def error_response(status: int, field: str | None, reason: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"field": field, "reason": reason}}, status_code=status,
                        headers=headers)


class ErrorsAsJson:
    """Outermost handler of unexpected exceptions (pure ASGI: Starlette's own handler
    re-raises, and the server would then log the traceback)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            error_id = uuid.uuid4().hex[:12]
            log.error("internal error %s on %s %s: %s", error_id, scope.get("method"),
                      scope.get("path"), type(exc).__name__)
            if not started:
                response = error_response(500, None, f"internal error {error_id}")
                await response(scope, receive, send)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.field, exc.reason, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, None, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # A body declared with a service's input model (wework.services.inputs) is
        # refused in the services' words: the same field path, the same reason.
        if not exc.errors():
            return error_response(422, None, "invalid request")
        first = exc.errors()[0]
        loc = tuple(first.get("loc", ()))[1:]  # after "body" / "query" / "path"
        loc += tuple((first.get("ctx") or {}).get("loc", ()))
        return error_response(422, fields.path(loc) or None, fields.reason(first))

    @app.exception_handler(ValidationError)
    async def refused(request: Request, exc: ValidationError) -> JSONResponse:
        return error_response(422, exc.field, exc.reason)

    app.add_middleware(ErrorsAsJson)
