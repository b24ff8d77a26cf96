"""What the speed-ups must not change: the cached seat map, direct writes to live viewers, and
bcrypt's low-priority threads, the sweeper's backlog, the pool's skipped reset (see
bench/ for the speed itself)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import signal
import struct
import sys
import uuid

import orjson
import pytest
from aiohttp.test_utils import TestServer

from reservations.accounts.passwords import PasswordHasher, hashing_pool
from reservations.app import create_app
from reservations.booking.seat_map import CachedSeatMap, SeatMapCache
from reservations.context import PASSWORDS, POOL, SEAT_MAPS
from reservations.db import QUERIES, create_pool
from reservations.live.hub import text_frame
from reservations.representations import Representation
from reservations.server import hashing_processes
from reservations.settings import Settings
from tests.api import book, hold_seats, release, seat_map, statuses
from tests.factories import create_hall, hold_directly
from tests.sweepers import expired_holds_of_one_seat_each, sweeper_for


def cache_of(client) -> SeatMapCache:
    return client.app[SEAT_MAPS]


async def test_the_cached_seat_map_follows_every_change(client, db, user, make_account):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    cache = cache_of(client)
    first = await seat_map(client, hall.showtime_id)
    assert await seat_map(client, hall.showtime_id) == first
    assert cache.hits == 1

    a1, a2 = hall.ids("A1", "A2")
    assert (await hold_seats(client, user, hall.showtime_id, [a1])).status == 201
    assert statuses(await seat_map(client, hall.showtime_id))[a1] == "held"
    other = await make_account()
    await book(client, other, hall.showtime_id, [a2])
    body = await seat_map(client, hall.showtime_id)
    assert statuses(body)[a2] == "sold" and body["available_seats"] == 2
    assert (await release(client, user, hall.showtime_id)).status == 204
    body = await seat_map(client, hall.showtime_id)
    assert statuses(body)[a1] == "available" and body["available_seats"] == 3

    # A new price written by another instance (updated_at moves, the version does not) is
    # seen within the NOTIFY delay.
    await db.execute(QUERIES.update_showtime_price, hall.showtime_id, 20)
    assert await within_a_second(
        lambda: seat_map(client, hall.showtime_id),
        lambda body: body["seats"][0]["price"] == "20.00",
    )
    # And the map a fresh read gives is the one served.
    assert await seat_map(client, hall.showtime_id) == await seat_map(client, hall.showtime_id)
    assert cache.hits >= 2


async def test_the_cached_seat_map_frees_an_expired_hold_without_a_new_version(
    sweeperless_client, db, user
):
    client = await sweeperless_client(hold_ttl_seconds=1)
    hall = await create_hall(db, rows=1, seats_per_row=2)
    a1 = hall.ids("A1")[0]
    assert (await hold_seats(client, user, hall.showtime_id, [a1])).status == 201
    held = await seat_map(client, hall.showtime_id)
    assert statuses(held)[a1] == "held"
    assert await seat_map(client, hall.showtime_id) == held  # served from the cache

    await asyncio.sleep(1.2)
    # Nobody swept the hold and the version did not move, yet the seat is free for everyone.
    assert await db.fetchval("SELECT count(*) FROM holds") == 1
    freed = await seat_map(client, hall.showtime_id)
    assert freed["version"] == held["version"]
    assert statuses(freed)[a1] == "available" and freed["available_seats"] == 2


async def test_a_token_gets_its_own_marks_not_the_public_map(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    a1 = hall.ids("A1")[0]
    assert (await hold_seats(client, user, hall.showtime_id, [a1])).status == 201
    public = await seat_map(client, hall.showtime_id)
    assert "held_by_me" not in public["seats"][0]
    mine = await seat_map(client, hall.showtime_id, user)
    assert mine["seats"][0]["held_by_me"] is True
    assert "held_by_me" not in (await seat_map(client, hall.showtime_id))["seats"][0]


async def within_a_second(read, done) -> bool:
    """Whether `done(await read())` comes true within a second (a NOTIFY's delay, and then
    some on a busy machine)."""
    for _ in range(50):
        if done(await read()):
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_cancelled_showtime_is_not_served_from_the_cache(client, db):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    await seat_map(client, hall.showtime_id)
    # Cancelled by another instance, straight in the database.
    await db.execute("UPDATE showtimes SET cancelled_at = now() WHERE id = $1", hall.showtime_id)
    path = f"/api/v1/showtimes/{hall.showtime_id}/seats"
    assert await within_a_second(lambda: client.get(path), lambda response: response.status == 404)


def test_the_seat_map_cache_is_bounded_and_keeps_the_newest_version():
    cache = SeatMapCache(max_entries=2)
    moment = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    ids = [uuid.uuid4() for _ in range(3)]

    def cached(version: int) -> CachedSeatMap:
        body = f"v{version}".encode()
        return CachedSeatMap(version, moment, None, Representation(body, body.decode()))

    for showtime_id in ids:
        cache.put(showtime_id, cached(5))
    assert cache.get(ids[0], 5, moment, moment) is None  # evicted: least recently used
    assert cache.get(ids[2], 5, moment, moment).body == b"v5"
    cache.put(ids[2], cached(4))  # a slower, older read
    assert cache.get(ids[2], 5, moment, moment).body == b"v5"
    assert cache.get(ids[2], 6, moment, moment) is None


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_a_text_frame_is_one_final_unmasked_frame(size):
    payload = orjson.dumps("x" * max(size - 2, 0))[:size]
    frame = text_frame(payload)
    assert frame[0] == 0x81  # FIN, text
    assert frame[1] & 0x80 == 0  # not masked
    length = frame[1] & 0x7F
    if length == 126:
        length, offset = struct.unpack("!H", frame[2:4])[0], 4
    elif length == 127:
        length, offset = struct.unpack("!Q", frame[2:10])[0], 10
    else:
        offset = 2
    assert length == size and frame[offset:] == payload


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's")
async def test_bcrypt_runs_at_the_lowest_priority_in_processes_of_its_own():
    hasher = PasswordHasher(rounds=4)
    await hasher.start()
    assert await hasher.check("password", await hasher.hash("password"))
    assert not await hasher.check("wrong password", await hasher.hash("password"))
    assert not await hasher.check("password", None)  # the decoy
    loop = asyncio.get_running_loop()
    pool = hashing_pool(hasher.processes)
    assert await loop.run_in_executor(pool, os.getpid) != os.getpid()
    policy = await loop.run_in_executor(pool, os.sched_getscheduler, 0)
    niceness = await loop.run_in_executor(pool, os.getpriority, os.PRIO_PROCESS, 0)
    assert policy == os.SCHED_IDLE or niceness == 19
    # The event loop keeps its normal priority.
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


async def test_a_hashing_process_killed_is_replaced_and_the_check_still_answers():
    hasher = PasswordHasher(rounds=4, processes=1)
    hashed = await hasher.hash("password")
    loop = asyncio.get_running_loop()
    pool = hashing_pool(1)
    os.kill(await loop.run_in_executor(pool, os.getpid), signal.SIGKILL)
    assert await hasher.check("password", hashed)
    assert hashing_pool(1) is not pool


async def test_a_backlog_of_expired_holds_is_swept_batch_after_batch_without_waiting(
    quiet_client, db, database, settings, make_account
):
    client = quiet_client
    sweeper, pool = await sweeper_for(
        database, settings, sweep_batch_size=2, sweep_interval_seconds=3600
    )
    try:
        hall = await create_hall(db, rows=1, seats_per_row=5)
        await expired_holds_of_one_seat_each(
            client, db, make_account, hall, ["A1", "A2", "A3", "A4", "A5"]
        )
        sweeper.start()
        # Three batches of at most two, a short pause apart, not one batch an hour.
        async with asyncio.timeout(3):
            while sweeper.freed_holds < 5:  # noqa: ASYNC110 - the sweeper's own counter
                await asyncio.sleep(0.05)
        assert sweeper.runs == 3 and not sweeper.backlog
        assert await db.fetchval("SELECT count(*) FROM holds") == 0
    finally:
        await sweeper.stop()
        await pool.close()


async def test_a_pool_keeps_all_its_connections_open_unless_told_otherwise(database):
    """A burst finds them open: opening a dozen at once costs PostgreSQL a tenth of a second
    of CPU, and the requests meanwhile wait (bench/, the seat map during a login storm)."""
    for minimum, opened in ((0, 3), (1, 1)):
        settings = Settings(database_url=database, db_pool_min_size=minimum, db_pool_max_size=3)
        pool = await create_pool(database, settings)
        try:
            assert pool.get_size() == opened
        finally:
            await pool.close()


async def test_a_connection_given_back_mid_transaction_comes_back_clean(database, settings):
    """The pool skips asyncpg's reset query; an open transaction is still rolled back, and a
    transaction-local setting goes with it."""
    pool = await create_pool(
        database, dataclasses.replace(settings, db_pool_min_size=1, db_pool_max_size=1)
    )
    try:
        conn = await pool.acquire()
        backend = conn.get_server_pid()
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("SELECT set_config('lock_timeout', '1234', true)")
        await pool.release(conn)
        async with pool.acquire() as again:
            assert again.get_server_pid() == backend  # the one connection of the pool
            assert not again.is_in_transaction()
            assert await again.fetchval("SHOW lock_timeout") != "1234ms"
    finally:
        await pool.close()


def test_workers_share_one_hashing_process_a_core():
    assert hashing_processes(1, cores=2) == 2
    assert hashing_processes(2, cores=2) == 1
    assert hashing_processes(4, cores=2) == 1
    assert hashing_processes(2, cores=8) == 4


async def test_the_app_hashes_in_the_processes_it_is_given(make_settings, database):
    app = create_app(make_settings(hashing_processes=1), database)
    async with TestServer(app):
        assert app[PASSWORDS].processes == 1
        assert len(hashing_pool(1)._processes) == 1  # started with the app


async def test_while_listening_the_cached_seat_map_costs_no_query(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    cache = cache_of(client)
    assert await within_a_second(lambda: asyncio.sleep(0, cache.listening), bool)
    pool = client.app[POOL]
    acquired = 0
    acquire = pool.acquire

    def counting_acquire(*args, **kwargs):
        nonlocal acquired
        acquired += 1
        return acquire(*args, **kwargs)

    pool.acquire = counting_acquire
    try:
        first = await seat_map(client, hall.showtime_id)
        reads = acquired
        for _ in range(5):
            assert await seat_map(client, hall.showtime_id) == first
        assert acquired == reads  # five answers, not one query
        # A change made elsewhere (straight in the database) is heard, and the next read is fresh.
        await hold_directly(db, user.id, hall.showtime_id, hall.ids("A1"))
        assert await within_a_second(
            lambda: seat_map(client, hall.showtime_id),
            lambda body: statuses(body)[hall.ids("A1")[0]] == "held",
        )
    finally:
        pool.acquire = acquire


async def test_a_personal_map_is_the_cached_one_with_the_callers_holds(
    client, db, user, make_account
):
    """A caller with a token costs one small statement, not a read of every seat, while the
    cached map is right; the answer is byte for byte the one a full read gives."""
    hall = await create_hall(db, rows=1, seats_per_row=4)
    rival = await make_account("user")
    cache = cache_of(client)
    assert await within_a_second(lambda: asyncio.sleep(0, cache.listening), bool)
    assert (await hold_seats(client, user, hall.showtime_id, hall.ids("A2"))).status == 201
    assert (await hold_seats(client, rival, hall.showtime_id, hall.ids("A3"))).status == 201
    path = f"/api/v1/showtimes/{hall.showtime_id}/seats"

    async def personal(account) -> tuple[bytes, str]:
        response = await client.get(path, headers=account.headers)
        assert response.status == 200
        return await response.read(), response.headers["ETag"]

    async def anonymous_map_cached():
        await seat_map(client, hall.showtime_id)
        return cache.entry(hall.showtime_id)

    # The anonymous map, cached: a read that the NOTIFY of a hold overtook is not kept.
    assert await within_a_second(anonymous_map_cached, lambda entry: entry is not None)
    reads = cache.reads
    made, made_tag = await personal(user)
    assert cache.reads == reads  # made from the cached map
    flags = {seat["seat_label"]: seat["held_by_me"] for seat in orjson.loads(made)["seats"]}
    assert flags == {"A1": False, "A2": True, "A3": False, "A4": False}
    other, _ = await personal(rival)
    assert {s["seat_label"] for s in orjson.loads(other)["seats"] if s["held_by_me"]} == {"A3"}

    cache.showtime_changed(hall.showtime_id)  # nothing cached: a full read
    read, read_tag = await personal(user)
    assert cache.reads == reads + 1
    assert (read, read_tag) == (made, made_tag)

    # A change the cache has not heard of yet: the statement's version is newer than the
    # cached map's, so the map is read in full, with the change.
    await seat_map(client, hall.showtime_id)
    async with db.transaction():
        await db.execute("DELETE FROM seat_claims WHERE seat_id = $1", hall.ids("A2")[0])
        await db.execute(
            "UPDATE showtimes SET version = version + 1 WHERE id = $1", hall.showtime_id
        )
    unheard = orjson.loads((await personal(user))[0])
    assert unheard["version"] > orjson.loads(made)["version"]
    a2 = next(seat for seat in unheard["seats"] if seat["seat_label"] == "A2")
    assert a2["status"] == "available" and a2["held_by_me"] is False


async def test_with_the_listener_down_the_cache_asks_the_database(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    cache = cache_of(client)
    await seat_map(client, hall.showtime_id)
    cache.set_listening(False)  # as the listener does when its connection drops
    await seat_map(client, hall.showtime_id)  # cached again, but checked against the database
    await db.execute(
        "UPDATE showtimes SET version = version + 1 WHERE id = $1",
        hall.showtime_id,
    )
    # No notification is heard (the cache is not listening): the freshness read sees it.
    assert cache.serve(hall.showtime_id) is None
    body = await seat_map(client, hall.showtime_id)
    assert body["version"] == 1
