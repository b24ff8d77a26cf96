"""A queue per showtime in each process, in front of the showtime's advisory lock.

Seat changes of one showtime take turns on its advisory lock, in the database. Without a queue
here, every request waiting for that lock would wait holding a pooled connection, and a crowd
on one showtime would take the whole pool: every other request (another showtime's map, the
programme) would then wait for a connection too. So a seat change first takes one of a few
permits of its showtime (SEAT_CHANGE_PERMITS_PER_SHOWTIME) and only then a connection: a few
requests wait on the lock, the rest wait here, holding nothing. One that waits longer than
SEAT_CHANGE_QUEUE_TIMEOUT_SECONDS answers 503 `busy` with Retry-After.

A showtime's semaphore exists while someone uses or waits for it: made by the first, dropped by
the last, so the process keeps none for the thousands of showtimes nobody is changing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..errors import Busy


@dataclass
class _Gate:
    semaphore: asyncio.Semaphore
    users: int = 0


@dataclass
class ShowtimeQueues:
    permits: int
    timeout_seconds: float
    _gates: dict[uuid.UUID, _Gate] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def turn(self, showtime_id: uuid.UUID) -> AsyncIterator[None]:
        """Inside: one of the showtime's permits is this request's. Busy (503) if none came
        within the timeout."""
        gate = self._gates.get(showtime_id)
        if gate is None:
            gate = self._gates[showtime_id] = _Gate(asyncio.Semaphore(self.permits))
        gate.users += 1
        try:
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    await gate.semaphore.acquire()
            except TimeoutError:
                raise Busy(
                    "Too many seat changes of this showtime are waiting; try again shortly.",
                    retry_after=max(1, math.ceil(self.timeout_seconds / 2)),
                ) from None
            try:
                yield
            finally:
                gate.semaphore.release()
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[showtime_id]

    def waiting(self) -> int:
        """Requests in a showtime's queue or holding its permits, over all showtimes."""
        return sum(gate.users for gate in self._gates.values())


@contextlib.asynccontextmanager
async def showtime_turn(
    queues: ShowtimeQueues | None, showtime_id: uuid.UUID
) -> AsyncIterator[None]:
    """queues.turn(showtime_id), or nothing without queues (callers outside the app)."""
    if queues is None:
        yield
        return
    async with queues.turn(showtime_id):
        yield
