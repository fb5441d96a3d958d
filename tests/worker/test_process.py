"""``wework worker`` as a process: SIGTERM stops claiming, finishes the sends in flight
and exits within 10 s; ``wework worker status`` shows the jobs and queues."""

from __future__ import annotations

import subprocess

from messaging_helpers import make_account, messages_of, text_rows
from worker_helpers import wait_for, wework_command

from wework.enums import MessageStatus
from wework.services import messages


def test_sigterm_finishes_the_sends_in_flight_and_exits_within_10_s(tenant_ctx,
                                                                     worker_process):
    account = make_account(tenant_ctx)
    ids = messages.enqueue_many(tenant_ctx, text_rows(account.id, 400))
    # Slow sends (up to 300 ms each, 8 at a time, 100 per round): a round takes seconds,
    # so the signal lands while sends are in flight.
    worker = worker_process(WEWORK_SIMULATOR_LATENCY_MS="300", WEWORK_WORKER_BATCH_SIZE="100",
                            WEWORK_WORKER_SEND_CONCURRENCY="8",
                            WEWORK_WORKER_DISPATCH_LOOPS="1")

    def in_flight():
        return MessageStatus.SENDING in {m.status for m in
                                         messages_of(tenant_ctx.tenant_id, ids).values()}

    wait_for(in_flight, timeout=60, every=0.05, what="sends in flight")
    seconds = worker.stop()
    assert seconds < 10, worker.output()
    assert worker.proc.returncode == 0, worker.output()
    assert "SIGTERM" in worker.output()
    after = [m.status for m in messages_of(tenant_ctx.tenant_id, ids).values()]
    assert MessageStatus.SENDING not in after  # every claimed message was recorded
    done = sum(1 for s in after if s in (MessageStatus.SENT, MessageStatus.DELIVERED))
    assert 0 < done < len(ids)  # it stopped claiming: the rest waits for another worker
    assert after.count(MessageStatus.PENDING) == len(ids) - done


def test_status_lists_the_jobs_and_queues(settings):
    out = subprocess.run([*wework_command(), "worker", "status"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "messages due:" in out.stdout and "webhook events waiting:" in out.stdout


def test_status_tells_dispatchable_from_due_messages(tenant_ctx, settings):
    """A due message whose account is offline is counted as due but not dispatchable: it
    waits on its account, not on the workers."""
    from wework.worker.status import queue_counts

    online = make_account(tenant_ctx)
    offline = make_account(tenant_ctx, status="offline")
    before = queue_counts(settings)
    messages.enqueue_many(tenant_ctx, text_rows(online.id, 2) + text_rows(offline.id, 3))
    after = queue_counts(settings)
    assert after["messages due"] - before["messages due"] == 5
    assert (after["messages due and dispatchable"]
            - before["messages due and dispatchable"]) == 2
