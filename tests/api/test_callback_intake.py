"""POST /v1/callbacks on a real `wework api` (2 processes) against the real databases:
signatures, storage before the answer, one bad event failing alone, repeated deliveries,
oversized and malformed bodies, rotation and revocation of gateway secrets."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from intake_helpers import MAX_BODY, post_signed, start_api, stored_events, unique, wait_for
from ports import free_port
from services.messaging_helpers import make_account
from sqlalchemy import select

from wework.enums import CallbackStatus
from wework.gateway.base import NotifyType, make_event
from wework.metrics.localserver import VictoriaMetricsServer
from wework.metrics.query import recent
from wework.models import CallbackEvent, Conversation, WeworkAccount
from wework.security import webhooks
from wework.services import callbacks, gateway_secrets
from wework.services.uow import shard_transaction, transaction


def events_of(guid: str) -> list[CallbackEvent]:
    with shard_transaction(0) as s:
        return list(s.scalars(select(CallbackEvent).where(CallbackEvent.guid == guid)
                              .order_by(CallbackEvent.id)))


def test_signed_array_is_stored_and_each_event_processed_alone(client, gateway, tenant_ctx):
    account = make_account(tenant_ctx)
    heartbeat = make_event(account.guid, NotifyType.ACCOUNT_HEARTBEAT, {})
    room = make_event(account.guid, NotifyType.CONVERSATION_UPSERT,
                      {"conversation_id": "room-1", "conversation_type": "group"})
    unknown_type = json.dumps({**json.loads(heartbeat), "event_id": "e-x", "notify_type": 99})
    too_deep = json.dumps({**json.loads(heartbeat), "event_id": "e-deep",
                           "data": {"user_info": json.loads("[" * 40 + "]" * 40)}})
    # Spacing kept on purpose: each element is stored as its exact raw text.
    body = f"[ {heartbeat},\n {unknown_type} , {too_deep},{room} ]"
    response = post_signed(client, body, gateway.secret,
                           headers={"user-agent": "wecom-gateway/2.1"})
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 4, "processed": 2, "ignored": 0, "failed": 2,
                               "deferred": 0}
    stored = {json.loads(e.raw_data)["event_id"]: e for e in events_of(account.guid)}
    assert stored[json.loads(heartbeat)["event_id"]].raw_data == heartbeat
    assert stored["e-x"].status is CallbackStatus.FAILED
    assert stored["e-x"].error_message.startswith("notify_type: unknown notify type 99")
    assert stored["e-deep"].status is CallbackStatus.FAILED
    assert stored["e-deep"].error_message.startswith("data: nests 42 arrays/objects deep")
    assert {e.source_ip for e in stored.values()} == {"127.0.0.1"}
    assert {e.user_agent for e in stored.values()} == {"wecom-gateway/2.1"}
    with transaction(tenant_ctx.tenant_id) as s:
        assert s.scalar(select(Conversation.conversation_id)
                        .where(Conversation.account_id == account.id)) == "room-1"
        assert s.get(WeworkAccount, account.id).last_heartbeat_time is not None


def test_concurrent_deliveries_each_get_the_answer_for_their_own_events(
        client, gateway, tenant_ctx):
    """One event per request, 48 requests from 16 connections: the API stores and applies
    concurrent deliveries together (wework.api.groups), and each request is still
    answered for its own event, a bad one failing alone among good ones."""
    account = make_account(tenant_ctx)

    def event(bad: bool) -> str:
        beat = make_event(account.guid, NotifyType.ACCOUNT_HEARTBEAT, {})
        return json.dumps({**json.loads(beat), "notify_type": 99}) if bad else beat

    bodies = [event(bad=i % 4 == 3) for i in range(48)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda b: post_signed(client, b, gateway.secret), bodies))
    for body, answer in zip(bodies, answers, strict=True):
        assert answer.status_code == 200, answer.text
        bad = json.loads(body)["notify_type"] == 99
        assert answer.json() == {"stored": 1, "processed": 0 if bad else 1, "ignored": 0,
                                 "failed": 1 if bad else 0, "deferred": 0}
    stored = {json.loads(e.raw_data)["event_id"]: e for e in events_of(account.guid)}
    assert len(stored) == 48
    for body in bodies:
        e = stored[json.loads(body)["event_id"]]
        bad = json.loads(body)["notify_type"] == 99
        assert e.status is (CallbackStatus.FAILED if bad else CallbackStatus.PROCESSED)


def test_the_api_records_each_group_it_stores_in_the_metrics_store(
        gateway, tenant_ctx, logs, tmp_path):
    """Every group of deliveries stored and applied together becomes one point of
    ``callback_group``: its deliveries and events add up to what was posted (the
    Monitoring page charts them), here through a real VictoriaMetrics."""
    vm = VictoriaMetricsServer(tmp_path / "vm", free_port())
    vm.up()
    api = start_api(logs, env={"WEWORK_INFLUX_URL": vm.url})
    try:
        account = make_account(tenant_ctx)
        def beat() -> str:
            return make_event(account.guid, NotifyType.ACCOUNT_HEARTBEAT, {})

        bodies = [beat() for _ in range(23)] + [f"[{beat()}, {beat()}]"]
        with httpx.Client(base_url=api.base_url, timeout=30) as c, ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda b: post_signed(c, b, gateway.secret), bodies))
        assert [a.status_code for a in answers] == [200] * 24

        def totals():
            frame = recent(["callback_group_deliveries", "callback_group_events"],
                           minutes=10, url=vm.url)
            sums = {n: frame.filter(frame["series"] == n)["value"].sum()
                    for n in ("callback_group_deliveries", "callback_group_events")}
            return sums if sums["callback_group_deliveries"] == 24 else None

        sums = wait_for(totals, timeout=30, what="24 deliveries in callback_group points")
        assert sums["callback_group_events"] == 25  # 23 single events and one pair
    finally:
        api.stop()
        vm.down()


def test_unparseable_body_is_stored_failed_and_replayable(client, gateway, super_ctx):
    before = stored_events()
    body = '{"event_id": "cut-off", "guid": '
    response = post_signed(client, body, gateway.secret)
    assert response.status_code == 200, response.text
    assert response.json()["failed"] == 1
    assert stored_events() == before + 1
    with shard_transaction(0) as s:
        event = s.scalar(select(CallbackEvent).where(CallbackEvent.raw_data == body))
    assert event.status is CallbackStatus.FAILED
    assert event.error_message.startswith("body: not valid JSON")
    (again,) = callbacks.replay_events(super_ctx, [event.id])
    assert (again.status, again.retry_count) == (CallbackStatus.FAILED, 1)


def test_empty_array_stores_nothing(client, gateway):
    before = stored_events()
    response = post_signed(client, " [ ] ", gateway.secret)
    assert response.status_code == 200 and response.json()["stored"] == 0
    assert stored_events() == before


@pytest.mark.parametrize("case", ["wrong secret", "stale", "from the future", "no signature",
                                  "no id", "no timestamp", "body changed", "malformed header"])
def test_a_bad_signature_gets_401_and_stores_nothing(client, gateway, case):
    body = make_event("guid-401", NotifyType.ACCOUNT_HEARTBEAT, {})
    secret, at, change = gateway.secret, None, {}
    if case == "wrong secret":
        secret = webhooks.new_secret()
    elif case == "stale":
        at = time.time() - 301
    elif case == "from the future":
        at = time.time() + 301
    signed = webhooks.sign(secret, body, at=at)
    if case == "no signature":
        del signed["webhook-signature"]
    elif case == "no id":
        del signed["webhook-id"]
    elif case == "no timestamp":
        del signed["webhook-timestamp"]
    elif case == "body changed":
        change = {"content": body.replace("guid-401", "guid-402")}
    elif case == "malformed header":
        signed["webhook-signature"] = "v1"
    before = stored_events()
    response = client.post("/v1/callbacks", headers=signed, **({"content": body} | change))
    assert response.status_code == 401
    error = response.json()["error"]
    expected_field = {"stale": "webhook-timestamp", "from the future": "webhook-timestamp",
                      "no id": "webhook-id", "no timestamp": "webhook-timestamp"}.get(
                          case, "webhook-signature")
    assert error["field"] == expected_field, error
    assert gateway.secret not in response.text
    assert stored_events() == before


def test_a_timestamp_within_five_minutes_is_accepted(client, gateway):
    body = make_event(unique("guid"), NotifyType.ACCOUNT_HEARTBEAT, {})
    assert post_signed(client, body, gateway.secret, at=time.time() - 290).status_code == 200
    assert post_signed(client, body, gateway.secret, at=time.time() + 290).status_code == 200


def test_a_repeated_webhook_id_is_acknowledged_and_ignored_across_processes(
        client, gateway, logs):
    guid = unique("guid")
    body = make_event(guid, NotifyType.ACCOUNT_HEARTBEAT, {})
    webhook_id = unique("msg")
    first = post_signed(client, body, gateway.secret, webhook_id=webhook_id)
    assert first.json()["stored"] == 1
    # The sender's retry: same id, signed again later; and a different body under that id.
    again = post_signed(client, body, gateway.secret, webhook_id=webhook_id, at=time.time() + 1)
    other = post_signed(client, body.replace(guid, guid + "x"), gateway.secret,
                        webhook_id=webhook_id)
    assert again.json() == other.json() == {"duplicate": True, "stored": 0}
    # A process that never saw it (a restart, another machine) knows it too.
    fresh = start_api(logs, workers=1)
    try:
        with httpx.Client(base_url=fresh.base_url) as c:
            assert post_signed(c, body, gateway.secret, webhook_id=webhook_id).json()[
                "duplicate"] is True
    finally:
        fresh.stop()
    # Concurrent deliveries of one new id: exactly one is stored.
    racing_id = unique("msg")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda _: post_signed(client, body, gateway.secret, webhook_id=racing_id).json(),
            range(8)))
    assert sorted(a["stored"] for a in answers) == [0] * 7 + [1]
    assert len(events_of(guid)) == 2  # the first delivery and the racing one


def test_both_secrets_verify_during_a_rotation_and_ended_ones_stop(client):
    name = unique("gw-rot")
    old = gateway_secrets.create(None, name).secret
    body = make_event(unique("guid"), NotifyType.ACCOUNT_HEARTBEAT, {})
    # A new secret verifies within a second (a miss reloads the secrets, at most once a
    # second per process).
    wait_for(lambda: post_signed(client, body, old).status_code == 200,
             timeout=30, what="a new secret to verify")
    new = gateway_secrets.rotate(None, name, grace_hours=1).secret
    wait_for(lambda: post_signed(client, body, new).status_code == 200,
             timeout=30, what="the new secret to verify")
    assert post_signed(client, body, old).status_code == 200  # still, within the grace
    # A gateway switching over may sign with both (Standard Webhooks allows several).
    both = webhooks.sign(old, body)
    both["webhook-signature"] += " " + webhooks.sign(new, body, both["webhook-id"],
                                                      float(both["webhook-timestamp"])
                                                      )["webhook-signature"]
    assert client.post("/v1/callbacks", content=body, headers=both).status_code == 200
    newest = gateway_secrets.rotate(None, name, grace_hours=0)
    wait_for(lambda: post_signed(client, body, old).status_code == 401,
             what="the old secret to stop verifying once its grace ended")
    assert post_signed(client, body, new).status_code == 401
    assert post_signed(client, body, newest.secret).status_code == 200
    gateway_secrets.revoke(None, newest.info.id)
    wait_for(lambda: post_signed(client, body, newest.secret).status_code == 401,
             what="the revoked secret to stop verifying")


def test_an_oversized_body_gets_413_and_stores_nothing(client, gateway):
    before = stored_events()
    big = json.dumps([make_event(unique("guid"), NotifyType.ACCOUNT_HEARTBEAT,
                                 {"pad": "x" * 1000}) for _ in range(80)])
    assert len(big) > MAX_BODY
    declared = post_signed(client, big, gateway.secret)
    assert declared.status_code == 413
    assert declared.json()["error"] == {"field": "body",
                                        "reason": f"larger than {MAX_BODY} bytes"}
    # No Content-Length (chunked): refused once the bytes read pass the limit.
    signed = webhooks.sign(gateway.secret, big)
    chunked = client.post("/v1/callbacks", headers=signed,
                          content=(big[i:i + 8192].encode() for i in range(0, len(big), 8192)))
    assert chunked.status_code == 413
    assert stored_events() == before


def test_errors_are_json_naming_the_field(client, gateway):
    not_utf8 = b'{"event_id": "\xff"}'
    signed = webhooks.sign(gateway.secret, not_utf8.decode("latin-1"))
    response = client.post("/v1/callbacks", content=not_utf8, headers=signed)
    assert response.status_code == 400 and response.json()["error"]["field"] == "body"
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"field": None, "reason": "Not Found"}}
    wrong_method = client.get("/v1/callbacks")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()


def test_healthz_and_readyz_on_a_healthy_stack(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"ready": True}
