"""The one registry of what the warehouse holds: which source columns reach ``raw`` (and
which never do, and why), and every mart with its grain, inputs, slices and totals.

Everything else reads from here: the extraction (``pipelines.extract``), the Dagster
assets and their checks, the slice recomputation (``pipelines.marts``), the publisher
(``wework.warehouse`` gets the names from the assets), ``wework etl status`` and the
test oracle. Adding a mart: its SQL in ``sql/marts/<name>.sql``, a :class:`MartSpec`
below, and its independent MySQL computation in ``tests/pipelines/etl_oracle.py``; a test
fails when any of the three is missing (see README, "Adding a mart").
"""

from __future__ import annotations

from dataclasses import dataclass, field

# --------------------------------------------------------------------------- raw tables


@dataclass(frozen=True)
class RawTable:
    """One source table as the warehouse holds it.

    ``excluded`` names every source column that is NOT extracted, with the reason: secrets
    and credentials never leave MariaDB (issue 16), and neither does what no report needs
    but would make the warehouse a copy of personal data. Every column of the model is
    either extracted or excluded (a test checks that a new column is decided here).
    ``changes``: the columns recorded for every row that changed, old and new version, so
    the marts recompute only the slices those rows touch (empty: no mart reads the table).
    """

    name: str
    excluded: dict[str, str] = field(default_factory=dict)
    changes: tuple[str, ...] = ()
    # The row's identity when the primary key also holds the partition column (MariaDB
    # needs it there): an UPDATE of created_at is the same row, not a new one.
    key: tuple[str, ...] | None = None


CREDENTIAL = "credential: never leaves MariaDB"
ENCRYPTED = "encrypted personal data (ciphertext is useless to reports and still sensitive)"
LOOKUP_HASH = "keyed lookup hash of encrypted personal data (would allow matching people)"
PERSONAL = "personal data no report needs"
WEBHOOK_DELIVERY = "alert webhook delivery state (operations; changes after the row is written)"
CONTENT = "message text: private conversation content; reports count messages, never read them"

RAW_TABLES: tuple[RawTable, ...] = (
    RawTable(
        "tenants",
        excluded={
            "contact_person": PERSONAL,
            "contact_phone": ENCRYPTED,
            "contact_email": ENCRYPTED,
            "webhook_url": "may embed the tenant's webhook token in its query string",
            "config": "free-form tenant settings that may hold integration secrets",
        },
        changes=("id",),
    ),
    RawTable(
        "users",
        excluded={
            "password_hash": CREDENTIAL,
            "salt": CREDENTIAL,
            "email": ENCRYPTED,
            "phone": ENCRYPTED,
            "real_name": PERSONAL,
            "avatar_url": PERSONAL,
            "last_login_ip": "login IP: personal data and a lead for attackers",
        },
    ),
    RawTable("roles"),
    RawTable("user_roles"),
    RawTable(
        "wework_accounts",
        excluded={
            "phone": ENCRYPTED,
            "email": ENCRYPTED,
            "phone_hash": LOOKUP_HASH,
            "email_hash": LOOKUP_HASH,
            "login_token": CREDENTIAL,
            "qr_code_url": "a pending login QR code: whoever scans it logs the account in",
            "user_info": "the WeCom profile of the logged-in person",
            "config": "per-account gateway settings that may hold credentials",
            "guid_active": "generated from guid and status (MariaDB-only helper column)",
        },
        changes=("id", "tenant_id"),
    ),
    RawTable(
        "account_status_history",
        excluded={"extra_data": "free-form gateway detail that may carry addresses or tokens"},
        changes=("account_id",),
        key=("id",),
    ),
    RawTable(
        "conversations",
        excluded={"last_msg_content": CONTENT, "extra_info": PERSONAL},
    ),
    RawTable(
        "message_templates",
    ),
    RawTable(
        "batch_send_tasks",
        excluded={
            "message_content": CONTENT,
            "target_config": "the recipients' identifiers (personal data)",
        },
        changes=("id",),
    ),
    RawTable(
        "messages",
        excluded={
            "content": CONTENT,
            "due_at": "derived by the database from scheduled_time and created_at, which "
                      "are extracted (the dispatcher's order)",
        },
        changes=("tenant_id", "account_id", "created_at", "batch_id"),
        key=("id",),
    ),
    RawTable("message_statistics"),
    RawTable(
        "callback_events",
        excluded={
            "raw_data": "the gateway's raw request body (signatures, tokens, message text)",
            "parsed_data": CONTENT,
            "source_ip": "network address of the sender",
            "user_agent": "not used by any report",
        },
        changes=("received_time",),
        key=("id",),
    ),
    RawTable("callback_event_keys"),
    # Operator alert history (wework.alerts): the notices' facts, which never change once
    # written. Their webhook delivery state changes afterwards and is operations, not
    # history, so it stays out (and the extraction can treat the rows as insert-only).
    RawTable(
        "alert_notices",
        excluded={
            "payload": "the alert webhook's request body: a copy of the extracted columns",
            "delivery": WEBHOOK_DELIVERY,
            "attempts": WEBHOOK_DELIVERY,
            "next_attempt_at": WEBHOOK_DELIVERY,
            "last_error": "the receiver's error reply (may quote its address or headers)",
            "delivered_at": WEBHOOK_DELIVERY,
            "last_status_code": WEBHOOK_DELIVERY,
        },
        changes=("alert_id",),
    ),
)

