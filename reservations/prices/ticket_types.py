"""Ticket types and seat type prices, managed by admins; the prices of a showtime.

Changing either applies to bookings made from then on: a reservation keeps the ticket type and
price each seat was booked at (reservation_seats).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import asyncpg

from ..db import QUERIES
from ..showtime_lock import ShowtimeNotFound
from .errors import (
    DefaultTicketTypeKept,
    SeatTypeNotFound,
    TicketTypeCodeTaken,
    TicketTypeNotFound,
)


def ticket_type_view(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row)


async def list_ticket_types(pool: asyncpg.Pool, include_inactive: bool) -> list[dict[str, Any]]:
    return [
        ticket_type_view(row)
        for row in await pool.fetch(QUERIES.list_ticket_types, include_inactive)
    ]


async def create_ticket_type(
    pool: asyncpg.Pool,
    *,
    code: str,
    name: str,
    description: str = "",
    discount_percent: Decimal | None = None,
    fixed_price: Decimal | None = None,
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            QUERIES.insert_ticket_type,
            code,
            name,
            description,
            discount_percent or Decimal(0),
            fixed_price,
        )
        if row is None:
            raise TicketTypeCodeTaken(details={"code": code})
        # The seat maps carry every active type's prices.
        await conn.execute(QUERIES.touch_upcoming_showtimes)
    return ticket_type_view(row)


async def update_ticket_type(
    pool: asyncpg.Pool, ticket_type_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    """Fields present are replaced; giving a discount_percent clears a fixed_price and the other
    way round (a type has one or the other)."""
    async with pool.acquire() as conn, conn.transaction():
        current = await conn.fetchrow(QUERIES.ticket_type_by_id, ticket_type_id)
        if current is None:
            raise TicketTypeNotFound()
        merged = dict(current)
        merged.update(changes)
        if "discount_percent" in changes and changes["discount_percent"] is not None:
            merged["fixed_price"] = None
        if "fixed_price" in changes and changes["fixed_price"] is not None:
            merged["discount_percent"] = Decimal(0)
        if merged["discount_percent"] is None:
            merged["discount_percent"] = Decimal(0)
        if current["is_default"] and not merged["active"]:
            raise DefaultTicketTypeKept()
        row = await conn.fetchrow(
            QUERIES.update_ticket_type,
            ticket_type_id,
            merged["name"],
            merged["description"],
            merged["discount_percent"],
            merged["fixed_price"],
            merged["active"],
        )
        # The seat maps carry every active type's prices.
        await conn.execute(QUERIES.touch_upcoming_showtimes)
    return ticket_type_view(row)


async def deactivate_ticket_type(pool: asyncpg.Pool, ticket_type_id: uuid.UUID) -> None:
    await update_ticket_type(pool, ticket_type_id, {"active": False})


async def update_seat_type(
    pool: asyncpg.Pool,
    name: str,
    price_multiplier: Decimal | None = None,
    surcharge: Decimal | None = None,
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        current = await conn.fetchrow(QUERIES.seat_type_by_name, name)
        if current is None:
            raise SeatTypeNotFound(details={"name": name})
        row = await conn.fetchrow(
            QUERIES.update_seat_type,
            name,
            price_multiplier if price_multiplier is not None else current["price_multiplier"],
            surcharge if surcharge is not None else current["surcharge"],
        )
        await conn.execute(QUERIES.touch_upcoming_showtimes)
    return dict(row)


async def showtime_prices(
    pool: asyncpg.Pool, showtime_id: uuid.UUID, currency: str
) -> dict[str, Any]:
    """Every active ticket type's price on every seat type, as booking would charge them now."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(QUERIES.showtime_prices, showtime_id)
        if not rows and not await conn.fetchval(QUERIES.live_showtime_exists, showtime_id):
            raise ShowtimeNotFound()
    return {"showtime_id": showtime_id, "currency": currency, "prices": [dict(row) for row in rows]}
