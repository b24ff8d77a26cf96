"""Locks pinned from outside (an operator's psql session, a stuck job): the requests that need
them answer 409 or 503 with Retry-After within the lock timeout, never hang and never 500.

The pool's sessions run with `lock_timeout` (at most 3 s, and never above the statement timeout)
and `statement_timeout`; here the statement timeout is 1 s, so the lock timeout is 1 s too.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest

from reservations.app import create_app
from reservations.context import SEAT_CHANGE_QUEUES
from tests.factories import create_hall
from tests.smtp_server import eventually

pytestmark = pytest.mark.slow

STATEMENT_TIMEOUT_MS = 1000
LOCK_TIMEOUT = 1.0  # min(statement timeout, 3 s): see reservations/db.py
MARGIN = 0.75  # a loaded 2-core CI machine, the HTTP round trip, the rollback


@pytest.fixture
async def client(aiohttp_client, make_settings, database):
    settings = make_settings(
        db_statement_timeout_ms=STATEMENT_TIMEOUT_MS, sweep_interval_seconds=3600
    )
    return await aiohttp_client(create_app(settings, database))


class Pinned:
    """A connection of its own that holds a lock in an open transaction until released."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.transaction = conn.transaction()
        self._released: asyncio.Future[None] | None = None

    @classmethod
    async def open(cls, database: str, *statements: tuple[str, ...]) -> Pinned:
        pinned = cls(await asyncpg.connect(database))
        await pinned.transaction.start()
        for sql, *args in statements:
            await pinned.conn.execute(sql, *args)
        return pinned

    async def release(self) -> None:
        """Roll back and close, once: a second call waits for the first, which may still be
        rolling back when the lock it held has already passed to the waiter."""
        if self._released is None:
            self._released = asyncio.ensure_future(self._release())
        await asyncio.shield(self._released)

    async def _release(self) -> None:
        await self.transaction.rollback()
        await self.conn.close()


def _path(hall, suffix=""):
    return f"/api/v1/showtimes/{hall.showtime_id}{suffix}"


async def timed(request):
    started = time.perf_counter()
    response = await request
    body = await response.json() if response.status != 204 else None
    return response, body, time.perf_counter() - started


def assert_bounded(results, allowed=(409, 503)):
    for response, body, elapsed in results:
        assert response.status in allowed, (response.status, body)
        assert elapsed < LOCK_TIMEOUT + MARGIN, (response.status, body, elapsed)
        if response.status == 503:
            assert int(response.headers["Retry-After"]) >= 1
            assert body["error"]["code"] == "busy"


@pytest.fixture
async def scene(client, db, make_account, admin):
    """A hall where one user holds A1-A2, another has booked B1 and a third wants C1."""
    hall = await create_hall(db, rows=3, seats_per_row=4)
    holder, booker, newcomer = [await make_account() for _ in range(3)]
    held = await client.post(
        _path(hall, "/lock-seats"), json={"seat_ids": hall.ids("A1", "A2")}, headers=holder.headers
    )
    assert held.status == 201
    assert (
        await client.post(
            _path(hall, "/lock-seats"), json={"seat_ids": hall.ids("B1")}, headers=booker.headers
        )
    ).status == 201
    booked = await client.post(
        "/api/v1/reservations",
        json={"showtime_id": str(hall.showtime_id), "seat_ids": hall.ids("B1")},
        headers=booker.headers,
    )
    assert booked.status == 201
    return hall, holder, booker, newcomer, (await booked.json())["id"], admin


def seat_requests(client, hall, holder, booker, newcomer, reservation_id, admin):
    """Every kind of request that changes the showtime's seats, fired at once."""
    return [
        client.post(
            _path(hall, "/lock-seats"), json={"seat_ids": hall.ids("C1")}, headers=newcomer.headers
        ),
        client.post(
            _path(hall, "/lock-seats"), json={"seat_ids": hall.ids("A3")}, headers=holder.headers
        ),
        client.delete(
            _path(hall, "/lock-seats"), json={"seat_ids": hall.ids("A2")}, headers=holder.headers
        ),
        client.post(
            "/api/v1/reservations",
            json={"showtime_id": str(hall.showtime_id), "seat_ids": hall.ids("A1")},
            headers=holder.headers,
        ),
        client.delete(f"/api/v1/reservations/{reservation_id}", headers=booker.headers),
        client.put(
            f"/api/v1/showtimes/{hall.showtime_id}", json={"price": "11.00"}, headers=admin.headers
        ),
        client.post(_path(hall, "/best-available"), json={"count": 2}, headers=newcomer.headers),
    ]


