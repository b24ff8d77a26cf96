"""Price cards: the base price of a showtime by its local weekday and time (CINEMA_TZ), for one
theater or all. A showtime created without a price takes the matching card's
(price_card_price, sql/code/05_prices.sql, which reads the local time with daylight saving)."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import asyncpg

from ..db import QUERIES
from ..settings import Settings
from .errors import CardTheaterNotFound, NoPrice, PriceCardNotFound


def price_card_view(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row)


async def list_price_cards(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return [price_card_view(row) for row in await pool.fetch(QUERIES.list_price_cards, None)]


async def _one(conn: asyncpg.Connection, card_id: uuid.UUID) -> dict[str, Any]:
    row = await conn.fetchrow(QUERIES.list_price_cards, card_id)
    if row is None:
        raise PriceCardNotFound()
    return price_card_view(row)


def _arguments(card: dict[str, Any]) -> tuple[Any, ...]:
    return (
        card["name"],
        sorted(set(card["weekdays"])),
        card["start_local_time"],
        card["end_local_time"],
        card.get("theater_id"),
        card["price"],
    )


async def _check_theater(conn: asyncpg.Connection, theater_id: uuid.UUID | None) -> None:
    if theater_id is not None and not await conn.fetchval(QUERIES.theater_exists, theater_id):
        raise CardTheaterNotFound(details={"theater_id": theater_id})


@contextlib.contextmanager
def _theater_gone(card: dict[str, Any]) -> Iterator[None]:
    """The card's theater deleted (DELETE /theaters/{id}) after _check_theater saw it."""
    try:
        yield
    except asyncpg.exceptions.ForeignKeyViolationError:
        raise CardTheaterNotFound(details={"theater_id": card.get("theater_id")}) from None


async def create_price_card(pool: asyncpg.Pool, card: dict[str, Any]) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        await _check_theater(conn, card.get("theater_id"))
        with _theater_gone(card):
            card_id = await conn.fetchval(QUERIES.insert_price_card, *_arguments(card))
        return await _one(conn, card_id)


async def update_price_card(
    pool: asyncpg.Pool, card_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        card = await _one(conn, card_id)
        card.update(changes)
        await _check_theater(conn, card.get("theater_id"))
        with _theater_gone(card):
            await conn.fetchval(QUERIES.update_price_card, card_id, *_arguments(card))
        return await _one(conn, card_id)


async def delete_price_card(pool: asyncpg.Pool, card_id: uuid.UUID) -> None:
    if await pool.fetchval(QUERIES.delete_price_card, card_id) is None:
        raise PriceCardNotFound()


async def price_from_cards(
    conn: asyncpg.Connection | asyncpg.Pool,
    settings: Settings,
    theater_id: uuid.UUID,
    start_time: dt.datetime,
) -> Decimal:
    """The base price of a new showtime with no price given; 422 no_price when no card matches."""
    price = await conn.fetchval(
        QUERIES.price_card_price, theater_id, start_time, settings.cinema_tz.key
    )
    if price is None:
        local = start_time.astimezone(settings.cinema_tz)
        raise NoPrice(
            details={
                "theater_id": theater_id,
                "local_start": local.isoformat(),
                "weekday": local.isoweekday(),
            }
        )
    return Decimal(price)
