"""Check-in as tests arrange it: a showtime at the door with sold tickets, and scans.

Each helper takes the test's client (or anything with the same post/get) and the Account
scanning; tickets are booked straight in the database (tests/factories.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from tests.factories import Hall, book_directly, create_hall, create_user

API = "/api/v1"


@dataclass
class Ticket:
    reservation_id: uuid.UUID
    ticket_code: str
    seat_ids: list[str]
    qr_payload: str = ""


@dataclass
class Door:
    """A showtime whose door is open (it starts in `starts_in`), with its sold tickets."""

    hall: Hall
    tickets: list[Ticket] = field(default_factory=list)

    @property
    def showtime_id(self) -> str:
        return str(self.hall.showtime_id)


async def open_door(
    db: asyncpg.Connection,
    signer: Any,
    tickets: int = 2,
    seats_per_ticket: int = 2,
    starts_in: dt.timedelta = dt.timedelta(minutes=30),
    duration_minutes: int = 120,
) -> Door:
    """A hall and showtime, and `tickets` reservations of `seats_per_ticket` seats each, every
    one of another user; signed with `signer` (the app's TICKET_SIGNER)."""
    rows = max(1, (tickets * seats_per_ticket + 9) // 10)
    hall = await create_hall(
        db, rows=rows, seats_per_row=10, starts_in=starts_in, duration_minutes=duration_minutes
    )
    door = Door(hall)
    seats = list(hall.seats.values())
    for index in range(tickets):
        mine = seats[index * seats_per_ticket : (index + 1) * seats_per_ticket]
        owner = await create_user(db)
        reservation_id = await book_directly(db, owner, hall.showtime_id, mine)
        code = await db.fetchval(
            "SELECT ticket_code FROM reservations WHERE id = $1", reservation_id
        )
        door.tickets.append(
            Ticket(reservation_id, code, [str(s) for s in mine], signer.qr_payload(code))
        )
    return door


def scan_body(ticket: Ticket | str, **extra: Any) -> dict[str, Any]:
    code = ticket.qr_payload if isinstance(ticket, Ticket) else ticket
    return {"code": code, "nonce": uuid.uuid4().hex, **extra}


async def scan(client: Any, usher: Any, ticket: Ticket | str, **extra: Any) -> Any:
    return await client.post(
        f"{API}/checkins", json=scan_body(ticket, **extra), headers=usher.headers
    )


async def admitted_seat_count(db: asyncpg.Connection, showtime_id: Any) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM admissions a JOIN checkins c ON c.id = a.checkin_id"
        " WHERE c.showtime_id = $1 AND a.undone_at IS NULL",
        uuid.UUID(str(showtime_id)),
    )
    return count
