"""The hub: who is watching which showtime, and getting every change to them.

A change is serialised once, as one complete WebSocket frame, and the same bytes go to every
viewer of its showtime. A viewer that is keeping up (its writer idle, nothing queued, its socket's
buffer small) gets them written straight into its transport: no task wakes up per viewer, so a
change reaches thousands of viewers in one pass. Otherwise the change joins the viewer's bounded
queue, drained by its own writer task, so a slow socket only ever delays itself; a viewer whose
queue overflows is dropped (close 1013) and can reconnect for a fresh snapshot, so memory stays
bounded whatever the clients do.

Snapshots travel through the same queue as changes: the writer loads the snapshot when it reaches
the marker, then skips every change whose version the snapshot already contains. Changes queued
before the marker are older than the snapshot, changes after it are newer or skipped, so a viewer
never applies a change out of order around a snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from ..addresses import client_network
from ..errors import from_database_error
from .snapshots import Snapshots

log = logging.getLogger(__name__)

UNKNOWN_SHOWTIME = 4404
# A viewer's own resync requests get at most one snapshot per this many seconds; one asked for
# sooner is served when the time is up (several asked for meanwhile are served by that one).
RESYNC_INTERVAL_SECONDS = 1.0
CLOSE_TIMEOUT_SECONDS = 2.0
# A viewer whose transport holds more unsent bytes than this is not keeping up: its changes go
# through its queue, whose writer waits for the socket to drain (and which overflows, in the end).
DIRECT_WRITE_MAX_BUFFERED = 64 * 1024

# A queued change is (version, frame); None asks the writer for a fresh snapshot at that point.
QueueItem = tuple[int, bytes] | None
# The version of a queued notice: above any snapshot's, so the writer always sends it.
NOTICE_VERSION = 2**62


def text_frame(payload: bytes) -> bytes:
    """`payload` as one final, unmasked, uncompressed WebSocket text frame (RFC 6455 5.2), the
    way a server sends it."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


