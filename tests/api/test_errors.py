"""An unexpected exception is answered 500 as JSON with an error id and logged as one
line: no traceback, no exception text (it may hold values) in the answer or the log."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from wework.api.app import create_app
from wework.errors import ValidationError
from wework.services.fields import parse
from wework.services.inputs import MessageRow


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


def test_a_body_declared_with_a_service_input_model_is_refused_in_the_services_words(settings):
    """The API declares a body with the services' own input model (wework.services.inputs):
    JSON gives datetimes as ISO text, and a refusal names the field and the reason exactly
    as the service does (the same path under the body, the same words)."""
    app = create_app(settings)

    @app.post("/rows")
    def take(row: MessageRow) -> dict:
        return {"scheduled_time": row.scheduled_time.isoformat()}

    @app.post("/service")
    def service(body: dict) -> dict:
        parse(MessageRow, body)  # what a service does at its entry
        return {}

    good = {"account_id": "a1", "conversation_id": "c1", "message_type": "text",
            "content": {"text": "hi"}, "scheduled_time": "2030-01-01T08:00:00+08:00"}

    async def post(path: str, body: dict) -> httpx.Response:
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.post(path, json=body)

    ok = asyncio.run(post("/rows", good))
    assert ok.status_code == 200 and ok.json() == {"scheduled_time": "2030-01-01T00:00:00"}
    for bad, field in (({**good, "priority": "5"}, "priority"),
                       ({**good, "scheduled_time": "2038-02-01T00:00:00Z"}, "scheduled_time"),
                       ({**good, "tags": ["x"]}, "tags"),
                       ({**good, "conversation_id": "  "}, "conversation_id")):
        with pytest.raises(ValidationError) as err:
            parse(MessageRow, bad)
        assert err.value.field == field
        for path in ("/rows", "/service"):
            answer = asyncio.run(post(path, bad))
            assert answer.status_code == 422, (path, answer.text)
            assert answer.json() == {"error": {"field": field, "reason": err.value.reason}}
