"""Durability: the app process killed with SIGKILL in the middle of a booking storm and started
again loses nothing it acknowledged. Every 201 a client received is a confirmed reservation
afterwards; a retry with the same Idempotency-Key gets that reservation back (200, same id);
a duplicate still in flight gets 409 request_in_flight; holds survive the restart and expire
on schedule after it.

The app runs as a real `reservations serve` process on the test's database; the database itself
keeps running (its own durability is PostgreSQL's: this is about the app acknowledging only what
is committed).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass

import aiohttp
import asyncpg
import pytest

from reservations.db import QUERIES
from tests.factories import create_hall
from tests.servers import free_port, kill_hard, start_server

pytestmark = pytest.mark.slow

SHOPPERS = 12
STORM_SECONDS = 1.5
# A hold made to expire soon after the restart (a loaded machine restarts slowly).
SHORT_HOLD_SECONDS = 10
SERVE_ENVIRONMENT = {
    "LOG_LEVEL": "ERROR",
    "SWEEP_INTERVAL_SECONDS": "1",
    "DB_POOL_MAX_SIZE": "10",
    # Each shopper books a pair of seats again and again: not what this test is about.
    "MAX_SEATS_PER_USER_PER_SHOWTIME": "1000",
}


@dataclass
class Attempt:
    """One booking request of the storm: its key and seats, and what the client heard."""

    user: int
    key: str
    seat_ids: list[str]
    status: int | None = None  # None: no answer (the server died under it)
    reservation_id: str | None = None


class Shoppers:
    def __init__(self, base: str, hall, accounts) -> None:
        self.base = base
        self.hall = hall
        self.accounts = accounts
        self.attempts: list[Attempt] = []
        self.statuses: list[int] = []

    def body(self, attempt: Attempt) -> dict:
        return {"showtime_id": str(self.hall.showtime_id), "seat_ids": attempt.seat_ids}

    def headers(self, attempt: Attempt) -> dict:
        return {**self.accounts[attempt.user].headers, "Idempotency-Key": attempt.key}

    async def shop(self, session: aiohttp.ClientSession, user: int, seed: int) -> None:
        """Hold then book, again and again, until the server goes away."""
        chooser = random.Random(seed)
        # Row O is kept for the checks after the restart.
        seats = [str(seat) for label, seat in self.hall.seats.items() if label[0] != "O"]
        headers = self.accounts[user].headers
        lock_url = f"{self.base}/api/v1/showtimes/{self.hall.showtime_id}/lock-seats"
        while True:
            wanted = chooser.sample(seats, chooser.randint(1, 3))
            try:
                async with session.post(
                    lock_url, json={"seat_ids": wanted}, headers=headers
                ) as held:
                    self.statuses.append(held.status)
                    if held.status != 201:
                        continue
            except (TimeoutError, aiohttp.ClientError):
                return
            attempt = Attempt(user, uuid.uuid4().hex, wanted)
            self.attempts.append(attempt)
            try:
                async with session.post(
                    f"{self.base}/api/v1/reservations",
                    json=self.body(attempt),
                    headers=self.headers(attempt),
                ) as booked:
                    attempt.status = booked.status
                    self.statuses.append(booked.status)
                    if booked.status == 201:
                        attempt.reservation_id = (await booked.json())["id"]
            except (TimeoutError, aiohttp.ClientError):
                return


async def test_a_killed_app_loses_no_acknowledged_booking(database, db, make_account):
    hall = await create_hall(db, rows=15, seats_per_row=10)
    accounts = [await make_account() for _ in range(SHOPPERS + 2)]
    keeper, dawdler = accounts[SHOPPERS], accounts[SHOPPERS + 1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    shoppers = Shoppers(base, hall, accounts)
    lock_url = f"{base}/api/v1/showtimes/{hall.showtime_id}/lock-seats"
    seats_url = f"{base}/api/v1/showtimes/{hall.showtime_id}/seats"

    process = await start_server(database, port, env=SERVE_ENVIRONMENT)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
            # Two holds made before the crash: one long, one that ends soon after the restart.
            for account, seat in ((keeper, "O1"), (dawdler, "O2")):
                async with session.post(
                    lock_url, json={"seat_ids": hall.ids(seat)}, headers=account.headers
                ) as held:
                    assert held.status == 201

            storm = [
                asyncio.create_task(shoppers.shop(session, user, seed=user))
                for user in range(SHOPPERS)
            ]
            await asyncio.sleep(STORM_SECONDS)
            short_expiry = await db.fetchval(
                "UPDATE holds SET expires_at = clock_timestamp() + make_interval(secs => $2)"
                " WHERE user_id = $1 RETURNING expires_at",
                dawdler.id,
                float(SHORT_HOLD_SECONDS),
            )
            await kill_hard(process)  # requests are in flight
            await asyncio.wait_for(asyncio.gather(*storm), timeout=20)

        # The killed app's sessions are gone (a COMMIT already on the wire lands first).
        # Within 15 s: a backend waiting for a lock notices its client gone only once the wait
        # ends, and a loaded machine takes its time.
        sessions_of_the_app = (
            "SELECT state, wait_event_type, wait_event, left(query, 60) AS query"
            " FROM pg_stat_activity"
            " WHERE application_name = 'reservations' AND datname = current_database()"
        )
        for _ in range(300):
            if not (left := await db.fetch(sessions_of_the_app)):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the killed app's database sessions did not end: {left}")
        committed = {
            row["key"]: str(row["reservation_id"])
            for row in await db.fetch("SELECT key, reservation_id FROM idempotency_keys")
        }
        acknowledged = [attempt for attempt in shoppers.attempts if attempt.status == 201]
        unanswered = [attempt for attempt in shoppers.attempts if attempt.status is None]
        assert len(acknowledged) >= 10, "the storm must have booked something"
        assert not [status for status in shoppers.statuses if status >= 500], shoppers.statuses

        # Before the app is back: every acknowledged booking is in the database, confirmed.
        stored = {
            str(row["id"]): row
            for row in await db.fetch(
                "SELECT r.id, r.user_id, r.status, array_agg(rs.seat_id::text) AS seats"
                " FROM reservations r JOIN reservation_seats rs ON rs.reservation_id = r.id"
                " GROUP BY r.id"
            )
        }
        for attempt in acknowledged:
            row = stored[attempt.reservation_id]
            assert row["status"] == "confirmed"
            assert row["user_id"] == accounts[attempt.user].id
            assert sorted(row["seats"]) == sorted(attempt.seat_ids)
        claims = await db.fetch(
            "SELECT c.seat_id, c.reservation_id, c.hold_id, h.id AS hold FROM seat_claims c"
            " LEFT JOIN holds h ON h.id = c.hold_id"
        )
        assert all(row["reservation_id"] or row["hold"] for row in claims)
        sold = [row["seat_id"] for row in claims if row["reservation_id"]]
        assert sorted(sold) == sorted(
            uuid.UUID(seat) for row in stored.values() for seat in row["seats"]
        )

        process = await start_server(database, port, env=SERVE_ENVIRONMENT)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
            # Retries with the same key: what was stored comes back, nothing is booked twice.
            booked_now = 0
            for attempt in acknowledged + unanswered:
                async with session.post(
                    f"{base}/api/v1/reservations",
                    json=shoppers.body(attempt),
                    headers=shoppers.headers(attempt),
                ) as response:
                    body = await response.json()
                if attempt.status == 201:
                    assert (response.status, body["id"]) == (200, attempt.reservation_id), body
                elif attempt.key in committed:
                    # Booked just before the crash, never answered: the retry learns it.
                    assert (response.status, body["id"]) == (200, committed[attempt.key]), body
                else:
                    # Never committed: the hold is still there, so the retry books it now.
                    assert response.status == 201, body
                    booked_now += 1
            assert await db.fetchval("SELECT count(*) FROM reservations") == (
                len(stored) + booked_now
            )

            # A duplicate still in flight: its key's lock is held, as the first request holds it.
            in_flight = Attempt(0, "still-running", hall.ids("O3"))
            async with session.post(
                lock_url, json={"seat_ids": in_flight.seat_ids}, headers=accounts[0].headers
            ) as held:
                assert held.status == 201
            first = await asyncpg.connect(database)
            try:
                async with first.transaction():
                    assert await first.fetchval(
                        QUERIES.try_lock_idempotency_key, accounts[0].id, in_flight.key
                    )
                    started = time.perf_counter()
                    async with session.post(
                        f"{base}/api/v1/reservations",
                        json=shoppers.body(in_flight),
                        headers=shoppers.headers(in_flight),
                    ) as duplicate:
                        assert duplicate.status == 409
                        assert (await duplicate.json())["error"]["code"] == "request_in_flight"
                    assert time.perf_counter() - started < 1.0, "it must not wait for the first"
            finally:
                await first.close()
            async with session.post(
                f"{base}/api/v1/reservations",
                json=shoppers.body(in_flight),
                headers=shoppers.headers(in_flight),
            ) as after:
                assert after.status == 201

            # Holds made before the crash are still there, and keep their expiry.
            async with session.get(seats_url, headers=keeper.headers) as response:
                seat_map = {seat["seat_label"]: seat for seat in (await response.json())["seats"]}
            assert seat_map["O1"]["status"] == "held" and seat_map["O1"]["held_by_me"]
            now = await db.fetchval("SELECT clock_timestamp()")
            assert now < short_expiry, "the restart took longer than the short hold lasts"
            assert seat_map["O2"]["status"] == "held"
            await asyncio.sleep((short_expiry - now).total_seconds() + 0.1)
            async with session.get(seats_url) as response:
                seat_map = {seat["seat_label"]: seat for seat in (await response.json())["seats"]}
            assert seat_map["O2"]["status"] == "available"
            assert seat_map["O1"]["status"] == "held"
            for _ in range(50):  # the restarted sweeper removes it (every second)
                if not await db.fetchval(
                    "SELECT count(*) FROM holds WHERE user_id = $1", dawdler.id
                ):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the expired hold was not swept after the restart")
            async with session.post(
                f"{base}/api/v1/reservations",
                json={"showtime_id": str(hall.showtime_id), "seat_ids": hall.ids("O2")},
                headers=dawdler.headers,
            ) as late:
                assert late.status == 409
                assert (await late.json())["error"]["code"] == "hold_expired"
            async with session.post(
                f"{base}/api/v1/reservations",
                json={"showtime_id": str(hall.showtime_id), "seat_ids": hall.ids("O1")},
                headers=keeper.headers,
            ) as kept:
                assert kept.status == 201
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
