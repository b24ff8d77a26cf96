"""Connection faults under load: every application connection to PostgreSQL killed, again and
again, while customers read seat maps, hold and book on a machine whose cores are busy.

What an operator must see: no 500 (a connection-level fault is 503 `database_unavailable` with
Retry-After), every acknowledged (201) reservation stored, and the service answering and booking
again within 5 s of each kill. The server is a real `reservations serve` process (uvloop, its own
event loop), as in production.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass, field

import aiohttp
import asyncpg
import pytest

from reservations.db import TimedPool, create_pool, is_connection_fault
from reservations.errors import from_database_error
from tests.factories import create_account, create_hall
from tests.servers import free_port, read_log, start_server

CLIENTS = 16
ROUNDS = 20
CPU_HOGS = 2
RECOVERY_SECONDS = 5.0
ALLOWED = {200, 201, 409, 503}


async def _start_cpu_hogs() -> list[asyncio.subprocess.Process]:
    return [
        await asyncio.create_subprocess_exec(sys.executable, "-c", "while True: pass")
        for _ in range(CPU_HOGS)
    ]


@dataclass
class Outcome:
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # 5xx other than 503, client errors
    acknowledged: list[str] = field(default_factory=list)
    booked_at: list[float] = field(default_factory=list)

    def count(self, method: str, url: str, status: int, body: str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        expected = status in ALLOWED or (
            (method == "DELETE" and status == 204)
            # holds answered 503 after their commit stay held; the customer then starts afresh
            or (status == 422 and '"too_many_seats"' in body)
        )
        if not expected:
            self.failures.append(f"{method} {url} -> {status}: {body[:300]}")


def test_the_pool_overrides_nothing_private_of_asyncpg():
    private = [
        name
        for name in vars(TimedPool)
        if name.startswith("_") and not name.startswith("__") and hasattr(asyncpg.Pool, name)
    ]
    assert private == []


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        ),
        asyncpg.exceptions.InterfaceError("connection is closed"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.ConnectionFailureError("connection failure"),
        ConnectionResetError("reset by peer"),
    ],
)
def test_a_connection_fault_is_503_database_unavailable(exc):
    assert is_connection_fault(exc)
    error = from_database_error(exc)
    assert error is not None and error.status == 503 and error.code == "database_unavailable"
    assert int(error.headers["Retry-After"]) >= 1


def test_a_bad_value_is_not_a_connection_fault():
    assert not is_connection_fault(asyncpg.exceptions.DataError("invalid input"))
    assert from_database_error(asyncpg.exceptions.DataError("invalid input")) is None


async def _backend_pid(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT pg_backend_pid()"))


async def test_a_connection_that_failed_is_discarded_not_handed_out_again(database, make_settings):
    waits: list[float] = []
    pool = await create_pool(
        database, make_settings(db_pool_min_size=1, db_pool_max_size=1), waits.append
    )
    try:
        first = await _backend_pid(pool)
        with pytest.raises(ValueError):
            async with pool.acquire():
                raise ValueError("a bug of the caller: the connection is fine")
        assert await _backend_pid(pool) == first, "a sound connection is kept"

        with pytest.raises(asyncpg.exceptions.InternalClientError):
            async with pool.acquire():
                raise asyncpg.exceptions.InternalClientError("cannot switch to state 12")
        second = await _backend_pid(pool)
        assert second != first, "a connection in an unknown state must be replaced"

        # The server ends the backend while a request uses it.
        with pytest.raises(asyncpg.exceptions.PostgresError):
            async with pool.acquire() as conn:
                await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        assert await _backend_pid(pool) not in (first, second)
        # pool.fetchval and friends go through the same acquire.
        assert await pool.fetchval("SELECT 1") == 1
        assert len(waits) >= 6, "every acquire is timed"
    finally:
        await pool.close()


async def test_an_acquire_waits_at_most_the_default_timeout(database, make_settings):
    pool = await create_pool(
        database,
        make_settings(db_pool_min_size=1, db_pool_max_size=1, db_acquire_timeout_seconds=1),
    )
    try:
        async with pool.acquire():
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                async with pool.acquire():
                    pass
            assert 0.8 < time.monotonic() - started < 3
        connection = await pool.acquire()  # the awaitable form works too
        await pool.release(connection)
    finally:
        await pool.close()


@pytest.mark.slow
async def test_killing_every_app_connection_under_load_gives_no_500(database, db, tmp_path):
    hall = await create_hall(db, rows=20, seats_per_row=25)  # 500 seats, 31 per customer
    seats = list(hall.seats.values())
    tokens = []
    for index in range(CLIENTS):
        tokens.append((await create_account(db, email=f"fault{index}@example.com")).token)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    server = await start_server(
        database,
        port,
        env={
            "DB_ACQUIRE_TIMEOUT_SECONDS": "2",
            "DB_STATEMENT_TIMEOUT_MS": "2000",
            # Each customer books its 31 seats one by one until the storm ends; at the default
            # per-user limit (10) they would stop booking, and a round would see no booking.
            "MAX_SEATS_PER_USER_PER_SHOWTIME": "1000",
        },
        log=log,
    )
    hogs = await _start_cpu_hogs()
    outcome = Outcome()
    storm_over = asyncio.Event()
    seat_map = f"/api/v1/showtimes/{hall.showtime_id}/seats"

    async def call(
        session: aiohttp.ClientSession, method: str, url: str, **kwargs: object
    ) -> tuple[int, str]:
        try:
            async with session.request(method, base + url, **kwargs) as response:  # type: ignore[arg-type]
                body = await response.text()
                outcome.count(method, url, response.status, body)
                if response.status == 503:
                    assert int(response.headers["Retry-After"]) >= 1
                    assert '"database_unavailable"' in body or '"busy"' in body, body
                return response.status, body
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome.failures.append(f"{method} {url} -> {exc!r}")
            return 0, ""

    async def customer(index: int) -> None:
        headers = {"Authorization": f"Bearer {tokens[index]}"}
        mine = seats[index::CLIENTS]
        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            for seat in mine:
                if storm_over.is_set():
                    return
                await call(session, "GET", seat_map)
                held = 0
                for _ in range(20):  # a 503 is retried, as its Retry-After invites
                    held, body = await call(
                        session,
                        "POST",
                        f"/api/v1/showtimes/{hall.showtime_id}/lock-seats",
                        json={"seat_ids": [str(seat)]},
                    )
                    if held == 422 and '"too_many_seats"' in body:
                        await call(
                            session, "DELETE", f"/api/v1/showtimes/{hall.showtime_id}/lock-seats"
                        )
                    elif held != 503:
                        break
                    await asyncio.sleep(0.05)
                if held != 201:
                    continue
                key = uuid.uuid4().hex
                for _ in range(20):  # the same Idempotency-Key: a retry books nothing twice
                    booked, body = await call(
                        session,
                        "POST",
                        "/api/v1/reservations",
                        json={"showtime_id": str(hall.showtime_id), "seat_ids": [str(seat)]},
                        headers={"Idempotency-Key": key},
                    )
                    if booked != 503:
                        break
                    await asyncio.sleep(0.05)
                if booked == 201:
                    outcome.acknowledged.append(json.loads(body)["id"])
                    outcome.booked_at.append(time.monotonic())

    recoveries: list[float] = []
    killed: list[int] = []

    async def operator() -> None:
        admin = await asyncpg.connect(database)
        try:
            async with aiohttp.ClientSession() as probe:
                await asyncio.sleep(1.0)  # customers are under way
                for _ in range(ROUNDS):
                    killed.append(
                        await admin.fetchval(
                            "SELECT count(*) FROM ("
                            " SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE application_name = 'reservations'"
                            " AND datname = current_database() AND pid <> pg_backend_pid()) AS k"
                        )
                    )
                    killed_at = time.monotonic()
                    deadline = killed_at + RECOVERY_SECONDS * 2
                    map_back = booking_back = None
                    while time.monotonic() < deadline and (
                        map_back is None or booking_back is None
                    ):
                        if map_back is None:
                            async with probe.get(base + seat_map) as response:
                                await response.read()
                                if response.status == 200:
                                    map_back = time.monotonic()
                        if booking_back is None and any(t > killed_at for t in outcome.booked_at):
                            booking_back = min(t for t in outcome.booked_at if t > killed_at)
                        await asyncio.sleep(0.02)
                    recoveries.append(
                        max(map_back or float("inf"), booking_back or float("inf")) - killed_at
                    )
                    await asyncio.sleep(0.3)
        finally:
            storm_over.set()
            await admin.close()

    try:
        await asyncio.gather(operator(), *(customer(index) for index in range(CLIENTS)))
    finally:
        for hog in hogs:
            hog.kill()
            await hog.wait()
        server.terminate()
        try:
            await asyncio.wait_for(server.wait(), timeout=25)
        except TimeoutError:
            server.kill()
            await server.wait()

    report = (
        f"statuses {dict(sorted(outcome.statuses.items()))}, killed per round {killed}, "
        f"recoveries {[round(r, 2) for r in recoveries]}"
    )
    print(report)
    server_log = read_log(log)
    assert not outcome.failures, (
        f"{len(outcome.failures)} bad answers, first: {outcome.failures[:5]}; {report}\n"
        + server_log[-4000:]
    )
    assert "unhandled error" not in server_log, server_log[-4000:]
    assert sum(killed) >= ROUNDS, f"the rounds killed no application connection: {killed}"
    assert outcome.statuses.get(503), f"the kills were never noticed: {report}"
    assert max(recoveries) <= RECOVERY_SECONDS, report

    stored = await db.fetch(
        "SELECT id::text FROM reservations WHERE status = 'confirmed' AND id = ANY($1::uuid[])",
        outcome.acknowledged,
    )
    assert len(outcome.acknowledged) > ROUNDS, report
    assert {row["id"] for row in stored} == set(outcome.acknowledged), report
