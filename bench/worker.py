"""One load-generator process: `python -m bench.worker SPEC.json`.

Talks to the suite (bench/suite.py) in JSON lines: it prints `{"event": "ready"}` once set up,
waits for `{"start": <monotonic time>}` on stdin, runs, and prints `{"event": "result", ...}`.
`{"stop": true}` on stdin ends an open-ended run early. Every loop is bounded in count and time.

Kinds of work (spec["kind"]):
  http_seatmap  GET /api/v1/showtimes/{id}/seats            closed or open loop
  http_book     lock-seats then POST /reservations           closed or open loop
  http_login    POST /api/v1/auth/login                      closed loop
  db_seatmap    the seat map's SQL + orjson, no HTTP          closed loop   (baseline)
  db_book       the booking service functions, no HTTP       closed loop   (baseline)
  bcrypt        bcrypt.checkpw on N threads                  closed loop   (baseline)
  viewers       N live seat-map WebSockets                    until stopped
  changer       lock-seats of one seat each, at a fixed rate open loop
"""

from __future__ import annotations

import asyncio
import collections
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from .load import LoopResult, NoMoreWork, Operation, closed_loop, open_loop

JSON_HEADERS = {"Content-Type": "application/json"}


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(orjson.dumps({"event": event, **fields}).decode() + "\n")
    sys.stdout.flush()


class Control:
    """Commands from the suite on stdin, read by a thread (stdin is a pipe)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.start: asyncio.Future[float] = self.loop.create_future()
        self.stop = asyncio.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            command = orjson.loads(line)
            if "start" in command:
                self.loop.call_soon_threadsafe(self._set_start, float(command["start"]))
            if command.get("stop"):
                self.loop.call_soon_threadsafe(self.stop.set)
        self.loop.call_soon_threadsafe(self.stop.set)  # the suite went away

    def _set_start(self, moment: float) -> None:
        if not self.start.done():
            self.start.set_result(moment)


def session_for(spec: dict[str, Any]) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=int(spec.get("connections", 64)), force_close=False)
    return aiohttp.ClientSession(
        base_url=spec["base_url"],
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=60),
        json_serialize=lambda value: orjson.dumps(value).decode(),
    )


async def run_loop(spec: dict[str, Any], control: Control, operation: Operation) -> LoopResult:
    emit("ready")
    start_at = await control.start
    if spec.get("mode", "closed") == "open":
        return await open_loop(
            operation,
            float(spec["rate"]),
            start_at,
            float(spec["duration"]),
            max_requests=spec.get("max_requests"),
            stop=control.stop,
        )
    return await closed_loop(
        operation,
        int(spec["connections"]),
        start_at,
        float(spec["duration"]),
        warmup=float(spec.get("warmup", 0.0)),
        stop=control.stop,
    )


# --- HTTP work -----------------------------------------------------------------------------


async def http_seatmap(spec: dict[str, Any], control: Control) -> dict[str, Any]:
    path = f"/api/v1/showtimes/{spec['showtime_id']}/seats"
    async with session_for(spec) as session:

        async def operation(_index: int) -> str | None:
            async with session.get(path) as response:
                await response.read()
                return None if response.status == 200 else f"http_{response.status}"

        await operation(0)  # one connection up and the route warm before the clock starts
        return (await run_loop(spec, control, operation)).as_dict()


async def http_book(spec: dict[str, Any], control: Control) -> dict[str, Any]:
    """Items are [showtime id, [seat ids]]: hold them, then book them, as one operation.
    A closed loop's client i books as user i; an open loop takes a free user for each item."""
    items = collections.deque(spec["items"])
    tokens = [f"Bearer {token}" for token in spec["tokens"]]
    free_users: asyncio.Queue[str] = asyncio.Queue()
    for token in tokens:
        free_users.put_nowait(token)
    open_mode = spec.get("mode") == "open"

    async with session_for(spec) as session:

        async def book(token: str, showtime_id: str, seat_ids: list[str]) -> str | None:
            headers = {"Authorization": token}
            async with session.post(
                f"/api/v1/showtimes/{showtime_id}/lock-seats",
                json={"seat_ids": seat_ids},
                headers=headers,
            ) as response:
                await response.read()
                if response.status != 201:
                    return f"hold_{response.status}"
            async with session.post(
                "/api/v1/reservations",
                json={"showtime_id": showtime_id, "seat_ids": seat_ids},
                headers=headers,
            ) as response:
                await response.read()
                if response.status != 201:
                    return f"book_{response.status}"
            return None

        async def operation(index: int) -> str | None:
            if not items:
                raise NoMoreWork()
            showtime_id, seat_ids = items.popleft()
            if not open_mode:
                return await book(tokens[index], showtime_id, seat_ids)
            token = await free_users.get()
            try:
                return await book(token, showtime_id, seat_ids)
            finally:
                free_users.put_nowait(token)

        async with session.get("/healthz") as response:  # one connection up
            await response.read()
        result = await run_loop(spec, control, operation)
        return {**result.as_dict(), "left": len(items)}


async def http_login(spec: dict[str, Any], control: Control) -> dict[str, Any]:
    emails = spec["emails"]
    password = spec["password"]
    async with session_for(spec) as session:

        async def operation(index: int) -> str | None:
            body = {"email": emails[index % len(emails)], "password": password}
            async with session.post("/api/v1/auth/login", json=body) as response:
                await response.read()
                return None if response.status == 200 else f"http_{response.status}"

        return (await run_loop(spec, control, operation)).as_dict()


