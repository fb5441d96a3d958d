"""Alembic environment. Runs on a connection handed in by ``wework.db.migrate`` (one per
shard database), or, from the plain ``alembic`` command, on ``-x url=...``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from wework.db.engines import UTC_INIT
from wework.models import Base
from wework.security.crypto import EncryptedString

config = context.config
target_metadata = Base.metadata


def _render_item(type_, obj, autogen_context):
    # Encrypted columns are plain VARCHARs in the DDL; render them so, keeping
    # migrations free of application imports.
    if type_ == "type" and isinstance(obj, EncryptedString):
        return f"sa.String(length={obj.impl.length})"
    return False


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("use `wework db migrate`, or pass -x url=mysql+pymysql://.../db")
    engine = create_engine(url, connect_args={"init_command": UTC_INIT})
    with engine.connect() as conn:
        _run(conn)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline mode is not supported: sql/mysql/schema.sql is the DDL")
run_migrations_online()
