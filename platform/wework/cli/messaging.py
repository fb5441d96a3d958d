"""``wework callbacks …`` and ``wework simulate``: callback ingestion from files or stdin,
replay of failed callbacks, and a live simulation against the configured database.

``wework simulate`` drives the WeCom gateway SIMULATOR (wework.gateway.simulator), not the
real WeCom: it logs the existing accounts in through the simulated QR flow, enqueues a
trickle of messages, dispatches them, and ingests the callbacks the simulator posts
(receipts, status changes, heartbeats, conversations, random disconnects and reconnects),
so the demo data gets live activity.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from pathlib import Path

import typer

from wework.cli.common import command_group, fail

callbacks_app = command_group(
    "Callback events from WeCom instances: ingest (JSON lines) and replay."
)


def _summary(events) -> str:
    counts = Counter(e.status.value for e in events)
    return (
        f"{len(events)} events: {counts['processed']} processed, {counts['ignored']} ignored, "
        f"{counts['failed']} failed"
    )


@callbacks_app.command("ingest")
def ingest_command(
    file: str = typer.Argument("-", help="A file of JSON lines, or - for stdin."),
    source_ip: str = typer.Option(None, help="Recorded as the events' source IP."),
    chunk: int = typer.Option(500, min=1, help="Raw events stored per transaction."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="One line per event."),
) -> None:
    """Store every non-empty line as a raw callback event, then parse and apply it.
    Malformed lines are stored too (status failed, with the reason); nothing is dropped."""
    from wework.services import callbacks

    stream = (
        sys.stdin if file == "-" else Path(file).open(encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
    )
    done = []
    with stream:
        batch: list[str | bytes] = []
        for line in stream:
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            # Undecodable bytes come through as surrogates; give them back as bytes.
            batch.append(line.encode("utf-8", "surrogateescape") if _has_surrogates(line) else line)
            if len(batch) >= chunk:
                done += callbacks.ingest_many(batch, source_ip=source_ip, user_agent="wework-cli")
                batch = []
        if batch:
            done += callbacks.ingest_many(batch, source_ip=source_ip, user_agent="wework-cli")
    if verbose:
        for e in done:
            typer.echo(f"{e.id}  {e.status.value:9}  {e.event_type:20}  {e.error_message or ''}")
    typer.echo(_summary(done))


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


@callbacks_app.command("replay")
def replay_command(
    status: str = typer.Option(
        "failed",
        help="Replay events in this status (failed, or received/processing after an interruption).",
    ),
    limit: int = typer.Option(100, min=1, help="At most this many events, oldest first."),
) -> None:
    """Parse and apply stored events again (after the cause of their failure is fixed)."""
    from wework.errors import ValidationError
    from wework.services import callbacks

    try:
        done = callbacks.replay(status=status, limit=limit)
    except ValidationError as exc:
        fail(str(exc), code=2)
    for e in done:
        if e.status.value == "failed":
            typer.echo(f"still failed {e.id}: {e.error_message}")
    typer.echo(_summary(done))


def simulate(
    seconds: float = typer.Option(30.0, min=0.1, help="How long to run."),
    messages_per_second: float = typer.Option(20.0, min=0.0, help="New messages enqueued."),
    failure_rate: float = typer.Option(0.05, min=0.0, max=1.0, help="Simulated send failures."),
    delivery_failure_rate: float = typer.Option(0.03, min=0.0, max=1.0),
    disconnect_rate: float = typer.Option(
        0.01, min=0.0, max=1.0, help="Per online instance and tick."
    ),
    latency_ms: float = typer.Option(5.0, min=0.0, help="Max simulated send latency."),
    seed: int = typer.Option(None, help="Random seed (repeatable runs)."),
) -> None:
    """Run the WeCom gateway SIMULATOR + dispatcher + callback ingestion against the
    configured database for a while, so the demo data gets live activity."""
    from wework.config import reload_settings
    from wework.gateway.simulator import WeComGatewaySimulator

    reload_settings()
    rng = random.Random(seed)
    sim = WeComGatewaySimulator(
        latency_ms=(0.0, latency_ms),
        failure_rate=failure_rate,
        delivery_failure_rate=delivery_failure_rate,
        disconnect_rate=disconnect_rate,
        reconnect_rate=0.3,
        seed=seed,
    )
    stats = run_simulation(sim, seconds, messages_per_second, rng, echo=typer.echo)
    typer.echo(
        "simulated {s:.0f}s: {enqueued} enqueued, {sent} sent, {retry} retried, "
        "{failed} failed; callbacks {processed} processed, {ignored} ignored, "
        "{cb_failed} failed".format(s=seconds, **stats)
    )


def run_simulation(
    sim, seconds: float, messages_per_second: float, rng: random.Random, echo=print
) -> Counter:
    """The loop behind ``wework simulate`` (also used by tests)."""
    from sqlalchemy import select

    from wework.db.sharding import all_shards
    from wework.enums import TenantStatus
    from wework.errors import PrimaryUnavailable, ServiceError
    from wework.models import Conversation, Tenant, WeworkAccount
    from wework.services import callbacks, messages
    from wework.services.context import system_context
    from wework.services.dispatcher import dispatch_once, requeue_stale_sending
    from wework.services.uow import shard_transaction

    stats: Counter = Counter()
    stats["requeued"] = requeue_stale_sending()  # left "sending" by an earlier run that died
    targets: dict[str, tuple[str, list[str]]] = {}  # account id -> (tenant, conversations)
    guid_of: dict[str, str] = {}
    for shard in all_shards():
        with shard_transaction(shard) as s:
            rows = s.execute(
                select(
                    WeworkAccount.id,
                    WeworkAccount.tenant_id,
                    WeworkAccount.guid,
                    WeworkAccount.status,
                )
                .join(Tenant, Tenant.id == WeworkAccount.tenant_id)
                .where(WeworkAccount.guid.is_not(None), Tenant.status == TenantStatus.ACTIVE)
            ).all()
            for account_id, tenant_id, guid, status in rows:
                convs = list(
                    s.scalars(
                        select(Conversation.conversation_id)
                        .where(Conversation.account_id == account_id)
                        .limit(50)
                    )
                )
                targets[account_id] = (tenant_id, convs)
                guid_of[account_id] = guid
                status = status.value
                sim.register(guid, "online" if status == "online" else status)
                if status in ("created", "offline", "error"):
                    sim.login(guid)  # the simulated QR flow: scan and confirm at once
                if not convs:
                    for i in range(3):
                        cid = f"sim-{account_id[:8]}-{i}"
                        sim.conversation_event(guid, cid, conversation_name=f"Sim chat {i}")
                        convs.append(cid)
    echo(f"simulating {len(targets)} accounts for {seconds:.0f}s (WeCom gateway SIMULATOR)")
    if not targets:
        echo("no accounts with a guid: run the seed first")
    deadline = time.monotonic() + seconds
    last = time.monotonic()
    owed = 0.0

    def ingest_pending() -> None:
        events = sim.drain_events()
        if events:
            for e in callbacks.ingest_many(
                events, source_ip="127.0.0.1", user_agent="wecom-gateway-simulator"
            ):
                stats["cb_failed" if e.status.value == "failed" else e.status.value] += 1

    while time.monotonic() < deadline:
        ingest_pending()
        now = time.monotonic()
        owed += (now - last) * messages_per_second
        last = now
        online = [a for a in targets if sim.status_of(guid_of[a]) == "online"]
        while owed >= 1 and online:
            account_id = rng.choice(online)
            tenant_id, convs = targets[account_id]
            row = {
                "account_id": account_id,
                "conversation_id": rng.choice(convs),
                "message_type": "text",
                "priority": rng.randint(1, 10),
                "content": {"text": f"simulated message {rng.randint(1, 10**6)}"},
            }
            try:
                messages.enqueue_many(system_context(tenant_id), [row])
                stats["enqueued"] += 1
            except PrimaryUnavailable:
                raise  # not a refusal: stop the simulation with the reason
            except ServiceError:  # e.g. the tenant's daily quota is used up
                stats["refused"] += 1
            owed -= 1
        report = dispatch_once(sim, limit=100)
        for outcome, n in report.outcomes.items():
            stats[outcome] += n
        sim.tick()
        ingest_pending()
        time.sleep(0.2)
    ingest_pending()
    for key in ("enqueued", "sent", "retry", "failed", "processed", "ignored", "cb_failed"):
        stats.setdefault(key, 0)
    return stats
