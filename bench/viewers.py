"""Thousands of live seat-map viewers in one process, as cheaply as possible.

Each viewer is a bare asyncio Protocol speaking just enough WebSocket (RFC 6455) to watch: the
upgrade handshake, unmasked server frames in, masked pong and close frames out. A client per
viewer built on aiohttp's WebSocket (a task and a future per message) would cost the machine
more CPU than the server spends sending, and the server shares this machine's two cores; the
viewers must stay a small part of what is measured.

For every seat change seen, the fleet keeps how many viewers received it and the time the last
(and first) one did: what the live-map benchmark needs to compute "answer of the hold to the
last viewer's receipt".
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from typing import Any

import orjson

OP_TEXT = 0x1
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


def client_frame(opcode: int, payload: bytes = b"") -> bytes:
    """A masked, final client frame (clients must mask)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    else:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
    return header + mask + masked


class Fleet:
    """The viewers of one showtime and what they received."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host = host
        self.port = port
        self.path = path
        self.viewers: list[Viewer] = []
        self.ready = 0
        self.failed = 0
        self.closed = 0
        self.close_codes: dict[int, int] = {}
        self.messages = 0
        # (seat id, status) -> [viewers that received it, first receipt, last receipt]
        self.receipts: dict[str, list[Any]] = {}
        self.version_gaps = 0
        self.snapshot_ms: list[float] = []  # each viewer: connect started -> snapshot received
        self._last_payload = b""
        self._last_snapshot = b""
        self._last_snapshot_version = -1
        self._last_changes: tuple[int, list[str]] = (-1, [])

    def changes_of(self, payload: bytes) -> tuple[int, list[str]]:
        """(version, ["seat id:status", ...]) of a `seats` message. Every viewer gets the same
        bytes: each distinct message is parsed once."""
        if payload != self._last_payload:
            message = orjson.loads(payload)
            if message.get("type") == "seats":
                self._last_changes = (
                    int(message["version"]),
                    [f"{change['id']}:{change['status']}" for change in message["changes"]],
                )
            else:
                self._last_changes = (-1, [])
            self._last_payload = payload
        return self._last_changes

    def snapshot_version(self, payload: bytes) -> int:
        """The version of a `snapshot` message (-1 for another message). Viewers connecting
        together get the same bytes: each distinct snapshot is parsed once."""
        if payload != self._last_snapshot:
            message = orjson.loads(payload)
            is_snapshot = message.get("type") == "snapshot"
            self._last_snapshot_version = int(message["version"]) if is_snapshot else -1
            self._last_snapshot = payload
        return self._last_snapshot_version

    def record(self, key: str, now: float) -> None:
        entry = self.receipts.get(key)
        if entry is None:
            self.receipts[key] = [1, now, now]
        else:
            entry[0] += 1
            if now > entry[2]:
                entry[2] = now
            if now < entry[1]:
                entry[1] = now

    async def connect(self, count: int, concurrency: int, within: float) -> None:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                viewer = Viewer(self)
                began = time.monotonic()
                try:
                    await asyncio.wait_for(
                        loop.create_connection(lambda: viewer, self.host, self.port), within
                    )
                    await asyncio.wait_for(viewer.snapshot, within)
                    self.snapshot_ms.append((viewer.snapshot_at - began) * 1000)
                except Exception:  # noqa: BLE001 - counted
                    self.failed += 1
                    viewer.abort()
                    return
                self.viewers.append(viewer)
                self.ready += 1

        await asyncio.gather(*(one() for _ in range(count)))

    def close_all(self) -> None:
        for viewer in self.viewers:
            viewer.abort()


class Viewer(asyncio.Protocol):
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.open = False
        self.version = -1
        self.snapshot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.snapshot_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(  # type: ignore[union-attr]
            (
                f"GET {self.fleet.path} HTTP/1.1\r\n"
                f"Host: {self.fleet.host}:{self.fleet.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.snapshot.done():
            self.snapshot.set_exception(ConnectionError("closed before the snapshot"))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.buffer
        buffer += data
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status_line = bytes(buffer[: buffer.find(b"\r\n")])
            if b" 101 " not in status_line:
                if not self.snapshot.done():
                    self.snapshot.set_exception(
                        ConnectionError(status_line.decode(errors="replace"))
                    )
                self.abort()
                return
            del buffer[: end + 4]
            self.open = True
        fleet = self.fleet
        while len(buffer) >= 2:
            opcode = buffer[0] & 0x0F
            length = buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length = int.from_bytes(buffer[2:4], "big")
                offset = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length = int.from_bytes(buffer[2:10], "big")
                offset = 10
            end = offset + length
            if len(buffer) < end:
                return
            payload = bytes(buffer[offset:end])
            del buffer[:end]
            fleet.messages += 1
            if opcode == OP_TEXT:
                if not self.snapshot.done():
                    version = fleet.snapshot_version(payload)
                    if version >= 0:
                        self.version = version
                        self.snapshot_at = now
                        self.snapshot.set_result(None)
                    continue
                version, keys = fleet.changes_of(payload)
                if version < 0:
                    continue
                if version != self.version + 1:
                    fleet.version_gaps += 1  # a gap or a repeat
                self.version = version
                for key in keys:
                    fleet.record(key, now)
            elif opcode == OP_PING and self.transport is not None:
                self.transport.write(client_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                fleet.closed += 1
                fleet.close_codes[code] = fleet.close_codes.get(code, 0) + 1
                if self.transport is not None:
                    self.transport.write(client_frame(OP_CLOSE, payload[:2]))
                    self.transport.close()
                if not self.snapshot.done():
                    self.snapshot.set_exception(ConnectionError(f"closed with {code}"))
                return
