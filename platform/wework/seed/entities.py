"""Seed plan for the small tables: tenants, roles, users, accounts with their status
history, conversations, templates and batch tasks.

Everything is drawn from one ``random.Random(seed)`` so a seed and a ``now`` always give
the same data. Rows are plain dicts in model column names, ready for Core inserts.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from faker import Faker

from wework.enums import AccountStatus
from wework.services.permissions import SYSTEM_ROLES

# Status shares of the seeded accounts; every status appears at least once when there
# are at least nine accounts.
STATUS_WEIGHTS = {
    AccountStatus.ONLINE: 60,
    AccountStatus.OFFLINE: 14,
    AccountStatus.ERROR: 7,
    AccountStatus.RECOVERING: 3,
    AccountStatus.CREATED: 3,
    AccountStatus.LOGGING_IN: 3,
    AccountStatus.WAITING_SCAN: 3,
    AccountStatus.WAITING_CONFIRM: 3,
    AccountStatus.NEED_VERIFY: 4,
}

LOGIN_PATH = ("logging_in", "waiting_scan", "waiting_confirm", "online")
PRE_ONLINE_ENDINGS = {
    "created": (),
    "logging_in": ("logging_in",),
    "waiting_scan": ("logging_in", "waiting_scan"),
    "waiting_confirm": ("logging_in", "waiting_scan", "waiting_confirm"),
    "need_verify": ("logging_in", "waiting_scan", "need_verify"),
}
# An outage while online: heartbeat lost and re-login, or an error and a recovery.
OUTAGES = (
    (("offline", "heartbeat timeout", "auto"), *[(s, "re-login", "system") for s in LOGIN_PATH]),
    (
        ("error", "instance crashed", "system"),
        ("recovering", "auto recovery", "auto"),
        ("online", "recovered", "auto"),
    ),
)

TEMPLATE_KINDS = (
    ("welcome", "text", {"text": "您好 {{name}}，欢迎加入{{company}}！"}, ["name", "company"]),
    ("promo", "link", {"title": "{{title}}", "url": "https://example.com/p/{{code}}"},
     ["title", "code"]),
    ("notice", "text", {"text": "{{name}}，您的订单 {{order}} 已发货"}, ["name", "order"]),
    ("reminder", "text", {"text": "提醒：{{event}} 将于 {{time}} 开始"}, ["event", "time"]),
    ("poster", "image", {"url": "https://cdn.example.com/{{code}}.png"}, ["code"]),
)


@dataclass
class AccountPlan:
    row: dict
    number: int
    online_ever: bool
    flappy: bool
    history: list[dict] = field(default_factory=list)


@dataclass
class TenantPlan:
    row: dict
    roles: list[dict]
    users: list[dict]
    user_roles: list[dict]
    accounts: list[AccountPlan] = field(default_factory=list)
    conversations: list[dict] = field(default_factory=list)
    templates: list[dict] = field(default_factory=list)
    batches: list[dict] = field(default_factory=list)
    demo_users: dict[str, str] = field(default_factory=dict)  # role_code -> username


def det_uuid(rng: random.Random, at: datetime) -> str:
    """A deterministic UUIDv7 stamped with ``at`` (naive UTC), as ``new_id`` makes them
    live: 48 bits of milliseconds, version 7, RFC 4122 variant, random bits from ``rng``."""
    ms = int(at.replace(tzinfo=UTC).timestamp() * 1000)
    value = (ms << 80) | (rng.getrandbits(128) & ((1 << 80) - 1))
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant 10xx
    return str(uuid.UUID(int=value))


def gateway_uuid(rng: random.Random) -> str:
    """A random (v4) UUID, for ids the WeCom gateway makes (event ids)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def conversation_code(account_no: int, idx: int, groups: int) -> str:
    return f"{'wr' if idx < groups else 'wm'}{account_no:05d}{idx:03d}"


