"""Check-in rules: a scan verified, then admitted by one call of admit_ticket, which the
database makes exactly-once (sql/code/07_checkin.sql); offline batches; undoing; what a scanner
downloads to answer on its own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from ..db import QUERIES
from ..errors import ApiError, NotFound
from .codes import ForgedCode, TicketSigner
from .errors import AlreadyAdmitted, CheckinNotFound, NonceReused, TicketForged, refusal

MAX_BATCH_SCANS = 500
# NOTIFY'd by admit_ticket and undo_checkin with the showtime's id (sql/code/07_checkin.sql).
CHECKIN_CHANNEL = "checkin_changes"


@dataclass(frozen=True)
class Scan:
    """One scan of a ticket at the door, as a scanner sends it."""

    code: str
    nonce: str
    showtime_id: uuid.UUID | None = None
    seat_ids: Sequence[uuid.UUID] | None = None
    device: str = ""
    scanned_at: dt.datetime | None = None  # offline scans: when it was made


def checkin_view(row: asyncpg.Record) -> dict[str, Any]:
    """A check-in as the API answers it (CheckinSchema documents it)."""
    view = {
        "id": row["id"],
        "reservation_id": row["reservation_id"],
        "showtime_id": row["showtime_id"],
        "seat_ids": list(row["seat_ids"]),
        "seat_labels": list(row["seat_labels"]),
        "ticket_code": row["ticket_code"],
        "device": row["device"],
        "admitted_at": row["admitted_at"],
        "recorded_at": row["recorded_at"],
        "undone_at": row["undone_at"],
    }
    if "admitted_by" in row.keys():
        view["admitted_by"] = row["admitted_by"]
        view["undone_by"] = row["undone_by"]
    return view


def ticket_code_of(signer: TicketSigner, code: str) -> str:
    try:
        return signer.ticket_code_of(code)
    except ForgedCode as exc:
        raise TicketForged(details={"reason": exc.reason}) from None


async def check_in(
    pool: asyncpg.Pool,
    signer: TicketSigner,
    scan: Scan,
    usher_id: uuid.UUID,
    opens_minutes: int,
) -> tuple[dict[str, Any], bool]:
    """Admit the scan's seats. Returns (check-in, created); created is False when the nonce was
    seen before and the first check-in is answered again. A refusal raises its error."""
    ticket_code = ticket_code_of(signer, scan.code)
    async with pool.acquire() as conn:
        try:
            row = await conn.fetchrow(
                QUERIES.admit_ticket,
                ticket_code,
                scan.nonce,
                scan.showtime_id,
                None if scan.seat_ids is None else list(scan.seat_ids),
                scan.device,
                usher_id,
                scan.scanned_at,
                opens_minutes,
            )
        except asyncpg.UniqueViolationError:
            # The same nonce, for another ticket, committed while this scan was being made.
            raise NonceReused() from None
        if row["outcome"] == "refused":
            raise refusal(row["error"], row["details"])
        checkin = await conn.fetchrow(QUERIES.checkins_by_ids, [row["checkin_id"]])
    return checkin_view(checkin), row["outcome"] == "admitted"


async def check_in_batch(
    pool: asyncpg.Pool,
    signer: TicketSigner,
    scans: Sequence[Scan],
    usher_id: uuid.UUID,
    opens_minutes: int,
) -> list[dict[str, Any]]:
    """Scans made offline, admitted in the order they were made (the earliest scan of a seat
    wins); one result per scan, in the order given. Status: `admitted`, `duplicate` (its nonce
    was uploaded before: the first result), `conflict` (another scan admitted its seats first;
    the error names it) or `refused` (any other refusal)."""
    results: list[dict[str, Any]] = [{} for _ in scans]
    far_past = dt.datetime.min.replace(tzinfo=dt.UTC)
    order = sorted(range(len(scans)), key=lambda i: scans[i].scanned_at or far_past)
    for index in order:
        scan = scans[index]
        result: dict[str, Any] = {"nonce": scan.nonce}
        try:
            checkin, created = await check_in(pool, signer, scan, usher_id, opens_minutes)
        except ApiError as error:
            status = "conflict" if isinstance(error, AlreadyAdmitted) else "refused"
            result.update(
                status=status,
                error={"code": error.code, "message": error.message, "details": error.details},
            )
        else:
            result.update(status="admitted" if created else "duplicate", checkin=checkin)
        results[index] = result
    return results


async def undo(pool: asyncpg.Pool, checkin_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Undo a mistaken admission: kept on record as undone, its seats may be admitted again."""
    async with pool.acquire() as conn:
        found = await conn.fetchval(QUERIES.undo_checkin, checkin_id, user_id)
    if found is None:
        raise CheckinNotFound()


async def showtime_door(pool: asyncpg.Pool, showtime_id: uuid.UUID) -> asyncpg.Record:
    """The showtime's times and its seats sold and admitted; 404 when there is no such
    showtime."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(QUERIES.showtime_door_counts, showtime_id)
    if row is None:
        raise NotFound("No showtime has this id.", code="showtime_not_found")
    return row


async def showtime_checkins(pool: asyncpg.Pool, showtime_id: uuid.UUID) -> dict[str, Any]:
    """Every check-in of the showtime (undone ones too), with its seats sold and admitted."""
    door = await showtime_door(pool, showtime_id)
    async with pool.acquire() as conn:
        rows = await conn.fetch(QUERIES.showtime_checkins, showtime_id)
    return {
        "showtime_id": showtime_id,
        "sold_seats": door["sold_seats"],
        "admitted_seats": door["admitted_seats"],
        "checkins": [checkin_view(row) for row in rows],
    }


async def showtime_tickets(
    pool: asyncpg.Pool, signer: TicketSigner, showtime_id: uuid.UUID, opens_minutes: int
) -> dict[str, Any]:
    """What a scanner keeps to answer with no network: the showtime's times, and each ticket
    with its seats, its status and the seats already admitted."""
    door = await showtime_door(pool, showtime_id)
    async with pool.acquire() as conn:
        rows = await conn.fetch(QUERIES.showtime_tickets, showtime_id)
    return {
        "showtime_id": showtime_id,
        "start_time": door["start_time"],
        "end_time": door["end_time"],
        "opens_at": door["start_time"] - dt.timedelta(minutes=opens_minutes),
        "cancelled": door["cancelled_at"] is not None,
        "sold_seats": door["sold_seats"],
        "admitted_seats": door["admitted_seats"],
        "tickets": [
            {
                "reservation_id": row["reservation_id"],
                "ticket_code": row["ticket_code"],
                "qr_payload": signer.qr_payload(row["ticket_code"]),
                "status": row["status"],
                "seat_ids": list(row["seat_ids"]),
                "seat_labels": list(row["seat_labels"]),
                "admitted_seat_ids": list(row["admitted_seat_ids"]),
            }
            for row in rows
        ],
    }
