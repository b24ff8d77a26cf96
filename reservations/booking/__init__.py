"""Booking: the seat map, holds, reservations and the sweeper of expired holds."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ..context import POOL, SEAT_CHANGE_QUEUES, SEAT_MAPS, SETTINGS, SWEEPER
from . import routes
from .queues import ShowtimeQueues
from .seat_map import SeatMapCache
from .sweeper import Sweeper


async def _sweeper_context(app: web.Application) -> AsyncIterator[None]:
    sweeper = Sweeper(app[POOL], app[SETTINGS])
    app[SWEEPER] = sweeper
    sweeper.start()
    yield
    await sweeper.stop()


def setup(app: web.Application) -> None:
    """Routes, the per-showtime queues, and the sweeper (started after the database pool,
    stopped before it closes)."""
    app[SEAT_MAPS] = SeatMapCache()
    settings = app[SETTINGS]
    # A crowd on one showtime may hold at most half of the process's connections.
    permits = min(settings.seat_change_permits_per_showtime, settings.db_pool_max_size // 2)
    app[SEAT_CHANGE_QUEUES] = ShowtimeQueues(
        max(1, permits),
        settings.seat_change_queue_timeout_seconds,
        slow_turn_seconds=settings.db_lock_timeout_ms / 2000,
    )
    routes.setup(app)
    app.cleanup_ctx.append(_sweeper_context)
