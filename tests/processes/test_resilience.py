"""Database faults: the service answers 503 with Retry-After while PostgreSQL is away, never a
500 and never a hang, and recovers by itself when it is back."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from pathlib import Path

import aiohttp
import asyncpg
import psutil
import pytest

from reservations.app import create_app
from reservations.db import EmbeddedDatabase, migrate
from reservations.server import hashing_processes
from tests.factories import TEST_JWT_SECRET
from tests.servers import (
    free_port,
    gone_within,
    hashing_processes_of,
    kill_tree,
    start_server,
    statuses_on_new_connections,
    stop,
    workers_listening,
)

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
            " AND datname = current_database()"  # not the other xdist worker's tests
        )
    finally:
        await admin.close()
    statuses = [(await client.get("/readyz")).status for _ in range(5)]
    assert set(statuses) <= {200, 503}
    assert statuses[-1] == 200


async def test_booking_storm_through_an_outage_loses_no_confirmed_reservation(
    aiohttp_client, settings, private_database
):
    """Users keep booking while PostgreSQL stops and starts again: every request answers
    (201, 409 or 503, never 500), every acknowledged reservation is stored, and the live map's
    listener reconnects by itself (a viewer hears changes made after the outage)."""
    import uuid

    from tests.factories import create_account, create_hall

    settings = dataclasses.replace(
        settings,
        database_url=private_database.dsn,
        db_acquire_timeout_seconds=2,
        db_statement_timeout_ms=2000,
    )
    client = await aiohttp_client(create_app(settings, private_database.dsn))
    conn = await asyncpg.connect(private_database.dsn)
    try:
        hall = await create_hall(conn, rows=10, seats_per_row=20)
        users = []
        for index in range(20):
            users.append((await create_account(conn, email=f"storm{index}@example.com")).headers)
    finally:
        await conn.close()

    seat_ids = list(hall.seats.values())
    acknowledged: list[str] = []
    statuses: list[int] = []

    storm_over = asyncio.Event()

    async def customer(index: int) -> None:
        headers = users[index]
        for attempt in range(10):  # bounded; each customer owns seats of its own
            if storm_over.is_set():
                break
            seat = str(seat_ids[index * 10 + attempt])
            held = await client.post(
                f"/api/v1/showtimes/{hall.showtime_id}/lock-seats",
                json={"seat_ids": [seat]},
                headers=headers,
            )
            statuses.append(held.status)
            if held.status == 201:
                booked = await client.post(
                    "/api/v1/reservations",
                    json={"showtime_id": str(hall.showtime_id), "seat_ids": [seat]},
                    headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                )
                statuses.append(booked.status)
                if booked.status == 201:
                    acknowledged.append((await booked.json())["id"])
            await asyncio.sleep(0.2)

    async def outage() -> None:
        await asyncio.sleep(0.5)
        private_database.stop()
        await asyncio.sleep(1.0)
        private_database.start()
        await asyncio.sleep(1.5)  # bookings go through again
        storm_over.set()

    await asyncio.gather(outage(), *(customer(index) for index in range(len(users))))
    assert 500 not in statuses
    assert set(statuses) <= {201, 409, 503}, set(statuses)
    assert 503 in statuses, "the outage should have been noticed"
    assert acknowledged, "some bookings should have gone through"

    conn = await asyncpg.connect(private_database.dsn)
    try:
        stored = await conn.fetch(
            "SELECT id::text FROM reservations WHERE status = 'confirmed' AND id::text = ANY($1::text[])",
            acknowledged,
        )
    finally:
        await conn.close()
    assert len(stored) == len(acknowledged)

    # The listener came back by itself: a viewer connected now hears a new change.
    async with client.ws_connect(f"/ws/showtimes/{hall.showtime_id}") as viewer:
        snapshot = await viewer.receive_json(timeout=5)
        assert snapshot["type"] == "snapshot"
        free = next(seat["id"] for seat in snapshot["seats"] if seat["status"] == "available")
        deadline = time.monotonic() + 10
        heard = False
        while not heard:  # the listener reconnects with backoff; retry the hold until it is heard
            assert time.monotonic() < deadline, "the listener did not come back"
            held = await client.post(
                f"/api/v1/showtimes/{hall.showtime_id}/lock-seats",
                json={"seat_ids": [free]},
                headers=users[0],
            )
            assert held.status == 201
            listen_until = time.monotonic() + 2
            while not heard and time.monotonic() < listen_until:
                try:
                    message = await viewer.receive_json(timeout=listen_until - time.monotonic())
                except TimeoutError:
                    break
                heard = (
                    message["type"] == "seats"
                    and {"id": free, "status": "held"} in message["changes"]
                )
            if not heard:
                released = await client.delete(
                    f"/api/v1/showtimes/{hall.showtime_id}/lock-seats", headers=users[0]
                )
                assert released.status == 204


async def eventually_all(port: int, path: str, status: int, within: float) -> list[int]:
    """GET `path` on new connections until ten in a row answer `status` (every worker)."""
    deadline = time.monotonic() + within
    while True:
        answers = await statuses_on_new_connections(port, path, 10)
        if answers == [status] * 10 or time.monotonic() > deadline:
            return answers
        await asyncio.sleep(0.3)


async def test_workers_start_without_the_database_and_recover_by_themselves(
    private_database, tmp_path
):
    """`serve --workers 2` while PostgreSQL is down: the workers come up anyway, answer 503
    with Retry-After (and /readyz 503) instead of dying on their pool, and serve once it is
    back, with no restart."""
    private_database.stop()
    port = free_port()
    server = await start_server(
        private_database.dsn, port, "--workers", "2", log=tmp_path / "serve.log", up_when="/healthz"
    )
    try:
        workers = await workers_listening(server, port, 2)
        async with aiohttp.ClientSession() as session:
            for path in ("/readyz", "/api/v1/showtimes"):
                async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                    assert response.status == 503, await response.text()
                    assert int(response.headers["Retry-After"]) >= 1
        await asyncio.sleep(3)
        assert server.returncode is None
        assert await workers_listening(server, port, 2) == workers  # none died
        private_database.start()
        assert await eventually_all(port, "/readyz", 200, within=20) == [200] * 10
        assert await eventually_all(port, "/api/v1/showtimes", 200, within=5) == [200] * 10
        assert await workers_listening(server, port, 2) == workers
        assert await stop(server) == 0
    finally:
        kill_tree(server)


async def test_a_worker_that_does_not_stop_is_killed(database):
    """A worker that ignores SIGTERM (here: stopped) is killed SHUTDOWN_TIMEOUT_SECONDS + 10 s
    later, and the parent exits instead of waiting forever."""
    port = free_port()
    server = await start_server(
        database, port, "--workers", "2", env={"SHUTDOWN_TIMEOUT_SECONDS": "1"}
    )
    try:
        stuck, _other = sorted(await workers_listening(server, port, 2))
        os.kill(stuck, signal.SIGSTOP)
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), timeout=30)
        assert time.monotonic() - started < 25
        assert not psutil.pid_exists(stuck) or psutil.Process(stuck).status() == "zombie"
    finally:
        kill_tree(server)


async def test_workers_stop_when_the_parent_is_killed(database):
    """SIGKILL to `serve`: it cannot stop its workers, so they stop by themselves (the kernel's
    parent-death signal), rather than serve on as orphans nobody supervises; and so do the
    workers' password-hashing processes."""
    port = free_port()
    server = await start_server(database, port, "--workers", "2")
    workers = await workers_listening(server, port, 2)
    hashing = [pid for worker in workers for pid in hashing_processes_of(worker)]
    # Started with the workers: one a core in all (two on this 2-core machine).
    assert len(hashing) == len(workers) * hashing_processes(len(workers))
    server.send_signal(signal.SIGKILL)
    await server.wait()
    alive = await gone_within([*workers, *hashing], 15)
    try:
        assert not alive, f"orphaned workers or hashing processes {alive}"
    finally:
        for pid in alive:
            os.kill(pid, signal.SIGKILL)
