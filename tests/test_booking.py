"""Booking: the seat map, holds, reservations, cancellation, seat changes and the sweeper."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid

import asyncpg
import pytest

from reservations.app import create_app
from reservations.booking.changes import CHANNEL, decode_notification
from reservations.context import SWEEPER
from reservations.db import QUERIES
from tests.api import (
    API,
    HOLD_FIELDS,
    book,
    error_of,
    hold_seats,
    hold_seats_after_a_wait,
    release,
    reserve,
    seat_map,
    statuses,
)
from tests.factories import create_drawn_hall, create_hall, hold_directly
from tests.statements import listening, named, pool_statements
from tests.sweepers import expire_all_holds, expired_holds_of_one_seat_each, sweeper_for

TICKET_CODE = re.compile(
    r"^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{4}(-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{4}){2}$"
)


# --- helpers --------------------------------------------------------------------------------


def seconds(value):
    return dt.timedelta(seconds=value)


def when(text):
    return dt.datetime.fromisoformat(text)


async def db_now(db):
    return await db.fetchval("SELECT now()")


async def backdate_hold(db, user_id, showtime_id, *, age, left):
    """Pretend the user's hold was created `age` ago and has `left` before it expires."""
    await db.execute(
        "UPDATE holds SET created_at = now() - $3::interval, expires_at = now() + $4::interval"
        " WHERE user_id = $1 AND showtime_id = $2",
        user_id,
        showtime_id,
        age,
        left,
    )


