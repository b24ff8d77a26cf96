"""Database faults: the service answers 503 with Retry-After while PostgreSQL is away, never a
500 and never a hang, and recovers by itself when it is back."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import asyncpg
import pytest

from reservations.app import create_app
from reservations.db import EmbeddedDatabase, migrate
from tests.conftest import TEST_JWT_SECRET

pytestmark = pytest.mark.slow


class PrivateDatabase:
    """An embedded PostgreSQL of this test's own, so stopping it disturbs no other test."""

    def __init__(self, folder: Path) -> None:
        self.embedded = EmbeddedDatabase(folder)
        self.dsn = self.embedded.start()
        migrate(self.dsn)

    def stop(self) -> None:
        from pgserver._commands import pg_ctl

        server = self.embedded.server
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata, user=server.system_user)

    def start(self) -> None:
        server = self.embedded.server
        with server._lock:
            server.ensure_postgres_running()

    def close(self) -> None:
        self.embedded.stop()


@pytest.fixture
def private_database(tmp_path_factory):
    database = PrivateDatabase(tmp_path_factory.mktemp("faults"))
    yield database
    database.close()


async def test_database_outage_is_503_and_recovers(aiohttp_client, settings, private_database):
    settings = dataclasses.replace(
        settings,
        database_url=private_database.dsn,
        jwt_secret=TEST_JWT_SECRET,
        db_acquire_timeout_seconds=2,
        db_statement_timeout_ms=2000,
    )
    client = await aiohttp_client(create_app(settings, private_database.dsn))
    register = await client.post(
        "/api/v1/auth/register", json={"email": "ann@example.com", "password": "correct horse"}
    )
    assert register.status == 201

    private_database.stop()
    started = time.perf_counter()
    answers = await asyncio.gather(
        client.get("/readyz"),
        client.post(
            "/api/v1/auth/login", json={"email": "ann@example.com", "password": "correct horse"}
        ),
        *(client.get("/api/v1/auth/me", headers={"Authorization": "Bearer x"}) for _ in range(3)),
    )
    elapsed = time.perf_counter() - started
    assert elapsed < 10, "requests must not hang while the database is away"
    for response in answers[:2]:
        assert response.status == 503, await response.text()
        assert int(response.headers["Retry-After"]) >= 1
        body = await response.json()
        assert body["error"]["code"] == "database_unavailable"
    assert all(response.status in (401, 503) for response in answers[2:])
    assert (await client.get("/healthz")).status == 200  # the process itself is up

    private_database.start()
    deadline = time.monotonic() + 15
    while True:
        ready = await client.get("/readyz")
        if ready.status == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert ready.status == 200
    login = await client.post(
        "/api/v1/auth/login", json={"email": "ann@example.com", "password": "correct horse"}
    )
    assert login.status == 200


async def test_killed_connections_are_survived(client, database):
    assert (await client.get("/readyz")).status == 200
    admin = await asyncpg.connect(database)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'reservations' AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    statuses = [(await client.get("/readyz")).status for _ in range(5)]
    assert set(statuses) <= {200, 503}
    assert statuses[-1] == 200
