"""The two cache levels in front of MariaDB, against a private redis-server the tests stop
and start again, and a second process listening for evictions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from messaging_helpers import make_account, sql_statements
from ports import free_port
from stacks import server_dir
from waiting import wait_for

from wework.cache import layers
from wework.cache.redis import get_redis
from wework.cache.server import PASSWORD_KEY, LocalRedis
from wework.config import reload_settings
from wework.localenv import read_env_file
from wework.services import auth, messages, templates, tenants
from wework.services.accounts import accounts_by_guid


@pytest.fixture(scope="module")
def local_redis() -> Iterator[LocalRedis]:
    """A PRIVATE redis-server: these tests stop and start it."""
    with server_dir("redis") as base:
        server = LocalRedis(base, free_port(), echo=lambda _: None)
        try:
            server.up()
            yield server
        finally:
            server.down()


@pytest.fixture
def cached(settings, local_redis) -> Iterator[None]:
    """This process's caches on the private Redis, its listener subscribed."""
    local_redis.up()
    env = {"WEWORK_REDIS_PORT": str(local_redis.port),
           "WEWORK_REDIS_PASSWORD": read_env_file(local_redis.env_file)[PASSWORD_KEY],
           "WEWORK_REDIS_BREAKER_RESET_SECONDS": "0.5"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    reload_settings()
    layers.reset()
    wait_for(lambda: layers.listener().subscribed)
    try:
        yield
    finally:
        layers.reset()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reload_settings()


def counts(name: str) -> dict:
    (row,) = [r for r in layers.stats_rows() if r["cache"] == name]
    return row


def test_reads_come_from_l1_then_l2_then_mariadb(cached, make_tenant):
    world = make_tenant(max_daily_messages=41)
    tid = world.ctx.tenant_id
    tenants.tenant_settings(tid)  # a miss: loaded from MariaDB, put in both levels
    before = counts("tenant")
    assert tenants.tenant_settings(tid).max_daily_messages == 41
    after_l1 = counts("tenant")
    assert after_l1["hits_l1"] == before["hits_l1"] + 1 and after_l1["misses"] == before["misses"]
    layers.cache("tenant").clear_local()  # as another process, or after L1's TTL
    assert tenants.tenant_settings(tid).max_daily_messages == 41
    after_l2 = counts("tenant")
    assert after_l2["hits_l2"] == before["hits_l2"] + 1 and after_l2["misses"] == before["misses"]
    stored = get_redis().call(lambda r: r.get(layers.cache("tenant").redis_key(tid)), None)
    assert json.loads(stored)["max_daily_messages"] == 41
    assert 0 < counts("tenant")["hit_rate"] <= 1


def test_own_writes_are_read_at_once(cached, make_tenant, super_ctx):
    world = make_tenant(max_daily_messages=10)
    account = make_account(world.ctx)
    actor = auth.actor_for(world.admin.id, world.ctx.tenant_id)
    assert tenants.tenant_settings(world.ctx.tenant_id).max_daily_messages == 10
    assert accounts_by_guid([account.guid])[account.guid].id == account.id
    tenants.update_tenant(super_ctx, world.ctx.tenant_id, max_daily_messages=11)
    assert tenants.tenant_settings(world.ctx.tenant_id).max_daily_messages == 11
    tenants.suspend_tenant(super_ctx, world.ctx.tenant_id)
    with pytest.raises(Exception, match="not found"):
        auth.actor_for(actor.user_id, world.ctx.tenant_id)  # its tenant is suspended now
    tenants.reactivate_tenant(super_ctx, world.ctx.tenant_id)
    assert auth.actor_for(actor.user_id, world.ctx.tenant_id).permissions == actor.permissions
    assert counts("tenant")["evictions"] >= 3


def test_sends_naming_a_template_resolve_it_through_the_cache(cached, make_tenant):
    """A template's owner is read from MariaDB once, then from the cache; another
    tenant's template is still refused on every send (and never cached as its own)."""
    from wework.errors import NotFoundError

    world, other = make_tenant(), make_tenant()
    account = make_account(world.ctx)
    template = templates.create_template(world.ctx, template_name="greeting",
                                         template_type="text",
                                         template_content={"text": "hello"})
    foreign = templates.create_template(other.ctx, template_name="theirs",
                                        template_type="text",
                                        template_content={"text": "theirs"})
    def send(template_id: str):
        return messages.send_message(world.ctx, account_id=account.id, conversation_id="c",
                                     message_type="text", content={"text": "hi"},
                                     template_id=template_id)

    def asked() -> int:
        return sum("FROM message_templates" in q for q in statements)

    with sql_statements() as statements:
        before = counts("template")
        for _ in range(3):
            send(template.id)
        after = counts("template")
        assert asked() == 1  # the first send's miss; the others hit the cache
        assert after["misses"] == before["misses"] + 1
        assert after["hits_l1"] >= before["hits_l1"] + 2
        for _ in range(2):
            with pytest.raises(NotFoundError, match="template_id"):
                send(foreign.id)
    assert asked() == 3  # each refused send asked again: nothing of B's was cached


CHILD = textwrap.dedent("""
    import sys, time
    from wework.cache import layers
    from wework.services import tenants
    listener = layers.listener()
    while not listener.subscribed:
        time.sleep(0.05)
    for line in sys.stdin:
        limit = tenants.tenant_settings(line.strip()).max_daily_messages
        row = [r for r in layers.stats_rows() if r["cache"] == "tenant"][0]
        print(limit, row["hits_l1"], listener.received, flush=True)
""")


def test_a_write_evicts_the_l1_of_every_process(cached, make_tenant, super_ctx):
    world = make_tenant(max_daily_messages=20)
    tid = world.ctx.tenant_id
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        def ask() -> list[int]:
            child.stdin.write(tid + "\n")
            child.stdin.flush()
            return [int(x) for x in child.stdout.readline().split()]

        assert ask()[0] == 20
        limit, l1_hits, _ = ask()
        assert (limit, l1_hits) == (20, 1)  # the child holds it in its L1 now
        tenants.update_tenant(super_ctx, tid, max_daily_messages=21)
        # The child's L1 entry goes when the eviction message arrives (not at a TTL).
        wait_for(lambda: ask()[0] == 21, timeout=10)
        assert ask()[2] >= 1
    finally:
        child.stdin.close()
        child.wait(timeout=30)


def test_with_redis_stopped_mid_run_everything_works_from_mariadb(
    cached, local_redis, make_tenant, super_ctx, caplog
):
    world = make_tenant(max_daily_messages=100)
    tid = world.ctx.tenant_id
    account = make_account(world.ctx)
    messages.send_message(world.ctx, account_id=account.id, conversation_id="c",
                          message_type="text", content={"text": "warm"})
    guarded = get_redis()
    errors_before = counts("tenant")["errors"]

    local_redis.down()
    for i in range(20):  # the breaker opens after a few failures: no waiting on timeouts
        messages.send_message(world.ctx, account_id=account.id, conversation_id="c",
                              message_type="text", content={"text": f"down {i}"})
    assert guarded.state == "open" and guarded.stats.rejected > 0
    assert counts("tenant")["errors"] > errors_before
    assert not layers.listener().subscribed
    tenants.update_tenant(super_ctx, tid, max_daily_messages=21)  # eviction cannot be sent
    assert tenants.tenant_settings(tid).max_daily_messages == 21  # from MariaDB (21 sent)
    with pytest.raises(Exception, match="daily limit of 21"):
        messages.send_message(world.ctx, account_id=account.id, conversation_id="c",
                              message_type="text", content={"text": "over"})

    local_redis.up()
    wait_for(lambda: layers.listener().subscribed)
    wait_for(lambda: not layers.cache("tenant")._unsent)  # the missed eviction went out
    hits = counts("tenant")["hits_l1"] + counts("tenant")["hits_l2"]
    wait_for(lambda: tenants.tenant_settings(tid).max_daily_messages == 21 and
             counts("tenant")["hits_l1"] + counts("tenant")["hits_l2"] > hits)
    assert any("circuit OPEN" in r.getMessage() for r in caplog.records)
