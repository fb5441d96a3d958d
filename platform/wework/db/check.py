"""``wework db check``: are the servers set up the way the platform expects?

For the local pair and external servers alike, it reports

- **monitoring settings** the spec asks for (§索引监控与优化, 完善监控) that are off: the slow
  query log with ``long_query_time`` ≤ 1 s, queries not using indexes (rate-limited),
  ``userstat`` (index and table statistics), ``performance_schema`` with statement
  digests; and ``secure_file_priv``, ``read_only`` on the replica, parallel replication;
- **database users** that hold more privileges than their work needs, or lack some: it
  logs in as each configured user and compares ``SHOW GRANTS`` with
  :data:`wework.db.privileges.NEEDED`. A role without its own user on external servers
  connects as the URL's user, which is reported.

Settings are read as the monitoring user (the digest consumers live in
``performance_schema``); nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection

from wework.config import Settings, get_settings
from wework.db.engines import DbUser, Role, credentials, get_engine
from wework.db.privileges import HEARTBEAT_DATABASE, PrivilegeReport, compare, parse_grants


@dataclass
class SettingCheck:
    server: str  # "primary" / "replica"
    name: str
    wanted: str
    actual: str
    ok: bool


@dataclass
class UserCheck:
    user: DbUser
    server: str
    account: str | None  # "name@host" as the server sees it; None if it could not log in
    report: PrivilegeReport | None = None
    error: str | None = None
    shared_with: list[DbUser] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.report is not None and self.report.ok


@dataclass
class CheckReport:
    settings: list[SettingCheck] = field(default_factory=list)
    users: list[UserCheck] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not self.errors
            and all(c.ok for c in self.settings)
            and all(u.ok for u in self.users)
        )


# Variables read from each server (absent ones read as None: MySQL lacks userstat,
# MariaDB lacks log_throttle_queries_not_using_indexes).
_VARIABLES = (
    "slow_query_log",
    "long_query_time",
    "log_queries_not_using_indexes",
    "log_slow_min_examined_row_limit",
    "min_examined_row_limit",
    "log_slow_rate_limit",
    "log_throttle_queries_not_using_indexes",
    "userstat",
    "performance_schema",
    "secure_file_priv",
    "read_only",
    "slave_parallel_threads",
    "slave_parallel_mode",
    "replica_parallel_workers",
)
_DIGEST_CONSUMERS = ("global_instrumentation", "thread_instrumentation", "statements_digest")


def _on(value: str | None) -> bool:
    return (value or "").upper() in ("ON", "1", "YES", "TRUE")


def _number(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


def _variables(conn: Connection) -> dict[str, str]:
    rows = conn.exec_driver_sql("SHOW GLOBAL VARIABLES").all()
    wanted = set(_VARIABLES)
    return {name: value for name, value in rows if name in wanted}


def _consumers(conn: Connection) -> dict[str, str]:
    rows = conn.exec_driver_sql(
        "SELECT NAME, ENABLED FROM performance_schema.setup_consumers"
    ).all()
    return {name: enabled for name, enabled in rows}


def check_settings(server: str, variables: dict[str, str], consumers: dict[str, str] | None):
    """The spec's monitoring settings and the file and replica safeguards on one server."""
    v = variables.get
    checks = [
        SettingCheck(server, "slow_query_log", "ON", v("slow_query_log", "?"),
                     _on(v("slow_query_log"))),
        SettingCheck(server, "long_query_time", "<= 1 (spec)", v("long_query_time", "?"),
                     0 < _number(v("long_query_time")) <= 1),
        SettingCheck(server, "log_queries_not_using_indexes", "ON",
                     v("log_queries_not_using_indexes", "?"),
                     _on(v("log_queries_not_using_indexes"))),
    ]
    # Rate limit of the not-using-indexes entries: MySQL's per-minute throttle, or on
    # MariaDB (which has none) a minimum of examined rows or a sampling rate.
    limits = {
        name: v(name)
        for name in (
            "log_throttle_queries_not_using_indexes",
            "log_slow_min_examined_row_limit",
            "min_examined_row_limit",
            "log_slow_rate_limit",
        )
        if v(name) is not None
    }
    limited = (
        _number(limits.get("log_throttle_queries_not_using_indexes")) > 0
        or _number(limits.get("log_slow_min_examined_row_limit")) > 0
        or _number(limits.get("min_examined_row_limit")) > 0
        or _number(limits.get("log_slow_rate_limit")) > 1
    )
    checks.append(SettingCheck(
        server, "not-using-indexes rate limit",
        "log_throttle_queries_not_using_indexes > 0 (MySQL) or "
        "log_slow_min_examined_row_limit > 0 (MariaDB)",
        ", ".join(f"{k}={val}" for k, val in limits.items()) or "?", limited,
    ))
    if v("userstat") is None:
        checks.append(SettingCheck(server, "userstat", "ON", "(not on this server: MySQL?)",
                                   False))
    else:
        checks.append(SettingCheck(server, "userstat", "ON", v("userstat", "?"),
                                   _on(v("userstat"))))
    checks.append(SettingCheck(server, "performance_schema", "ON", v("performance_schema", "?"),
                               _on(v("performance_schema"))))
    if consumers is None:
        checks.append(SettingCheck(server, "statement digest consumers", "YES",
                                   "(cannot read performance_schema.setup_consumers)", False))
    else:
        off = [c for c in _DIGEST_CONSUMERS if consumers.get(c) != "YES"]
        checks.append(SettingCheck(
            server, "statement digest consumers", "YES: " + ", ".join(_DIGEST_CONSUMERS),
            "all YES" if not off else "NO: " + ", ".join(off), not off,
        ))
    checks.append(SettingCheck(
        server, "secure_file_priv", "a directory (file statements reach nothing else)",
        v("secure_file_priv") or "(empty: any file the server can reach)",
        bool(v("secure_file_priv")),
    ))
    if server == "replica":
        checks.append(SettingCheck(server, "read_only", "ON", v("read_only", "?"),
                                   _on(v("read_only"))))
        threads = v("slave_parallel_threads") or v("replica_parallel_workers")
        checks.append(SettingCheck(
            server, "parallel replication", "> 0 worker threads",
            f"{threads or '?'} threads, mode {v('slave_parallel_mode') or '-'}",
            _number(threads) > 0,
        ))
    return checks


