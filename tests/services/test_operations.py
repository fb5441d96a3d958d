"""What every service operation must do, checked on the source so that a new operation
(README: "adding a service operation") cannot forget it."""

from __future__ import annotations

import ast
from pathlib import Path

from wework.config import REPO_ROOT
from wework.gateway.base import EVENT_TYPE_OF, EventType, NotifyType
from wework.services.callbacks import HANDLERS

SERVICES = REPO_ROOT / "platform" / "wework" / "services"

# Operations that take a context but check no permission, on purpose.
NO_PERMISSION = {
    ("messages", "prepare_row"): "a step of send_message/enqueue_many, which check",
    ("tenants", "get_tenant"): "everyone reads their own tenant; ctx.check_tenant guards",
    ("tenants", "list_tenants"): "own tenant only, every tenant for a super-admin",
    ("users", "change_own_password"): "self-service: any signed-in user, old password checked",
    ("uow", "tenant_transaction"): "the transaction an operation opens after its own check; "
                                   "it re-checks that the context is still true",
    ("uow", "tenant_connection"): "the same as tenant_transaction, on a Core connection",
}


def _calls(node: ast.AST) -> set[str]:
    return {ast.unparse(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}


def _checks_permission(name: str, functions: dict[str, ast.FunctionDef], seen=()) -> bool:
    """The function calls ctx.require / a _require helper, or a private function of its
    module that does."""
    calls = _calls(functions[name])
    if any(c.endswith("require") or c.split(".")[-1].startswith("_require") for c in calls):
        return True
    return any(c in functions and c.startswith("_") and c not in seen
               and _checks_permission(c, functions, (*seen, name)) for c in calls)


def test_every_operation_checks_a_permission():
    missing = []
    for path in sorted(SERVICES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        for name, node in functions.items():
            takes_ctx = node.args.args and node.args.args[0].arg == "ctx"
            if name.startswith("_") or not takes_ctx or (Path(path).stem, name) in NO_PERMISSION:
                continue
            if not _checks_permission(name, functions):
                missing.append(f"{path.stem}.{name}")
    assert missing == []


def test_every_notify_type_has_an_event_type_and_a_handler():
    """README: "adding a notify type". A notify type the gateway may send but nothing
    applies would fail every such event."""
    assert set(EVENT_TYPE_OF) == set(NotifyType)
    assert set(EVENT_TYPE_OF.values()) == set(EventType)
    assert set(HANDLERS) == set(NotifyType)
