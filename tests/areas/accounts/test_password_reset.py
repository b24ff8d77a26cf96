"""Password reset and address verification through the API: single-use tokens stored hashed,
expiry, revocation of earlier tokens, no account enumeration by body or timing, rate limits,
and REQUIRE_VERIFIED_EMAIL."""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from reservations.app import create_app
from reservations.settings import Settings
from tests import api
from tests.api import error_of
from tests.factories import create_hall

API = "/api/v1"
NEW_PASSWORD = "a brand new secret"


async def latest_token(db: asyncpg.Connection, kind: str, recipient: str) -> str:
    token: str = await db.fetchval(
        "SELECT payload ->> 'token' FROM emails WHERE kind = $1 AND recipient = $2"
        " ORDER BY created_at DESC LIMIT 1",
        kind,
        recipient,
    )
    assert token
    return token


async def ask_reset(client: TestClient, email: str) -> Any:
    return await client.post(f"{API}/auth/password-reset", json={"email": email})


async def confirm(client: TestClient, token: str, password: str = NEW_PASSWORD) -> Any:
    return await client.post(
        f"{API}/auth/password-reset/confirm", json={"token": token, "password": password}
    )


async def registered(client: TestClient, email: str = "ann@example.com") -> str:
    """Register and log in: the access token."""
    assert (await api.register(client, email=email)).status == 201
    response = await api.login(client, email=email)
    return str((await response.json())["access_token"])


async def test_a_reset_answers_alike_whether_or_not_the_account_exists(
    client: TestClient, db: asyncpg.Connection
) -> None:
    await registered(client)
    known = await ask_reset(client, "ann@example.com")
    unknown = await ask_reset(client, "nobody@example.com")
    assert known.status == unknown.status == 202
    assert await known.read() == await unknown.read() == b"{}"
    assert dict(known.headers).keys() == dict(unknown.headers).keys()
    emails = await db.fetch("SELECT recipient FROM emails WHERE kind = 'password_reset'")
    assert [row["recipient"] for row in emails] == ["ann@example.com"]
    # Both did the same writes: a token row each (the unknown one can never be used).
    tokens = await db.fetch(
        "SELECT email, user_id IS NOT NULL AS usable FROM account_tokens"
        " WHERE purpose = 'password_reset' ORDER BY email"
    )
    assert [(row["email"], row["usable"]) for row in tokens] == [
        ("ann@example.com", True),
        ("nobody@example.com", False),
    ]


async def test_a_reset_takes_about_as_long_whether_or_not_the_account_exists(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    make_settings: Callable[..., Settings],
    database: str,
) -> None:
    client = await aiohttp_client(
        create_app(
            make_settings(password_reset_max_per_email=1000, password_reset_max_per_address=1000),
            database,
        )
    )
    await registered(client)
    timings: dict[str, list[float]] = {"ann@example.com": [], "nobody@example.com": []}
    for _ in range(3):  # warm up both paths
        for email in timings:
            await ask_reset(client, email)
    for _ in range(25):
        for email, spent in timings.items():
            started = time.perf_counter()
            response = await ask_reset(client, email)
            await response.read()
            spent.append(time.perf_counter() - started)
    known, unknown = (statistics.median(spent) for spent in timings.values())
    assert abs(known - unknown) < max(0.004, 0.35 * min(known, unknown)), (known, unknown)


async def test_a_reset_token_works_once_and_revokes_every_earlier_access_token(
    client: TestClient, db: asyncpg.Connection
) -> None:
    access_token = await registered(client)
    headers = {"Authorization": f"Bearer {access_token}"}
    assert (await client.get(f"{API}/auth/me", headers=headers)).status == 200
    await ask_reset(client, "ann@example.com")
    token = await latest_token(db, "password_reset", "ann@example.com")
    # Stored hashed: the database has its SHA-256, not the token.
    stored = await db.fetchval(
        "SELECT token_hash FROM account_tokens WHERE user_id IS NOT NULL"
        " AND purpose = 'password_reset'"
    )
    assert stored == hashlib.sha256(token.encode()).digest()

    response = await confirm(client, token)
    assert response.status == 200, await response.text()
    assert (await response.json())["email"] == "ann@example.com"
    assert (await client.get(f"{API}/auth/me", headers=headers)).status == 401
    assert (await api.login(client)).status == 401  # the old password
    assert (await api.login(client, password=NEW_PASSWORD)).status == 200

    again = await confirm(client, token, "yet another secret")
    assert (await error_of(again, 422))["code"] == "token_invalid"


