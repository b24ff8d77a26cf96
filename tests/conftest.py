"""The test harness: a real PostgreSQL, a clean database per test, tokens for each role.

The server starts once per run (the embedded pgserver, in memory where it can be, or
DATABASE_URL). The schema is migrated once into a template database named after a hash of the
migrations and sql/code/; every test gets its own database copied from it (CREATE DATABASE ...
TEMPLATE), which takes a few tens of milliseconds, and drops it afterwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp.web_app
import asyncpg
import psycopg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from reservations.app import create_app
from reservations.context import SWEEPER
from reservations.db import (
    MIGRATIONS_DIR,
    EmbeddedDatabase,
    database_code,
    migrate,
    with_database,
)
from reservations.settings import Settings
from tests.factories import TEST_JWT_SECRET, Account, create_account
from tests.servers import ROOT

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from tests.holds import Notifications


# What a test module uses that makes it a `processes` test: it starts `reservations serve` or a
# PostgreSQL of its own (tests/servers.py, EmbeddedDatabase).
_PROCESS_HELPERS = frozenset(
    {"start_server", "run_serve", "kill_tree", "kill_hard", "EmbeddedDatabase", "ROOT"}
)
# Modules that load the whole machine (storms, killed servers): with `--dist loadgroup` they
# run one after another on one worker, never against each other, where each would starve the
# other's timing bounds. (Schemathesis is not one: its load is its own generator, one core, and
# in the group it made the run as long as itself and the storms together.)
_STORMS = frozenset(
    {
        "test_connection_faults",
        "test_durability",
        "test_resilience",
        "test_topology",
    }
)
# Kinds run first: a few long tests start at once instead of ending the run alone on one worker.
_FIRST = ("slow", "processes", "browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test by kind (browser: uses Chromium; processes: starts processes), so that
    `make test-fast` can leave them out, and run the long kinds first."""
    for item in items:
        module = getattr(item, "module", None)
        if "browser" in getattr(item, "fixturenames", ()) or "start_site" in getattr(
            item, "fixturenames", ()
        ):
            item.add_marker(pytest.mark.browser)
        if module is not None and _PROCESS_HELPERS & set(vars(module)):
            item.add_marker(pytest.mark.processes)
        if module is not None and module.__name__.rpartition(".")[2] in _STORMS:
            item.add_marker(pytest.mark.xdist_group("storms"))

    def rank(item: pytest.Item) -> int:
        for index, kind in enumerate(_FIRST):
            if item.get_closest_marker(kind) is not None:
                return index
        return len(_FIRST)

    items.sort(key=rank)


def _template_name() -> str:
    digest = hashlib.sha256()
    for path in [*sorted(MIGRATIONS_DIR.glob("*.sql")), *database_code()]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return f"reservations_template_{digest.hexdigest()[:12]}"


# The embedded test server's data go to this memory file system when it has this much room.
_MEMORY_DIR = Path("/dev/shm")
_MEMORY_NEEDED_BYTES = 2 * 2**30


def _embedded_test_dir() -> Path:
    """Where the tests' embedded server keeps its data: in memory when there is room (one
    directory per checkout), else .data/test. Each test creates and drops a database; on this
    machine's disk a CREATE DATABASE took 150-400 ms, in memory 15 ms, with fsync off in both."""
    try:
        room = shutil.disk_usage(_MEMORY_DIR).free
    except OSError:
        room = 0
    if room < _MEMORY_NEEDED_BYTES:
        return ROOT / ".data" / "test"
    checkout = hashlib.sha256(str(ROOT.resolve()).encode()).hexdigest()[:12]
    return _MEMORY_DIR / f"reservations-test-{checkout}"


