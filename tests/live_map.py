"""The live seat map as tests watch it: WebSocket viewers, their messages, seat changes
announced the way booking's triggers announce them, and waiting for what happens later."""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient


async def watch(
    client: TestClient, showtime_id: Any, **params: str
) -> aiohttp.ClientWebSocketResponse:
    return await client.ws_connect(f"/ws/showtimes/{showtime_id}", params=params or None)


async def next_message(ws: aiohttp.ClientWebSocketResponse, within: float = 1.0) -> dict[str, Any]:
    message = await ws.receive(timeout=within)
    assert message.type is WSMsgType.TEXT, message
    decoded: dict[str, Any] = orjson.loads(message.data)
    return decoded


async def snapshot_of(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    message = await next_message(ws, within=3.0)
    assert message["type"] == "snapshot"
    return message


async def snapshot_on_connect(
    client: TestClient, showtime_id: Any, **params: str
) -> dict[str, Any]:
    """What a viewer connecting now is sent first (the socket is closed after it)."""
    ws = await watch(client, showtime_id, **params)
    try:
        return await snapshot_of(ws)
    finally:
        await ws.close()


async def close_code(ws: aiohttp.ClientWebSocketResponse, within: float = 3.0) -> int | None:
    message = await ws.receive(timeout=within)
    assert message.type is WSMsgType.CLOSE, message
    code: int | None = message.data
    return code


async def announce(
    db: asyncpg.Connection, showtime_id: uuid.UUID, changes: list[tuple[Any, str]]
) -> int:
    """Announce seat changes exactly as the seat_claims triggers do (announce_seat_changes of
    sql/code/03_seat_changes.sql) in the caller's transaction; the showtime's version after them."""
    seats = [uuid.UUID(str(seat)) for seat, _ in changes]
    await db.execute(
        "SELECT announce_seat_changes($1::uuid[], $2::uuid[], $3::text[])",
        [showtime_id] * len(seats),
        seats,
        [status for _, status in changes],
    )
    version: int = await db.fetchval("SELECT version FROM showtimes WHERE id = $1", showtime_id)
    return version


async def change_seats(
    db: asyncpg.Connection, showtime_id: uuid.UUID, changes: list[tuple[Any, str]]
) -> int:
    """A committed seat change, announced as booking's triggers announce one."""
    async with db.transaction():
        return await announce(db, showtime_id, changes)


def upgrade_headers(origin: str) -> dict[str, str]:
    """The headers of a WebSocket upgrade request sent from a page of `origin`."""
    return {
        "Origin": origin,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }


async def answers_within(
    read: Callable[[], Awaitable[Any]], expected: Any, within: float = 2.0
) -> float:
    """Poll `read` until it answers `expected` (at most `within` seconds, e.g. a NOTIFY's delay
    to the instance's caches); the seconds it took."""
    started = time.monotonic()
    while (answer := await read()) != expected:
        assert time.monotonic() - started < within, f"still {answer!r} after {within} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)
