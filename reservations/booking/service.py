"""Booking rules: the seat map, holds, reservations and their cancellation.

Every change of a showtime's seats runs in one transaction that first takes the showtime's
advisory lock (`lock_showtime`), reads the database clock, and deletes that showtime's expired
holds, so expiry never waits for the sweeper. The change itself is reported with
`record_seat_changes` in the same transaction. The primary key of `seat_claims` is the last word
on double booking: if the code above it were wrong, the insert fails and the caller gets a 409.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
import orjson

from ..db import QUERIES, json_dumps
from ..errors import ApiError, BadRequest, Conflict, NotFound
from ..settings import Settings
from .best_seats import Layout, best_available, matches, stranded_seats
from .changes import AVAILABLE, HELD, SOLD, lock_showtime, record_seat_changes

# Ticket codes: no 0/O, 1/I/L, so that they can be read out at a box office.
TICKET_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
TICKET_GROUPS = 3
TICKET_GROUP_LENGTH = 4  # 12 symbols, about 59 bits
MAX_IDEMPOTENCY_KEY_LENGTH = 255
_IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")


class SeatUnavailable(Conflict):
    code = "seat_unavailable"
    message = "Some of these seats are held by someone else or sold."

    def __init__(self, seat_ids: Sequence[uuid.UUID]) -> None:
        super().__init__(details={"unavailable_seat_ids": [str(seat) for seat in seat_ids]})


class SeatsNotHeld(Conflict):
    code = "seats_not_held"
    message = "Hold these seats (POST /showtimes/{id}/lock-seats) before booking them."

    def __init__(self, seat_ids: Sequence[uuid.UUID]) -> None:
        super().__init__(details={"seat_ids": [str(seat) for seat in seat_ids]})


class HoldExpired(Conflict):
    code = "hold_expired"
    message = "Your hold on these seats has expired; hold them again."

    def __init__(self, seat_ids: Sequence[uuid.UUID]) -> None:
        super().__init__(details={"seat_ids": [str(seat) for seat in seat_ids]})


class ShowtimeStarted(Conflict):
    code = "showtime_started"
    message = "This showtime has started; its seats can no longer change."


class TooManySeats(ApiError):
    status = 422
    code = "too_many_seats"

    def __init__(self, limit: int, requested: int) -> None:
        super().__init__(
            f"One person can hold at most {limit} seats of a showtime.",
            details={"max_seats_per_hold": limit, "requested_total": requested},
        )


class UnknownSeats(ApiError):
    status = 422
    code = "unknown_seats"
    message = "Some of these seats are not in this showtime's theater."

    def __init__(self, seat_ids: Sequence[uuid.UUID]) -> None:
        super().__init__(details={"seat_ids": [str(seat) for seat in seat_ids]})


class NotEnoughSeats(Conflict):
    code = "not_enough_seats"
    message = "There are not enough free seats of this kind to seat the group together."

    def __init__(self, requested: int, available: int) -> None:
        super().__init__(details={"requested_count": requested, "available_count": available})


class WouldStrandSeat(Conflict):
    code = "would_strand_seat"
    message = "These seats would leave a single empty seat stranded; take it too or pick others."

    def __init__(self, seat_ids: Sequence[uuid.UUID]) -> None:
        super().__init__(details={"stranded_seat_ids": [str(seat) for seat in seat_ids]})


class IdempotencyKeyReused(ApiError):
    status = 422
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used for a different request."


class RequestInFlight(Conflict):
    code = "request_in_flight"
    message = "A request with this Idempotency-Key is still being processed; retry shortly."


class ShowtimeNotFound(NotFound):
    message = "No showtime has this id."


class ReservationNotFound(NotFound):
    message = "No reservation has this id."


# --- the seat map ---------------------------------------------------------------------------


def _seat_map_view(rows: Sequence[asyncpg.Record], with_user: bool) -> dict[str, Any]:
    """The seat map answer of the `seat_map` rows (at least one: the showtime exists)."""
    first = rows[0]
    seats = []
    available = 0
    for row in rows:
        if row["id"] is None:  # a theater without seats
            continue
        status = row["status"]
        seat = {
            "id": row["id"],
            "row_label": row["row_label"],
            "seat_number": row["seat_number"],
            "seat_label": row["seat_label"],
            "seat_type": row["seat_type"],
            "row_index": row["row_index"],
            "column_index": row["column_index"],
            "price": row["price"],
            "status": status,
            "is_available": status == AVAILABLE,
            "is_locked": status == HELD,
        }
        if with_user:
            seat["held_by_me"] = row["held_by_me"]
        available += status == AVAILABLE
        seats.append(seat)
    return {
        "showtime_id": first["showtime_id"],
        "version": first["version"],
        "total_seats": len(seats),
        "available_seats": available,
        "seats": seats,
    }


async def _read_seat_map(
    pool: asyncpg.Pool, showtime_id: uuid.UUID, user_id: uuid.UUID | None
) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(QUERIES.seat_map, showtime_id, user_id)
    if not rows:
        raise ShowtimeNotFound()
    return rows


async def seat_map(
    pool: asyncpg.Pool, showtime_id: uuid.UUID, user_id: uuid.UUID | None
) -> dict[str, Any]:
    """Every seat with its status, read in one statement, so `version` matches the seats."""
    rows = await _read_seat_map(pool, showtime_id, user_id)
    return _seat_map_view(rows, user_id is not None)


@dataclass(frozen=True)
class CachedSeatMap:
    version: int
    updated_at: dt.datetime
    # The earliest expiry among the holds this map shows as held; from then on it is wrong.
    good_until: dt.datetime | None
    body: bytes  # the serialised answer


class SeatMapCache:
    """The public (anonymous) seat map of the showtimes last asked for, serialised, per process.

    An entry is served only while the showtime's `version` and `updated_at` are those it was
    read at and the database clock is before the earliest expiry of the holds it shows: every
    seat change grows the version in the changing transaction (record_seat_changes), a price or
    time change moves updated_at, and an expiring hold is the one change without either. So a
    hit costs one indexed read of the showtime row instead of the whole map, and is exactly
    what a fresh read would answer.
    """

    def __init__(self, max_entries: int = 128) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[uuid.UUID, CachedSeatMap] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(
        self, showtime_id: uuid.UUID, version: int, updated_at: dt.datetime, now: dt.datetime
    ) -> bytes | None:
        entry = self._entries.get(showtime_id)
        if (
            entry is None
            or entry.version != version
            or entry.updated_at != updated_at
            or (entry.good_until is not None and now >= entry.good_until)
        ):
            self.misses += 1
            return None
        self._entries.move_to_end(showtime_id)
        self.hits += 1
        return entry.body

    def put(self, showtime_id: uuid.UUID, entry: CachedSeatMap) -> None:
        current = self._entries.get(showtime_id)
        if current is not None and current.version > entry.version:
            return  # a slower read of an older version: keep the newer one
        self._entries[showtime_id] = entry
        self._entries.move_to_end(showtime_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


async def seat_map_json(
    pool: asyncpg.Pool,
    cache: SeatMapCache,
    showtime_id: uuid.UUID,
    user_id: uuid.UUID | None,
) -> bytes:
    """The seat map answer, serialised. Anonymous callers are served from `cache` while it is
    right (see SeatMapCache); a caller with a token gets its own held_by_me, read afresh."""
    if user_id is not None:
        return json_dumps(await seat_map(pool, showtime_id, user_id))
    async with pool.acquire() as conn:
        fresh = await conn.fetchrow(QUERIES.seat_map_freshness, showtime_id)
        if fresh is None:
            raise ShowtimeNotFound()
        body = cache.get(showtime_id, fresh["version"], fresh["updated_at"], fresh["now"])
        if body is not None:
            return body
        rows = await conn.fetch(QUERIES.seat_map, showtime_id, None)
    if not rows:
        raise ShowtimeNotFound()
    body = json_dumps(_seat_map_view(rows, with_user=False))
    expiries = [row["held_until"] for row in rows if row["held_until"] is not None]
    first = rows[0]
    cache.put(
        showtime_id,
        CachedSeatMap(first["version"], first["updated_at"], min(expiries, default=None), body),
    )
    return body


# --- the start of every seat change ---------------------------------------------------------


async def begin_seat_change(conn: asyncpg.Connection, showtime_id: uuid.UUID) -> asyncpg.Record:
    """Inside a transaction: lock the showtime, read it and the clock, free its expired holds.

    Returns the showtime (`now` is the database clock after the lock; `started`, `cancelled_at`
    for the caller to judge). Raises ShowtimeNotFound for an unknown one.
    """
    await lock_showtime(conn, showtime_id)
    showtime = await conn.fetchrow(QUERIES.showtime_for_seat_change, showtime_id)
    if showtime is None:
        raise ShowtimeNotFound()
    await free_expired_holds(conn, showtime_id, showtime["now"])
    return showtime


async def free_expired_holds(
    conn: asyncpg.Connection,
    showtime_id: uuid.UUID,
    now: dt.datetime,
    limit: int | None = None,
) -> tuple[int, list[uuid.UUID]]:
    """Delete the showtime's holds expired at `now` (at most `limit`), report their seats as
    available; (holds deleted, seats freed). The caller holds the showtime's lock."""
    row = await conn.fetchrow(QUERIES.delete_expired_holds, showtime_id, limit, now)
    seat_ids = list(row["seat_ids"])
    if seat_ids:
        await record_seat_changes(conn, showtime_id, [(seat, AVAILABLE) for seat in seat_ids])
    return row["holds"], seat_ids


