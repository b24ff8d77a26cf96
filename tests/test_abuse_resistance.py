"""Abuse resistance (issue 19): limits that hold under concurrency and cannot be turned against
the people they protect, tokens that can be revoked and kept out of URLs, a live map that a
flood of viewers or resyncs cannot exhaust."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

import bcrypt
import pytest

from reservations.accounts import service
from reservations.addresses import client_network
from reservations.app import create_app
from reservations.context import PASSWORDS, POOL
from reservations.errors import RateLimited
from reservations.settings import Settings, SettingsError
from tests.conftest import TEST_JWT_SECRET

PASSWORD = "correct horse"


async def register(client, email="ann@example.com", password=PASSWORD):
    return await client.post("/api/v1/auth/register", json={"email": email, "password": password})


async def login(client, email="ann@example.com", password=PASSWORD):
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def login_from(app, address, email="ann@example.com", password=PASSWORD):
    """A login as the service sees it from `address`: the token, or the error raised."""
    try:
        return await service.login(
            app[POOL],
            app[PASSWORDS],
            app["settings_for_tests"],
            email=email,
            password=password,
            address=address,
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
    assert (await register(client)).status == 201
    await asyncio.sleep(window - time.time() % window + window * 0.7)  # late in a window
    first = [(await login(client, password="wrong password")).status for _ in range(5)]
    await asyncio.sleep(window - time.time() % window + 0.2)  # just past the boundary
    second = [(await login(client, password="wrong password")).status for _ in range(5)]
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


# -- item 2: nobody can lock an account, or a network, out ----------------------------------


async def test_an_attacker_hammering_an_email_does_not_lock_its_owner_out(app_client):
    client = await app_client(
        login_max_failures=5, login_max_failures_per_email=20, login_max_failures_per_address=50
    )
    app = client.app
    assert (await register(client)).status == 201
    # One address, 100 guesses at once: five are tried, the rest refused.
    answers = await asyncio.gather(
        *(login_from(app, "203.0.113.9", password=f"guess {i}") for i in range(100))
    )
    assert sum(isinstance(answer, RateLimited) for answer in answers) == 95
    # Many addresses, each to its own limit: the email's ceiling (20) fills up.
    for i in range(10):
        for _ in range(5):
            await login_from(app, f"198.51.100.{i}", password="wrong password")
    # The owner, from an address that has not failed, still gets in, by HTTP too.
    token = await login_from(app, "192.0.2.44")
    assert isinstance(token, dict), token
    response = await login(client)
    assert response.status == 200
    # While the ceiling is full, a new address gets one try, not five.
    assert not isinstance(await login_from(app, "192.0.2.99", password="nope nope"), RateLimited)
    assert isinstance(await login_from(app, "192.0.2.99", password="nope nope"), RateLimited)
    assert isinstance(await login_from(app, "192.0.2.99"), RateLimited)


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
    # The squatter's session is gone, and not an admin's.
    assert (await client.get("/api/v1/auth/me", headers=headers)).status == 401
    assert (await client.get("/api/v1/admin/reports/capacity", headers=headers)).status == 401
    fresh = await login(client, email="boss@example.com", password="the real password")
    assert fresh.status == 200
    token = (await fresh.json())["access_token"]
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert (await me.json())["role"] == "admin"


async def test_create_admin_cli_reads_the_password_from_stdin_and_warns(database, db):
    await db.execute("INSERT INTO users (email, password_hash) VALUES ('boss@example.com', 'x')")
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
