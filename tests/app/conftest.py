"""Fixtures of the app tests: a tenant with one user per system role plus the platform
super-admin (all created through the services), and AppTest drivers signed in as them.

Signing in for page tests sets the session's user id directly (the login form itself is
tested separately): ``session.refresh`` then loads the actor from the database on every
run exactly as after a real login.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from wework.config import Settings
from wework.models import User
from wework.services import auth, tenants, users
from wework.services.context import ServiceContext

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
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


@pytest.fixture(scope="session")
def app_world(settings: Settings) -> AppWorld:
    _, root = tenants.bootstrap_platform("app-root", "app-root@example.com", PASSWORD)
    super_ctx = auth.context_for(auth.actor_for(root.id, root.tenant_id))
    code = unique("apptest")
    tenant = tenants.create_tenant(super_ctx, tenant_code=code, tenant_name=f"App {code}",
                                   max_accounts=5)
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
