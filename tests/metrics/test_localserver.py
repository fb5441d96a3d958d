"""The local VictoriaMetrics is an operator tool without a login: localhost only."""

from __future__ import annotations

from ports import listening


def test_metrics_store_listens_on_localhost_only(vm):
    assert listening(vm.running_pid()) == {("127.0.0.1", vm.port)}
