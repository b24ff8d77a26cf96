"""Holds: seats kept for one person for a few minutes, then booked or released.

Each change is one call of a function of sql/code/03_seat_changes.sql (hold_seats,
release_held_seats_v2): it takes the showtime's advisory lock, frees the showtime's expired holds,
makes the change and returns, so the lock is held for one server-side execution. Best-available
too: it reads the seats and chooses in Python before taking any lock, then holds its choice
with the same hold_seats call, and chooses again if the seats changed meanwhile.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, cast

import asyncpg

from ..db import QUERIES
from ..errors import Busy
from ..settings import Settings
from .best_seats import Layout, best_available, matches
from .errors import (
    NotEnoughSeats,
    SeatUnavailable,
    ShowtimeNotFound,
    ShowtimeStarted,
    TooManySeats,
    UnknownSeats,
    WouldStrandSeat,
    refusals,
)
from .queues import ShowtimeQueues, showtime_turn
from .seat_map import SeatMapCache, changing_seats


async def _hold(
    conn: asyncpg.Connection,
    settings: Settings,
    user_id: uuid.UUID,
    showtime_id: uuid.UUID,
    seat_ids: list[uuid.UUID],
    gap_rule: str | None = None,
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
            gap_rule or settings.single_seat_gap_rule,
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
    queues: ShowtimeQueues | None = None,
) -> tuple[dict[str, Any], int]:
    """Hold all of `seat_ids` for the user, or none; adds to and renews an existing hold.
    Returns (the hold, how many seats were added to it)."""
    wanted = list(dict.fromkeys(seat_ids))
    if len(wanted) > settings.max_seats_per_hold:
        raise TooManySeats(settings.max_seats_per_hold, len(wanted))
    with _holding(seat_maps, showtime_id, wanted):
        async with showtime_turn(queues, showtime_id), pool.acquire() as conn:
            hold = await _hold(conn, settings, user_id, showtime_id, wanted)
    return hold_view(hold)


# How many times best-available chooses again when the seats it chose changed before it held
# them. Each miss means another request's change committed meanwhile, so the choice always
# moves on; past this many, the showtime is too busy right now (503 busy, Retry-After).
BEST_AVAILABLE_ATTEMPTS = 25


async def _choose_best_seats(
    pool: asyncpg.Pool,
    user_id: uuid.UUID,
    showtime_id: uuid.UUID,
    count: int,
    seat_type: str | None,
    accessible: bool,
) -> list[uuid.UUID]:
    """The best `count` free seats of the showtime as it is now (no lock taken)."""
    async with pool.acquire() as conn:
        showtime = await conn.fetchrow(QUERIES.showtime_to_choose_seats_of, showtime_id)
        if showtime is None:
            raise ShowtimeNotFound()
        if showtime["started"]:
            raise ShowtimeStarted()
        seats = await conn.fetch(
            QUERIES.seats_with_claims, showtime_id, showtime["theater_id"], user_id, None
        )
    layout = Layout.from_records(seats)
    free = {seat["id"] for seat in seats if not seat["claimed"]}
    picked = best_available(layout, free, count, seat_type, accessible)
    if picked is None:
        fitting = [s for s in free if matches(layout.seats[s], seat_type, accessible)]
        raise NotEnoughSeats(count, len(fitting))
    # The layout is built from these records, so its ids are theirs: UUIDs.
    return cast(list[uuid.UUID], picked)


async def hold_best_seats(
    pool: asyncpg.Pool,
    settings: Settings,
    user_id: uuid.UUID,
    showtime_id: uuid.UUID,
    count: int,
    seat_type: str | None = None,
    accessible: bool = False,
    seat_maps: SeatMapCache | None = None,
    queues: ShowtimeQueues | None = None,
) -> tuple[dict[str, Any], int]:
    """Choose the best `count` free seats (best_seats.best_available) and hold them like
    hold_seats does. The choice is made before the showtime's lock is taken, so the lock is
    held for one hold_seats call, never for Python's search; the hold is made under the gap
    rule 'enforce' whatever the setting (a fresh choice never strands a seat), so a choice
    made on seats that changed meanwhile, taken or stranding, is refused and made again: two
    people asking at once get different seats, and no seat is left stranded."""
    if count > settings.max_seats_per_hold:
        raise TooManySeats(settings.max_seats_per_hold, count)
    refused: list[uuid.UUID] | None = None
    for _ in range(BEST_AVAILABLE_ATTEMPTS):
        chosen = await _choose_best_seats(pool, user_id, showtime_id, count, seat_type, accessible)
        # The same choice refused as stranding on unchanged seats: the stranding is the
        # caller's hold's (made under 'warn'), not a stale choice; the setting judges it.
        gap_rule = None if chosen == refused else "enforce"
        try:
            with _holding(seat_maps, showtime_id, chosen):
                async with showtime_turn(queues, showtime_id), pool.acquire() as conn:
                    hold = await _hold(conn, settings, user_id, showtime_id, chosen, gap_rule)
        except SeatUnavailable:
            refused = None
            continue
        except WouldStrandSeat:
            if gap_rule is None:
                raise
            refused = chosen
            continue
        return hold_view(hold)
    raise Busy("Too many people are choosing seats of this showtime; try again shortly.")


async def release_seats(
    pool: asyncpg.Pool,
    user_id: uuid.UUID,
    showtime_id: uuid.UUID,
    seat_ids: Sequence[uuid.UUID] | None,
    seat_maps: SeatMapCache | None = None,
    gap_rule: str = "off",
    queues: ShowtimeQueues | None = None,
) -> list[uuid.UUID]:
    """Release these (or all) of the user's held seats of the showtime; the seats freed. Under
    the gap rule 'enforce', releasing some seats may not strand a single empty seat."""
    wanted = list(dict.fromkeys(seat_ids)) if seat_ids is not None else None
    with changing_seats(seat_maps, showtime_id), refusals():
        async with showtime_turn(queues, showtime_id), pool.acquire() as conn:
            result = await conn.fetchval(
                QUERIES.release_held_seats, showtime_id, user_id, wanted, gap_rule
            )
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
