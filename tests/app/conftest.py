"""Fixtures of the app tests: seeded data (``wework.seed``) turned into published marts by
the real Dagster assets, a seeded tenant with one user per system role plus the platform
super-admin (users created through the services), and AppTest drivers signed in as them.

Signing in for page tests sets the session's user id directly (the login form itself is
tested separately): ``session.refresh`` then loads the actor from the database on every
run exactly as after a real login.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from platform_admins import platform_admin
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from pipelines.assets import mart_assets, published_marts, raw_assets
from pipelines.assets.raw import FULL_REFRESH_TAG
from pipelines.resources import MySQLReplicaResource, WarehouseResource
from wework.config import Settings
from wework.db.engines import Role, get_engine
from wework.db.replication import wait_for_replica
from wework.models import DataGeneration, User
from wework.seed import SeedConfig, SeedSummary, seed
from wework.services import auth, tenants, users
from wework.services.context import ServiceContext
from wework.warehouse import published_version

APP_DIR = Path(__file__).resolve().parents[2] / "app"
MAIN = str(APP_DIR / "main.py")
if str(APP_DIR) not in sys.path:  # the tests read the page registry (ui.nav) too
    sys.path.insert(0, str(APP_DIR))
PASSWORD = "app-test-password-1"
ROLES = ("admin", "operator", "analyst", "super_admin")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class AppWorld:
    tenant_id: str
    tenant_code: str
    users: dict[str, User]  # role -> user
    super_ctx: ServiceContext
    admin_ctx: ServiceContext


def run_pipeline(full: bool = False) -> None:
    """Extract from the replica, build and publish the marts: the real assets in-process.
    ``full``: re-read every table (``wework etl run --full``), as after the source data was
    replaced: an incremental run reads rows changed since its last run, and a re-seed's
    rows carry older times than that (a warehouse of this session may already exist)."""
    dg.materialize([*raw_assets, *mart_assets, published_marts],
                   resources={"warehouse": WarehouseResource(),
                              "replica": MySQLReplicaResource()},
                   tags={FULL_REFRESH_TAG: "true"} if full else None)


def data_generations(settings: Settings) -> tuple[str | None, ...]:
    """Every shard's data generation (``wework.db.generation``): whatever replaces the
    data of a database (``empty_db``, ``seed(replace=True)``, a restore) changes it."""
    found = []
    for shard in range(settings.shard_count):
        with get_engine(Role.PRIMARY, shard, settings).connect() as conn:
            found.append(conn.scalar(select(DataGeneration.generation)
                                     .where(DataGeneration.id == 1)))
    return tuple(found)


@dataclass
class AppData:
    """This worker's seeded data, its marts, and the app tests' users and hostile tenant,
    built when first asked for and again when another area's tests (in the same worker,
    between two app test modules) have replaced the databases since."""

    settings: Settings
    generations: tuple[str | None, ...] | None = None
    summary: SeedSummary | None = None
    world: AppWorld | None = None
    hostile: HostileWorld | None = None

    def seeded(self) -> SeedSummary:
        if self.summary is None or data_generations(self.settings) != self.generations:
            self.world = self.hostile = None
            self.summary = seed(SeedConfig(tenants=3, accounts=12, days=14, messages=6000,
                                           chunk_size=3000), self.settings, replace=True)
            self.generations = data_generations(self.settings)
            wait_for_replica(timeout=180, settings=self.settings)  # the box may be busy
            run_pipeline(full=True)  # the seed replaced this session's data
            assert published_version() is not None
        return self.summary


@pytest.fixture(scope="session")
def app_data(settings: Settings) -> AppData:
    return AppData(settings)


# The fixtures below are module-scoped and check ``app_data`` at each module: a module's
# tests run one after another (pytest tears the module's fixtures down when a test of
# another module comes between them), so nothing replaces the data while a module holds it.


@pytest.fixture(scope="module")
def seeded(app_data: AppData) -> SeedSummary:
    """A small seeded platform (3 tenants, 2 weeks of traffic) and its published marts.
    Seeding empties this session's databases first, so everything else builds on it."""
    return app_data.seeded()


@pytest.fixture(scope="module")
def app_world(seeded: SeedSummary, app_data: AppData) -> AppWorld:
    if app_data.world is None:
        app_data.world = _app_world(seeded)
    return app_data.world


