"""The sweeper: expired holds freed and announced, on every instance."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg

from reservations.context import SWEEPER
from tests.api import (
    hold_seats,
    seat_map,
)
from tests.factories import create_hall
from tests.sweepers import expire_all_holds, expired_holds_of_one_seat_each, sweeper_for

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
        while len(announced) < len(seats):  # they arrive a moment after the sweeps' commits
            _, _, changes = await notifications.next()
            announced += [change["id"] for change in changes]
        assert sorted(announced) == sorted(str(seat) for seat in seats)
        await notifications.assert_silent()
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