async def test_a_pinned_showtime_advisory_lock_bounds_every_seat_change(
    client, database, db, scene
):
    hall = scene[0]
    pinned = await Pinned.open(
        database, ("SELECT pg_advisory_xact_lock(hashtextextended($1, 727))", str(hall.showtime_id))
    )
    try:
        results = await asyncio.gather(
            *(timed(request) for request in seat_requests(client, *scene))
        )
        assert_bounded(results, allowed=(503,))
        # Reading the map needs no lock.
        response, body, elapsed = await timed(client.get(_path(hall, "/seats")))
        assert response.status == 200 and elapsed < MARGIN
    finally:
        await pinned.release()
    await assert_free_again(client, db, *scene)


async def assert_free_again(client, db, hall, holder, booker, newcomer, reservation_id, admin):
    """Once the pin is gone, everything works and nothing was half done."""
    assert await db.fetchval("SELECT count(*) FROM seat_claims") == 3
    results = [
        await timed(request)
        for request in seat_requests(client, hall, holder, booker, newcomer, reservation_id, admin)
    ]
    assert [response.status for response, _, _ in results] == [201, 201, 204, 201, 200, 200, 201]


# Which of seat_requests' requests need the pinned rows (the others may pass, or queue behind
# one that waits and time out with it): every seat change bumps the showtime's version; the
# holder's renewal updates its hold; releasing, booking and cancelling change claims; cancelling
# locks the reservation.
NEEDS_THE_ROWS = {
    "showtimes": {0, 1, 2, 3, 4, 5, 6},
    "holds": {1},
    "seat_claims": {2, 3, 4},
    "reservations": {4},
}


@pytest.mark.parametrize("table", sorted(NEEDS_THE_ROWS))
async def test_a_pinned_row_lock_bounds_the_requests_that_need_the_row(
    client, database, db, scene, table
):
    hall = scene[0]
    pinned = await Pinned.open(
        database,
        (
            f"SELECT 1 FROM {table} WHERE {'id' if table == 'showtimes' else 'showtime_id'} = $1"
            " FOR UPDATE",
            hall.showtime_id,
        ),
    )
    try:
        results = await asyncio.gather(
            *(timed(request) for request in seat_requests(client, *scene))
        )
        assert_bounded(results, allowed=(200, 201, 204, 409, 503))
        for index in NEEDS_THE_ROWS[table]:
            assert results[index][0].status == 503, (index, results[index][1])
    finally:
        await pinned.release()


async def lock_waiters_at_least(db, count):
    """Whether `count` sessions of this database wait for a lock."""
    return count <= await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )


async def test_a_change_queued_behind_a_slow_turn_does_not_wait_a_lock_timeout_more(
    client, database, db, scene
):
    """The showtime's lock is held from outside for most of a lock timeout, and its claims
    rows are pinned. The two changes with the process's permits wait for the lock, get it
    when it is let go and pass (neither needs the pinned rows). A booking queued behind them
    needs those rows: handed a permit then, it would wait a whole lock timeout more."""
    hall, holder, _, newcomer, _, _ = scene
    rows = await Pinned.open(
        database,
        ("SELECT 1 FROM seat_claims WHERE showtime_id = $1 FOR UPDATE", hall.showtime_id),
    )
    lock = await Pinned.open(
        database, ("SELECT pg_advisory_xact_lock(hashtextextended($1, 727))", str(hall.showtime_id))
    )
    try:
        holds = [
            asyncio.ensure_future(
                timed(
                    client.post(
                        _path(hall, "/lock-seats"),
                        json={"seat_ids": hall.ids(seat)},
                        headers=account.headers,
                    )
                )
            )
            for account, seat in ((newcomer, "C1"), (holder, "A3"))
        ]
        await eventually(lambda: lock_waiters_at_least(db, 2), within=5, every=0.01)
        booking = asyncio.ensure_future(
            timed(
                client.post(
                    "/api/v1/reservations",
                    json={"showtime_id": str(hall.showtime_id), "seat_ids": hall.ids("A1")},
                    headers=holder.headers,
                )
            )
        )
        queues = client.app[SEAT_CHANGE_QUEUES]
        await eventually(lambda: queues.waiting() == 3, within=5, every=0.01)
        # The two holds' turns then last past half the lock timeout (a slow turn), within it.
        await asyncio.sleep(LOCK_TIMEOUT * 0.7 - 0.1)
        await lock.release()
        let_go = time.perf_counter()
        for response, body, _ in await asyncio.gather(*holds):
            assert response.status == 201, body
        response, body, _ = await booking
        answered_after = time.perf_counter() - let_go
    finally:
        await lock.release()
        await rows.release()
    assert response.status == 503 and body["error"]["code"] == "busy", body
    assert answered_after < LOCK_TIMEOUT / 2, answered_after
    assert await db.fetchval(
        "SELECT count(*) FROM seat_claims WHERE showtime_id = $1 AND reservation_id IS NOT NULL",
        hall.showtime_id,
    ) == 1  # B1's alone: nothing of the booking was done


