"""The live seat map: WebSocket viewers on two instances of one database.

Changes are announced the way booking's triggers announce them (announce_seat_changes in a
transaction on a direct connection) or made through the HTTP API, on one instance; viewers watch
on the other.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import socket
import struct
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient

from reservations.app import create_app
from reservations.booking.changes import AVAILABLE, HELD, SOLD
from reservations.context import HUB
from reservations.live.listener import APPLICATION_NAME, LISTENER
from reservations.settings import Settings
from tests.api import hold_seats, statuses
from tests.factories import book_directly, create_hall, hold_directly
from tests.live_map import (
    announce,
    change_seats,
    close_code,
    eventually,
    next_message,
    snapshot_of,
    snapshot_on_connect,
    upgrade_headers,
    watch,
)

ClientFactory = Callable[..., Awaitable[TestClient]]


# -- helpers -------------------------------------------------------------------------------


async def instance(aiohttp_client: ClientFactory, settings: Settings, database: str) -> TestClient:
    return await aiohttp_client(create_app(settings, database))


class RawViewer:
    """A WebSocket client by hand, for what aiohttp's client will not do: stop reading (with a
    tiny receive buffer), or never answer a ping."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(
        cls, client: TestClient, path: str, receive_buffer: int | None = None
    ) -> RawViewer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", client.port))
        # A small limit: the stream stops reading from the socket as soon as 8 KiB wait unread.
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{client.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def frame(self) -> tuple[int, bytes] | None:
        """The next frame from the server (opcode, payload); None at the end of the stream."""
        try:
            first, second = await self.reader.readexactly(2)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.transport.abort()


# -- connecting and snapshots ----------------------------------------------------------------


async def test_snapshot_on_connect_shows_every_seat_with_its_status(client, db, user, make_account):
    hall = await create_hall(db, rows=2, seats_per_row=5)
    other = await make_account()
    await hold_directly(db, other.id, hall.showtime_id, hall.ids("A1", "A2"), expires_in=600)
    await hold_directly(
        db, user.id, hall.showtime_id, hall.ids("B5"), expires_in=-1
    )  # expired: available again
    await book_directly(db, other.id, hall.showtime_id, hall.ids("B1"))
    version = await change_seats(db, hall.showtime_id, [(hall.seats["A1"], HELD)])

    ws = await watch(client, hall.showtime_id)
    snapshot = await snapshot_of(ws)

    assert snapshot["showtime_id"] == str(hall.showtime_id)
    assert snapshot["version"] == version  # every direct insert above was announced too
    assert len(snapshot["seats"]) == 10
    assert statuses(snapshot) == {
        str(seat_id): (HELD if label in ("A1", "A2") else SOLD if label == "B1" else AVAILABLE)
        for label, seat_id in hall.seats.items()
    }
    assert all(set(seat) == {"id", "status"} for seat in snapshot["seats"])  # anonymous


async def test_token_marks_the_viewers_own_held_seats(client, db, user, make_account):
    hall = await create_hall(db, rows=1, seats_per_row=6)
    other = await make_account()
    await hold_directly(db, user.id, hall.showtime_id, hall.ids("A1", "A2"), expires_in=600)
    await hold_directly(db, other.id, hall.showtime_id, hall.ids("A3"), expires_in=600)

    mine = await snapshot_of(await watch(client, hall.showtime_id, token=user.token))
    marked = {seat["id"] for seat in mine["seats"] if seat.get("held_by_me")}
    assert marked == set(hall.ids("A1", "A2"))
    assert all(seat["held_by_me"] is True for seat in mine["seats"] if "held_by_me" in seat)

    theirs = await snapshot_of(await watch(client, hall.showtime_id, token=other.token))
    assert {seat["id"] for seat in theirs["seats"] if seat.get("held_by_me")} == set(hall.ids("A3"))

    anonymous = await snapshot_of(await watch(client, hall.showtime_id))
    assert not any("held_by_me" in seat for seat in anonymous["seats"])


async def test_an_invalid_token_is_treated_as_anonymous(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=3)
    await hold_directly(db, user.id, hall.showtime_id, hall.ids("A1"), expires_in=600)
    ws = await watch(client, hall.showtime_id, token=user.token[:-4] + "AAAA")
    snapshot = await snapshot_of(ws)
    assert statuses(snapshot)[hall.ids("A1")[0]] == HELD
    assert not any("held_by_me" in seat for seat in snapshot["seats"])


@pytest.mark.parametrize(
    "showtime_id", ["6c1f8a52-9d3e-4b7a-8f21-3a5e0c9d7b14", "not-a-uuid", "12345"]
)
async def test_unknown_showtime_closes_with_4404(client, showtime_id):
    ws = await watch(client, showtime_id)
    assert await close_code(ws) == 4404


async def test_cancelled_showtime_closes_with_4404(client, db):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    await db.execute("UPDATE showtimes SET cancelled_at = now() WHERE id = $1", hall.showtime_id)
    ws = await watch(client, hall.showtime_id)
    first = await ws.receive(timeout=3.0)
    if first.type is aiohttp.WSMsgType.TEXT:  # joined before this instance heard the NOTIFY
        assert orjson.loads(first.data) == {
            "type": "cancelled",
            "showtime_id": str(hall.showtime_id),
        }
        assert await close_code(ws) == 4404
    else:
        assert (first.type, first.data) == (aiohttp.WSMsgType.CLOSE, 4404)


async def test_plain_get_without_upgrade_is_a_400_in_the_error_shape(client, db):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    response = await client.get(f"/ws/showtimes/{hall.showtime_id}")
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "bad_request"


# -- changes across instances ------------------------------------------------------------------


async def test_a_change_committed_anywhere_reaches_viewers_on_every_instance(
    database, aiohttp_client, settings, db
):
    hall = await create_hall(db, rows=2, seats_per_row=5)
    first = await instance(aiohttp_client, settings, database)
    second = await instance(aiohttp_client, settings, database)
    on_first = await watch(first, hall.showtime_id)
    on_second = await watch(second, hall.showtime_id)
    assert (await snapshot_of(on_first))["version"] == 0
    assert (await snapshot_of(on_second))["version"] == 0

    started = time.monotonic()
    await change_seats(db, hall.showtime_id, [(hall.seats["A1"], HELD), (hall.seats["A2"], HELD)])
    for ws in (on_first, on_second):
        message = await next_message(ws, within=1.0)
        assert message == {
            "type": "seats",
            "showtime_id": str(hall.showtime_id),
            "version": 1,
            "changes": [{"id": seat, "status": HELD} for seat in hall.ids("A1", "A2")],
        }
    assert time.monotonic() - started < 1.0


async def test_versions_grow_by_one_without_gaps(database, aiohttp_client, settings, db):
    hall = await create_hall(db, rows=2, seats_per_row=5)
    await instance(aiohttp_client, settings, database)  # another instance listening too
    viewer_side = await instance(aiohttp_client, settings, database)
    ws = await watch(viewer_side, hall.showtime_id)
    start = (await snapshot_of(ws))["version"]

    labels = ["A1", "A2", "A3", "B1", "B2", "A1", "B1"]
    for index, label in enumerate(labels):
        await change_seats(db, hall.showtime_id, [(hall.seats[label], HELD if index < 5 else SOLD)])
    versions = [(await next_message(ws))["version"] for _ in labels]
    assert versions == list(range(start + 1, start + 1 + len(labels)))


async def test_viewers_only_see_their_own_showtime(client, db):
    watched = await create_hall(db, rows=1, seats_per_row=3)
    other = await create_hall(db, rows=1, seats_per_row=3)
    ws = await watch(client, watched.showtime_id)
    await snapshot_of(ws)
    await change_seats(db, other.showtime_id, [(other.seats["A1"], HELD)])
    await change_seats(db, watched.showtime_id, [(watched.seats["A2"], HELD)])
    message = await next_message(ws)
    assert message["showtime_id"] == str(watched.showtime_id)
    assert message["changes"] == [{"id": watched.ids("A2")[0], "status": HELD}]


async def test_a_rolled_back_change_is_never_broadcast(database, aiohttp_client, settings, db):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    await instance(aiohttp_client, settings, database)
    viewer_side = await instance(aiohttp_client, settings, database)
    ws = await watch(viewer_side, hall.showtime_id)
    start = (await snapshot_of(ws))["version"]

    class Abandon(Exception):
        pass

    with pytest.raises(Abandon):
        async with db.transaction():
            await announce(db, hall.showtime_id, [(hall.seats["A1"], HELD)])
            raise Abandon
    with pytest.raises(asyncio.TimeoutError):
        await ws.receive(timeout=0.5)

    await change_seats(db, hall.showtime_id, [(hall.seats["A2"], HELD)])
    message = await next_message(ws)
    assert message["version"] == start + 1  # the rolled-back bump is gone too
    assert message["changes"] == [{"id": hall.ids("A2")[0], "status": HELD}]


async def test_resync_answers_a_fresh_snapshot(client, db, user):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    ws = await watch(client, hall.showtime_id, token=user.token)
    await snapshot_of(ws)
    # A claim written straight into the table is announced all the same (the triggers).
    await hold_directly(db, user.id, hall.showtime_id, hall.ids("A3"), expires_in=600)
    assert (await next_message(ws))["version"] == 1

    await ws.send_json({"type": "resync"})
    snapshot = await snapshot_of(ws)
    assert snapshot["version"] == 1
    assert statuses(snapshot)[hall.ids("A3")[0]] == HELD
    assert [seat["id"] for seat in snapshot["seats"] if seat.get("held_by_me")] == hall.ids("A3")


async def test_a_change_the_snapshot_already_has_is_not_sent_again(client, db):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    ws = await watch(client, hall.showtime_id)
    await snapshot_of(ws)
    await change_seats(db, hall.showtime_id, [(hall.seats["A1"], HELD)])
    assert (await next_message(ws))["version"] == 1
    await ws.send_json({"type": "resync"})
    assert (await snapshot_of(ws))["version"] == 1

    # Version 1 reaching the hub again after the snapshot read, as a notification that arrives
    # while a snapshot is being read does: the viewer already has it.
    client.app[HUB].broadcast(str(hall.showtime_id), 1, [{"id": hall.ids("A1")[0], "status": HELD}])
    await change_seats(db, hall.showtime_id, [(hall.seats["A2"], HELD)])
    assert (await next_message(ws))["version"] == 2


async def test_other_client_frames_are_ignored(client, db):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    ws = await watch(client, hall.showtime_id)
    await snapshot_of(ws)
    await ws.send_str("not json")
    await ws.send_str('{"type": "subscribe", "showtime_id": "x"}')
    await ws.send_str("[1, 2, 3]")
    await ws.send_bytes(b"\x00\x01")
    with pytest.raises(asyncio.TimeoutError):
        await ws.receive(timeout=0.3)
    await change_seats(db, hall.showtime_id, [(hall.seats["A1"], HELD)])
    assert (await next_message(ws))["type"] == "seats"  # still open and served


async def test_an_oversized_client_frame_closes_the_socket(client, db):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    ws = await watch(client, hall.showtime_id)
    await snapshot_of(ws)
    await ws.send_str('{"type": "resync", "padding": "' + "x" * 8000 + '"}')
    assert await close_code(ws) == 1009
    await eventually(lambda: client.app[HUB].viewer_count() == 0)


# -- slow, dead and too many viewers -----------------------------------------------------------


async def test_a_slow_viewer_is_dropped_while_others_keep_receiving(
    database, aiohttp_client, make_settings, db
):
    client = await aiohttp_client(create_app(make_settings(ws_queue_size=100), database))
    hub = client.app[HUB]
    hall = await create_hall(db, rows=1, seats_per_row=2)
    path = f"/ws/showtimes/{hall.showtime_id}"
    slow = await RawViewer.connect(client, path, receive_buffer=4096)
    fast = await watch(client, hall.showtime_id)
    await snapshot_of(fast)
    await eventually(lambda: hub.viewers_of(str(hall.showtime_id)) == 2)

    # Bursts of 90 changes of 100 seats (~5 KB each) in one commit, which the slow viewer never
    # reads: its queue (100) and its socket's buffers fill up during the second or third burst.
    version = 0
    for _ in range(4):
        await change_seats(db, hall.showtime_id, [(uuid.uuid4(), HELD) for _ in range(90 * 100)])
        versions = [(await next_message(fast, within=5))["version"] for _ in range(90)]
        assert versions == list(range(version + 1, version + 91))
        version += 90
    assert hub.viewers_of(str(hall.showtime_id)) == 1
    assert hub.dropped_viewers == 1

    # The fast viewer is still served; the slow one, once it reads, finds the close code 1013.
    await change_seats(db, hall.showtime_id, [(hall.seats["A1"], SOLD)])
    assert (await next_message(fast))["version"] == version + 1
    received = []
    while (frame := await asyncio.wait_for(slow.frame(), 5)) is not None:
        received.append(frame)
        if frame[0] == 0x8:
            break
    slow.close()
    assert received[0][0] == 0x1 and orjson.loads(received[0][1])["type"] == "snapshot"
    assert received[-1][0] == 0x8
    assert struct.unpack("!H", received[-1][1][:2])[0] == 1013
    assert len(received) - 2 < 360  # it got part of the changes, then the close


async def test_heartbeat_closes_a_viewer_that_never_answers_pings(
    database, aiohttp_client, make_settings, db
):
    client = await aiohttp_client(create_app(make_settings(ws_heartbeat_seconds=1), database))
    hub = client.app[HUB]
    hall = await create_hall(db, rows=1, seats_per_row=2)
    alive = await watch(client, hall.showtime_id)
    await snapshot_of(alive)
    # aiohttp's client answers pings while it is receiving.
    alive_receiving = asyncio.create_task(alive.receive())
    dead = await RawViewer.connect(client, f"/ws/showtimes/{hall.showtime_id}")
    await eventually(lambda: hub.viewer_count() == 2)

    opcodes = []
    started = time.monotonic()
    while (frame := await asyncio.wait_for(dead.frame(), 5)) is not None:
        opcodes.append(frame[0])
    dead.close()
    assert time.monotonic() - started < 4
    assert 0x9 in opcodes  # it was pinged, never answered, and was cut off
    await eventually(lambda: hub.viewer_count() == 1)

    await asyncio.sleep(2)  # two more heartbeats: the viewer that answers stays
    assert not alive_receiving.done()
    assert hub.viewer_count() == 1
    await change_seats(db, hall.showtime_id, [(hall.seats["A1"], HELD)])
    message = await asyncio.wait_for(alive_receiving, 1)
    assert orjson.loads(message.data)["version"] == 1


async def test_viewers_per_address_are_limited(database, aiohttp_client, make_settings, db):
    client = await aiohttp_client(create_app(make_settings(max_viewers_per_address=2), database))
    hall = await create_hall(db, rows=1, seats_per_row=2)
    first = await watch(client, hall.showtime_id)
    await watch(client, hall.showtime_id)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await watch(client, hall.showtime_id)
    assert refused.value.status == 429
    await first.close()
    await eventually(lambda: client.app[HUB].viewer_count() == 1)
    await snapshot_of(await watch(client, hall.showtime_id))


# -- origins ---------------------------------------------------------------------------------


async def test_other_origins_are_refused_unless_listed(database, aiohttp_client, make_settings, db):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    path = f"/ws/showtimes/{hall.showtime_id}"
    closed = await aiohttp_client(create_app(make_settings(), database))
    refused = await closed.get(path, headers=upgrade_headers("https://evil.example"))
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "forbidden"
    null = await closed.get(path, headers=upgrade_headers("null"))
    assert null.status == 403

    same_origin = await closed.ws_connect(path, origin=f"http://127.0.0.1:{closed.port}")
    await snapshot_of(same_origin)
    no_origin = await closed.ws_connect(path)  # not a browser
    await snapshot_of(no_origin)

    listed = await aiohttp_client(
        create_app(make_settings(allowed_origins=("https://tickets.example",)), database)
    )
    await snapshot_of(await listed.ws_connect(path, origin="https://tickets.example"))
    other = await listed.get(path, headers=upgrade_headers("https://evil.example"))
    assert other.status == 403


# -- shutdown and the listener ------------------------------------------------------------------


async def test_shutdown_closes_viewers_with_1001(database, aiohttp_client, settings, db):
    hall = await create_hall(db, rows=1, seats_per_row=2)
    staying = await instance(aiohttp_client, settings, database)
    leaving = await instance(aiohttp_client, settings, database)
    on_leaving = [await watch(leaving, hall.showtime_id) for _ in range(3)]
    on_staying = await watch(staying, hall.showtime_id)
    for ws in [*on_leaving, on_staying]:
        await snapshot_of(ws)

    started = time.monotonic()
    await leaving.server.close()
    assert time.monotonic() - started < 3
    for ws in on_leaving:
        assert await close_code(ws) == 1001
    assert leaving.app[HUB].viewer_count() == 0

    await change_seats(db, hall.showtime_id, [(hall.seats["A1"], HELD)])
    assert (await next_message(on_staying))["version"] == 1


async def terminate_listeners(db: asyncpg.Connection) -> int:
    return await db.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = $1 AND datname = current_database()",
        APPLICATION_NAME,
    )