async def changer(spec: dict[str, Any], control: Control) -> dict[str, Any]:
    """Hold one seat per request at a fixed rate; when each answer came back."""
    seats = spec["seats"]
    tokens = [f"Bearer {token}" for token in spec["tokens"]]
    path = f"/api/v1/showtimes/{spec['showtime_id']}/lock-seats"
    answers: list[list[Any]] = []
    async with session_for(spec) as session:

        async def operation(index: int) -> str | None:
            seat = seats[index]
            async with session.post(
                path,
                json={"seat_ids": [seat]},
                headers={"Authorization": tokens[index % len(tokens)]},
            ) as response:
                await response.read()
                answers.append([seat, time.monotonic(), response.status])
                return None if response.status == 201 else f"http_{response.status}"

        async with session.get("/healthz") as response:
            await response.read()
        spec = {**spec, "mode": "open", "max_requests": len(seats)}
        result = await run_loop(spec, control, operation)
        return {**result.as_dict(), "answers": answers}


# --- baselines without HTTP ----------------------------------------------------------------


async def db_seatmap(spec: dict[str, Any], control: Control) -> dict[str, Any]:
    """Plain asyncpg: the seat map's rows (the service's own query, QUERIES.seat_map) read
    and serialised by orjson, every time."""
    import asyncpg

    from reservations.db import QUERIES, json_dumps

    showtime_id = uuid.UUID(spec["showtime_id"])
    pool = await asyncpg.create_pool(
        spec["dsn"], min_size=int(spec["pool_size"]), max_size=int(spec["pool_size"])
    )
    try:

        async def operation(_index: int) -> str | None:
            async with pool.acquire() as conn:
                rows = await conn.fetch(QUERIES.seat_map, showtime_id, None)
            json_dumps([dict(row) for row in rows])
            return None

        await operation(0)
        return (await run_loop(spec, control, operation)).as_dict()
    finally:
        await pool.close()


async def db_book(spec: dict[str, Any], control: Control) -> dict[str, Any]:
    """The same transactions as the HTTP service: its own booking functions (hence the same SQL
    from sql/booking.sql, in the same order) on a pool made like the service's, without HTTP."""
    from reservations.booking import service
    from reservations.db import create_pool
    from reservations.settings import Settings

    settings = Settings.from_env(spec["env"])
    items = collections.deque(spec["items"])
    user_ids = [uuid.UUID(user) for user in spec["user_ids"]]
    pool = await create_pool(spec["dsn"], settings)
    try:

        async def operation(index: int) -> str | None:
            if not items:
                raise NoMoreWork()
            showtime, seats = items.popleft()
            showtime_id = uuid.UUID(showtime)
            seat_ids = [uuid.UUID(seat) for seat in seats]
            user_id = user_ids[index]
            await service.hold_seats(pool, settings, user_id, showtime_id, seat_ids)
            await service.reserve(pool, user_id, showtime_id, seat_ids)
            return None

        result = await run_loop(spec, control, operation)
        return {**result.as_dict(), "left": len(items)}
    finally:
        await pool.close()


async def bcrypt_threads(spec: dict[str, Any], control: Control) -> dict[str, Any]:
    """Bare bcrypt.checkpw on `threads` threads, back to back, nothing else."""
    import bcrypt

    hashed = spec["hash"].encode()
    password = spec["password"].encode()
    threads = int(spec["threads"])
    initializer: Callable[[], None] | None = None
    if spec.get("service_priority"):
        # The priority the service's own hashing threads run at (reservations.accounts.passwords):
        # on a shared machine, other processes' load then slows both alike.
        from reservations.accounts.passwords import lower_priority

        initializer = lower_priority
    executor = ThreadPoolExecutor(max_workers=threads, initializer=initializer)
    loop = asyncio.get_running_loop()

    async def operation(_index: int) -> str | None:
        ok = await loop.run_in_executor(executor, bcrypt.checkpw, password, hashed)
        return None if ok else "mismatch"

    spec = {**spec, "connections": threads, "mode": "closed"}
    try:
        return (await run_loop(spec, control, operation)).as_dict()
    finally:
        executor.shutdown(wait=True)


# --- live viewers --------------------------------------------------------------------------


async def viewers(spec: dict[str, Any], control: Control) -> dict[str, Any]:
    from .viewers import Fleet

    fleet = Fleet(spec["host"], int(spec["port"]), spec["path"])
    began = time.monotonic()
    await fleet.connect(int(spec["count"]), int(spec.get("connect_concurrency", 64)), within=30)
    emit("ready", ready=fleet.ready, failed=fleet.failed, seconds=time.monotonic() - began)
    deadline = float(spec.get("max_seconds", 600))
    try:
        await asyncio.wait_for(control.stop.wait(), deadline)
    except TimeoutError:
        pass
    result = {
        "ready": fleet.ready,
        "failed": fleet.failed,
        "closed": fleet.closed,
        "close_codes": fleet.close_codes,
        "messages": fleet.messages,
        "version_gaps": fleet.version_gaps,
        "receipts": fleet.receipts,
    }
    fleet.close_all()
    await asyncio.sleep(0.2)
    return result


KINDS = {
    "http_seatmap": http_seatmap,
    "http_book": http_book,
    "http_login": http_login,
    "changer": changer,
    "db_seatmap": db_seatmap,
    "db_book": db_book,
    "bcrypt": bcrypt_threads,
    "viewers": viewers,
}


async def amain(spec: dict[str, Any]) -> None:
    control = Control()
    result = await KINDS[spec["kind"]](spec, control)
    emit("result", **result)


def main() -> None:
    spec = orjson.loads(Path(sys.argv[1]).read_bytes())
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    asyncio.run(amain(spec))


if __name__ == "__main__":
    main()