class Notifications:
    """Seat-change notifications, heard on a connection of their own (as another instance)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    def _heard(self, connection, pid, channel, payload):
        self.queue.put_nowait(decode_notification(payload))

    async def next(self, within=5.0):
        async with asyncio.timeout(within):
            return await self.queue.get()

    async def assert_silent(self, seconds=0.3):
        await asyncio.sleep(seconds)
        assert self.queue.empty(), self.queue.get_nowait()


@pytest.fixture
async def notifications(database):
    conn = await asyncpg.connect(database)
    heard = Notifications()
    await conn.add_listener(CHANNEL, heard._heard)
    yield heard
    await conn.close()


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


# --- holding seats --------------------------------------------------------------------------


async def test_lock_seats_returns_the_hold(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=3)
    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A2", "A1", "A2"))
    assert response.status == 201
    hold = await response.json()
    assert set(hold) == HOLD_FIELDS
    assert hold["showtime_id"] == str(hall.showtime_id)
    assert hold["locked_seat_ids"] == hall.ids("A1", "A2")  # repeated ids count once
    assert 9.9 <= hold["lock_duration_minutes"] <= 10
    left = when(hold["expires_at"]) - await db_now(db)
    assert dt.timedelta(seconds=590) < left <= dt.timedelta(seconds=600)
    assert hold["expires_at"].endswith("+00:00")
    stored = await db.fetchval("SELECT id FROM holds WHERE user_id = $1", user.id)
    assert hold["hold_id"] == str(stored)


async def test_second_user_cannot_hold_a_held_seat_and_nothing_is_held(
    client, db, user, make_account
):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A3"))).status == 201
    rival = await make_account()
    response = await hold_seats(client, rival, hall.showtime_id, hall.ids("A2", "A3", "A1"))
    error = await error_of(response, 409)
    assert error["code"] == "seat_unavailable"
    assert error["details"]["unavailable_seat_ids"] == hall.ids("A3", "A1")
    # All or nothing: A2 was free but is not held either.
    assert statuses(await seat_map(client, hall.showtime_id))[hall.ids("A2")[0]] == "available"
    assert await db.fetchval("SELECT count(*) FROM holds WHERE user_id = $1", rival.id) == 0


async def test_sold_seats_cannot_be_held_even_by_their_buyer(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    await book(client, user, hall.showtime_id, hall.ids("A1"))
    error = await error_of(await hold_seats(client, user, hall.showtime_id, hall.ids("A1")), 409)
    assert error["details"]["unavailable_seat_ids"] == hall.ids("A1")


async def test_seats_of_another_theater_are_422(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    elsewhere = await create_hall(db, rows=1, seats_per_row=2)
    stranger = str(uuid.uuid4())
    response = await hold_seats(
        client, user, hall.showtime_id, [*hall.ids("A1"), *elsewhere.ids("A1"), stranger]
    )
    error = await error_of(response, 422)
    assert error["code"] == "unknown_seats"
    assert error["details"]["seat_ids"] == [*elsewhere.ids("A1"), stranger]
    assert await db.fetchval("SELECT count(*) FROM seat_claims") == 0


async def test_started_or_unknown_showtime_refuses_holds(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=2, starts_in=-dt.timedelta(minutes=5))
    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))
    assert (await error_of(response, 409))["code"] == "showtime_started"
    response = await hold_seats(client, user, uuid.uuid4(), hall.ids("A1"))
    assert (await error_of(response, 404))["code"] == "showtime_not_found"


@pytest.mark.parametrize(
    "body",
    [{}, {"seat_ids": []}, {"seat_ids": ["nope"]}, {"seat_ids": "A1"}, {"seat_ids": [None]}],
)
async def test_malformed_lock_requests_are_422(client, db, user, body):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    response = await client.post(
        f"/api/v1/showtimes/{hall.showtime_id}/lock-seats", json=body, headers=user.headers
    )
    error = await error_of(response, 422)
    assert error["code"] == "validation_error"
    assert "seat_ids" in error["details"]["fields"]


async def test_holding_needs_a_token(client, db):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    response = await client.post(
        f"/api/v1/showtimes/{hall.showtime_id}/lock-seats", json={"seat_ids": hall.ids("A1")}
    )
    assert response.status == 401


async def test_one_user_holds_at_most_max_seats_per_hold(
    aiohttp_client, make_settings, database, db, user
):
    client = await aiohttp_client(create_app(make_settings(max_seats_per_hold=3), database))
    hall = await create_hall(db, rows=1, seats_per_row=6)
    error = await error_of(
        await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2", "A3", "A4")), 422
    )
    assert error["code"] == "too_many_seats"
    assert error["details"] == {"max_seats_per_hold": 3, "requested_total": 4}

    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2"))).status == 201
    # Seats already held do not count twice ...
    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2", "A3"))
    assert response.status == 201
    # ... but the hold as a whole is capped, and nothing of a refused request is held.
    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A3", "A4"))
    assert (await error_of(response, 422))["details"]["requested_total"] == 4
    held = await db.fetchval("SELECT count(*) FROM seat_claims WHERE hold_id IS NOT NULL")
    assert held == 3


async def test_locking_again_adds_seats_and_renews_the_hold(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=3)
    first = await (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).json()
    await backdate_hold(db, user.id, hall.showtime_id, age=seconds(570), left=seconds(30))

    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A3"))
    assert response.status == 201
    second = await response.json()
    assert second["hold_id"] == first["hold_id"]  # one hold per user and showtime
    assert second["locked_seat_ids"] == hall.ids("A1", "A3")
    left = when(second["expires_at"]) - await db_now(db)
    assert dt.timedelta(seconds=590) < left <= dt.timedelta(seconds=600)

    # Locking seats already held only renews.
    await backdate_hold(db, user.id, hall.showtime_id, age=seconds(600), left=seconds(5))
    third = await (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).json()
    assert third["locked_seat_ids"] == hall.ids("A1", "A3")
    assert when(third["expires_at"]) - await db_now(db) > dt.timedelta(seconds=590)


async def test_renewal_never_passes_the_lifetime_cap(client, db, user):
    # Defaults: a hold lasts 600 s and lives at most 1800 s from its creation.
    hall = await create_hall(db, rows=1, seats_per_row=3)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    await backdate_hold(db, user.id, hall.showtime_id, age=seconds(1700), left=seconds(60))

    hold = await (await hold_seats(client, user, hall.showtime_id, hall.ids("A2"))).json()
    left = when(hold["expires_at"]) - await db_now(db)
    assert dt.timedelta(seconds=95) < left <= dt.timedelta(seconds=100)
    assert 1.55 <= hold["lock_duration_minutes"] <= 1.67


async def test_release_some_then_all_seats(client, db, user, make_account):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    other = await make_account()
    assert (
        await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2", "A3"))
    ).status == 201
    assert (await hold_seats(client, other, hall.showtime_id, hall.ids("A4"))).status == 201

    # Someone else's seat in the list is ignored, not released.
    response = await release(client, user, hall.showtime_id, hall.ids("A1", "A4"))
    assert response.status == 204
    now = statuses(await seat_map(client, hall.showtime_id))
    assert [now[seat] for seat in hall.ids("A1", "A2", "A3", "A4")] == [
        "available",
        "held",
        "held",
        "held",
    ]

    assert (await release(client, user, hall.showtime_id)).status == 204
    held = (
        "SELECT count(*) FROM seat_claims c JOIN holds h ON h.id = c.hold_id WHERE h.user_id = $1"
    )
    assert await db.fetchval(held, user.id) == 0
    assert (await seat_map(client, hall.showtime_id))["available_seats"] == 3
    # Releasing with nothing held is harmless.
    assert (await release(client, user, hall.showtime_id)).status == 204


async def test_an_emptied_hold_keeps_its_lifetime_cap(
    aiohttp_client, make_settings, database, db, user
):
    """Releasing every seat and holding again continues the same hold: its lifetime cap stays."""
    settings = make_settings(hold_ttl_seconds=60, max_hold_lifetime_seconds=120)
    client = await aiohttp_client(create_app(settings, database))
    hall = await create_hall(db, rows=1, seats_per_row=2)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2"))).status == 201
    created = await db.fetchval("SELECT created_at FROM holds")
    # As if the hold were 100 s old: 20 s of its lifetime are left.
    await db.execute("UPDATE holds SET created_at = created_at - interval '100 seconds'")
    assert (await release(client, user, hall.showtime_id)).status == 204
    assert await db.fetchval("SELECT count(*) FROM holds") == 1  # empty, kept until it expires
    assert await db.fetchval("SELECT count(*) FROM seat_claims") == 0
    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))
    hold = await response.json()
    assert response.status == 201
    assert hold["lock_duration_minutes"] <= 20 / 60 + 0.01  # not a fresh 60 s
    assert await db.fetchval("SELECT created_at FROM holds") == created - dt.timedelta(seconds=100)


async def test_a_claim_refused_by_the_database_is_a_409_not_a_500(client, db, user, make_account):
    """If the checks before the insert were wrong, the primary key still says no."""
    hall = await create_hall(db, rows=1, seats_per_row=2)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    # A hold_seats that checks nothing (in this test's own database).
    await db.execute(
        """
        CREATE OR REPLACE FUNCTION hold_seats(
            p_showtime_id uuid, p_user_id uuid, p_seat_ids uuid[], p_hold_seconds integer,
            p_max_lifetime_seconds integer, p_max_seats integer, p_max_showtimes integer,
            p_cooldown_seconds integer, p_gap_rule text
        ) RETURNS jsonb LANGUAGE plpgsql AS $$
        DECLARE
            new_hold uuid;
        BEGIN
            INSERT INTO holds (showtime_id, user_id, expires_at)
            VALUES (p_showtime_id, p_user_id, now() + interval '10 minutes')
            RETURNING id INTO new_hold;
            INSERT INTO seat_claims (showtime_id, seat_id, hold_id)
            SELECT p_showtime_id, seat, new_hold FROM unnest(p_seat_ids) AS seat;
            RETURN '{}';
        END;
        $$
        """
    )
    rival = await make_account()
    response = await hold_seats(client, rival, hall.showtime_id, hall.ids("A2", "A1"))
    error = await error_of(response, 409)
    assert error["code"] == "seat_unavailable"
    assert hall.ids("A1")[0] in error["details"]["unavailable_seat_ids"]
    assert await db.fetchval("SELECT count(*) FROM holds WHERE user_id = $1", rival.id) == 0


async def test_the_database_refuses_a_second_claim_on_a_seat(db, make_account):
    hall = await create_hall(db, rows=1, seats_per_row=1)
    first, second = await make_account(), await make_account()
    holds = [
        await hold_directly(db, account.id, hall.showtime_id, []) for account in (first, second)
    ]
    seat = hall.seats["A1"]
    insert = "INSERT INTO seat_claims (showtime_id, seat_id, hold_id) VALUES ($1, $2, $3)"
    await db.execute(insert, hall.showtime_id, seat, holds[0])
    with pytest.raises(asyncpg.UniqueViolationError):
        await db.execute(insert, hall.showtime_id, seat, holds[1])
    # A claim is a hold's or a reservation's, never both or neither.
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "INSERT INTO seat_claims (showtime_id, seat_id) VALUES ($1, $2)",
            hall.showtime_id,
            seat,
        )


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
    while not notifications.queue.empty():
        notifications.queue.get_nowait()

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


# --- listing, reading and cancelling -------------------------------------------------------


async def move_showtime(db, showtime_id, by):
    await db.execute(
        "UPDATE showtimes SET start_time = start_time + $2::interval,"
        " end_time = end_time + $2::interval, busy_until = busy_until + $2::interval"
        " WHERE id = $1",
        showtime_id,
        by,
    )


async def test_list_reservations_upcoming_first_and_past_on_request(client, db, user):
    later = await create_hall(db, rows=1, seats_per_row=1, starts_in=dt.timedelta(days=3))
    sooner = await create_hall(db, rows=1, seats_per_row=1, starts_in=dt.timedelta(days=1))
    long_ago = await create_hall(db, rows=1, seats_per_row=1, starts_in=dt.timedelta(days=2))
    recently = await create_hall(db, rows=1, seats_per_row=1, starts_in=dt.timedelta(days=2))
    ids = {}
    for name, hall in [
        ("later", later),
        ("sooner", sooner),
        ("long_ago", long_ago),
        ("recently", recently),
    ]:
        ids[name] = (await book(client, user, hall.showtime_id, hall.ids("A1")))["id"]
    await move_showtime(db, long_ago.showtime_id, -dt.timedelta(days=5))
    await move_showtime(db, recently.showtime_id, -dt.timedelta(days=2, hours=1))
    response = await client.get("/api/v1/reservations", headers=user.headers)
    assert response.status == 200
    page = await response.json()
    assert [item["id"] for item in page["reservations"]] == [ids["sooner"], ids["later"]]
    assert (page["total"], page["page"], page["page_size"]) == (2, 1, 20)

    response = await client.get("/api/v1/reservations?include_past=true", headers=user.headers)
    page = await response.json()
    assert [item["id"] for item in page["reservations"]] == [
        ids["sooner"],
        ids["later"],
        ids["recently"],
        ids["long_ago"],
    ]
    assert page["total"] == 4
    assert page["reservations"][2]["is_cancellable"] is False

    response = await client.get(
        "/api/v1/reservations?include_past=true&page=2&page_size=3", headers=user.headers
    )
    page = await response.json()
    assert [item["id"] for item in page["reservations"]] == [ids["long_ago"]]
    assert page["total"] == 4
    response = await client.get("/api/v1/reservations?page=9", headers=user.headers)
    page = await response.json()
    assert page["reservations"] == [] and page["total"] == 2

    response = await client.get("/api/v1/reservations?page_size=101", headers=user.headers)
    assert response.status == 422
    assert (await client.get("/api/v1/reservations")).status == 401


async def test_others_reservations_are_not_listed(client, db, user, make_account):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    await book(client, await make_account(), hall.showtime_id, hall.ids("A1"))
    page = await (await client.get("/api/v1/reservations", headers=user.headers)).json()
    assert page["reservations"] == [] and page["total"] == 0


async def test_a_reservation_is_visible_to_its_owner_and_admins_only(
    client, db, user, admin, make_account
):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    reservation = await book(client, user, hall.showtime_id, hall.ids("A1"))
    path = f"/api/v1/reservations/{reservation['id']}"
    assert (await (await client.get(path, headers=user.headers)).json()) == reservation
    assert (await client.get(path, headers=admin.headers)).status == 200
    stranger = await make_account()
    assert (await error_of(await client.get(path, headers=stranger.headers), 404))[
        "code"
    ] == "reservation_not_found"
    assert (await client.delete(path, headers=stranger.headers)).status == 404
    assert (
        await client.get(f"/api/v1/reservations/{uuid.uuid4()}", headers=user.headers)
    ).status == 404
    assert (await client.get("/api/v1/reservations/zzz", headers=user.headers)).status == 404
    assert (await client.get(path)).status == 401
    # The stranger's attempt changed nothing.
    assert (await (await client.get(path, headers=user.headers)).json())["status"] == "confirmed"


async def test_cancel_keeps_the_record_and_frees_the_seats(client, db, user, make_account):
    hall = await create_hall(db, rows=1, seats_per_row=3)
    reservation = await book(client, user, hall.showtime_id, hall.ids("A1", "A2"))
    path = f"/api/v1/reservations/{reservation['id']}"

    response = await client.delete(path, headers=user.headers)
    assert response.status == 200
    cancelled = await response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "cancelled_by_user"
    assert cancelled["cancelled_at"] is not None
    assert cancelled["is_cancellable"] is False
    assert cancelled["seats"] == reservation["seats"]
    assert cancelled["total_price"] == reservation["total_price"]
    assert cancelled["ticket_code"] == reservation["ticket_code"]
    assert when(cancelled["updated_at"]) >= when(reservation["updated_at"])

    # The seats are free at once, for anyone.
    assert (await seat_map(client, hall.showtime_id))["available_seats"] == 3
    assert await db.fetchval("SELECT count(*) FROM seat_claims") == 0
    assert await db.fetchval("SELECT count(*) FROM reservation_seats") == 2
    assert (
        await hold_seats(client, await make_account(), hall.showtime_id, hall.ids("A1"))
    ).status == 201

    # Cancelling again changes nothing.
    again = await client.delete(path, headers=user.headers)
    assert again.status == 200
    assert await again.json() == cancelled
    listed = await (await client.get("/api/v1/reservations", headers=user.headers)).json()
    assert listed["reservations"][0]["status"] == "cancelled"


async def test_an_admin_can_cancel_anyones_reservation(client, db, user, admin):
    hall = await create_hall(db, rows=1, seats_per_row=1)
    reservation = await book(client, user, hall.showtime_id, hall.ids("A1"))
    response = await client.delete(
        f"/api/v1/reservations/{reservation['id']}", headers=admin.headers
    )
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "cancelled"
    assert body["cancel_reason"] == "cancelled_by_admin"
    assert body["user_id"] == str(user.id)


async def test_no_cancelling_once_the_show_started(client, db, user, admin):
    hall = await create_hall(db, rows=1, seats_per_row=1)
    reservation = await book(client, user, hall.showtime_id, hall.ids("A1"))
    await move_showtime(db, hall.showtime_id, -dt.timedelta(days=1, minutes=5))
    path = f"/api/v1/reservations/{reservation['id']}"
    for account in (user, admin):
        error = await error_of(await client.delete(path, headers=account.headers), 409)
        assert error["code"] == "showtime_started"
    body = await (await client.get(path, headers=user.headers)).json()
    assert body["status"] == "confirmed" and body["is_cancellable"] is False
    assert statuses(await seat_map(client, hall.showtime_id))[hall.ids("A1")[0]] == "sold"


# --- seat changes: versions and notifications ----------------------------------------------


async def test_every_change_grows_the_version_by_one_and_is_announced(
    client, db, user, notifications
):
    hall = await create_hall(db, rows=1, seats_per_row=3)
    showtime = str(hall.showtime_id)
    a1, a2, a3 = hall.ids("A1", "A2", "A3")

    async def version():
        return (await seat_map(client, hall.showtime_id))["version"]

    assert await version() == 0
    assert (await hold_seats(client, user, hall.showtime_id, [a1, a2])).status == 201
    assert await notifications.next() == (
        showtime,
        1,
        [{"id": a1, "status": "held"}, {"id": a2, "status": "held"}],
    )
    assert await version() == 1

    # Renewing only (no seat changes) is not a seat change.
    assert (await hold_seats(client, user, hall.showtime_id, [a1])).status == 201
    assert await version() == 1

    assert (await hold_seats(client, user, hall.showtime_id, [a3])).status == 201
    assert await notifications.next() == (showtime, 2, [{"id": a3, "status": "held"}])

    assert (await release(client, user, hall.showtime_id, [a3])).status == 204
    assert await notifications.next() == (showtime, 3, [{"id": a3, "status": "available"}])

    reservation = await (await reserve(client, user, hall.showtime_id, [a2, a1])).json()
    _, number, changes = await notifications.next()
    assert number == 4
    assert sorted(change["id"] for change in changes) == sorted([a1, a2])
    assert {change["status"] for change in changes} == {"sold"}

    assert (
        await client.delete(f"/api/v1/reservations/{reservation['id']}", headers=user.headers)
    ).status == 200
    _, number, changes = await notifications.next()
    assert number == 5 and {change["status"] for change in changes} == {"available"}
    assert await version() == 5
    await notifications.assert_silent()


async def test_a_refused_request_announces_nothing_and_keeps_the_version(
    quiet_client, db, user, make_account, notifications
):
    """Freeing an expired hold happens in the request's transaction: rolled back with it."""
    client = quiet_client
    hall = await create_hall(db, rows=1, seats_per_row=2)
    sleeper, holder = await make_account(), await make_account()
    assert (await hold_seats(client, sleeper, hall.showtime_id, hall.ids("A1"))).status == 201
    assert (await hold_seats(client, holder, hall.showtime_id, hall.ids("A2"))).status == 201
    await notifications.next()
    await notifications.next()
    await db.execute(
        "UPDATE holds SET expires_at = now() - interval '1 second' WHERE user_id = $1", sleeper.id
    )

    # A1 is free (expired) but A2 is not: 409, and the expiry's cleanup is rolled back too.
    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2"))
    assert (await error_of(response, 409))["details"]["unavailable_seat_ids"] == hall.ids("A2")
    await notifications.assert_silent()
    assert (await seat_map(client, hall.showtime_id))["version"] == 2
    assert await db.fetchval("SELECT count(*) FROM holds WHERE user_id = $1", sleeper.id) == 1

    # A request that succeeds frees the expired hold first and says so.
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    assert await notifications.next() == (
        str(hall.showtime_id),
        3,
        [{"id": hall.ids("A1")[0], "status": "available"}],
    )
    assert await notifications.next() == (
        str(hall.showtime_id),
        4,
        [{"id": hall.ids("A1")[0], "status": "held"}],
    )
    assert await db.fetchval("SELECT count(*) FROM holds WHERE user_id = $1", sleeper.id) == 0


