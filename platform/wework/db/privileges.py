"""What each database user may do (least privilege), in one place.

The local stack grants exactly this (:mod:`wework.db.localstack`), ``wework db grants``
prints it as SQL for a DBA setting up external servers, and ``wework db check`` compares
what each configured user really holds (``SHOW GRANTS``) with it.

Privileges are granted on the platform's databases (the shard databases and
``wework_meta``, where the replication heartbeat lives). Nobody gets FILE, SUPER,
SHUTDOWN, PROCESS, CREATE USER or GRANT OPTION, nor any privilege on ``*.*`` that reads
or writes tables (that would include the ``mysql`` system tables and their password
hashes).

Restore is not a standing user: loading a dump and replaying binlogs (``BINLOG``
statements, session ``server_id``/``gtid_domain_id``) needs BINLOG REPLAY, which would let
its holder apply arbitrary row events. The local stack restores as root over the server's
unix socket (only the OS user running the stack can use it); on external servers a DBA
account is given for the occasion (``WEWORK_DB_RESTORE_USER``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from wework.db.engines import DbUser

# Scopes a privilege is held on, as classes: the whole server, the platform's databases,
# and the two system schemas some tools read.
GLOBAL = "*.*"
PROJECT = "platform databases"
PERFORMANCE_SCHEMA = "performance_schema"
MYSQL_PROC = "mysql.proc"
SYSTEM = "mysql"  # the system schema (users, password hashes)
OTHER = "other databases"

HEARTBEAT_DATABASE = "wework_meta"

DML = ("SELECT", "INSERT", "UPDATE", "DELETE")
DDL = (
    "CREATE",
    "DROP",
    "ALTER",
    "INDEX",
    "REFERENCES",
    "CREATE VIEW",
    "SHOW VIEW",
    "CREATE ROUTINE",
    "ALTER ROUTINE",
    "EXECUTE",
    "EVENT",
    "TRIGGER",
    "LOCK TABLES",
    "CREATE TEMPORARY TABLES",
)

# user -> scope class -> privileges. Why each one is needed:
NEEDED: dict[DbUser, dict[str, frozenset[str]]] = {
    # The services, worker, API and app only read and write rows.
    DbUser.APP: {PROJECT: frozenset(DML)},
    # Alembic, `db partitions` (REORGANIZE/DROP PARTITION), retention, the heartbeat
    # EVENT, and the bulk seed (drops and rebuilds indexes, TRUNCATE = DROP). It also
    # writes alembic_version and seeds rows, so it has DML too.
    DbUser.MIGRATOR: {PROJECT: frozenset(DML + DDL)},
    # DuckDB's mysql extension only reads.
    DbUser.ETL: {PROJECT: frozenset({"SELECT"})},
    # mariadb-dump --single-transaction --master-data=2 --gtid --routines --triggers
    # --events: SELECT, SHOW VIEW, TRIGGER and EVENT to read the definitions, LOCK TABLES
    # for its brief table locks, RELOAD for FLUSH TABLES WITH READ LOCK (the consistent
    # binlog position) and FLUSH BINARY LOGS, BINLOG MONITOR for SHOW MASTER STATUS /
    # SHOW BINARY LOGS, SELECT on mysql.proc for the routines' bodies, and REPLICATION
    # SLAVE to copy binlogs over the replication protocol (mariadb-binlog
    # --read-from-remote-server).
    DbUser.BACKUP: {
        PROJECT: frozenset({"SELECT", "SHOW VIEW", "TRIGGER", "EVENT", "LOCK TABLES"}),
        GLOBAL: frozenset({"RELOAD", "BINLOG MONITOR", "REPLICATION SLAVE"}),
        MYSQL_PROC: frozenset({"SELECT"}),
    },
    # Replication state (SHOW SLAVE STATUS needs SLAVE MONITOR, binlog positions BINLOG
    # MONITOR), the platform gauges (rows), statement digests and consumer settings.
    DbUser.MONITOR: {
        PROJECT: frozenset({"SELECT"}),
        GLOBAL: frozenset({"SLAVE MONITOR", "BINLOG MONITOR"}),
        PERFORMANCE_SCHEMA: frozenset({"SELECT"}),
    },
}
# The local replica's link to the primary (not a platform role: on external servers the
# DBA runs replication).
REPLICATION: dict[str, frozenset[str]] = {GLOBAL: frozenset({"REPLICATION SLAVE"})}

# Never held by any user of the platform (each is reported by `db check` when present).
FORBIDDEN = frozenset(
    {"ALL PRIVILEGES", "FILE", "SUPER", "SHUTDOWN", "PROCESS", "CREATE USER", "GRANT OPTION"}
)

_SCOPE_SQL = {
    GLOBAL: "*.*",
    PERFORMANCE_SCHEMA: "`performance_schema`.*",
    MYSQL_PROC: "`mysql`.`proc`",
}


def escape_like(name: str) -> str:
    """``name`` as a literal inside a GRANT database pattern (``_`` and ``%`` are
    wildcards there)."""
    return name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def like_matches(pattern: str, name: str) -> bool:
    """Whether a GRANT database pattern (SQL LIKE, ``\\`` escapes) covers ``name``."""
    regex, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        regex.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.fullmatch("".join(regex), name) is not None


def local_database_patterns(db_name: str) -> list[str]:
    """The patterns the local stack grants on: every ``wework_…`` database (the shard
    databases, ``wework_meta``, and the test and benchmark sets that share the local pair),
    and ``<db_name>_…`` when the configured name lies outside that."""
    patterns = [escape_like("wework_") + "%"]
    if not db_name.startswith("wework_"):
        patterns.append(escape_like(f"{db_name}_") + "%")
    return patterns


def external_database_patterns(db_name: str) -> list[str]:
    """What to grant on for a production deployment: the shard databases and the
    heartbeat database, nothing else."""
    return [escape_like(f"{db_name}_") + "%", HEARTBEAT_DATABASE]


def grant_statements(
    needed: dict[str, frozenset[str]], account: str, database_patterns: Iterable[str]
) -> list[str]:
    """``GRANT`` statements giving ``account`` (``'name'@'host'``) the ``needed``
    privileges (``NEEDED[user]`` or ``REPLICATION``)."""
    statements = []
    for scope, privileges in sorted(needed.items()):
        listed = ", ".join(sorted(privileges))
        if scope == PROJECT:
            statements += [
                f"GRANT {listed} ON `{pattern}`.* TO {account}" for pattern in database_patterns
            ]
        else:
            statements.append(f"GRANT {listed} ON {_SCOPE_SQL[scope]} TO {account}")
    return statements


# ----------------------------------------------------------------- reading SHOW GRANTS

_GRANT = re.compile(
    r"^GRANT (?P<privileges>.+?) ON (?:(?:FUNCTION|PROCEDURE|PACKAGE BODY|PACKAGE) )?"
    r"(?P<scope>\S+) TO (?P<grantee>\S+)(?P<rest>.*)$"
)
_ROLE_GRANT = re.compile(r"^GRANT (?P<role>`[^`]*`(?:@`[^`]*`)?) TO ")
_SCOPE = re.compile(r"^(?:\*|`(?P<db>(?:[^`]|``)*)`)\.(?:\*|`(?P<table>(?:[^`]|``)*)`)$")


@dataclass(frozen=True)
class Held:
    """One privilege a user holds, on one scope as SHOW GRANTS prints it."""

    privilege: str
    scope: str  # "*.*", "`db`.*", "`db`.`table`"

    @property
    def database(self) -> str | None:
        m = _SCOPE.match(self.scope)
        return m and m.group("db") and m.group("db").replace("``", "`")

    @property
    def table(self) -> str | None:
        m = _SCOPE.match(self.scope)
        return m and m.group("table") and m.group("table").replace("``", "`")


@dataclass
class Grants:
    held: set[Held] = field(default_factory=set)
    roles: list[str] = field(default_factory=list)


def _split_privileges(text: str) -> list[str]:
    """``SELECT (`a`, `b`), INSERT`` → ``["SELECT (`a`, `b`)", "INSERT"]``."""
    parts, depth, current = [], 0, []
    for c in text:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(c)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def parse_grants(lines: Iterable[str]) -> Grants:
    """The privileges in ``SHOW GRANTS`` output (one statement per line)."""
    grants = Grants()
    for line in lines:
        line = line.strip().rstrip(";")
        match = _GRANT.match(line)
        if match is None:
            role = _ROLE_GRANT.match(line)
            if role:
                grants.roles.append(role.group("role"))
            continue
        scope = match.group("scope")
        for privilege in _split_privileges(match.group("privileges")):
            if privilege != "USAGE":
                grants.held.add(Held(privilege, scope))
        if "WITH GRANT OPTION" in match.group("rest"):
            grants.held.add(Held("GRANT OPTION", scope))
    return grants


def scope_class(held: Held, databases: Iterable[str]) -> str:
    """Which class of scope ``held`` is on, given the platform's database names."""
    if held.scope == "*.*":
        return GLOBAL
    database = held.database or ""
    if database == "performance_schema":
        return PERFORMANCE_SCHEMA
    if database == "mysql":
        return MYSQL_PROC if held.table == "proc" else SYSTEM
    if any(like_matches(database, name) for name in databases):
        return PROJECT
    return OTHER


