"""The one mart/raw registry covers everything, and nothing secret reaches the warehouse."""

from __future__ import annotations

import stat

import duckdb
import pytest
from etl_dataset import utcnow
from etl_oracle import ORACLES
from sqlalchemy import Engine, text

from pipelines.checks import mart_check_specs
from pipelines.extract import SourceUnavailable, attach_source, table_specs
from pipelines.marts import SQL_DIR
from pipelines.registry import MART_NAMES, MARTS, NOT_EXTRACTED, RAW_BY_NAME
from wework.db.engines import Role, database_url
from wework.models import Base
from wework.warehouse import open_marts


def test_every_registered_mart_has_sql_oracle_checks_and_ordered_inputs():
    seen: set[str] = set()
    for spec in MARTS:
        assert (SQL_DIR / f"{spec.name}.sql").exists(), f"{spec.name}: no sql/marts file"
        assert spec.name in ORACLES, f"{spec.name}: no independent MySQL computation"
        assert {c.name for c in mart_check_specs(spec.name)} == {
            "key_unique",
            "totals_match_raw",
        }
        assert set(spec.slice) <= set(spec.key), spec.name
        for m in spec.mart_inputs:  # a mart reads only marts built before it
            assert m in seen, f"{spec.name} reads {m}, registered after it"
        for inp in spec.inputs:
            assert len(inp.match) <= len(spec.slice), (spec.name, inp.name)
        seen.add(spec.name)
    sql_files = {p.stem for p in SQL_DIR.glob("*.sql") if not p.stem.startswith("_")}
    assert sql_files == set(MART_NAMES), "a sql/marts file without a MartSpec (or the reverse)"
    assert set(ORACLES) == set(MART_NAMES)


def test_every_source_column_is_decided_and_secrets_are_excluded():
    for table in Base.metadata.sorted_tables:
        decided = table.name in RAW_BY_NAME or table.name in NOT_EXTRACTED
        assert decided, f"{table.name} is not in pipelines.registry"
        assert not (table.name in RAW_BY_NAME and table.name in NOT_EXTRACTED), table.name
    assert all(NOT_EXTRACTED.values())
    specs = table_specs()
    assert not set(specs) & set(NOT_EXTRACTED)
    for secret_table in ("tenant_webhook_secrets", "gateway_secrets"):
        assert secret_table in NOT_EXTRACTED and secret_table not in specs
    must_exclude = {
        "users": {"password_hash", "salt", "last_login_ip", "phone", "email"},
        "wework_accounts": {"login_token", "phone", "email", "phone_hash", "email_hash"},
        "tenants": {"contact_phone", "contact_email"},
    }
    for table, cols in must_exclude.items():
        assert not cols & set(specs[table].columns), table
        assert cols <= set(RAW_BY_NAME[table].excluded)
    for reg in RAW_BY_NAME.values():
        assert all(reason for reason in reg.excluded.values()), reg.name


SECRETS = {
    "password_hash": "$argon2id$v=19$m=65536$SECRETHASHVALUE",
    "salt": "SECRETSALTVALUE",
    "login_token": "SECRETLOGINTOKEN",
    "phone": "13800001111",
    "email": "secret-person@example.com",
    "last_login_ip": "203.0.113.77",
}


def test_no_secret_reaches_the_warehouse_or_the_published_marts(
    seeded, run_pipeline, primary: Engine, wh
):
    tenant, account = seeded.tenants[0]["id"], seeded.accounts[0]["id"]
    with primary.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, tenant_id, username, email, phone, password_hash, salt,"
                " status, last_login_ip) VALUES ('u-secret', :t, 'secret-user', :email,"
                " :phone, :password_hash, :salt, 'active', :last_login_ip)"
            ),
            {"t": tenant, **SECRETS},
        )
        conn.execute(
            text("UPDATE wework_accounts SET login_token = :login_token, phone = :phone, "
                 "email = :email WHERE id = :a"),
            {"a": account, **SECRETS},
        )
    from wework.db.replication import wait_for_replica

    wait_for_replica(timeout=180, settings=wh)
    run_pipeline(utcnow())
    wh_files = [wh.warehouse_file, *wh.publish_path.rglob("*")]
    # Column names: none of the excluded ones exists anywhere.
    con = duckdb.connect(str(wh.warehouse_file), read_only=True)
    try:
        cols = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns()").fetchall()}
        assert not cols & {"password_hash", "salt", "login_token", "last_login_ip",
                           "phone_hash", "email_hash", "contact_phone", "contact_email"}
        (n,) = con.execute("SELECT count(*) FROM raw.users WHERE id = 'u-secret'").fetchone()
        assert n == 1  # the user is there, without its secrets
    finally:
        con.close()
    marts = open_marts(wh)
    try:
        cols = {r[0] for r in marts.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = 'lake'").fetchall()}
    finally:
        marts.close()
    assert not cols & set(SECRETS)
    # Bytes: no secret value is stored in any file (plain text, not encrypted columns).
    for path in wh_files:
        if path.is_file():
            data = path.read_bytes()
            for value in ("SECRETHASHVALUE", "SECRETSALTVALUE", "SECRETLOGINTOKEN",
                          "203.0.113.77"):
                assert value.encode() not in data, (path, value)
    # Files 0600, folders 0700.
    for path in [wh.warehouse_file.parent, *wh.warehouse_file.parent.rglob("*"),
                 wh.publish_path, *wh.publish_path.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, (path, oct(mode))
        elif path.is_file():
            assert mode == 0o600, (path, oct(mode))


@pytest.mark.parametrize("broken", ["password", "port"])
def test_a_failed_attach_never_shows_the_password(settings, broken):
    url = database_url(Role.REPLICA, settings.shard_database(0), settings)
    secret = "Sup3r-Secret-Pa55"
    url = url.set(password=secret) if broken == "password" else url.set(port=1, password=secret)
    con = duckdb.connect()
    try:
        with pytest.raises(SourceUnavailable) as err:
            attach_source(con, "src", url)
        assert secret not in str(err.value) and secret not in repr(err.value)
        assert (err.value.__cause__ is None and err.value.__context__ is None) or (
            secret not in str(err.value.__context__)
        )
        assert settings.shard_database(0) in str(err.value)  # still says what failed
        listed = con.execute("SELECT * FROM duckdb_secrets()").fetchall()
        assert secret not in str(listed)
    finally:
        con.close()
