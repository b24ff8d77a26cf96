"""Movies and genres: what the cinema plays.

A deleted movie is hidden (deleted_at), not removed, so that the records of its past
reservations stay readable; its upcoming showtimes are cancelled with it, which is refused
while any of them has confirmed reservations.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from ..db import QUERIES
from ..settings import Settings
from ..showtime_lock import lock_showtime
from . import posters
from .errors import MovieHasReservations, MovieNotFound, ShowtimeOverlap
from .showtimes import cancel_in_transaction, local_day_bounds, the_other_showtime


def movie_view(record: asyncpg.Record) -> dict[str, Any]:
    """A `movies_by_ids` row as the API answers it (MovieSchema documents it)."""
    return {
        "id": record["id"],
        "title": record["title"],
        "description": record["description"],
        "genres": list(record["genres"]),
        "duration_minutes": record["duration_minutes"],
        "release_date": record["release_date"],
        "poster_url": posters.poster_url(record["poster_file"]),
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
    }


async def list_genres(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return [dict(row) for row in await pool.fetch(QUERIES.list_genres)]


async def list_movies(
    pool: asyncpg.Pool | asyncpg.Connection,
    settings: Settings,
    *,
    genre: str | None = None,
    day: dt.date | None = None,
    search: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> tuple[list[dict[str, Any]], int]:
    """One page of live movies by title, and the total: two queries at most."""
    day_start, day_end = local_day_bounds(day, settings.cinema_tz) if day else (None, None)
    page_rows = await pool.fetch(
        QUERIES.movie_page,
        genre or None,
        day_start,
        day_end,
        search or None,
        page_size,
        (page - 1) * page_size,
    )
    total = page_rows[0]["total"]
    ids = [row["id"] for row in page_rows if row["id"] is not None]
    if not ids:
        return [], total
    return [movie_view(row) for row in await pool.fetch(QUERIES.movies_by_ids, ids)], total


async def get_movie(pool: asyncpg.Pool | asyncpg.Connection, movie_id: uuid.UUID) -> dict:
    found = await pool.fetch(QUERIES.movies_by_ids, [movie_id])
    if not found:
        raise MovieNotFound()
    return movie_view(found[0])


async def find_movie_by_title(pool: asyncpg.Pool, title: str) -> asyncpg.Record | None:
    """The live movie with this title (any case): its id and poster_file."""
    return await pool.fetchrow(QUERIES.live_movie_by_title, title)


async def ensure_movie(pool: asyncpg.Pool, movie_id: uuid.UUID) -> None:
    """404 unless the movie is live."""
    if not await pool.fetchval(QUERIES.movie_is_live, movie_id):
        raise MovieNotFound()


async def _set_genres(conn: asyncpg.Connection, movie_id: uuid.UUID, names: list[str]) -> None:
    genres = await conn.fetch(QUERIES.ensure_genres, names) if names else []
    await conn.execute(QUERIES.clear_movie_genres, movie_id)
    await conn.execute(QUERIES.add_movie_genres, movie_id, [genre["id"] for genre in genres])


async def create_movie(
    pool: asyncpg.Pool,
    *,
    title: str,
    description: str,
    genres: list[str],
    duration_minutes: int,
    release_date: dt.date | None,
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        movie_id = await conn.fetchval(
            QUERIES.insert_movie, title, description, duration_minutes, release_date
        )
        await _set_genres(conn, movie_id, genres)
        return await get_movie(conn, movie_id)


async def update_movie(
    pool: asyncpg.Pool, settings: Settings, movie_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    """Replace the fields present in `changes`. A new duration moves the end (and cleaning) of
    the movie's showtimes that have not started; 409 if that makes one overlap the next."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            current = await conn.fetchrow(QUERIES.lock_live_movie, movie_id)
            if current is None:
                raise MovieNotFound()
            await conn.execute(
                QUERIES.update_movie,
                movie_id,
                changes.get("title"),
                changes.get("description"),
                changes.get("duration_minutes"),
                "release_date" in changes,
                changes.get("release_date"),
            )
            if "genres" in changes:
                await _set_genres(conn, movie_id, changes["genres"])
            duration = changes.get("duration_minutes")
            if duration is not None and duration != current["duration_minutes"]:
                # After the movie's row lock, as creations take them: the schedules it moves.
                await conn.execute(QUERIES.lock_schedules_of_movie_theaters, movie_id)
                await conn.execute(
                    QUERIES.stretch_movie_showtimes,
                    movie_id,
                    duration,
                    settings.cleaning_buffer_minutes,
                )
            return await get_movie(conn, movie_id)
    except asyncpg.exceptions.ExclusionViolationError:
        raise await _stretch_overlap(
            pool, settings, movie_id, changes["duration_minutes"]
        ) from None


async def _stretch_overlap(
    pool: asyncpg.Pool, settings: Settings, movie_id: uuid.UUID, duration: int | None
) -> ShowtimeOverlap:
    """The 409 of a duration that makes a showtime of the movie run into the next one, naming
    both when they can still be seen."""
    details: dict[str, object] = {"duration_minutes": duration}
    found = duration and await pool.fetchrow(
        QUERIES.find_stretched_overlap, movie_id, duration, settings.cleaning_buffer_minutes
    )
    if not found:
        return ShowtimeOverlap(
            "With this duration one of the movie's showtimes would overlap the next showtime "
            "in its theater.",
            details=details,
        )
    zone = settings.cinema_tz
    words, named = the_other_showtime(found, zone)
    moved = found["stretched_start_time"].astimezone(zone)
    return ShowtimeOverlap(
        f"With this duration its showtime of {moved:%a} {moved.day} {moved:%b %Y}, "
        f"{moved:%H:%M} would overlap the next one in its theater: {words}.",
        details={**details, "stretched_showtime_id": found["stretched_id"], **named},
    )


async def delete_movie(pool: asyncpg.Pool, settings: Settings, movie_id: uuid.UUID) -> None:
    """Hide the movie and cancel its upcoming showtimes (their holds go, live viewers are told);
    409 while one of them has confirmed reservations. The poster file goes after the commit."""
    async with pool.acquire() as conn, conn.transaction():
        movie = await conn.fetchrow(QUERIES.lock_live_movie, movie_id)
        if movie is None:
            raise MovieNotFound()
        # New showtimes wait for the movie's row lock; existing ones are locked in id order
        # before counting, so no reservation is confirmed between the count and the cancel.
        upcoming = [
            row["id"] for row in await conn.fetch(QUERIES.upcoming_showtimes_of_movie, movie_id)
        ]
        for showtime_id in upcoming:
            await lock_showtime(conn, showtime_id)
        booked = await conn.fetchval(QUERIES.count_confirmed_reservations, upcoming)
        if booked:
            raise MovieHasReservations(details={"confirmed_reservations": booked})
        for showtime_id in upcoming:
            await cancel_in_transaction(conn, showtime_id)
        await conn.execute(QUERIES.soft_delete_movie, movie_id)
    posters.remove_poster(settings.poster_dir, movie["poster_file"])


async def set_poster(
    pool: asyncpg.Pool, settings: Settings, movie_id: uuid.UUID, upload: Path
) -> dict[str, Any]:
    """Check and store the image at `upload` as the movie's poster; the old file goes."""
    name = await posters.store_upload(upload, settings)
    async with pool.acquire() as conn:
        replaced = await conn.fetchrow(QUERIES.replace_movie_poster, movie_id, name)
    if replaced is None:
        posters.remove_poster(settings.poster_dir, name)
        raise MovieNotFound()
    posters.remove_poster(settings.poster_dir, replaced["old_file"])
    return await get_movie(pool, movie_id)