# --- the sweeper ----------------------------------------------------------------------------


async def test_the_sweeper_frees_expired_holds_and_reports_them(
    client, db, user, make_account, notifications
):
    # The app's sweeper ticks every second (test settings).
    hall = await create_hall(db, rows=1, seats_per_row=3)
    other = await make_account()
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2"))).status == 201
    assert (await hold_seats(client, other, hall.showtime_id, hall.ids("A3"))).status == 201
    await notifications.next()
    await notifications.next()
    await expire_all_holds(db)

    # Nobody touches the showtime: the background task frees both holds at its next tick,
    # in one transaction, so one announcement.
    showtime, version, changes = await notifications.next(within=5)
    assert (showtime, version) == (str(hall.showtime_id), 3)
    assert {change["status"] for change in changes} == {"available"}
    assert sorted(change["id"] for change in changes) == sorted(hall.ids("A1", "A2", "A3"))
    assert await db.fetchval("SELECT count(*) FROM holds") == 0
    assert await db.fetchval("SELECT count(*) FROM seat_claims") == 0
    sweeper = client.app[SWEEPER]
    # The counters move just after the commit that sent the notification: give them a moment.
    for _ in range(50):
        if sweeper.freed_seats == 3:
            break
        await asyncio.sleep(0.02)
    assert sweeper.freed_seats == 3 and sweeper.freed_holds == 2
    assert sweeper.runs >= 1 and sweeper.errors == 0
    assert (await seat_map(client, hall.showtime_id))["version"] == 3
    await notifications.assert_silent()


