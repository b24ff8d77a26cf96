"""sql/schema.sql is the schema the migrations make, and sql/code/ is the rest.

As procrastinate's tests/migration/test_migration.py does for its schema.sql: an empty database
is migrated, another is built from sql/schema.sql and the files of sql/code/, and the two are
compared; here by their pg_dump, normalised as `make schema` writes it
(reservations/schema_dump.py). A failure shows the diff and says how to regenerate the file.
"""

from __future__ import annotations

import difflib
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import psycopg
import pytest

from reservations.db import MIGRATIONS_DIR, _yoyo_uri, database_code, migrate, with_database
from reservations.schema_dump import (
    SCHEMA_FILE,
    PgDumpUnavailable,
    dump_schema,
    find_pg_dump,
    normalise,
    schema_file_body,
    server_major_version,
)

REGENERATE = "regenerate it with `make schema` (python -m reservations.schema_dump) and commit it"


@dataclass(frozen=True)
class Dumper:
    pg_dump: str
    major: int
    admin_dsn: str

    def dump(self, dsn: str) -> str:
        return dump_schema(dsn, self.pg_dump)


def _diff(expected: str, actual: str, expected_name: str, actual_name: str) -> str:
    return "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=expected_name,
            tofile=actual_name,
        )
    )


def _new_database(admin_dsn: str) -> str:
    name = f"test_schema_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_database(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def dumper(admin_dsn: str) -> Dumper:
    try:
        pg_dump, major = find_pg_dump(
            server_major_version(admin_dsn), embedded_first=not os.environ.get("DATABASE_URL")
        )
    except PgDumpUnavailable as exc:
        pytest.skip(f"cannot compare sql/schema.sql with the migrations: {exc}")
    return Dumper(pg_dump, major, admin_dsn)


def _migrated_dump(dumper: Dumper, **options: bool) -> Iterator[str]:
    name = _new_database(dumper.admin_dsn)
    try:
        migrate(with_database(dumper.admin_dsn, name), **options)
        yield dumper.dump(with_database(dumper.admin_dsn, name))
    finally:
        _drop_database(dumper.admin_dsn, name)


@pytest.fixture(scope="module")
def migrated(dumper: Dumper) -> Iterator[str]:
    """The pg_dump of an empty database once `reservations migrate` has run: every migration,
    then the code of sql/code/."""
    yield from _migrated_dump(dumper)


@pytest.fixture(scope="module")
def migrations_only(dumper: Dumper) -> Iterator[str]:
    """The pg_dump of an empty database once every migration has run, and no code."""
    yield from _migrated_dump(dumper, apply_code=False)


def _apply_code(conn: psycopg.Connection) -> None:
    for path in database_code():
        conn.execute(path.read_text().encode())


def test_schema_file_is_what_the_migrations_make(dumper: Dumper, migrations_only: str) -> None:
    written, written_by = schema_file_body(SCHEMA_FILE.read_text())
    if written_by != dumper.major:
        pytest.skip(
            f"sql/schema.sql was written by pg_dump {written_by}, this is pg_dump {dumper.major}: "
            "its text may differ; test_schema_file_builds_the_migrated_database still compares"
        )
    diff = _diff(
        written, migrations_only, "sql/schema.sql", "migrations applied to an empty database"
    )
    assert not diff, f"sql/schema.sql is out of date; {REGENERATE}:\n{diff}"


def test_schema_file_and_the_code_build_the_migrated_database(
    dumper: Dumper, migrated: str
) -> None:
    """Whatever pg_dump wrote the file, a database built from it and sql/code/ is the migrated
    one."""
    name = _new_database(dumper.admin_dsn)
    try:
        with psycopg.connect(with_database(dumper.admin_dsn, name), autocommit=True) as conn:
            conn.execute(SCHEMA_FILE.read_text().encode())
            _apply_code(conn)
        built = dumper.dump(with_database(dumper.admin_dsn, name))
    finally:
        _drop_database(dumper.admin_dsn, name)
    diff = _diff(
        built, migrated, "a database built from sql/schema.sql and sql/code/", "migrations applied"
    )
    assert not diff, f"sql/schema.sql does not make the migrated schema; {REGENERATE}:\n{diff}"


