"""The sweeper: deletes expired holds in the background and tells the live map.

Correctness never waits for it (reads compare expires_at with the clock, writes delete expired
holds of their showtime first); it keeps the tables small and makes expiry visible to viewers of a
showtime nobody is booking. Several instances may run it at once: each showtime is swept under
its advisory lock taken with try-lock, so a showtime that an API request or another sweeper is
changing is skipped and retried next tick, and the API never waits for the sweeper.

A tick frees at most SWEEP_BATCH_SIZE holds. When it had to stop there (more are due), the next
tick follows after a pause of BACKLOG_PAUSE_FACTOR times as long as the tick took (at least
BACKLOG_PAUSE_SECONDS) instead of a whole interval: a backlog (a popular showtime's abandoned
holds, all expiring together) is cleared in bounded batches one after another rather than at one
batch per interval, while the sweeper keeps its connection busy at most 1 / (1 +
BACKLOG_PAUSE_FACTOR) of the time, leaving the database to the API.

Between ticks it sleeps until the earliest live hold expires (plus EXPIRY_SLACK_SECONDS), never
longer than SWEEP_INTERVAL_SECONDS, so that an expired hold's seats turn available for every
viewer within a second of its expires_at. A hold made meanwhile, on any instance, is heard through
the live listener (`holds_changed`), and the sweeper looks again for an earlier expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import asyncpg

from ..db import QUERIES
from ..settings import Settings

log = logging.getLogger(__name__)

HOUSEKEEPING_EVERY_SECONDS = 60
STOP_GRACE_SECONDS = 5
BACKLOG_PAUSE_SECONDS = 0.1  # at least, between two full batches
BACKLOG_PAUSE_FACTOR = 4.0  # the pause after a full batch, in times the batch took
EXPIRY_SLACK_SECONDS = (
    0.05  # after a hold's expires_at: its expiry is then due by the database clock
)
RECHECK_PAUSE_SECONDS = 0.2  # at most one look for an earlier expiry per this many seconds


HOUSEKEEPING_BATCH = 1000  # rows one statement deletes, well inside the statement timeout
HOUSEKEEPING_MAX_BATCHES = 50  # per table and tick; what is left waits for the next tick
HOUSEKEEPING_QUERIES = (
    "forget_old_idempotency_keys",
    "forget_old_expired_holds",
    "forget_old_login_attempts",
)


async def forget_old_rows(conn: asyncpg.Connection, batch: int = HOUSEKEEPING_BATCH) -> int:
    """Delete what is past keeping, `batch` rows a statement (each its own transaction, far
    inside the statement timeout however much has piled up, and skipping rows in use rather
    than waiting for them); the rows deleted."""
    deleted = 0
    for name in HOUSEKEEPING_QUERIES:
        for _ in range(HOUSEKEEPING_MAX_BATCHES):
            count: int = await conn.fetchval(getattr(QUERIES, name), batch)
            deleted += count
            if count < batch:
                break
    return deleted


class Sweeper:
    """An asyncio task sweeping every `settings.sweep_interval_seconds`.

    Counters for metrics: `runs` (ticks), `freed_seats`, `errors` (ticks that failed).
    """

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.runs = 0
        self.freed_seats = 0
        self.freed_holds = 0
        self.errors = 0
        self.backlog = False  # the last tick stopped at its batch size: more holds are due
        self.next_expiry_in: float | None = None  # seconds from the last look, None: no hold
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._holds_changed = asyncio.Event()
        self._housekeeping_every = max(
            1, HOUSEKEEPING_EVERY_SECONDS // settings.sweep_interval_seconds
        )

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="booking-sweeper")

    async def stop(self) -> None:
        """Let a sweep in progress finish (a few seconds at most), then end the task."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=STOP_GRACE_SECONDS)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        housekeeping_due = loop.time()
        while not self._stopping.is_set():
            housekeeping = loop.time() >= housekeeping_due
            if housekeeping:
                housekeeping_due = loop.time() + self._housekeeping_every * (
                    self.settings.sweep_interval_seconds
                )
            started = loop.time()
            try:
                await self.sweep_once(housekeeping=housekeeping)
            except Exception:  # noqa: BLE001 - any fault: log it, try again next tick
                self.errors += 1
                self.backlog = False
                log.exception("sweeping expired holds failed; trying again next tick")
            pause: float = self._until_next_expiry()
            if self.backlog:
                took = loop.time() - started
                pause = min(pause, max(BACKLOG_PAUSE_SECONDS, BACKLOG_PAUSE_FACTOR * took))
            await self._sleep(loop.time() + pause)

    def holds_changed(self) -> None:
        """Someone holds seats now (heard on any instance): a hold may expire before the
        sweeper planned to wake."""
        self._holds_changed.set()

    def _until_next_expiry(self) -> float:
        pause = float(self.settings.sweep_interval_seconds)
        if self.next_expiry_in is not None:
            pause = min(pause, self.next_expiry_in + EXPIRY_SLACK_SECONDS)
        return max(pause, 0.0)

    async def _sleep(self, deadline: float) -> None:
        """Until `deadline` (loop time), or the stop; sooner when a hold made meanwhile
        expires first."""
        loop = asyncio.get_running_loop()
        self._holds_changed.clear()
        while not self._stopping.is_set() and (remaining := deadline - loop.time()) > 0:
            stopping = asyncio.ensure_future(self._stopping.wait())
            changed = asyncio.ensure_future(self._holds_changed.wait())
            try:
                await asyncio.wait(
                    (stopping, changed), timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                stopping.cancel()
                changed.cancel()
            if not self._holds_changed.is_set() or self._stopping.is_set():
                continue
            self._holds_changed.clear()
            try:
                await self._look_for_next_expiry()
            except Exception as exc:  # noqa: BLE001 - the planned wake still comes
                log.warning("looking for the next hold expiry failed: %r", exc)
            deadline = min(deadline, loop.time() + self._until_next_expiry())
            pause = min(RECHECK_PAUSE_SECONDS, max(0.0, deadline - loop.time()))
            with contextlib.suppress(TimeoutError):  # a burst of holds: one look per pause
                await asyncio.wait_for(self._stopping.wait(), timeout=pause)

    async def _look_for_next_expiry(self, conn: asyncpg.Connection | None = None) -> None:
        if conn is None:
            async with self.pool.acquire(timeout=self.settings.db_acquire_timeout_seconds) as own:
                await self._look_for_next_expiry(own)
            return
        self.next_expiry_in = await conn.fetchval(QUERIES.next_hold_expiry)

    async def sweep_once(self, housekeeping: bool = False) -> int:
        """One tick: free at most `sweep_batch_size` expired holds; the seats freed."""
        self.runs += 1
        budget = self.settings.sweep_batch_size
        freed = 0
        async with self.pool.acquire(timeout=self.settings.db_acquire_timeout_seconds) as conn:
            showtimes = await conn.fetch(QUERIES.showtimes_with_expired_holds, budget)
            for row in showtimes:
                if budget <= 0:
                    break
                holds, seats = await self._sweep_showtime(conn, row["showtime_id"], budget)
                budget -= holds
                freed += seats
            self.backlog = budget <= 0
            await self._look_for_next_expiry(conn)
            if housekeeping:
                await forget_old_rows(conn)
        if freed:
            log.info("swept %d expired seat holds", freed)
        return freed

    async def _sweep_showtime(
        self, conn: asyncpg.Connection, showtime_id: uuid.UUID, budget: int
    ) -> tuple[int, int]:
        # One call: sweep_showtime takes the showtime's lock with try-lock (skipping a showtime
        # someone is changing now, who frees its expired holds anyway) for that call alone.
        row = await conn.fetchrow(QUERIES.sweep_showtime, showtime_id, budget)
        self.freed_holds += row["holds"]
        self.freed_seats += row["seats"]
        return row["holds"], row["seats"]
