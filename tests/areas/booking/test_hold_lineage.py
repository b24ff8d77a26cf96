"""The hold lifetime cap holds for a user's unbroken holding of a showtime, not for one hold row.

A hold lives at most MAX_HOLD_LIFETIME_SECONDS from its creation. Letting it run out just
before the cap (or releasing every seat and letting the empty hold lapse) and holding again
must not start a fresh lifetime: a hold made less than HOLD_COOLDOWN_SECONDS after the user's
last one ended continues that holding's start. The clock is moved by moving the hold's times.
"""

from __future__ import annotations

import datetime as dt

from tests.api import error_of, hold_seats, release
from tests.factories import create_hall

TTL, LIFETIME, COOLDOWN = 60, 120, 300


async def _lineage_client(sweeperless_client):
    return await sweeperless_client(
        hold_ttl_seconds=TTL, max_hold_lifetime_seconds=LIFETIME, hold_cooldown_seconds=COOLDOWN
    )


async def _ran_out(db, user, showtime_id, *, held_for, ended_ago=1):
    """As if the user's hold was created `held_for` seconds before it ended, `ended_ago` ago."""
    await db.execute(
        "UPDATE holds SET created_at = now() - make_interval(secs => $3::float8 + $4::float8),"
        " expires_at = now() - make_interval(secs => $4::float8)"
        " WHERE user_id = $1 AND showtime_id = $2",
        user.id,
        showtime_id,
        float(held_for),
        float(ended_ago),
    )


async def _move_clock_past_the_hold(db):
    """As if the clock moved on to just past the end of every hold."""
    await db.execute(
        "UPDATE holds SET created_at = created_at - (expires_at - now()) - interval '1 ms',"
        " expires_at = now() - interval '1 ms'"
    )


async def _seconds_left(db, hold):
    expires_at = dt.datetime.fromisoformat(hold["expires_at"])
    return (expires_at - await db.fetchval("SELECT now()")).total_seconds()


async def test_a_hold_run_out_just_before_its_cap_and_taken_again_keeps_its_lifetime(
    sweeperless_client, db, user
):
    client = await _lineage_client(sweeperless_client)
    hall = await create_hall(db, rows=1, seats_per_row=3)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    # Renewed up to 2 s before its cap, then left to run out (1 s ago).
    await _ran_out(db, user, hall.showtime_id, held_for=LIFETIME - 2)

    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))
    assert response.status == 201, await response.text()
    # The holding began 119 s ago: about 1 s of its lifetime is left, not a fresh 60 s.
    assert await _seconds_left(db, await response.json()) <= 1.5

    # Once that runs out too, the holding has had its lifetime: the cooldown applies.
    await _move_clock_past_the_hold(db)
    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))
    error = await error_of(response, 429)
    assert error["code"] == "hold_cooldown"
    assert COOLDOWN - 5 <= error["details"]["retry_after_seconds"] <= COOLDOWN
    assert response.headers["Retry-After"] == str(error["details"]["retry_after_seconds"])


async def test_releasing_everything_and_letting_the_empty_hold_lapse_keeps_the_lifetime(
    sweeperless_client, db, user
):
    client = await _lineage_client(sweeperless_client)
    hall = await create_hall(db, rows=1, seats_per_row=3)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2"))).status == 201
    assert (await release(client, user, hall.showtime_id)).status == 204
    # The empty hold, 110 s into its holding, ran out a moment ago.
    await _ran_out(db, user, hall.showtime_id, held_for=LIFETIME - 10, ended_ago=0.5)

    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A3"))
    assert response.status == 201, await response.text()
    assert await _seconds_left(db, await response.json()) <= 10


async def test_a_break_as_long_as_the_cooldown_starts_a_fresh_holding(sweeperless_client, db, user):
    client = await _lineage_client(sweeperless_client)
    hall = await create_hall(db, rows=1, seats_per_row=3)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    # Held up to its cap, then nothing for longer than the cooldown.
    await _ran_out(db, user, hall.showtime_id, held_for=LIFETIME, ended_ago=COOLDOWN + 1)

    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))
    assert response.status == 201, await response.text()
    assert await _seconds_left(db, await response.json()) > TTL - 5


async def test_another_users_holding_is_not_continued(sweeperless_client, db, user, make_account):
    client = await _lineage_client(sweeperless_client)
    hall = await create_hall(db, rows=1, seats_per_row=3)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    await _ran_out(db, user, hall.showtime_id, held_for=LIFETIME - 2)

    other = await make_account()
    response = await hold_seats(client, other, hall.showtime_id, hall.ids("A1"))
    assert response.status == 201, await response.text()
    assert await _seconds_left(db, await response.json()) > TTL - 5
