"""The MySQL DDL as deployed, rendered from the models (``sql/mysql/schema.sql``).

The models are the one source of the schema; this file is their rendering for DBAs and
reviewers, and a test fails when the two drift apart (`wework db ddl --write` updates it).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.dialects import mysql
from sqlalchemy.schema import CreateIndex, CreateTable

from wework.config import REPO_ROOT
from wework.models import Base

SCHEMA_SQL = REPO_ROOT / "sql" / "mysql" / "schema.sql"

HEADER = """\
-- WeWork Platform: MySQL 8 / MariaDB 10.11 schema of one shard database, as deployed.
-- GENERATED from the SQLAlchemy models (platform/wework/models) by `wework db ddl --write`;
-- do not edit by hand: tests/db/test_schema.py fails when this file and the models differ.
-- Deviations from the original design (spec) and why are commented in the models.
"""


def render_schema() -> str:
    dialect = mysql.dialect()
    blocks = [HEADER.rstrip()]
    for table in Base.metadata.sorted_tables:
        create = str(CreateTable(table).compile(dialect=dialect)).strip()
        lines = [line.rstrip() for line in create.splitlines()]
        lines[-1] += ";"
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            lines.append(str(CreateIndex(index).compile(dialect=dialect)).strip() + ";")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def write_schema(path: Path = SCHEMA_SQL) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_schema(), encoding="utf-8")
    return path
