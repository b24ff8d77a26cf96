"""Each seat change is one statement, its answer included."""

from __future__ import annotations

import asyncio

from tests.api import (
    API,
    hold_seats,
    hold_seats_after_a_wait,
    reserve,
)
from tests.factories import create_drawn_hall
from tests.statements import listening, named, pool_statements

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
