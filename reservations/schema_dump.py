"""sql/schema.sql: the tables, indexes and types as the migrations leave them, in one file a
reader can read. The code (functions, views, triggers) is not in it: it is written once, in
sql/code/.

`python -m reservations.schema_dump` (or `make schema`) migrates an empty database (on
DATABASE_URL's server, else the embedded one under .data/schema) without the code, dumps it with
`pg_dump --schema-only` and writes sql/schema.sql; tests/contract/test_schema.py fails, with the diff, when
the file and the migrations disagree. What varies between servers and runs is left out: yoyo's own
tables, owners and privileges, pg_dump's version banner and session settings, and the `public.`
prefix (everything lives in the one schema).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from .db import EmbeddedDatabase, migrate, with_database
from .paths import PROJECT_ROOT, SQL_DIR

SCHEMA_FILE = SQL_DIR / "schema.sql"
HEADER = """\
-- The tables, indexes and types as migrations/ leave them, for reading: the migrations are what
-- the database runs. The functions, views and triggers are in sql/code/. Written by `make schema`
-- (python -m reservations.schema_dump) from pg_dump {major}; tests/contract/test_schema.py checks it.
"""
_HEADER_MAJOR = re.compile(r"from pg_dump (\d+);")
# Tables whose rows come with the schema (the seat types and their prices, the ticket types).
REFERENCE_TABLES = ("seat_types", "ticket_types")
# yoyo's bookkeeping: not the service's schema.
_YOYO_TABLES = ("_yoyo_*", "yoyo_lock")
# pg_dump's session settings go, but for the one that lets the file load in one go: functions
# are written before the tables their bodies name.
_DROPPED_LINE = re.compile(
    r"^(SET (?!check_function_bodies)"
    r"|SELECT pg_catalog\.set_config\('search_path'"
    r"|\\(un)?restrict "
    r"|-- Dumped (from|by) )"
)
# pg_dump's heading of each object ("--\n-- Name: users; Type: TABLE; Schema: public; ...\n--").
_OBJECT_HEADING = re.compile(r"^--\n-- (Name|Data for Name): .*\n--\n", re.MULTILINE)
_BANNER = re.compile(r"^--\n-- PostgreSQL database dump( complete)?\n--\n", re.MULTILINE)


class PgDumpUnavailable(RuntimeError):
    """No pg_dump that can dump this server."""


def _embedded_pg_dump() -> Path | None:
    """The pg_dump of the pgserver wheel, found without importing it (importing it reads
    XDG_RUNTIME_DIR and warns)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:  # pragma: no cover - depends on the install
        return None
    path = Path(spec.origin).parent / "pginstall" / "bin" / "pg_dump"
    return path if path.exists() else None


def _candidates(embedded_first: bool) -> Iterator[str]:
    if os.environ.get("PG_DUMP"):
        yield os.environ["PG_DUMP"]
    on_path = shutil.which("pg_dump")
    bundled = _embedded_pg_dump()
    ordered = [bundled, on_path] if embedded_first else [on_path, bundled]
    yield from (str(path) for path in ordered if path is not None)


def _major_version(pg_dump: str) -> int:
    output = subprocess.run(
        [pg_dump, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    match = re.search(r"(\d+)(\.\d+)?", output)
    if match is None:
        raise PgDumpUnavailable(f"{pg_dump} --version said {output!r}")
    return int(match.group(1))


def find_pg_dump(server_major: int, embedded_first: bool) -> tuple[str, int]:
    """A pg_dump able to dump a server of this major version (pg_dump refuses newer servers)
    and its own major version: $PG_DUMP, then the one on PATH and the embedded server's (that
    one first when `embedded_first`)."""
    tried = []
    for pg_dump in _candidates(embedded_first):
        try:
            major = _major_version(pg_dump)
        except (OSError, subprocess.SubprocessError) as exc:
            tried.append(f"{pg_dump} ({exc})")
            continue
        if major >= server_major:
            return pg_dump, major
        tried.append(f"{pg_dump} (version {major})")
    raise PgDumpUnavailable(
        f"no pg_dump of version {server_major} or later to dump this PostgreSQL {server_major} "
        f"server; tried: {', '.join(tried) or 'none found (set PG_DUMP or put pg_dump on PATH)'}"
    )


def server_major_version(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def normalise(dump: str) -> str:
    """pg_dump's output without what varies between servers and runs (see the module)."""
    lines = [line for line in dump.splitlines() if not _DROPPED_LINE.match(line)]
    text = "\n".join(lines) + "\n"
    text = _BANNER.sub("", text)
    text = _OBJECT_HEADING.sub("", text)
    text = re.sub(r"\bpublic\.", "", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


def _pg_dump(pg_dump: str, dsn: str, *options: str) -> str:
    command = [pg_dump, "--no-owner", "--no-privileges", "--no-comments", *options, "--dbname", dsn]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pg_dump failed: {result.stderr.strip()}")
    return normalise(result.stdout)


def dump_schema(dsn: str, pg_dump: str) -> str:
    """The normalised schema of the database at `dsn`, and the rows the migrations put in its
    reference tables, without the header."""
    schema = _pg_dump(
        pg_dump, dsn, "--schema-only", *(f"--exclude-table={table}" for table in _YOYO_TABLES)
    )
    rows = _pg_dump(
        pg_dump,
        dsn,
        "--data-only",
        "--column-inserts",
        *(f"--table={table}" for table in REFERENCE_TABLES),
    )
    return schema + "\n-- Rows the migrations insert.\n\n" + rows


def schema_file_text(schema: str, pg_dump_major: int) -> str:
    return HEADER.format(major=pg_dump_major) + "\n" + schema


def schema_file_body(text: str) -> tuple[str, int | None]:
    """(the schema, the pg_dump major version that wrote it) of sql/schema.sql's text."""
    header, _, body = text.partition("\n\n")
    match = _HEADER_MAJOR.search(header)
    return body, int(match.group(1)) if match else None


def _run(admin_dsn: str, embedded: bool) -> Path:
    name = f"schema_dump_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = with_database(admin_dsn, name)
        migrate(dsn, apply_code=False)
        pg_dump, major = find_pg_dump(server_major_version(dsn), embedded_first=embedded)
        SCHEMA_FILE.write_text(schema_file_text(dump_schema(dsn, pg_dump), major))
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return SCHEMA_FILE


def main() -> int:
    database_url = os.environ.get("DATABASE_URL")
    if database_url:
        written = _run(database_url, embedded=False)
    else:
        server = EmbeddedDatabase(PROJECT_ROOT / ".data" / "schema")
        server.start()
        try:
            written = _run(server.admin_dsn(), embedded=True)
        finally:
            server.stop()
    print(f"wrote {written.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