async def test_the_sweeper_frees_expired_holds_of_every_showtime_and_leaves_live_ones(
    quiet_client, db, database, settings, make_account
):
    client = quiet_client
    sweeper, pool = await sweeper_for(database, settings)
    try:
        halls = [await create_hall(db, rows=1, seats_per_row=2) for _ in range(3)]
        for hall in halls:
            response = await hold_seats(
                client, await make_account(), hall.showtime_id, hall.ids("A1", "A2")
            )
            assert response.status == 201
        await expire_all_holds(db)
        live = await make_account()
        assert (
            await hold_seats(client, live, halls[0].showtime_id, halls[0].ids("A1"))
        ).status == 201
        # That request freed halls[0]'s expired hold itself; two expired holds are left.
        assert await sweeper.sweep_once() == 4
        assert await sweeper.sweep_once() == 0
        assert sweeper.freed_holds == 2
        assert await db.fetchval("SELECT count(*) FROM holds") == 1
        assert await db.fetchval("SELECT user_id FROM holds") == live.id
        for hall in halls[1:]:
            assert (await seat_map(client, hall.showtime_id))["available_seats"] == 2
    finally:
        await pool.close()


async def test_the_sweeper_batch_bounds_holds_per_tick(
    quiet_client, db, database, settings, make_account
):
    client = quiet_client
    sweeper, pool = await sweeper_for(database, settings, sweep_batch_size=2)
    try:
        hall = await create_hall(db, rows=1, seats_per_row=5)
        await expired_holds_of_one_seat_each(
            client, db, make_account, hall, ["A1", "A2", "A3", "A4", "A5"]
        )
        assert await sweeper.sweep_once() == 2
        assert await sweeper.sweep_once() == 2
        assert await sweeper.sweep_once() == 1
        assert sweeper.freed_holds == 5
    finally:
        await pool.close()


