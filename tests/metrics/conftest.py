"""A real VictoriaMetrics per test module, on a free port with its data in a tmp dir."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ports import free_port

from wework.metrics.localserver import VictoriaMetricsServer


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetricsServer]:
    server = VictoriaMetricsServer(tmp_path_factory.mktemp("vm"), free_port())
    server.up()
    yield server
    server.down()