RAW_BY_NAME = {t.name: t for t in RAW_TABLES}

# Source tables the warehouse never holds, with the reason. A table in neither list stops
# the extraction (a new table must be decided on here).
NOT_EXTRACTED: dict[str, str] = {
    "tenant_webhook_secrets": "tenants' webhook signing secrets: " + CREDENTIAL,
    "gateway_secrets": "the gateways' callback signing secrets: " + CREDENTIAL,
    "webhook_outbox": "tenant webhook deliveries in flight (payloads copy account and "
                      "message details; delivery state is operations, not analytics)",
    "worker_jobs": "the worker's job schedule and last errors (operations state)",
    "callback_webhook_ids": "replay-protection keys of the HTTP intake (operations state)",
    "alerts": "operator alerts' current state (operations state, read live by the app)",
    "tenant_daily_quota": "the daily quota's counters (operations state; the messages "
                          "themselves are extracted)",
    "audit_log": "the security record of administrative writes (client addresses, "
                 "before/after values): read on its admin page, not analytics",
    "data_generation": "which generation of data the shard holds (bookkeeping): read by "
                       "each run to see whether the source was replaced",
}


# --------------------------------------------------------------------------- aggregates


@dataclass(frozen=True)
class Aggregate:
    """A warehouse table of additive counts over one raw table, kept up to date by deltas
    (``pipelines.aggregates``) rather than recomputed: its SQL (``sql/aggregates/<name>.sql``)
    groups the rows of ``source`` (each with a ``_sign``: +1, or -1 for a removed row
    version) and sums ``_sign`` into its ``measures``.

    ``columns``: the source columns the SQL reads; the extraction records them for every
    row version it removes (-1) and adds (+1), in the transaction that changes raw, so a
    run applies exactly the rows it changed. The first measure counts rows: a group whose
    count reaches 0 is dropped. An aggregate is internal (schema ``agg``, never
    published); marts read it by its bare name like any other input. After every delta
    its row count by ``check_by`` is compared with raw's (a guard, see the module).
    """

    name: str
    source: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    measures: tuple[str, ...]
    check_by: str  # a source column: the row count by its values must equal raw's


AGGREGATES: tuple[Aggregate, ...] = (
    # The daily message mart's counts and exact delivery-time histogram: delivery seconds
    # are whole seconds (TIMESTAMP columns), so a (tenant, day, type) has a few dozen
    # distinct values and nearest-rank percentiles come out of the histogram exactly.
    Aggregate(
        "message_days",
        source="messages",
        columns=("tenant_id", "created_at", "message_type", "status", "retry_count",
                 "send_time", "callback_time"),
        key=("tenant_id", "stat_date", "message_type", "status", "delivery_seconds"),
        measures=("messages", "retry_total"),
        check_by="status",
    ),
    # Messages per account-day and status: account health's sent/failed counts, tenant
    # usage's messages and active accounts.
    Aggregate(
        "message_account_days",
        source="messages",
        columns=("tenant_id", "account_id", "created_at", "status"),
        key=("tenant_id", "account_id", "stat_date", "status"),
        measures=("messages",),
        check_by="status",
    ),
)
AGGREGATES_BY_NAME = {a.name: a for a in AGGREGATES}


