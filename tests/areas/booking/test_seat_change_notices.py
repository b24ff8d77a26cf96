"""Every seat change bumps the showtime's version and is announced, once, on commit."""

from __future__ import annotations

from tests.api import (
    error_of,
    hold_seats,
    release,
    reserve,
    seat_map,
)
from tests.factories import create_hall

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