def _open_showtime(showtime: asyncpg.Record) -> None:
    if showtime["cancelled_at"] is not None:
        raise ShowtimeNotFound()
    if showtime["started"]:
        raise ShowtimeStarted()


# --- holds ----------------------------------------------------------------------------------


async def hold_seats(
    pool: asyncpg.Pool,
    settings: Settings,
    user_id: uuid.UUID,
    showtime_id: uuid.UUID,
    seat_ids: Sequence[uuid.UUID],
) -> tuple[dict[str, Any], int]:
    """Hold all of `seat_ids` for the user, or none; adds to and renews an existing hold.
    Returns (the hold, how many seats were added to it)."""
    wanted = list(dict.fromkeys(seat_ids))
    if len(wanted) > settings.max_seats_per_hold:
        raise TooManySeats(settings.max_seats_per_hold, len(wanted))
    try:
        async with pool.acquire() as conn, conn.transaction():
            showtime = await begin_seat_change(conn, showtime_id)
            _open_showtime(showtime)
            return await add_to_hold(conn, settings, showtime, user_id, wanted)
    except asyncpg.UniqueViolationError:
        # Only reachable if the checks under the lock were wrong: the database said no.
        async with pool.acquire() as conn:
            taken = await conn.fetch(QUERIES.taken_seats, showtime_id, wanted, user_id)
        raise SeatUnavailable([row["seat_id"] for row in taken] or wanted) from None


