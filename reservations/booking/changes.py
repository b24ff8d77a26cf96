"""Seat changes as the live map hears them.

Every insert, update and delete of `seat_claims` bumps the showtime's version and queues a NOTIFY
on CHANNEL, in triggers (sql/code/01_announcements.sql): PostgreSQL delivers it only when the
transaction commits, so a rolled-back change is never broadcast, and no code path can change
seats without it. A large change is split into chunks of at most 100 seats, each its
own version, so that a payload stays far below PostgreSQL's 8000-byte limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

CHANNEL = "seat_changes"
# A showtime's price, times or cancellation changed; the payload is its id.
SHOWTIME_CHANNEL = "showtime_changes"
# A showtime was cancelled; the payload is its id. Its viewers are told, and their sockets close.
CANCELLATION_CHANNEL = "showtime_cancellations"

AVAILABLE = "available"
HELD = "held"
SOLD = "sold"
STATUSES = (AVAILABLE, HELD, SOLD)


@dataclass(frozen=True)
class SeatChanges:
    """A seat_changes payload: {"s": showtime id, "v": version, "c": [[seat id, status], ...],
    "u": the holder of the seats newly held, "x": when that hold expires} ("u" and "x" null, or
    absent, when no seat was newly held)."""

    showtime_id: str
    version: int
    changes: list[dict[str, str]]
    holder: str | None = None
    hold_expires_at: str | None = None


def read_notification(payload: str) -> SeatChanges:
    data = orjson.loads(payload)
    changes = [{"id": seat, "status": status} for seat, status in data["c"]]
    return SeatChanges(data["s"], int(data["v"]), changes, data.get("u"), data.get("x"))


def decode_notification(payload: str) -> tuple[str, int, list[dict[str, str]]]:
    """(showtime id, version, [{"id", "status"}]) of a seat_changes payload."""
    note = read_notification(payload)
    return note.showtime_id, note.version, note.changes
