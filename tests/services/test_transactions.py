"""What the services conclude from a database error inside a transaction: a deadlock
inside a SAVEPOINT ends the whole transaction, whatever error the savepoint's exit then
raises, so the callers redo the work instead of keeping what InnoDB already undid."""

from __future__ import annotations

import contextlib
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from wework.db.engines import Role, get_engine
from wework.services.uow import is_deadlock, retry_on_deadlock, transaction_lost


@pytest.fixture
def two_rows(primary):
    ids = ["deadlock-test-a", "deadlock-test-b"]
    with primary.begin() as conn:
        for i in ids:
            conn.execute(text("INSERT IGNORE INTO tenants (id, tenant_name, tenant_code) "
                              "VALUES (:i, :i, :i)"), {"i": i})
    return ids


def lock(conn_or_session, tenant_id: str) -> None:
    conn_or_session.execute(text("SELECT id FROM tenants WHERE id = :i FOR UPDATE"),
                            {"i": tenant_id})


def test_a_deadlock_inside_a_savepoint_counts_as_the_transaction_lost(settings, two_rows):
    a, b = two_rows
    engine = get_engine(Role.PRIMARY, 0, settings)
    other_holds_b = threading.Event()
    we_hold_a = threading.Event()

    def other() -> None:  # locks b, then waits for a: one side of the deadlock
        with engine.connect() as conn, conn.begin():
            # It changes b (undo log): InnoDB rolls back the lighter transaction, ours.
            conn.execute(text("UPDATE tenants SET contact_person = UUID() WHERE id = :i"),
                         {"i": b})
            other_holds_b.set()
            we_hold_a.wait(10)
            with contextlib.suppress(SQLAlchemyError):  # in case it is the victim
                lock(conn, a)

    thread = threading.Thread(target=other)
    thread.start()
    other_holds_b.wait(10)
    caught = None
    with Session(engine) as s:
        try:
            with s.begin(), s.begin_nested():
                lock(s, a)
                we_hold_a.set()
                lock(s, b)  # waits for the other side: InnoDB picks a victim
        except SQLAlchemyError as exc:
            caught = exc
    thread.join(10)
    assert caught is not None, "InnoDB chose the heavier transaction as the victim"
    # What escapes is the savepoint's ROLLBACK TO failing (the deadlock's rollback took
    # the savepoint with it); it must still read as the transaction lost.
    assert transaction_lost(caught), caught


def test_retry_on_deadlock_runs_the_transaction_again(settings, two_rows):
    a = two_rows[0]
    engine = get_engine(Role.PRIMARY, 0, settings)
    attempts = []

    def work() -> str:
        attempts.append(1)
        with engine.connect() as conn, conn.begin():
            if len(attempts) == 1:
                conn.execute(text("SIGNAL SQLSTATE '40001' SET MYSQL_ERRNO = 1213, "
                                  "MESSAGE_TEXT = 'Deadlock found'"))
            lock(conn, a)
            return "done"

    assert retry_on_deadlock(work) == "done" and len(attempts) == 2
    assert not is_deadlock(ValueError("not a database error"))
