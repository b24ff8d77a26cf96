"""Each seat change is one statement, its answer included."""

from __future__ import annotations

import asyncio
import datetime as dt

from reservations.db import QUERIES
from tests.api import (
    API,
    book_tickets,
    hold_seats,
    hold_seats_after_a_wait,
    reserve,
)
from tests.factories import create_drawn_hall, create_hall, create_showtime
from tests.statements import listening, named, pool_statements, rows_read, sequential_scans

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


async def test_a_booking_s_answer_reads_its_own_rows_not_every_showtime_and_voucher(
    quiet_client, db, user
):
    """The reservation a booking answers is read under the showtime's lock, with the plan that
    PostgreSQL keeps for every call (reservation_rows). It reads the reservation's showtime,
    movie, theater and voucher by their keys: counted in this transaction's table statistics,
    with 40 showtimes and 30 vouchers around it."""
    client = quiet_client
    hall = await create_hall(db, rows=1, seats_per_row=2)
    for day in range(2, 42):
        await create_showtime(db, hall, dt.timedelta(days=day))
    await db.execute(
        "INSERT INTO vouchers (code, discount_percent)"
        " SELECT 'OTHER-' || g, 5 FROM generate_series(1, 30) AS g"
    )
    await db.execute("INSERT INTO vouchers (code, discount_percent) VALUES ('TEN-OFF', 10)")
    seats = hall.ids("A1", "A2")
    assert (await hold_seats(client, user, hall.showtime_id, seats)).status == 201
    booked = await book_tickets(client, user, hall.showtime_id, dict.fromkeys(seats), "TEN-OFF")
    assert booked.status == 201, await booked.text()
    reservation_id = (await booked.json())["id"]
    tables = ("reservations", "showtimes", "vouchers")
    async with db.transaction():
        for call in range(8):
            before = await rows_read(db, *tables)
            (row,) = await db.fetch(
                "SELECT * FROM reservation_rows(ARRAY[$1::uuid])", reservation_id
            )
            read = await rows_read(db, *tables) - before
            assert row["voucher_code"] == "TEN-OFF"
            # Its own reservation, showtime and voucher.
            assert read["reservations"] <= 1 and read["vouchers"] <= 1, (call, read)
            assert read["showtimes"] <= 1, (call, read)


async def test_seat_changes_read_by_key_however_young_the_database(db, user):
    """Holds, bookings and cancellations read each row by its key, with the plans PostgreSQL
    keeps for the session (the entry points run with enable_seqscan off). Before, on a young
    database those plans read whole tables: here the seats and the reservations; in one of 55
    showtimes that had taken a few thousand bookings, the showtimes table (each seat change
    leaves a dead version of its row) 11 times a hold and booking, and the holds table 4
    times. Only the ticket types (a handful of rows, no index to choose) may be read whole."""
    hall = await create_hall(db, rows=1, seats_per_row=8)
    for day in range(2, 12):
        await create_showtime(db, hall, dt.timedelta(days=day))
    async with db.transaction():
        for call, seats in enumerate((["A1", "A2"], ["A3", "A4"], ["A5", "A6"], ["A7", "A8"])):
            before = await sequential_scans(db)
            seat_ids = hall.ids(*seats)
            await db.fetchval(
                QUERIES.hold_seats, hall.showtime_id, user.id, seat_ids,
                600, 1800, 10, 1000, 0, "off", 1000,
            )  # fmt: skip
            booked = await db.fetchrow(
                QUERIES.book_held_seats, hall.showtime_id, user.id, seat_ids, None, None,
                [f"CODE-{call}"], None, None, None, "off", None, 60, 10, 30,
            )  # fmt: skip
            assert booked["id"] is not None, booked
            await db.fetchrow(QUERIES.cancel_reservation, booked["id"], user.id, False)
            scanned = await sequential_scans(db) - before
            assert set(scanned) <= {"ticket_types"}, (call, scanned)


async def test_a_booking_asks_the_voucher_guessing_limit_once(db):
    """The limit's answer gates the booking and is answered with it: asked twice, a wrong
    guess of the same user's in between could answer 429 for a booking already made."""
    parameters = "uuid, uuid, uuid[], text[], text, text[], text, text, numeric, text, text, "
    await db.execute(
        f"PREPARE booking ({parameters}float8, integer, float8) AS {QUERIES.book_held_seats}"
    )
    await db.execute("SET plan_cache_mode = force_generic_plan")
    plan = "\n".join(
        row[0]
        for row in await db.fetch(
            "EXPLAIN VERBOSE EXECUTE booking"
            " (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
        )
    )
    assert plan.count("voucher_guessing_wait(") == 1, plan
