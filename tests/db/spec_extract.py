"""Extract the spec's schema into ``tests/db/spec_schema.json`` (not a test module).

The original database design (``database-design.zh.md``, given to the project when it
started) is not part of the repository, so the tests read what they need of
it from the JSON file this script writes: every ``CREATE TABLE`` of the spec (columns
with type, NULL-ability, default and comment; primary key; keys; table comment) and the
extra indexes of §索引设计 (``ALTER TABLE ... ADD [UNIQUE] INDEX``, with their ``WHERE``
and ``DESC`` as written). The PostgreSQL partition examples (``CREATE TABLE ... LIKE``)
are skipped. The file records the document's SHA-256, so a changed spec is noticed.

Run again only when the spec changes::

    .venv/bin/python tests/db/spec_extract.py PATH/TO/database-design.zh.md
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

FIXTURE = Path(__file__).with_name("spec_schema.json")

_TABLE = re.compile(r"CREATE TABLE `?(\w+)`? \(\n(.*?)\n\)([^;]*);", re.S)
_COLUMN = re.compile(
    r"`(?P<name>\w+)` (?P<type>\w+(?:\([^)]*\))?(?: unsigned)?)(?P<rest>.*?),?$", re.I
)
_KEY = re.compile(r"(?P<unique>UNIQUE )?KEY `(?P<name>\w+)` \((?P<columns>.*)\)")
_ALTER = re.compile(
    r"ALTER TABLE (?P<table>\w+) ADD (?P<unique>UNIQUE )?INDEX (?P<name>\w+) "
    r"\((?P<columns>.*?)\)(?: WHERE (?P<where>[^;]+))?;"
)


def _default(rest: str) -> str | None:
    """The DEFAULT clause as written (a literal keeps its quotes: ``'10'``, an expression
    has none: ``CURRENT_TIMESTAMP``); None for no default and for ``DEFAULT NULL``."""
    m = re.search(r"DEFAULT ('(?:[^']*)'|\S+(?: ON UPDATE \S+)?)", rest)
    if not m or m.group(1) == "NULL":
        return None
    return m.group(1)


def _index_columns(text: str) -> list[str]:
    return [c.strip().strip("`") for c in text.split(",")]


def parse(source: str) -> dict:
    tables: dict[str, dict] = {}
    for m in _TABLE.finditer(source):
        name, body, tail = m.group(1), m.group(2), m.group(3)
        if body.strip().startswith("LIKE"):
            continue
        table: dict = {"columns": [], "primary_key": [], "indexes": []}
        if c := re.search(r"COMMENT='([^']*)'", tail):
            table["comment"] = c.group(1)
        if p := re.search(r"PARTITION BY (\w+ \([^)]*\)\)?)", tail):
            table["partition_by"] = p.group(1)
        for raw in body.splitlines():
            line = raw.strip()
            if line.startswith("PRIMARY KEY"):
                table["primary_key"] = _index_columns(re.search(r"\((.*)\)", line).group(1))
            elif k := _KEY.search(line):
                table["indexes"].append({
                    "name": k["name"], "unique": bool(k["unique"]),
                    "columns": _index_columns(k["columns"]), "where": None,
                    "section": "CREATE TABLE",
                })
            elif line.startswith("CONSTRAINT"):
                f = re.search(r"CONSTRAINT `(\w+)` FOREIGN KEY \(`(\w+)`\) REFERENCES `(\w+)` "
                              r"\(`(\w+)`\)", line)
                table.setdefault("foreign_keys", []).append(
                    {"name": f[1], "column": f[2], "references": f"{f[3]}.{f[4]}"})
            elif c := _COLUMN.match(line):
                rest = c["rest"]
                comment = re.search(r"COMMENT '([^']*)'", rest)
                table["columns"].append({
                    "name": c["name"],
                    "type": c["type"].lower(),
                    "not_null": "NOT NULL" in rest,
                    "default": _default(rest),
                    "auto_increment": "AUTO_INCREMENT" in rest,
                    "comment": comment.group(1) if comment else None,
                })
        tables[name] = table
    for m in _ALTER.finditer(source):
        tables[m["table"]]["indexes"].append({
            "name": m["name"], "unique": bool(m["unique"]),
            "columns": _index_columns(m["columns"]),
            "where": m["where"].strip() if m["where"] else None,
            "section": "索引设计",
        })
    enums = {
        f"{table}.{col['name']}": re.findall(r"'([^']*)'", col["type"])
        for table, spec in tables.items()
        for col in spec["columns"]
        if col["type"].startswith("enum(")
    }
    return {"tables": tables, "enums": enums}


def main(path: str) -> None:
    raw = Path(path).read_bytes()
    data = {
        "source": {
            "document": "database-design.zh.md, the original database design (in Chinese), "
                        "given to the project when it started; not part of the repository",
            "sha256": hashlib.sha256(raw).hexdigest(),
            "extracted_by": "tests/db/spec_extract.py (see its docstring for what is taken)",
        },
        **parse(raw.decode("utf-8")),
    }
    FIXTURE.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tables = data["tables"]
    print(f"wrote {FIXTURE}: {len(tables)} tables, "
          f"{sum(len(t['columns']) for t in tables.values())} columns, "
          f"{sum(len(t['indexes']) for t in tables.values())} indexes, "
          f"{len(data['enums'])} enums")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