async def requested_seat_states(
    conn: asyncpg.Connection,
    showtime: asyncpg.Record,
    user_id: uuid.UUID,
    seat_ids: Sequence[uuid.UUID],
) -> asyncpg.Record:
    """(unknown_seat_ids, taken_seat_ids, mine_seat_ids) of the requested seats."""
    return await conn.fetchrow(
        QUERIES.requested_seat_states, showtime["id"], seat_ids, showtime["theater_id"], user_id
    )


async def add_to_hold(
    conn: asyncpg.Connection,
    settings: Settings,
    showtime: asyncpg.Record,
    user_id: uuid.UUID,
    seat_ids: Sequence[uuid.UUID],
) -> tuple[dict[str, Any], int]:
    """Inside begin_seat_change's transaction: put `seat_ids` (distinct) in the user's hold.
    Returns (the hold, how many seats were added to it)."""
    showtime_id = showtime["id"]
    states = await requested_seat_states(conn, showtime, user_id, seat_ids)
    if states["unknown_seat_ids"]:
        raise UnknownSeats(states["unknown_seat_ids"])
    if states["taken_seat_ids"]:
        raise SeatUnavailable(states["taken_seat_ids"])
    mine = set(states["mine_seat_ids"])
    new_seats = [seat for seat in seat_ids if seat not in mine]
    existing = await conn.fetchrow(QUERIES.hold_of_user, showtime_id, user_id)
    total = (existing["seat_count"] if existing else 0) + len(new_seats)
    if total > settings.max_seats_per_hold:
        raise TooManySeats(settings.max_seats_per_hold, total)
    stranded = await apply_gap_rule(conn, settings, showtime, user_id, seat_ids)

    hold = await conn.fetchrow(
        QUERIES.upsert_hold,
        showtime_id,
        user_id,
        showtime["now"],
        settings.hold_ttl_seconds,
        settings.max_hold_lifetime_seconds,
    )
    if new_seats:
        await conn.execute(QUERIES.insert_hold_claims, showtime_id, new_seats, hold["id"])
        await record_seat_changes(conn, showtime_id, [(seat, HELD) for seat in new_seats])
    await conn.execute(QUERIES.forget_expired_hold, showtime_id, user_id)
    held = await conn.fetch(QUERIES.seats_of_hold, hold["id"])
    remaining = (hold["expires_at"] - showtime["now"]).total_seconds()
    view = {
        "hold_id": hold["id"],
        "showtime_id": showtime_id,
        "locked_seat_ids": [row["seat_id"] for row in held],
        "expires_at": hold["expires_at"],
        "lock_duration_minutes": round(max(remaining, 0) / 60, 2),
        "stranded_seat_ids": stranded,
    }
    return view, len(new_seats)


