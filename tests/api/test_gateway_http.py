"""The gateway over HTTP: HttpGateway against `wework gateway-sim serve` (a real server
process), the dispatcher sending through it, and the simulator's signed callbacks taken
by a real `wework api` — also when the API comes up only after the callbacks were due."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from intake_helpers import start_api, start_sim, wait_for
from ports import free_port
from services.messaging_helpers import make_account, messages_of, text_rows

from wework.enums import AccountStatus
from wework.enums import MessageStatus as MS
from wework.gateway.base import SendRequest
from wework.gateway.http import HttpGateway
from wework.services import accounts, messages
from wework.services.dispatcher import dispatch_once


@pytest.fixture(scope="module")
def sim(api, gateway, logs) -> Iterator[httpx.Client]:
    server = start_sim(logs, api.base_url, gateway.secret)
    with httpx.Client(base_url=server.base_url) as control:
        yield control
    assert server.stop(), server.log_text()[-3000:]


@pytest.fixture
def gw(sim) -> Iterator[HttpGateway]:
    sim.delete("/_sim/faults")
    with HttpGateway(str(sim.base_url), timeout=10, backoff_initial=0.05,
                     backoff_max=0.2) as g:
        yield g


def fault(sim: httpx.Client, **spec) -> None:
    sim.post("/_sim/faults", json=spec).raise_for_status()


def stats(sim: httpx.Client) -> dict:
    return sim.get("/_sim/stats").json()


def request(message_id: str) -> SendRequest:
    return SendRequest(message_id, "tenant", "account", "guid-http", "conv-1", "text",
                       {"text": "hello"})


def test_a_send_carries_its_message_id_as_idempotency_key(sim, gw):
    mid = f"m-{time.time_ns()}"
    first, second = gw.send(request(mid)), gw.send(request(mid))
    assert first.ok and first.wework_msg_id and second.wework_msg_id == first.wework_msg_id
    assert sim.get("/_sim/deliveries").json()[mid] == 1
    # The simulator refuses a send whose key is not its message id.
    refused = sim.post("/v1/messages", json={"message_id": "a", "guid": "g",
                                             "conversation_id": "c", "message_type": "text",
                                             "content": {}}, headers={"Idempotency-Key": "b"})
    assert refused.status_code == 422


def test_5xx_is_retried_with_backoff_until_accepted(sim, gw):
    served = stats(sim)["faults_served"]
    fault(sim, status=503, count=2)
    result = gw.send(request(mid := f"m-{time.time_ns()}"))
    assert result.ok
    assert stats(sim)["faults_served"] - served == 2
    assert sim.get("/_sim/deliveries").json()[mid] == 1


def test_5xx_past_the_tries_is_a_retryable_failure_with_the_gateways_reason(sim, gw):
    served = stats(sim)["faults_served"]
    fault(sim, status=502, count=10, code="upstream_down", message="WeCom is unreachable")
    result = gw.send(request(f"m-{time.time_ns()}"))
    assert (result.ok, result.retryable) == (False, True)
    assert (result.error_code, result.error_message) == ("upstream_down", "WeCom is unreachable")
    assert stats(sim)["faults_served"] - served == gw.attempts == 3


def test_a_long_retry_after_ends_the_call_at_once(sim, gw):
    served = stats(sim)["faults_served"]
    fault(sim, status=429, count=3, retry_after=30)
    result = gw.send(request(f"m-{time.time_ns()}"))
    assert (result.ok, result.retryable, result.error_code) == (False, True, "simulated_fault")
    assert stats(sim)["faults_served"] - served == 1


def test_a_timeout_is_retried_and_the_message_delivered_once(sim, gw):
    before = stats(sim)["duplicate_sends"]
    fault(sim, delay_seconds=6, count=1)  # the first try times out (2 s) yet goes through
    mid = f"m-{time.time_ns()}"
    with HttpGateway(str(sim.base_url), timeout=2, attempts=5, backoff_initial=0.05,
                     backoff_max=0.2) as impatient:
        result = impatient.send(request(mid))
    assert result.ok
    wait_for(lambda: stats(sim)["duplicate_sends"] > before, timeout=30,
             what="the timed-out send to reach the simulator")
    assert sim.get("/_sim/deliveries").json()[mid] == 1


def test_a_4xx_is_a_final_failure_with_the_gateways_reason(sim, gw):
    served = stats(sim)["faults_served"]
    fault(sim, status=422, count=1, code="content_refused", message="text exceeds 2048 bytes")
    result = gw.send(request(f"m-{time.time_ns()}"))
    assert (result.ok, result.retryable) == (False, False)
    assert (result.error_code, result.error_message) == ("content_refused",
                                                         "text exceeds 2048 bytes")
    assert stats(sim)["faults_served"] - served == 1  # not retried


def test_an_unreachable_gateway_is_a_retryable_failure():
    with HttpGateway(f"http://127.0.0.1:{free_port()}", attempts=2, backoff_initial=0.01) as g:
        result = g.send(request("m-nowhere"))
    assert (result.ok, result.retryable, result.error_code) == (False, True,
                                                                "gateway_unreachable")


def test_dispatch_over_http_then_signed_receipts_deliver_the_message(sim, gw, tenant_ctx):
    account = make_account(tenant_ctx)
    ids = messages.enqueue_many(tenant_ctx, text_rows(account.id, 3))
    fault(sim, status=400, count=1, code="conversation_closed", message="the chat was dissolved")
    dispatch_once(gw, tenant_id=tenant_ctx.tenant_id)  # not other tests' queues
    got = messages_of(tenant_ctx.tenant_id, ids)
    (refused,) = [m for m in got.values() if m.status is MS.FAILED]
    assert (refused.error_code, refused.error_message) == ("conversation_closed",
                                                           "the chat was dissolved")
    sent = [i for i in ids if i != refused.id]
    # The simulator posts each receipt, signed, to the API, which applies it.
    wait_for(lambda: all(m.status is MS.DELIVERED
                         for m in messages_of(tenant_ctx.tenant_id, sent).values()),
             what="receipts of the sent messages")
    deliveries = sim.get("/_sim/deliveries").json()
    assert [deliveries[i] for i in sent] == [1, 1] and refused.id not in deliveries


def test_callbacks_wait_for_the_api_and_arrive_in_order(gateway, logs, tenant_ctx):
    account = make_account(tenant_ctx, status="created")
    api_port = free_port()  # nothing listens there yet
    sim = start_sim(logs, f"http://127.0.0.1:{api_port}", gateway.secret)
    api = None
    try:
        with httpx.Client(base_url=sim.base_url) as control:
            control.post(f"/v1/instances/{account.guid}/login").raise_for_status()
            wait_for(lambda: stats(control)["callback_attempts_failed"] >= 2,
                     what="failed callback deliveries while the API is down")
            assert stats(control)["callbacks_pending"] == 4  # the login's 4 status changes
            api = start_api(logs, port=api_port, workers=1)
            wait_for(lambda: stats(control)["callbacks_pending"] == 0, timeout=60,
                     what="the backlog to be delivered")
        # Applied in order: created → logging_in → waiting_scan → waiting_confirm → online.
        assert accounts.get_account(tenant_ctx, account.id).status is AccountStatus.ONLINE
    finally:
        sim.stop()
        if api is not None:
            api.stop()
