"""Booking tests' shared pieces: the hold clock (a hold made older or nearer its expiry in the
database, instead of a test sleeping until it expires), times read back, and seat-change
notifications heard as another instance would. The `notifications` fixture is in conftest.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

from reservations.booking.changes import decode_notification

TICKET_CODE = re.compile(
    r"^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{4}(-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{4}){2}$"
)


def seconds(value):
    return dt.timedelta(seconds=value)


def when(text):
    return dt.datetime.fromisoformat(text)


async def db_now(db):
    return await db.fetchval("SELECT now()")


async def backdate_hold(db, user_id, showtime_id, *, age, left):
    """Pretend the user's hold was created `age` ago and has `left` before it expires."""
    await db.execute(
        "UPDATE holds SET created_at = now() - $3::interval, expires_at = now() + $4::interval"
        " WHERE user_id = $1 AND showtime_id = $2",
        user_id,
        showtime_id,
        age,
        left,
    )


class Notifications:
    """Seat-change notifications, heard on a connection of their own (as another instance)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    def _heard(self, connection, pid, channel, payload):
        self.queue.put_nowait(decode_notification(payload))

    async def next(self, within=5.0):
        async with asyncio.timeout(within):
            return await self.queue.get()

    async def through(self, version, within=5.0):
        """Every notification up to the showtime's `version`, waited for (they arrive a moment
        after the commit that sent them), and none after it."""
        heard = []
        while not heard or heard[-1][1] < version:
            heard.append(await self.next(within))
        return heard

    async def assert_silent(self, seconds=0.3):
        await asyncio.sleep(seconds)
        assert self.queue.empty(), self.queue.get_nowait()
