"""Booking under real concurrency: many clients over HTTP at once against one showtime.

Whatever the interleaving, a seat is in at most one live hold or confirmed reservation, every
refusal is a 409 (never a 5xx), and the seat map, the database and the announced changes agree.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import asyncpg
import pytest

from reservations.app import create_app
from reservations.booking.changes import CHANNEL, decode_notification
from tests.api import hold_seats, reserve, seat_map, statuses
from tests.factories import create_hall

pytestmark = pytest.mark.slow


async def answer(response):
    """(status, error code or None, body)."""
    body = await response.json() if response.status != 204 else None
    code = body["error"]["code"] if body and "error" in body else None
    return response.status, code, body


async def seat_statuses(client, showtime_id):
    body = await seat_map(client, showtime_id)
    return body["version"], statuses(body)


async def confirmed_seats(db, showtime_id):
    """Seat ids (text) of the showtime's confirmed reservations, with repeats if any."""
    rows = await db.fetch(
        "SELECT rs.seat_id::text AS seat_id FROM reservation_seats rs"
        " JOIN reservations r ON r.id = rs.reservation_id"
        " WHERE r.showtime_id = $1 AND r.status = 'confirmed'",
        showtime_id,
    )
    return [row["seat_id"] for row in rows]


async def assert_claims_match_reservations(db, showtime_id):
    """Every confirmed reservation's seats are claimed by it, and nothing else is sold."""
    mismatches = await db.fetchval(
        """
        SELECT count(*) FROM (
            SELECT rs.seat_id, r.id FROM reservation_seats rs
            JOIN reservations r ON r.id = rs.reservation_id
            WHERE r.showtime_id = $1 AND r.status = 'confirmed'
            EXCEPT
            SELECT seat_id, reservation_id FROM seat_claims
            WHERE showtime_id = $1 AND reservation_id IS NOT NULL
        ) missing
        """,
        showtime_id,
    ) + await db.fetchval(
        """
        SELECT count(*) FROM seat_claims c
        LEFT JOIN reservations r ON r.id = c.reservation_id
        WHERE c.showtime_id = $1 AND c.reservation_id IS NOT NULL AND r.status <> 'confirmed'
        """,
        showtime_id,
    )
    assert mismatches == 0


@pytest.fixture
async def heard(database):
    """Every seat-change notification, as (showtime id, version, changes)."""
    conn = await asyncpg.connect(database)
    notes: list = []
    await conn.add_listener(CHANNEL, lambda *args: notes.append(decode_notification(args[3])))
    yield notes
    await conn.close()


async def test_200_users_lock_the_same_two_seats_at_once(client, db, make_account):
    hall = await create_hall(db, rows=2, seats_per_row=10)
    accounts = [await make_account() for _ in range(200)]
    wanted = hall.ids("A5", "A6")

    async def attempt(account):
        return await answer(await hold_seats(client, account, hall.showtime_id, wanted))

    answers = await asyncio.gather(*(attempt(account) for account in accounts))
    statuses = Counter(status for status, _, _ in answers)
    assert statuses == {201: 1, 409: 199}, statuses
    assert {code for status, code, _ in answers if status == 409} == {"seat_unavailable"}
    for status, _, body in answers:
        if status == 409:
            assert sorted(body["error"]["details"]["unavailable_seat_ids"]) == sorted(wanted)
        else:
            assert sorted(body["locked_seat_ids"]) == sorted(wanted)
    assert await db.fetchval("SELECT count(*) FROM holds") == 1
    assert await db.fetchval("SELECT count(*) FROM seat_claims") == 2
    version, seats = await seat_statuses(client, hall.showtime_id)
    assert version == 1
    assert [seats[seat] for seat in wanted] == ["held", "held"]


async def test_50_users_grab_random_seats_and_no_seat_is_sold_twice(client, db, make_account):
    hall = await create_hall(db, rows=5, seats_per_row=10)
    seat_ids = list(hall.seats.values())
    accounts = [await make_account() for _ in range(50)]
    chooser = random.Random(20261201)
    choices = [chooser.sample(seat_ids, chooser.randint(1, 4)) for _ in accounts]

    async def grab_and_book(account, seats):
        held = await answer(await hold_seats(client, account, hall.showtime_id, seats))
        if held[0] != 201:
            return held, None
        return held, await answer(await reserve(client, account, hall.showtime_id, seats))

    outcomes = await asyncio.gather(
        *(grab_and_book(account, seats) for account, seats in zip(accounts, choices, strict=True))
    )
    for held, booked in outcomes:
        assert held[0] in (201, 409), held
        if held[0] == 409:
            assert held[1] == "seat_unavailable"
        else:
            assert booked[0] == 201, booked  # a live hold always converts
    bookings = [booked[2] for _, booked in outcomes if booked]
    assert bookings, "somebody must get seats"

    sold = await confirmed_seats(db, hall.showtime_id)
    assert len(sold) == len(set(sold)), "a seat is in two confirmed reservations"
    from_answers = [seat["id"] for booking in bookings for seat in booking["seats"]]
    assert sorted(from_answers) == sorted(sold)
    await assert_claims_match_reservations(db, hall.showtime_id)

    _, seats = await seat_statuses(client, hall.showtime_id)
    assert {seat for seat, status in seats.items() if status == "sold"} == set(sold)
    assert {status for seat, status in seats.items() if seat not in set(sold)} == {"available"}
    assert await db.fetchval("SELECT count(*) FROM holds") == 0


