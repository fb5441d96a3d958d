"""SIMULATOR of a WeCom (企业微信) instance gateway — not the real WeCom.

Stands in for the external gateway in the demo (`wework simulate`) and the tests. It
keeps a small in-memory state per instance (guid) and produces the callback events a
real gateway would post (format: :mod:`wework.gateway.base`):

- QR login flow: :meth:`start_login` (logging_in, waiting_scan with a QR URL),
  :meth:`scan` (waiting_confirm), :meth:`confirm` (online, with user_info);
  :meth:`login` runs all three.
- sends with configurable latency and failure rate; each accepted send later yields a
  delivery receipt (delivered, or failed with ``delivery_failure_rate``).
- :meth:`tick`: heartbeats of online instances, random disconnects
  (``disconnect_rate`` per online instance and tick) and reconnects
  (offline → recovering → online) of disconnected ones.

Idempotency: the message id is the send's idempotency key (a real gateway gets it as the
``Idempotency-Key`` header). A second send of a message the simulator already accepted
returns the first answer (same ``wework_msg_id``) and delivers nothing, so a message that
a crashed worker's successor sends again reaches its recipient once. Every delivery is
counted per message id (:meth:`delivery_counts`): the tests' and benchmarks' proof that
nothing was delivered twice. ``honour_idempotency=False`` turns the check off (to show
such a test fails without it). The simulator remembers the last ``remember`` message ids.

Thread-safe: several dispatcher threads may share one simulator.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from wework.gateway.base import NotifyType, SendRequest, SendResult, make_event

ONLINE, OFFLINE = "online", "offline"


@dataclass
class SimulatedInstance:
    guid: str
    status: str = ONLINE
    sent: int = 0
    conversations: set[str] = field(default_factory=set)


class WeComGatewaySimulator:
    """A simulated WeCom instance gateway (see module docstring)."""

    def __init__(
        self,
        *,
        latency_ms: tuple[float, float] = (0.0, 0.0),
        failure_rate: float = 0.0,
        delivery_failure_rate: float = 0.0,
        disconnect_rate: float = 0.0,
        reconnect_rate: float = 0.5,
        auto_register: bool = True,
        honour_idempotency: bool = True,
        remember: int = 100_000,
        seed: int | None = None,
    ):
        for name, rate in (
            ("failure_rate", failure_rate),
            ("delivery_failure_rate", delivery_failure_rate),
            ("disconnect_rate", disconnect_rate),
            ("reconnect_rate", reconnect_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        self.latency_ms = latency_ms
        self.failure_rate = failure_rate
        self.delivery_failure_rate = delivery_failure_rate
        self.disconnect_rate = disconnect_rate
        self.reconnect_rate = reconnect_rate
        self.auto_register = auto_register
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._instances: dict[str, SimulatedInstance] = {}
        self._events: list[str] = []
        self.honour_idempotency = honour_idempotency
        self._remember = remember
        # message id -> (the answer given, deliveries); oldest first, at most `remember`.
        self._accepted: OrderedDict[str, tuple[SendResult, int]] = OrderedDict()
        self._counts = {"sends": 0, "deliveries": 0, "duplicate_sends": 0}
        self.sent_requests: deque[SendRequest] = deque(maxlen=remember)  # accepted sends

    # ------------------------------------------------------------ instances

    def register(self, guid: str, status: str = ONLINE) -> None:
        with self._lock:
            self._instances[guid] = SimulatedInstance(guid, status)

    def ensure_registered(self, guid: str, status: str = ONLINE) -> bool:
        """Register ``guid`` unless the simulator already knows it; True if it was new."""
        with self._lock:
            if guid in self._instances:
                return False
            self._instances[guid] = SimulatedInstance(guid, status)
            return True

    def status_of(self, guid: str) -> str | None:
        with self._lock:
            inst = self._instances.get(guid)
            return inst.status if inst else None

    def _emit(self, guid: str, notify_type: NotifyType, data: dict[str, Any]) -> None:
        self._events.append(make_event(guid, notify_type, data))

    def _set_status(self, guid: str, status: str, reason: str, **extra: Any) -> None:
        inst = self._instances.setdefault(guid, SimulatedInstance(guid, OFFLINE))
        inst.status = status
        self._emit(guid, NotifyType.ACCOUNT_STATUS, {"status": status, "reason": reason, **extra})

    def start_login(self, guid: str) -> str:
        """Begin the QR login: the instance shows a QR code and waits for a scan."""
        qr = f"https://simulator.invalid/qr/{guid}/{uuid.uuid4().hex[:8]}"
        with self._lock:
            self._set_status(guid, "logging_in", "login requested")
            self._set_status(guid, "waiting_scan", "QR code ready", qr_code_url=qr)
        return qr

    def scan(self, guid: str) -> None:
        with self._lock:
            self._set_status(guid, "waiting_confirm", "QR code scanned")

    def confirm(self, guid: str) -> None:
        with self._lock:
            self._set_status(
                guid,
                ONLINE,
                "login confirmed",
                user_info={"userid": f"sim-{guid[:8]}", "name": "Simulated user"},
            )

    def login(self, guid: str) -> None:
        self.start_login(guid)
        self.scan(guid)
        self.confirm(guid)

    # ------------------------------------------------------------ sending

    def send(self, request: SendRequest) -> SendResult:
        low, high = self.latency_ms
        if high > 0:
            time.sleep(self._rng.uniform(low, high) / 1000.0)
        with self._lock:
            self._counts["sends"] += 1
            key = request.message_id  # the idempotency key
            earlier = self._accepted.get(key) if self.honour_idempotency else None
            if earlier is not None:
                self._counts["duplicate_sends"] += 1
                self._accepted.move_to_end(key)
                return earlier[0]
            inst = self._instances.get(request.guid)
            if inst is None and self.auto_register:
                inst = self._instances[request.guid] = SimulatedInstance(request.guid)
            if inst is None or inst.status != ONLINE:
                return SendResult(False, None, "instance_offline", "instance is not online")
            if self._rng.random() < self.failure_rate:
                return SendResult(False, None, "send_failed", "simulated send failure")
            inst.sent += 1
            msg_id = f"sim-{uuid.uuid4().hex}"
            result = SendResult(True, msg_id)
            previous = self._accepted.pop(key, None)
            self._accepted[key] = (result, (previous[1] if previous else 0) + 1)
            if len(self._accepted) > self._remember:
                self._accepted.popitem(last=False)
            self._counts["deliveries"] += 1
            self.sent_requests.append(request)
            delivered = self._rng.random() >= self.delivery_failure_rate
            receipt: dict[str, Any] = {
                "message_id": request.message_id,
                "wework_msg_id": msg_id,
                "status": "delivered" if delivered else "failed",
            }
            if not delivered:
                receipt.update(error_code="recipient_unreachable", error_message="simulated")
            self._emit(request.guid, NotifyType.MESSAGE_RECEIPT, receipt)
            return result

    def delivery_counts(self) -> dict[str, int]:
        """How many times each remembered message id was delivered (1 unless a message
        reached its recipient twice)."""
        with self._lock:
            return {key: n for key, (_, n) in self._accepted.items()}

    def stats(self) -> dict[str, int]:
        """sends (calls), deliveries, duplicate_sends (answered from the idempotency
        memory) and delivered_twice (message ids delivered more than once)."""
        with self._lock:
            twice = sum(1 for _, n in self._accepted.values() if n > 1)
            return {**self._counts, "delivered_twice": twice}

    # ------------------------------------------------------------ time passing

    def tick(self) -> None:
        """Heartbeats, random disconnects and reconnects."""
        with self._lock:
            for inst in list(self._instances.values()):
                if inst.status == ONLINE:
                    if self._rng.random() < self.disconnect_rate:
                        self._set_status(inst.guid, OFFLINE, "connection lost (simulated)")
                    else:
                        self._emit(inst.guid, NotifyType.ACCOUNT_HEARTBEAT, {})
                elif inst.status == OFFLINE and self._rng.random() < self.reconnect_rate:
                    self._set_status(inst.guid, "recovering", "reconnecting")
                    self._set_status(inst.guid, ONLINE, "reconnected")

    def conversation_event(self, guid: str, conversation_id: str, **fields: Any) -> None:
        data = {"conversation_id": conversation_id, "conversation_type": "private", **fields}
        with self._lock:
            self._emit(guid, NotifyType.CONVERSATION_UPSERT, data)

    def drain_events(self) -> list[str]:
        """Every callback event produced since the last call, oldest first."""
        with self._lock:
            events, self._events = self._events, []
        return events
