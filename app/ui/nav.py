"""Which pages exist, in which group, and the permission each one needs: declared once,
in :data:`PAGES`. The sidebar is built from this list filtered by the signed-in user's
permissions, and every page starts with :func:`start` (or ``reports.start``), which takes
its title and permission from here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from ui import session
from ui.session import can
from wework.services.context import Actor, ServiceContext
from wework.services.permissions import (
    ACCOUNT_MANAGE,
    BATCH_MANAGE,
    CALLBACK_REPLAY,
    PLATFORM_ADMIN,
    REPORT_VIEW,
    TEMPLATE_MANAGE,
    TENANT_MANAGE,
    USER_MANAGE,
)

PAGES_DIR = Path(__file__).resolve().parents[1] / "app_pages"


@dataclass(frozen=True)
class PageSpec:
    file: str  # in app/app_pages/
    title: str
    icon: str
    group: str  # "Reports" or "Admin"
    permission: str
    url_path: str


PAGES: tuple[PageSpec, ...] = (
    PageSpec("overview.py", "Overview", ":material/dashboard:", "Reports", REPORT_VIEW,
             "overview"),
    PageSpec("message_stats.py", "Message statistics", ":material/bar_chart:", "Reports",
             REPORT_VIEW, "message-stats"),
    PageSpec("account_health.py", "Account health", ":material/monitor_heart:", "Reports",
             REPORT_VIEW, "account-health"),
    PageSpec("batch_report.py", "Batch tasks", ":material/stacked_line_chart:", "Reports",
             REPORT_VIEW, "batch-report"),
    PageSpec("callback_report.py", "Callbacks", ":material/webhook:", "Reports", REPORT_VIEW,
             "callback-report"),
    PageSpec("tenant_usage.py", "Tenant usage", ":material/data_usage:", "Reports",
             REPORT_VIEW, "tenant-usage"),
    PageSpec("monitoring.py", "Monitoring", ":material/speed:", "Reports", REPORT_VIEW,
             "monitoring"),
    PageSpec("notebook_reports.py", "Notebook reports", ":material/article:", "Reports",
             REPORT_VIEW, "notebook-reports"),
    PageSpec("admin_tenants.py", "Tenants", ":material/domain:", "Admin", PLATFORM_ADMIN,
             "tenants"),
    PageSpec("admin_users.py", "Users & roles", ":material/group:", "Admin", USER_MANAGE,
             "users"),
    PageSpec("admin_accounts.py", "WeCom accounts", ":material/smartphone:", "Admin",
             ACCOUNT_MANAGE, "accounts"),
    PageSpec("admin_templates.py", "Templates", ":material/description:", "Admin",
             TEMPLATE_MANAGE, "templates"),
    PageSpec("admin_batches.py", "Batch sends", ":material/send:", "Admin", BATCH_MANAGE,
             "batches"),
    PageSpec("admin_callbacks.py", "Callback events", ":material/replay:", "Admin",
             CALLBACK_REPLAY, "callbacks"),
    PageSpec("admin_webhooks.py", "Webhooks", ":material/outbound:", "Admin",
             TENANT_MANAGE, "webhooks"),
    PageSpec("admin_gateway.py", "Gateway secrets", ":material/key:", "Admin", PLATFORM_ADMIN,
             "gateway-secrets"),
    PageSpec("admin_audit.py", "Audit log", ":material/policy:", "Admin", TENANT_MANAGE,
             "audit-log"),
)


def spec_of(script: str) -> PageSpec:
    """The declaration of the page whose script is ``script`` (a page passes
    ``__file__``)."""
    name = Path(script).name
    for spec in PAGES:
        if spec.file == name:
            return spec
    raise LookupError(f"{name} is not declared in ui.nav.PAGES")


def start(script: str) -> ServiceContext:
    """Header of every page: stop unless the signed-in user holds the page's permission,
    then show its title. Returns the service context to act with."""
    spec = spec_of(script)
    ctx = session.require(spec.permission)
    st.title(spec.title)
    return ctx


def allowed_pages(actor: Actor | None) -> list[PageSpec]:
    return [p for p in PAGES if can(actor, p.permission)]


def grouped(actor: Actor | None) -> dict[str, list[PageSpec]]:
    groups: dict[str, list[PageSpec]] = {}
    for spec in allowed_pages(actor):
        groups.setdefault(spec.group, []).append(spec)
    return groups