def _servers(s: Settings) -> list[Role]:
    """Primary, and the replica when it is a separate server."""
    if not s.uses_local_stack and not s.replica_url:
        return [Role.PRIMARY]
    return [Role.PRIMARY, Role.REPLICA]


def _check_user(user: DbUser, role: Role, s: Settings, databases: list[str]) -> UserCheck:
    try:
        with get_engine(role, None, s, user=user).connect() as conn:
            account = conn.exec_driver_sql("SELECT CURRENT_USER()").scalar()
            lines = [row[0] for row in conn.exec_driver_sql("SHOW GRANTS")]
    except Exception as e:  # cannot log in, or not configured: that is the finding
        detail = str(getattr(e, "orig", None) or e).splitlines()[0]
        return UserCheck(user, role.value, None, error=detail)
    return UserCheck(user, role.value, account, compare(user, parse_grants(lines), databases))


def check(settings: Settings | None = None) -> CheckReport:
    s = settings or get_settings()
    report = CheckReport()
    for role in _servers(s):
        try:
            with get_engine(role, None, s, user=DbUser.MONITOR).connect() as conn:
                variables = _variables(conn)
                try:
                    consumers = _consumers(conn)
                except Exception:  # no SELECT on performance_schema: reported below
                    consumers = None
        except Exception as e:
            detail = str(getattr(e, "orig", None) or e).splitlines()[0]
            report.errors.append(f"{role}: cannot read its settings as the monitor user: {detail}")
            continue
        report.settings += check_settings(role.value, variables, consumers)

    databases = [*s.shard_databases, HEARTBEAT_DATABASE]
    # Which roles share a login (on external servers a role without its own user
    # connects as the URL's): each then holds the union of their privileges.
    logins: dict[str | None, list[DbUser]] = {}
    for user in DbUser:
        login = credentials(user, s)
        logins.setdefault(login[0] if login else None, []).append(user)
    for user in DbUser:
        # Every user works on the primary; the ETL user's job is the replica, and the
        # monitor reads both.
        roles = [Role.PRIMARY]
        if user in (DbUser.ETL, DbUser.MONITOR) and Role.REPLICA in _servers(s):
            roles.append(Role.REPLICA)
        login = credentials(user, s)
        shared = [u for u in logins[login[0] if login else None] if u is not user]
        for role in roles:
            result = _check_user(user, role, s, databases)
            result.shared_with = shared
            report.users.append(result)
    return report
