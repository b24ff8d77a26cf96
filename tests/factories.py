"""Test data made straight in the database, for tests of areas that only need it to exist.

Every INSERT of the tests' data is written here once, column for column as the schema
(sql/schema.sql) has it: the catalog's own tests create through the API instead; booking,
live-map and report tests use these to arrange a hall, a showtime, a hold or a sale in one call.
Holds and sales are left as booking leaves them: a hold or a confirmed reservation claims its
seats in seat_claims.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from reservations.accounts.tokens import issue_token

TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
ROW_LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# A hall drawn as a picture, one line per row (first nearest the screen), a space an aisle.
DRAWN_SEAT_TYPES = {".": "regular", "x": "regular", "a": "accessible", "p": "premium"}


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


# --- accounts --------------------------------------------------------------------------------


@dataclasses.dataclass
class Account:
    id: uuid.UUID
    email: str
    token: str
    role: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def create_user(
    db: asyncpg.Connection, role: str = "user", email: str | None = None
) -> uuid.UUID:
    """A user with a dummy password hash (nobody logs in with it); its id."""
    email = email or f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    user_id: uuid.UUID = await db.fetchval(
        "INSERT INTO users (email, password_hash, role) VALUES ($1, 'not-a-hash', $2) RETURNING id",
        email,
        role,
    )
    return user_id


async def create_account(
    db: asyncpg.Connection, role: str = "user", email: str | None = None
) -> Account:
    """A user and an access token for it, signed with the tests' secret."""
    email = email or f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    user_id = await create_user(db, role, email)
    return Account(user_id, email, issue_token(user_id, TEST_JWT_SECRET, 3600), role)


# --- the catalog ------------------------------------------------------------------------------


async def insert_theater(db: asyncpg.Connection, name: str) -> tuple[uuid.UUID, int]:
    """A theater with no seats yet: its id and its number."""
    theater_id, number = await db.fetchrow(
        "INSERT INTO theaters (name) VALUES ($1) RETURNING id, number", name
    )
    return theater_id, number


async def insert_seat(
    db: asyncpg.Connection,
    theater_id: uuid.UUID,
    row_label: str,
    seat_number: int,
    seat_type: str,
    row_index: int,
    column_index: int,
) -> uuid.UUID:
    seat_id: uuid.UUID = await db.fetchval(
        "INSERT INTO seats (theater_id, row_label, seat_number, seat_type, row_index, column_index)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        theater_id,
        row_label,
        seat_number,
        seat_type,
        row_index,
        column_index,
    )
    return seat_id


async def insert_movie(db: asyncpg.Connection, title: str, duration_minutes: int) -> uuid.UUID:
    movie_id: uuid.UUID = await db.fetchval(
        "INSERT INTO movies (title, duration_minutes) VALUES ($1, $2) RETURNING id",
        title,
        duration_minutes,
    )
    return movie_id


async def insert_showtime(
    db: asyncpg.Connection,
    movie_id: Any,
    theater_id: Any,
    start: dt.datetime,
    end: dt.datetime,
    price: str | Decimal = "10.00",
    cancelled: bool = False,
) -> uuid.UUID:
    """A showtime at any time, past ones too (the API refuses those); busy until it ends."""
    showtime_id: uuid.UUID = await db.fetchval(
        "INSERT INTO showtimes (movie_id, theater_id, theater_number, start_time, end_time,"
        " busy_until, price, cancelled_at)"
        " SELECT $1, id, number, $3, $4, $4, $5, CASE WHEN $6 THEN now() END"
        " FROM theaters WHERE id = $2 RETURNING id",
        _uuid(movie_id),
        _uuid(theater_id),
        start,
        end,
        Decimal(price),
        cancelled,
    )
    return showtime_id


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
    theater_id, _ = await insert_theater(db, f"Hall {suffix}")
    hall = Hall(
        theater_id, uuid.UUID(int=0), await insert_movie(db, f"Movie {suffix}", duration_minutes)
    )
    for row_index in range(rows):
        label = ROW_LABELS[row_index]
        for number_in_row in range(1, seats_per_row + 1):
            hall.seats[f"{label}{number_in_row}"] = await insert_seat(
                db, theater_id, label, number_in_row, seat_type, row_index, number_in_row - 1
            )
    hall.showtime_id = await create_showtime(db, hall, starts_in, duration_minutes, price)
    return hall


async def create_drawn_hall(
    db: asyncpg.Connection, picture: str, starts_in: dt.timedelta = dt.timedelta(days=1)
) -> Hall:
    """A theater drawn as a picture (DRAWN_SEAT_TYPES), a movie and a showtime; the `x` seats
    are held by another user. Seats are named by row letter and number within the row."""
    suffix = uuid.uuid4().hex[:8]
    theater_id, _ = await insert_theater(db, f"Drawn {suffix}")
    hall = Hall(theater_id, uuid.UUID(int=0), await insert_movie(db, f"Movie {suffix}", 100))
    taken = []
    for row_index, line in enumerate(picture.strip("\n").splitlines()):
        label, seat_number = ROW_LABELS[row_index], 0
        for column_index, char in enumerate(line):
            if char == " ":
                continue
            seat_number += 1
            hall.seats[f"{label}{seat_number}"] = await insert_seat(
                db, theater_id, label, seat_number, DRAWN_SEAT_TYPES[char], row_index, column_index
            )
            if char == "x":
                taken.append(f"{label}{seat_number}")
    hall.showtime_id = await create_showtime(db, hall, starts_in, 100, "10.00")
    if taken:
        await hold_for_someone_else(db, hall, taken)
    return hall


