"""Seat changes: the showtime's version and the notification every instance listens to.

Call `record_seat_changes` inside the transaction that changes seats. The version grows in that
transaction, and PostgreSQL delivers the NOTIFY only when it commits, so a rolled-back change is
never broadcast. A large change is split into chunks (each its own version) so that a payload
stays far below PostgreSQL's 8000-byte limit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import asyncpg
import orjson

from ..db import QUERIES

CHANNEL = "seat_changes"
MAX_SEATS_PER_NOTIFICATION = 100  # ~50 bytes a seat: ~5 KB at most

AVAILABLE = "available"
HELD = "held"
SOLD = "sold"
STATUSES = (AVAILABLE, HELD, SOLD)


def encode_notification(
    showtime_id: uuid.UUID, version: int, changes: Sequence[tuple[uuid.UUID, str]]
) -> str:
    """Compact payload: {"s": showtime id, "v": version, "c": [[seat id, status], ...]}."""
    return orjson.dumps(
        {
            "s": str(showtime_id),
            "v": version,
            "c": [[str(seat), status] for seat, status in changes],
        }
    ).decode()


def decode_notification(payload: str) -> tuple[str, int, list[dict[str, str]]]:
    """(showtime id, version, [{"id", "status"}]) of a payload made by encode_notification."""
    data = orjson.loads(payload)
    return data["s"], int(data["v"]), [{"id": seat, "status": status} for seat, status in data["c"]]


async def record_seat_changes(
    conn: asyncpg.Connection, showtime_id: uuid.UUID, changes: Iterable[tuple[uuid.UUID, str]]
) -> int:
    """Bump the showtime's version once per chunk and queue a NOTIFY for each; the last version."""
    pending = list(changes)
    version = 0
    for start in range(0, len(pending), MAX_SEATS_PER_NOTIFICATION):
        chunk = pending[start : start + MAX_SEATS_PER_NOTIFICATION]
        version = await conn.fetchval(QUERIES.bump_showtime_version, showtime_id)
        await conn.execute(
            QUERIES.notify_seat_changes, CHANNEL, encode_notification(showtime_id, version, chunk)
        )
    return version


async def lock_showtime(conn: asyncpg.Connection, showtime_id: uuid.UUID) -> None:
    """Serialise every seat change of one showtime: a transaction-scoped advisory lock, released
    at commit or rollback. Bounded by the connection's lock_timeout (503 `busy` past it); the
    wait is taken off the lock_timeout left to the rest of the transaction, so that the lock
    waits of one request add up to one lock_timeout (see the query)."""
    await conn.execute(QUERIES.lock_showtime, str(showtime_id))