async def test_the_sweeper_skips_a_showtime_that_is_being_changed(
    quiet_client, db, database, settings, user, notifications
):
    client = quiet_client
    sweeper, pool = await sweeper_for(database, settings)
    hall = await create_hall(db, rows=1, seats_per_row=1)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    await notifications.next()
    await expire_all_holds(db)
    busy = await asyncpg.connect(database)
    try:
        async with busy.transaction():
            await busy.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 727))", str(hall.showtime_id)
            )
            # It does not wait for the lock: it skips the showtime and answers at once.
            assert await asyncio.wait_for(sweeper.sweep_once(), timeout=2) == 0
        assert await sweeper.sweep_once() == 1
        _, _, changes = await notifications.next()
        assert changes == [{"id": hall.ids("A1")[0], "status": "available"}]
    finally:
        await busy.close()
        await pool.close()


async def test_several_sweepers_at_once_free_each_seat_once(
    quiet_client, db, database, settings, make_account, notifications
):
    client = quiet_client
    sweepers = [await sweeper_for(database, settings) for _ in range(3)]
    try:
        hall = await create_hall(db, rows=2, seats_per_row=10)
        seats = list(hall.seats.values())
        for start in range(0, 20, 4):
            account = await make_account()
            assert (
                await hold_seats(client, account, hall.showtime_id, seats[start : start + 4])
            ).status == 201
        for _ in range(5):
            await notifications.next()
        await expire_all_holds(db)
        for _ in range(3):
            await asyncio.gather(*(sweeper.sweep_once() for sweeper, _ in sweepers))
        assert sum(sweeper.freed_seats for sweeper, _ in sweepers) == 20
        announced = []
        while not notifications.queue.empty():
            _, _, changes = notifications.queue.get_nowait()
            announced += [change["id"] for change in changes]
        assert sorted(announced) == sorted(str(seat) for seat in seats)
        assert await db.fetchval("SELECT count(*) FROM seat_claims") == 0
    finally:
        for _, pool in sweepers:
            await pool.close()


