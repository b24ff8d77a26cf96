"""Snapshots of a showtime's seat map, for viewers that connect, resync or may have missed changes.

One read serves every viewer of the same showtime (and user) that asked before the read began:
after a listener reconnect thousands of viewers want a snapshot at once, and they share a query
and a serialised frame instead of queueing for the pool one by one. A viewer never gets a read
that began before it asked, so it cannot miss a change it has already been sent.

An anonymous viewer gets the `snapshot` message kept with the instance's cached seat map
(booking/seat_map.py): made once per version from the same read as the REST answer, and sent as
the same bytes to every viewer, with no query while the cache is right (it listens; a change
anywhere drops it when its NOTIFY arrives, and that NOTIFY then reaches the viewer as a change
after its snapshot, so a viewer never misses one). Five thousand viewers connecting at once cost
one read. Without the cache (a hub made on its own), the anonymous snapshot of the showtimes
last read is kept and checked against the showtime's version and the database clock. A viewer
with a user (held_by_me marks) always gets a fresh read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import asyncpg
import orjson

from ..booking.seat_map import SeatMapCache, current_map
from ..db import QUERIES
from ..showtime_lock import ShowtimeNotFound

SnapshotKey = tuple[str, uuid.UUID | None]
CACHED_SHOWTIMES = 256


@dataclass(frozen=True)
class Snapshot:
    version: int
    frame: bytes  # the serialised `snapshot` message, ready to send
    good_until: dt.datetime | None = None  # the first expiry of a hold it shows


def snapshot_message(showtime_id: str, rows: list[asyncpg.Record]) -> Snapshot | None:
    """The `snapshot` message of the live_snapshot rows; None for an unknown showtime."""
    if not rows:
        return None
    seats = []
    for row in rows:
        if row["id"] is None:  # a theater without seats
            continue
        seat = {"id": str(row["id"]), "status": row["status"]}
        if row["held_by_me"]:
            seat["held_by_me"] = True
        seats.append(seat)
    version = int(rows[0]["version"])
    message: dict[str, object] = {
        "type": "snapshot",
        "showtime_id": showtime_id,
        "version": version,
        "seats": seats,
    }
    # The viewer's own hold: when it expires, so that a reloaded page shows the time left.
    mine = [row["held_until"] for row in rows if row["held_by_me"]]
    if mine:
        message["hold_expires_at"] = min(mine)
    frame = orjson.dumps(message)
    expiries = [row["held_until"] for row in rows if row["held_until"] is not None]
    return Snapshot(version, frame, min(expiries, default=None))


class Snapshots:
    """Loads snapshots, one query for all the viewers that asked before it began."""

    def __init__(self, pool: asyncpg.Pool, seat_maps: SeatMapCache | None = None) -> None:
        self._pool = pool
        self._seat_maps = seat_maps
        self._waiting: dict[SnapshotKey, asyncio.Future[Snapshot | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._anonymous: OrderedDict[str, Snapshot] = OrderedDict()
        self.queries = 0  # full snapshot reads
        self.cache_hits = 0

    async def load(self, showtime_id: str, user_id: uuid.UUID | None) -> Snapshot | None:
        if user_id is None and self._seat_maps is not None:
            return await self._from_seat_maps(showtime_id)
        key = (showtime_id, user_id)
        future = self._waiting.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            # Nobody may be awaiting it when it fails (all cancelled): mark it retrieved.
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._waiting[key] = future
            task = asyncio.create_task(self._read(key, future))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(future)

    async def _read(self, key: SnapshotKey, future: asyncio.Future[Snapshot | None]) -> None:
        showtime_id, user_id = key
        try:
            async with self._pool.acquire() as conn:
                # From here on a new request needs a read that begins after it: not this one.
                self._forget(key, future)
                snapshot = await self._cached(conn, showtime_id) if user_id is None else None
                if snapshot is None:
                    self.queries += 1
                    rows = await conn.fetch(QUERIES.live_snapshot, uuid.UUID(showtime_id), user_id)
                    snapshot = snapshot_message(showtime_id, rows)
                    if user_id is None and snapshot is not None:
                        self._keep(showtime_id, snapshot)
            future.set_result(snapshot)
        except asyncio.CancelledError:
            self._forget(key, future)
            future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every waiting viewer
            self._forget(key, future)
            future.set_exception(exc)

    async def _from_seat_maps(self, showtime_id: str) -> Snapshot | None:
        """The anonymous snapshot kept with the cached seat map (read, and kept, if need be)."""
        assert self._seat_maps is not None
        try:
            entry, read = await current_map(self._pool, self._seat_maps, uuid.UUID(showtime_id))
        except ShowtimeNotFound:
            self.queries += 1
            return None
        if read:
            self.queries += 1
        else:
            self.cache_hits += 1
        return Snapshot(entry.version, entry.snapshot, entry.good_until)

    async def _cached(self, conn: asyncpg.Connection, showtime_id: str) -> Snapshot | None:
        """The kept anonymous snapshot while it is still right, else None."""
        kept = self._anonymous.get(showtime_id)
        if kept is None:
            return None
        fresh = await conn.fetchrow(QUERIES.live_snapshot_freshness, uuid.UUID(showtime_id))
        if (
            fresh is None
            or fresh["version"] != kept.version
            or (kept.good_until is not None and fresh["now"] >= kept.good_until)
        ):
            return None
        self._anonymous.move_to_end(showtime_id)
        self.cache_hits += 1
        return kept

    def _keep(self, showtime_id: str, snapshot: Snapshot) -> None:
        kept = self._anonymous.get(showtime_id)
        if kept is not None and kept.version > snapshot.version:
            return  # a slower read of an older version: keep the newer one
        self._anonymous[showtime_id] = snapshot
        self._anonymous.move_to_end(showtime_id)
        while len(self._anonymous) > CACHED_SHOWTIMES:
            self._anonymous.popitem(last=False)

    def _forget(self, key: SnapshotKey, future: asyncio.Future[Snapshot | None]) -> None:
        if self._waiting.get(key) is future:
            del self._waiting[key]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
