"""Holding seats: all or nothing, renewals, releases and the lifetime cap."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from reservations.app import create_app
from tests.api import (
    HOLD_FIELDS,
    book,
    error_of,
    hold_seats,
    release,
    seat_map,
    statuses,
)
from tests.factories import create_hall, hold_directly
from tests.holds import backdate_hold, db_now, seconds, when

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
