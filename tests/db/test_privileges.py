"""Least privilege on the real servers: each database user can do its job and cannot do the
next one's; no user reaches the server's files; mariadbd does not run as root.

Runs against the session's servers (the local pair, or WEWORK_PRIMARY_URL with per-role
users); everything it creates lives in the session's own shard database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psutil
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from wework.config import Settings
from wework.db.check import check
from wework.db.engines import DbUser, Role, get_engine, new_engine
from wework.db.localstack import LocalStack
from wework.db.privileges import FORBIDDEN, Grants, compare, parse_grants
from wework.db.replication import wait_for_replica

ACCESS_DENIED = {1044, 1045, 1142, 1227, 1370}  # db, user, table, "need X privilege", routine


def code(error: DBAPIError) -> int:
    return error.orig.args[0]


READ_ONLY = 1290  # the replica refuses every write before it looks at privileges


def refused(engine: Engine, statement: str, also: tuple[int, ...] = ()) -> int:
    """Run ``statement``; it must fail with an access error (or one of ``also``)."""
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(text(statement))
    assert code(caught.value) in ACCESS_DENIED | set(also), caught.value
    return code(caught.value)


def engine(settings: Settings, user: DbUser, role: Role = Role.PRIMARY) -> Engine:
    return get_engine(role, 0, settings, user=user)


@pytest.fixture(scope="module")
def scratch(settings: Settings) -> Iterator[str]:
    """A table of the session's shard database, made (and dropped) by the migrator."""
    table = f"priv_{uuid.uuid4().hex[:8]}"
    with engine(settings, DbUser.MIGRATOR).begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (id INT PRIMARY KEY, note VARCHAR(20))"))
        conn.execute(text(f"INSERT INTO {table} VALUES (1, 'seeded')"))
    wait_for_replica(settings=settings)
    yield table
    with engine(settings, DbUser.MIGRATOR).begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))


def test_every_user_holds_exactly_what_its_work_needs(settings):
    report = check(settings)
    assert not report.errors
    for user in report.users:
        assert user.error is None, (user.user, user.error)
        assert user.report.excess == [], (user.user, user.server, user.report.excess)
        assert user.report.missing == [], (user.user, user.server, user.report.missing)
        assert not user.shared_with, (user.user, user.shared_with)
    assert {u.user for u in report.users} == set(DbUser)


def test_no_user_holds_file_super_shutdown_or_grant(settings):
    for user in DbUser:
        with engine(settings, user).connect() as conn:
            held = parse_grants(row[0] for row in conn.execute(text("SHOW GRANTS")))
        privileges = {h.privilege for h in held.held}
        assert not privileges & {"FILE", "SUPER", "SHUTDOWN", "GRANT OPTION", "ALL PRIVILEGES"}
        assert not privileges & FORBIDDEN, (user, privileges & FORBIDDEN)
        # Nothing that reads or writes tables on *.* (that would include mysql.*).
        assert not {h.privilege for h in held.held if h.scope == "*.*"} & {
            "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER"
        }, user


def test_app_writes_rows_but_cannot_change_the_schema(settings, scratch):
    app = engine(settings, DbUser.APP)
    with app.begin() as conn:
        conn.execute(text(f"INSERT INTO {scratch} VALUES (2, 'app')"))
        conn.execute(text(f"UPDATE {scratch} SET note = 'app2' WHERE id = 2"))
        conn.execute(text(f"DELETE FROM {scratch} WHERE id = 2"))
    refused(app, "CREATE TABLE app_made (id INT)")
    refused(app, f"ALTER TABLE {scratch} ADD COLUMN extra INT")
    refused(app, f"CREATE INDEX ix_note ON {scratch} (note)")
    refused(app, f"TRUNCATE TABLE {scratch}")
    refused(app, f"DROP TABLE {scratch}")
    refused(app, f"CREATE DATABASE {settings.db_name}_app_made")
    refused(app, "CREATE USER 'intruder'@'%' IDENTIFIED BY 'x'")
    refused(app, "SELECT COUNT(*) FROM mysql.user")


def test_migrator_changes_the_schema_but_cannot_administer_the_server(settings, scratch):
    migrator = engine(settings, DbUser.MIGRATOR)
    with migrator.begin() as conn:
        conn.execute(text(f"ALTER TABLE {scratch} ADD COLUMN extra INT"))
        conn.execute(text(f"ALTER TABLE {scratch} DROP COLUMN extra"))
        conn.execute(text("CREATE TABLE migrator_made (id INT)"))
        conn.execute(text("DROP TABLE migrator_made"))
    refused(migrator, "CREATE USER 'intruder'@'%' IDENTIFIED BY 'x'")
    refused(migrator, f"GRANT SELECT ON {settings.shard_database(0)}.* TO 'wework'@'127.0.0.1'")
    refused(migrator, "SET GLOBAL read_only = 1")
    refused(migrator, "SELECT COUNT(*) FROM mysql.user")
    refused(migrator, "CREATE DATABASE not_the_platforms")


