"""The bridge from PostgreSQL to the hub: one LISTEN connection per instance, kept alive.

Every seat change queues a NOTIFY (triggers on seat_claims) that PostgreSQL delivers to every
listening instance only when the transaction commits; a showtime's price, times or cancellation
queue one on SHOWTIME_CHANNEL, and a cancellation one more on CANCELLATION_CHANNEL. They reach
the hub's viewers, this instance's seat-map cache (and through it the listings of
catalog/listings.py), and the sweeper (a new hold may expire before its planned wake). An
admin's catalog change queues one on CATALOG_CHANNEL, which drops the listings.
A change or deletion of a user queues one on USER_CHANNEL, which reaches the cache of users
(accounts/user_cache.py). An admission at the door queues one on CHECKIN_CHANNEL, which reaches
the showtime's viewers as a notice. An email queued queues one on EMAIL_CHANNEL, which wakes this
process's email sender (mail/sender.py): one listening connection per process, so that each
NOTIFY wakes one backend per process, not one per listener. Each cache serves entries with no
query only while this connection is up: it is told when the connection comes and goes, and
clears everything each time.
The listening connection is a dedicated one (a pooled connection could be handed to a query at
any time). A supervisor task notices when it drops (termination callback, or a periodic `SELECT 1` that fails or hangs),
reconnects with backoff, and then has every viewer resync: changes committed while nobody was
listening were never delivered to this instance.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
from aiohttp import web

from ..accounts.user_cache import USER_CHANNEL, UserCache
from ..booking.changes import (
    CANCELLATION_CHANNEL,
    CHANNEL,
    HELD,
    SHOWTIME_CHANNEL,
    read_notification,
)
from ..booking.seat_map import SeatMapCache
from ..booking.sweeper import Sweeper
from ..catalog.listings import CATALOG_CHANNEL, ListingCache
from ..checkin.service import CHECKIN_CHANNEL
from ..mail.sender import EMAIL_CHANNEL
from .hub import Hub

log = logging.getLogger(__name__)

APPLICATION_NAME = "reservations-listener"
CHECK_INTERVAL_SECONDS = 5.0
CHECK_TIMEOUT_SECONDS = 3.0
CONNECT_TIMEOUT_SECONDS = 5.0
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0


class Listener:
    def __init__(
        self,
        dsn: str,
        hub: Hub,
        check_interval: float = CHECK_INTERVAL_SECONDS,
        seat_maps: SeatMapCache | None = None,
        users: UserCache | None = None,
        sweeper: Sweeper | None = None,
        listings: ListingCache | None = None,
        wake_mail: Callable[[], None] | None = None,
    ) -> None:
        self.dsn = dsn
        self.wake_mail = wake_mail
        self.listings = listings
        self.hub = hub
        self.seat_maps = seat_maps
        self.users = users
        self.sweeper = sweeper
        self.check_interval = check_interval
        self.connections = 0  # successful connects, the first one included
        self.notifications = 0
        self.connected = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None

    @property
    def backend_pid(self) -> int | None:
        conn = self._conn
        return conn.get_server_pid() if conn is not None and not conn.is_closed() else None

    async def start(self) -> None:
        """Start listening; returns after the first connection attempt, whatever its outcome
        (if it failed, the supervisor keeps trying)."""
        self._task = asyncio.create_task(self._supervise())
        await self._first_attempt.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            started = loop.time()
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure means: reconnect
                log.warning("seat change listener failed: %r; retrying in %.1fs", exc, backoff)
            finally:
                self.connected.clear()
                self._first_attempt.set()
            if loop.time() - started > MAX_BACKOFF_SECONDS:
                backoff = FIRST_BACKOFF_SECONDS  # it was up for a while: start over
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _listen(self) -> None:
        """One connection's life: connect, LISTEN, resync viewers, watch it until it drops."""
        lost = asyncio.Event()
        conn = await asyncpg.connect(
            self.dsn,
            timeout=CONNECT_TIMEOUT_SECONDS,
            server_settings={"application_name": APPLICATION_NAME},
        )
        self._conn = conn
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._on_notification)
            await conn.add_listener(SHOWTIME_CHANNEL, self._on_showtime_change)
            await conn.add_listener(CANCELLATION_CHANNEL, self._on_showtime_cancelled)
            await conn.add_listener(USER_CHANNEL, self._on_user_change)
            await conn.add_listener(CHECKIN_CHANNEL, self._on_checkin)
            await conn.add_listener(CATALOG_CHANNEL, self._on_catalog_change)
            if self.wake_mail is not None:
                await conn.add_listener(EMAIL_CHANNEL, self._on_email_queued)
            if self.seat_maps is not None:
                self.seat_maps.set_listening(True)
            if self.listings is not None:
                self.listings.set_listening(True)
            if self.users is not None:
                self.users.set_listening(True)
            self.connections += 1
            self.connected.set()
            self._first_attempt.set()
            if self.connections > 1:
                log.info(
                    "seat change listener reconnected; resyncing %d viewers",
                    self.hub.viewer_count(),
                )
            # Viewers that joined before this connection listened may have missed changes,
            # and revocations of their users; the sender, emails queued meanwhile.
            self.hub.resync_all()
            if self.wake_mail is not None:
                self.wake_mail()
            if self.connections > 1:
                self.hub.users_changed(None)
            while not conn.is_closed():
                try:
                    await asyncio.wait_for(lost.wait(), self.check_interval)
                except TimeoutError:
                    await conn.fetchval("SELECT 1", timeout=CHECK_TIMEOUT_SECONDS)
                else:
                    break
            log.warning("seat change listener connection lost")
        finally:
            self._conn = None
            if self.seat_maps is not None:
                self.seat_maps.set_listening(False)
            if self.listings is not None:
                self.listings.set_listening(False)
            if self.users is not None:
                self.users.set_listening(False)
            if not conn.is_closed():
                conn.terminate()

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            note = read_notification(payload)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring a malformed seat change notification: %r", exc)
            return
        self.notifications += 1
        if self.seat_maps is not None:
            self.seat_maps.seats_changed(uuid.UUID(note.showtime_id), note.version)
        self.hub.broadcast(
            note.showtime_id, note.version, note.changes, note.holder, note.hold_expires_at
        )
        if self.sweeper is not None and any(change["status"] == HELD for change in note.changes):
            self.sweeper.holds_changed()

    def _on_email_queued(self, _conn: Any, _pid: int, _channel: str, _payload: str) -> None:
        if self.wake_mail is not None:
            self.wake_mail()

    def _on_showtime_change(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            showtime_id = uuid.UUID(payload)
        except ValueError:
            log.warning("ignoring a malformed showtime change notification: %r", payload)
            return
        if self.seat_maps is not None:
            self.seat_maps.showtime_changed(showtime_id)

    def _on_showtime_cancelled(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            showtime_id = uuid.UUID(payload)
        except ValueError:
            log.warning("ignoring a malformed showtime cancellation notification: %r", payload)
            return
        self.hub.showtime_cancelled(str(showtime_id))

    def _on_checkin(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        """A seat was admitted at the door or an admission undone: the showtime's viewers hear
        of it (the usher's page refreshes its counter; the seat map ignores it)."""
        try:
            showtime_id = str(uuid.UUID(payload))
        except ValueError:
            log.warning("ignoring a malformed check-in notification: %r", payload)
            return
        self.hub.notice(showtime_id, {"type": "admissions", "showtime_id": showtime_id})

    def _on_catalog_change(self, _conn: Any, _pid: int, _channel: str, _payload: str) -> None:
        if self.listings is not None:
            self.listings.everything_changed()

    def _on_user_change(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        user_id: uuid.UUID | None = None
        if payload == "":  # the users table was truncated
            pass
        else:
            try:
                user_id = uuid.UUID(payload)
            except ValueError:
                log.warning("malformed user change notification %r: dropping every user", payload)
        if self.users is not None:
            if user_id is None:
                self.users.all_changed()
            else:
                self.users.user_changed(user_id)
        # After the cache forgot the user: the hub's check reads the row as it is now.
        self.hub.users_changed(user_id)


LISTENER = web.AppKey("live_listener", Listener)