async def test_concurrent_duplicates_with_one_key_book_once(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    seats = hall.ids("A1", "A2")
    assert (await hold_seats(client, user, hall.showtime_id, seats)).status == 201

    async def attempt():
        return await answer(await reserve(client, user, hall.showtime_id, seats, key="checkout-7"))

    answers = await asyncio.gather(*(attempt() for _ in range(20)))
    statuses = Counter(status for status, _, _ in answers)
    assert statuses[201] == 1, statuses
    assert set(statuses) <= {200, 201, 409}, statuses
    assert {code for status, code, _ in answers if status == 409} <= {"request_in_flight"}
    ids = {body["id"] for status, _, body in answers if status in (200, 201)}
    assert len(ids) == 1
    assert await db.fetchval("SELECT count(*) FROM reservations") == 1
    # Once the first has finished, a retry always gets it back.
    status, _, body = await answer(
        await reserve(client, user, hall.showtime_id, seats, key="checkout-7")
    )
    assert status == 200 and body["id"] in ids


async def test_a_storm_of_holds_releases_bookings_expiries_and_cancellations(
    aiohttp_client, make_settings, database, db, make_account, heard
):
    """Short holds and a busy sweeper: afterwards the map, the database and the announced
    versions agree, and every version from 1 to the last was announced exactly once, in order."""
    client = await aiohttp_client(
        create_app(make_settings(hold_ttl_seconds=1, sweep_interval_seconds=1), database)
    )
    hall = await create_hall(db, rows=3, seats_per_row=8)
    seat_ids = list(hall.seats.values())
    accounts = [await make_account() for _ in range(24)]
    chooser = random.Random(7)
    statuses: Counter = Counter()

    async def shop(account, plan):
        for _ in range(3):
            seats = plan.sample(seat_ids, plan.randint(1, 3))
            status, code, body = await answer(
                await hold_seats(client, account, hall.showtime_id, seats)
            )
            statuses[status] += 1
            if status != 201:
                continue
            action = plan.choice(["book", "book", "release", "dawdle", "book_then_cancel"])
            if action == "release":
                response = await client.delete(
                    f"/api/v1/showtimes/{hall.showtime_id}/lock-seats", headers=account.headers
                )
                statuses[response.status] += 1
                continue
            if action == "dawdle":
                await asyncio.sleep(1.1)  # the hold expires
            status, code, body = await answer(
                await reserve(client, account, hall.showtime_id, seats)
            )
            statuses[status] += 1
            if action == "dawdle":
                assert (status, code) == (409, "hold_expired")
            elif status == 201 and action == "book_then_cancel":
                response = await client.delete(
                    f"/api/v1/reservations/{body['id']}", headers=account.headers
                )
                statuses[response.status] += 1

    plans = [random.Random(chooser.random()) for _ in accounts]
    await asyncio.gather(
        *(shop(account, plan) for account, plan in zip(accounts, plans, strict=True))
    )
    assert not [status for status in statuses if status >= 500], statuses

    await asyncio.sleep(2.5)  # every hold has expired and been swept
    assert await db.fetchval("SELECT count(*) FROM holds") == 0
    sold = await confirmed_seats(db, hall.showtime_id)
    assert len(sold) == len(set(sold))
    await assert_claims_match_reservations(db, hall.showtime_id)
    version, seats = await seat_statuses(client, hall.showtime_id)
    assert {seat for seat, status in seats.items() if status == "sold"} == set(sold)
    assert {status for seat, status in seats.items() if seat not in set(sold)} == {"available"}

    versions = [number for showtime, number, _ in heard if showtime == str(hall.showtime_id)]
    assert versions == list(range(1, version + 1))
    # Replaying the announced changes gives the final map.
    replayed = dict.fromkeys(seats, "available")
    for _, _, changes in heard:
        for change in changes:
            replayed[change["id"]] = change["status"]
    assert replayed == seats
