"""The live seat map: a WebSocket per viewer, fed by PostgreSQL LISTEN/NOTIFY on every instance."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from aiohttp import web

from ..accounts.user_cache import user_of_token
from ..context import DSN, HUB, LISTINGS, POOL, SEAT_MAPS, SETTINGS, SWEEPER, USERS
from ..mail import SENDER
from .hub import Hub
from .listener import LISTENER, Listener
from .routes import issue_ticket, watch_showtime
from .snapshots import Snapshots


def setup(app: web.Application) -> None:
    app.router.add_get("/ws/showtimes/{id}", watch_showtime, name="live_seat_map")
    app.router.add_post("/api/v1/ws-tickets", issue_ticket)
    app.cleanup_ctx.append(_live_context)
    app.on_shutdown.append(_close_viewers)


async def _live_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    hub = Hub(
        Snapshots(app[POOL], app.get(SEAT_MAPS)),
        queue_size=settings.ws_queue_size,
        max_viewers_per_address=settings.max_viewers_per_address,
        max_viewers=settings.max_viewers,
    )
    pool, users = app[POOL], app[USERS]

    async def token_stands(user_id: uuid.UUID, generation: int) -> bool:
        return await user_of_token(pool, users, user_id, generation) is not None

    hub.token_stands = token_stands
    app[HUB] = hub
    seat_maps, listings = app.get(SEAT_MAPS), app.get(LISTINGS)
    if seat_maps is not None and listings is not None:
        seat_maps.on_seats_changed.append(listings.seats_changed)
        seat_maps.on_showtime_changed.append(listings.showtime_changed)
    listener = Listener(
        app[DSN],
        hub,
        seat_maps=seat_maps,
        users=app.get(USERS),
        sweeper=app.get(SWEEPER),
        listings=listings,
        wake_mail=sender.wake if (sender := app.get(SENDER)) is not None else None,
    )
    app[LISTENER] = listener
    await listener.start()
    yield
    await listener.stop()
    await hub.close()


async def _close_viewers(app: web.Application) -> None:
    """Before aiohttp waits for open requests to finish: WebSockets would never finish alone."""
    hub = app.get(HUB)
    if hub is not None:
        await hub.close_viewers()
