"""Theaters and their seat layouts, drawn as the hall looks: rows from the screen backwards,
seats numbered from 1 in each row, aisle gaps counted as empty columns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from ..db import QUERIES
from .errors import TheaterInUse, TheaterNameTaken, TheaterNotFound


@dataclass(frozen=True)
class PlannedSeat:
    row_label: str
    seat_number: int
    seat_type: str
    row_index: int
    column_index: int


def plan_seats(rows: list[dict[str, Any]]) -> list[PlannedSeat]:
    """The seats of validated rows (see schemas.RowRequest): row_index is the row's position
    from the screen, column_index the seat's number minus one plus the aisles before it."""
    seats = []
    for row_index, row in enumerate(rows):
        aisles = set(row.get("aisles_after", ()))
        overrides = row.get("seat_types", {})
        aisles_so_far = 0
        for number in range(1, row["seats"] + 1):
            seats.append(
                PlannedSeat(
                    row_label=row["label"],
                    seat_number=number,
                    seat_type=overrides.get(number, row.get("seat_type", "regular")),
                    row_index=row_index,
                    column_index=number - 1 + aisles_so_far,
                )
            )
            if number in aisles:
                aisles_so_far += 1
    return seats


def theater_view(record: asyncpg.Record, seats: list[asyncpg.Record] | None = None) -> dict:
    """A `theaters_by_ids` row (and its seats) as the API answers it (TheaterSchema)."""
    theater = {
        "id": record["id"],
        "name": record["name"],
        "total_seats": record["total_seats"],
        "columns": record["columns"],
        "rows": record["rows"],
        "created_at": record["created_at"],
    }
    if seats is not None:
        theater["seats"] = [dict(seat) for seat in seats]
    return theater


async def create_theater(pool: asyncpg.Pool, name: str, rows: list[dict[str, Any]]) -> dict:
    seats = plan_seats(rows)
    async with pool.acquire() as conn, conn.transaction():
        theater_id = await conn.fetchval(QUERIES.insert_theater, name)
        if theater_id is None:
            raise TheaterNameTaken(details={"name": name})
        await conn.execute(
            QUERIES.insert_seats,
            theater_id,
            [seat.row_label for seat in seats],
            [seat.seat_number for seat in seats],
            [seat.seat_type for seat in seats],
            [seat.row_index for seat in seats],
            [seat.column_index for seat in seats],
        )
        return await _theater(conn, theater_id)


async def rename_theater(pool: asyncpg.Pool, theater_id: uuid.UUID, name: str) -> dict:
    """Give the theater a new name (its seats and showtimes stay as they are)."""
    async with pool.acquire() as conn, conn.transaction():
        try:
            renamed = await conn.fetchval(QUERIES.rename_theater, theater_id, name)
        except asyncpg.exceptions.UniqueViolationError:
            raise TheaterNameTaken(details={"name": name}) from None
        if renamed is None:
            raise TheaterNotFound()
        return await _theater(conn, theater_id)


async def delete_theater(pool: asyncpg.Pool, theater_id: uuid.UUID) -> None:
    """Delete a theater that has never had a showtime (one named by a typo, say). One that has
    had one keeps its row: the records of its reservations name it."""
    try:
        result = await pool.fetchrow(QUERIES.delete_unused_theater, theater_id)
    except asyncpg.exceptions.ForeignKeyViolationError:
        # A showtime was scheduled in it while the delete waited for that insert to commit.
        raise TheaterInUse(details={"theater_id": theater_id}) from None
    if not result["found"]:
        raise TheaterNotFound()
    if not result["deleted"]:
        raise TheaterInUse(details={"theater_id": theater_id})


async def get_theater(pool: asyncpg.Pool, theater_id: uuid.UUID) -> dict:
    async with pool.acquire() as conn:
        return await _theater(conn, theater_id)


async def _theater(conn: asyncpg.Connection, theater_id: uuid.UUID) -> dict:
    found = await conn.fetch(QUERIES.theaters_by_ids, [theater_id])
    if not found:
        raise TheaterNotFound()
    seats = await conn.fetch(QUERIES.theater_seats, theater_id)
    return theater_view(found[0], seats)


async def find_theater_by_name(pool: asyncpg.Pool, name: str) -> uuid.UUID | None:
    return await pool.fetchval(QUERIES.theater_by_name, name)


async def list_theaters(
    pool: asyncpg.Pool | asyncpg.Connection, page: int, page_size: int
) -> tuple[list[dict], int]:
    """One page of theaters without their seats, and the total: two queries at most."""
    page_rows = await pool.fetch(QUERIES.theater_page, page_size, (page - 1) * page_size)
    total = page_rows[0]["total"]
    ids = [row["id"] for row in page_rows if row["id"] is not None]
    if not ids:
        return [], total
    return [theater_view(row) for row in await pool.fetch(QUERIES.theaters_by_ids, ids)], total


async def list_seat_types(pool: asyncpg.Pool) -> list[dict]:
    return [dict(row) for row in await pool.fetch(QUERIES.list_seat_types)]
