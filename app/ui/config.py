"""App-level settings read from the environment (the platform's own settings live in
``wework.config``)."""

from __future__ import annotations

import os

DEFAULT_IDLE_MINUTES = 30.0
# Report data is cached this long; a new publish of the marts invalidates it earlier,
# because the published file's path is part of every cache key.
REPORT_CACHE_TTL_SECONDS = 300
PAGE_SIZE = 20


def idle_minutes() -> float:
    """Minutes without any interaction after which a session ends
    (``WEWORK_APP_IDLE_MINUTES``, default 30). A malformed value falls back to the
    default rather than disabling the timeout."""
    raw = os.environ.get("WEWORK_APP_IDLE_MINUTES", "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_IDLE_MINUTES
    return value if value > 0 else DEFAULT_IDLE_MINUTES