def delta_columns(table: str) -> tuple[str, ...]:
    """The columns recorded, signed, for every changed row of ``table`` (the union of its
    aggregates' columns; empty: no aggregate reads it)."""
    cols: list[str] = []
    for a in AGGREGATES:
        if a.source == table:
            cols += [c for c in a.columns if c not in cols]
    return tuple(cols)


# --------------------------------------------------------------------------- marts


@dataclass(frozen=True)
class Input:
    """A relation a mart's SQL reads (by its bare name: ``messages``, ``tenants``, or
    another mart) and how it is cut down to the slices being recomputed.

    ``match``: expressions over the input that equal the first ``len(match)`` slice
    columns (empty: the input is read whole). ``prune``: a timestamp column whose date is
    the slice's date, so a range filter lets DuckDB skip row groups by their min/max.
    """

    name: str
    match: tuple[str, ...] = ()
    prune: str | None = None


@dataclass(frozen=True)
class MartSpec:
    """One mart. ``slice``: the columns whose values a recomputation replaces (a subset of
    the key); ``dirty``: SQL yielding the slice values that the recorded changes touch
    (see pipelines.marts for the relations it may read); ``totals``: (SQL over the mart's
    rows ``m``, SQL over its inputs) that must agree, checked on the recomputed slices."""

    name: str
    key: tuple[str, ...]
    slice: tuple[str, ...]
    inputs: tuple[Input, ...]
    dirty: str
    totals: tuple[str, str]
    description: str = ""

    @property
    def raw_inputs(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs if i.name in RAW_BY_NAME)

    @property
    def aggregate_inputs(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs if i.name in AGGREGATES_BY_NAME)

    @property
    def mart_inputs(self) -> tuple[str, ...]:
        return tuple(
            i.name for i in self.inputs
            if i.name not in RAW_BY_NAME and i.name not in AGGREGATES_BY_NAME
        )

    @property
    def source_tables(self) -> tuple[str, ...]:
        """The raw tables it reads, directly or through an aggregate."""
        via = tuple(AGGREGATES_BY_NAME[a].source for a in self.aggregate_inputs)
        return tuple(dict.fromkeys(self.raw_inputs + via))


MESSAGE_DAYS = "SELECT tenant_id, CAST(created_at AS DATE) AS stat_date FROM changed_messages"
# The hourly mart's own cells: a late receipt redoes its (account, hour), ~2 messages at
# 2M (a (tenant, day) slice re-read ~1,100 and its percentiles; measured in the bench).
MESSAGE_HOUR = ("tenant_id", "account_id", "CAST(created_at AS DATE)",
                "CAST(hour(created_at) AS INTEGER)")
