"""A queue per showtime in each process, in front of the showtime's advisory lock.

Seat changes of one showtime take turns on its advisory lock, in the database. Without a queue
here, every request waiting for that lock would wait holding a pooled connection, and a crowd
on one showtime would take the whole pool: every other request (another showtime's map, the
programme) would then wait for a connection too. So a seat change first takes one of a few
permits of its showtime (SEAT_CHANGE_PERMITS_PER_SHOWTIME) and only then a connection: a few
requests wait on the lock, the rest wait here, holding nothing. One that waits longer than
SEAT_CHANGE_QUEUE_TIMEOUT_SECONDS answers 503 `busy` with Retry-After; so do those queued
behind a change that timed out waiting for the showtime's lock or one of its rows (pinned from
outside), at the same moment, so a stuck showtime still answers within one lock timeout.

The same goes for a turn that took more than half the lock timeout, however it ended. Turns
take milliseconds; one that took that long waited for the showtime's lock or rows, held from
elsewhere (a change outside this queue, another process, an operator). A change handed that
turn's permit would wait as long again: behind a row pinned from outside, a first lock timeout
in the queue and a second in the database. It answers busy instead, having started nothing.

A showtime's semaphore exists while someone uses or waits for it: made by the first, dropped by
the last, so the process keeps none for the thousands of showtimes nobody is changing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import asyncpg

from ..errors import Busy

# What a seat change that timed out waiting for a lock raises: the showtime is stuck (its lock
# or one of its rows is held from outside), and those queued behind it would only wait as long.
_STUCK = (asyncpg.exceptions.LockNotAvailableError, asyncpg.exceptions.QueryCanceledError)


@dataclass
class _Gate:
    """A showtime's permits, handed out first come, first served."""

    free: int
    waiting: collections.deque[asyncio.Future[None]] = field(default_factory=collections.deque)
    users: int = 0

    async def enter(self, within_seconds: float) -> None:
        if self.free > 0 and not self.waiting:
            self.free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(turn)
        try:
            async with asyncio.timeout(within_seconds):
                await turn
        except BaseException:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self.leave()  # the permit came with the timeout: hand it on
            elif not turn.done():
                turn.cancel()
            raise

    def leave(self) -> None:
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1

    def fail_waiting(self, error: Callable[[], BaseException]) -> None:
        """Everyone queued now answers an `error()`: the change ahead of them timed out."""
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_exception(error())


@dataclass
class ShowtimeQueues:
    permits: int
    timeout_seconds: float
    # A turn longer than this fails those queued behind it (half the pool's lock_timeout).
    slow_turn_seconds: float = math.inf
    _gates: dict[uuid.UUID, _Gate] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def turn(self, showtime_id: uuid.UUID) -> AsyncIterator[None]:
        """Inside: one of the showtime's permits is this request's. Busy (503) if none came
        within the timeout, or if a change ahead of it timed out waiting for a lock or took
        longer than slow_turn_seconds."""
        gate = self._gates.get(showtime_id)
        if gate is None:
            gate = self._gates[showtime_id] = _Gate(self.permits)
        gate.users += 1
        try:
            try:
                await gate.enter(self.timeout_seconds)
            except TimeoutError:
                raise self._busy() from None
            loop = asyncio.get_running_loop()
            entered = loop.time()
            try:
                yield
            except _STUCK:
                gate.fail_waiting(self._busy)
                raise
            finally:
                if loop.time() - entered > self.slow_turn_seconds:
                    gate.fail_waiting(self._busy)
                gate.leave()
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[showtime_id]

    def _busy(self) -> Busy:
        return Busy(
            "Too many seat changes of this showtime are waiting; try again shortly.",
            retry_after=max(1, math.ceil(self.timeout_seconds / 2)),
        )

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