def test_etl_reads_both_servers_but_writes_nowhere(settings, scratch):
    for role in (Role.PRIMARY, Role.REPLICA):
        etl = engine(settings, DbUser.ETL, role)
        with etl.connect() as conn:
            assert conn.execute(text(f"SELECT note FROM {scratch} WHERE id = 1")).scalar() == (
                "seeded"
            )
        also = (READ_ONLY,) if role is Role.REPLICA else ()
        refused(etl, f"INSERT INTO {scratch} VALUES (3, 'etl')", also)
        refused(etl, f"UPDATE {scratch} SET note = 'etl'", also)
        refused(etl, f"DELETE FROM {scratch}", also)
        refused(etl, "CREATE TABLE etl_made (id INT)", also)


def test_backup_reads_and_sees_binlogs_but_cannot_write(settings, scratch):
    backup = engine(settings, DbUser.BACKUP)
    with backup.connect() as conn:
        assert conn.execute(text(f"SELECT COUNT(*) FROM {scratch}")).scalar() >= 1
        assert conn.execute(text("SHOW MASTER STATUS")).first() is not None
        assert conn.execute(text("SHOW BINARY LOGS")).first() is not None
    refused(backup, f"INSERT INTO {scratch} VALUES (4, 'backup')")
    refused(backup, f"DROP TABLE {scratch}")
    refused(backup, "SHUTDOWN")


def test_monitor_reads_replication_state_and_digests_but_cannot_write(settings, scratch):
    monitor = engine(settings, DbUser.MONITOR, Role.REPLICA)
    with monitor.connect() as conn:
        status = conn.execute(text("SHOW SLAVE STATUS")).mappings().first()
        assert status is None or status["Slave_SQL_Running"] == "Yes"
        conn.execute(text("SELECT COUNT(*) FROM performance_schema.setup_consumers")).scalar()
    refused(engine(settings, DbUser.MONITOR), f"INSERT INTO {scratch} VALUES (5, 'monitor')")
    refused(engine(settings, DbUser.MONITOR), "SELECT COUNT(*) FROM mysql.user")


def test_no_user_reaches_the_servers_files(settings):
    for user in DbUser:
        e = engine(settings, user)
        assert code_of(e, f"SELECT 1 INTO OUTFILE '/tmp/wework-{user}-{uuid.uuid4().hex}'") in (
            ACCESS_DENIED
        )
        with e.connect() as conn:
            # Without FILE, LOAD_FILE reads nothing (NULL), whatever the path.
            assert conn.execute(text("SELECT LOAD_FILE('/etc/passwd')")).scalar() is None
            assert conn.execute(text("SELECT LOAD_FILE('/etc/hostname')")).scalar() is None


def code_of(e: Engine, statement: str) -> int:
    with pytest.raises(DBAPIError) as caught, e.connect() as conn:
        conn.execute(text(statement))
    return code(caught.value)


@pytest.fixture
def local(settings: Settings) -> LocalStack:
    if not settings.uses_local_stack:
        pytest.skip("the OS-level checks need the local pair")
    return LocalStack.from_settings(settings)


def test_even_root_writes_and_reads_files_only_in_secure_file_priv(local):
    """The second wall: secure_file_priv holds for root too (which has FILE)."""
    with pytest.raises(Exception, match="secure-file-priv"):
        local._sql(local.primary, f"SELECT 1 INTO OUTFILE '/tmp/wework-root-{uuid.uuid4().hex}'")
    assert local._sql(local.primary, "SELECT LOAD_FILE('/etc/passwd') IS NULL") == [["1"]]
    assert local._sql(local.primary, "SELECT @@secure_file_priv") == [
        [f"{local.primary.files_dir}/"]
    ]


def test_seed_style_load_data_local_infile_still_works(settings, scratch, tmp_path):
    rows = tmp_path / "rows.tsv"
    rows.write_text("".join(f"{i}\tloaded\n" for i in range(100, 110)))
    loader = new_engine(
        get_engine(Role.PRIMARY, 0, settings, user=DbUser.MIGRATOR).url,
        connect_args={"local_infile": True},
    )
    try:
        with loader.begin() as conn:
            conn.execute(text(f"LOAD DATA LOCAL INFILE '{rows}' INTO TABLE {scratch}"))
            loaded = conn.execute(text(f"SELECT COUNT(*) FROM {scratch} WHERE note = 'loaded'"))
            assert loaded.scalar() == 10
    finally:
        loader.dispose()


