"""Guessing voucher codes is rate limited per user: failed POST /vouchers/check and bookings
refused with voucher_invalid count in the same sliding window (VOUCHER_CHECK_MAX_FAILURES per
VOUCHER_CHECK_WINDOW_SECONDS, the login_attempts table), and a user past it is answered 429
before any code of theirs is tried. Imports nothing of booking, which calls it."""

from __future__ import annotations

import contextlib
import uuid

import asyncpg

from ..accounts.limits import Attempt, Limit, count_attempt, refund
from ..db import QUERIES
from ..errors import RateLimited
from ..settings import Settings

MESSAGE = "Too many voucher codes tried; wait before trying again."


def _limit(settings: Settings, user_id: uuid.UUID) -> Limit:
    return Limit(f"voucher-guess:{user_id}", settings.voucher_check_max_failures)


async def count_try(pool: asyncpg.Pool, settings: Settings, user_id: uuid.UUID) -> Attempt:
    """Count a try now (RateLimited when the user is past the limit); refund it if it was right."""
    return await count_attempt(
        pool, [_limit(settings, user_id)], settings.voucher_check_window_seconds, MESSAGE
    )


async def forgive(pool: asyncpg.Pool, attempt: Attempt) -> None:
    await refund(pool, attempt)


async def refuse_while_guessing(pool: asyncpg.Pool, settings: Settings, user_id: uuid.UUID) -> None:
    """Before a booking tries a voucher code: 429 while the user is past the limit."""
    limit = _limit(settings, user_id)
    rows = await pool.fetch(
        QUERIES.count_rate_limit_attempts, [limit.key], settings.voucher_check_window_seconds
    )
    for row in rows:
        if row["attempts"] >= limit.max_attempts:
            raise RateLimited(max(row["seconds_to_room"] or 1, 1), MESSAGE)


async def note_wrong_code(pool: asyncpg.Pool, settings: Settings, user_id: uuid.UUID) -> None:
    """A booking was refused with voucher_invalid: one more failed try (past the limit already,
    the next booking with a code is refused before trying it)."""
    with contextlib.suppress(RateLimited):
        await count_try(pool, settings, user_id)
