"""Rate limits on attempts (logins, registrations), counted in PostgreSQL before the work.

Each key (`login:<email> <network>`, `login-email:<email>`, ...) keeps the times of its attempts
in the last window (`login_attempts`). An attempt locks the rows of all its keys, reads how many
attempts each has had, and is either counted on all of them or refused, before any password is
hashed: 200 concurrent guesses cannot all pass a check that none of them has counted yet, every
instance shares the counts, and the window slides (no boundary to double the limit across).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from ..db import QUERIES
from ..errors import RateLimited


@dataclass(frozen=True)
class Limit:
    key: str
    max_attempts: int
    # The limit does not apply while this other key (of the same attempt) has no attempts in
    # the window: a per-email ceiling that never stops a client that has not failed.
    waived_while_clean: str | None = None


@dataclass(frozen=True)
class Attempt:
    """An attempt counted on `keys` at `at`, which `refund` can take back."""

    keys: tuple[str, ...]
    at: dt.datetime | None


async def count_attempt(
    pool: asyncpg.Pool, limits: list[Limit], window_seconds: int, message: str
) -> Attempt:
    """Count one attempt on every limit's key, or raise RateLimited (counting nothing) when a
    limit that applies has had `max_attempts` attempts in the last `window_seconds`."""
    keys = sorted({limit.key for limit in limits})
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(QUERIES.open_rate_limit_keys, keys)
        await conn.fetch(QUERIES.lock_rate_limit_keys, keys)
        rows = await conn.fetch(QUERIES.count_rate_limit_attempts, keys, window_seconds)
        recent = {row["key"]: (row["attempts"], row["seconds_to_room"]) for row in rows}
        counted: list[str] = []
        wait = 0
        for limit in limits:
            attempts, seconds_to_room = recent.get(limit.key, (0, None))
            if attempts < limit.max_attempts:
                counted.append(limit.key)
                continue
            waived_by = limit.waived_while_clean
            if waived_by is not None and recent.get(waived_by, (0, None))[0] == 0:
                continue  # full, but this client has not failed: let it try, uncounted here
            wait = max(wait, seconds_to_room or 1, 1)
        if wait:
            raise RateLimited(wait, message)
        at = None
        if counted:
            at = await conn.fetchval(QUERIES.add_rate_limit_attempt, counted, window_seconds)
    return Attempt(tuple(counted), at)


async def refund(pool: asyncpg.Pool, attempt: Attempt, forget: str | None = None) -> None:
    """The attempt went well: take it back, and forget every attempt of `forget`."""
    if attempt.at is None:
        return
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(QUERIES.refund_rate_limit_attempt, list(attempt.keys), attempt.at)
        if forget is not None:
            await conn.execute(QUERIES.forget_rate_limit_key, forget)