async def test_a_dropped_listener_reconnects_and_viewers_resync(
    database, aiohttp_client, settings, db, user
):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    first = await instance(aiohttp_client, settings, database)
    second = await instance(aiohttp_client, settings, database)
    ws = await watch(second, hall.showtime_id)
    assert (await snapshot_of(ws))["version"] == 0
    listener = second.app[LISTENER]
    old_pid = listener.backend_pid

    assert await terminate_listeners(db) == 2  # one per instance
    # Committed while (probably) nobody listens: it must still show, as a change or in the snapshot.
    await hold_directly(db, user.id, hall.showtime_id, hall.ids("A1"), expires_in=600)

    seen: dict[str, str] = {}
    while True:
        message = await next_message(ws, within=5)
        if message["type"] == "snapshot":
            seen = statuses(message)
            break
        seen.update({change["id"]: change["status"] for change in message["changes"]})
    assert message["version"] == 1
    assert seen[hall.ids("A1")[0]] == HELD
    assert listener.connections == 2
    assert listener.backend_pid not in (None, old_pid)

    await change_seats(db, hall.showtime_id, [(hall.seats["A2"], SOLD)])
    assert await next_message(ws) == {
        "type": "seats",
        "showtime_id": str(hall.showtime_id),
        "version": 2,
        "changes": [{"id": hall.ids("A2")[0], "status": SOLD}],
    }
    # The other instance reconnected as well.
    await eventually(lambda: first.app[LISTENER].connections == 2)
    on_first = await watch(first, hall.showtime_id)
    assert (await snapshot_of(on_first))["version"] == 2
    await change_seats(db, hall.showtime_id, [(hall.seats["A3"], HELD)])
    assert (await next_message(on_first))["version"] == 3


