"""The hold sweeper driven by hand: holds made to have expired, and sweepers of their own (as
on another instance) that run only when a test calls sweep_once or start."""

from __future__ import annotations

import dataclasses
from typing import Any

import asyncpg

from reservations.booking.sweeper import Sweeper
from reservations.db import create_pool
from reservations.settings import Settings
from tests.api import hold_seats
from tests.factories import Hall


async def expire_all_holds(db: asyncpg.Connection) -> None:
    await db.execute("UPDATE holds SET expires_at = now() - interval '1 second'")


async def expired_holds_of_one_seat_each(
    client: Any, db: asyncpg.Connection, make_account: Any, hall: Hall, labels: list[str]
) -> None:
    """Each seat held through the API by an account of its own, then every hold expired."""
    for seat in hall.ids(*labels):
        response = await hold_seats(client, await make_account(), hall.showtime_id, [seat])
        assert response.status == 201, await response.text()
    await expire_all_holds(db)


async def sweeper_for(
    database: str, settings: Settings, **changes: Any
) -> tuple[Sweeper, asyncpg.Pool]:
    """A sweeper on a pool of its own, not started; the caller closes the pool."""
    settings = dataclasses.replace(settings, **changes)
    pool = await create_pool(database, settings)
    return Sweeper(pool, settings), pool
