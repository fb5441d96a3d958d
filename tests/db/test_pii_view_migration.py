"""Migration 0005: tenants created before ``pii:view`` existed get it on their admin role
(and the platform's super_admin), nothing else changes, and downgrade takes it out."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import text

from wework.config import Settings
from wework.db import migrate
from wework.db.engines import Role, get_engine

REVISION = "0005_pii_view_permission"
BEFORE = "0004_gateway_secrets"
OLD_ADMIN = ["tenant:manage", "user:manage", "report:view"]


def _roles(engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT role_code, permissions FROM roles")).all()
    return {code: json.loads(perms) for code, perms in rows}


def test_existing_admin_roles_get_pii_view_and_lose_it_on_downgrade(settings):
    s = Settings(**{**settings.model_dump(), "db_name": f"{settings.db_name}_pii",
                    "shard_count": 1})
    try:
        migrate.upgrade(BEFORE, settings=s)
        engine = get_engine(Role.PRIMARY, 0, s)
        tenant = str(uuid.uuid4())
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO tenants (id, tenant_code, tenant_name) "
                              "VALUES (:id, 'old', 'Old tenant')"), {"id": tenant})
            for code, system, perms in (("admin", 1, OLD_ADMIN),
                                        ("analyst", 1, ["report:view"]),
                                        ("custom", 0, ["user:manage"])):
                conn.execute(text(
                    "INSERT INTO roles (id, tenant_id, role_code, role_name, permissions, "
                    "is_system) VALUES (:id, :t, :code, :code, :perms, :system)"),
                    {"id": str(uuid.uuid4()), "t": tenant, "code": code,
                     "perms": json.dumps(perms), "system": system})

        migrate.upgrade(REVISION, settings=s)
        after = _roles(engine)
        assert after["admin"] == [*OLD_ADMIN, "pii:view"]
        assert after["analyst"] == ["report:view"]
        assert after["custom"] == ["user:manage"]

        migrate.downgrade(BEFORE, s)
        assert _roles(engine)["admin"] == OLD_ADMIN
    finally:
        migrate.drop_databases(s)