@pytest.fixture(scope="session")
def admin_dsn() -> Iterator[str]:
    """A DSN with rights to create databases: DATABASE_URL, or the embedded server."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    embedded = EmbeddedDatabase(_embedded_test_dir())
    embedded.start()
    _no_durability(embedded.admin_dsn())
    try:
        yield embedded.admin_dsn()
    finally:
        embedded.stop()


def _no_durability(admin: str) -> None:
    """The tests' own embedded server need not survive a power cut: no fsync, no waiting for
    the WAL at commit. Each test creates and drops a database; on a busy machine that is most of
    a short test's time. (Never done to DATABASE_URL's server.)"""

    async def configure() -> None:
        conn = await asyncpg.connect(admin)
        try:
            for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
                await conn.execute(f"ALTER SYSTEM SET {setting}")
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()

    asyncio.run(configure())


async def _ensure_template(admin: str) -> str:
    name = _template_name()
    conn = await asyncpg.connect(admin)
    try:
        # Several test runs may start at once: one builds the template, the others wait.
        await conn.execute("SELECT pg_advisory_lock(727001)")
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            building = f"{name}_building"
            await conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{building}"')
            await asyncio.get_running_loop().run_in_executor(
                None, migrate, with_database(admin, building)
            )
            await conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        await conn.execute("SELECT pg_advisory_unlock(727001)")
    finally:
        await conn.close()
    return name


@pytest.fixture(scope="session")
def template_database(admin_dsn: str) -> str:
    return asyncio.run(_ensure_template(admin_dsn))


@pytest.fixture(scope="session")
def admin_connection(admin_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """One connection per test process that creates and drops the tests' databases (two new
    connections a test otherwise)."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def database(
    admin_connection: psycopg.Connection[Any], admin_dsn: str, template_database: str
) -> Iterator[str]:
    """A fresh, migrated database for this test; its DSN."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    # FILE_COPY (PostgreSQL 15+) copies the template's files; the default writes them all to the
    # WAL as well, twice the bytes.
    strategy = " STRATEGY FILE_COPY" if admin_connection.info.server_version >= 150000 else ""
    admin_connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"{strategy}')
    yield with_database(admin_dsn, name)
    _forget_closed_apps()
    admin_connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _forget_closed_apps() -> None:
    """aiohttp caches each handler's middleware chain by its apps (1,024 of them): in one
    process that is one app, but in a test run it kept a hundred closed apps alive, and every
    garbage collection walked them (seconds of a run)."""
    cached = getattr(aiohttp.web_app, "_cached_build_middleware", None)
    if cached is not None:
        cached.cache_clear()


@pytest.fixture
def aiohttp_client(database: str, aiohttp_client: Any) -> Any:
    """pytest-aiohttp's client factory, set up after the test's database so that apps and
    servers are closed before the database is dropped."""
    return aiohttp_client


@pytest.fixture
def aiohttp_server(database: str, aiohttp_server: Any) -> Any:
    """The same ordering for real listening servers."""
    return aiohttp_server


@pytest.fixture
def settings(database: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database,
        jwt_secret=TEST_JWT_SECRET,
        bcrypt_rounds=4,
        sweep_interval_seconds=1,
        data_dir=tmp_path,
        poster_dir=tmp_path / "posters",
        db_pool_min_size=1,
        db_pool_max_size=10,
        login_max_failures=5,
    )


@pytest.fixture
def make_settings(settings: Settings) -> Callable[..., Settings]:
    """Test settings with some values changed: make_settings(hold_ttl_seconds=2)."""

    def make(**changes: Any) -> Settings:
        return dataclasses.replace(settings, **changes)

    return make


@pytest.fixture
def app(settings: Settings, database: str) -> web.Application:
    return create_app(settings, database)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Awaitable[TestClient]], app: web.Application
) -> TestClient:
    return await aiohttp_client(app)


@pytest.fixture
def sweeperless_client(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    make_settings: Callable[..., Settings],
    database: str,
) -> Callable[..., Awaitable[TestClient]]:
    """A client of an app with these settings whose own sweeper is stopped: expiry is then the
    requests' job alone (a running sweeper wakes at the earliest hold expiry)."""

    async def make(**changes: Any) -> TestClient:
        client = await aiohttp_client(create_app(make_settings(**changes), database))
        await client.server.app[SWEEPER].stop()
        return client

    return make


@pytest.fixture
async def quiet_client(sweeperless_client: Callable[..., Awaitable[TestClient]]) -> TestClient:
    """A client whose own sweeper never runs during the test."""
    return await sweeperless_client()


@pytest.fixture
async def db(database: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection, for setting up what the API cannot and for proving invariants."""
    conn = await asyncpg.connect(database)
    yield conn
    await conn.close()


@pytest.fixture
def make_account(db: asyncpg.Connection) -> Callable[..., Awaitable[Account]]:
    """Create a user straight in the database (a dummy hash) and issue its token."""

    async def make(role: str = "user", email: str | None = None) -> Account:
        return await create_account(db, role, email)

    return make


@pytest.fixture
async def admin(make_account: Callable[..., Awaitable[Account]]) -> Account:
    return await make_account("admin")


@pytest.fixture
async def user(make_account: Callable[..., Awaitable[Account]]) -> Account:
    return await make_account("user")


# --- a real browser, for tests/test_browser*.py ---------------------------------------------


@pytest.fixture(scope="session")
def chromium_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Chromium per test session (per xdist worker): its DevTools address."""
    from tests.browser import shared_chromium

    with shared_chromium(tmp_path_factory.mktemp("chromium-profile")) as endpoint:
        yield endpoint


@pytest.fixture
async def browser(chromium_endpoint: str) -> AsyncIterator[Browser]:
    """Debian's Chromium (Playwright), the session's, in contexts of the test's own; the test
    is skipped where it is not installed."""
    from tests.browser import chromium

    async with chromium(chromium_endpoint) as connected:
        yield connected


@pytest.fixture
def start_site(
    aiohttp_server: Any, make_settings: Callable[..., Settings], database: str
) -> Callable[..., Awaitable[str]]:
    """Start the whole service on 127.0.0.1 and a free port; its base URL."""

    async def start(**settings: Any) -> str:
        server = await aiohttp_server(create_app(make_settings(**settings), database))
        return str(server.make_url("")).rstrip("/")

    return start


# --- seat-change notifications, as another instance hears them -------------------------------


@pytest.fixture
async def notifications(database: str) -> AsyncIterator[Notifications]:
    """Seat-change notifications of the test's database, heard on a connection of its own."""
    from reservations.booking.changes import CHANNEL
    from tests.holds import Notifications  # noqa: F811 - the name the annotation uses

    conn = await asyncpg.connect(database)
    heard = Notifications()
    await conn.add_listener(CHANNEL, heard._heard)
    yield heard
    await conn.close()
