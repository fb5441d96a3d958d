"""A PRIVATE local Redis for these tests: they stop, pause and restart it, so they never
touch the shared one of `wework cache up`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ports import free_port
from stacks import server_dir

from wework.cache.server import LocalRedis


@pytest.fixture(scope="module")
def local_redis() -> Iterator[LocalRedis]:
    with server_dir("redis") as base:
        server = LocalRedis(base, free_port(), echo=lambda _: None)
        try:
            server.up()
            yield server
        finally:
            server.down()
