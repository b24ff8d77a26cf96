"""The seat map of a showtime, and the per-process cache of the anonymous one.

The anonymous map is the hot read of a popular showtime. While this instance is listening for
seat changes, a cached map is served with no query at all: every seat change of the process
itself drops it when it commits, every change made anywhere drops it when its NOTIFY arrives
(so a change made on another instance shows here within the NOTIFY delay, the same delay the
live map has), a new price or time or a cancellation drops it through `showtime_changes`, and
the earliest expiry among the holds it shows ends it (an expiring hold is the one change with no
notification). While the listener is down, an entry is served only after a freshness read of the
showtime row (version, updated_at, clock), exactly what a fresh read would answer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from ..db import QUERIES, json_dumps
from .changes import AVAILABLE, HELD
from .errors import ShowtimeNotFound


def seat_map_view(rows: Sequence[asyncpg.Record], with_user: bool) -> dict[str, Any]:
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


async def seat_map(
    pool: asyncpg.Pool, showtime_id: uuid.UUID, user_id: uuid.UUID | None
) -> dict[str, Any]:
    """Every seat with its status, read in one statement, so `version` matches the seats."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(QUERIES.seat_map, showtime_id, user_id)
    if not rows:
        raise ShowtimeNotFound()
    return seat_map_view(rows, user_id is not None)


@dataclass(frozen=True)
class CachedSeatMap:
    version: int
    updated_at: dt.datetime
    # The earliest expiry among the holds this map shows as held (database clock), from when
    # on it is wrong, and the same moment on this process's monotonic clock.
    good_until: dt.datetime | None
    body: bytes  # the serialised answer
    good_until_monotonic: float = float("inf")


class SeatMapCache:
    """The anonymous seat maps of the showtimes last asked for, serialised (see the module)."""

    def __init__(self, max_entries: int = 128) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[uuid.UUID, CachedSeatMap] = OrderedDict()
        # Grows with every invalidation of a showtime (and of all, for key None): a read that
        # began before one is not stored, whatever version it read.
        self._generations: dict[uuid.UUID | None, int] = {}
        self.listening = False  # set by the live listener while its LISTEN connection is up
        self.hits = 0
        self.misses = 0

    def generation(self, showtime_id: uuid.UUID) -> tuple[int, int]:
        return self._generations.get(None, 0), self._generations.get(showtime_id, 0)

    def _bump(self, key: uuid.UUID | None) -> None:
        self._generations[key] = self._generations.get(key, 0) + 1

    def entry(self, showtime_id: uuid.UUID) -> CachedSeatMap | None:
        return self._entries.get(showtime_id)

    def serve(self, showtime_id: uuid.UUID) -> bytes | None:
        """The cached map, when it is known right without asking the database (listening)."""
        entry = self._entries.get(showtime_id)
        if entry is None or not self.listening or time.monotonic() >= entry.good_until_monotonic:
            return None
        self._entries.move_to_end(showtime_id)
        self.hits += 1
        return entry.body

    def get(
        self, showtime_id: uuid.UUID, version: int, updated_at: dt.datetime, now: dt.datetime
    ) -> bytes | None:
        """The cached map, if it is the one of this version, updated_at and database clock."""
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

    def put(
        self,
        showtime_id: uuid.UUID,
        entry: CachedSeatMap,
        generation: tuple[int, int] | None = None,
    ) -> None:
        """Store a map read when `generation` was current (None: whatever happened since)."""
        if generation is not None and generation != self.generation(showtime_id):
            return  # the showtime changed since the read began: it may be stale
        current = self._entries.get(showtime_id)
        if current is not None and current.version > entry.version:
            return  # a slower read of an older version: keep the newer one
        self._entries[showtime_id] = entry
        self._entries.move_to_end(showtime_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def seats_changed(self, showtime_id: uuid.UUID, version: int | None = None) -> None:
        """Seats of the showtime changed (at `version`, when known from a notification)."""
        self._bump(showtime_id)
        entry = self._entries.get(showtime_id)
        if entry is not None and (version is None or entry.version < version):
            del self._entries[showtime_id]

    def showtime_changed(self, showtime_id: uuid.UUID) -> None:
        """Its price, times or cancellation changed."""
        self._bump(showtime_id)
        self._entries.pop(showtime_id, None)

    def set_listening(self, listening: bool) -> None:
        """The listener connected (changes from now on will be heard) or lost its connection
        (changes may be missed: entries are checked against the database until it is back)."""
        self._bump(None)
        self._entries.clear()
        self.listening = listening


@contextlib.contextmanager
def changing_seats(cache: SeatMapCache | None, showtime_id: uuid.UUID) -> Iterator[None]:
    """Around a seat change made by this process: its cached map of the showtime is dropped when
    the change is over, refused or not (a call whose answer was lost may still have committed)."""
    try:
        yield
    finally:
        if cache is not None:
            cache.seats_changed(showtime_id)


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
    body = cache.serve(showtime_id)
    if body is not None:
        return body
    generation = cache.generation(showtime_id)
    async with pool.acquire() as conn:
        if not cache.listening and cache.entry(showtime_id) is not None:
            fresh = await conn.fetchrow(QUERIES.seat_map_freshness, showtime_id)
            if fresh is None:
                raise ShowtimeNotFound()
            body = cache.get(showtime_id, fresh["version"], fresh["updated_at"], fresh["now"])
            if body is not None:
                return body
        started = time.monotonic()
        rows = await conn.fetch(QUERIES.seat_map, showtime_id, None)
    if not rows:
        raise ShowtimeNotFound()
    body = json_dumps(seat_map_view(rows, with_user=False))
    first = rows[0]
    good_until = min(
        (row["held_until"] for row in rows if row["held_until"] is not None), default=None
    )
    good_until_monotonic = float("inf")
    if good_until is not None:
        # `now` is the query's start on the database clock; `started` was taken before it.
        good_until_monotonic = started + (good_until - first["now"]).total_seconds()
    cache.put(
        showtime_id,
        CachedSeatMap(
            first["version"], first["updated_at"], good_until, body, good_until_monotonic
        ),
        generation,
    )
    return body
