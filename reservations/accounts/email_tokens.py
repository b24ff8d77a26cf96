"""Password reset and address verification: single-use tokens sent by email.

A token is 32 random bytes (URL-safe base64 in the link); the database keeps only its SHA-256,
so a copy of the database opens no account. The email that carries it is written in the same
transaction as the token (sql/account_tokens.sql), and the sender forgets the token once the
SMTP server has accepted the email (reservations/mail/sender.py).

A reset request answers the same (202 `{}`) whether or not an account has the email, after the
same work: one rate-limit count, then one statement that writes a token row both ways (never
usable without an account) and the email only with one. Setting the new password spends every
reset token of the user and raises its token generation, which revokes every access token
issued before (their NOTIFY reaches every instance's cache of users).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from typing import Any

import asyncpg

from ..addresses import client_network
from ..db import QUERIES
from ..errors import ApiError, Forbidden
from ..settings import Settings
from .limits import Limit, count_attempt
from .passwords import PasswordHasher
from .user_cache import UserCache

TOKEN_BYTES = 32


class TokenInvalid(ApiError):
    status = 422
    code = "token_invalid"
    message = "This link is unknown, was used already or has expired."


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    message = "Confirm your email address first: follow the link we sent you."


def new_token() -> tuple[str, bytes]:
    """A token for a link, and the hash the database keeps."""
    token = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).decode().rstrip("=")
    return token, token_hash(token)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def require_verified_email(settings: Settings, user: asyncpg.Record) -> None:
    """REQUIRE_VERIFIED_EMAIL: holding seats needs a verified address."""
    if settings.require_verified_email and not user["email_verified"]:
        raise EmailNotVerified()


async def request_password_reset(
    pool: asyncpg.Pool, settings: Settings, email: str, address: str | None
) -> None:
    email = email.strip()
    limits = [Limit(f"reset-email:{email.lower()}", settings.password_reset_max_per_email)]
    network = client_network(address)
    if network:
        limits.append(Limit(f"reset-address:{network}", settings.password_reset_max_per_address))
    await count_attempt(
        pool,
        limits,
        settings.password_reset_window_seconds,
        "Too many password resets asked for; try again later.",
    )
    token, hashed = new_token()
    async with pool.acquire() as conn:
        await conn.fetch(
            QUERIES.request_password_reset,
            email,
            hashed,
            settings.password_reset_ttl_seconds,
            token,
        )


async def reset_password(
    pool: asyncpg.Pool,
    hasher: PasswordHasher,
    users: UserCache,
    token: str,
    password: str,
) -> dict[str, Any]:
    hashed = token_hash(token)
    async with pool.acquire() as conn:
        valid = await conn.fetchval(QUERIES.valid_password_reset_token, hashed)
    if not valid:  # checked first: no bcrypt work for a made-up token
        raise TokenInvalid()
    password_hash = await hasher.hash(password)
    async with pool.acquire() as conn:
        row = await conn.fetchrow(QUERIES.reset_password, hashed, password_hash)
    if row is None:  # used by a concurrent request, or expired, meanwhile
        raise TokenInvalid()
    users.user_changed(row["id"])
    return dict(row)


async def queue_verification(
    conn: asyncpg.Connection, settings: Settings, user_id: uuid.UUID
) -> bool:
    """Write a verification email for the user (in the caller's transaction, if any); False
    when the address is verified already."""
    token, hashed = new_token()
    email_id = await conn.fetchval(
        QUERIES.queue_verification, user_id, hashed, token, settings.verify_email_ttl_seconds
    )
    return email_id is not None


async def resend_verification(pool: asyncpg.Pool, settings: Settings, user: asyncpg.Record) -> None:
    if user["email_verified"]:
        return
    await count_attempt(
        pool,
        [Limit(f"verify-resend:{user['id']}", settings.verify_email_resend_max)],
        settings.verify_email_resend_window_seconds,
        "Too many verification emails asked for; try again later.",
    )
    async with pool.acquire() as conn:
        await queue_verification(conn, settings, user["id"])


async def verify_email(pool: asyncpg.Pool, users: UserCache, token: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(QUERIES.verify_email, token_hash(token))
    if row is None:
        raise TokenInvalid()
    users.user_changed(row["id"])
    return dict(row)
