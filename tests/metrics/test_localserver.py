"""The local VictoriaMetrics is an operator tool without a login: localhost only."""

from __future__ import annotations

import psutil


def test_metrics_store_listens_on_localhost_only(vm):
    proc = psutil.Process(vm.running_pid())
    listening = {
        (c.laddr.ip, c.laddr.port)
        for c in proc.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert listening == {("127.0.0.1", vm.port)}
