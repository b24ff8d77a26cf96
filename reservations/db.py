"""The database: the pool, named SQL, migrations and the embedded PostgreSQL.

Every query is written once in `sql/*.sql` under a name (`-- name: find_user_by_email`) with
positional parameters (`$1`), loaded at start and called by name: `QUERIES.find_user_by_email`.
"""

from __future__ import annotations

import logging
import os
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from .paths import MIGRATIONS_DIR, SQL_CODE_DIR, SQL_DIR
from .settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "reservations"

_QUERY_HEADER = re.compile(r"^--\s*name:\s*(?P<name>[a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


class Queries:
    """Named SQL loaded from a folder of .sql files; attribute access returns the SQL text."""

    def __init__(self, folder: Path) -> None:
        self._sql: dict[str, str] = {}
        for path in sorted(folder.glob("*.sql")):
            self._load(path)

    def _load(self, path: Path) -> None:
        text = path.read_text()
        headers = list(_QUERY_HEADER.finditer(text))
        for index, header in enumerate(headers):
            end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
            body = "\n".join(
                line
                for line in text[header.end() : end].strip().splitlines()
                if not line.startswith("--")
            ).strip()
            name = header.group("name")
            if name in self._sql:
                raise ValueError(f"query {name!r} is defined twice (second time in {path.name})")
            self._sql[name] = body.rstrip(";")

    def __getattr__(self, name: str) -> str:
        try:
            return self._sql[name]
        except KeyError:
            raise AttributeError(f"no query named {name!r} in {SQL_DIR}") from None

    def names(self) -> list[str]:
        return sorted(self._sql)


QUERIES = Queries(SQL_DIR)


def json_dumps(value: Any) -> bytes:
    # Non-string keys: marshmallow reports errors of list items under their integer index.
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, uuid.UUID):  # asyncpg's own UUID type, which orjson does not know
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=lambda v: json_dumps(v).decode(), decoder=orjson.loads
    )
    await conn.set_type_codec(
        "json", schema="pg_catalog", encoder=lambda v: json_dumps(v).decode(), decoder=orjson.loads
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What the pool runs on a connection given back, after asyncpg has rolled back any open
    transaction: nothing. asyncpg's default also sends `SELECT pg_advisory_unlock_all(); CLOSE
    ALL; UNLISTEN *; RESET ALL`, one more round trip for every request, to undo session state
    that this service never leaves: its settings are transaction-local (SET LOCAL/set_config
    with is_local), its advisory locks transaction-scoped, and LISTEN has its own connection."""


# Exceptions that say a connection is broken or in a state nobody can vouch for: the server
# ended it (class 08, 57P01-57P03), its socket failed or timed out (OSError, TimeoutError among
# them), or the client's protocol state no longer matches it (InterfaceError, e.g. "connection is
# closed"; InternalClientError, e.g. "cannot switch to state 12; another operation (2) is in
# progress" when the server's FATAL message has arrived and its end of file not yet).
_CONNECTION_FAULTS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    OSError,
)
# Subclasses of those that are about the caller, not the connection.
_CALLER_FAULTS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.DataError,  # a value the codecs refuse
    asyncpg.exceptions.ClientConfigurationError,
    asyncpg.exceptions.UnsupportedClientFeatureError,
    asyncpg.exceptions.OutdatedSchemaCacheError,
)


def is_connection_fault(exc: BaseException) -> bool:
    """True when `exc` means the connection it came from must not be used again."""
    return isinstance(exc, _CONNECTION_FAULTS) and not isinstance(exc, _CALLER_FAULTS)


class ConnectionLease:
    """What `TimedPool.acquire()` returns: like asyncpg's own acquire context, awaitable or
    `async with`, but an `async with` block left by a connection fault terminates the
    connection before giving it back, so the pool opens a new one instead of handing the
    broken one to the next request (asyncpg would return it: with `reset` doing nothing, an
    idle connection whose server has gone is not noticed until it is used)."""

    __slots__ = ("_pool", "_timeout", "_connection")

    def __init__(self, pool: TimedPool, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout
        self._connection: Any = None

    def __await__(self) -> Any:
        return self._pool.wait_for_connection(self._timeout).__await__()

    async def __aenter__(self) -> Any:
        if self._connection is not None:
            raise asyncpg.exceptions.InterfaceError("a connection is already acquired")
        self._connection = await self._pool.wait_for_connection(self._timeout)
        return self._connection

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, traceback: Any) -> None:
        connection, self._connection = self._connection, None
        if exc is not None and is_connection_fault(exc):
            log.debug("discarding a database connection after %r", exc)
            try:
                connection.terminate()
            except asyncpg.exceptions.InterfaceError:
                pass  # already closed and detached by asyncpg itself
        await self._pool.release(connection)


class TimedPool(asyncpg.Pool):
    """asyncpg's pool, with its documented `acquire` wrapped (nothing private overridden):
    an acquire without its own timeout waits at most DB_ACQUIRE_TIMEOUT_SECONDS (then
    TimeoutError, a 503), every wait is reported, and a connection that failed with a
    connection fault is discarded (`ConnectionLease`). `pool.fetch(...)` and the like go
    through `acquire` too."""

    def __init__(
        self,
        *args: Any,
        acquire_timeout: float,
        on_acquire_wait: Callable[[float], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.default_acquire_timeout = acquire_timeout
        self.on_acquire_wait = on_acquire_wait

    def acquire(self, *, timeout: float | None = None) -> ConnectionLease:
        return ConnectionLease(self, self.default_acquire_timeout if timeout is None else timeout)

    async def wait_for_connection(self, timeout: float) -> Any:  # noqa: ASYNC109 - a bound, passed on
        """A connection from asyncpg's own acquire, the wait timed."""
        started = time.perf_counter()
        try:
            return await super().acquire(timeout=timeout)
        finally:
            if self.on_acquire_wait is not None:
                self.on_acquire_wait(time.perf_counter() - started)


async def create_pool(
    dsn: str,
    settings: Settings,
    on_acquire_wait: Callable[[float], None] | None = None,
    *,
    connect_now: bool = True,
) -> asyncpg.Pool:
    """The pool of a process. With `connect_now` False it opens no connection until a request
    needs one (a process that starts while the database is away)."""
    pool = await TimedPool(
        dsn,
        acquire_timeout=settings.db_acquire_timeout_seconds,
        on_acquire_wait=on_acquire_wait,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        max_queries=50000,
        max_inactive_connection_lifetime=300.0,
        setup=None,
        reset=_keep_session,
        loop=None,
        connect=None,
        min_size=settings.pool_min_size if connect_now else 0,
        max_size=settings.db_pool_max_size,
        init=_init_connection,
        command_timeout=settings.db_statement_timeout_ms / 1000 + 1,
        timeout=settings.db_acquire_timeout_seconds,  # connecting, e.g. to a host that is down
        server_settings={
            "statement_timeout": str(settings.db_statement_timeout_ms),
            "lock_timeout": str(settings.db_lock_timeout_ms),
            "idle_in_transaction_session_timeout": "60000",
            "application_name": "reservations",
            "timezone": "UTC",
        },
    )
    return pool


@dataclass
class EmbeddedDatabase:
    """A private PostgreSQL from the pgserver package, with its data under DATA_DIR."""

    data_dir: Path
    server: Any = None

    def start(self) -> str:
        # pgserver reads XDG_RUNTIME_DIR when imported.
        runtime = Path(os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}"))
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        runtime.chmod(0o700)
        try:
            import pgserver
        except ImportError:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "DATABASE_URL is not set and the embedded database is not installed: "
                "pip install 'reservations[embedded]' or set DATABASE_URL"
            ) from None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.server = pgserver.get_server(self.data_dir.resolve() / "pgdata", cleanup_mode="stop")
        admin_uri = self.server.get_uri()
        exists = self.server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DATABASE}';"  # noqa: S608 - a constant name
        )
        if "(1 row)" not in exists:
            self.server.psql(f"CREATE DATABASE {EMBEDDED_DATABASE};")
        return with_database(admin_uri, EMBEDDED_DATABASE)

    def admin_dsn(self) -> str:
        assert self.server is not None
        return str(self.server.get_uri())

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None


def with_database(dsn: str, database: str) -> str:
    """The same server, another database."""
    parts = urllib.parse.urlsplit(dsn)
    return urllib.parse.urlunsplit(parts._replace(path="/" + database))


def resolve_dsn(settings: Settings) -> tuple[str, EmbeddedDatabase | None]:
    """DATABASE_URL when set, else the embedded database (started on demand)."""
    if settings.database_url:
        return settings.database_url, None
    embedded = EmbeddedDatabase(settings.data_dir)
    return embedded.start(), embedded


def _yoyo_uri(dsn: str) -> str:
    parts = urllib.parse.urlsplit(dsn)
    return urllib.parse.urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def database_code() -> list[Path]:
    """The files of sql/code/ (functions, views, triggers) in the order they are applied."""
    return sorted(SQL_CODE_DIR.glob("*.sql"))


# Drops the code layer: every trigger, view and function of the schema that no extension owns,
# which is what sql/code/ makes. Functions go without CASCADE: one that a table needs (in a
# default, a check or an index) is not code, and its drop fails loudly instead of taking a column.
_DROP_DATABASE_CODE = """
DO $drop$
DECLARE
    command text;
BEGIN
    FOR command IN
        SELECT format('DROP TRIGGER %I ON %s', t.tgname, t.tgrelid::regclass)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace
        UNION ALL
        SELECT format('DROP VIEW IF EXISTS %s CASCADE', c.oid::regclass)
        FROM pg_class c
        WHERE c.relkind = 'v' AND c.relnamespace = current_schema()::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                            AND d.deptype = 'e')
    LOOP
        EXECUTE command;
    END LOOP;
    FOREACH command IN ARRAY ARRAY(
        SELECT format('DROP FUNCTION IF EXISTS %s', p.oid::regprocedure)
        FROM pg_proc p
        WHERE p.pronamespace = current_schema()::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                            AND d.deptype = 'e')
    ) LOOP
        EXECUTE command;
    END LOOP;
END;
$drop$;
"""


def migrate(
    dsn: str, rollback: bool = False, rollback_all: bool = False, apply_code: bool = True
) -> list[str]:
    """Apply every pending migration, then the code of sql/code/ (CREATE OR REPLACE, unless not
    `apply_code`), all under yoyo's lock; or drop the code and undo the last migration (or all):
    a rollback leaves no code, and the next `migrate` applies the code of the checkout it runs
    from. Returns the ids of the migrations applied or undone."""
    from yoyo import get_backend, read_migrations

    backend = get_backend(_yoyo_uri(dsn))
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        if rollback or rollback_all:
            chosen = backend.to_rollback(migrations)
            if not rollback_all:
                chosen = chosen[:1]
            if chosen:
                _run_in_transaction(backend, [_DROP_DATABASE_CODE])
            backend.rollback_migrations(chosen)
        else:
            chosen = backend.to_apply(migrations)
            backend.apply_migrations(chosen)
            if apply_code:
                _run_in_transaction(backend, [path.read_text() for path in database_code()])
    backend.connection.close()
    return [migration.id for migration in chosen]


def _run_in_transaction(backend: Any, scripts: list[str]) -> None:
    """Each script (several statements, no parameters) on yoyo's connection, in one transaction."""
    with backend.transaction():
        cursor = backend.cursor()
        for script in scripts:
            cursor.execute(script.encode())