async def test_the_sweeper_survives_a_database_error(
    quiet_client, db, database, settings, user, caplog
):
    client = quiet_client
    sweeper, pool = await sweeper_for(database, settings, sweep_interval_seconds=1)
    hall = await create_hall(db, rows=1, seats_per_row=1)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    await expire_all_holds(db)
    await db.execute("ALTER TABLE holds RENAME TO holds_away")
    sweeper.start()
    try:
        for _ in range(50):
            if sweeper.errors:
                break
            await asyncio.sleep(0.1)
        assert sweeper.errors >= 1
        assert sweeper.running
        assert any("sweeping expired holds failed" in r.getMessage() for r in caplog.records)
        await db.execute("ALTER TABLE holds_away RENAME TO holds")
        for _ in range(50):
            if sweeper.freed_seats:
                break
            await asyncio.sleep(0.1)
        assert sweeper.freed_seats == 1
        assert await db.fetchval("SELECT count(*) FROM holds") == 0
    finally:
        await sweeper.stop()
        await pool.close()


async def test_the_sweeper_stops_cleanly(database, settings):
    sweeper, pool = await sweeper_for(database, settings, sweep_interval_seconds=1)
    try:
        sweeper.start()
        for _ in range(50):
            if sweeper.runs:
                break
            await asyncio.sleep(0.05)
        task = sweeper._task
        await asyncio.wait_for(sweeper.stop(), timeout=2)
        assert task.done() and not task.cancelled() and task.exception() is None
        assert not sweeper.running
        runs = sweeper.runs
        await asyncio.sleep(1.3)
        assert sweeper.runs == runs
        await sweeper.stop()  # twice is fine
    finally:
        await pool.close()


