"""The cache of users behind every authenticated request (reservations/accounts/user_cache.py):
no query for the user while the instance listens, and still every revocation, role change and
deletion honoured: within the NOTIFY delay when made elsewhere, at once when made by this
instance or while its listener is down.

Changes "made elsewhere" are written with the tests' own asyncpg connection, as the create-admin
command or another instance writes them.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import asyncpg
import orjson
from aiohttp import WSMsgType

from reservations.accounts.tokens import issue_token
from reservations.accounts.user_cache import UserCache
from reservations.context import USERS
from reservations.db import QUERIES
from reservations.live.listener import APPLICATION_NAME, LISTENER
from tests.api import API, book, status_of
from tests.factories import TEST_JWT_SECRET, Account, create_hall, hold_directly
from tests.live_map import answers_within, eventually, watch
from tests.statements import listening, pool_statements

ME = f"{API}/auth/me"
ADMIN_ROUTE = f"{API}/admin/reports/popular-movies"
USERS_TABLE = re.compile(r"\busers\b", re.IGNORECASE)


def users_queries(app: Any) -> Any:
    """Every statement naming the users table that the app's pool runs in the block."""
    return pool_statements(app, USERS_TABLE)


async def deafen(client: Any) -> None:
    """Stop the listener but let the cache serve as if it listened: as if every NOTIFY were
    late. What the instance itself does must then show without any notification."""
    await client.app[LISTENER].stop()
    client.app[USERS].set_listening(True)


def reissued(account: Account, generation: int) -> Account:
    """The account with a token of this generation (one issued after a revocation)."""
    token = issue_token(account.id, TEST_JWT_SECRET, 3600, generation)
    return Account(account.id, account.email, token, account.role)


# --- no query while listening ------------------------------------------------------------------


async def test_while_listening_a_users_requests_read_the_user_once(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    await listening(client)
    with users_queries(client.app) as queries:
        for _ in range(10):
            assert await status_of(client, ME, user.headers) == 200
        await book(client, user, hall.showtime_id, hall.ids("A1"))  # hold, then confirm
        await asyncio.sleep(0)  # query loggers are called soon after the query
    assert len(queries) == 1, queries  # the first request's; 11 more were served from the cache


async def test_with_the_listener_down_every_request_reads_the_user(client, db, user):
    await listening(client)
    assert await status_of(client, ME, user.headers) == 200
    await client.app[LISTENER].stop()  # its connection is gone: changes may go unheard
    with users_queries(client.app) as queries:
        for _ in range(5):
            assert await status_of(client, ME, user.headers) == 200
        await asyncio.sleep(0)
    assert len(queries) == 5
    # A revocation made elsewhere then takes effect at once: no notification to wait for.
    await db.execute(
        "UPDATE users SET token_generation = token_generation + 1 WHERE id = $1", user.id
    )
    assert await status_of(client, ME, user.headers) == 401


async def test_a_lost_listener_connection_forgets_every_user(client, db, user, admin):
    await listening(client)
    users = client.app[USERS]
    assert await status_of(client, ME, user.headers) == 200
    assert await status_of(client, ME, admin.headers) == 200
    assert len(users) == 2
    listener = client.app[LISTENER]
    terminated = await db.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = $1 AND datname = current_database()",
        APPLICATION_NAME,
    )
    assert terminated == 1
    # Committed while (probably) nobody listens: it must not be missed.
    await db.execute("UPDATE users SET role = 'user' WHERE id = $1", admin.id)
    await eventually(lambda: listener.connections == 2)
    assert users.listening and len(users) == 0
    assert await status_of(client, ADMIN_ROUTE, admin.headers) == 403
    assert await status_of(client, ME, user.headers) == 200


# --- changes made elsewhere: within the NOTIFY delay ---------------------------------------------


async def test_a_token_revoked_by_create_admin_elsewhere_stops_working_within_the_notify_delay(
    client, db, user
):
    await listening(client)
    assert await status_of(client, ME, user.headers) == 200
    assert await status_of(client, ADMIN_ROUTE, user.headers) == 403
    # The statement the create-admin command runs, from its own connection.
    taken_over = await db.fetchrow(QUERIES.upsert_admin, user.email, "not-a-hash")
    assert taken_over["existed"] and taken_over["role"] == "admin"
    await answers_within(lambda: status_of(client, ME, user.headers), 401)
    # The new admin's token (the next generation) opens the admin routes on this instance.
    assert await status_of(client, ADMIN_ROUTE, reissued(user, 1).headers) == 200


async def test_a_demoted_admin_loses_the_admin_routes_within_the_notify_delay(client, db, admin):
    await listening(client)
    assert await status_of(client, ADMIN_ROUTE, admin.headers) == 200
    assert await status_of(client, ADMIN_ROUTE, admin.headers) == 200  # served from the cache
    await db.execute("UPDATE users SET role = 'user' WHERE id = $1", admin.id)
    await answers_within(lambda: status_of(client, ADMIN_ROUTE, admin.headers), 403)
    assert await status_of(client, ME, admin.headers) == 200  # still a user


async def test_a_deleted_users_token_stops_working_within_the_notify_delay(client, db, user):
    await listening(client)
    assert await status_of(client, ME, user.headers) == 200
    await db.execute("DELETE FROM users WHERE id = $1", user.id)
    await answers_within(lambda: status_of(client, ME, user.headers), 401)