async def test_setting_a_password_spends_every_other_reset_token(
    client: TestClient, db: asyncpg.Connection
) -> None:
    await registered(client)
    await ask_reset(client, "ann@example.com")
    first = await latest_token(db, "password_reset", "ann@example.com")
    await asyncio.sleep(0.01)
    await ask_reset(client, "ann@example.com")
    second = await latest_token(db, "password_reset", "ann@example.com")
    assert first != second
    assert (await confirm(client, second)).status == 200
    assert (await error_of(await confirm(client, first), 422))["code"] == "token_invalid"


async def test_an_expired_or_made_up_reset_token_is_refused(
    client: TestClient, db: asyncpg.Connection
) -> None:
    await registered(client)
    await ask_reset(client, "ann@example.com")
    token = await latest_token(db, "password_reset", "ann@example.com")
    await db.execute("UPDATE account_tokens SET expires_at = now() - interval '1 second'")
    assert (await error_of(await confirm(client, token), 422))["code"] == "token_invalid"
    assert (await error_of(await confirm(client, "made-up"), 422))["code"] == "token_invalid"
    assert (await api.login(client)).status == 200  # the password did not change


async def test_a_reset_token_used_twice_at_once_works_once(
    client: TestClient, db: asyncpg.Connection
) -> None:
    await registered(client)
    await ask_reset(client, "ann@example.com")
    token = await latest_token(db, "password_reset", "ann@example.com")
    answers = await asyncio.gather(
        *(confirm(client, token, f"password number {n}") for n in range(4))
    )
    assert sorted(answer.status for answer in answers) == [200, 422, 422, 422]


async def test_resets_are_rate_limited_per_email_and_per_address(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    make_settings: Callable[..., Settings],
    database: str,
) -> None:
    client = await aiohttp_client(
        create_app(
            make_settings(password_reset_max_per_email=2, password_reset_max_per_address=4),
            database,
        )
    )
    assert [(await ask_reset(client, "x@example.com")).status for _ in range(3)] == [202, 202, 429]
    # Another email from the same address: the address allows two more.
    assert [(await ask_reset(client, "y@example.com")).status for _ in range(3)] == [202, 202, 429]
    limited = await ask_reset(client, "z@example.com")
    assert (await error_of(limited, 429))["code"] == "rate_limited"
    assert "Retry-After" in limited.headers


async def test_a_bad_reset_body_gets_a_validation_error(client: TestClient) -> None:
    for body in ({}, {"email": ""}, {"email": 5}):
        response = await client.post(f"{API}/auth/password-reset", json=body)
        assert (await error_of(response, 422))["code"] == "validation_error"
    short = await confirm(client, "some-token", "short")
    assert (await error_of(short, 422))["code"] == "validation_error"


# --- address verification -----------------------------------------------------------------


async def test_registering_then_following_the_link_verifies_the_address(
    client: TestClient, db: asyncpg.Connection
) -> None:
    response = await api.register(client, email="new@example.com")
    assert (await response.json())["email_verified"] is False
    token = await latest_token(db, "verify_email", "new@example.com")
    verified = await client.post(f"{API}/auth/verify-email", json={"token": token})
    assert verified.status == 200
    assert (await verified.json())["email_verified"] is True
    access = (await (await api.login(client, email="new@example.com")).json())["access_token"]
    me = await client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {access}"})
    assert (await me.json())["email_verified"] is True
    again = await client.post(f"{API}/auth/verify-email", json={"token": token})
    assert (await error_of(again, 422))["code"] == "token_invalid"


