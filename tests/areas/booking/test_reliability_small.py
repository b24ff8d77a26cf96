"""Small reliability fixes (issue 28 item 7), each held by a test that failed before it."""

from __future__ import annotations

import urllib.parse

import psycopg

from reservations.app import create_app
from reservations.booking import holds
from tests.api import best_available, error_of, hold_seats, release, reserve, seat_map
from tests.factories import create_hall


def db_name(dsn: str) -> str:
    return urllib.parse.urlsplit(dsn).path.lstrip("/")


# --- an Idempotency-Key is kept out of the showtimes' lock keyspace ------------------------------


async def test_an_idempotency_key_never_meets_a_showtime_lock(client, database, db, user):
    """A showtime's lock is a bigint advisory key. Before, a key's lock was one too
    (hashtextextended(user:key, 728)), so a key chosen to match a showtime's lock answered
    request_in_flight while that showtime changed, and held its seat changes while in flight.
    Here the bigint lock such a key used to take is held from outside, as a colliding showtime's
    lock would be: the booking with that key goes through."""
    hall = await create_hall(db, rows=1, seats_per_row=2)
    key = "chosen-to-collide"
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))).status == 201
    async with db.transaction():
        await db.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1::text || ':' || $2, 728))",
            str(user.id),
            key,
        )
        response = await reserve(client, user, hall.showtime_id, hall.ids("A1"), key=key)
        assert response.status == 201, await response.text()
    assert (await seat_map(client, hall.showtime_id))["available_seats"] == 1


# --- seat changes run with a pinned search_path ----------------------------------------------


async def test_a_schema_first_in_the_callers_search_path_does_not_change_a_hold(
    aiohttp_client, settings, database, db, user, make_account
):
    """A table and a function of the service's names in a schema that comes first in the
    service's search_path: before, hold_seats wrote its claim into the shadow table (the real
    map still showed the seat free) and priced it with the shadow function."""
    hall = await create_hall(db, rows=1, seats_per_row=2)
    await db.execute(
        """
        CREATE SCHEMA shadow;
        CREATE TABLE shadow.seat_claims (LIKE public.seat_claims INCLUDING DEFAULTS);
        CREATE FUNCTION shadow.ticket_price(numeric, numeric, numeric, numeric, numeric)
        RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT 0.00';
        """
    )
    await db.execute(f'ALTER DATABASE "{db_name(database)}" SET search_path = shadow, public')
    client = await aiohttp_client(create_app(settings, database))

    response = await hold_seats(client, user, hall.showtime_id, hall.ids("A1"))
    assert response.status == 201, await response.text()
    assert (await response.json())["total_price"] == "10.00"
    assert await db.fetchval("SELECT count(*) FROM public.seat_claims") == 1
    assert await db.fetchval("SELECT count(*) FROM shadow.seat_claims") == 0
    rival = await hold_seats(client, await make_account(), hall.showtime_id, hall.ids("A1"))
    assert rival.status == 409


# --- the gap rule 'enforce' holds for releases and part-bookings too ----------------------------


async def test_releasing_the_middle_seat_of_a_hold_cannot_strand_it(sweeperless_client, db, user):
    client = await sweeperless_client(single_seat_gap_rule="enforce")
    hall = await create_hall(db, rows=1, seats_per_row=5)
    assert (
        await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2", "A3"))
    ).status == 201

    response = await release(client, user, hall.showtime_id, hall.ids("A2"))
    error = await error_of(response, 409)
    assert error["code"] == "would_strand_seat"
    assert error["details"] == {"stranded_seat_ids": hall.ids("A2")}
    assert await db.fetchval("SELECT count(*) FROM seat_claims") == 3
    # Releasing from the end leaves no single seat; releasing everything is always fine.
    assert (await release(client, user, hall.showtime_id, hall.ids("A3"))).status == 204
    assert (await release(client, user, hall.showtime_id)).status == 204
    assert await db.fetchval("SELECT count(*) FROM seat_claims") == 0


async def test_booking_the_ends_of_a_hold_cannot_strand_its_middle(sweeperless_client, db, user):
    client = await sweeperless_client(single_seat_gap_rule="enforce")
    hall = await create_hall(db, rows=1, seats_per_row=5)
    assert (
        await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2", "A3"))
    ).status == 201

    response = await reserve(client, user, hall.showtime_id, hall.ids("A1", "A3"))
    error = await error_of(response, 409)
    assert error["code"] == "would_strand_seat"
    assert error["details"] == {"stranded_seat_ids": hall.ids("A2")}
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0
    # Two seats side by side out of the three strand nothing.
    assert (await reserve(client, user, hall.showtime_id, hall.ids("A1", "A2"))).status == 201


async def test_under_warn_a_release_may_leave_a_single_seat(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=5)
    assert (
        await hold_seats(client, user, hall.showtime_id, hall.ids("A1", "A2", "A3"))
    ).status == 201
    assert (await release(client, user, hall.showtime_id, hall.ids("A2"))).status == 204


# --- best-available chooses before it takes the showtime's lock ---------------------------------


async def test_best_available_chooses_its_seats_without_holding_the_showtime_lock(
    client, database, db, user, monkeypatch
):
    """While best-available searches in Python, the showtime's lock is free for every other
    seat change: a probe from outside, made from inside the search, can take it."""
    hall = await create_hall(db, rows=2, seats_per_row=6)
    probes = []
    choose = holds.best_available

    def probing(*args, **kwargs):
        with psycopg.connect(database, autocommit=True) as probe:
            key = "SELECT hashtextextended(%s::text, 727)"
            (lock,) = probe.execute(key, (str(hall.showtime_id),)).fetchone()
            (taken,) = probe.execute("SELECT pg_try_advisory_lock(%s)", (lock,)).fetchone()
            probes.append(taken)
            probe.execute("SELECT pg_advisory_unlock_all()")
        return choose(*args, **kwargs)

    monkeypatch.setattr(holds, "best_available", probing)
    response = await best_available(client, user, hall.showtime_id, count=2)
    assert response.status == 201, await response.text()
    assert probes == [True]
    assert len((await response.json())["locked_seat_ids"]) == 2
