"""Small reliability fixes (issue 28 item 7), each held by a test that failed before it."""

from __future__ import annotations

from tests.api import hold_seats, reserve, seat_map
from tests.factories import create_hall

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
