"""Account rules: registration, login with rate limits, promotion."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from ..db import QUERIES
from ..errors import ApiError, Conflict, NotFound, RateLimited, Unauthorized
from ..settings import Settings
from .passwords import MAX_PASSWORD_BYTES, PasswordHasher
from .tokens import issue_token

USER_FIELDS = ("id", "email", "first_name", "last_name", "role", "created_at")


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
) -> dict[str, Any]:
    """Everyone registers as a plain user; admins are made by promotion or the CLI."""
    password_hash = await hasher.hash(password)
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            QUERIES.insert_user, email, password_hash, first_name, last_name, "user"
        )
    if row is None:
        raise EmailTaken(details={"email": email})
    return user_view(row)


def _rate_limit_keys(email: str, address: str | None) -> list[str]:
    keys = [f"email:{email.lower()}"]
    if address:
        keys.append(f"address:{address}")
    return keys


async def login(
    pool: asyncpg.Pool,
    hasher: PasswordHasher,
    settings: Settings,
    *,
    email: str,
    password: str,
    address: str | None,
) -> dict[str, Any]:
    """Unknown email and wrong password fail alike, in about the same time (a decoy hash)."""
    keys = _rate_limit_keys(email, address)
    async with pool.acquire() as conn:
        blocked_for = await conn.fetchval(
            QUERIES.login_blocked_for,
            keys,
            settings.login_max_failures,
            settings.login_window_seconds,
        )
        if blocked_for > 0:
            raise RateLimited(blocked_for, "Too many failed logins; try again later.")
        user = await conn.fetchrow(QUERIES.find_user_by_email, email)
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        # No stored password is this long; still spend the time of a check.
        await hasher.check("x", None)
        ok = False
    else:
        ok = await hasher.check(password, user["password_hash"] if user else None)
    if not ok or user is None:
        async with pool.acquire() as conn:
            await conn.execute(QUERIES.record_login_failure, keys, settings.login_window_seconds)
        raise BadCredentials()
    token = issue_token(user["id"], settings.jwt_secret, settings.jwt_ttl_seconds)
    return {"access_token": token, "token_type": "bearer", "expires_in": settings.jwt_ttl_seconds}


async def promote(pool: asyncpg.Pool, user_id: uuid.UUID) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(QUERIES.set_user_role, user_id, "admin")
    if row is None:
        raise NotFound("No user has this id.")
    return user_view(row)


async def create_admin(
    pool: asyncpg.Pool, hasher: PasswordHasher, email: str, password: str
) -> dict[str, Any]:
    password_hash = await hasher.hash(password)
    async with pool.acquire() as conn:
        row = await conn.fetchrow(QUERIES.upsert_admin, email.strip(), password_hash)
    return user_view(row)
