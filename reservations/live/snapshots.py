"""Snapshots of a showtime's seat map, for viewers that connect, resync or may have missed changes.

One read serves every viewer of the same showtime (and user) that asked before the read began:
after a listener reconnect thousands of viewers want a snapshot at once, and they share a query
and a serialised frame instead of queueing for the pool one by one. A viewer never gets a read
that began before it asked, so it cannot miss a change it has already been sent.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import asyncpg
import orjson

from ..db import QUERIES

SnapshotKey = tuple[str, uuid.UUID | None]


@dataclass(frozen=True)
class Snapshot:
    version: int
    frame: bytes  # the serialised `snapshot` message, ready to send


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
    frame = orjson.dumps(
        {"type": "snapshot", "showtime_id": showtime_id, "version": version, "seats": seats}
    )
    return Snapshot(version, frame)


class Snapshots:
    """Loads snapshots, one query for all the viewers that asked before it began."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._waiting: dict[SnapshotKey, asyncio.Future[Snapshot | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.queries = 0

    async def load(self, showtime_id: str, user_id: uuid.UUID | None) -> Snapshot | None:
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
                self.queries += 1
                rows = await conn.fetch(QUERIES.live_snapshot, uuid.UUID(showtime_id), user_id)
            future.set_result(snapshot_message(showtime_id, rows))
        except asyncio.CancelledError:
            self._forget(key, future)
            future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every waiting viewer
            self._forget(key, future)
            future.set_exception(exc)

    def _forget(self, key: SnapshotKey, future: asyncio.Future[Snapshot | None]) -> None:
        if self._waiting.get(key) is future:
            del self._waiting[key]

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
