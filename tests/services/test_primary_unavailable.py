"""A service write against a primary that is not there fails fast and says so."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import text

from wework.config import reload_settings
from wework.errors import PrimaryUnavailable
from wework.services.uow import transaction


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_service_transaction_on_a_down_primary_raises_primary_unavailable(settings, monkeypatch):
    if not settings.uses_local_stack:
        pytest.skip("points the local primary's port at a closed one")
    monkeypatch.setenv("WEWORK_PRIMARY_PORT", str(closed_port()))
    reload_settings()
    try:
        started = time.monotonic()
        with pytest.raises(PrimaryUnavailable, match="2003") as info, \
                transaction("any-tenant") as s:
            s.execute(text("SELECT 1"))
        assert time.monotonic() - started < 6
        assert "the write was not applied" in str(info.value)
    finally:
        monkeypatch.undo()
        reload_settings()
