"""Abuse resistance (issue 19): limits that hold under concurrency and cannot be turned against
the people they protect, tokens that can be revoked and kept out of URLs, a live map that a
flood of viewers or resyncs cannot exhaust."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid

import aiohttp
import asyncpg
import bcrypt
import jwt
import pytest

from reservations.accounts import service
from reservations.addresses import client_network
from reservations.app import create_app
from reservations.booking.changes import AVAILABLE, HELD
from reservations.context import HUB, PASSWORDS, POOL
from reservations.errors import RateLimited
from reservations.live.hub import RESYNC_INTERVAL_SECONDS, Hub
from reservations.live.listener import LISTENER
from reservations.settings import Settings, SettingsError
from tests.api import PASSWORD, login, register, status_of, statuses
from tests.factories import TEST_JWT_SECRET, create_hall, create_user, hold_directly
from tests.live_map import (
    answers_within,
    change_seats,
    close_code,
    eventually,
    next_message,
    snapshot_of,
    snapshot_on_connect,
    upgrade_headers,
    watch,
)
from tests.servers import (
    free_port,
    gone_within,
    hashing_processes_of,
    kill_tree,
    run_serve,
    serve_environment,
    start_server,
    statuses_on_new_connections,
    stop,
    workers_listening,
)


async def login_from(app, address, email="ann@example.com", password=PASSWORD, device=None):
    """A login as the service sees it from `address` (with the device token `device`): the
    token, or the error raised."""
    try:
        return await service.login(
            app[POOL],
            app[PASSWORDS],
            app["settings_for_tests"],
            email=email,
            password=password,
            address=address,
            device_token=device,
        )
    except Exception as exc:  # noqa: BLE001 - the caller looks at what it was
        return exc


@pytest.fixture
async def app_client(aiohttp_client, make_settings, database):
    """A client on an app with these settings; `app["settings_for_tests"]` is them."""

    async def start(**changes):
        settings = make_settings(**changes)
        app = create_app(settings, database)
        app["settings_for_tests"] = settings
        return await aiohttp_client(app)

    return start


# -- item 1: the login limit holds under concurrency --------------------------------------


async def test_200_concurrent_wrong_guesses_hash_at_most_the_limit(app_client):
    client = await app_client(login_max_failures=5)
    assert (await register(client)).status == 201
    hasher = client.app[PASSWORDS]
    checks_before = hasher.checks
    answers = await asyncio.gather(*(login(client, password=f"guess {i}") for i in range(200)))
    statuses = sorted(answer.status for answer in answers)
    assert hasher.checks - checks_before <= 5
    assert statuses.count(401) <= 5
    assert statuses.count(429) >= 195
    assert set(statuses) <= {401, 429}
    # The metric says the same.
    metrics = await (await client.get("/metrics")).text()
    assert f"password_checks_total {float(hasher.checks)}" in metrics


async def test_the_window_slides_instead_of_resetting_at_a_boundary(app_client):
    """Five failures just before a multiple of the window and five just after: a fixed window
    let both through; a sliding one refuses the second five."""
    window = 4
    client = await app_client(login_max_failures=5, login_window_seconds=window)
    for attempt in range(3):
        email = f"ann-{attempt}@example.com"
        assert (await register(client, email)).status == 201
        await asyncio.sleep(window - time.time() % window + window * 0.6)  # late in a window
        boundary = (time.time() // window + 1) * window
        first = [(await login(client, email, "wrong password")).status for _ in range(5)]
        if time.time() < boundary - 0.1:
            break
        # A loaded machine took longer than the window had left: once more, on a new account.
    else:
        pytest.fail("five logins never fitted into the last 1.6 s of a window")
    await asyncio.sleep(boundary - time.time() + 0.2)  # just past the boundary
    second = [(await login(client, email, "wrong password")).status for _ in range(5)]
    assert first == [401] * 5
    assert second == [429] * 5


async def test_a_successful_login_is_not_counted_as_a_failure(app_client):
    client = await app_client(login_max_failures=3)
    assert (await register(client)).status == 201
    for _ in range(10):  # the right password, again and again: never limited
        assert (await login(client)).status == 200
    # Two typos, then the right password: the client proved itself, its typos are forgotten.
    for _ in range(2):
        assert (await login(client, password="wrong password")).status == 401
    assert (await login(client)).status == 200
    for _ in range(3):
        assert (await login(client, password="wrong password")).status == 401
    assert (await login(client)).status == 429


async def test_40_concurrent_correct_logins_of_one_account_all_get_in(app_client):
    """None of them fails, so none counts: those past the limit wait for the ones in flight
    to be decided instead of being refused as "too many failed logins"."""
    client = await app_client(login_max_failures=5)
    assert (await register(client)).status == 201
    answers = await asyncio.gather(*(login(client) for _ in range(40)))
    assert sorted(answer.status for answer in answers) == [200] * 40


async def test_wrong_guesses_among_correct_logins_are_judged_by_real_failures(app_client):
    """Four typos in flight with 20 correct logins: everyone is answered 200 or 401, the typos
    are the only failures, and the client still has its last try afterwards."""
    client = await app_client(login_max_failures=5)
    assert (await register(client)).status == 201
    hasher = client.app[PASSWORDS]
    checks_before = hasher.checks
    answers = await asyncio.gather(
        *(login(client, password="wrong password") for _ in range(4)),
        *(login(client) for _ in range(20)),
    )
    statuses = sorted(answer.status for answer in answers)
    assert statuses.count(200) == 20 and set(statuses) <= {200, 401}, statuses
    assert hasher.checks - checks_before == 24


async def test_logins_crossing_emails_and_networks_never_deadlock(app_client, db):
    """Keys of one login (its client, its email, its network) are locked in one order by
    every statement, so logins sharing some of them in other combinations never wait for each
    other in a circle (a 503 on a correct password)."""
    client = await app_client(login_max_failures=5)
    app = client.app
    emails = [f"user{i}@example.com" for i in range(3)]
    for email in emails:
        assert (await register(client, email=email)).status == 201
    deadlocks = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
    before = await db.fetchval(deadlocks)
    for _ in range(3):
        answers = await asyncio.gather(
            *(
                login_from(app, f"198.51.100.{n}", email=email)
                for email in emails
                for n in range(4)
                for _ in range(3)
            )
        )
        assert all(isinstance(answer, dict) for answer in answers), answers
    await asyncio.sleep(1.2)  # other backends report their statistics within a second
    await db.execute("SELECT pg_stat_clear_snapshot()")
    assert await db.fetchval(deadlocks) == before


@pytest.mark.parametrize("variant", ["v\u0130ctim@example.com", "VICTIM@EXAMPLE.COM"])
async def test_a_case_variant_of_the_email_meets_the_same_limit(app_client, db, variant):
    """The keys come from the normalisation that finds the account (the database's lower()):
    Python lowers `İ` (U+0130) to "i" and a combining dot, PostgreSQL to "i", so a key made in
    Python gave `vİctim@` fresh tries at `victim@`'s password."""
    client = await app_client(login_max_failures=5)
    assert (await register(client, email="victim@example.com")).status == 201
    assert await db.fetchval("SELECT lower($1) = 'victim@example.com'", variant)
    for _ in range(5):
        assert (await login(client, "victim@example.com", "wrong password")).status == 401
    assert (await login(client, variant, "wrong password")).status == 429
    assert (await login(client, variant)).status == 429


# -- item 2: nobody can lock an account, or a network, out ----------------------------------


async def test_an_attacker_hammering_an_email_does_not_lock_its_owner_out(app_client):
    client = await app_client(
        login_max_failures=5, login_max_failures_per_email=20, login_max_failures_per_address=50
    )
    app = client.app
    assert (await register(client)).status == 201
    device = (await login_from(app, "192.0.2.44"))["device_token"]  # the owner's phone
    # One address, 100 guesses at once: five are tried, the rest refused.
    answers = await asyncio.gather(
        *(login_from(app, "203.0.113.9", password=f"guess {i}") for i in range(100))
    )
    assert sum(isinstance(answer, RateLimited) for answer in answers) == 95
    # Many addresses, each to its own limit: the email's ceiling (20) fills up.
    for i in range(10):
        for _ in range(5):
            await login_from(app, f"198.51.100.{i}", password="wrong password")
    # The ceiling holds whatever the address: a new one gets nothing more.
    assert isinstance(await login_from(app, "192.0.2.99", password="nope nope"), RateLimited)
    # The owner, from a device that logged in before, still gets in.
    assert isinstance(await login_from(app, "192.0.2.44", device=device), dict)


async def test_an_account_gets_its_email_ceiling_of_guesses_whatever_the_addresses(app_client):
    """Guesses from 60 IPv6 /64 networks (a /48 has 65,536): the account gets at most
    LOGIN_MAX_FAILURES_PER_EMAIL of them in a window, however many networks try."""
    client = await app_client(
        login_max_failures=5, login_max_failures_per_email=20, login_max_failures_per_address=50
    )
    app = client.app
    assert (await register(client)).status == 201
    hasher = app[PASSWORDS]
    checks_before = hasher.checks
    for network in range(60):
        for _ in range(5):
            await login_from(app, f"2001:db8:77:{network:x}::1", password="a guess")
    assert hasher.checks - checks_before == 20


async def test_the_owner_gets_in_from_a_device_that_logged_in_before(app_client):
    """With the email's ceiling full, a device token from an earlier login (the cookie a browser
    keeps, or the body field) lets the owner in; without one the owner waits like everyone."""
    client = await app_client(
        login_max_failures=5, login_max_failures_per_email=20, login_max_failures_per_address=50
    )
    app = client.app
    assert (await register(client)).status == 201
    earlier = await login(client)  # the browser keeps the cookie
    assert earlier.status == 200
    device = (await earlier.json())["device_token"]
    assert "device_token" in earlier.cookies and earlier.cookies["device_token"]["httponly"]
    for network in range(10):
        for _ in range(5):
            await login_from(app, f"2001:db8:99:{network:x}::1", password="a guess")
    assert isinstance(await login_from(app, "192.0.2.44"), RateLimited)  # a new device
    assert (await login(client)).status == 200  # by its cookie
    assert isinstance(await login_from(app, "192.0.2.44", device=device), dict)
    # A forged device token is no device.
    forged = jwt.encode({"typ": "device"}, "another secret", algorithm="HS256")
    assert isinstance(await login_from(app, "192.0.2.44", device=forged), RateLimited)
    # A device token is no access token.
    assert (
        await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {device}"})
    ).status == 401
    # The device has its own LOGIN_MAX_FAILURES.
    for _ in range(5):
        wrong = await login_from(app, "192.0.2.44", password="wrong password", device=device)
        assert not isinstance(wrong, RateLimited)
    assert isinstance(await login_from(app, "192.0.2.44", device=device), RateLimited)


async def test_one_address_guessing_many_emails_meets_the_address_ceiling(app_client):
    client = await app_client(login_max_failures=2, login_max_failures_per_address=6)
    app = client.app
    results = [
        await login_from(app, "2001:db8:5:6::1", email=f"u{i}@example.com") for i in range(6)
    ]
    assert not any(isinstance(result, RateLimited) for result in results)
    # Another address of the same /64 is the same client.
    refused = await login_from(app, "2001:db8:5:6:abcd::7", email="someone@example.com")
    assert isinstance(refused, RateLimited)
    assert refused.headers["Retry-After"].isdigit()
    other = await login_from(app, "2001:db8:5:7::1", email="someone@example.com")
    assert not isinstance(other, RateLimited)


def test_ipv6_addresses_are_keyed_by_their_64_network():
    assert client_network("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert client_network("2001:db8:1:2::1") == client_network("2001:db8:1:2:ffff::")
    assert client_network("2001:db8:1:3::1") != client_network("2001:db8:1:2::1")
    assert client_network("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_network("192.0.2.1") == "192.0.2.1"
    assert client_network("fe80::1%eth0") == "fe80::/64"
    assert client_network(None) == ""


# -- item 3 (registration): per network, counted before hashing --------------------------------


async def test_registration_is_rate_limited_per_network(app_client):
    client = await app_client(register_max_per_address=3)
    statuses = [(await register(client, email=f"r{i}@example.com")).status for i in range(3)]
    assert statuses == [201] * 3
    refused = await register(client, email="r3@example.com")
    assert refused.status == 429
    assert (await refused.json())["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    count = await client.app[POOL].fetchval("SELECT count(*) FROM users")
    assert count == 3


async def test_concurrent_registrations_from_one_network_stop_at_the_limit(app_client):
    client = await app_client(register_max_per_address=5)
    app = client.app
    settings = app["settings_for_tests"]

    async def attempt(i):
        try:
            await service.register(
                app[POOL],
                app[PASSWORDS],
                email=f"c{i}@example.com",
                password=PASSWORD,
                settings=settings,
                address=f"2001:db8:9:9::{i + 1:x}",
            )
            return True
        except RateLimited:
            return False

    results = await asyncio.gather(*(attempt(i) for i in range(40)))
    assert sum(results) == 5
    assert await app[POOL].fetchval("SELECT count(*) FROM users") == 5


# -- item 8: create-admin takes over an existing account loudly, revoking its tokens ----------


async def test_create_admin_over_a_registered_account_revokes_its_tokens(app_client):
    client = await app_client()
    assert (await register(client, email="boss@example.com")).status == 201
    squatter = (await (await login(client, email="boss@example.com")).json())["access_token"]
    headers = {"Authorization": f"Bearer {squatter}"}
    assert (await client.get("/api/v1/auth/me", headers=headers)).status == 200

    admin = await service.create_admin(
        client.app[POOL], client.app[PASSWORDS], "boss@example.com", "the real password"
    )
    assert admin["existed"] is True
    assert admin["previous_role"] == "user"
    assert admin["role"] == "admin"

    # The squatter's session is gone, and not an admin's: at once when the instance reads the
    # user, within the NOTIFY delay when it serves it from its cache (docs/security.md).
    await answers_within(lambda: status_of(client, "/api/v1/auth/me", headers), 401)
    assert await status_of(client, "/api/v1/admin/reports/capacity", headers) == 401
    fresh = await login(client, email="boss@example.com", password="the real password")
    assert fresh.status == 200
    token = (await fresh.json())["access_token"]
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert (await me.json())["role"] == "admin"


async def test_create_admin_cli_reads_the_password_from_stdin_and_warns(database, db):
    await create_user(db, email="boss@example.com")
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "JWT_SECRET": TEST_JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reservations",
        "create-admin",
        "--email",
        "Boss@example.com",
        "--password-stdin",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(b"from stdin 123\n"), 60)
    assert process.returncode == 0, stderr
    assert "WARNING" in stderr.decode()
    assert "existing account" in stdout.decode()
    row = await db.fetchrow(
        "SELECT role, password_hash, token_generation FROM users WHERE email = 'boss@example.com'"
    )
    assert row["role"] == "admin"
    assert row["token_generation"] == 1
    assert bcrypt.checkpw(b"from stdin 123", row["password_hash"].encode())
    assert "from stdin" not in stdout.decode() + stderr.decode()


# -- item 9: a JWT_SECRET of one repeated character ---------------------------------------------


@pytest.mark.parametrize("secret", ["a" * 64, "ab" * 40, "0123456" * 10])
def test_a_long_secret_of_few_characters_is_refused(secret):
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        Settings.from_env({"JWT_SECRET": secret})


def test_a_random_secret_is_accepted():
    Settings.from_env({"JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex})


# -- item 6: tickets, not access tokens, in WebSocket URLs ------------------------------------


async def test_a_ticket_marks_held_by_me_on_its_showtime_only(client, db, user, make_account):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    other_hall = await create_hall(db, rows=1, seats_per_row=4)
    await hold_directly(db, user.id, hall.showtime_id, hall.ids("A1"), expires_in=600)

    assert (await client.post("/api/v1/ws-tickets", json={})).status == 401
    answer = await client.post(
        "/api/v1/ws-tickets", json={"showtime_id": str(hall.showtime_id)}, headers=user.headers
    )
    assert answer.status == 200
    body = await answer.json()
    assert body["expires_in"] == 60
    assert body["showtime_id"] == str(hall.showtime_id)
    ticket = body["ticket"]

    snapshot = await snapshot_of(await watch(client, hall.showtime_id, ticket=ticket))
    assert {seat["id"] for seat in snapshot["seats"] if seat.get("held_by_me")} == set(
        hall.ids("A1")
    )
    # Not for another showtime's socket, and no access token anywhere.
    elsewhere = await snapshot_of(await watch(client, other_hall.showtime_id, ticket=ticket))
    assert not any("held_by_me" in seat for seat in elsewhere["seats"])
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {ticket}"})
    assert me.status == 401
    # An access token is no ticket either.
    as_ticket = await snapshot_of(await watch(client, hall.showtime_id, ticket=user.token))
    assert not any("held_by_me" in seat for seat in as_ticket["seats"])
    # Expired a minute later.
    old = jwt.encode(
        {
            "sub": str(user.id),
            "sid": str(hall.showtime_id),
            "typ": "ws",
            "iat": int(time.time()) - 120,
            "exp": int(time.time()) - 60,
        },
        TEST_JWT_SECRET,
        algorithm="HS256",
    )
    expired = await snapshot_of(await watch(client, hall.showtime_id, ticket=old))
    assert not any("held_by_me" in seat for seat in expired["seats"])


async def test_a_ticket_request_for_a_bad_showtime_id_is_422(client, user):
    answer = await client.post(
        "/api/v1/ws-tickets", json={"showtime_id": "nope"}, headers=user.headers
    )
    assert answer.status == 422
    assert (await answer.json())["error"]["code"] == "validation_error"


# -- item 5: viewers per client network, and per process ------------------------------------


async def test_ipv6_viewers_share_the_slots_of_their_64_network():
    hub = Hub(None, queue_size=4, max_viewers_per_address=2)  # type: ignore[arg-type]
    assert hub.admit("2001:db8:1:2::1")
    assert hub.admit("2001:db8:1:2::2")
    assert not hub.admit("2001:db8:1:2:dead:beef::1")  # the same /64
    assert hub.admit("2001:db8:1:3::1")  # another /64
    hub.release("2001:db8:1:2::2")
    assert hub.admit("2001:db8:1:2:ffff::")


async def test_a_process_opens_at_most_max_viewers(aiohttp_client, make_settings, database, db):
    client = await aiohttp_client(
        create_app(make_settings(max_viewers=3, max_viewers_per_address=50), database)
    )
    hall = await create_hall(db, rows=1, seats_per_row=2)
    viewers = [await watch(client, hall.showtime_id) for _ in range(3)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await watch(client, hall.showtime_id)
    assert refused.value.status == 503
    await viewers[0].close()
    await eventually(lambda: client.app[HUB].viewer_count() == 2)
    await snapshot_of(await watch(client, hall.showtime_id))


# -- item 4: resync floods ------------------------------------------------------------------------


# 50 sockets, each asking for a resync every 5 ms and reading what comes, from another process
# (so that the flood does not share the server's event loop); prints how many frames each got.
FLOOD = """
import asyncio, json, sys
import aiohttp

async def main(url, tokens, seconds):
    async with aiohttp.ClientSession() as session:
        sockets = [
            await session.ws_connect(url + (f"?token={token}" if token else ""))
            for token in tokens
        ]
        received = [0] * len(sockets)
        closed = [False] * len(sockets)

        async def read(index, ws):
            async for message in ws:
                received[index] += 1
            closed[index] = True

        async def ask(ws):
            while True:
                await ws.send_str('{"type": "resync"}')
                await asyncio.sleep(0.005)

        readers = [asyncio.create_task(read(i, ws)) for i, ws in enumerate(sockets)]
        print("ready", flush=True)
        askers = [asyncio.create_task(ask(ws)) for ws in sockets]
        await asyncio.sleep(seconds)
        for task in askers:
            task.cancel()
        print(json.dumps({"received": received, "closed": closed}), flush=True)
        for task in readers:
            task.cancel()

asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])))
"""


@pytest.mark.slow
async def test_50_sockets_resyncing_in_a_loop_leave_bookings_answering(client, db, make_account):
    hall = await create_hall(db, rows=10, seats_per_row=20)
    tokens = [(await make_account()).token if i % 2 else "" for i in range(50)]
    snapshots = client.app[HUB].snapshots
    reads_before = snapshots.queries + snapshots.cache_hits
    duration = 4.0
    flood = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        FLOOD,
        f"http://127.0.0.1:{client.port}/ws/showtimes/{hall.showtime_id}",
        json.dumps(tokens),
        str(duration),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert flood.stdout is not None
        assert (await asyncio.wait_for(flood.stdout.readline(), 30)).strip() == b"ready"
        started = time.monotonic()
        answers, latencies = [], []
        # One seat a booking, until the flood ends or the hall's 200 seats are sold; a new
        # booker every 10 seats (MAX_SEATS_PER_USER_PER_SHOWTIME).
        labels = [f"{row}{seat}" for row in "ABCDEFGHIJ" for seat in range(1, 21)]
        for number, label in enumerate(labels):
            if time.monotonic() - started >= duration:
                break
            if number % 10 == 0:
                booker = await make_account()
            seat_ids = [str(hall.seats[label])]
            began = time.perf_counter()
            held = await client.post(
                f"/api/v1/showtimes/{hall.showtime_id}/lock-seats",
                json={"seat_ids": seat_ids},
                headers=booker.headers,
            )
            booked = await client.post(
                "/api/v1/reservations",
                json={"showtime_id": str(hall.showtime_id), "seat_ids": seat_ids},
                headers=booker.headers,
            )
            latencies.append(time.perf_counter() - began)
            answers.append((held.status, booked.status))
        report = json.loads(await asyncio.wait_for(flood.stdout.readline(), 30))
        elapsed = time.monotonic() - started
    finally:
        if flood.returncode is None:
            flood.kill()
        await flood.wait()

    reads = snapshots.queries + snapshots.cache_hits - reads_before
    figures = f"{len(answers)} bookings, slowest {max(latencies):.2f} s, {reads} snapshot reads"
    assert set(answers) == {(201, 201)}, figures
    assert len(answers) >= 20, figures
    assert max(latencies) < 2.0, figures
    # One snapshot a second per viewer at most (plus the one of connecting), not one a frame.
    assert reads <= len(tokens) * (elapsed / RESYNC_INTERVAL_SECONDS + 2), figures
    assert all(count >= 2 for count in report["received"]), report
    assert not any(report["closed"]), report


async def test_an_anonymous_resync_is_served_from_the_cache_while_it_is_right(client, db, user):
    hall = await create_hall(db, rows=2, seats_per_row=5)
    snapshots = client.app[HUB].snapshots
    first = await snapshot_of(await watch(client, hall.showtime_id))
    reads = snapshots.queries
    again = await snapshot_of(await watch(client, hall.showtime_id))
    assert again == first
    assert snapshots.queries == reads  # the kept snapshot, after one look at the version
    assert snapshots.cache_hits >= 1
    # A change (a new version) or an expiring hold makes it wrong: read afresh, once this
    # instance has heard of it (a viewer that joins before then gets the change after its
    # snapshot, as every viewer does).
    heard = client.app[LISTENER].notifications
    await hold_directly(db, user.id, hall.showtime_id, hall.ids("A1"), expires_in=1.5)
    await change_seats(db, hall.showtime_id, [(hall.seats["A1"], HELD)])
    await eventually(lambda: client.app[LISTENER].notifications >= heard + 2)
    held = await snapshot_of(await watch(client, hall.showtime_id))
    assert statuses(held)[str(hall.seats["A1"])] == HELD
    assert snapshots.queries == reads + 1
    await asyncio.sleep(1.6)
    freed = await snapshot_of(await watch(client, hall.showtime_id))
    assert statuses(freed)[str(hall.seats["A1"])] == AVAILABLE
    assert snapshots.queries == reads + 2


# -- item 9: a worker that dies is started again ----------------------------------------------


async def test_a_killed_worker_is_started_again(database):

    port = free_port()
    process = await start_server(database, port, "--workers", "2")
    try:
        first = await workers_listening(process, port, 2)
        victim = min(first)
        hashing = hashing_processes_of(victim)
        assert hashing
        os.kill(victim, 9)
        second = await workers_listening(process, port, 2, gone=victim)
        assert victim not in second
        assert len(second & first) == 1
        # The killed worker's hashing process went with it (the kernel's parent-death signal).
        assert await gone_within(hashing, 5) == []
        assert await statuses_on_new_connections(port, "/readyz", 10) == [200] * 10
        assert await stop(process) == 0
    finally:
        kill_tree(process)


# -- item 9: CSP connect-src, and the Origin check's scheme -------------------------------------


async def test_pages_may_connect_to_their_own_origin_only(client):
    page = await client.get("/")
    assert page.status == 200
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";")
    )
    assert policy["connect-src"] == "'self'"


async def test_a_page_of_the_same_host_over_another_scheme_cannot_open_the_live_map(client, db):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    path = f"/ws/showtimes/{hall.showtime_id}"
    host = f"127.0.0.1:{client.port}"
    for origin in (f"ftp://{host}", f"chrome-extension://{host}", f"ws://{host}"):
        refused = await client.get(path, headers=upgrade_headers(origin))
        assert refused.status == 403, origin
    await snapshot_of(await client.ws_connect(path, origin=f"http://{host}"))
    # Behind a proxy that terminates TLS, the pages are https and the service sees http.
    await snapshot_of(await client.ws_connect(path, origin=f"https://{host}"))


def test_a_plain_http_page_cannot_open_the_map_of_a_service_reached_over_https():
    import ssl

    from aiohttp.test_utils import make_mocked_request

    from reservations.live.routes import _origin_allowed

    def allowed(origin, secure):
        request = make_mocked_request(
            "GET",
            "/ws/showtimes/x",
            headers={"Host": "tickets.example", "Origin": origin},
            sslcontext=ssl.create_default_context() if secure else None,
        )
        return _origin_allowed(request, ())

    assert allowed("https://tickets.example", secure=True)
    assert not allowed("http://tickets.example", secure=True)
    assert not allowed("https://tickets.example.evil", secure=True)
    assert allowed("http://tickets.example", secure=False)
    assert not allowed("ftp://tickets.example", secure=False)


async def test_a_revoked_token_or_ticket_marks_nothing_on_the_live_map(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=3)
    await hold_directly(db, user.id, hall.showtime_id, hall.ids("A2"), expires_in=600)
    answer = await client.post(
        "/api/v1/ws-tickets", json={"showtime_id": str(hall.showtime_id)}, headers=user.headers
    )
    ticket = (await answer.json())["ticket"]
    await db.execute(
        "UPDATE users SET token_generation = token_generation + 1 WHERE id = $1", user.id
    )
    for params in ({"ticket": ticket}, {"token": user.token}):

        async def marked(params: dict[str, str] = params) -> int:
            snapshot = await snapshot_on_connect(client, hall.showtime_id, **params)
            assert statuses(snapshot)[str(hall.seats["A2"])] == HELD
            return sum("held_by_me" in seat for seat in snapshot["seats"])

        # Within the NOTIFY delay, as the instance may serve the user from its cache.
        await answers_within(marked, 0)


async def test_a_live_map_socket_closes_when_its_users_tokens_are_revoked(client, db, user):
    """The socket was opened as the user: once its tokens are revoked (the users trigger's
    NOTIFY reaches the hub), it is closed, not left marking the user's holds; an anonymous
    viewer and another user's socket stay open."""
    hall = await create_hall(db, rows=1, seats_per_row=3)
    answer = await client.post(
        "/api/v1/ws-tickets", json={"showtime_id": str(hall.showtime_id)}, headers=user.headers
    )
    ticket = (await answer.json())["ticket"]
    mine = await watch(client, hall.showtime_id, ticket=ticket)
    anonymous = await watch(client, hall.showtime_id)
    try:
        await snapshot_of(mine)
        await snapshot_of(anonymous)
        await db.execute(
            "UPDATE users SET token_generation = token_generation + 1 WHERE id = $1", user.id
        )
        assert await close_code(mine, within=5) == 1008
        assert not anonymous.closed
        await change_seats(db, hall.showtime_id, [(hall.seats["A1"], HELD)])
        assert (await next_message(anonymous, within=3))["type"] == "seats"
    finally:
        await mine.close()
        await anonymous.close()


@pytest.mark.slow
async def test_workers_that_keep_dying_make_serve_exit_1(database):
    """The port is taken (by a socket without SO_REUSEPORT): every worker dies at start."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        returncode, _, stderr = await run_serve(
            serve_environment(database, port), "--workers", "2", within=90
        )
    assert returncode == 1
    assert b"starting another" in stderr
    assert b"stopping" in stderr


async def test_housekeeping_forgets_keys_without_an_attempt_for_a_day(db):
    from reservations.booking.sweeper import forget_old_rows

    await db.execute(
        "INSERT INTO login_attempts (key, attempts, last_attempt) VALUES"
        " ('login:old', ARRAY[now() - interval '2 days'], now() - interval '2 days'),"
        " ('login:new', ARRAY[now()], now())"
    )
    await forget_old_rows(db)
    assert await db.fetchval("SELECT array_agg(key) FROM login_attempts") == ["login:new"]


async def test_housekeeping_deletes_in_batches_and_skips_rows_in_use(db, database):
    """A pile of old rows goes in bounded statements (each far inside the statement timeout),
    and a row a request holds locked is skipped, not waited for."""
    from reservations.booking.sweeper import forget_old_rows
    from reservations.db import QUERIES

    await db.execute(
        "INSERT INTO login_attempts (key, last_attempt)"
        " SELECT 'login:old ' || n, now() - interval '2 days' FROM generate_series(1, 2500) AS n"
    )
    assert await db.fetchval(QUERIES.forget_old_login_attempts, 1000) == 1000
    busy = await asyncpg.connect(database)
    try:
        transaction = busy.transaction()
        await transaction.start()
        in_use = await busy.fetchval("SELECT key FROM login_attempts LIMIT 1 FOR UPDATE")
        await db.execute("SET lock_timeout = '1s'")
        assert await forget_old_rows(db, batch=100) == 1499
        await transaction.rollback()
    finally:
        await busy.close()
    assert await db.fetchval("SELECT array_agg(key) FROM login_attempts") == [in_use]
