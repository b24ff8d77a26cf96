"""Account rules: registration, login with rate limits, promotion."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import asyncpg

from ..addresses import client_network
from ..db import QUERIES
from ..errors import ApiError, Conflict, NotFound, Unauthorized
from ..settings import Settings
from .email_tokens import queue_verification
from .limits import Limit, begin_attempt, count_attempt, decide
from .passwords import MAX_PASSWORD_BYTES, PasswordHasher
from .tokens import (
    Device,
    InvalidToken,
    issue_device_token,
    issue_token,
    read_device_token,
)
from .user_cache import UserCache

DAY_SECONDS = 24 * 3600
USER_FIELDS = ("id", "email", "first_name", "last_name", "role", "email_verified", "created_at")


class EmailTaken(Conflict):
    code = "email_taken"
    message = "An account with this email already exists."


class BadCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "The email or password is wrong."


class PasswordTooLong(ApiError):
    status = 422
    code = "password_too_long"
    message = f"Passwords can be at most {MAX_PASSWORD_BYTES} bytes."


def user_view(record: asyncpg.Record) -> dict[str, Any]:
    return {name: record[name] for name in USER_FIELDS}


async def register(
    pool: asyncpg.Pool,
    hasher: PasswordHasher,
    *,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    settings: Settings | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """Everyone registers as a plain user; admins are made by promotion or the CLI. Each client
    network may register REGISTER_MAX_PER_ADDRESS accounts per REGISTER_WINDOW_SECONDS,
    counted before the password is hashed."""
    if settings is not None:
        network = client_network(address)
        await count_attempt(
            pool,
            [Limit(f"register:{network}", settings.register_max_per_address)],
            settings.register_window_seconds,
            "Too many accounts registered from this network; try again later.",
        )
    password_hash = await hasher.hash(password)
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            QUERIES.insert_user, email, password_hash, first_name, last_name, "user"
        )
        if row is not None and settings is not None:
            # The link to verify the address, in the transaction that made the account.
            await queue_verification(conn, settings, row["id"])
    if row is None:
        raise EmailTaken(details={"email": email})
    return user_view(row)


def login_limits(
    settings: Settings, email_key: str, address: str | None, device: Device | None = None
) -> list[Limit]:
    """A client (email and network) gets LOGIN_MAX_FAILURES tries, and an email and a network
    much higher ceilings, whatever the addresses. `email_key` is the email as the database finds
    the account by it (find_login_account), so that no case variant gets keys of its own.

    A device that logged into this account before (its device token) is judged on its own
    LOGIN_MAX_FAILURES alone: others' guesses, which fill the email's ceiling, cannot lock the
    owner out, and a device token is only had by logging in."""
    if device is not None:
        return [Limit(f"login-device:{device.device_id}", settings.login_max_failures)]
    network = client_network(address)
    limits = [
        Limit(f"login:{network} {email_key}", settings.login_max_failures),
        Limit(f"login-email:{email_key}", settings.login_max_failures_per_email),
    ]
    if network:
        limits.append(Limit(f"login-address:{network}", settings.login_max_failures_per_address))
    return limits


def known_device(
    settings: Settings, account: asyncpg.Record, device_token: str | None
) -> Device | None:
    """The device of `device_token` if it is valid and this account's, else None."""
    if not device_token or account["id"] is None:
        return None
    try:
        device = read_device_token(device_token, settings.jwt_secret)
    except InvalidToken:
        return None
    return device if device.user_id == account["id"] else None


