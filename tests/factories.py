"""Test data made straight in the database, for tests of areas that only need it to exist.

The catalog's own tests create everything through the API; booking and live-map tests use these
to arrange a hall and a showtime in one call.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg

ROW_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class Hall:
    theater_id: uuid.UUID
    showtime_id: uuid.UUID
    movie_id: uuid.UUID
    seats: dict[str, uuid.UUID] = field(default_factory=dict)  # "A1" -> seat id

    def ids(self, *labels: str) -> list[str]:
        return [str(self.seats[label]) for label in labels]


async def create_hall(
    db: asyncpg.Connection,
    rows: int = 5,
    seats_per_row: int = 10,
    price: str = "10.00",
    starts_in: dt.timedelta = dt.timedelta(days=1),
    duration_minutes: int = 120,
    seat_type: str = "regular",
) -> Hall:
    """A theater of rows x seats, a movie and one showtime starting `starts_in` from now."""
    suffix = uuid.uuid4().hex[:8]
    theater_id, number = await db.fetchrow(
        "INSERT INTO theaters (name) VALUES ($1) RETURNING id, number", f"Hall {suffix}"
    )
    movie_id = await db.fetchval(
        "INSERT INTO movies (title, duration_minutes) VALUES ($1, $2) RETURNING id",
        f"Movie {suffix}",
        duration_minutes,
    )
    hall = Hall(theater_id, uuid.UUID(int=0), movie_id)
    for row_index in range(rows):
        label = ROW_LABELS[row_index]
        for number_in_row in range(1, seats_per_row + 1):
            hall.seats[f"{label}{number_in_row}"] = await db.fetchval(
                "INSERT INTO seats (theater_id, row_label, seat_number, seat_type, row_index, column_index)"
                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                theater_id,
                label,
                number_in_row,
                seat_type,
                row_index,
                number_in_row - 1,
            )
    hall.showtime_id = await create_showtime(db, hall, starts_in, duration_minutes, price, number)
    return hall


async def create_showtime(
    db: asyncpg.Connection,
    hall: Hall,
    starts_in: dt.timedelta,
    duration_minutes: int = 120,
    price: str = "10.00",
    theater_number: int | None = None,
) -> uuid.UUID:
    if theater_number is None:
        theater_number = await db.fetchval(
            "SELECT number FROM theaters WHERE id = $1", hall.theater_id
        )
    start = dt.datetime.now(dt.UTC) + starts_in
    end = start + dt.timedelta(minutes=duration_minutes)
    return await db.fetchval(
        "INSERT INTO showtimes (movie_id, theater_id, theater_number, start_time, end_time, busy_until, price)"
        " VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING id",
        hall.movie_id,
        hall.theater_id,
        theater_number,
        start,
        end,
        Decimal(price),
    )