async def test_resending_the_verification_is_rate_limited(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    make_settings: Callable[..., Settings],
    database: str,
    db: asyncpg.Connection,
) -> None:
    client = await aiohttp_client(create_app(make_settings(verify_email_resend_max=2), database))
    access = await registered(client, "new@example.com")
    headers = {"Authorization": f"Bearer {access}"}
    statuses = [
        (await client.post(f"{API}/auth/verify-email/resend", headers=headers)).status
        for _ in range(3)
    ]
    assert statuses == [202, 202, 429]
    assert await db.fetchval("SELECT count(*) FROM emails WHERE kind = 'verify_email'") == 3
    anonymous = await client.post(f"{API}/auth/verify-email/resend")
    assert anonymous.status == 401


async def test_holds_need_a_verified_address_when_required(
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    make_settings: Callable[..., Settings],
    database: str,
    db: asyncpg.Connection,
) -> None:
    client = await aiohttp_client(create_app(make_settings(require_verified_email=True), database))
    access = await registered(client, "new@example.com")
    hall = await create_hall(db, rows=1, seats_per_row=4)

    class Caller:
        headers = {"Authorization": f"Bearer {access}"}

    refused = await api.hold_seats(client, Caller, hall.showtime_id, hall.ids("A1"))
    assert (await error_of(refused, 403))["code"] == "email_not_verified"
    best = await api.best_available(client, Caller, hall.showtime_id, count=1)
    assert (await error_of(best, 403))["code"] == "email_not_verified"
    token = await latest_token(db, "verify_email", "new@example.com")
    assert (await client.post(f"{API}/auth/verify-email", json={"token": token})).status == 200
    held = await api.hold_seats(client, Caller, hall.showtime_id, hall.ids("A1"))
    assert held.status == 201, await held.text()


async def test_holds_need_no_verified_address_by_default(
    client: TestClient, db: asyncpg.Connection
) -> None:
    access = await registered(client, "new@example.com")
    hall = await create_hall(db, rows=1, seats_per_row=4)

    class Caller:
        headers = {"Authorization": f"Bearer {access}"}

    assert (await api.hold_seats(client, Caller, hall.showtime_id, hall.ids("A1"))).status == 201


# --- the pages ----------------------------------------------------------------------------


async def test_the_forgot_and_reset_pages_change_a_password_without_script(
    client: TestClient, db: asyncpg.Connection
) -> None:
    await registered(client)
    page = await client.get("/forgot-password")
    assert page.status == 200 and 'action="/forgot-password"' in await page.text()
    sent = await client.post("/forgot-password", data={"email": "ann@example.com"})
    assert sent.status == 200
    assert "we have sent it a link" in await sent.text()
    unknown = await client.post("/forgot-password", data={"email": "nobody@example.com"})
    assert (await unknown.text()).replace("nobody@", "ann@") == await sent.text()
    token = await latest_token(db, "password_reset", "ann@example.com")

    form = await client.get(f"/reset-password?token={token}")
    assert f'value="{token}"' in await form.text()
    assert form.headers["Cache-Control"] == "no-store"
    differ = await client.post(
        "/reset-password",
        data={"token": token, "password": NEW_PASSWORD, "password_again": "something else"},
    )
    assert differ.status == 422 and "differ" in await differ.text()
    done = await client.post(
        "/reset-password",
        data={"token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
    )
    assert done.status == 200 and "Your password is changed" in await done.text()
    assert (await api.login(client, password=NEW_PASSWORD)).status == 200
    spent = await client.post(
        "/reset-password",
        data={"token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
    )
    assert spent.status == 422 and "was used already or has expired" in await spent.text()


async def test_the_verify_page_confirms_an_address_with_one_press(
    client: TestClient, db: asyncpg.Connection
) -> None:
    await api.register(client, email="new@example.com")
    token = await latest_token(db, "verify_email", "new@example.com")
    page = await client.get(f"/verify-email?token={token}")
    assert page.status == 200 and f'value="{token}"' in await page.text()
    # Opening the link spends nothing: a mail scanner that follows it verifies nothing.
    assert await db.fetchval("SELECT email_verified_at FROM users") is None
    done = await client.post("/verify-email", data={"token": token})
    assert done.status == 200 and "new@example.com is confirmed" in await done.text()
    assert await db.fetchval("SELECT email_verified_at IS NOT NULL FROM users")