class Viewer:
    """One open WebSocket watching one showtime."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        showtime_id: str,
        user_id: uuid.UUID | None,
        transport: asyncio.Transport | None,
        queue_size: int,
        generation: int = 0,
    ) -> None:
        self.ws = ws
        self.showtime_id = showtime_id
        self.user_id = user_id
        self.generation = generation  # of the token or ticket that named the user
        self.transport = transport
        self.queue: asyncio.Queue[QueueItem] = asyncio.Queue(queue_size)
        self.version = -1  # of the last snapshot sent; changes up to it are already in it
        self.snapshot_pending = False
        self.idle = False  # its writer waits on an empty queue: changes may be written directly
        self.writer: asyncio.Task[None] | None = None
        self.closing: asyncio.Task[None] | None = None  # set once the hub drops the viewer
        self.last_snapshot_at = asyncio.get_running_loop().time()  # asked for, by whoever
        self.deferred_resync: asyncio.TimerHandle | None = None


class Hub:
    def __init__(
        self,
        snapshots: Snapshots,
        queue_size: int,
        max_viewers_per_address: int,
        max_viewers: int = 10000,
        resync_interval: float = RESYNC_INTERVAL_SECONDS,
    ) -> None:
        self.snapshots = snapshots
        self.queue_size = queue_size
        self.max_viewers_per_address = max_viewers_per_address
        self.max_viewers = max_viewers
        self.resync_interval = resync_interval
        # Whether a user's token of this generation still stands (set by live/__init__.py);
        # a viewer whose user's tokens were revoked is closed (`users_changed`).
        self.token_stands: Callable[[uuid.UUID, int], Awaitable[bool]] | None = None
        self.closed = False
        self._admitted = 0
        self._showtimes: dict[str, set[Viewer]] = {}
        self._viewers: set[Viewer] = set()
        self._addresses: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        # Figures for metrics and the benchmark.
        self.broadcasts = 0
        self.dropped_viewers = 0
        self.deferred_resyncs = 0

    # -- who is watching ------------------------------------------------------------------

    def viewer_count(self) -> int:
        return len(self._viewers)

    def viewers_of(self, showtime_id: str) -> int:
        return len(self._showtimes.get(showtime_id, ()))

    def full(self) -> bool:
        """True when the process has MAX_VIEWERS sockets open (or opening) already."""
        return self._admitted >= self.max_viewers

    def admit(self, address: str) -> bool:
        """Take one of the client's connection slots (an IPv6 client's slots are its /64
        network's); False when it has none left. Call `release` with the same address."""
        network = client_network(address)
        if self._addresses[network] >= self.max_viewers_per_address:
            return False
        self._addresses[network] += 1
        self._admitted += 1
        return True

    def release(self, address: str) -> None:
        network = client_network(address)
        self._admitted -= 1
        self._addresses[network] -= 1
        if self._addresses[network] <= 0:
            del self._addresses[network]

    def join(
        self,
        ws: web.WebSocketResponse,
        showtime_id: str,
        user_id: uuid.UUID | None,
        transport: asyncio.Transport | None,
        generation: int = 0,
    ) -> Viewer:
        """Start watching: changes are queued from now on, behind a first snapshot."""
        viewer = Viewer(ws, showtime_id, user_id, transport, self.queue_size, generation)
        self._viewers.add(viewer)
        self._showtimes.setdefault(showtime_id, set()).add(viewer)
        viewer.snapshot_pending = True
        viewer.queue.put_nowait(None)
        viewer.writer = asyncio.create_task(self._deliver(viewer))
        return viewer

    async def leave(self, viewer: Viewer) -> None:
        """The viewer's socket is finished: stop its writer and let any close complete."""
        self._unregister(viewer)
        if viewer.writer is not None and viewer.writer is not asyncio.current_task():
            viewer.writer.cancel()
            await asyncio.gather(viewer.writer, return_exceptions=True)
        if viewer.closing is not None:
            await asyncio.shield(viewer.closing)

    def _unregister(self, viewer: Viewer) -> None:
        if viewer.deferred_resync is not None:
            viewer.deferred_resync.cancel()
            viewer.deferred_resync = None
        if viewer not in self._viewers:
            return
        self._viewers.discard(viewer)
        viewers = self._showtimes.get(viewer.showtime_id)
        if viewers is not None:
            viewers.discard(viewer)
            if not viewers:
                del self._showtimes[viewer.showtime_id]

    # -- what they see --------------------------------------------------------------------

    def broadcast(
        self,
        showtime_id: str,
        version: int,
        changes: list[dict[str, str]],
        holder: str | None = None,
        hold_expires_at: str | None = None,
    ) -> None:
        """Queue one committed change for every viewer of the showtime, serialised once; the
        holder of seats newly held gets, on each of its pages, a second serialisation that
        marks them `held_by_me` and says when the hold expires."""
        viewers = self._showtimes.get(showtime_id)
        if not viewers:
            return
        self.broadcasts += 1
        message: dict[str, Any] = {
            "type": "seats",
            "showtime_id": showtime_id,
            "version": version,
            "changes": changes,
        }
        frame = orjson.dumps(message)
        item = (version, frame)
        wire = text_frame(frame)
        personal: tuple[QueueItem, bytes] | None = None
        for viewer in list(viewers):
            if version <= viewer.version:
                continue  # its snapshot has it already
            if holder is not None and viewer.user_id is not None and str(viewer.user_id) == holder:
                if personal is None:
                    personal = self._holder_frame(message, hold_expires_at)
                self._send(viewer, *personal)
                continue
            self._send(viewer, item, wire)

    @staticmethod
    def _holder_frame(
        message: dict[str, Any], hold_expires_at: str | None
    ) -> tuple[QueueItem, bytes]:
        changes = [
            {**change, "held_by_me": True} if change["status"] == "held" else change
            for change in message["changes"]
        ]
        frame = orjson.dumps({**message, "changes": changes, "hold_expires_at": hold_expires_at})
        return (message["version"], frame), text_frame(frame)

    def _send(self, viewer: Viewer, item: QueueItem, wire: bytes) -> None:
        """Write `wire` now if the viewer keeps up, else queue `item` for its writer."""
        if viewer.idle and viewer.queue.empty() and self._write_directly(viewer, wire):
            return
        try:
            viewer.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.drop(viewer, WSCloseCode.TRY_AGAIN_LATER, b"too slow; reconnect to resync")

    def notice(self, showtime_id: str, message: dict[str, str]) -> None:
        """An unversioned message for every viewer of the showtime (an admission at the door):
        after what each was sent so far, and never skipped as already in a snapshot."""
        viewers = self._showtimes.get(showtime_id)
        if not viewers:
            return
        frame = orjson.dumps(message)
        item = (NOTICE_VERSION, frame)
        wire = text_frame(frame)
        for viewer in list(viewers):
            self._send(viewer, item, wire)

    @staticmethod
    def _write_directly(viewer: Viewer, wire: bytes) -> bool:
        """Write a complete frame to an up-to-date viewer's transport; False when it is not
        keeping up (or closing), and the change must be queued instead."""
        transport = viewer.transport
        if (
            transport is None
            or viewer.closing is not None
            or viewer.ws.closed
            or transport.is_closing()
            or transport.get_write_buffer_size() > DIRECT_WRITE_MAX_BUFFERED
        ):
            return False
        try:
            transport.write(wire)
        except (RuntimeError, ConnectionError):
            return False
        return True

    def resync_requested(self, viewer: Viewer) -> None:
        """The client asked for a snapshot: at most one per `resync_interval`, so that a client
        asking in a loop costs a query a second, not a query a frame."""
        if viewer.deferred_resync is not None or viewer.closing is not None:
            return  # one is coming anyway
        loop = asyncio.get_running_loop()
        wait = viewer.last_snapshot_at + self.resync_interval - loop.time()
        if wait <= 0:
            self.resync(viewer)
            return
        self.deferred_resyncs += 1

        def resync_now() -> None:
            viewer.deferred_resync = None
            if viewer in self._viewers:
                self.resync(viewer)

        viewer.deferred_resync = loop.call_later(wait, resync_now)

    def resync(self, viewer: Viewer) -> None:
        """Send the viewer a fresh snapshot after what it has been queued so far."""
        if viewer.snapshot_pending or viewer.closing is not None:
            return
        viewer.last_snapshot_at = asyncio.get_running_loop().time()
        try:
            viewer.queue.put_nowait(None)
        except asyncio.QueueFull:
            self.drop(viewer, WSCloseCode.TRY_AGAIN_LATER, b"too slow; reconnect to resync")
            return
        viewer.snapshot_pending = True

    def resync_all(self) -> None:
        """Changes may have been missed (the listener reconnected): every viewer resyncs."""
        for viewer in list(self._viewers):
            self.resync(viewer)

    async def _deliver(self, viewer: Viewer) -> None:
        """The viewer's writer: drains its queue into its socket, one message at a time."""
        ws = viewer.ws
        queue = viewer.queue
        try:
            while True:
                viewer.idle = queue.empty()
                item = await queue.get()
                viewer.idle = False
                if item is None:
                    viewer.snapshot_pending = False
                    snapshot = await self.snapshots.load(viewer.showtime_id, viewer.user_id)
                    if snapshot is None:
                        self.drop(viewer, UNKNOWN_SHOWTIME, b"unknown showtime")
                        return
                    await ws.send_frame(snapshot.frame, WSMsgType.TEXT)
                    viewer.version = snapshot.version
                    # Not kept while waiting: thousands of idle viewers would each hold a map.
                    snapshot = None
                elif item[0] > viewer.version:
                    await ws.send_frame(item[1], WSMsgType.TEXT)
                item = None
        except asyncio.CancelledError:
            raise
        except ConnectionError:
            # The socket is gone; the handler's read loop ends on its own.
            self._unregister(viewer)
        except Exception as exc:  # noqa: BLE001 - one viewer's failure must not spread
            if from_database_error(exc) is not None:
                log.warning("live snapshot failed: %r", exc)
                self.drop(viewer, WSCloseCode.TRY_AGAIN_LATER, b"database unavailable")
            else:
                log.exception("live viewer writer failed")
                self.drop(viewer, WSCloseCode.INTERNAL_ERROR, b"internal error")

    def showtime_cancelled(self, showtime_id: str) -> None:
        """The cinema cancelled the showtime: each viewer is told so, in a message of its own,
        and its socket closes with UNKNOWN_SHOWTIME (what a viewer connecting now gets)."""
        viewers = self._showtimes.get(showtime_id)
        if not viewers:
            return
        frame = orjson.dumps({"type": "cancelled", "showtime_id": showtime_id})
        for viewer in list(viewers):
            self.drop(viewer, UNKNOWN_SHOWTIME, b"showtime cancelled", last_frame=frame)

    # -- whose they are -------------------------------------------------------------------

    def users_changed(self, user_id: uuid.UUID | None) -> None:
        """The user `user_id` (None: any user) changed, perhaps revoking its tokens: close the
        sockets opened as that user whose token no longer stands, so that a revoked session
        keeps no identity on the live map."""
        if self.token_stands is None:
            return
        viewers = [
            viewer
            for viewer in self._viewers
            if viewer.user_id is not None and (user_id is None or viewer.user_id == user_id)
        ]
        if viewers:
            self._spawn(self._close_revoked(viewers))

    async def _close_revoked(self, viewers: list[Viewer]) -> None:
        assert self.token_stands is not None
        verdicts: dict[tuple[uuid.UUID, int], bool] = {}
        for viewer in viewers:
            assert viewer.user_id is not None
            key = (viewer.user_id, viewer.generation)
            try:
                if key not in verdicts:
                    verdicts[key] = await self.token_stands(*key)
            except Exception as exc:  # noqa: BLE001 - cannot tell now: the next change or reconnect asks again
                log.warning("checking a live viewer's token failed: %r", exc)
                return
            if not verdicts[key]:
                self.drop(viewer, WSCloseCode.POLICY_VIOLATION, b"token revoked")

    # -- ending ---------------------------------------------------------------------------

    def drop(
        self, viewer: Viewer, code: int, message: bytes, last_frame: bytes | None = None
    ) -> None:
        """Stop serving the viewer and close its socket with `code` (after `last_frame`, a
        text message, when given), without waiting for it."""
        if viewer.closing is not None:
            return
        self._unregister(viewer)
        if code == WSCloseCode.TRY_AGAIN_LATER:
            self.dropped_viewers += 1
        if viewer.writer is not None and viewer.writer is not asyncio.current_task():
            viewer.writer.cancel()
        viewer.closing = self._spawn(self._close(viewer, code, message, last_frame))

    async def _close(
        self, viewer: Viewer, code: int, message: bytes, last_frame: bytes | None = None
    ) -> None:
        try:
            if last_frame is not None:
                await asyncio.wait_for(
                    viewer.ws.send_frame(last_frame, WSMsgType.TEXT), CLOSE_TIMEOUT_SECONDS
                )
            await asyncio.wait_for(
                viewer.ws.close(code=code, message=message), CLOSE_TIMEOUT_SECONDS
            )
        except (TimeoutError, ConnectionError):
            pass
        except Exception:  # noqa: BLE001 - closing is best effort
            log.exception("closing a live viewer failed")
        # A client that stopped reading never takes the close frame: cut it off.
        transport = viewer.transport
        if transport is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_TIMEOUT_SECONDS
        # No event tells when a transport's buffer empties: poll it, briefly.
        while transport.get_write_buffer_size() and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if transport.get_write_buffer_size():
            transport.abort()

    async def close_viewers(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        """Shutting down: refuse new viewers and close every open one with `code`."""
        self.closed = True
        for viewer in list(self._viewers):
            self.drop(viewer, code, b"server shutting down")
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        await self.close_viewers()
        await self.snapshots.close()

    def _spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
