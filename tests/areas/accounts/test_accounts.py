"""Accounts: registration, login, tokens, roles and who may call what."""

from __future__ import annotations

import asyncio
import time
import uuid

import jwt
import pytest

from reservations.accounts import tokens
from reservations.accounts.tokens import issue_token
from tests.api import login, register, route_path, status_of
from tests.factories import TEST_JWT_SECRET
from tests.live_map import answers_within


async def test_register_then_login_then_me(client):
    response = await register(client, first_name="Ann", last_name="Lee")
    assert response.status == 201
    user = await response.json()
    assert user["email"] == "ann@example.com"
    assert user["role"] == "user"
    assert set(user) == {
        "id",
        "email",
        "first_name",
        "last_name",
        "role",
        "email_verified",
        "created_at",
    }
    assert user["created_at"].endswith("+00:00")

    response = await login(client)
    assert response.status == 200
    token = await response.json()
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 3600

    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert me.status == 200
    assert (await me.json())["id"] == user["id"]


async def test_role_in_register_body_is_ignored(client, db):
    response = await register(client, role="admin", id=str(uuid.uuid4()))
    assert response.status == 201
    body = await response.json()
    assert body["role"] == "user"
    assert (
        await db.fetchval("SELECT role FROM users WHERE id = $1", uuid.UUID(body["id"])) == "user"
    )


async def test_emails_are_trimmed_and_case_insensitive(client):
    assert (await register(client, email="  Ann@Example.COM ")).status == 201
    duplicate = await register(client, email="ann@example.com")
    assert duplicate.status == 409
    assert (await duplicate.json())["error"]["code"] == "email_taken"
    assert (await login(client, email="ANN@example.com")).status == 200


@pytest.mark.parametrize(
    ("password", "status"),
    [("short", 422), ("x" * 72, 201), ("x" * 73, 422), ("é" * 36, 201), ("é" * 37, 422)],
)
async def test_password_length_is_counted_in_bytes(client, password, status):
    response = await register(client, password=password)
    assert response.status == status
    if status == 422:
        body = await response.json()
        assert body["error"]["code"] == "validation_error"
        assert "password" in body["error"]["details"]["fields"]