@dataclass
class PrivilegeReport:
    user: DbUser
    excess: list[str] = field(default_factory=list)  # "FILE, SUPER on *.*", per scope
    missing: list[str] = field(default_factory=list)  # "DROP on platform databases"
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.excess and not self.missing


def compare(user: DbUser, grants: Grants, databases: list[str]) -> PrivilegeReport:
    """What ``user`` holds beyond what it needs, and what it lacks, on the platform's
    ``databases`` (the shard databases and ``wework_meta``)."""
    needed = NEEDED[user]
    report = PrivilegeReport(user)
    by_class: dict[str, set[str]] = {}
    excess: dict[str, list[str]] = {}
    for held in sorted(grants.held, key=lambda h: (h.scope, h.privilege)):
        cls = scope_class(held, databases)
        by_class.setdefault(cls, set()).add(held.privilege)
        if held.privilege in FORBIDDEN or held.privilege not in needed.get(cls, frozenset()):
            excess.setdefault(held.scope, []).append(held.privilege)
    for scope, privileges in excess.items():
        # The dangerous ones first: they are what an attacker with this login would use.
        privileges.sort(key=lambda p: (p not in FORBIDDEN, p))
        report.excess.append(f"{', '.join(privileges)} on {scope}")
    for role in grants.roles:
        report.notes.append(f"holds role {role} (its privileges are not checked here)")
    global_privileges = by_class.get(GLOBAL, set())
    for cls, privileges in needed.items():
        if cls == PROJECT:
            # Needed on every platform database, whichever grants cover each.
            have = set(privileges)
            for database in databases:
                covering = global_privileges | {
                    h.privilege
                    for h in grants.held
                    if h.database is not None
                    and h.table is None
                    and like_matches(h.database, database)
                }
                if "ALL PRIVILEGES" not in covering:
                    have &= covering
        else:
            have = by_class.get(cls, set()) | global_privileges
            if "ALL PRIVILEGES" in have:
                continue
        for privilege in sorted(privileges - have):
            report.missing.append(f"{privilege} on {cls}")
    return report