async def login(
    pool: asyncpg.Pool,
    hasher: PasswordHasher,
    settings: Settings,
    *,
    email: str,
    password: str,
    address: str | None,
    device_token: str | None = None,
) -> dict[str, Any]:
    """Unknown email and wrong password fail alike, in about the same time (a decoy hash).

    The attempt is counted in flight before the password is hashed and settled after: a
    failure counts, a success does not (limits.py). A success answers a device token too."""
    async with pool.acquire() as conn:
        account = await conn.fetchrow(QUERIES.find_login_account, email)
    device = known_device(settings, account, device_token)
    limits = login_limits(settings, account["email_key"], address, device)
    attempt = await begin_attempt(
        pool, limits, settings.login_window_seconds, "Too many failed logins; try again later."
    )
    try:
        ok = await _check_password(hasher, account, password)
    except BaseException:
        # The attempt was not judged (no answer about the password reaches the client): take
        # it back (were it left in flight, it would count as a failure after UNDECIDED_SECONDS).
        with contextlib.suppress(Exception):
            await decide(pool, attempt, failed=False)
        raise
    await decide(pool, attempt, failed=not ok, forget=limits[0].key if ok else None)
    if not ok:
        raise BadCredentials()
    token = issue_token(
        account["id"], settings.jwt_secret, settings.jwt_ttl_seconds, account["token_generation"]
    )
    device = device or Device(account["id"], uuid.uuid4())
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": settings.jwt_ttl_seconds,
        "device_token": issue_device_token(
            device, settings.jwt_secret, settings.login_device_ttl_days * DAY_SECONDS
        ),
    }


async def _check_password(hasher: PasswordHasher, account: asyncpg.Record, password: str) -> bool:
    """Whether `password` is the password of the account (False without one)."""
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        # No stored password is this long; still spend the time of a check.
        await hasher.check("x", None)
        return False
    ok = await hasher.check(password, account["password_hash"])
    return ok and account["id"] is not None


async def promote(
    pool: asyncpg.Pool, user_id: uuid.UUID, users: UserCache | None = None
) -> dict[str, Any]:
    """Make the user an admin (set_role)."""
    return await set_role(pool, user_id, "admin", users)


async def set_role(
    pool: asyncpg.Pool, user_id: uuid.UUID, role: str, users: UserCache | None = None
) -> dict[str, Any]:
    """Give the user this role (user, usher or admin). This instance's cached copy of the user
    (`users`) is dropped as soon as the change is over, made or not (a call whose answer was
    lost may still have committed), so its very next request here sees the new role; other
    instances hear of it through the users trigger's NOTIFY."""
    try:
        async with pool.acquire() as conn:
            row = await conn.fetchrow(QUERIES.set_user_role, user_id, role)
    finally:
        if users is not None:
            users.user_changed(user_id)
    if row is None:
        raise NotFound("No user has this id.")
    return user_view(row)


async def revoke_sessions(
    pool: asyncpg.Pool, user_id: uuid.UUID, users: UserCache | None = None
) -> dict[str, Any]:
    """Log the user out everywhere: every access token issued to them so far is refused (on
    this instance at once, on the others within the NOTIFY delay of their user caches), and
    their live seat-map sockets are closed. They can log in again."""
    try:
        async with pool.acquire() as conn:
            row = await conn.fetchrow(QUERIES.revoke_user_tokens, user_id)
    finally:
        if users is not None:
            users.user_changed(user_id)
    if row is None:
        raise NotFound("No user has this id.")
    return user_view(row)


async def list_users(
    pool: asyncpg.Pool, email_part: str | None, role: str | None, page: int, page_size: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of users by email, those whose email contains `email_part` (any case) and who
    have `role` (None: any); and how many match in all."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            QUERIES.user_page, email_part, role, page_size, (page - 1) * page_size
        )
    return [user_view(row) for row in rows if row["id"] is not None], rows[0]["total"]


async def create_admin(
    pool: asyncpg.Pool, hasher: PasswordHasher, email: str, password: str
) -> dict[str, Any]:
    """Create an admin, or take over the account that has this email: it becomes an admin with
    this password, and every token issued to it before is revoked (whoever registered the email
    first must not keep a session that has just become an admin's). `existed` and
    `previous_role` say which happened."""
    password_hash = await hasher.hash(password)
    async with pool.acquire() as conn:
        row = await conn.fetchrow(QUERIES.upsert_admin, email.strip(), password_hash)
    return {**user_view(row), "existed": row["existed"], "previous_role": row["previous_role"]}