# --- best available and the single-seat gap rule ---------------------------------------------


async def hold_best_seats(
    pool: asyncpg.Pool,
    settings: Settings,
    user_id: uuid.UUID,
    showtime_id: uuid.UUID,
    count: int,
    seat_type: str | None = None,
    accessible: bool = False,
) -> tuple[dict[str, Any], int]:
    """Choose the best `count` free seats (best_seats.best_available) and hold them like
    hold_seats does, in one transaction under the showtime's lock: two people asking at once
    are served one after the other, so they get different seats."""
    if count > settings.max_seats_per_hold:
        raise TooManySeats(settings.max_seats_per_hold, count)
    chosen: list[uuid.UUID] = []
    try:
        async with pool.acquire() as conn, conn.transaction():
            showtime = await begin_seat_change(conn, showtime_id)
            _open_showtime(showtime)
            seats = await conn.fetch(
                QUERIES.seats_with_claims, showtime_id, showtime["theater_id"], user_id, None
            )
            layout = Layout.from_records(seats)
            free = {seat["id"] for seat in seats if not seat["claimed"]}
            picked = best_available(layout, free, count, seat_type, accessible)
            if picked is None:
                fitting = [s for s in free if matches(layout.seats[s], seat_type, accessible)]
                raise NotEnoughSeats(count, len(fitting))
            # The layout is built from these records, so its ids are theirs: UUIDs.
            chosen = cast(list[uuid.UUID], picked)
            return await add_to_hold(conn, settings, showtime, user_id, chosen)
    except asyncpg.UniqueViolationError:
        # Only reachable if the choice under the lock were wrong: the database said no.
        raise SeatUnavailable(chosen) from None


