"""Showtimes: when a movie plays in a theater, at what price.

The database decides overlaps (the `showtimes_no_overlap` exclusion constraint covers start to
end plus the cleaning buffer), so two concurrent creations cannot both pass. Creations and moves
in one theater take turns on the theater's schedule lock, so the loser of a race meets the
winner's committed row and answers 409, never a deadlock's 503. A cancelled
showtime keeps its row: its reservations are cancelled, never deleted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg

from ..db import QUERIES
from ..errors import Unprocessable
from ..prices.price_cards import price_from_cards
from ..settings import Settings
from ..showtime_lock import lock_showtime, refusals
from .errors import (
    MovieNotFound,
    ShowtimeHasReservations,
    ShowtimeNotFound,
    ShowtimeOverlap,
    StartInPast,
    TheaterNotFound,
)


@dataclass(frozen=True)
class ShowtimeFilters:
    day: dt.date | None = None
    movie_id: uuid.UUID | None = None
    theater_id: uuid.UUID | None = None
    genre: str | None = None
    include_past: bool = False


def local_day_bounds(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The instants where a calendar day of the cinema's time zone starts and ends (23 or 25
    hours apart on a daylight-saving change)."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def showtime_view(record: asyncpg.Record) -> dict:
    """A `showtimes_by_ids` row as the API answers it (ShowtimeSchema documents it)."""
    return {
        "id": record["id"],
        "movie_id": record["movie_id"],
        "theater_id": record["theater_id"],
        "start_time": record["start_time"],
        "end_time": record["end_time"],
        "price": record["price"],
        "available_seats": record["available_seats"],
        "total_seats": record["total_seats"],
        "movie": {"id": record["movie_id"], "title": record["movie_title"]},
        "theater": {"id": record["theater_id"], "name": record["theater_name"]},
        "cancelled_at": record["cancelled_at"],
    }


async def list_showtimes(
    pool: asyncpg.Pool | asyncpg.Connection,
    settings: Settings,
    filters: ShowtimeFilters,
    page: int,
    page_size: int,
) -> tuple[list[dict], int]:
    """One page of live showtimes, earliest first, and the total: two queries at most."""
    day_start, day_end = (
        local_day_bounds(filters.day, settings.cinema_tz) if filters.day else (None, None)
    )
    page_rows = await pool.fetch(
        QUERIES.showtime_page,
        day_start,
        day_end,
        filters.movie_id,
        filters.theater_id,
        filters.genre or None,
        filters.include_past,
        page_size,
        (page - 1) * page_size,
    )
    total = page_rows[0]["total"]
    ids = [row["id"] for row in page_rows if row["id"] is not None]
    if not ids:
        return [], total
    return [showtime_view(row) for row in await pool.fetch(QUERIES.showtimes_by_ids, ids)], total


async def lowest_prices(
    pool: asyncpg.Pool | asyncpg.Connection, showtime_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Decimal]:
    """Each showtime's cheapest seat for the default ticket type (the programme's "from"
    price), in one query for any number of showtimes."""
    if not showtime_ids:
        return {}
    rows = await pool.fetch(QUERIES.showtime_lowest_prices, showtime_ids)
    return {row["showtime_id"]: row["lowest_price"] for row in rows}


async def get_showtime(pool: asyncpg.Pool | asyncpg.Connection, showtime_id: uuid.UUID) -> dict:
    """A showtime, also a cancelled one (reservations link to it); see `cancelled_at`."""
    found = await pool.fetch(QUERIES.showtimes_by_ids, [showtime_id])
    if not found:
        raise ShowtimeNotFound()
    return showtime_view(found[0])


def _schedule(
    start: dt.datetime, duration_minutes: int, settings: Settings
) -> tuple[dt.datetime, dt.datetime]:
    """(end_time, busy_until): the movie's length, then the cleaning buffer."""
    end = start + dt.timedelta(minutes=duration_minutes)
    return end, end + dt.timedelta(minutes=settings.cleaning_buffer_minutes)


def _local(moment: dt.datetime, zone: ZoneInfo) -> str:
    """'Thu 10 Dec 2026, 20:00': a moment as the cinema's clock shows it."""
    when = moment.astimezone(zone)
    return f"{when:%a} {when.day} {when:%b %Y}, {when:%H:%M}"


def the_other_showtime(other: asyncpg.Record, zone: ZoneInfo) -> tuple[str, dict[str, object]]:
    """A showtime in the way (a find_overlapping_showtime row) in words and as details: its
    id, movie, and start and end on the cinema's clock, so that an admin knows which to move."""
    local = other["start_time"].astimezone(zone), other["end_time"].astimezone(zone)
    words = (
        f"“{other['movie_title']}” plays from {_local(other['start_time'], zone)} to "
        f"{local[1]:%H:%M} ({zone}), and the hall is cleaned until "
        f"{other['busy_until'].astimezone(zone):%H:%M} (showtime {other['id']})"
    )
    return words, {
        "conflicting_showtime_id": other["id"],
        "conflicting_movie_title": other["movie_title"],
        "conflicting_start_time": other["start_time"],
        "conflicting_end_time": other["end_time"],
        "conflicting_busy_until": other["busy_until"],
        "conflicting_local_start": f"{local[0]:%Y-%m-%dT%H:%M}",
        "conflicting_local_end": f"{local[1]:%Y-%m-%dT%H:%M}",
        "cinema_tz": str(zone),
    }


