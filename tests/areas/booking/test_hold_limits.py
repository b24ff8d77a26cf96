"""Limits on holding: totals, changed prices, showtimes held at once, cooldowns."""

from __future__ import annotations

import datetime as dt

from reservations.app import create_app
from tests.api import (
    error_of,
    hold_seats,
    release,
)
from tests.factories import create_hall

# --- limits on holding (abuse resistance) ---------------------------------------------------


async def test_a_hold_tells_its_total_and_a_changed_price_is_refused_at_booking(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=3)
    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2"))
    hold = await response.json()
    price = await db.fetchval("SELECT price FROM showtimes WHERE id = $1", hall.showtime_id)
    assert hold["total_price"] == f"{2 * price:.2f}"

    await db.execute("UPDATE showtimes SET price = price + 1 WHERE id = $1", hall.showtime_id)
    body = {
        "showtime_id": str(hall.showtime_id),
        "seat_ids": hall.ids("A1", "A2"),
        "expected_total": hold["total_price"],
    }
    response = await client.post("/api/v1/reservations", json=body, headers=user.headers)
    error = await error_of(response, 409)
    assert error["code"] == "price_changed"
    assert error["details"] == {
        "expected_total": hold["total_price"],
        "total_price": f"{2 * (price + 1):.2f}",
    }
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0
    # The hold is intact; with the new total the booking goes through.
    body["expected_total"] = error["details"]["total_price"]
    response = await client.post("/api/v1/reservations", json=body, headers=user.headers)
    assert response.status == 201
    assert (await response.json())["total_price"] == body["expected_total"]


async def test_one_user_holds_seats_of_a_limited_number_of_showtimes(
    aiohttp_client, make_settings, database, db, user
):
    client = await aiohttp_client(
        create_app(make_settings(max_showtimes_held_per_user=2), database)
    )
    halls = [
        await create_hall(db, rows=1, seats_per_row=2, starts_in=dt.timedelta(days=1 + n))
        for n in range(3)
    ]
    for hall in halls[:2]:
        assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    response = await hold_seats(client, user, halls[2].showtime_id, halls[2].ids("A1"))
    error = await error_of(response, 409)
    assert error["code"] == "too_many_showtimes_held"
    assert error["details"]["max_showtimes_held"] == 2
    # The refusal names the showtimes held, earliest first, so that the person knows which.
    held = error["details"]["held_showtimes"]
    assert [show["showtime_id"] for show in held] == [str(h.showtime_id) for h in halls[:2]]
    starts = [
        await db.fetchval("SELECT start_time FROM showtimes WHERE id = $1", h.showtime_id)
        for h in halls[:2]
    ]
    assert [dt.datetime.fromisoformat(show["start_time"]) for show in held] == [
        start.replace(microsecond=0) for start in starts
    ]
    assert all(show["movie_title"].startswith("Movie ") for show in held)
    assert all(
        dt.datetime.fromisoformat(show["hold_expires_at"]).utcoffset() == dt.timedelta(0)
        for show in held
    )
    assert held[0]["movie_title"] in error["message"]
    # Adding to a hold it has is fine; releasing one makes room.
    assert (await hold_seats(client, user, halls[0].showtime_id, halls[0].ids("A2"))).status == 201
    assert (await release(client, user, halls[1].showtime_id)).status == 204
    assert (await hold_seats(client, user, halls[2].showtime_id, halls[2].ids("A1"))).status == 201


async def test_a_hold_that_reached_its_lifetime_cap_cannot_be_taken_again_at_once(
    aiohttp_client, make_settings, database, db, user, make_account
):
    settings = make_settings(
        hold_ttl_seconds=60, max_hold_lifetime_seconds=120, hold_cooldown_seconds=300
    )
    client = await aiohttp_client(create_app(settings, database))
    hall = await create_hall(db, rows=1, seats_per_row=2)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    # Held for its whole lifetime: created 121 s ago, renewed up to its cap, just expired.
    await db.execute(
        "UPDATE holds SET created_at = now() - interval '121 seconds',"
        " expires_at = now() - interval '1 second'"
    )
    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))
    error = await error_of(response, 429)
    assert error["code"] == "hold_cooldown"
    assert 290 <= error["details"]["retry_after_seconds"] <= 300
    assert response.headers["Retry-After"] == str(error["details"]["retry_after_seconds"])
    # The seat is free for everyone else meanwhile.
    assert (
        await hold_seats(client, await make_account(), hall.showtime_id, hall.ids("A1"))
    ).status == 201


async def test_a_hold_that_ran_out_before_its_cap_can_be_taken_again(
    aiohttp_client, make_settings, database, db, user
):
    settings = make_settings(hold_ttl_seconds=60, max_hold_lifetime_seconds=120)
    client = await aiohttp_client(create_app(settings, database))
    hall = await create_hall(db, rows=1, seats_per_row=2)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    await db.execute(
        "UPDATE holds SET created_at = now() - interval '61 seconds',"
        " expires_at = now() - interval '1 second'"
    )
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201


async def test_a_started_showtime_cannot_be_cancelled(client, db, admin):
    hall = await create_hall(db, rows=1, seats_per_row=2, starts_in=-dt.timedelta(minutes=5))
    response = await client.delete(f"/api/v1/showtimes/{hall.showtime_id}", headers=admin.headers)
    assert (await error_of(response, 409))["code"] == "showtime_started"
    assert (
        await db.fetchval("SELECT cancelled_at FROM showtimes WHERE id = $1", hall.showtime_id)
        is None
    )