def _app_world(seeded: SeedSummary) -> AppWorld:
    super_ctx = platform_admin("app-root", PASSWORD)
    code = next(iter(seeded.demo_users))  # a seeded, active tenant: its reports have data
    tenant = tenants.find_tenant_by_code(code)
    tenants.update_tenant(super_ctx.for_tenant(tenant.id), tenant.id, max_accounts=500)
    as_super = super_ctx.for_tenant(tenant.id)
    made = {"super_admin": users.get_user(super_ctx, super_ctx.actor.user_id)}
    for role in ("admin", "operator", "analyst"):
        name = unique(role)
        made[role] = users.create_user(as_super, username=name, email=f"{name}@example.com",
                                       password=PASSWORD, role_codes=[role])
    admin_ctx = auth.context_for(auth.actor_for(made["admin"].id, tenant.id))
    return AppWorld(tenant.id, code, made, super_ctx, admin_ctx)


def sign_in_as(at: AppTest, user: User) -> AppTest:
    at.session_state["wework_user_id"] = user.id
    at.session_state["wework_home_tenant"] = user.tenant_id
    at.session_state["wework_acting_tenant"] = user.tenant_id
    at.session_state["wework_last_seen"] = time.time()
    return at


@pytest.fixture
def app() -> AppTest:
    return AppTest.from_file(MAIN, default_timeout=60)


@pytest.fixture
def app_for():
    """``app_for(user)`` → an AppTest signed in as that user, already run once."""

    def make(user: User, acting_tenant: str | None = None) -> AppTest:
        at = sign_in_as(AppTest.from_file(MAIN, default_timeout=60), user)
        if acting_tenant:
            at.session_state["wework_acting_tenant"] = acting_tenant
        return at.run()

    return make


@pytest.fixture
def app_as(app_world: AppWorld, app_for):
    """``app_as("analyst")`` → an AppTest signed in as that role, already run once."""

    def make(role: str, acting_tenant: str | None = None) -> AppTest:
        return app_for(app_world.users[role], acting_tenant)

    return make


# --------------------------------------------------------------------------- hostile names


class CountingServer:
    """A stand-in for an attacker's host on 127.0.0.1: counts every request it gets (an
    image a browser loads, a link it prefetches)."""

    def __init__(self) -> None:
        import http.server
        import threading

        hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.hits = hits
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class HostileWorld:
    """A tenant whose names are attacks on whoever views them: Markdown images and links,
    HTML, LaTeX, emoji codes, and spreadsheet formulas (each at most 100 characters)."""

    evil: CountingServer
    tenant_id: str
    names: dict[str, str]  # what -> the stored name
    admin: User


def hostile_names(host: str) -> dict[str, str]:
    return {
        "tenant": f'@SUM(1) <a href="http://{host}/n">n</a> <img src=http://{host}/n.png>',
        "account": f'=HYPERLINK("http://{host}/c","c") ![a](http://{host}/a.png) **a**',
        "task": f"-2+3 ![t](http://{host}/t.png) <a href=http://{host}/t>t</a> $x$ :smile:",
        "template": f"+1 [l](http://{host}/l) :red[r] ~~s~~ <b>b</b>",
    }


@pytest.fixture(scope="session")
def evil() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def hostile_world(app_world: AppWorld, app_data: AppData, evil: CountingServer) -> HostileWorld:
    if app_data.hostile is None:
        app_data.hostile = _hostile_world(app_world, evil)
    return app_data.hostile


def _hostile_world(app_world: AppWorld, evil: CountingServer) -> HostileWorld:
    """The hostile tenant with an online account, a template and a created batch send
    (so its names reach the live progress, every report and the published marts)."""
    from wework.services import accounts, batches, templates

    names = hostile_names(evil.host)
    tenant = tenants.create_tenant(app_world.super_ctx, tenant_code=unique("hostile"),
                                   tenant_name=names["tenant"])
    as_super = app_world.super_ctx.for_tenant(tenant.id)
    admin_name = unique("hadmin")
    admin = users.create_user(as_super, username=admin_name,
                              email=f"{admin_name}@example.com", password=PASSWORD,
                              role_codes=["admin"])
    account = accounts.create_account(as_super, account_name=names["account"],
                                      phone="13812345678", email="alice@example.com")
    for status in ("logging_in", "waiting_scan", "waiting_confirm", "online"):
        accounts.change_status(as_super, account.id, status)
    template = templates.create_template(as_super, template_name=names["template"],
                                         template_type="text",
                                         template_content={"text": "hello"})
    batches.create_batch(as_super, task_name=names["task"], account_id=account.id,
                         target_type="manual",
                         target_config={"conversation_ids": ["c-1", "c-2"]},
                         template_id=template.id)
    run_pipeline()
    return HostileWorld(evil, tenant.id, names, admin)