async def test_snapshot_of_many_viewers_shares_reads(client, db):
    hall = await create_hall(db, rows=2, seats_per_row=5)
    snapshots = client.app[HUB].snapshots
    before = snapshots.queries
    viewers = await asyncio.gather(*(watch(client, hall.showtime_id) for _ in range(30)))
    received = await asyncio.gather(*(snapshot_of(ws) for ws in viewers))
    assert {message["version"] for message in received} == {0}
    assert all(len(message["seats"]) == 10 for message in received)
    assert snapshots.queries - before < 30


# -- through the HTTP API, across instances ------------------------------------------------------


class Watcher:
    """A viewer that checks each `seats` message: the next version, and the changes expected."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, version: int) -> None:
        self.ws = ws
        self.version = version

    @classmethod
    async def open(cls, client: TestClient, showtime_id: Any, **params: str) -> Watcher:
        ws = await watch(client, showtime_id, **params)
        return cls(ws, (await snapshot_of(ws))["version"])

    async def expect(self, changes: dict[str, str], within: float = 1.0) -> None:
        message = await next_message(self.ws, within=within)
        assert message["type"] == "seats"
        assert message["version"] == self.version + 1  # strictly one more: no gap, no repeat
        self.version = message["version"]
        assert {change["id"]: change["status"] for change in message["changes"]} == changes


async def test_holds_releases_bookings_and_cancellations_reach_the_other_instance(
    database, aiohttp_client, settings, db, user, make_account
):
    hall = await create_hall(db, rows=1, seats_per_row=6)
    api = await instance(aiohttp_client, settings, database)
    other = await instance(aiohttp_client, settings, database)
    mine = await Watcher.open(other, hall.showtime_id, token=user.token)
    anyone = await Watcher.open(other, hall.showtime_id)
    local = await Watcher.open(api, hall.showtime_id)
    watchers = (mine, anyone, local)
    a1, a2, a3 = hall.ids("A1", "A2", "A3")
    lock_path = f"/api/v1/showtimes/{hall.showtime_id}/lock-seats"

    held = await api.post(lock_path, json={"seat_ids": [a1, a2, a3]}, headers=user.headers)
    assert held.status == 201
    for watcher in watchers:
        await watcher.expect({a1: HELD, a2: HELD, a3: HELD})

    # Someone else's attempt on a held seat changes nothing, so nothing is broadcast.
    rival = await make_account()
    refused = await api.post(lock_path, json={"seat_ids": [a1]}, headers=rival.headers)
    assert refused.status == 409

    released = await api.delete(lock_path, json={"seat_ids": [a3]}, headers=user.headers)
    assert released.status == 204
    for watcher in watchers:
        await watcher.expect({a3: AVAILABLE})

    await mine.ws.send_json({"type": "resync"})
    snapshot = await snapshot_of(mine.ws)
    assert snapshot["version"] == mine.version
    assert {seat["id"] for seat in snapshot["seats"] if seat.get("held_by_me")} == {a1, a2}

    booked = await api.post(
        "/api/v1/reservations",
        json={"showtime_id": str(hall.showtime_id), "seat_ids": [a1, a2]},
        headers=user.headers,
    )
    assert booked.status == 201, await booked.text()
    for watcher in watchers:
        await watcher.expect({a1: SOLD, a2: SOLD})

    reservation_id = (await booked.json())["id"]
    cancelled = await api.delete(f"/api/v1/reservations/{reservation_id}", headers=user.headers)
    assert cancelled.status == 200
    for watcher in watchers:
        await watcher.expect({a1: AVAILABLE, a2: AVAILABLE})

    await anyone.ws.send_json({"type": "resync"})
    final = await snapshot_of(anyone.ws)
    assert final["version"] == anyone.version == 4
    assert set(statuses(final).values()) == {AVAILABLE}


async def test_an_expired_hold_swept_by_either_instance_reaches_every_viewer(
    database, aiohttp_client, make_settings, db, user
):
    settings = make_settings(hold_ttl_seconds=1, sweep_interval_seconds=1)
    hall = await create_hall(db, rows=1, seats_per_row=4)
    api = await instance(aiohttp_client, settings, database)
    other = await instance(aiohttp_client, settings, database)
    watchers = [
        await Watcher.open(other, hall.showtime_id),
        await Watcher.open(api, hall.showtime_id),
    ]
    a1, a2 = hall.ids("A1", "A2")

    held = await hold_seats(api, user, hall.showtime_id, [a1, a2])
    assert held.status == 201
    for watcher in watchers:
        await watcher.expect({a1: HELD, a2: HELD})
    # Expiry after one second, a sweep every second: freed within about two, once.
    for watcher in watchers:
        await watcher.expect({a1: AVAILABLE, a2: AVAILABLE}, within=4.0)
    with pytest.raises(asyncio.TimeoutError):
        await watchers[0].ws.receive(timeout=1.5)
    await watchers[0].ws.send_json({"type": "resync"})
    assert set(statuses(await snapshot_of(watchers[0].ws)).values()) == {AVAILABLE}


async def test_a_cancelled_showtime_tells_every_viewer_on_every_instance_then_closes(
    database, aiohttp_client, settings, db, user, admin
):
    hall = await create_hall(db, rows=1, seats_per_row=4)
    api = await instance(aiohttp_client, settings, database)
    other = await instance(aiohttp_client, settings, database)
    watchers = [
        await Watcher.open(other, hall.showtime_id),
        await Watcher.open(api, hall.showtime_id, token=user.token),
    ]
    a1, a2 = hall.ids("A1", "A2")
    held = await hold_seats(api, user, hall.showtime_id, [a1, a2])
    assert held.status == 201
    for watcher in watchers:
        await watcher.expect({a1: HELD, a2: HELD})

    gone = await api.delete(f"/api/v1/showtimes/{hall.showtime_id}", headers=admin.headers)
    assert gone.status == 204
    for watcher in watchers:
        message = await next_message(watcher.ws, within=2.0)
        assert message == {"type": "cancelled", "showtime_id": str(hall.showtime_id)}
        assert await close_code(watcher.ws) == 4404
    # A viewer arriving now is refused the same way.
    late = await watch(other, hall.showtime_id)
    assert await close_code(late) == 4404


async def test_an_expired_hold_reaches_viewers_within_a_second_of_its_expiry(
    database, aiohttp_client, make_settings, db, user
):
    """The sweeper wakes at the earliest expiry, not on its interval (an hour here): a hold
    made on one instance is heard by the other's sweeper too."""
    settings = make_settings(hold_ttl_seconds=2, sweep_interval_seconds=3600)
    hall = await create_hall(db, rows=1, seats_per_row=4)
    api = await instance(aiohttp_client, settings, database)
    other = await instance(aiohttp_client, settings, database)
    watcher = await Watcher.open(other, hall.showtime_id)
    a1, a2 = hall.ids("A1", "A2")

    held = await hold_seats(api, user, hall.showtime_id, [a1, a2])
    assert held.status == 201
    expires_at = dt.datetime.fromisoformat((await held.json())["expires_at"])
    await watcher.expect({a1: HELD, a2: HELD})
    await watcher.expect({a1: AVAILABLE, a2: AVAILABLE}, within=4.0)
    late_by = (await db.fetchval("SELECT clock_timestamp()")) - expires_at
    assert late_by < dt.timedelta(seconds=1), late_by


