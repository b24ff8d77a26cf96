"""Vouchers: codes that take a percent or an amount off a booking, a limited number of times.

Redeeming is part of the booking's one call (redeem_voucher, sql/code/05_prices.sql): the
voucher's row is locked until the booking commits and a CHECK keeps redemptions within
max_redemptions, so no concurrency can pass the limit; a cancelled reservation gives its
redemption back (a trigger). Codes are drawn at random from an alphabet without look-alike
characters, 12 symbols (about 59 bits) each; checking one is rate limited per user, counting
failures only.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import asyncpg

from ..booking.reservations import TICKET_ALPHABET
from ..db import QUERIES
from ..settings import Settings
from ..showtime_lock import ShowtimeNotFound
from . import guessing
from .errors import (
    VoucherCodeTaken,
    VoucherExhausted,
    VoucherInvalid,
    VoucherNotFound,
    VoucherTarget,
)

CODE_GROUPS = 3
CODE_GROUP_LENGTH = 4  # 12 symbols of 31: about 59 bits
MAX_BATCH = 1000
DRAWS = 5  # a batch whose random codes meet a taken one is drawn again
CSV_COLUMNS = (
    "code",
    "discount_percent",
    "discount_amount",
    "max_redemptions",
    "redemptions",
    "valid_from",
    "valid_until",
    "movie_id",
    "showtime_id",
    "active",
)


def random_code(prefix: str | None = None) -> str:
    """Like NEWS-K7QX-2M9P-R4TD: no 0/O, 1/I/L, so that it survives being read out or typed."""
    groups = [
        "".join(secrets.choice(TICKET_ALPHABET) for _ in range(CODE_GROUP_LENGTH))
        for _ in range(CODE_GROUPS)
    ]
    return "-".join([prefix.upper(), *groups] if prefix else groups)


def voucher_view(row: asyncpg.Record) -> dict[str, Any]:
    view = dict(row)
    view.pop("total", None)
    return view


async def create_vouchers(pool: asyncpg.Pool, data: dict[str, Any]) -> list[dict[str, Any]]:
    """One voucher of `code` (or a random one), or a batch of `count` random codes with
    `prefix`; all or none."""
    count = data.get("count") or 1
    fixed_code = data.get("code")
    batch_id = uuid.uuid4() if count > 1 else None
    arguments = (
        data.get("discount_percent"),
        data.get("discount_amount"),
        data.get("max_redemptions", 1),
        data.get("valid_from"),
        data.get("valid_until"),
        data.get("movie_id"),
        data.get("showtime_id"),
        batch_id,
    )
    for _ in range(DRAWS):
        codes = (
            [fixed_code.upper()]
            if fixed_code
            else list({random_code(data.get("prefix")) for _ in range(count)})
        )
        if len(codes) < count:
            continue  # two equal codes drawn in one batch: draw again
        async with pool.acquire() as conn:
            try:
                async with conn.transaction():
                    rows = await conn.fetch(QUERIES.insert_vouchers, codes, *arguments)
                    if len(rows) < len(codes):
                        raise _CodeTaken()
                    ids = [row["id"] for row in rows]
            except asyncpg.ForeignKeyViolationError:
                raise VoucherTarget(
                    details={
                        "movie_id": data.get("movie_id"),
                        "showtime_id": data.get("showtime_id"),
                    }
                ) from None
            except _CodeTaken:
                if fixed_code:
                    raise VoucherCodeTaken(details={"code": fixed_code.upper()}) from None
                continue  # a drawn code was taken: nothing was made, draw a new batch
            return [voucher_view(row) for row in await conn.fetch(QUERIES.vouchers_by_ids, ids)]
    raise RuntimeError("could not draw free voucher codes")


class _CodeTaken(Exception):
    """A code of the batch was taken: undo the batch's transaction."""


async def list_vouchers(
    pool: asyncpg.Pool, search: str | None, page: int, page_size: int
) -> tuple[list[dict[str, Any]], int]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(QUERIES.voucher_page, search, page_size, (page - 1) * page_size)
        total = rows[0]["total"] if rows else await conn.fetchval(QUERIES.voucher_count, search)
    return [voucher_view(row) for row in rows], total


async def vouchers_of_batch(pool: asyncpg.Pool, batch_id: uuid.UUID) -> list[dict[str, Any]]:
    return [voucher_view(row) for row in await pool.fetch(QUERIES.vouchers_of_batch, batch_id)]


async def disable_voucher(pool: asyncpg.Pool, voucher_id: uuid.UUID) -> None:
    if await pool.fetchval(QUERIES.disable_voucher, voucher_id) is None:
        raise VoucherNotFound()


async def check_voucher(
    pool: asyncpg.Pool,
    settings: Settings,
    user_id: uuid.UUID,
    code: str,
    showtime_id: uuid.UUID,
) -> dict[str, Any]:
    """What a booking of the showtime with this code would meet now, without redeeming it.
    Each failed check counts against the user's VOUCHER_CHECK_MAX_FAILURES per window (429)."""
    attempt = await guessing.count_try(pool, settings, user_id)
    wrong = False  # only a code that is no voucher counts as a guess
    try:
        row = await pool.fetchrow(QUERIES.check_voucher, code, showtime_id)
        if row is None:
            raise ShowtimeNotFound()
        normalised = code.strip().upper()
        if row["refusal"] == "voucher_exhausted":
            raise VoucherExhausted(normalised)
        if row["refusal"] is not None:
            wrong = True
            raise VoucherInvalid(normalised)
    finally:
        await guessing.settle(pool, attempt, wrong=wrong)
    return {
        "code": row["code"],
        "discount_percent": row["discount_percent"],
        "discount_amount": row["discount_amount"],
        "remaining_redemptions": row["remaining_redemptions"],
    }