MESSAGE_HOURS = f"SELECT {', '.join(MESSAGE_HOUR)} FROM changed_messages"
STATUS_TOTALS = (
    "SELECT sum(total_count), sum(success_count), sum(failed_count) FROM m",
    "SELECT count(*), count(*) FILTER (WHERE status IN ('sent', 'delivered')), "
    "count(*) FILTER (WHERE status = 'failed') FROM messages",
)
# Every (account, day) of the accounts whose timeline changed, and every account's days
# between the previous build's as_of and this one's (the open day's uptime moves with it).
ACCOUNT_DAYS = """
    SELECT account_id, CAST(created_at AS DATE) AS stat_date FROM changed_messages
    UNION
    SELECT a.id, CAST(unnest(generate_series(date_trunc('day', a.created_at),
                                             date_trunc('day', getvariable('as_of')),
                                             INTERVAL 1 DAY)) AS DATE)
    FROM raw.wework_accounts AS a
    WHERE a.id IN (SELECT account_id FROM changed_account_status_history
                   UNION SELECT id FROM changed_wework_accounts)
    UNION
    SELECT account_id, stat_date FROM marts.account_health_daily
    WHERE account_id IN (SELECT account_id FROM changed_account_status_history
                         UNION SELECT id FROM changed_wework_accounts)
    UNION
    SELECT a.id, CAST(d AS DATE)
    FROM raw.wework_accounts AS a,
         unnest(generate_series(getvariable('time_from'), getvariable('time_to'),
                                INTERVAL 1 DAY)) AS g(d)
    WHERE a.created_at < d + INTERVAL 1 DAY
    UNION
    SELECT account_id, stat_date FROM marts.account_health_daily
    WHERE stat_date >= getvariable('time_from')
"""
# A tenant's days are bounded by its creation, first and last message and as_of: a
# change to the tenant, its accounts (cumulative counts) or a message outside its current
# range redoes the whole tenant; otherwise only the days whose messages changed. The
# clock only adds (or, moving back, removes) whole days: day_from..day_to, empty while
# as_of stays within one UTC day.
TENANT_DAYS = """
    WITH whole AS (
        SELECT id AS tenant_id FROM changed_tenants
        UNION SELECT tenant_id FROM changed_wework_accounts
        UNION SELECT c.tenant_id FROM changed_messages AS c
        LEFT JOIN (SELECT tenant_id, min(stat_date) AS lo, max(stat_date) AS hi
                   FROM marts.tenant_usage_daily GROUP BY ALL) AS r USING (tenant_id)
        WHERE r.tenant_id IS NULL OR CAST(c.created_at AS DATE) NOT BETWEEN r.lo AND r.hi
    )
    SELECT tenant_id, CAST(created_at AS DATE) AS stat_date FROM changed_messages
    UNION
    SELECT tenant_id, stat_date FROM marts.tenant_usage_daily
    WHERE tenant_id IN (SELECT tenant_id FROM whole)
    UNION
    SELECT t.id, CAST(d AS DATE)
    FROM raw.tenants AS t,
         unnest(generate_series(getvariable('day_from'), getvariable('day_to'),
                                INTERVAL 1 DAY)) AS g(d)
    UNION
    -- A tenant's first and last message day, from the aggregate (refreshed before the
    -- marts; every message counts in a group of its day): reading them from raw.messages
    -- scanned every message of every tenant, 0.32 s of a 1%-changed run at 20M.
    SELECT t.id, CAST(d AS DATE)
    FROM raw.tenants AS t,
         unnest(generate_series(
             least(CAST(t.created_at AS DATE),
                   coalesce((SELECT min(m.stat_date) FROM agg.message_account_days AS m
                             WHERE m.tenant_id = t.id), CAST(t.created_at AS DATE))),
             greatest(getvariable('time_to'),
                      coalesce((SELECT max(m.stat_date) FROM agg.message_account_days AS m
                                WHERE m.tenant_id = t.id), getvariable('time_to'))),
             INTERVAL 1 DAY)) AS g(d)
    WHERE t.id IN (SELECT tenant_id FROM whole)
"""

