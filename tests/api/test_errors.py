"""An unexpected exception is answered 500 as JSON with an error id and logged as one
line: no traceback, no exception text (it may hold values) in the answer or the log."""

from __future__ import annotations

import asyncio
import logging

import httpx

from wework.api.app import create_app


def test_an_unexpected_error_is_json_and_logged_without_trace_or_values(settings, caplog):
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> dict:
        raise RuntimeError("password=hunter2 leaked into an exception message")

    caplog.set_level(logging.DEBUG)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/boom")

    response = asyncio.run(get())
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["field"] is None and error["reason"].startswith("internal error ")
    error_id = error["reason"].split()[-1]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"internal error {error_id} on GET /boom: RuntimeError" in logged
    assert "hunter2" not in logged and "hunter2" not in response.text
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in caplog.text