async def test_a_deadlock_with_an_outside_session_is_a_503_not_a_500(
    aiohttp_client, settings, database, db, make_account
):
    """An operator's session locks a user's hold, then waits for the showtime's lock that a
    request (waiting for that hold) holds: PostgreSQL breaks the cycle by failing the request,
    which first waited deadlock_timeout (1 s): a 503 to retry, not a 500."""
    client = await aiohttp_client(create_app(settings, database))  # lock_timeout 3 s
    hall = await create_hall(db, rows=1, seats_per_row=4)
    holder = await make_account()
    held = await client.post(
        _path(hall, "/lock-seats"), json={"seat_ids": hall.ids("A1")}, headers=holder.headers
    )
    assert held.status == 201
    operator = await Pinned.open(
        database, ("SELECT 1 FROM holds WHERE user_id = $1 FOR UPDATE", holder.id)
    )
    try:
        request = asyncio.ensure_future(
            timed(
                client.post(
                    _path(hall, "/lock-seats"),
                    json={"seat_ids": hall.ids("A2")},
                    headers=holder.headers,
                )
            )
        )
        await asyncio.sleep(0.3)  # the request holds the showtime's lock, waits for the hold
        waiting = asyncio.ensure_future(
            operator.conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 727))", str(hall.showtime_id)
            )
        )
        response, body, elapsed = await request
        assert response.status == 503, body
        assert body["error"]["code"] == "busy" and int(response.headers["Retry-After"]) >= 1
        assert elapsed < 3.0
        await waiting  # the operator's session got the lock
    finally:
        await operator.release()
    again = await client.post(
        _path(hall, "/lock-seats"), json={"seat_ids": hall.ids("A2")}, headers=holder.headers
    )
    assert again.status == 201


@pytest.mark.parametrize(
    ("lock_timeout", "held_for", "left_between"),
    [("3s", 0.0, (2900, 3000)), ("3s", 0.6, (2200, 2450)), ("0", 0.3, None)],
)
async def test_waiting_for_the_showtime_lock_is_taken_off_the_lock_timeout_left(
    database, db, lock_timeout, held_for, left_between
):
    from reservations.db import QUERIES

    showtime_id = str(uuid.uuid4())
    other = await Pinned.open(
        database, ("SELECT pg_advisory_xact_lock(hashtextextended($1, 727))", showtime_id)
    )
    await db.execute("SET lock_timeout = '7s'")  # the session's own, as the pool sets it
    try:
        async with db.transaction():
            await db.execute(f"SET LOCAL lock_timeout = '{lock_timeout}'")
            asyncio.get_running_loop().call_later(
                held_for, lambda: asyncio.ensure_future(other.release())
            )
            await db.execute(QUERIES.lock_showtime, showtime_id)
            left = await db.fetchval("SELECT current_setting('lock_timeout')")
    finally:
        await other.release()
    if left_between is None:
        assert left == "0"  # no limit stays no limit
    else:
        milliseconds = int(left[:-2]) if left.endswith("ms") else 1000 * int(left[:-1])
        assert left_between[0] <= milliseconds <= left_between[1], left
    # Only for that transaction: the next one starts with the session's lock_timeout again.
    assert await db.fetchval("SELECT current_setting('lock_timeout')") == "7s"