MARTS: tuple[MartSpec, ...] = (
    MartSpec(
        "message_stats_hourly",
        key=("tenant_id", "account_id", "stat_date", "stat_hour", "message_type"),
        slice=("tenant_id", "account_id", "stat_date", "stat_hour"),
        inputs=(Input("messages", MESSAGE_HOUR, "created_at"),),
        dirty=MESSAGE_HOURS,
        totals=STATUS_TOTALS,
    ),
    MartSpec(
        "message_stats_daily",
        key=("tenant_id", "stat_date", "message_type"),
        slice=("tenant_id", "stat_date"),
        inputs=(Input("message_days", ("tenant_id", "stat_date")),),
        dirty=MESSAGE_DAYS,
        totals=(
            STATUS_TOTALS[0],
            "SELECT sum(messages), sum(messages) FILTER (WHERE status IN ('sent', "
            "'delivered')), sum(messages) FILTER (WHERE status = 'failed') FROM message_days",
        ),
    ),
    MartSpec(
        "account_health_daily",
        key=("account_id", "stat_date"),
        slice=("account_id", "stat_date"),
        inputs=(
            Input("wework_accounts", ("id",)),
            Input("account_status_history", ("account_id",)),
            Input("message_account_days", ("account_id", "stat_date")),
        ),
        dirty=ACCOUNT_DAYS,
        totals=(
            "SELECT sum(messages_sent), sum(messages_failed) FROM m",
            "SELECT sum(m.messages) FILTER (WHERE m.status IN ('sent', 'delivered')), "
            "sum(m.messages) FILTER (WHERE m.status = 'failed') "
            "FROM message_account_days AS m JOIN wework_accounts AS a ON a.id = m.account_id "
            "WHERE a.created_at <= getvariable('as_of') "
            "AND m.stat_date >= CAST(a.created_at AS DATE) "
            "AND m.stat_date <= CAST(getvariable('as_of') AS DATE)",
        ),
    ),
    MartSpec(
        "batch_task_performance",
        key=("batch_id",),
        slice=("batch_id",),
        inputs=(Input("batch_send_tasks", ("id",)), Input("messages", ("batch_id",))),
        dirty="SELECT batch_id FROM changed_messages WHERE batch_id IS NOT NULL "
        "UNION SELECT id FROM changed_batch_send_tasks",
        totals=(
            "SELECT count(*), sum(message_count) FROM m",
            "SELECT (SELECT count(*) FROM batch_send_tasks), (SELECT count(*) FROM messages "
            "WHERE batch_id IN (SELECT id FROM batch_send_tasks))",
        ),
    ),
    MartSpec(
        "callback_processing_daily",
        key=("stat_date", "event_type"),
        slice=("stat_date",),
        inputs=(Input("callback_events", ("CAST(received_time AS DATE)",), "received_time"),),
        dirty="SELECT CAST(received_time AS DATE) FROM changed_callback_events",
        totals=(
            "SELECT sum(received_count), sum(processed_count), sum(failed_count) FROM m",
            "SELECT count(*), count(*) FILTER (WHERE status = 'processed'), "
            "count(*) FILTER (WHERE status = 'failed') FROM callback_events",
        ),
    ),
    MartSpec(
        "tenant_usage_daily",
        key=("tenant_id", "stat_date"),
        slice=("tenant_id", "stat_date"),
        inputs=(
            Input("tenants", ("id",)),
            Input("wework_accounts", ("tenant_id",)),
            Input("message_account_days", ("tenant_id",)),
        ),
        dirty=TENANT_DAYS,
        totals=(
            "SELECT sum(messages_created) FROM m",
            "SELECT coalesce(sum(h.messages), 0) FROM message_account_days AS h "
            "SEMI JOIN slice_keys AS s ON s.tenant_id = h.tenant_id AND s.stat_date = h.stat_date "
            "WHERE h.tenant_id IN (SELECT id FROM tenants)",
        ),
    ),
    MartSpec(
        "account_directory",
        key=("account_id",),
        slice=("account_id",),
        inputs=(Input("wework_accounts", ("id",)), Input("tenants")),
        dirty="SELECT id FROM changed_wework_accounts UNION "
        "SELECT id FROM raw.wework_accounts WHERE tenant_id IN (SELECT id FROM changed_tenants)",
        totals=(
            "SELECT count(*), count(tenant_code) FROM m",
            "SELECT count(*), count(*) FILTER (WHERE tenant_id IN (SELECT id FROM tenants)) "
            "FROM wework_accounts",
        ),
    ),
    MartSpec(
        "alert_history",
        key=("alert_id", "episode"),
        slice=("alert_id",),
        inputs=(Input("alert_notices", ("alert_id",)),),
        # An alert whose notices changed, and every alert with a notice that as_of passed
        # over since the previous build (left out of that build, or now past as_of).
        dirty="SELECT alert_id FROM changed_alert_notices UNION "
        "SELECT alert_id FROM raw.alert_notices "
        "WHERE \"at\" > getvariable('clock_from') AND \"at\" <= getvariable('clock_to')",
        totals=(
            "SELECT count(*), coalesce(sum(repeat_notices), 0) FROM m",
            "SELECT count(*) FILTER (WHERE kind = 'firing' AND \"repeat\" = 0), "
            "count(*) FILTER (WHERE kind = 'firing' AND \"repeat\" > 0) FROM alert_notices "
            "WHERE \"at\" <= getvariable('as_of')",
        ),
    ),
)

MART_NAMES: tuple[str, ...] = tuple(m.name for m in MARTS)
MARTS_BY_NAME = {m.name: m for m in MARTS}