async def test_no_index_is_the_leading_part_of_another(db: asyncpg.Connection) -> None:
    """An index whose columns lead another index of its table, with the same predicate, serves
    nothing the other does not, and every insert pays for both (reservations_showtime_idx, under
    the showtime's lock at every booking, until migration 0017)."""
    redundant = await db.fetch(
        """
        SELECT a.indexrelid::regclass::text AS index, b.indexrelid::regclass::text AS covered_by
        FROM pg_index a
        JOIN pg_index b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid
        JOIN pg_class c ON c.oid = a.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        JOIN pg_class ai ON ai.oid = a.indexrelid
        JOIN pg_class bi ON bi.oid = b.indexrelid
        WHERE NOT a.indisunique AND a.indexprs IS NULL AND b.indexprs IS NULL
          AND ai.relam = bi.relam
          AND a.indnatts < b.indnatts
          AND (a.indkey::int2[])[0:a.indnatts - 1] = (b.indkey::int2[])[0:a.indnatts - 1]
          AND (a.indoption::int2[])[0:a.indnatts - 1] = (b.indoption::int2[])[0:a.indnatts - 1]
          AND pg_get_expr(a.indpred, a.indrelid) IS NOT DISTINCT FROM
              pg_get_expr(b.indpred, b.indrelid)
        """
    )
    assert [dict(row) for row in redundant] == []


def test_migrations_make_no_code(migrations_only: str) -> None:
    """Functions, views and triggers are written once, in sql/code/: no migration makes one
    (a migration may drop one, when a signature changes)."""
    made = re.findall(
        r"^CREATE (?:OR REPLACE )?(?:FUNCTION|VIEW|TRIGGER) \S+", migrations_only, re.M
    )
    assert made == []


def test_the_code_applies_again_and_changes_nothing(dumper: Dumper, migrated: str) -> None:
    """Every `migrate` applies sql/code/ again with CREATE OR REPLACE: on a database that has it,
    the schema stays exactly as it was."""
    name = _new_database(dumper.admin_dsn)
    dsn = with_database(dumper.admin_dsn, name)
    try:
        migrate(dsn)
        assert migrate(dsn) == []
        with psycopg.connect(dsn, autocommit=True) as conn:
            _apply_code(conn)
        again = dumper.dump(dsn)
    finally:
        _drop_database(dumper.admin_dsn, name)
    assert not _diff(migrated, again, "migrated once", "code applied twice more")


def test_every_code_object_is_written_once() -> None:
    """No function, view or trigger is defined in two places of sql/code/."""
    names = [
        match.group(1).lower()
        for path in database_code()
        for match in re.finditer(
            r"^CREATE OR REPLACE (?:FUNCTION|VIEW|TRIGGER) (\w+)", path.read_text(), re.M
        )
    ]
    assert names and len(names) == len(set(names))


@pytest.mark.slow
def test_each_rollback_leaves_the_schema_its_migration_found(dumper: Dumper) -> None:
    """Migrations applied one at a time, the schema dumped before each (from the second on: an
    empty database has nothing to dump); then rolled back one at a time, the last first: after
    each rollback the schema is the one its migration found (0007's restores 0005's
    stranded_seats_of_hold text, 0006's drops its table and column)."""
    from yoyo import get_backend, read_migrations

    name = _new_database(dumper.admin_dsn)
    dsn = with_database(dumper.admin_dsn, name)
    backend = get_backend(_yoyo_uri(dsn))
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            pending = backend.to_apply(migrations)
            before: dict[str, str] = {}
            for index in range(len(pending)):
                if index:
                    before[pending[index].id] = dumper.dump(dsn)
                backend.apply_migrations(pending[index : index + 1])
            assert not backend.to_apply(migrations)
            assert {"0006_login_attempts_token_generation", "0007_live_claims_and_seat_map"} <= set(
                before
            )
            for _ in before:
                last = backend.to_rollback(migrations)[:1]
                backend.rollback_migrations(last)
                diff = _diff(
                    before[last[0].id], dumper.dump(dsn), "before", f"{last[0].id} rolled back"
                )
                assert not diff, f"rolling back {last[0].id} leaves another schema:\n{diff}"
    finally:
        backend.connection.close()
        _drop_database(dumper.admin_dsn, name)


def test_normalising_leaves_out_what_varies() -> None:
    dump = (
        "--\n-- PostgreSQL database dump\n--\n\n"
        "-- Dumped from database version 16.2\n-- Dumped by pg_dump version 16.2\n\n"
        "SET statement_timeout = 0;\n"
        "SELECT pg_catalog.set_config('search_path', '', false);\n\n"
        "--\n-- Name: users; Type: TABLE; Schema: public; Owner: -\n--\n\n"
        "CREATE TABLE public.users (\n    id uuid\n);\n\n\n\n"
        "--\n-- PostgreSQL database dump complete\n--\n\n"
    )
    assert normalise(dump) == "CREATE TABLE users (\n    id uuid\n);\n"
