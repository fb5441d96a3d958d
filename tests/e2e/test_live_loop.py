"""The whole loop across the network, every part its own process: a batch created through
the services is claimed by ``wework worker``, sent over HTTP to ``wework gateway-sim
serve`` (bearer token, the message id as idempotency key), whose signed receipts come back
to ``wework api``; the batch completes with counters equal to its messages. Then the same
while the worker is SIGKILLed again and again: nothing lost, nothing delivered twice."""

from __future__ import annotations

import random
import time

import pytest
from loop_helpers import completed, create_batch, in_flight, retried, settled, wait_for

from wework.gateway.base import SendRequest
from wework.gateway.http import HttpGateway


def test_a_batch_completes_end_to_end(loop, make_sender_tenant):
    sender = make_sender_tenant()
    batch_id = create_batch(sender, 40)
    before = loop.sim_stats()
    worker = loop.start_worker()
    # Completed once every message was sent; delivered once the receipts, posted by the
    # simulator to the API, were applied.
    done = settled(sender, batch_id)
    assert set(done.messages.values()) == {"delivered"}
    assert done.recomputed == done.stored
    assert (done.stored["total_count"], done.stored["sent_count"],
            done.stored["success_count"], done.stored["failed_count"]) == (40, 40, 40, 0)
    deliveries = loop.deliveries()
    assert [deliveries.get(mid) for mid in done.messages] == [1] * 40
    after = loop.sim_stats()
    assert after["deliveries"] - before["deliveries"] == 40
    # Receipts crossed the network: every event the simulator produced was accepted.
    wait_for(lambda: loop.sim_stats()["callbacks_pending"] == 0, timeout=60,
             what="callbacks drained")
    assert worker.stop(), worker.log_text()[-3000:]  # SIGTERM: a clean exit


def test_sends_without_the_gateway_token_are_refused_and_stay_retryable(loop):
    request = SendRequest("m-token", "tenant", "account", "guid-token", "conv", "text",
                          {"text": "hi"})
    for token in (None, "not-the-token"):
        with HttpGateway(loop.sim.base_url, token=token, attempts=1) as gateway:
            result = gateway.send(request)
        assert (result.ok, result.retryable, result.error_code) == (False, True,
                                                                    "gateway_401")
        assert "WEWORK_GATEWAY_TOKEN" in result.error_message
        assert token is None or token not in result.error_message
    assert "m-token" not in loop.deliveries()
    with HttpGateway(loop.sim.base_url, token=loop.token, attempts=1) as gateway:
        assert gateway.send(request).ok
    assert loop.deliveries()["m-token"] == 1


KILLS = 10
MESSAGES = 300
SEND_DELAY = 0.5  # the simulator holds each send this long: the batch takes ~20 s


@pytest.mark.slow
def test_worker_sigkills_lose_nothing_and_deliver_nothing_twice(loop, make_sender_tenant):
    """Two workers run, as in production; SIGKILL one at a random moment while messages
    are in flight and start a replacement, ten times. Pending messages go on through the
    survivors; the killed workers' claims expire and are recovered and re-sent under the
    same idempotency key, which the gateway answers from its memory."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    sender = make_sender_tenant()
    loop.sim_control("POST", "/_sim/faults", json={"delay_seconds": SEND_DELAY,
                                                   "count": 10_000})
    try:
        batch_id = create_batch(sender, MESSAGES)
        # Small claims and few send threads: many claims in flight to be killed.
        env = {"WEWORK_WORKER_BATCH_SIZE": "5", "WEWORK_WORKER_SEND_CONCURRENCY": "4"}
        loop.start_worker(**env)
        loop.start_worker(**env)
        kills = 0
        started = time.monotonic()
        while kills < KILLS and not completed(sender, batch_id):
            # A worker that is up (not one still importing) while messages are in flight.
            up = wait_for(lambda: in_flight(sender, batch_id) and [
                w for w in loop.live_workers() if " started: " in w.log_text()],
                timeout=120, every=0.05, what="a running worker with messages in flight")
            time.sleep(rng.uniform(0.0, 0.5))
            rng.choice(up).kill()
            kills += 1
            loop.start_worker(**env)
        assert kills == KILLS, f"the batch completed after {kills} kills: make it slower"
    finally:
        loop.sim_control("DELETE", "/_sim/faults")

    done = settled(sender, batch_id)
    for worker in loop.live_workers():
        assert worker.stop(), worker.log_text()[-3000:]
    deliveries = loop.deliveries()
    twice = {mid: n for mid, n in deliveries.items() if mid in done.messages and n != 1}
    lost = [mid for mid, status in done.messages.items()
            if status != "delivered" or mid not in deliveries]
    assert (lost, twice) == ([], {}), f"seed {seed}"
    assert done.recomputed == done.stored
    assert done.stored["success_count"] == MESSAGES
    recovered = retried(sender, batch_id)
    assert recovered >= 1, "no kill left a claim behind: recovery was not exercised"
    print(f"{kills} kills in {time.monotonic() - started:.0f} s (seed {seed}): "
          f"{recovered} messages recovered and sent again, the simulator answered "
          f"{loop.sim_stats()['duplicate_sends']} repeated sends from its memory")