async def test_the_apps_sweeper_runs_with_the_app_and_stops_with_it(aiohttp_client, app):
    client = await aiohttp_client(app)
    sweeper = app[SWEEPER]
    assert sweeper.running
    await client.close()
    assert not sweeper.running


async def test_the_sweeper_forgets_old_keys_notes_and_login_attempts(db, database, settings, user):
    sweeper, pool = await sweeper_for(database, settings)
    hall = await create_hall(db, rows=1, seats_per_row=1)
    try:
        for key, age in [("old", dt.timedelta(hours=49)), ("recent", dt.timedelta(hours=23))]:
            await db.execute(
                "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at)"
                " VALUES ($1, $2, 'h', now() - $3::interval)",
                user.id,
                key,
                age,
            )
        for key, age in [
            ("email:old@example.com", dt.timedelta(days=2)),
            ("email:new@example.com", dt.timedelta(hours=1)),
        ]:
            await db.execute(
                "INSERT INTO login_attempts (key, attempts, last_attempt)"
                " VALUES ($1, ARRAY[now() - $2::interval], now() - $2::interval)",
                key,
                age,
            )
        await db.execute(
            "INSERT INTO expired_holds (showtime_id, user_id, seat_ids, expired_at)"
            " VALUES ($1, $2, $3, now() - interval '3 days')",
            hall.showtime_id,
            user.id,
            [hall.seats["A1"]],
        )
        await sweeper.sweep_once(housekeeping=False)
        assert await db.fetchval("SELECT count(*) FROM idempotency_keys") == 2
        await sweeper.sweep_once(housekeeping=True)
        assert await db.fetchval("SELECT array_agg(key) FROM idempotency_keys") == ["recent"]
        assert await db.fetchval("SELECT array_agg(key) FROM login_attempts") == [
            "email:new@example.com"
        ]
        assert await db.fetchval("SELECT count(*) FROM expired_holds") == 0
    finally:
        await pool.close()