def test_mariadbd_does_not_run_as_root(local):
    for server in local.status().values():
        assert server.running and server.pid is not None
        proc = psutil.Process(server.pid)
        assert proc.uids().real != 0 and proc.uids().effective != 0
        if os.geteuid() == 0:
            assert proc.username() == "mysql"
        # Its data belongs to that user, not to root.
        assert server.data_dir.stat().st_uid == proc.uids().effective


def test_the_spec_monitoring_settings_are_on(local, settings):
    report = check(settings)
    off = [(c.server, c.name, c.actual) for c in report.settings if not c.ok]
    assert off == []
    names = {c.name for c in report.settings}
    assert {"slow_query_log", "long_query_time", "userstat", "performance_schema",
            "statement digest consumers", "not-using-indexes rate limit"} <= names


def test_check_reports_roles_sharing_the_apps_login(settings):
    """External servers given only the app's URL: every other role falls back to it, and
    `db check` says each holds too much or too little."""
    app_url = get_engine(Role.PRIMARY, None, settings).url
    replica_url = get_engine(Role.REPLICA, None, settings).url
    external = Settings(
        primary_url=app_url.render_as_string(hide_password=False),
        replica_url=replica_url.render_as_string(hide_password=False),
        db_name=settings.db_name,
    )
    report = check(external)
    by_user = {(u.user, u.server): u for u in report.users}
    app = by_user[(DbUser.APP, "primary")]
    assert app.ok and set(app.shared_with) == set(DbUser) - {DbUser.APP}
    migrator = by_user[(DbUser.MIGRATOR, "primary")]
    assert "CREATE on platform databases" in migrator.report.missing
    etl = by_user[(DbUser.ETL, "replica")]
    assert any("INSERT" in e for e in etl.report.excess)
    # The app's login cannot read the replica's replication state: that is reported too.
    assert report.errors == []


def test_compare_flags_the_old_all_powerful_user():
    old = parse_grants([
        "GRANT ALL PRIVILEGES ON *.* TO `wework`@`127.0.0.1` IDENTIFIED BY PASSWORD "
        "'*ABC' WITH GRANT OPTION",
    ])
    report = compare(DbUser.APP, old, ["wework_platform_0", "wework_meta"])
    assert report.excess == ["ALL PRIVILEGES, GRANT OPTION on *.*"]
    assert report.missing == []
    assert compare(DbUser.ETL, Grants(), ["wework_platform_0"]).missing == [
        "SELECT on platform databases"
    ]


def test_the_printed_grants_give_external_users_exactly_what_they_need(settings, local):
    """`wework db grants` is what a DBA runs for external servers: applied to a server, its
    users pass `db check`."""
    from typer.testing import CliRunner

    from wework.cli import app

    names = {user: f"gt{uuid.uuid4().hex[:6]}_{user}" for user in DbUser}
    env = {"WEWORK_DB_NAME": settings.db_name, "WEWORK_LOCAL_DB_USER": names[DbUser.APP]}
    env |= {f"WEWORK_DB_{u.name}_USER": names[u] for u in DbUser if u is not DbUser.APP}
    printed = CliRunner().invoke(app, ["db", "grants", "--host", "127.0.0.1"], env=env)
    assert printed.exit_code == 0, printed.output
    passwords = {user: uuid.uuid4().hex for user in DbUser}
    sql = printed.output
    for user in DbUser:
        sql = sql.replace(f"<{user.value} password>", passwords[user])
    assert "<" not in sql
    local._sql(local.primary, sql)
    try:
        def url(port: int) -> str:
            return (f"mysql+pymysql://{names[DbUser.APP]}:{passwords[DbUser.APP]}"
                    f"@127.0.0.1:{port}")

        external = Settings(
            primary_url=url(settings.primary_port),
            replica_url=url(settings.replica_port),
            db_name=settings.db_name,
            **{f"db_{u}_user": names[u] for u in DbUser if u is not DbUser.APP},
            **{f"db_{u}_password": passwords[u] for u in DbUser if u is not DbUser.APP},
        )
        # Waited for as this session's monitor user: the external one reaches the replica
        # only once its CREATE USER has replicated (it was refused there once, in a run).
        wait_for_replica(settings=settings)
        report = check(external)
        for user in report.users:
            assert user.ok, (user.user, user.server, user.error, user.report)
    finally:
        local._sql(local.primary, "".join(
            f"DROP USER IF EXISTS '{name}'@'127.0.0.1';" for name in names.values()))
