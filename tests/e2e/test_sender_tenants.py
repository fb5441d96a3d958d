"""The end-to-end fixtures keep no row from one test to the next: the databases of a pytest
worker are shared by every area, and some areas empty them between two end-to-end tests
(``empty_db``; the app's and the notebooks' ``seed(replace=True)``) — a sender tenant must
still be made after that, whatever ran before."""

from __future__ import annotations

from loop_helpers import ADMIN_USERNAME
from sqlalchemy import delete, select

from wework.enums import AccountStatus, TenantStatus
from wework.models import User, UserRole
from wework.services import accounts, tenants
from wework.services.permissions import PLATFORM_TENANT_CODE
from wework.services.uow import transaction


def test_a_sender_tenant_is_made_after_the_platform_admin_was_wiped(make_sender_tenant):
    first = make_sender_tenant()
    platform = tenants.find_tenant_by_code(PLATFORM_TENANT_CODE)
    # What a re-seed does to the end-to-end admin (and only to it here: the rows of the
    # other areas' session fixtures stay).
    with transaction(platform.id) as s:
        admin_id = s.scalar(select(User.id).where(User.tenant_id == platform.id,
                                                  User.username == ADMIN_USERNAME))
        s.execute(delete(UserRole).where(UserRole.user_id == admin_id))
        s.execute(delete(User).where(User.id == admin_id))

    second = make_sender_tenant()

    assert second.ctx.tenant_id != first.ctx.tenant_id
    assert tenants.get_tenant(second.ctx, second.ctx.tenant_id).status == TenantStatus.ACTIVE
    account = accounts.get_account(second.ctx, second.account_id)
    assert account.status == AccountStatus.ONLINE