async def test_a_changed_email_shows_within_the_notify_delay(client, db, user):
    await listening(client)
    assert await status_of(client, ME, user.headers) == 200

    async def email() -> Any:
        response = await client.get(ME, headers=user.headers)
        return (await response.json())["email"]

    await db.execute("UPDATE users SET email = 'renamed@example.com' WHERE id = $1", user.id)
    await answers_within(email, "renamed@example.com")


async def test_a_live_map_token_revoked_elsewhere_marks_nothing_within_the_notify_delay(
    client, db, user
):
    await listening(client)
    hall = await create_hall(db, rows=1, seats_per_row=2)
    await hold_directly(db, user.id, hall.showtime_id, hall.ids("A1"), expires_in=600)

    async def marked() -> int:
        ws = await watch(client, hall.showtime_id, token=user.token)
        try:
            first = await ws.receive(timeout=3.0)
        finally:
            await ws.close()
        if first.type is WSMsgType.CLOSE:
            # The revocation reached the hub while the socket opened: closed before its
            # snapshot, which marks nothing either.
            assert (first.data, first.extra) == (1008, "token revoked"), first
            return 0
        snapshot = orjson.loads(first.data)
        assert snapshot["type"] == "snapshot", snapshot
        return sum(bool(seat.get("held_by_me")) for seat in snapshot["seats"])

    assert await marked() == 1
    assert await status_of(client, ME, user.headers) == 200  # the user is cached
    await db.execute(
        "UPDATE users SET token_generation = token_generation + 1 WHERE id = $1", user.id
    )
    await answers_within(marked, 0)


# --- this instance's own changes: at once ----------------------------------------------------------


async def test_a_promotion_through_the_api_takes_effect_on_the_next_request(
    client, db, user, admin
):
    await listening(client)
    assert await status_of(client, ADMIN_ROUTE, user.headers) == 403  # the user, cached as a user
    await deafen(client)  # no notification will come: the promotion itself must drop it
    assert await status_of(client, ADMIN_ROUTE, user.headers) == 403  # still cached
    promoted = await client.post(f"{API}/admin/users/{user.id}/promote", headers=admin.headers)
    assert promoted.status == 200, await promoted.text()
    assert await status_of(client, ADMIN_ROUTE, user.headers) == 200


async def test_a_token_issued_after_a_revocation_works_before_its_notification(client, db, user):
    await listening(client)
    assert await status_of(client, ME, user.headers) == 200
    await deafen(client)
    await db.execute("UPDATE users SET token_generation = 1 WHERE id = $1", user.id)
    # The cached row is of generation 0; a newer token means it is stale: read afresh.
    assert await status_of(client, ME, reissued(user, 1).headers) == 200
    assert (
        await status_of(client, ME, user.headers) == 401
    )  # and the old one is refused with no wait


async def test_an_unknown_users_token_is_refused(client):
    stranger = Account(
        uuid.uuid4(), "x@example.com", issue_token(uuid.uuid4(), TEST_JWT_SECRET, 60), "user"
    )
    await listening(client)
    assert await status_of(client, ME, stranger.headers) == 401


# --- the cache's own rules -----------------------------------------------------------------------


async def user_row(db: asyncpg.Connection, user_id: uuid.UUID) -> asyncpg.Record:
    row = await db.fetchrow(QUERIES.find_user_by_id, user_id)
    assert row is not None
    return row


async def test_a_read_that_raced_an_invalidation_is_not_stored(db, user, admin):
    users = UserCache()
    users.set_listening(True)
    row = await user_row(db, user.id)

    began = users.generation()
    users.user_changed(user.id)  # heard while the read was on its way
    users.put(user.id, row, began)
    assert users.serve(user.id) is None

    began = users.generation()
    users.user_changed(admin.id)  # another user's change does not matter
    users.put(user.id, row, began)
    assert users.serve(user.id) is row

    for change in (users.all_changed, lambda: users.set_listening(True)):
        began = users.generation()
        users.user_changed(user.id)
        change()
        users.put(user.id, row, began)
        assert users.serve(user.id) is None


async def test_a_forgotten_invalidation_still_refuses_the_reads_it_raced(db, user):
    users = UserCache(max_entries=2)
    users.set_listening(True)
    row = await user_row(db, user.id)
    began = users.generation()
    users.user_changed(user.id)
    users.user_changed(uuid.uuid4())
    users.user_changed(uuid.uuid4())  # the user's invalidation is no longer remembered
    users.put(user.id, row, began)
    assert users.serve(user.id) is None
    users.put(user.id, row, users.generation())
    assert users.serve(user.id) is row


async def test_the_cache_keeps_the_users_used_last_and_serves_only_while_listening(db, user, admin):
    users = UserCache(max_entries=2)
    rows = {account.id: await user_row(db, account.id) for account in (user, admin)}
    users.put(user.id, rows[user.id], users.generation())
    assert len(users) == 0  # not listening: nothing stored
    users.set_listening(True)
    for user_id, row in rows.items():
        users.put(user_id, row, users.generation())
    assert users.serve(user.id) is rows[user.id]  # the admin is now the least recently used
    third = uuid.uuid4()
    users.put(third, rows[admin.id], users.generation())
    assert len(users) == 2 and users.serve(admin.id) is None and users.serve(third) is not None
    users.set_listening(False)
    assert len(users) == 0 and users.serve(user.id) is None
