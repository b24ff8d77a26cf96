"""Rate limits on attempts (logins, registrations), judged in PostgreSQL before the work.

Each key (`login:<network> <email>`, `login-email:<email>`, ...) keeps its failures of the
last window and its attempts in flight (sql/code/08_rate_limits.sql). An attempt is judged on
all its keys at once, under their row locks taken in key order, before any password is hashed:

- a key that has had its failures refuses (429, Retry-After until the oldest leaves the window);
- a key that its failures and the attempts in flight together fill makes the attempt wait until
  those in flight are decided: a correct password does not count, so 40 logins of one account
  at once all get in, while 100 wrong guesses at once still let at most the limit be hashed;
- otherwise the attempt is counted in flight, and `decide` settles it as a failure or not.

Every instance shares the counts, and the window slides (no boundary to double the limit across).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

import asyncpg

from ..db import QUERIES
from ..errors import RateLimited

# An attempt undecided this long (its process died while hashing) counts as a failure.
UNDECIDED_SECONDS = 60
# How long an attempt past the limit waits for the attempts in flight before it is refused.
PATIENCE_SECONDS = 10.0
_FIRST_PAUSE, _LONGEST_PAUSE = 0.01, 0.2


@dataclass(frozen=True)
class Limit:
    key: str
    max_failures: int


@dataclass(frozen=True)
class Attempt:
    """An attempt counted in flight on `keys` at `at`, which `decide` settles."""

    keys: tuple[str, ...]
    at: dt.datetime


async def begin_attempt(
    pool: asyncpg.Pool,
    limits: list[Limit],
    window_seconds: int,
    message: str,
    *,
    patience: float = PATIENCE_SECONDS,
) -> Attempt:
    """Count an attempt in flight on every limit's key, waiting (at most `patience` seconds)
    while attempts in flight fill a limit that failures alone do not; or raise RateLimited."""
    keys, maxima = _keys_and_maxima(limits)
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + patience
    pause = _FIRST_PAUSE
    while True:
        async with pool.acquire() as conn:
            verdict = await conn.fetchrow(
                QUERIES.judge_attempt, keys, maxima, window_seconds, UNDECIDED_SECONDS, False
            )
        if verdict["verdict"] == "go":
            return Attempt(tuple(keys), verdict["attempted_at"])
        if verdict["verdict"] == "refuse" or loop.time() >= give_up_at:
            raise RateLimited(max(1, verdict["seconds"]), message)
        await asyncio.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE)


async def count_attempt(
    pool: asyncpg.Pool, limits: list[Limit], window_seconds: int, message: str
) -> None:
    """Count one attempt (a registration) on every limit's key at once, or raise RateLimited
    when a limit has had its attempts in the window."""
    keys, maxima = _keys_and_maxima(limits)
    async with pool.acquire() as conn:
        verdict = await conn.fetchrow(
            QUERIES.judge_attempt, keys, maxima, window_seconds, UNDECIDED_SECONDS, True
        )
    if verdict["verdict"] != "go":
        raise RateLimited(max(1, verdict["seconds"]), message)


async def decide(
    pool: asyncpg.Pool, attempt: Attempt, *, failed: bool, forget: str | None = None
) -> None:
    """Settle the attempt: a failure counts from now on; a success is forgotten, and so is
    every failure of `forget` (the client that has just proved it knows the password)."""
    async with pool.acquire() as conn:
        await conn.execute(QUERIES.decide_attempt, list(attempt.keys), attempt.at, failed, forget)


def _keys_and_maxima(limits: list[Limit]) -> tuple[list[str], list[int]]:
    """One entry per key (the tightest limit of a key that appears twice)."""
    tightest: dict[str, int] = {}
    for limit in limits:
        tightest[limit.key] = min(limit.max_failures, tightest.get(limit.key, limit.max_failures))
    keys = sorted(tightest)
    return keys, [tightest[key] for key in keys]
