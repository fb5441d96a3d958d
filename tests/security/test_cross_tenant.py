"""Issue 16 item 1: every id a caller passes is resolved inside the caller's tenant.

The matrix is generated from the services themselves: every public function of
``wework.services.*`` that takes a ``ctx`` and an id (a parameter named ``*_id``, ``*_ids``
or ``ids``) is called as tenant A's admin (every tenant permission) with, in turn, each of
its id parameters set to an object of tenant B (the other ids A's own), and must raise
NotFoundError or PermissionDeniedError. A new service function is picked up without
touching this file; one the matrix cannot call is listed in ``CANNOT_CALL`` with the
reason, and a parameter it has no value for fails the test by name.

Then the exact attack of the issue: A enqueues into B's batch and cancels; B's
``total_count`` never moves.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

import wework.services
from wework.enums import CallbackStatus, WebhookEvent
from wework.errors import NotFoundError, PermissionDeniedError
from wework.models import BatchSendTask, CallbackEvent, Message, User, WebhookOutbox, utcnow
from wework.services import accounts, auth, batches, messages, roles, templates, tenants, users
from wework.services.callbacks import INTAKE_SHARD
from wework.services.context import ServiceContext
from wework.services.uow import shard_transaction, transaction
from wework.services.webhooks import record_event

PASSWORD = "correct horse battery"  # the service fixtures' password

# Functions the matrix does not call, with the reason.
_RECORDS = ("writes the audit row of a change its caller made, naming ids the caller "
            "already resolved in its tenant; it resolves none itself")
CANNOT_CALL: dict[str, str] = {
    "audit.record": _RECORDS,
    "audit.created": _RECORDS,
    "audit.change": _RECORDS,
}

ID_PARAM = ("_id", "_ids")
# Parameters named like ids that name no platform row: a WeCom conversation id is the
# recipient's id on WeCom's side, free text the gateway resolves.
NOT_ROW_IDS = frozenset({"conversation_id"})


def _is_id(name: str) -> bool:
    return (name.endswith(ID_PARAM) or name == "ids") and name not in NOT_ROW_IDS


def id_functions() -> dict[str, Callable]:
    """``module.function`` → function, for every public service function taking a ctx
    and at least one id."""
    found = {}
    for info in pkgutil.iter_modules(wework.services.__path__):
        module = importlib.import_module(f"wework.services.{info.name}")
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != module.__name__:
                continue
            params = inspect.signature(fn).parameters
            if "ctx" in params and any(_is_id(p) for p in params):
                found[f"{info.name}.{name}"] = fn
    return found


@dataclass
class Objects:
    """One object of each kind a caller can name by id, all in one tenant."""

    ctx: ServiceContext
    tenant_id: str
    user_id: str
    role_id: str
    account_id: str
    template_id: str
    batch_id: str
    message_id: str
    delivery_id: str
    event_id: str

    def ids(self, name: str, model: type | None = None) -> Any:
        """The value of id parameter ``name`` naming this tenant's object."""
        single = {
            "tenant_id": self.tenant_id, "user_id": self.user_id, "role_id": self.role_id,
            "account_id": self.account_id, "template_id": self.template_id,
            "batch_id": self.batch_id, "message_id": self.message_id,
            "secret_id": self.user_id,  # any id: gateway secrets are platform-only
            "row_id": self.user_id,  # rows.load_owned(model=User)
        }
        plural = {"account_ids": [self.account_id], "event_ids": [self.event_id],
                  "ids": [self.delivery_id]}
        if name in single:
            return single[name]
        if name in plural:
            return plural[name]
        raise KeyError(name)


