"""Reservations: held seats booked, listed, shown and cancelled.

Booking and cancelling are one call each of a function of sql/code/03_seat_changes.sql (book_held_seats,
cancel_reservation) under the showtime's advisory lock, and the same statement reads the
reservation back (reservation_rows, sql/code/02_seat_reads.sql): one round trip per change.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from ..db import QUERIES
from ..errors import BadRequest
from ..prices.guessing import refused as guessing_refused
from .errors import ReservationNotFound, refusals
from .queues import ShowtimeQueues, showtime_turn
from .seat_map import SeatMapCache, changing_seats

# Ticket codes: no 0/O, 1/I/L, so that they can be read out at a box office.
TICKET_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
TICKET_GROUPS = 3
TICKET_GROUP_LENGTH = 4  # 12 symbols, about 59 bits
TICKET_CODES_OFFERED = 3  # the booking takes the first free one; all three taken is a fault
MAX_IDEMPOTENCY_KEY_LENGTH = 255
_IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")


def check_idempotency_key(raw: str | None) -> str | None:
    """The Idempotency-Key header: 1 to 255 printable ASCII characters, or absent."""
    if raw is None:
        return None
    if not _IDEMPOTENCY_KEY.match(raw):
        raise BadRequest(
            "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            code="invalid_idempotency_key",
        )
    return raw


def request_hash(
    showtime_id: uuid.UUID,
    seat_ids: Sequence[uuid.UUID],
    tickets: Mapping[uuid.UUID, str] | None = None,
    voucher_code: str | None = None,
) -> str:
    """What makes two booking requests the same: the showtime, the set of seats, and (only
    when given, so that a plain request hashes as it always did) the ticket types and voucher."""
    request: dict[str, Any] = {
        "seat_ids": sorted({str(seat) for seat in seat_ids}),
        "showtime_id": str(showtime_id),
    }
    if tickets:
        request["tickets"] = {str(seat): code for seat, code in tickets.items()}
    if voucher_code:
        request["voucher_code"] = voucher_code
    canonical = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def new_ticket_code() -> str:
    """Like K7QX-2M9P-R4TD: short enough to read out, too many to guess. One uniform draw
    below 31^12 written in TICKET_ALPHABET, so each symbol is uniform and independent (a draw
    per symbol read the system's random source 36 times a booking)."""
    symbols = TICKET_GROUPS * TICKET_GROUP_LENGTH
    number = secrets.randbelow(len(TICKET_ALPHABET) ** symbols)
    code = []
    for _ in range(symbols):
        number, digit = divmod(number, len(TICKET_ALPHABET))
        code.append(TICKET_ALPHABET[digit])
    return "-".join(
        "".join(code[start : start + TICKET_GROUP_LENGTH])
        for start in range(0, symbols, TICKET_GROUP_LENGTH)
    )


async def reserve(
    pool: asyncpg.Pool,
    user_id: uuid.UUID,
    showtime_id: uuid.UUID,
    seat_ids: Sequence[uuid.UUID],
    idempotency_key: str | None = None,
    expected_total: Decimal | None = None,
    seat_maps: SeatMapCache | None = None,
    tickets: Mapping[uuid.UUID, str] | None = None,
    voucher_code: str | None = None,
    gap_rule: str = "off",
    queues: ShowtimeQueues | None = None,
    guessing: tuple[str, int, int, int] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Turn the user's live hold on `seat_ids` into a confirmed reservation.

    Each seat is sold as the ticket type `tickets` names for it (the default type when not
    named), with `voucher_code`'s discount; the database prices them (book_held_seats).
    Returns (reservation, created); created is False when an earlier request with the same
    Idempotency-Key and body already booked it (nothing more is booked then). With
    `expected_total`, a total that differs (the price changed) is refused with price_changed.
    Under the gap rule 'enforce', booking part of a hold is refused when those seats alone
    would strand a single empty seat (would_strand_seat). With a voucher code, `guessing`
    (prices.guessing.booking_check) is asked first, in the same statement: a user past the
    limit is answered 429 and nothing is booked.
    """
    wanted = list(dict.fromkeys(seat_ids))
    tickets = {seat: code.strip().lower() for seat, code in (tickets or {}).items()}
    voucher = voucher_code.strip().upper() if voucher_code else None
    with changing_seats(seat_maps, showtime_id), refusals():
        async with showtime_turn(queues, showtime_id), pool.acquire() as conn:
            row = await conn.fetchrow(
                QUERIES.book_held_seats,
                showtime_id,
                user_id,
                wanted,
                [tickets.get(seat) for seat in wanted],
                voucher,
                [new_ticket_code() for _ in range(TICKET_CODES_OFFERED)],
                idempotency_key,
                request_hash(showtime_id, wanted, tickets, voucher) if idempotency_key else None,
                expected_total,
                gap_rule,
                *(guessing or (None, None, None, None)),
            )
    if row["retry_after"]:
        raise guessing_refused(row["retry_after"])
    return _found(row), bool(row["booking"]["created"])


def _found(row: asyncpg.Record | None) -> dict[str, Any]:
    """The reservation of a reservations_by_ids row (or of a change's answer, which ends with
    those columns, all NULL when the reservation is gone)."""
    if row is None or row["id"] is None:
        raise ReservationNotFound()
    return reservation_view(row)


def reservation_view(row: asyncpg.Record) -> dict[str, Any]:
    """A reservation as the API answers it (ReservationSchema documents it, and
    tests/contract/test_views.py holds the two together), from a `reservations_by_ids` row."""
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "showtime_id": row["showtime_id"],
        "status": row["status"],
        "subtotal": row["subtotal"],
        "discount": row["discount"],
        "voucher_code": row["voucher_code"],
        "total_price": row["total_price"],
        "seats": row["seats"] or [],
        "ticket_code": row["ticket_code"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "cancelled_at": row["cancelled_at"],
        "cancel_reason": row["cancel_reason"],
        "showtime": {
            "id": row["showtime_id"],
            "start_time": row["start_time"],
            "end_time": row["end_time"],
            "price": row["showtime_price"],
        },
        "movie": {"id": row["movie_id"], "title": row["movie_title"]},
        "theater": {"id": row["theater_id"], "name": row["theater_name"]},
        "is_cancellable": row["is_cancellable"],
    }


def _may_see(user: asyncpg.Record, owner_id: uuid.UUID) -> bool:
    return bool(user["role"] == "admin" or user["id"] == owner_id)


async def list_reservations(
    pool: asyncpg.Pool, user_id: uuid.UUID, include_past: bool, page: int, page_size: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of the user's reservations and how many there are in all."""
    async with pool.acquire() as conn:
        page_rows = await conn.fetch(
            QUERIES.reservation_page, user_id, include_past, page_size, (page - 1) * page_size
        )
        ids = [row["id"] for row in page_rows if row["id"] is not None]
        rows = await conn.fetch(QUERIES.reservations_by_ids, ids) if ids else []
    return [reservation_view(row) for row in rows], page_rows[0]["total"]


async def get_reservation(
    pool: asyncpg.Pool, user: asyncpg.Record, reservation_id: uuid.UUID
) -> dict[str, Any]:
    """The owner or an admin sees it; for anyone else it does not exist."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(QUERIES.reservations_by_ids, [reservation_id])
    if row is not None and not _may_see(user, row["user_id"]):
        row = None
    return _found(row)


async def cancel_reservation(
    pool: asyncpg.Pool,
    user: asyncpg.Record,
    reservation_id: uuid.UUID,
    seat_maps: SeatMapCache | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Cancel before the show starts: the record stays, its seats are free at once.
    Cancelling a cancelled reservation changes nothing. Returns (the reservation, the reason it
    was cancelled now, or None if it already was)."""
    async with pool.acquire() as conn:
        with refusals():
            row = await conn.fetchrow(
                QUERIES.cancel_reservation, reservation_id, user["id"], user["role"] == "admin"
            )
    reservation = _found(row)
    reason = row["cancellation"]["reason"]
    if seat_maps is not None and reason is not None:
        seat_maps.seats_changed(reservation["showtime_id"])
    return reservation, reason