async def create_showtime(
    db: asyncpg.Connection,
    hall: Hall,
    starts_in: dt.timedelta,
    duration_minutes: int = 120,
    price: str = "10.00",
) -> uuid.UUID:
    """Another showtime of the hall's movie in its theater, starting `starts_in` from now."""
    start = dt.datetime.now(dt.UTC) + starts_in
    end = start + dt.timedelta(minutes=duration_minutes)
    return await insert_showtime(db, hall.movie_id, hall.theater_id, start, end, price)


# --- holds and sales --------------------------------------------------------------------------


async def hold_directly(
    db: asyncpg.Connection,
    user_id: uuid.UUID,
    showtime_id: Any,
    seat_ids: Iterable[Any],
    expires_in: dt.timedelta | float = dt.timedelta(minutes=10),
) -> uuid.UUID:
    """The user's hold on these seats (no gap rule, no cap), expiring `expires_in` (seconds or
    a timedelta; negative: already expired) from now; its id."""
    if not isinstance(expires_in, dt.timedelta):
        expires_in = dt.timedelta(seconds=expires_in)
    hold_id: uuid.UUID = await db.fetchval(
        "INSERT INTO holds (showtime_id, user_id, expires_at) VALUES ($1, $2, now() + $3)"
        " RETURNING id",
        _uuid(showtime_id),
        user_id,
        expires_in,
    )
    await claim_for_hold(db, showtime_id, hold_id, seat_ids)
    return hold_id


async def claim_for_hold(
    db: asyncpg.Connection, showtime_id: Any, hold_id: uuid.UUID, seat_ids: Iterable[Any]
) -> None:
    """Add these seats to a hold."""
    await db.execute(
        "INSERT INTO seat_claims (showtime_id, seat_id, hold_id) SELECT $1, unnest($2::uuid[]), $3",
        _uuid(showtime_id),
        [_uuid(seat_id) for seat_id in seat_ids],
        hold_id,
    )


async def hold_for_someone_else(
    db: asyncpg.Connection, hall: Hall, labels: Iterable[str]
) -> uuid.UUID:
    """A live hold of a new user on these seats of the hall's showtime; that user's id."""
    user_id = await create_user(db, email=f"other-{uuid.uuid4().hex[:10]}@example.com")
    await hold_directly(
        db,
        user_id,
        hall.showtime_id,
        [hall.seats[label] for label in labels],
        dt.timedelta(hours=1),
    )
    return user_id


async def insert_reservation(
    db: asyncpg.Connection,
    user_id: uuid.UUID,
    showtime_id: Any,
    prices: Mapping[Any, str | Decimal],
    status: str = "confirmed",
    cancel_reason: str | None = None,
) -> uuid.UUID:
    """A reservation of these seats (seat id -> price): its record and its seats, and, while it
    is confirmed, its claims on them; a cancelled one has its time and reason."""
    showtime_id = _uuid(showtime_id)
    seat_prices = {_uuid(seat_id): Decimal(price) for seat_id, price in prices.items()}
    cancelled = status == "cancelled"
    reservation_id: uuid.UUID = await db.fetchval(
        "INSERT INTO reservations (user_id, showtime_id, status, total_price, ticket_code,"
        " cancelled_at, cancel_reason)"
        " VALUES ($1, $2, $3, $4, $5, CASE WHEN $6 THEN now() END, $7) RETURNING id",
        user_id,
        showtime_id,
        status,
        sum(seat_prices.values(), Decimal(0)),
        uuid.uuid4().hex,
        cancelled,
        cancel_reason if cancelled else None,
    )
    await db.executemany(
        "INSERT INTO reservation_seats (reservation_id, seat_id, price) VALUES ($1, $2, $3)",
        [(reservation_id, seat_id, price) for seat_id, price in seat_prices.items()],
    )
    if status == "confirmed":
        await db.execute(
            "INSERT INTO seat_claims (showtime_id, seat_id, reservation_id)"
            " SELECT $1, unnest($2::uuid[]), $3",
            showtime_id,
            list(seat_prices),
            reservation_id,
        )
    return reservation_id


async def book_directly(
    db: asyncpg.Connection,
    user_id: uuid.UUID,
    showtime_id: Any,
    seat_ids: Iterable[Any],
    price: str = "10.00",
) -> uuid.UUID:
    """A confirmed reservation of these seats at one price, as booking would leave it."""
    return await insert_reservation(db, user_id, showtime_id, dict.fromkeys(seat_ids, price))
