"""Evaluating the rules: each alert's state, and a notice for every change worth telling.

For each rule and subject (:mod:`wework.alerts.signals`):

- the condition holds → ``pending`` (since now); once it has held for the rule's ``for``
  → ``firing``, and one *firing* notice; while it keeps firing, another firing notice
  every ``repeat`` seconds (never more often: that is the de-duplication);
- the condition stops holding → ``ok``; if it was firing, one *resolved* notice.

One evaluation is one transaction on shard 0 (the alert rows are locked, so two workers
never notify the same change twice; the worker runs it under its ``alerts`` job lock
anyway). Notices are written with the state change that caused them and posted
afterwards (:mod:`wework.alerts.notify`). A tenant-scoped notice is also put in that
tenant's webhook outbox (``alert.firing`` / ``alert.resolved``), on the tenant's shard:
in the same transaction when that is shard 0, right after it otherwise.

Rows exist only for subjects that held at least once, so the table stays small.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wework.alerts.rules import Rule, load_rules
from wework.alerts.signals import SIGNALS, Observation, SignalContext
from wework.config import Settings, get_settings
from wework.db.sharding import shard_for_tenant
from wework.enums import AlertState, NoticeDelivery, NoticeKind, WebhookEvent
from wework.models import Alert, AlertNotice, new_id
from wework.services.uow import shard_transaction
from wework.services.webhooks import Event, iso, record_events

log = logging.getLogger("wework.alerts")

CONTROL_SHARD = 0
MAX_SUMMARY = 500


@dataclass
class Evaluation:
    at: datetime
    rules: int = 0
    firing: int = 0
    pending: int = 0
    notices: list[AlertNotice] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # rule -> why it was not evaluated

    def line(self) -> str:
        kinds = defaultdict(int)
        for n in self.notices:
            kinds[n.kind.value] += 1
        told = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "no notices"
        failed = f", {len(self.errors)} rule(s) not evaluated: " + ", ".join(
            f"{r} ({e})" for r, e in sorted(self.errors.items())) if self.errors else ""
        return f"{self.rules} rule(s): {self.firing} firing, {self.pending} pending, {told}{failed}"


def _observe(rule: Rule, settings: Settings, now: datetime,
             shared: dict[str, SignalContext]) -> list[Observation]:
    # Rules on the same signal with the same params share one reading.
    key = f"{rule.signal}:{sorted(rule.params.items())}"
    ctx = shared.get(key)
    if ctx is None:
        ctx = shared[key] = SignalContext(settings, now, dict(rule.params))
    return SIGNALS[rule.signal](ctx)


def _payload(notice: AlertNotice, rule: Rule, alert: Alert) -> dict:
    return {
        "type": f"alert.{notice.kind.value}",
        "timestamp": iso(notice.at),
        "data": {
            "notice_id": notice.id,
            "alert_id": alert.id,
            "rule": rule.name,
            "subject": alert.subject,
            "tenant_id": alert.tenant_id,
            "severity": rule.severity,
            "value": alert.value,
            "threshold": rule.threshold,
            "summary": notice.summary,
            "fired_at": iso(alert.fired_at) if alert.fired_at else None,
            "resolved_at": iso(alert.resolved_at) if alert.resolved_at else None,
            "repeat": notice.repeat,
        },
    }


def _notice(s: Session, rule: Rule, alert: Alert, kind: NoticeKind, now: datetime,
            settings: Settings, repeat: int = 0) -> AlertNotice:
    notice = AlertNotice(
        id=new_id(), alert_id=alert.id, rule=rule.name, subject=alert.subject,
        tenant_id=alert.tenant_id, severity=rule.severity, kind=kind, repeat=repeat,
        value=alert.value, summary=alert.summary, at=now, attempts=0,
        delivery=NoticeDelivery.PENDING if settings.alert_webhook_url else NoticeDelivery.UNSENT,
        next_attempt_at=now,
    )
    notice.payload = _payload(notice, rule, alert)
    s.add(notice)
    alert.last_notified_at = now
    return notice


def _apply(s: Session, rule: Rule, observations: list[Observation], now: datetime,
           settings: Settings, result: Evaluation) -> None:
    rows = {a.subject: a for a in s.scalars(
        select(Alert).where(Alert.rule == rule.name).with_for_update())}
    seen = {o.subject: o for o in observations}
    for subject in sorted(set(seen) | set(rows)):
        o = seen.get(subject)
        holds = o is not None and rule.holds(o.value)
        alert = rows.get(subject)
        if alert is None:
            if not holds:
                continue
            alert = Alert(id=new_id(), rule=rule.name, subject=subject[:191],
                          tenant_id=o.tenant_id if rule.scope == "tenant" else None,
                          state=AlertState.OK)
            s.add(alert)
        alert.severity = rule.severity
        alert.value = o.value if o is not None else None
        alert.summary = rule.describe(subject, alert.value)[:MAX_SUMMARY]
        alert.evaluated_at = now
        if holds:
            if alert.state is AlertState.OK:
                alert.state, alert.pending_since = AlertState.PENDING, now
            if alert.state is AlertState.PENDING and (
                now - alert.pending_since >= timedelta(seconds=rule.for_seconds)
            ):
                alert.state, alert.fired_at, alert.resolved_at = AlertState.FIRING, now, None
                result.notices.append(_notice(s, rule, alert, NoticeKind.FIRING, now, settings))
            elif alert.state is AlertState.FIRING and rule.repeat_seconds and (
                now - alert.last_notified_at >= timedelta(seconds=rule.repeat_seconds)
            ):
                previous = s.scalar(select(func.max(AlertNotice.repeat)).where(
                    AlertNotice.alert_id == alert.id, AlertNotice.kind == NoticeKind.FIRING))
                result.notices.append(_notice(s, rule, alert, NoticeKind.FIRING, now, settings,
                                              repeat=(previous or 0) + 1))
        elif alert.state is not AlertState.OK:
            if alert.state is AlertState.FIRING:
                alert.resolved_at = now
                result.notices.append(_notice(s, rule, alert, NoticeKind.RESOLVED, now,
                                              settings))
            alert.state, alert.pending_since = AlertState.OK, None
        if alert.state is AlertState.FIRING:
            result.firing += 1
        elif alert.state is AlertState.PENDING:
            result.pending += 1


def _tenant_events(notices: list[AlertNotice]) -> dict[int, list[Event]]:
    by_shard: dict[int, list[Event]] = defaultdict(list)
    for n in notices:
        if n.tenant_id is None:
            continue
        kind = (WebhookEvent.ALERT_FIRING if n.kind is NoticeKind.FIRING
                else WebhookEvent.ALERT_RESOLVED)
        by_shard[shard_for_tenant(n.tenant_id)].append(Event(n.tenant_id, kind, n.payload["data"]))
    return by_shard


def evaluate(settings: Settings | None = None, now: datetime | None = None,
             rules: list[Rule] | None = None) -> Evaluation:
    """Evaluate every rule once at ``now`` (the check's clock; default: the machine's)."""
    s = settings or get_settings()
    at = (now or datetime.now(UTC)).astimezone(UTC)
    naive = at.replace(tzinfo=None)
    rules = load_rules(s) if rules is None else rules
    result = Evaluation(at=at, rules=len(rules))
    readings: dict[str, list[Observation]] = {}
    shared: dict[str, SignalContext] = {}
    for rule in rules:
        try:
            readings[rule.name] = _observe(rule, s, at, shared)
        except Exception as e:  # this rule's alerts stay as they are; the others go on
            detail = str(getattr(e, "orig", None) or e).splitlines()[0][:200]
            result.errors[rule.name] = f"{type(e).__name__}: {detail}"
            log.warning("alert rule %s not evaluated: %s", rule.name, result.errors[rule.name])
    with shard_transaction(CONTROL_SHARD) as session:
        for rule in rules:
            if rule.name in readings:
                _apply(session, rule, readings[rule.name], naive, s, result)
        session.flush()
        events = _tenant_events(result.notices)
        if events.get(CONTROL_SHARD):
            record_events(session, events.pop(CONTROL_SHARD), naive)
    for shard, shard_events in events.items():
        with shard_transaction(shard) as session:
            record_events(session, shard_events, naive)
    for n in result.notices:
        log.info("alert %s %s: %s", n.kind.value, n.rule, n.summary)
    return result
