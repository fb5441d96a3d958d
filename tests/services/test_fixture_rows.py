"""The service fixtures keep no row from one test to the next: the databases of a pytest
worker are shared by every area, and some areas empty them between two service tests
(``empty_db``; the app's and the notebooks' ``seed(replace=True)``) — a tenant must still
be made after that, whatever ran before."""

from __future__ import annotations

from platform_admins import remove_platform_admin

from wework.enums import TenantStatus
from wework.services import tenants, users


def test_a_tenant_is_made_after_the_platform_admin_was_wiped(make_tenant, super_ctx):
    first = make_tenant()
    remove_platform_admin(super_ctx.actor.username)  # what a wipe by another area does to it

    second = make_tenant()

    assert second.tenant.id != first.tenant.id
    assert tenants.get_tenant(second.ctx, second.tenant.id).status == TenantStatus.ACTIVE
    assert users.get_user(second.ctx, second.admin.id).username == second.admin.username