def build_objects(tag: str, admin_id: str, ctx: ServiceContext) -> Objects:
    account = accounts.create_account(ctx, account_name=f"acct-{tag}", guid=f"guid-{tag}")
    template = templates.create_template(ctx, template_name=f"tpl-{tag}", template_type="text",
                                         template_content={"text": "hello {name}"},
                                         variables=[{"name": "name", "default": "you"}])
    batch = batches.create_batch(ctx, task_name=f"batch-{tag}", account_id=account.id,
                                 target_type="manual",
                                 target_config={"conversation_ids": ["c1", "c2", "c3"]},
                                 message_type="text", content={"text": "hi"})
    message = messages.send_message(ctx, account_id=account.id, conversation_id="c9",
                                    message_type="text", content={"text": "one"})
    role = roles.create_role(ctx, role_code=f"r{tag[-6:]}", role_name="reader",
                             permissions=["report:view"])
    now = utcnow()
    with transaction(ctx.tenant_id) as s:
        record_event(s, ctx.tenant_id, WebhookEvent.ACCOUNT_OFFLINE,
                     {"account_id": account.id}, now)
        delivery_id = s.scalar(select(WebhookOutbox.id)
                               .where(WebhookOutbox.tenant_id == ctx.tenant_id).limit(1))
    with shard_transaction(INTAKE_SHARD) as s:
        event = CallbackEvent(guid=account.guid, notify_type=1, event_type="test",
                              raw_data="{}", status=CallbackStatus.FAILED, retry_count=0,
                              received_time=now - timedelta(seconds=5))
        s.add(event)
        s.flush()
        event_id = event.id
    return Objects(ctx, ctx.tenant_id, admin_id, role.id, account.id, template.id,
                   batch.id, message.id, delivery_id, event_id)


@pytest.fixture(scope="module")
def two_tenants(module_super_ctx: ServiceContext) -> Iterator[tuple[Objects, Objects]]:
    """Tenants A and B, each with one object of every kind (built once per module; the
    tenants are suspended afterwards, like make_tenant's)."""
    made = []

    def world() -> Objects:
        code = f"x-{uuid.uuid4().hex[:10]}"
        tenant = tenants.create_tenant(module_super_ctx, tenant_code=code, tenant_name=code,
                                       webhook_url="http://127.0.0.1:9/hook")
        made.append(tenant.id)
        admin = users.create_user(module_super_ctx.for_tenant(tenant.id),
                                  username=f"admin-{code}", email=f"admin-{code}@example.com",
                                  password=PASSWORD, role_codes=["admin"])
        return build_objects(tenant.tenant_code, admin.id,
                             auth.context_for(auth.actor_for(admin.id, tenant.id)))

    yield world(), world()
    for tenant_id in made:
        tenants.suspend_tenant(module_super_ctx, tenant_id)


# Where an id parameter of one function means something else than its name says.
ID_MEANING: dict[tuple[str, str], Callable[[Objects], Any]] = {
    ("rows.require_owned", "ids"): lambda o: [o.user_id],  # with model=User
}


def _id(qualname: str, name: str, objects: Objects) -> Any:
    meaning = ID_MEANING.get((qualname, name))
    return meaning(objects) if meaning else objects.ids(name)


def _value(name: str, own: Objects) -> Any:
    """A valid value for a required non-id parameter (the call must get as far as the id)."""
    plain = {
        "new_password": "a perfectly long passphrase 7",
        "new_status": "offline",
        "account_name": f"acct-{uuid.uuid4().hex[:8]}",
        "task_name": "attack", "target_type": "manual",
        "target_config": {"conversation_ids": ["c1"]},
        "conversation_id": "c1", "message_type": "text", "content": {"text": "x"},
        "rows": [{"account_id": own.account_id, "conversation_id": "c1",
                  "message_type": "text", "content": {"text": "x"}}],
        "model": User, "entity": "user", "field": "user_id",
    }
    if name in plain:
        return plain[name]
    raise KeyError(name)


def cases() -> list[tuple[str, str]]:
    out = []
    for qualname, fn in sorted(id_functions().items()):
        if qualname in CANNOT_CALL:
            continue
        for p in inspect.signature(fn).parameters:
            if _is_id(p):
                out.append((qualname, p))
    return out


def test_the_matrix_covers_every_id_taking_function():
    functions = id_functions()
    covered = {q for q, _ in cases()}
    assert set(functions) == covered | set(CANNOT_CALL)
    # The functions the issue names are among them.
    for name in ("messages.enqueue_many", "messages.send_message", "batches.cancel_batch",
                 "users.reset_password", "roles.assign_role", "accounts.record_heartbeat"):
        assert name in covered


