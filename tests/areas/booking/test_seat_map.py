"""The seat map of a showtime: every seat with its price and status, for anyone."""

from __future__ import annotations

import asyncio
import uuid

from tests.api import (
    book,
    error_of,
    hold_seats,
    seat_map,
    statuses,
)
from tests.factories import create_hall

# --- the seat map ---------------------------------------------------------------------------


async def test_seat_map_lists_every_seat_with_price_and_status(client, db):
    hall = await create_hall(db, rows=2, seats_per_row=3, price="10.00", seat_type="premium")
    body = await seat_map(client, hall.showtime_id)
    assert body["showtime_id"] == str(hall.showtime_id)
    assert body["version"] == 0
    assert body["total_seats"] == 6
    assert body["available_seats"] == 6
    assert [seat["seat_label"] for seat in body["seats"]] == ["A1", "A2", "A3", "B1", "B2", "B3"]
    first = body["seats"][0]
    assert first == {
        "id": str(hall.seats["A1"]),
        "row_label": "A",
        "seat_number": 1,
        "seat_label": "A1",
        "seat_type": "premium",
        "row_index": 0,
        "column_index": 0,
        "price": "12.50",
        "status": "available",
        "is_available": True,
        "is_locked": False,
    }


async def test_seat_map_of_unknown_or_cancelled_showtime_is_404(client, db):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    response = await client.get(f"/api/v1/showtimes/{uuid.uuid4()}/seats")
    assert (await error_of(response, 404))["code"] == "showtime_not_found"
    response = await client.get("/api/v1/showtimes/not-a-uuid/seats")
    assert (await error_of(response, 404))["code"] == "not_found"
    await db.execute("UPDATE showtimes SET cancelled_at = now() WHERE id = $1", hall.showtime_id)
    response = await client.get(f"/api/v1/showtimes/{hall.showtime_id}/seats")
    assert response.status == 404


async def test_seat_map_shows_held_sold_and_held_by_me(client, db, user, make_account):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    other = await make_account()
    await book(client, other, hall.showtime_id, hall.ids("A1"))
    assert (await hold_seats(client, other, hall.showtime_id, hall.ids("A2"))).status == 201
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A3"))).status == 201

    mine = {
        seat["seat_label"]: seat
        for seat in (await seat_map(client, hall.showtime_id, user))["seats"]
    }
    assert mine["A1"]["status"] == "sold" and not mine["A1"]["is_available"]
    assert mine["A2"]["status"] == "held" and mine["A2"]["is_locked"]
    assert mine["A2"]["held_by_me"] is False
    assert mine["A3"]["status"] == "held" and mine["A3"]["held_by_me"] is True
    assert mine["A4"]["status"] == "available" and mine["A4"]["held_by_me"] is False

    anonymous = await seat_map(client, hall.showtime_id)
    assert anonymous["available_seats"] == 1
    assert all("held_by_me" not in seat for seat in anonymous["seats"])
    # A bad token is anonymous on a public route, not a 401.
    response = await client.get(
        f"/api/v1/showtimes/{hall.showtime_id}/seats", headers={"Authorization": "Bearer nope"}
    )
    assert response.status == 200


async def test_expired_hold_counts_as_available_at_once(sweeperless_client, db, user, make_account):
    client = await sweeperless_client(hold_ttl_seconds=2)
    hall = await create_hall(db, rows=1, seats_per_row=2)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    assert statuses(await seat_map(client, hall.showtime_id))[hall.ids("A1")[0]] == "held"

    await asyncio.sleep(2.2)
    # The sweeper has not run (its hold is still stored), yet the seat is available to all.
    assert await db.fetchval("SELECT count(*) FROM holds") == 1
    body = await seat_map(client, hall.showtime_id, user)
    seat = body["seats"][0]
    assert seat["status"] == "available" and seat["held_by_me"] is False
    assert body["available_seats"] == 2

    rival = await make_account()
    response = await hold_seats(client, rival, hall.showtime_id, hall.ids("A1"))
    assert response.status == 201
    assert await db.fetchval("SELECT user_id FROM holds") == rival.id
