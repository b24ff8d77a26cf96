"""Holds: seats kept for one person for a few minutes, then booked or released.

Each change is one call of a function of sql/code/03_seat_changes.sql (hold_seats, release_held_seats): it
takes the showtime's advisory lock, frees the showtime's expired holds, makes the change and
returns, so the lock is held for one server-side execution. Best-available alone reads the
seats under the lock and chooses in Python, then finishes with the same hold_seats call.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, cast

import asyncpg

from ..db import QUERIES
from ..settings import Settings
from .best_seats import Layout, best_available, matches
from .errors import (
    NotEnoughSeats,
    SeatUnavailable,
    ShowtimeNotFound,
    TooManySeats,
    UnknownSeats,
    refusals,
)
from .seat_map import SeatMapCache, changing_seats


async def _hold(
    conn: asyncpg.Connection,
    settings: Settings,
    user_id: uuid.UUID,
    showtime_id: uuid.UUID,
    seat_ids: list[uuid.UUID],
) -> dict[str, Any]:
    return cast(
        dict[str, Any],
        await conn.fetchval(
            QUERIES.hold_seats,
            showtime_id,
            user_id,
            seat_ids,
            settings.hold_ttl_seconds,
            settings.max_hold_lifetime_seconds,
            settings.max_seats_per_hold,
            settings.max_showtimes_held_per_user,
            settings.hold_cooldown_seconds,
            settings.single_seat_gap_rule,
            settings.max_seats_per_user_per_showtime,
        ),
    )


def hold_view(hold: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The hold_seats answer as the API answers it (HoldSchema), and how many seats it added."""
    added = hold.pop("added")
    return hold, added


@contextlib.contextmanager
def _holding(
    seat_maps: SeatMapCache | None, showtime_id: uuid.UUID, seat_ids: list[uuid.UUID]
) -> Iterator[None]:
    """Around a hold of `seat_ids`: refusals as their errors, a claim the database refused as
    seat_unavailable, and this process's cached map of the showtime dropped."""
    try:
        with changing_seats(seat_maps, showtime_id), refusals():
            yield
    except asyncpg.UniqueViolationError:
        # Only reachable if the checks under the lock were wrong: the database said no.
        raise SeatUnavailable(seat_ids) from None


async def hold_seats(
    pool: asyncpg.Pool,
    settings: Settings,
    user_id: uuid.UUID,
    showtime_id: uuid.UUID,
    seat_ids: Sequence[uuid.UUID],
    seat_maps: SeatMapCache | None = None,
) -> tuple[dict[str, Any], int]:
    """Hold all of `seat_ids` for the user, or none; adds to and renews an existing hold.
    Returns (the hold, how many seats were added to it)."""
    wanted = list(dict.fromkeys(seat_ids))
    if len(wanted) > settings.max_seats_per_hold:
        raise TooManySeats(settings.max_seats_per_hold, len(wanted))
    with _holding(seat_maps, showtime_id, wanted):
        async with pool.acquire() as conn:
            hold = await _hold(conn, settings, user_id, showtime_id, wanted)
    return hold_view(hold)


async def hold_best_seats(
    pool: asyncpg.Pool,
    settings: Settings,
    user_id: uuid.UUID,
    showtime_id: uuid.UUID,
    count: int,
    seat_type: str | None = None,
    accessible: bool = False,
    seat_maps: SeatMapCache | None = None,
) -> tuple[dict[str, Any], int]:
    """Choose the best `count` free seats (best_seats.best_available) and hold them like
    hold_seats does, in one transaction under the showtime's lock: two people asking at once
    are served one after the other, so they get different seats."""
    if count > settings.max_seats_per_hold:
        raise TooManySeats(settings.max_seats_per_hold, count)
    chosen: list[uuid.UUID] = []
    with _holding(seat_maps, showtime_id, chosen):
        async with pool.acquire() as conn, conn.transaction():
            theater_id = await conn.fetchval(QUERIES.open_seat_change, showtime_id)
            seats = await conn.fetch(
                QUERIES.seats_with_claims, showtime_id, theater_id, user_id, None
            )
            layout = Layout.from_records(seats)
            free = {seat["id"] for seat in seats if not seat["claimed"]}
            picked = best_available(layout, free, count, seat_type, accessible)
            if picked is None:
                fitting = [s for s in free if matches(layout.seats[s], seat_type, accessible)]
                raise NotEnoughSeats(count, len(fitting))
            # The layout is built from these records, so its ids are theirs: UUIDs.
            chosen.extend(cast(list[uuid.UUID], picked))
            hold = await _hold(conn, settings, user_id, showtime_id, chosen)
    return hold_view(hold)


async def release_seats(
    pool: asyncpg.Pool,
    user_id: uuid.UUID,
    showtime_id: uuid.UUID,
    seat_ids: Sequence[uuid.UUID] | None,
    seat_maps: SeatMapCache | None = None,
) -> list[uuid.UUID]:
    """Release these (or all) of the user's held seats of the showtime; the seats freed."""
    wanted = list(dict.fromkeys(seat_ids)) if seat_ids is not None else None
    with changing_seats(seat_maps, showtime_id), refusals():
        async with pool.acquire() as conn:
            result = await conn.fetchval(QUERIES.release_held_seats, showtime_id, user_id, wanted)
    return [uuid.UUID(seat) for seat in result["freed_seat_ids"]]


async def check_stranded_seats(
    pool: asyncpg.Pool,
    settings: Settings,
    showtime_id: uuid.UUID,
    user_id: uuid.UUID | None,
    seat_ids: Sequence[uuid.UUID],
) -> dict[str, Any]:
    """What lock-seats would say about adding `seat_ids` to the caller's hold (no hold without a
    token), without holding anything: for the seat-selection page to warn before it holds them."""
    wanted = list(dict.fromkeys(seat_ids))
    async with pool.acquire() as conn:
        row = await conn.fetchrow(QUERIES.stranded_seats_of_hold, showtime_id, user_id, wanted)
    if row is None:
        raise ShowtimeNotFound()
    hold = list(row["hold_seat_ids"])
    unknown = [seat for seat in wanted if seat not in set(hold)]
    if unknown:
        raise UnknownSeats(unknown)
    return {
        "showtime_id": showtime_id,
        "seat_ids": hold,
        "stranded_seat_ids": list(row["stranded_seat_ids"]),
        "single_seat_gap_rule": settings.single_seat_gap_rule,
    }