def plan_tenants(
    rng: random.Random,
    faker: Faker,
    n_tenants: int,
    n_accounts: int,
    now: datetime,
    days: int,
    conversations_per_account: int = 30,
    groups_per_account: int = 8,
) -> list[TenantPlan]:
    """Tenants with users, roles, accounts (+history), conversations and templates."""
    start = now - timedelta(days=days)
    per_tenant = _split(rng, n_accounts, n_tenants)
    statuses = _account_statuses(rng, n_accounts)
    plans: list[TenantPlan] = []
    account_no = 0
    for t in range(n_tenants):
        created = start - timedelta(days=rng.randint(35, 60), seconds=rng.randint(0, 86_399))
        tenant_id = det_uuid(rng, created)
        n_acc = per_tenant[t]
        tenant = {
            "id": tenant_id,
            "tenant_code": f"t{t + 1:03d}",
            "tenant_name": faker.company(),
            "contact_person": faker.name(),
            "contact_phone": faker.phone_number(),
            "contact_email": faker.company_email(),
            "max_accounts": max(n_acc + rng.randint(0, 5), 1),
            "max_daily_messages": 10_000,  # sized from the message plan later
            "webhook_url": f"https://hooks.example.com/{tenant_id[:8]}",
            "config": {"timezone": "Asia/Shanghai", "retry_limit": 3},
            "status": "active" if t % 10 != 9 else "suspended",
            "created_at": created,
            "updated_at": created,
        }
        roles, role_ids = [], {}
        for code, (name, desc, perms) in SYSTEM_ROLES.items():
            rid = det_uuid(rng, created)
            role_ids[code] = rid
            roles.append(
                {
                    "id": rid,
                    "tenant_id": tenant_id,
                    "role_code": code,
                    "role_name": name,
                    "description": desc,
                    "permissions": perms,
                    "is_system": True,
                    "is_active": True,
                    "created_at": created,
                    "updated_at": created,
                }
            )
        users, user_roles, demo = [], [], {}
        layout = [("admin", "active"), ("operator", "active"), ("operator", "active"),
                  ("analyst", "active"), ("operator", "inactive")]
        admin_id = None
        for i, (role_code, status) in enumerate(layout):
            uid = det_uuid(rng, created)
            admin_id = admin_id or uid
            username = f"{tenant['tenant_code']}_{role_code}{i}"
            last_login = now - timedelta(hours=rng.randint(1, 24 * days))
            users.append(
                {
                    "id": uid,
                    "tenant_id": tenant_id,
                    "username": username,
                    "email": f"{username}@{tenant['tenant_code']}.example.com",
                    "phone": faker.phone_number(),
                    "real_name": faker.name(),
                    "password_hash": None,  # filled by the caller (argon2 is slow)
                    "salt": None,
                    "status": status,
                    "last_login_time": last_login,
                    "last_login_ip": faker.ipv4_private(),
                    "failed_login_count": 0,
                    "created_at": created,
                    "updated_at": created,
                }
            )
            user_roles.append(
                {"user_id": uid, "role_id": role_ids[role_code], "assigned_by": admin_id,
                 "assigned_at": created}
            )
            if status == "active":
                demo.setdefault(role_code, username)
        plan = TenantPlan(tenant, roles, users, user_roles, demo_users=demo)
        for _ in range(n_acc):
            account_no += 1
            acct = _plan_account(
                rng, faker, tenant, users, account_no, statuses[account_no - 1], start, now
            )
            plan.accounts.append(acct)
            plan.conversations.extend(
                _conversations(rng, faker, acct, conversations_per_account, groups_per_account)
            )
        plan.templates = _templates(rng, tenant, admin_id, created)
        plans.append(plan)
    return plans


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` uneven shares (some tenants much bigger)."""
    weights = [rng.paretovariate(1.5) for _ in range(parts)]
    s = sum(weights)
    shares = [int(total * w / s) for w in weights]
    for i in range(total - sum(shares)):
        shares[i % parts] += 1
    return shares


def _account_statuses(rng: random.Random, n: int) -> list[str]:
    statuses = [s.value for s in STATUS_WEIGHTS] if n >= len(STATUS_WEIGHTS) else []
    statuses += rng.choices(
        [s.value for s in STATUS_WEIGHTS], weights=list(STATUS_WEIGHTS.values()),
        k=n - len(statuses),
    )
    rng.shuffle(statuses)
    return statuses


def _plan_account(rng, faker, tenant, users, number, final, start, now) -> AccountPlan:
    tenant_id = tenant["id"]
    created = start - timedelta(days=rng.randint(1, 30), seconds=rng.randint(0, 86_399))
    flappy = rng.random() < 0.08
    # Episodes of status changes, each a few steps minutes apart: the first login right
    # after creation, outages at random moments (recovered within minutes to hours), and
    # the path to the final status. Between episodes an account stays where it is.
    episodes: list[list[tuple[str, str, str]]] = []  # (new_status, reason, operator_type)
    if final in PRE_ONLINE_ENDINGS:
        online_ever = False
        episodes.append([(s, "login started" if s == "logging_in" else "login flow", "user")
                         for s in PRE_ONLINE_ENDINGS[final]])
    else:
        online_ever = True
        episodes.append([(s, "first login", "user") for s in LOGIN_PATH])
        outages = rng.randint(8, 25) if flappy else rng.choice((0, 0, 1, 1, 2, 3))
        episodes += [list(rng.choice(OUTAGES)) for _ in range(outages)]
        ending = {
            "offline": [("offline", "heartbeat timeout", "auto")],
            "error": [("error", "instance crashed", "system")],
            "recovering": [("error", "instance crashed", "system"),
                           ("recovering", "auto recovery", "auto")],
        }.get(final)
        if ending:
            episodes.append(ending)
    span = (now - created).total_seconds()
    starts = [0.0, *sorted(rng.uniform(3600, span - 3600) for _ in episodes[1:])]
    if final in PRE_ONLINE_ENDINGS or final in ("offline", "error", "recovering"):
        # The current, unfinished episode began recently.
        starts[-1] = max(starts[-1] if len(starts) > 1 else 0.0,
                         span - rng.uniform(600, 2 * 86_400))
    history = [
        {"account_id": None, "old_status": None, "new_status": "created",
         "reason": "account created", "operator_type": "user", "created_at": created}
    ]
    old, last = "created", created
    for episode, offset in zip(episodes, starts, strict=True):
        at = max(created + timedelta(seconds=offset), last)
        for new, reason, op in episode:
            pause = rng.randint(300, 7_200) if new == "logging_in" and old == "offline" else (
                rng.randint(5, 600))
            at = min(at + timedelta(seconds=pause), now - timedelta(seconds=1))
            history.append(
                {"account_id": None, "old_status": old, "new_status": new, "reason": reason,
                 "operator_type": op, "created_at": at}
            )
            old, last = new, at
    account_id = det_uuid(rng, history[0]["created_at"])
    for h in history:
        h["account_id"] = account_id
        h["operator_id"] = users[0]["id"] if h["operator_type"] == "user" else None
        h["error_message"] = "instance crashed: exit 137" if h["new_status"] == "error" else None
    phone = faker.phone_number()
    email = f"acct{number:05d}@{tenant['tenant_code']}.example.com"
    heartbeat = None
    if final == "online":
        heartbeat = now - timedelta(seconds=rng.randint(1, 25))
    elif online_ever:
        heartbeat = last - timedelta(seconds=rng.randint(0, 60))
    row = {
        "id": account_id,
        "tenant_id": tenant_id,
        "user_id": rng.choice(users[:4])["id"],
        "account_name": f"{tenant['tenant_code']}-企微{number:04d}",
        "phone": phone,
        "email": email,
        "guid": f"guid-{account_id}",
        "qr_code_url": f"https://qr.example.com/{account_id[:8]}" if final in (
            "waiting_scan", "waiting_confirm") else None,
        "login_token": uuid.UUID(int=rng.getrandbits(128)).hex if online_ever else None,
        "status": final,
        "config": {"max_per_minute": 20},
        "user_info": {"nickname": faker.name()} if online_ever else None,
        "last_login_time": max((h["created_at"] for h in history
                                if h["new_status"] == "online"), default=None),
        "last_heartbeat_time": heartbeat,
        "login_retry_count": rng.randint(1, 3) if final == "error" else 0,
        "error_message": "instance crashed: exit 137" if final in ("error", "recovering")
        else None,
        "created_at": created,
        "updated_at": last,
    }
    return AccountPlan(row=row, number=number, online_ever=online_ever, flappy=flappy,
                       history=history)


def _conversations(rng, faker, acct: AccountPlan, n: int, groups: int) -> list[dict]:
    if not acct.online_ever:
        return []
    rows = []
    for idx in range(n):
        is_group = idx < groups
        created = acct.row["created_at"] + timedelta(hours=rng.randint(1, 48))
        rows.append(
            {
                "id": det_uuid(rng, created),
                "account_id": acct.row["id"],
                "conversation_id": conversation_code(acct.number, idx, groups),
                "conversation_name": (f"{faker.word()}客户群" if is_group else faker.name()),
                "conversation_type": "group" if is_group else "private",
                "member_count": rng.randint(3, 200) if is_group else 2,
                "unread_count": rng.randint(0, 5),
                "is_active": rng.random() > 0.05,
                "is_pinned": rng.random() < 0.1,
                "tags": rng.sample(["vip", "new", "retail", "b2b", "churn-risk"], k=2),
                "created_at": created,
                "updated_at": created,
            }
        )
    return rows


def _templates(rng, tenant, creator_id, created) -> list[dict]:
    rows = []
    for i, (kind, mtype, content, variables) in enumerate(TEMPLATE_KINDS):
        rows.append(
            {
                "id": det_uuid(rng, created),
                "tenant_id": tenant["id"],
                "creator_id": creator_id,
                "template_name": f"{kind}-{i + 1}",
                "template_type": mtype,
                "category": kind,
                "description": f"{kind} template",
                "template_content": content,
                "variables": [{"name": v, "required": True} for v in variables],
                "preview_data": {v: f"<{v}>" for v in variables},
                "usage_count": 0,
                "is_public": False,
                "is_active": True,
                "tags": [kind],
                "created_at": created,
                "updated_at": created,
            }
        )
    return rows
