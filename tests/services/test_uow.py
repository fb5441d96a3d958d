"""Joining a caller's transaction: the one way (``session=``) and its guard."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from wework.db.engines import Role, get_engine
from wework.enums import AccountStatus
from wework.services import accounts
from wework.services.uow import shard_transaction, transaction


class Rollback(Exception):
    pass


def test_an_operation_joined_to_a_transaction_commits_or_rolls_back_with_it(tenant_ctx):
    account = accounts.create_account(tenant_ctx, account_name="joined")
    with pytest.raises(Rollback), transaction(tenant_ctx.tenant_id) as s:
        accounts.change_status(tenant_ctx, account.id, AccountStatus.LOGGING_IN, session=s)
        raise Rollback  # the caller's transaction fails after the joined operation
    assert accounts.get_account(tenant_ctx, account.id).status is AccountStatus.CREATED
    assert [h.new_status for h in accounts.status_history(tenant_ctx, account.id)] == [
        AccountStatus.CREATED]

    with transaction(tenant_ctx.tenant_id) as s:
        accounts.change_status(tenant_ctx, account.id, AccountStatus.LOGGING_IN, session=s)
    assert accounts.get_account(tenant_ctx, account.id).status is AccountStatus.LOGGING_IN


def test_only_a_service_transaction_on_the_same_shard_can_be_joined(settings):
    with (
        shard_transaction(0) as s,
        pytest.raises(ValueError, match="cannot join a transaction on shard 0"),
        shard_transaction(1, s),
    ):
        pass
    with (
        Session(get_engine(Role.PRIMARY, 0, settings)) as plain,
        plain.begin(),
        pytest.raises(ValueError, match="not a service transaction"),
        shard_transaction(0, plain),
    ):
        pass
