"""The seat map of a showtime, and the per-process cache of the anonymous one.

The anonymous map is the hot read of a popular showtime. While this instance is listening for
seat changes, a cached map is served with no query at all: every seat change of the process
itself drops it when it commits, every change made anywhere drops it when its NOTIFY arrives
(so a change made on another instance shows here within the NOTIFY delay, the same delay the
live map has), a new price or time or a cancellation drops it through `showtime_changes`, and
the earliest expiry among the holds it shows ends it (an expiring hold is the one change with no
notification). While the listener is down, an entry is served only after a freshness read of the
showtime row (version, updated_at, clock), exactly what a fresh read would answer.

An entry is one read made into everything that version is sent as: the REST answer (a
Representation: its bytes, its ETag, and its gzip and Brotli encodings, each compressed once on
first demand) and the live map's `snapshot` message. The tags of personal maps (held_by_me)
answered at the same version are kept with it, so that a caller's If-None-Match is answered 304
with no query while the entry is right. A personal map is the cached map with the caller's
held_by_me, when one small statement (the caller's held seats, with the showtime's version,
updated_at and clock) finds the entry right; else it is read in full.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from .. import representations
from ..db import QUERIES, json_dumps
from .changes import AVAILABLE, HELD
from .errors import ShowtimeNotFound


def seat_map_view(
    rows: Sequence[asyncpg.Record],
    prices: Sequence[asyncpg.Record],
    with_user: bool,
    held: set[uuid.UUID] | None = None,
) -> dict[str, Any]:
    """The seat map answer of the `seat_map` rows (at least one: the showtime exists) and the
    `showtime_prices` rows (each seat's `price` is the default ticket type's; `prices` gives
    every active ticket type's on every seat type the hall has). With `with_user`, each seat's
    held_by_me is the rows' own, or whether it is in `held` (the caller's seats) when given.

    The keys of a seat go in the order that compresses best: a seat is mostly the one before it
    with a few values changed (the row's, the type and price, the status and its two flags, the
    numbers, the id), and values that change together sit together, so that gzip and Brotli
    find long repeats (a 300-seat map: ~10% smaller than in the contract's order)."""
    first = rows[0]
    seats = []
    seat_types = set()
    available = 0
    for row in rows:
        if row["id"] is None:  # a theater without seats
            continue
        status = row["status"]
        seat = {
            "row_index": row["row_index"],
            "row_label": row["row_label"],
            "seat_type": row["seat_type"],
            "price": row["price"],
            "status": status,
            "is_available": status == AVAILABLE,
            "is_locked": status == HELD,
        }
        if with_user:
            seat["held_by_me"] = row["held_by_me"] if held is None else row["id"] in held
        seat["seat_label"] = row["seat_label"]
        seat["seat_number"] = row["seat_number"]
        seat["column_index"] = row["column_index"]
        seat["id"] = row["id"]
        available += status == AVAILABLE
        seat_types.add(row["seat_type"])
        seats.append(seat)
    return {
        "showtime_id": first["showtime_id"],
        "version": first["version"],
        "total_seats": len(seats),
        "available_seats": available,
        "prices": [dict(price) for price in prices if price["seat_type"] in seat_types],
        "seats": seats,
    }


def anonymous_snapshot(showtime_id: str, rows: Sequence[asyncpg.Record]) -> bytes:
    """The live map's `snapshot` message of the same rows, anonymous (no held_by_me)."""
    seats = [{"id": str(row["id"]), "status": row["status"]} for row in rows if row["id"]]
    return orjson.dumps(
        {
            "type": "snapshot",
            "showtime_id": showtime_id,
            "version": int(rows[0]["version"]),
            "seats": seats,
        }
    )


def map_tag(version: int, body: bytes, user_id: uuid.UUID | None = None) -> str:
    """The opaque part of a seat map's ETag: its version, then a hash of its bytes keyed by the
    caller (a map with held_by_me is one caller's: another's tag never matches it)."""
    return representations.tag_of(body, f"{version}-", user_id.bytes if user_id else b"")


MapRows = tuple[list[asyncpg.Record], list[asyncpg.Record]]


async def read_map(
    conn: asyncpg.Connection, showtime_id: uuid.UUID, user_id: uuid.UUID | None
) -> MapRows:
    """The `seat_map` rows (every seat with its status, in one statement, so `version` matches
    the seats) and the `showtime_prices` rows. Raises ShowtimeNotFound."""
    rows = await conn.fetch(QUERIES.seat_map, showtime_id, user_id)
    if not rows:
        raise ShowtimeNotFound()
    return rows, await conn.fetch(QUERIES.showtime_prices, showtime_id)


async def seat_map(
    pool: asyncpg.Pool, showtime_id: uuid.UUID, user_id: uuid.UUID | None
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        rows, prices = await read_map(conn, showtime_id, user_id)
    return seat_map_view(rows, prices, user_id is not None)


@dataclass
class CachedSeatMap:
    version: int
    updated_at: dt.datetime
    # The earliest expiry among the holds this map shows as held (database clock), from when
    # on it is wrong, and the same moment on this process's monotonic clock.
    good_until: dt.datetime | None
    answer: representations.Representation  # the serialised answer, compressed on demand
    good_until_monotonic: float = float("inf")
    # The live map's `snapshot` message of the same read, sent as it is to every new viewer.
    snapshot: bytes = b""
    # The read itself (`read_map`), from which a caller's personal map is made.
    rows: MapRows = ([], [])
    # The tags of the personal maps (held_by_me) answered at this very version, by user: while
    # the entry is right so are they, and If-None-Match with one of them costs no query.
    personal_tags: dict[uuid.UUID, str] = field(default_factory=dict)

    @property
    def body(self) -> bytes:
        return self.answer.body


MAX_PERSONAL_TAGS = 4096  # per cached map; beyond it they start again (a cost, never an error)


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
        self.reads = 0  # full reads of a map (anonymous or personal)
        # The anonymous read under way per showtime, with the generation it began at.
        self.reading: dict[uuid.UUID, tuple[tuple[int, int], asyncio.Task[CachedSeatMap]]] = {}
        # Told of every seat change (a showtime id) and showtime change this cache hears, its
        # own and the NOTIFYs alike: the listings (catalog/listings.py) show available seats.
        self.on_seats_changed: list[Callable[[uuid.UUID], None]] = []
        self.on_showtime_changed: list[Callable[[uuid.UUID], None]] = []

    def generation(self, showtime_id: uuid.UUID) -> tuple[int, int]:
        return self._generations.get(None, 0), self._generations.get(showtime_id, 0)

    def _bump(self, key: uuid.UUID | None) -> None:
        self._generations[key] = self._generations.get(key, 0) + 1

    def entry(self, showtime_id: uuid.UUID) -> CachedSeatMap | None:
        return self._entries.get(showtime_id)

    def serve(self, showtime_id: uuid.UUID) -> CachedSeatMap | None:
        """The cached map, when it is known right without asking the database (listening)."""
        entry = self._entries.get(showtime_id)
        if entry is None or not self.listening or time.monotonic() >= entry.good_until_monotonic:
            return None
        self._entries.move_to_end(showtime_id)
        self.hits += 1
        return entry

    def personal_tag(self, showtime_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
        """The tag of `user_id`'s map as it is now, when known without asking the database."""
        entry = self._entries.get(showtime_id)
        if entry is None or not self.listening or time.monotonic() >= entry.good_until_monotonic:
            return None
        return entry.personal_tags.get(user_id)

    def get(
        self, showtime_id: uuid.UUID, version: int, updated_at: dt.datetime, now: dt.datetime
    ) -> CachedSeatMap | None:
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
        return entry

    def put(
        self,
        showtime_id: uuid.UUID,
        entry: CachedSeatMap,
        generation: tuple[int, int] | None = None,
    ) -> CachedSeatMap:
        """Store a map read when `generation` was current (None: whatever happened since); the
        entry kept for that version (an equal one already there stays, with its encodings)."""
        if generation is not None and generation != self.generation(showtime_id):
            return entry  # the showtime changed since the read began: it may be stale
        current = self._entries.get(showtime_id)
        if current is not None and current.version > entry.version:
            return entry  # a slower read of an older version: keep the newer one
        if (
            current is not None
            and current.version == entry.version
            and current.updated_at == entry.updated_at
            and current.answer.tag == entry.answer.tag
        ):
            return current  # the same map read twice: keep the one already compressed
        self._entries[showtime_id] = entry
        self._entries.move_to_end(showtime_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return entry

    def remember_personal_tag(
        self,
        showtime_id: uuid.UUID,
        user_id: uuid.UUID,
        version: int,
        updated_at: dt.datetime,
        tag: str,
        generation: tuple[int, int],
    ) -> None:
        """A personal map read when `generation` was current, at this version: its tag holds as
        long as the cached anonymous map of the same version does."""
        entry = self._entries.get(showtime_id)
        if (
            entry is None
            or generation != self.generation(showtime_id)
            or entry.version != version
            or entry.updated_at != updated_at
        ):
            return
        if len(entry.personal_tags) >= MAX_PERSONAL_TAGS:
            entry.personal_tags.clear()
        entry.personal_tags[user_id] = tag

    def seats_changed(self, showtime_id: uuid.UUID, version: int | None = None) -> None:
        """Seats of the showtime changed (at `version`, when known from a notification)."""
        self._bump(showtime_id)
        entry = self._entries.get(showtime_id)
        if entry is not None and (version is None or entry.version < version):
            del self._entries[showtime_id]
        for follower in self.on_seats_changed:
            follower(showtime_id)

    def showtime_changed(self, showtime_id: uuid.UUID) -> None:
        """Its price, times or cancellation changed."""
        self._bump(showtime_id)
        self._entries.pop(showtime_id, None)
        for follower in self.on_showtime_changed:
            follower(showtime_id)

    def prices_changed(self) -> None:
        """A ticket type's or a seat type's price changed: every map shows others now. The
        showtimes' NOTIFYs tell every process, this one too, but only once they arrive."""
        self._forget_all()

    def set_listening(self, listening: bool) -> None:
        """The listener connected (changes from now on will be heard) or lost its connection
        (changes may be missed: entries are checked against the database until it is back)."""
        self._forget_all()
        self.listening = listening

    def _forget_all(self) -> None:
        self._bump(None)
        self._entries.clear()


@contextlib.contextmanager
def changing_seats(cache: SeatMapCache | None, showtime_id: uuid.UUID) -> Iterator[None]:
    """Around a seat change made by this process: its cached map of the showtime is dropped when
    the change is over, refused or not (a call whose answer was lost may still have committed)."""
    try:
        yield
    finally:
        if cache is not None:
            cache.seats_changed(showtime_id)


def _entry_of(map_rows: MapRows, started: float) -> CachedSeatMap:
    """The anonymous map of `read_map` rows read with any user (held_by_me is left out)."""
    rows, prices = map_rows
    first = rows[0]
    body = json_dumps(seat_map_view(rows, prices, with_user=False))
    good_until = min(
        (row["held_until"] for row in rows if row["held_until"] is not None), default=None
    )
    good_until_monotonic = float("inf")
    if good_until is not None:
        # `now` is the query's start on the database clock; `started` was taken before it.
        good_until_monotonic = started + (good_until - first["now"]).total_seconds()
    version = first["version"]
    return CachedSeatMap(
        version,
        first["updated_at"],
        good_until,
        representations.Representation(body, map_tag(version, body)),
        good_until_monotonic,
        anonymous_snapshot(str(first["showtime_id"]), rows),
        map_rows,
    )


async def _read_map(
    pool: asyncpg.Pool, cache: SeatMapCache, showtime_id: uuid.UUID, generation: tuple[int, int]
) -> CachedSeatMap:
    async with pool.acquire() as conn:
        started = time.monotonic()
        cache.reads += 1
        map_rows = await read_map(conn, showtime_id, None)
    return cache.put(showtime_id, _entry_of(map_rows, started), generation)


async def current_map(
    pool: asyncpg.Pool, cache: SeatMapCache, showtime_id: uuid.UUID
) -> tuple[CachedSeatMap, bool]:
    """The anonymous map as it is now, and whether this call read it: served from `cache`
    while it is right (see SeatMapCache), else read and kept. Raises ShowtimeNotFound.

    While listening, callers that come during a read share it as long as nothing was heard to
    change since it began (a thousand viewers arriving on a cold cache cost one read); a caller
    that comes after a change starts a read of its own."""
    entry = cache.serve(showtime_id)
    if entry is not None:
        return entry, False
    generation = cache.generation(showtime_id)
    if cache.listening:
        reading = cache.reading.get(showtime_id)
        if reading is not None and reading[0] == generation:
            return await asyncio.shield(reading[1]), False
        task = asyncio.create_task(_read_map(pool, cache, showtime_id, generation))
        cache.reading[showtime_id] = reading = (generation, task)

        def done(finished: asyncio.Task[CachedSeatMap]) -> None:
            if cache.reading.get(showtime_id) is reading:
                del cache.reading[showtime_id]
            if not finished.cancelled():
                finished.exception()  # retrieved: every caller may have gone

        task.add_done_callback(done)
        return await asyncio.shield(task), True
    async with pool.acquire() as conn:
        if cache.entry(showtime_id) is not None:
            fresh = await conn.fetchrow(QUERIES.seat_map_freshness, showtime_id)
            if fresh is None:
                raise ShowtimeNotFound()
            entry = cache.get(showtime_id, fresh["version"], fresh["updated_at"], fresh["now"])
            if entry is not None:
                return entry, False
    return await _read_map(pool, cache, showtime_id, generation), True


async def seat_map_answer(
    pool: asyncpg.Pool,
    cache: SeatMapCache,
    showtime_id: uuid.UUID,
    user_id: uuid.UUID | None,
) -> representations.Representation:
    """The seat map answer. Anonymous callers get the cached one while it is right (see
    SeatMapCache). A caller with a token gets its own held_by_me: the cached map's with the
    seats `seats_held_by` finds, when that same statement finds the cached map right, else a
    full read (which refreshes the cached map too); its tag is remembered with the cached map
    of the same version."""
    if user_id is None:
        return (await current_map(pool, cache, showtime_id))[0].answer
    generation = cache.generation(showtime_id)
    started = time.monotonic()
    async with pool.acquire() as conn:
        if cache.entry(showtime_id) is not None:
            mine = await conn.fetchrow(QUERIES.seats_held_by, showtime_id, user_id)
            if mine is None:
                raise ShowtimeNotFound()
            entry = cache.get(showtime_id, mine["version"], mine["updated_at"], mine["now"])
            if entry is not None:
                rows, prices = entry.rows
                body = json_dumps(
                    seat_map_view(rows, prices, with_user=True, held=set(mine["seat_ids"]))
                )
                return _personal_answer(cache, showtime_id, user_id, rows[0], body, generation)
        cache.reads += 1
        map_rows = await read_map(conn, showtime_id, user_id)
    rows, prices = map_rows
    body = json_dumps(seat_map_view(rows, prices, with_user=True))
    current = cache.entry(showtime_id)
    if cache.listening and (current is None or current.version < rows[0]["version"]):
        cache.put(showtime_id, _entry_of(map_rows, started), generation)
    return _personal_answer(cache, showtime_id, user_id, rows[0], body, generation)


def _personal_answer(
    cache: SeatMapCache,
    showtime_id: uuid.UUID,
    user_id: uuid.UUID,
    first: asyncpg.Record,
    body: bytes,
    generation: tuple[int, int],
) -> representations.Representation:
    """The answer of a personal map's `body`, of the read whose first row is `first`; its tag
    is remembered with the cached map of the same version."""
    version, updated_at = first["version"], first["updated_at"]
    answer = representations.Representation(body, map_tag(version, body, user_id))
    if cache.listening:
        cache.remember_personal_tag(
            showtime_id, user_id, version, updated_at, answer.tag, generation
        )
    return answer