async def test_every_page_of_the_holder_sees_its_seats_as_its_own_with_the_expiry(
    database, aiohttp_client, settings, db, user, make_account
):
    """Issue 29 item 1: a hold belongs to the user, not to a tab. The holder's viewers, on any
    instance, get its seats marked held_by_me with the hold's expiry; nobody else does."""
    hall = await create_hall(db, rows=1, seats_per_row=4)
    api = await instance(aiohttp_client, settings, database)
    other = await instance(aiohttp_client, settings, database)
    tabs = [
        await Watcher.open(other, hall.showtime_id, token=user.token),
        await Watcher.open(api, hall.showtime_id, token=user.token),
    ]
    stranger = await Watcher.open(other, hall.showtime_id, token=(await make_account()).token)
    a1, a2 = hall.ids("A1", "A2")

    held = await hold_seats(api, user, hall.showtime_id, [a1, a2])
    assert held.status == 201
    expires_at = dt.datetime.fromisoformat((await held.json())["expires_at"])
    for tab in tabs:
        message = await next_message(tab.ws)
        assert message["changes"] == [
            {"id": a1, "status": HELD, "held_by_me": True},
            {"id": a2, "status": HELD, "held_by_me": True},
        ]
        assert dt.datetime.fromisoformat(message["hold_expires_at"]) == expires_at
    message = await next_message(stranger.ws)
    assert message["changes"] == [{"id": a1, "status": HELD}, {"id": a2, "status": HELD}]
    assert "hold_expires_at" not in message

    # A page opened now (a reload) is told when the hold expires; a stranger's is not.
    mine = await snapshot_on_connect(other, hall.showtime_id, token=user.token)
    assert dt.datetime.fromisoformat(mine["hold_expires_at"]) == expires_at
    theirs = await snapshot_on_connect(other, hall.showtime_id)
    assert "hold_expires_at" not in theirs