# --- docs -----------------------------------------------------------------------------------


async def test_booking_routes_are_documented(client):
    spec = await (await client.get("/api/docs/swagger.json")).json()
    paths = spec["paths"]
    assert "get" in paths["/api/v1/showtimes/{id}/seats"]
    lock_seats = paths["/api/v1/showtimes/{id}/lock-seats"]
    assert lock_seats["post"]["security"] == [{"bearerAuth": []}]
    assert {"201", "409", "422"} <= set(lock_seats["post"]["responses"])
    assert "204" in lock_seats["delete"]["responses"]
    create = paths["/api/v1/reservations"]["post"]
    assert {"200", "201", "409", "422"} <= set(create["responses"])
    assert any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in create["parameters"])
    listing = paths["/api/v1/reservations"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"page", "page_size", "include_past"}
    one = paths["/api/v1/reservations/{id}"]
    assert {"get", "delete"} <= set(one)
    assert {"Reservation", "SeatMap", "Hold", "LockSeatsRequest"} <= set(spec["definitions"])


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
    assert error["details"] == {"max_showtimes_held": 2}
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


# --- one round trip per change ------------------------------------------------------------------


async def test_a_hold_a_booking_and_a_cancellation_are_one_statement_each(quiet_client, db, user):
    """Each change is one call, its answer included (the reservation is read back in the same
    statement; the user comes from the instance's cache while it listens)."""
    client = quiet_client
    hall = await create_drawn_hall(db, "......")
    await listening(client)
    assert (await client.get(f"{API}/auth/me", headers=user.headers)).status == 200
    with pool_statements(client.app) as sent:
        response = await hold_seats(client, user, hall.showtime_id, hall.ids("A2", "A3"))
        assert response.status == 201, await response.text()
        assert (await response.json())["stranded_seat_ids"] == hall.ids("A1")
        await asyncio.sleep(0)
        assert named(sent) == ["hold_seats"]
        sent.clear()
        response = await reserve(client, user, hall.showtime_id, hall.ids("A2", "A3"))
        assert response.status == 201, await response.text()
        reservation = await response.json()
        assert [seat["seat_label"] for seat in reservation["seats"]] == ["A2", "A3"]
        await asyncio.sleep(0)
        assert named(sent) == ["book_held_seats"]
        sent.clear()
        response = await client.delete(
            f"{API}/reservations/{reservation['id']}", headers=user.headers
        )
        assert response.status == 200, await response.text()
        assert (await response.json())["status"] == "cancelled"
        await asyncio.sleep(0)
        assert named(sent) == ["cancel_reservation"]


async def test_a_hold_that_waited_for_the_lock_is_still_one_statement(quiet_client, db, user):
    """Waiting for the showtime's lock changes nothing: the gap rule's warning is worked out
    under the lock once the hold has it, not by a second query after the commit."""
    client = quiet_client
    hall = await create_drawn_hall(db, ".... ...")
    await listening(client)
    assert (await client.get(f"{API}/auth/me", headers=user.headers)).status == 200
    with pool_statements(client.app) as sent:
        response = await hold_seats_after_a_wait(
            client, db, user, hall.showtime_id, hall.ids("A2", "A6")
        )
        assert response.status == 201, await response.text()
        assert (await response.json())["stranded_seat_ids"] == hall.ids("A1", "A5", "A7")
        await asyncio.sleep(0)
    assert named(sent) == ["hold_seats"]
