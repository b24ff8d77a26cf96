"""Typed application keys: everything a handler needs hangs off `request.app[...]`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg
from aiohttp import web

from .settings import Settings

if TYPE_CHECKING:
    from .accounts.passwords import PasswordHasher
    from .accounts.user_cache import UserCache
    from .booking.queues import ShowtimeQueues
    from .booking.seat_map import SeatMapCache
    from .booking.sweeper import Sweeper
    from .catalog.listings import ListingCache
    from .checkin.codes import TicketSigner
    from .live.hub import Hub

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
HUB: web.AppKey[Hub] = web.AppKey("hub")
SWEEPER: web.AppKey[Sweeper] = web.AppKey("sweeper")
# Where the instance's database came from (DATABASE_URL or the embedded server); set by create_app.
DSN = web.AppKey("dsn", str)
METRICS: web.AppKey[Any] = web.AppKey("metrics")
PASSWORDS: web.AppKey[PasswordHasher] = web.AppKey("passwords")
SEAT_MAPS: web.AppKey[SeatMapCache] = web.AppKey("seat_maps")
# The per-showtime queues in front of the showtimes' locks (booking/queues.py).
SEAT_CHANGE_QUEUES: web.AppKey[ShowtimeQueues] = web.AppKey("seat_change_queues")
USERS: web.AppKey[UserCache] = web.AppKey("users")
# Signs the QR codes of tickets and verifies scanned ones (checkin/codes.py); set by create_app.
TICKET_SIGNER: web.AppKey[TicketSigner] = web.AppKey("ticket_signer")
LISTINGS: web.AppKey[ListingCache] = web.AppKey("listings")

# Request-scoped keys (request[...]).
REQUEST_ID = "request_id"
CURRENT_USER = "current_user"
