"""A crowd on one showtime does not starve the rest (issue 28 item 8).

Seat changes of a showtime wait for its advisory lock. Each process queues them per showtime
(reservations/booking/queues.py), so only a few wait holding a pooled connection: with a pool of
5, 200 concurrent holds on one showtime leave connections for everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import pytest

from reservations.app import create_app
from tests.api import API, error_of, hold_seats
from tests.factories import create_hall
from tests.statements import listening

CROWD = 200


async def _pinned_lock(conn, showtime_id, release, at_most):
    """Hold the showtime's advisory lock from outside (a long change) until `release` is set,
    or `at_most` seconds."""
    async with conn.transaction():
        await conn.execute("SELECT lock_showtime($1)", showtime_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), at_most)


async def _timed_get(client, path, headers=None):
    started = time.perf_counter()
    response = await client.get(path, headers=headers)
    await response.read()
    return response.status, time.perf_counter() - started, path


@pytest.mark.slow
async def test_200_holds_on_one_showtime_leave_the_pool_to_other_requests(
    aiohttp_client, make_settings, database, db, make_account
):
    settings = make_settings(db_pool_min_size=1, db_pool_max_size=5)
    client = await aiohttp_client(create_app(settings, database))
    hot = await create_hall(db, rows=10, seats_per_row=20)
    other = await create_hall(db, rows=2, seats_per_row=5)
    people = [await make_account() for _ in range(CROWD)]
    reader = await make_account()
    seats = [seat for row in "ABCDEFGHIJ" for seat in hot.ids(*(f"{row}{n}" for n in range(1, 21)))]
    # Everyone has used the service before: their accounts come from the instance's cache.
    await listening(client)
    for account in [*people, reader]:
        assert (await client.get(f"{API}/auth/me", headers=account.headers)).status == 200

    # Every client on a connection of its own (one session's connector would queue them).
    base_url = str(client.make_url(""))
    crowd_session = aiohttp.ClientSession(base_url, connector=aiohttp.TCPConnector(limit=0))
    readers = aiohttp.ClientSession(base_url)
    # The hot showtime's lock is held from outside, so the crowd piles up behind it.
    release = asyncio.Event()
    pin = asyncio.ensure_future(_pinned_lock(db, hot.showtime_id, release, at_most=2.0))
    await asyncio.sleep(0.1)
    crowd = asyncio.gather(
        *(
            hold_seats(crowd_session, person, hot.showtime_id, [seat])
            for person, seat in zip(people, seats, strict=True)
        )
    )
    await asyncio.sleep(0.5)  # the crowd is waiting now
    # Rounds of reads while the crowd waits; each counts as proof only if it ended before the
    # pin did (a loaded machine may fit fewer than five in the pin's two seconds).
    others = []
    pinned_rounds = 0
    for _ in range(5):
        if pin.done():
            break
        others += await asyncio.gather(
            _timed_get(readers, f"{API}/showtimes/{other.showtime_id}/seats", reader.headers),
            _timed_get(readers, f"{API}/showtimes"),
            _timed_get(readers, "/"),
            _timed_get(readers, f"{API}/reservations", reader.headers),
        )
        pinned_rounds += not pin.done()
        await asyncio.sleep(0.05)
    release.set()
    await pin
    answers = await crowd
    statuses = [answer.status for answer in answers]
    await crowd_session.close()
    await readers.close()

    assert all(status == 200 for status, _, _ in others), others
    slow = [(path, round(seconds, 2)) for _, seconds, path in others if seconds >= 0.5]
    assert not slow, f"waited behind the crowd: {slow}"
    assert pinned_rounds, "no round of reads ended while the crowd waited: the check proved nothing"
    assert set(statuses) == {201}, statuses
    assert (
        await db.fetchval(
            "SELECT count(*) FROM seat_claims WHERE showtime_id = $1", hot.showtime_id
        )
        == CROWD
    )


@pytest.mark.slow
async def test_a_seat_change_that_waits_too_long_in_the_queue_is_503_busy(
    aiohttp_client, make_settings, database, db, make_account
):
    settings = make_settings(
        seat_change_permits_per_showtime=1, seat_change_queue_timeout_seconds=1
    )
    client = await aiohttp_client(create_app(settings, database))
    hall = await create_hall(db, rows=1, seats_per_row=4)
    first, second = await make_account(), await make_account()

    pin = asyncio.ensure_future(_pinned_lock(db, hall.showtime_id, asyncio.Event(), 2.0))
    await asyncio.sleep(0.1)
    in_the_lock = asyncio.ensure_future(hold_seats(client, first, hall.showtime_id, hall.ids("A1")))
    await asyncio.sleep(0.2)  # it has the one permit and waits for the lock
    started = time.perf_counter()
    queued = await hold_seats(client, second, hall.showtime_id, hall.ids("A3"))
    waited = time.perf_counter() - started
    error = await error_of(queued, 503)
    assert error["code"] == "busy"
    assert int(queued.headers["Retry-After"]) >= 1
    assert 0.9 < waited < 1.8
    await pin
    assert (await in_the_lock).status == 201
    # With the queue empty again, the next change goes through.
    assert (await hold_seats(client, second, hall.showtime_id, hall.ids("A3"))).status == 201
