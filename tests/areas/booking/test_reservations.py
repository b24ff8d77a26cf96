"""Booking held seats: reservations, ticket codes, Idempotency-Keys and prices."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from reservations.context import SWEEPER
from reservations.db import QUERIES
from tests.api import (
    book,
    error_of,
    hold_seats,
    reserve,
    seat_map,
    statuses,
)
from tests.factories import create_hall
from tests.holds import TICKET_CODE

# --- reservations ---------------------------------------------------------------------------


async def test_reserve_held_seats(client, db, user):
    hall = await create_hall(db, rows=2, seats_per_row=3, price="9.99", seat_type="vip")
    assert (
        await hold_seats(client, user, hall.showtime_id, hall.ids("B2", "A1", "B1"))
    ).status == 201
    response = await reserve(client, user, hall.showtime_id, hall.ids("B1", "A1"))
    assert response.status == 201, await response.text()
    reservation = await response.json()
    assert set(reservation) == {
        "id",
        "user_id",
        "showtime_id",
        "status",
        "total_price",
        "subtotal",
        "discount",
        "voucher_code",
        "seats",
        "ticket_code",
        "created_at",
        "updated_at",
        "cancelled_at",
        "cancel_reason",
        "showtime",
        "movie",
        "theater",
        "is_cancellable",
        "qr_payload",  # the signed code of the QR ticket (check-in)
    }
    assert reservation["user_id"] == str(user.id)
    assert reservation["showtime_id"] == str(hall.showtime_id)
    assert reservation["status"] == "confirmed"
    assert reservation["total_price"] == "29.98"  # 2 x round(9.99 x 1.50, 2)
    assert reservation["seats"] == [
        {
            "id": hall.ids("A1")[0],
            "row_label": "A",
            "seat_number": 1,
            "seat_label": "A1",
            "seat_type": "vip",
            "price": "14.99",
            "ticket_type": "adult",
            "ticket_type_name": "Adult",
        },
        {
            "id": hall.ids("B1")[0],
            "row_label": "B",
            "seat_number": 1,
            "seat_label": "B1",
            "seat_type": "vip",
            "price": "14.99",
            "ticket_type": "adult",
            "ticket_type_name": "Adult",
        },
    ]
    assert TICKET_CODE.match(reservation["ticket_code"])
    assert reservation["cancelled_at"] is None and reservation["cancel_reason"] is None
    assert reservation["is_cancellable"] is True
    assert reservation["showtime"]["id"] == str(hall.showtime_id)
    assert reservation["showtime"]["price"] == "9.99"
    assert set(reservation["showtime"]) == {"id", "start_time", "end_time", "price"}
    assert reservation["movie"]["id"] == str(hall.movie_id)
    assert reservation["movie"]["title"].startswith("Movie ")
    assert reservation["theater"]["id"] == str(hall.theater_id)

    # The booked seats are sold; the one left in the hold is still held by the caller.
    seats = {
        seat["seat_label"]: seat
        for seat in (await seat_map(client, hall.showtime_id, user))["seats"]
    }
    assert seats["A1"]["status"] == seats["B1"]["status"] == "sold"
    assert seats["B2"]["status"] == "held" and seats["B2"]["held_by_me"]
    claims = await db.fetch(
        "SELECT seat_id, hold_id, reservation_id FROM seat_claims ORDER BY seat_id"
    )
    assert sum(claim["reservation_id"] is not None for claim in claims) == 2
    assert sum(claim["hold_id"] is not None for claim in claims) == 1

    # Booking the last held seat removes the hold.
    assert (await reserve(client, user, hall.showtime_id, hall.ids("B2"))).status == 201
    assert await db.fetchval("SELECT count(*) FROM holds") == 0


async def test_price_is_fixed_at_booking_time(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=1, price="10.00")
    reservation = await book(client, user, hall.showtime_id, hall.ids("A1"))
    await db.execute("UPDATE showtimes SET price = 20 WHERE id = $1", hall.showtime_id)
    again = await (
        await client.get(f"/api/v1/reservations/{reservation['id']}", headers=user.headers)
    ).json()
    assert again["total_price"] == "10.00"
    assert again["seats"][0]["price"] == "10.00"
    assert again["showtime"]["price"] == "20.00"


async def test_reserving_seats_not_held_is_409(client, db, user, make_account):
    hall = await create_hall(db, rows=1, seats_per_row=3)
    error = await error_of(await reserve(client, user, hall.showtime_id, hall.ids("A1")), 409)
    assert error["code"] == "seats_not_held"
    assert error["details"]["seat_ids"] == hall.ids("A1")

    other = await make_account()
    assert (await hold_seats(client, other, hall.showtime_id, hall.ids("A2"))).status == 201
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    response = await reserve(client, user, hall.showtime_id, hall.ids("A1", "A2", "A3"))
    error = await error_of(response, 409)
    assert error["code"] == "seats_not_held"
    assert error["details"]["seat_ids"] == hall.ids("A2", "A3")
    # Nothing was booked; the hold is intact.
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0
    assert statuses(await seat_map(client, hall.showtime_id))[hall.ids("A1")[0]] == "held"


async def test_reserving_after_the_hold_expired_is_hold_expired(sweeperless_client, db, user):
    client = await sweeperless_client(hold_ttl_seconds=1)
    hall = await create_hall(db, rows=1, seats_per_row=3)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2"))).status == 201
    await asyncio.sleep(1.2)

    # The hold is still stored (nobody swept it): expired all the same.
    error = await error_of(await reserve(client, user, hall.showtime_id, hall.ids("A1")), 409)
    assert error["code"] == "hold_expired"
    assert error["details"]["seat_ids"] == hall.ids("A1")

    # Swept by the sweeper: still hold_expired, not seats_not_held.
    assert await client.app[SWEEPER].sweep_once() == 2
    assert await db.fetchval("SELECT count(*) FROM holds") == 0
    error = await error_of(await reserve(client, user, hall.showtime_id, hall.ids("A2")), 409)
    assert error["code"] == "hold_expired"

    # After a new hold, seats outside it are simply not held.
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A3"))).status == 201
    error = await error_of(await reserve(client, user, hall.showtime_id, hall.ids("A1")), 409)
    assert error["code"] == "seats_not_held"
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0


async def test_reserving_for_a_started_or_unknown_showtime(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=1)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    await db.execute(
        "UPDATE showtimes SET start_time = now() - interval '1 minute' WHERE id = $1",
        hall.showtime_id,
    )
    error = await error_of(await reserve(client, user, hall.showtime_id, hall.ids("A1")), 409)
    assert error["code"] == "showtime_started"
    response = await reserve(client, user, uuid.uuid4(), hall.ids("A1"))
    assert response.status == 404


async def test_idempotent_replay_returns_the_same_reservation_and_books_nothing(
    client, db, user, notifications
):
    hall = await create_hall(db, rows=1, seats_per_row=3)
    assert (
        await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2", "A3"))
    ).status == 201
    first = await reserve(client, user, hall.showtime_id, hall.ids("A1", "A2"), key="order-1")
    assert first.status == 201
    booked = await first.json()
    version = (await seat_map(client, hall.showtime_id))["version"]
    await notifications.through(version)

    # Same key, same request (seats in another order): the first answer, 200.
    replay = await reserve(client, user, hall.showtime_id, hall.ids("A2", "A1"), key="order-1")
    assert replay.status == 200
    assert (await replay.json())["id"] == booked["id"]
    assert await db.fetchval("SELECT count(*) FROM reservations") == 1
    assert (await seat_map(client, hall.showtime_id))["version"] == version
    await notifications.assert_silent()
    assert statuses(await seat_map(client, hall.showtime_id))[hall.ids("A3")[0]] == "held"

    # Same key, another request: 422, and nothing is booked.
    other = await reserve(client, user, hall.showtime_id, hall.ids("A3"), key="order-1")
    assert (await error_of(other, 422))["code"] == "idempotency_key_reused"
    assert await db.fetchval("SELECT count(*) FROM reservations") == 1

    # A fresh key books.
    fresh = await reserve(client, user, hall.showtime_id, hall.ids("A3"), key="order-2")
    assert fresh.status == 201
    assert (
        await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE user_id = $1", user.id) == 2
    )


async def test_idempotency_keys_are_per_user(client, db, user, make_account):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    other = await make_account()
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    assert (await hold_seats(client, other, hall.showtime_id, hall.ids("A2"))).status == 201
    assert (await reserve(client, user, hall.showtime_id, hall.ids("A1"), key="same")).status == 201
    response = await reserve(client, other, hall.showtime_id, hall.ids("A2"), key="same")
    assert response.status == 201
    assert await db.fetchval("SELECT count(DISTINCT user_id) FROM reservations") == 2


async def test_a_failed_request_does_not_spend_its_key(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=1)
    response = await reserve(client, user, hall.showtime_id, hall.ids("A1"), key="retry-me")
    assert response.status == 409
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    response = await reserve(client, user, hall.showtime_id, hall.ids("A1"), key="retry-me")
    assert response.status == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "caf\u00e9"])
async def test_malformed_idempotency_key_is_400(client, db, user, key):
    hall = await create_hall(db, rows=1, seats_per_row=1)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    headers = {**user.headers, "Idempotency-Key": key}
    response = await client.post(
        "/api/v1/reservations",
        json={"showtime_id": str(hall.showtime_id), "seat_ids": hall.ids("A1")},
        headers=headers,
    )
    assert (await error_of(response, 400))["code"] == "invalid_idempotency_key"
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0


async def test_longest_idempotency_key_is_accepted(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=1)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    response = await reserve(client, user, hall.showtime_id, hall.ids("A1"), key="k" * 255)
    assert response.status == 201


async def test_a_request_whose_key_is_in_use_is_409(client, db, database, user):
    hall = await create_hall(db, rows=1, seats_per_row=1)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    # Another request with this key is running: it holds the key's lock.
    other = await asyncpg.connect(database)
    try:
        async with other.transaction():
            assert await other.fetchval(QUERIES.try_lock_idempotency_key, user.id, "busy-key")
            response = await reserve(client, user, hall.showtime_id, hall.ids("A1"), key="busy-key")
            assert (await error_of(response, 409))["code"] == "request_in_flight"
    finally:
        await other.close()
    response = await reserve(client, user, hall.showtime_id, hall.ids("A1"), key="busy-key")
    assert response.status == 201


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"showtime_id": "x", "seat_ids": []},
        {"seat_ids": [str(uuid.uuid4())]},
        {"showtime_id": str(uuid.uuid4())},
    ],
)
async def test_malformed_reservation_requests_are_422(client, user, body):
    response = await client.post("/api/v1/reservations", json=body, headers=user.headers)
    assert (await error_of(response, 422))["code"] == "validation_error"