async def _overlap_error(
    pool: asyncpg.Pool,
    settings: Settings,
    theater_id: uuid.UUID,
    start: dt.datetime,
    busy_until: dt.datetime,
    showtime_id: uuid.UUID | None = None,
) -> ShowtimeOverlap:
    """The 409, naming the showtime in the way when it can still be seen."""
    other = await pool.fetchrow(
        QUERIES.find_overlapping_showtime, theater_id, start, busy_until, showtime_id
    )
    details: dict[str, object] = {"theater_id": theater_id}
    if other is None:
        return ShowtimeOverlap(details=details)
    words, named = the_other_showtime(other, settings.cinema_tz)
    return ShowtimeOverlap(f"The theater is busy then: {words}.", details={**details, **named})


def check_price(price: Decimal, settings: Settings) -> None:
    """A ticket costs more than 0.00 and at most MAX_TICKET_PRICE: any seat's price (times a
    multiplier of at most 99.99) and any reservation's total then fit numeric(10,2), where a
    larger one overflowed into a 500 at booking."""
    if not Decimal("0.01") <= price <= settings.max_ticket_price:
        raise Unprocessable(
            "Some fields are invalid.",
            details={
                "location": "json",
                "fields": {
                    "price": [
                        f"A ticket costs from 0.01 to {settings.max_ticket_price:.2f} "
                        "(MAX_TICKET_PRICE)."
                    ]
                },
            },
        )


async def create_showtime(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    movie_id: uuid.UUID,
    theater_id: uuid.UUID,
    start_time: dt.datetime,
    price: Decimal | None,
) -> dict:
    """Lock order: the movie's row (shared), then the theater's schedule lock, as a movie's
    new duration does (movies.update_movie), so the two never wait for each other."""
    if price is not None:
        check_price(price, settings)
    busy_until = None
    try:
        async with pool.acquire() as conn, conn.transaction():
            movie = await conn.fetchrow(QUERIES.movie_for_showtime, movie_id)
            if movie is None:
                raise MovieNotFound(details={"movie_id": movie_id})
            if start_time <= movie["now"]:
                raise StartInPast(details={"start_time": start_time, "now": movie["now"]})
            end_time, busy_until = _schedule(start_time, movie["duration_minutes"], settings)
            await conn.execute(QUERIES.lock_theater_schedule, theater_id)
            if price is None:
                price = await price_from_cards(conn, settings, theater_id, start_time)
            showtime_id = await conn.fetchval(
                QUERIES.insert_showtime,
                movie_id,
                theater_id,
                start_time,
                end_time,
                busy_until,
                price,
            )
            if showtime_id is None:
                raise TheaterNotFound(details={"theater_id": theater_id})
    except asyncpg.exceptions.ExclusionViolationError:
        assert busy_until is not None
        raise await _overlap_error(pool, settings, theater_id, start_time, busy_until) from None
    except asyncpg.exceptions.ForeignKeyViolationError:
        # The theater was deleted (DELETE /theaters/{id}) while this insert waited for it.
        raise TheaterNotFound(details={"theater_id": theater_id}) from None
    return await get_showtime(pool, showtime_id)


async def update_showtime(
    pool: asyncpg.Pool,
    settings: Settings,
    showtime_id: uuid.UUID,
    *,
    start_time: dt.datetime | None = None,
    price: Decimal | None = None,
) -> dict:
    """Change the price, or move the start (end and busy-until follow). Moving a showtime with
    confirmed reservations is refused; the seat lock keeps a booking from slipping in."""
    if price is not None:
        check_price(price, settings)
    theater_id = busy_until = None
    try:
        async with pool.acquire() as conn, conn.transaction():
            await lock_showtime(conn, showtime_id)
            if start_time is not None:  # a move: after the showtime's lock, the theater's
                await conn.execute(QUERIES.lock_schedule_of_showtime_theater, showtime_id)
            current = await conn.fetchrow(QUERIES.lock_live_showtime, showtime_id)
            if current is None:
                raise ShowtimeNotFound()
            new_price = price if price is not None else current["price"]
            if start_time is None:
                await conn.execute(QUERIES.update_showtime_price, showtime_id, new_price)
            else:
                if start_time != current["start_time"]:
                    if start_time <= current["now"]:
                        raise StartInPast(details={"start_time": start_time, "now": current["now"]})
                    booked = await conn.fetchval(
                        QUERIES.count_confirmed_reservations, [showtime_id]
                    )
                    if booked:
                        raise ShowtimeHasReservations(details={"confirmed_reservations": booked})
                theater_id = current["theater_id"]
                end_time, busy_until = _schedule(start_time, current["duration_minutes"], settings)
                await conn.execute(
                    QUERIES.update_showtime,
                    showtime_id,
                    start_time,
                    end_time,
                    busy_until,
                    new_price,
                )
    except asyncpg.exceptions.ExclusionViolationError:
        assert theater_id is not None and start_time is not None and busy_until is not None
        raise await _overlap_error(
            pool, settings, theater_id, start_time, busy_until, showtime_id
        ) from None
    return await get_showtime(pool, showtime_id)


async def cancel_showtime(pool: asyncpg.Pool, showtime_id: uuid.UUID) -> None:
    """Cancel a showtime that has not started (see cancel_in_transaction)."""
    async with pool.acquire() as conn:
        with refusals():
            await conn.execute(QUERIES.cancel_showtime, showtime_id)


async def cancel_in_transaction(conn: asyncpg.Connection, showtime_id: uuid.UUID) -> None:
    """Cancel a live showtime that has not started, inside the caller's transaction: its
    confirmed reservations become cancelled (reason showtime_cancelled, seats kept on record),
    its holds and claims go, and live viewers hear that those seats are available. Raises
    ShowtimeNotFound or ShowtimeStarted."""
    with refusals():
        await conn.execute(QUERIES.cancel_showtime, showtime_id)