async def test_bad_register_bodies(client):
    bad_email = await register(client, email="not-an-email")
    assert bad_email.status == 422
    missing = await client.post("/api/v1/auth/register", json={"email": "a@example.com"})
    assert missing.status == 422
    not_json = await client.post(
        "/api/v1/auth/register", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert not_json.status == 400
    assert (await not_json.json())["error"]["code"] == "invalid_json"
    a_list = await client.post("/api/v1/auth/register", json=["a"])
    assert a_list.status == 400
    wrong_type = await client.post(
        "/api/v1/auth/register", data=b"email=a", headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status == 415


async def test_unknown_email_and_wrong_password_look_the_same(client):
    await register(client)
    unknown = await login(client, email="nobody@example.com")
    wrong = await login(client, password="wrong password")
    assert unknown.status == wrong.status == 401
    assert (await unknown.json()) == (await wrong.json())


async def test_login_timing_does_not_reveal_unknown_emails(aiohttp_client, make_settings, database):
    from reservations.app import create_app

    # A cost whose check (about 60 ms) stands well above the database's noise under a loaded
    # machine; at the tests' usual cost 4 (1 ms) a missing decoy would not show.
    client = await aiohttp_client(create_app(make_settings(bcrypt_rounds=10), database))
    await register(client)

    async def timed(email):
        started = time.perf_counter()
        await login(client, email=email, password="wrong password")
        return time.perf_counter() - started

    # Below the rate limit: 2 tries each; an unknown email costs a check of the decoy hash.
    known = [await timed("ann@example.com") for _ in range(2)]
    unknown = [await timed(f"x{i}@example.com") for i in range(2)]
    assert max(unknown) > min(known) / 3


async def test_repeated_failures_are_rate_limited(client):
    await register(client)
    statuses = [(await login(client, password="wrong password")).status for _ in range(5)]
    assert statuses == [401] * 5
    blocked = await login(client)  # even the right password waits now
    assert blocked.status == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert (await blocked.json())["error"]["code"] == "rate_limited"


async def test_rate_limit_per_address_spans_emails(aiohttp_client, make_settings, database):
    from reservations.app import create_app

    settings = make_settings(login_max_failures=2, login_max_failures_per_address=5)
    client = await aiohttp_client(create_app(settings, database))
    for i in range(5):
        assert (await login(client, email=f"u{i}@example.com")).status == 401
    assert (await login(client, email="another@example.com")).status == 429


async def test_rate_limit_is_shared_between_instances(aiohttp_client, settings, database):
    from reservations.app import create_app

    first = await aiohttp_client(create_app(settings, database))
    second = await aiohttp_client(create_app(settings, database))
    await register(first)
    for instance in (first, second, first, second, first):
        assert (await login(instance, password="wrong password")).status == 401
    assert (await login(second)).status == 429


@pytest.mark.parametrize(
    "make_token",
    [
        lambda uid: issue_token(uid, TEST_JWT_SECRET, -100),  # expired
        lambda uid: issue_token(uid, TEST_JWT_SECRET, 3600)[:-2] + "xx",  # tampered
        lambda uid: issue_token(uid, "another-secret-that-is-long-enough-123456", 3600),
        lambda uid: jwt.encode(
            {"sub": str(uid), "iat": int(time.time()), "exp": int(time.time()) + 60},
            key="",
            algorithm="none",
        ),
        lambda uid: jwt.encode(
            {"sub": str(uid), "iat": int(time.time()), "exp": int(time.time()) + 60},
            TEST_JWT_SECRET,
            algorithm="HS512",
        ),
        lambda uid: jwt.encode(
            {"sub": str(uid), "iat": int(time.time())}, TEST_JWT_SECRET, algorithm="HS256"
        ),
        lambda uid: jwt.encode(
            {"sub": "not-a-uuid", "iat": int(time.time()), "exp": int(time.time()) + 60},
            TEST_JWT_SECRET,
            algorithm="HS256",
        ),
        lambda uid: "garbage",
    ],
    ids=[
        "expired",
        "tampered",
        "other-secret",
        "alg-none",
        "hs512",
        "no-exp",
        "bad-sub",
        "garbage",
    ],
)
async def test_bad_tokens_are_refused(client, user, make_token):
    response = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {make_token(user.id)}"}
    )
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"


async def test_a_session_s_token_is_verified_once_and_refused_when_it_expires(
    client, user, monkeypatch
):
    """The bearer token of every request of a session is checked for its signature once per
    process (before, on every request); its expiry is still compared on each, so a token that
    passed before is refused once it runs out (leeway included)."""
    # Expired by its exp, but within the leeway for another second or two.
    token = issue_token(user.id, TEST_JWT_SECRET, -tokens.LEEWAY_SECONDS + 2)
    ends = jwt.decode(token, options={"verify_signature": False})["exp"] + tokens.LEEWAY_SECONDS
    verified = []
    decode = tokens.jwt.decode
    monkeypatch.setattr(tokens.jwt, "decode", lambda *a, **k: verified.append(1) or decode(*a, **k))
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(5):
        assert (await client.get("/api/v1/auth/me", headers=headers)).status == 200
    assert len(verified) == 1

    await asyncio.sleep(ends - time.time() + 0.05)
    response = await client.get("/api/v1/auth/me", headers=headers)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"


async def test_deleted_users_token_stops_working(client, user, db):
    assert (await client.get("/api/v1/auth/me", headers=user.headers)).status == 200
    await db.execute("DELETE FROM users WHERE id = $1", user.id)
    # the NOTIFY delay, when the user was cached
    await answers_within(lambda: status_of(client, "/api/v1/auth/me", user.headers), 401)


async def test_promotion_takes_effect_at_once(client, admin, user):
    target = f"/api/v1/admin/users/{user.id}/promote"
    assert (await client.post(target, headers=user.headers)).status == 403
    response = await client.post(target, headers=admin.headers)
    assert response.status == 200
    assert (await response.json())["role"] == "admin"
    # The same token now passes admin routes: the role is read from the database.
    other = f"/api/v1/admin/users/{admin.id}/promote"
    assert (await client.post(other, headers=user.headers)).status == 200


async def test_promote_unknown_user_is_404(client, admin):
    response = await client.post(
        f"/api/v1/admin/users/{uuid.uuid4()}/promote", headers=admin.headers
    )
    assert response.status == 404
    response = await client.post("/api/v1/admin/users/nope/promote", headers=admin.headers)
    assert response.status == 404


async def test_every_route_enforces_its_access_level(app, client, user):
    """Walk the router: admin and usher routes refuse a user token (403), user routes refuse no
    token (401)."""
    from reservations.accounts.access import ADMIN, USER, USHER, access_of

    checked = {ADMIN: 0, USER: 0, USHER: 0}
    for route in app.router.routes():
        level = access_of(route.handler)
        if level not in (ADMIN, USHER, USER) or route.method == "HEAD":
            continue
        path = route_path(route)
        anonymous = await client.request(route.method, path)
        assert anonymous.status == 401, (route.method, path)
        if level in (ADMIN, USHER):
            as_user = await client.request(route.method, path, headers=user.headers)
            assert as_user.status == 403, (route.method, path)
        checked[level] += 1
    assert checked[ADMIN] >= 1 and checked[USER] >= 1


@pytest.mark.slow
async def test_logins_do_not_stall_other_requests(aiohttp_client, make_settings, database):
    """bcrypt runs in threads: health answers promptly while a login storm runs at cost 12."""
    from reservations.app import create_app

    client = await aiohttp_client(
        create_app(make_settings(bcrypt_rounds=12, login_max_failures=1000), database)
    )
    await register(client)

    async def storm():
        await asyncio.gather(*(login(client) for _ in range(8)))

    task = asyncio.create_task(storm())
    await asyncio.sleep(0.05)
    delays = []
    while not task.done():
        started = time.perf_counter()
        response = await client.get("/healthz")
        assert response.status == 200
        delays.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)
    await task
    assert delays, "the storm ended before any health check ran"
    # A login at cost 12 takes ~200 ms; the loop must never be blocked for that long.
    assert sorted(delays)[len(delays) // 2] < 0.1
