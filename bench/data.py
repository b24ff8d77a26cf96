"""Benchmark data, made straight in SQL (as tests/factories.py does): halls, showtimes, users.

Showtimes of one theater may not overlap (an exclusion constraint), so each new showtime of a
theater starts after the last one: the benchmark can make thousands of fresh showtimes and give
every phase its own, so that no phase inherits another's bookings.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import asyncpg

ROW_LABELS = [chr(ord("A") + index) for index in range(26)] + [
    f"{first}{second}" for first in "ABCDEFGH" for second in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
]
SLOT = dt.timedelta(hours=3)  # a 2-hour show, 15 minutes of cleaning, some slack
DUMMY_HASH = "not-a-bcrypt-hash"


@dataclass
class Theater:
    id: uuid.UUID
    number: int
    rows: int
    columns: int
    seat_ids: list[uuid.UUID] = field(default_factory=list)  # row by row, left to right
    next_start: dt.datetime = field(
        default_factory=lambda: (
            dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
        )
    )

    def pairs(self) -> list[list[uuid.UUID]]:
        """Side-by-side pairs of seats: (1, 2), (3, 4), ... of every row."""
        result = []
        for row in range(self.rows):
            base = row * self.columns
            for column in range(0, self.columns - 1, 2):
                result.append([self.seat_ids[base + column], self.seat_ids[base + column + 1]])
        return result


class BenchData:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.movie_id: uuid.UUID | None = None

    async def movie(self) -> uuid.UUID:
        if self.movie_id is None:
            self.movie_id = await self.conn.fetchval(
                "INSERT INTO movies (title, duration_minutes) VALUES ('Benchmark', 120) RETURNING id"
            )
        return self.movie_id

    async def theater(self, rows: int, columns: int) -> Theater:
        theater_id, number = await self.conn.fetchrow(
            "INSERT INTO theaters (name) VALUES ($1) RETURNING id, number",
            f"Bench hall {uuid.uuid4().hex[:10]}",
        )
        seat_ids = await self.conn.fetch(
            """
            INSERT INTO seats (theater_id, row_label, seat_number, seat_type, row_index, column_index)
            SELECT $1, ($2::text[])[r + 1], c + 1, 'regular', r, c
            FROM generate_series(0, $3 - 1) AS r, generate_series(0, $4 - 1) AS c
            ORDER BY r, c
            RETURNING id, row_index, column_index
            """,
            theater_id,
            ROW_LABELS[:rows],
            rows,
            columns,
        )
        ordered = sorted(seat_ids, key=lambda row: (row["row_index"], row["column_index"]))
        return Theater(theater_id, number, rows, columns, [row["id"] for row in ordered])

    async def showtimes(
        self, theater: Theater, count: int, price: str = "12.00"
    ) -> list[uuid.UUID]:
        """`count` fresh showtimes of the theater, one after the other in the future."""
        movie_id = await self.movie()
        starts = [theater.next_start + index * SLOT for index in range(count)]
        theater.next_start += count * SLOT
        rows = await self.conn.fetch(
            """
            INSERT INTO showtimes (movie_id, theater_id, theater_number, start_time, end_time,
                                   busy_until, price)
            SELECT $1, $2, $3, s, s + interval '2 hours', s + interval '2 hours 15 minutes',
                   $5::numeric
            FROM unnest($4::timestamptz[]) WITH ORDINALITY AS t(s, n)
            ORDER BY n
            RETURNING id, start_time
            """,
            movie_id,
            theater.id,
            theater.number,
            starts,
            price,
        )
        return [row["id"] for row in sorted(rows, key=lambda row: row["start_time"])]

    async def users(
        self, count: int, prefix: str, password_hash: str = DUMMY_HASH
    ) -> list[uuid.UUID]:
        rows = await self.conn.fetch(
            """
            INSERT INTO users (email, password_hash)
            SELECT $1 || '-' || n || '@bench.example.com', $3
            FROM generate_series(1, $2) AS n
            RETURNING id, email
            """,
            prefix,
            count,
            password_hash,
        )
        by_number = {int(row["email"].split("@")[0].rsplit("-", 1)[1]): row["id"] for row in rows}
        return [by_number[n] for n in range(1, count + 1)]

    async def fill(
        self,
        showtime_id: uuid.UUID,
        sold: list[uuid.UUID],
        held: dict[uuid.UUID, list[uuid.UUID]],
        buyer: uuid.UUID,
        hold_minutes: int = 120,
    ) -> None:
        """Sell `sold` to `buyer` (one reservation) and hold seats for users: held[user] = seats."""
        async with self.conn.transaction():
            if sold:
                reservation_id = await self.conn.fetchval(
                    """
                    INSERT INTO reservations (user_id, showtime_id, total_price, ticket_code)
                    VALUES ($1, $2, 0, $3) RETURNING id
                    """,
                    buyer,
                    showtime_id,
                    "BENCH-" + uuid.uuid4().hex[:12].upper(),
                )
                await self.conn.execute(
                    """
                    INSERT INTO reservation_seats (reservation_id, seat_id, price)
                    SELECT $1, seat, 12.00 FROM unnest($2::uuid[]) AS seat
                    """,
                    reservation_id,
                    sold,
                )
                await self.conn.execute(
                    """
                    INSERT INTO seat_claims (showtime_id, seat_id, reservation_id)
                    SELECT $1, seat, $2 FROM unnest($3::uuid[]) AS seat
                    """,
                    showtime_id,
                    reservation_id,
                    sold,
                )
            for user_id, seats in held.items():
                hold_id = await self.conn.fetchval(
                    """
                    INSERT INTO holds (showtime_id, user_id, expires_at)
                    VALUES ($1, $2, now() + make_interval(mins => $3)) RETURNING id
                    """,
                    showtime_id,
                    user_id,
                    hold_minutes,
                )
                await self.conn.execute(
                    """
                    INSERT INTO seat_claims (showtime_id, seat_id, hold_id)
                    SELECT $1, seat, $2 FROM unnest($3::uuid[]) AS seat
                    """,
                    showtime_id,
                    hold_id,
                    seats,
                )
            await self.conn.execute(
                "UPDATE showtimes SET version = version + 1 WHERE id = $1", showtime_id
            )

    async def expired_holds(
        self, showtimes: list[uuid.UUID], theater: Theater, users: list[uuid.UUID]
    ) -> int:
        """One expired hold of one seat per (showtime, user): user k holds seat k."""
        async with self.conn.transaction():
            await self.conn.execute(
                """
                INSERT INTO holds (showtime_id, user_id, created_at, expires_at)
                SELECT st, u, now() - interval '20 minutes', now() - interval '1 second'
                FROM unnest($1::uuid[]) AS st, unnest($2::uuid[]) AS u
                """,
                showtimes,
                users,
            )
            return await self.conn.fetchval(
                """
                WITH numbered AS (
                    SELECT u, n FROM unnest($2::uuid[]) WITH ORDINALITY AS t(u, n)
                ), seats AS (
                    SELECT s, n FROM unnest($3::uuid[]) WITH ORDINALITY AS t(s, n)
                ), claims AS (
                    INSERT INTO seat_claims (showtime_id, seat_id, hold_id)
                    SELECT h.showtime_id, seats.s, h.id
                    FROM holds h
                    JOIN numbered ON numbered.u = h.user_id
                    JOIN seats ON seats.n = numbered.n
                    WHERE h.showtime_id = ANY($1::uuid[])
                    RETURNING 1
                )
                SELECT count(*) FROM claims
                """,
                showtimes,
                users,
                theater.seat_ids[: len(users)],
            )

    async def double_bookings(self, showtime_ids: list[uuid.UUID]) -> int:
        """Seats of these showtimes in more than one confirmed reservation (must be 0)."""
        return await self.conn.fetchval(
            """
            SELECT count(*) FROM (
                SELECT r.showtime_id, rs.seat_id
                FROM reservations r JOIN reservation_seats rs ON rs.reservation_id = r.id
                WHERE r.showtime_id = ANY($1::uuid[]) AND r.status = 'confirmed'
                GROUP BY r.showtime_id, rs.seat_id
                HAVING count(*) > 1
            ) AS twice
            """,
            showtime_ids,
        )

    async def sold_seats(self, showtime_ids: list[uuid.UUID]) -> int:
        return await self.conn.fetchval(
            """
            SELECT count(*) FROM seat_claims
            WHERE showtime_id = ANY($1::uuid[]) AND reservation_id IS NOT NULL
            """,
            showtime_ids,
        )
