"""The end-to-end fixtures keep no row from one test to the next: the databases of a pytest
worker are shared by every area, and some areas empty them between two end-to-end tests
(``empty_db``; the app's and the notebooks' ``seed(replace=True)``) — a sender tenant must
still be made after that, whatever ran before."""

from __future__ import annotations

from loop_helpers import ADMIN_USERNAME
from platform_admins import remove_platform_admin

from wework.enums import AccountStatus, TenantStatus
from wework.services import accounts, tenants


def test_a_sender_tenant_is_made_after_the_platform_admin_was_wiped(make_sender_tenant):
    first = make_sender_tenant()
    remove_platform_admin(ADMIN_USERNAME)  # what a re-seed does to it

    second = make_sender_tenant()

    assert second.ctx.tenant_id != first.ctx.tenant_id
    assert tenants.get_tenant(second.ctx, second.ctx.tenant_id).status == TenantStatus.ACTIVE
    account = accounts.get_account(second.ctx, second.account_id)
    assert account.status == AccountStatus.ONLINE