@pytest.mark.parametrize(("qualname", "attacked"), cases())
def test_another_tenants_id_is_not_found(two_tenants, qualname: str, attacked: str):
    own, other = two_tenants
    fn = id_functions()[qualname]
    params = inspect.signature(fn).parameters

    kwargs: dict[str, Any] = {}
    for name, p in params.items():
        if name == "ctx":
            kwargs[name] = own.ctx
        elif _is_id(name):  # the attacked one B's, every other id A's own
            kwargs[name] = _id(qualname, name, other if name == attacked else own)
        elif name in ("session", "s") or p.kind is p.VAR_KEYWORD:
            continue
        elif p.default is inspect.Parameter.empty:
            try:
                kwargs[name] = _value(name, own)
            except KeyError:
                pytest.fail(f"{qualname}: no test value for parameter {name!r}; add one "
                            "to _value() or list the function in CANNOT_CALL")
    session_param = next((n for n in ("session", "s") if n in params), None)
    with pytest.raises((NotFoundError, PermissionDeniedError)):
        if session_param is None:
            fn(**kwargs)
        else:  # a step that runs inside the caller's transaction
            with transaction(own.tenant_id) as s:
                fn(**{session_param: s}, **kwargs)


@pytest.mark.parametrize("field", ["account_id", "template_id", "batch_id"])
def test_enqueue_rows_naming_another_tenants_object_are_refused(two_tenants, field):
    own, other = two_tenants
    row = {"account_id": own.account_id, "conversation_id": "c1", "message_type": "text",
           "content": {"text": "x"}, field: other.ids(field)}
    with pytest.raises(NotFoundError) as err:
        messages.enqueue_many(own.ctx, [row])
    assert err.value.entity == field


def _batch(objects: Objects) -> BatchSendTask:
    return batches.get_batch(objects.ctx, objects.batch_id)


def test_the_issues_attack_leaves_the_other_tenants_batch_alone(two_tenants):
    """A enqueues into B's batch and cancels; B cancels its batch: B's counters stay true,
    and A's message is never touched by B."""
    a, b = two_tenants
    before = _batch(b).total_count
    with pytest.raises(NotFoundError) as err:
        messages.enqueue_many(a.ctx, [{"account_id": a.account_id, "conversation_id": "c1",
                                       "message_type": "text", "content": {"text": "x"}}],
                              batch_id=b.batch_id)
    assert err.value.entity == "batch_id"
    with pytest.raises(NotFoundError):
        messages.send_message(a.ctx, account_id=a.account_id, conversation_id="c1",
                              message_type="text", content={"text": "x"},
                              template_id=b.template_id)
    with pytest.raises(NotFoundError):
        batches.cancel_batch(a.ctx, b.batch_id)
    assert _batch(b).total_count == before == 3
    own = messages.send_message(a.ctx, account_id=a.account_id, conversation_id="c2",
                                message_type="text", content={"text": "mine"})
    batches.cancel_batch(b.ctx, b.batch_id)
    assert _batch(b).total_count == 0
    assert messages.get_message(a.ctx, own.id).status.value == "pending"
    with transaction(a.tenant_id) as s:
        assert not s.scalars(select(Message.id).where(Message.tenant_id == a.tenant_id,
                                                      Message.batch_id == b.batch_id)).all()


def test_enqueueing_into_an_own_batch_counts_in_its_total(two_tenants):
    """A batch's total moves with every message put in it, so cancelling one of them can
    never drive it below what is really there."""
    a, _ = two_tenants
    batch = batches.create_batch(a.ctx, task_name="grow", account_id=a.account_id,
                                 target_type="manual",
                                 target_config={"conversation_ids": ["g1", "g2"]},
                                 message_type="text", content={"text": "hi"})
    assert batch.total_count == 2
    [extra] = messages.enqueue_many(a.ctx, [{"account_id": a.account_id,
                                             "conversation_id": "g3", "message_type": "text",
                                             "content": {"text": "x"}}], batch_id=batch.id)
    assert batches.get_batch(a.ctx, batch.id).total_count == 3
    messages.cancel_message(a.ctx, extra)
    assert batches.get_batch(a.ctx, batch.id).total_count == 2
    batches.cancel_batch(a.ctx, batch.id)
    with pytest.raises(Exception) as err:
        messages.enqueue_many(a.ctx, [{"account_id": a.account_id, "conversation_id": "g4",
                                       "message_type": "text", "content": {"text": "x"}}],
                              batch_id=batch.id)
    assert getattr(err.value, "field", None) == "batch_id"