async def stranded_by_hold(
    conn: asyncpg.Connection,
    showtime_id: uuid.UUID,
    theater_id: uuid.UUID,
    user_id: uuid.UUID | None,
    adding: Sequence[uuid.UUID],
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """(the user's whole hold once `adding` is in it, the seats that hold strands among
    everyone else's claims), each front row first, left to right. Seats stranded by the others
    alone are not counted. Ids not in the theater are left out of both."""
    seats = await conn.fetch(
        QUERIES.seats_with_claims_in_rows, showtime_id, theater_id, user_id, list(adding)
    )
    layout = Layout.from_records(seats)
    others = {seat["id"] for seat in seats if seat["claimed"] and not seat["mine"]}
    hold = {seat["id"] for seat in seats if seat["mine"]} | (set(adding) & layout.seats.keys())
    stranded = stranded_seats(layout, others, others | hold)
    in_order = [seat["id"] for seat in seats]
    return [s for s in in_order if s in hold], [s for s in in_order if s in stranded]


async def apply_gap_rule(
    conn: asyncpg.Connection,
    settings: Settings,
    showtime: asyncpg.Record,
    user_id: uuid.UUID,
    adding: Sequence[uuid.UUID],
) -> list[uuid.UUID]:
    """SINGLE_SEAT_GAP_RULE for a hold about to take `adding`: the seats the caller's whole hold
    would strand ('warn'), WouldStrandSeat if there are any ('enforce'), nothing ('off')."""
    if settings.single_seat_gap_rule == "off":
        return []
    _, stranded = await stranded_by_hold(
        conn, showtime["id"], showtime["theater_id"], user_id, adding
    )
    if stranded and settings.single_seat_gap_rule == "enforce":
        raise WouldStrandSeat(stranded)
    return stranded


async def check_stranded_seats(
    pool: asyncpg.Pool,
    settings: Settings,
    showtime_id: uuid.UUID,
    user_id: uuid.UUID | None,
    seat_ids: Sequence[uuid.UUID],
) -> dict[str, Any]:
    """What lock-seats would say about adding `seat_ids` to the caller's hold (no hold without a
    token), without holding anything: for the seat-selection page to warn before it locks."""
    wanted = list(dict.fromkeys(seat_ids))
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        showtime = await conn.fetchrow(QUERIES.seat_map_showtime, showtime_id)
        if showtime is None:
            raise ShowtimeNotFound()
        hold, stranded = await stranded_by_hold(
            conn, showtime_id, showtime["theater_id"], user_id, wanted
        )
    unknown = [seat for seat in wanted if seat not in hold]
    if unknown:
        raise UnknownSeats(unknown)
    return {
        "showtime_id": showtime_id,
        "seat_ids": hold,
        "stranded_seat_ids": stranded,
        "single_seat_gap_rule": settings.single_seat_gap_rule,
    }


async def release_seats(
    pool: asyncpg.Pool,
    user_id: uuid.UUID,
    showtime_id: uuid.UUID,
    seat_ids: Sequence[uuid.UUID] | None,
) -> list[uuid.UUID]:
    """Release these (or all) of the user's held seats of the showtime; the seats freed."""
    wanted = list(dict.fromkeys(seat_ids)) if seat_ids is not None else None
    async with pool.acquire() as conn, conn.transaction():
        showtime = await begin_seat_change(conn, showtime_id)
        if showtime["cancelled_at"] is not None:
            raise ShowtimeNotFound()
        rows = await conn.fetch(QUERIES.release_held_seats, showtime_id, user_id, wanted)
        freed = [row["seat_id"] for row in rows]
        await conn.execute(QUERIES.delete_empty_hold, showtime_id, user_id)
        await record_seat_changes(conn, showtime_id, [(seat, AVAILABLE) for seat in freed])
    return freed


# --- reservations ---------------------------------------------------------------------------


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


def request_hash(showtime_id: uuid.UUID, seat_ids: Sequence[uuid.UUID]) -> str:
    """What makes two booking requests the same: the showtime and the set of seats."""
    canonical = orjson.dumps(
        {"seat_ids": sorted({str(seat) for seat in seat_ids}), "showtime_id": str(showtime_id)},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


def new_ticket_code() -> str:
    """Like K7QX-2M9P-R4TD: short enough to read out, too many to guess."""
    groups = (
        "".join(secrets.choice(TICKET_ALPHABET) for _ in range(TICKET_GROUP_LENGTH))
        for _ in range(TICKET_GROUPS)
    )
    return "-".join(groups)


async def reserve(
    pool: asyncpg.Pool,
    user_id: uuid.UUID,
    showtime_id: uuid.UUID,
    seat_ids: Sequence[uuid.UUID],
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Turn the user's live hold on `seat_ids` into a confirmed reservation.

    Returns (reservation, created); created is False when an earlier request with the same
    Idempotency-Key and body already booked it (nothing more is booked then).
    """
    wanted = list(dict.fromkeys(seat_ids))
    fingerprint = request_hash(showtime_id, wanted)
    async with pool.acquire() as conn, conn.transaction():
        if idempotency_key is not None:
            if not await conn.fetchval(QUERIES.try_lock_idempotency_key, user_id, idempotency_key):
                raise RequestInFlight()
            earlier = await conn.fetchrow(QUERIES.find_idempotency_key, user_id, idempotency_key)
            if earlier is not None:
                if earlier["request_hash"] != fingerprint or earlier["reservation_id"] is None:
                    raise IdempotencyKeyReused()
                return await _reservation_row(conn, earlier["reservation_id"]), False

        showtime = await begin_seat_change(conn, showtime_id)
        _open_showtime(showtime)
        reservation_id = await _book_held_seats(conn, showtime, user_id, wanted)
        if idempotency_key is not None:
            await conn.execute(
                QUERIES.insert_idempotency_key,
                user_id,
                idempotency_key,
                fingerprint,
                reservation_id,
            )
        return await _reservation_row(conn, reservation_id), True


async def _book_held_seats(
    conn: asyncpg.Connection,
    showtime: asyncpg.Record,
    user_id: uuid.UUID,
    seat_ids: Sequence[uuid.UUID],
) -> uuid.UUID:
    showtime_id = showtime["id"]
    hold = await conn.fetchrow(QUERIES.hold_of_user, showtime_id, user_id)
    held: set[uuid.UUID] = set()
    if hold is not None:
        held = {row["seat_id"] for row in await conn.fetch(QUERIES.seats_of_hold, hold["id"])}
    missing = [seat for seat in seat_ids if seat not in held]
    if missing:
        expired = await conn.fetchval(QUERIES.expired_hold_seats, showtime_id, user_id)
        if expired and set(missing) & set(expired):
            raise HoldExpired(missing)
        raise SeatsNotHeld(missing)
    assert hold is not None

    for _attempt in range(5):
        reservation_id = await conn.fetchval(
            QUERIES.insert_reservation,
            user_id,
            showtime_id,
            seat_ids,
            new_ticket_code(),
            showtime["now"],
        )
        if reservation_id is not None:
            break
    else:  # pragma: no cover - five collisions in a space of 31**12 codes
        raise RuntimeError("could not find a free ticket code")
    claimed = await conn.fetch(
        QUERIES.claim_seats_for_reservation, showtime_id, reservation_id, hold["id"], seat_ids
    )
    if len(claimed) != len(seat_ids):  # pragma: no cover - the hold was read under the lock
        raise SeatsNotHeld(sorted(set(seat_ids) - {row["seat_id"] for row in claimed}))
    await conn.execute(QUERIES.delete_empty_hold, showtime_id, user_id)
    await record_seat_changes(conn, showtime_id, [(seat, SOLD) for seat in seat_ids])
    return reservation_id


async def _reservation_row(conn: asyncpg.Connection, reservation_id: uuid.UUID) -> dict[str, Any]:
    row = await conn.fetchrow(QUERIES.reservation_by_id, reservation_id)
    if row is None:
        raise ReservationNotFound()
    return reservation_view(row)


def reservation_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "showtime_id": row["showtime_id"],
        "status": row["status"],
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
        total = await conn.fetchval(QUERIES.count_reservations_of_user, user_id, include_past)
        rows = await conn.fetch(
            QUERIES.reservations_of_user,
            user_id,
            include_past,
            page_size,
            (page - 1) * page_size,
        )
    return [reservation_view(row) for row in rows], total


async def get_reservation(
    pool: asyncpg.Pool, user: asyncpg.Record, reservation_id: uuid.UUID
) -> dict[str, Any]:
    """The owner or an admin sees it; for anyone else it does not exist."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(QUERIES.reservation_by_id, reservation_id)
    if row is None or not _may_see(user, row["user_id"]):
        raise ReservationNotFound()
    return reservation_view(row)


async def cancel_reservation(
    pool: asyncpg.Pool, user: asyncpg.Record, reservation_id: uuid.UUID
) -> tuple[dict[str, Any], str | None]:
    """Cancel before the show starts: the record stays, its seats are free at once.
    Cancelling a cancelled reservation changes nothing. Returns (the reservation, the reason it
    was cancelled now, or None if it already was)."""
    async with pool.acquire() as conn, conn.transaction():
        owner = await conn.fetchrow(QUERIES.reservation_owner, reservation_id)
        if owner is None or not _may_see(user, owner["user_id"]):
            raise ReservationNotFound()
        showtime = await begin_seat_change(conn, owner["showtime_id"])
        reason = None
        if await conn.fetchval(QUERIES.reservation_status, reservation_id) == "confirmed":
            if showtime["started"]:
                raise ShowtimeStarted(
                    "This show has started; its reservations cannot be cancelled."
                )
            reason = "cancelled_by_user" if user["id"] == owner["user_id"] else "cancelled_by_admin"
            await conn.execute(QUERIES.cancel_reservation, reservation_id, showtime["now"], reason)
            rows = await conn.fetch(QUERIES.release_reservation_claims, reservation_id)
            await record_seat_changes(
                conn, owner["showtime_id"], [(row["seat_id"], AVAILABLE) for row in rows]
            )
        return await _reservation_row(conn, reservation_id), reason
