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
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.assets import mart_assets, published_marts, raw_assets
from pipelines.resources import MySQLReplicaResource, WarehouseResource
from wework.config import Settings
from wework.db.replication import wait_for_replica
from wework.models import User
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


def run_pipeline() -> None:
    """Extract from the replica, build and publish the marts: the real assets in-process."""
    dg.materialize([*raw_assets, *mart_assets, published_marts],
                   resources={"warehouse": WarehouseResource(),
                              "replica": MySQLReplicaResource()})


@pytest.fixture(scope="session")
def seeded(settings: Settings) -> SeedSummary:
    """A small seeded platform (3 tenants, 2 weeks of traffic) and its published marts.
    Seeding empties this session's databases first, so everything else builds on it."""
    summary = seed(SeedConfig(tenants=3, accounts=12, days=14, messages=6000,
                              chunk_size=3000), settings, replace=True)
    wait_for_replica(timeout=180, settings=settings)  # the shared box may be busy
    run_pipeline()
    assert published_version() is not None
    return summary


@pytest.fixture(scope="session")
def app_world(seeded: SeedSummary) -> AppWorld:
    _, root = tenants.bootstrap_platform("app-root", "app-root@example.com", PASSWORD)
    super_ctx = auth.context_for(auth.actor_for(root.id, root.tenant_id))
    code = next(iter(seeded.demo_users))  # a seeded, active tenant: its reports have data
    tenant = tenants.find_tenant_by_code(code)
    tenants.update_tenant(super_ctx.for_tenant(tenant.id), tenant.id, max_accounts=500)
    as_super = super_ctx.for_tenant(tenant.id)
    made = {"super_admin": root}
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
def app_as(app_world: AppWorld):
    """``app_as("analyst")`` → an AppTest signed in as that role, already run once."""

    def make(role: str, acting_tenant: str | None = None) -> AppTest:
        at = sign_in_as(AppTest.from_file(MAIN, default_timeout=60), app_world.users[role])
        if acting_tenant:
            at.session_state["wework_acting_tenant"] = acting_tenant
        return at.run()

    return make
