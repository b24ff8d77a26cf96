"""What one customer may buy: MAX_SEATS_PER_USER_PER_SHOWTIME counts the seats a user holds plus
those of their confirmed reservations, under the showtime's lock, so neither repeating
hold-then-book nor two sessions at once can pass it."""

from __future__ import annotations

import asyncio

import pytest

from reservations.app import create_app
from tests.api import API, error_of, hold_seats, reserve
from tests.factories import create_hall, insert_reservation


@pytest.fixture
async def limited(aiohttp_client, make_settings, database):
    """A service whose users may hold plus own 4 seats of a showtime (and hold up to 10)."""
    settings = make_settings(max_seats_per_user_per_showtime=4, max_seats_per_hold=10)
    return await aiohttp_client(create_app(settings, database))


async def test_the_default_limit_is_ten_seats(client, db, user):
    hall = await create_hall(db, rows=2, seats_per_row=10)
    labels = [f"A{n}" for n in range(1, 11)]
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids(*labels))).status == 201
    assert (await reserve(client, user, hall.showtime_id, hall.ids(*labels))).status == 201
    more = await hold_seats(client, user, hall.showtime_id, hall.ids("B1"))
    error = await error_of(more, 409)
    assert error["code"] == "user_seat_limit"
    assert error["details"] == {
        "max_seats_per_user": 10,
        "held_seats": 0,
        "booked_seats": 10,
        "requested_seats": 1,
    }


async def test_repeating_hold_then_book_cannot_pass_the_limit(limited, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=10)
    booked = 0
    for first in range(1, 10, 2):
        pair = hall.ids(f"A{first}", f"A{first + 1}")
        held = await hold_seats(limited, user, hall.showtime_id, pair)
        if held.status != 201:
            assert (await error_of(held, 409))["code"] == "user_seat_limit"
            break
        assert (await reserve(limited, user, hall.showtime_id, pair)).status == 201
        booked += 2
    assert booked == 4
    owned = await db.fetchval(
        "SELECT count(*) FROM reservations r JOIN reservation_seats rs ON rs.reservation_id = r.id"
        " WHERE r.user_id = $1 AND r.status = 'confirmed'",
        user.id,
    )
    assert owned == 4
    assert await db.fetchval("SELECT count(*) FROM seat_claims WHERE hold_id IS NOT NULL") == 0


async def test_nothing_of_a_request_past_the_limit_is_held(limited, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=6)
    assert (await hold_seats(limited, user, hall.showtime_id, hall.ids("A1", "A2"))).status == 201
    over = await hold_seats(limited, user, hall.showtime_id, hall.ids("A3", "A4", "A5"))
    assert (await error_of(over, 409))["code"] == "user_seat_limit"
    held = await db.fetchval("SELECT count(*) FROM seat_claims WHERE hold_id IS NOT NULL")
    assert held == 2
    # Cancelling a reservation makes room again.
    assert (await reserve(limited, user, hall.showtime_id, hall.ids("A1", "A2"))).status == 201
    reservation_id = await db.fetchval("SELECT id FROM reservations")
    assert (
        await hold_seats(limited, user, hall.showtime_id, hall.ids("A3", "A4", "A5"))
    ).status == 409
    await limited.delete(f"{API}/reservations/{reservation_id}", headers=user.headers)
    assert (
        await hold_seats(limited, user, hall.showtime_id, hall.ids("A3", "A4", "A5"))
    ).status == 201


async def test_two_sessions_of_one_user_at_once_cannot_pass_the_limit(
    limited, aiohttp_client, make_settings, database, db, make_account
):
    """Two service instances (two pools), one user, 3 seats each at once: one is refused."""
    settings = make_settings(max_seats_per_user_per_showtime=4, max_seats_per_hold=10)
    other_instance = await aiohttp_client(create_app(settings, database))
    for _ in range(5):
        user = await make_account()
        hall = await create_hall(db, rows=1, seats_per_row=6)
        first, second = await asyncio.gather(
            hold_seats(limited, user, hall.showtime_id, hall.ids("A1", "A2", "A3")),
            hold_seats(other_instance, user, hall.showtime_id, hall.ids("A4", "A5", "A6")),
        )
        assert sorted([first.status, second.status]) == [201, 409]
        refused = first if first.status == 409 else second
        assert (await error_of(refused))["code"] == "user_seat_limit"
        held = await db.fetchval(
            "SELECT count(*) FROM seat_claims WHERE showtime_id = $1", hall.showtime_id
        )
        assert held == 3


async def test_the_limit_sums_each_booking_s_seat_count_and_counts_rows_made_by_hand(
    limited, db, user
):
    """A booking writes its number of seats (the limit adds those up, not every seat); a
    reservation inserted by hand, without it, still has its seats counted."""
    hall = await create_hall(db, rows=1, seats_per_row=8)
    assert (await hold_seats(limited, user, hall.showtime_id, hall.ids("A1", "A2"))).status == 201
    assert (await reserve(limited, user, hall.showtime_id, hall.ids("A1", "A2"))).status == 201
    assert await db.fetchval("SELECT seat_count FROM reservations") == 2
    by_hand = await insert_reservation(db, user.id, hall.showtime_id, {hall.ids("A7")[0]: "10.00"})
    assert await db.fetchval("SELECT seat_count FROM reservations WHERE id = $1", by_hand) is None
    over = await hold_seats(limited, user, hall.showtime_id, hall.ids("A3", "A4"))
    error = await error_of(over, 409)
    assert error["details"]["booked_seats"] == 3
    assert (await hold_seats(limited, user, hall.showtime_id, hall.ids("A3"))).status == 201
