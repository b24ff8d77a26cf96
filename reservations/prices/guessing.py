"""Guessing voucher codes is rate limited per user: failed POST /vouchers/check and bookings
refused with voucher_invalid count in the same sliding window (VOUCHER_CHECK_MAX_FAILURES per
VOUCHER_CHECK_WINDOW_SECONDS, the login_attempts table), and a user past it is answered 429
before any code of theirs is tried (a booking asks in its own statement: `booking_check`).
Imports nothing of booking, which calls it."""

from __future__ import annotations

import contextlib
import uuid

import asyncpg

from ..accounts.limits import (
    PATIENCE_SECONDS,
    UNDECIDED_SECONDS,
    Attempt,
    Limit,
    begin_attempt,
    decide,
)
from ..errors import RateLimited
from ..settings import Settings

MESSAGE = "Too many voucher codes tried; wait before trying again."


def _limit(settings: Settings, user_id: uuid.UUID) -> Limit:
    return Limit(f"voucher-guess:{user_id}", settings.voucher_check_max_failures)


async def _begin(
    pool: asyncpg.Pool, settings: Settings, user_id: uuid.UUID, patience: float = PATIENCE_SECONDS
) -> Attempt:
    window = settings.voucher_check_window_seconds
    return await begin_attempt(
        pool, [_limit(settings, user_id)], window, MESSAGE, patience=patience
    )


async def count_try(pool: asyncpg.Pool, settings: Settings, user_id: uuid.UUID) -> Attempt:
    """A try in flight (RateLimited when the user is past the limit), for `settle`."""
    return await _begin(pool, settings, user_id)


async def settle(pool: asyncpg.Pool, attempt: Attempt, *, wrong: bool) -> None:
    """A wrong code counts against the user from now on; any other outcome is forgotten."""
    await decide(pool, attempt, failed=wrong)


def booking_check(settings: Settings, user_id: uuid.UUID) -> tuple[str, int, int, int]:
    """What a booking with a voucher code asks before the showtime's lock, in its own statement
    (voucher_guessing_wait, sql/code/05_prices.sql): the user's key, window, limit and patience
    with undecided tries. A read, no write, and no round trip of its own: a booking with a right
    code costs nothing more for it (the try is counted only when it turns out wrong,
    `note_wrong_code`)."""
    limit = _limit(settings, user_id)
    return (
        limit.key,
        settings.voucher_check_window_seconds,
        limit.max_failures,
        UNDECIDED_SECONDS,
    )


def refused(seconds: int) -> RateLimited:
    """The 429 of a booking whose user is past the limit, `seconds` before the next try."""
    return RateLimited(seconds, MESSAGE)


async def note_wrong_code(pool: asyncpg.Pool, settings: Settings, user_id: uuid.UUID) -> None:
    """A booking was refused with voucher_invalid: one more failed try (past the limit already,
    the next booking with a code is refused before trying it)."""
    with contextlib.suppress(RateLimited):
        await settle(pool, await _begin(pool, settings, user_id, patience=0), wrong=True)
