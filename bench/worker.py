"""One load-generator process: `python -m bench.worker SPEC.json`.

Talks to the suite (bench/suite.py) in JSON lines: it prints `{"event": "ready"}` once set up,
waits for `{"start": <monotonic time>}` on stdin, runs, and prints `{"event": "result", ...}`.
`{"stop": true}` on stdin ends an open-ended run early. Every loop is bounded in count and time.

Kinds of work (spec["kind"]):
  http_seatmap  GET /api/v1/showtimes/{id}/seats            closed or open loop
  http_book     lock-seats then POST /reservations           closed or open loop
  http_login    POST /api/v1/auth/login                      closed loop
  db_seatmap    the seat map's SQL + orjson, no HTTP          closed loop   (a note)
  db_book_raw   hold + book as one-call SQL scripts, asyncpg  closed loop   (a note)
  db_book_plpgsql  hold + book as one PL/pgSQL call each      closed loop   (baseline)
  db_book_service  the service's hold_seats + reserve, no HTTP closed loop  (a note)
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
        # Bodies are read as they come over the wire: a phone's decompression is not the
        # server's work, and would be the load generator's bottleneck.
        auto_decompress=False,
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
            settle=float(spec.get("settle", 0.0)),
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
    """GET the seat map with `accept_encoding` (identity unless said), and `if_none_match` when
    given; `expect` is the status that counts as an answer (200, or 304 for revalidations)."""
    path = f"/api/v1/showtimes/{spec['showtime_id']}/seats"
    headers = {"Accept-Encoding": spec.get("accept_encoding", "identity")}
    if spec.get("if_none_match"):
        headers["If-None-Match"] = spec["if_none_match"]
    expect = int(spec.get("expect", 200))
    async with session_for(spec) as session:

        async def operation(_index: int) -> str | None:
            async with session.get(path, headers=headers) as response:
                await response.read()
                return None if response.status == expect else f"http_{response.status}"

        await operation(0)  # one connection up and the route warm before the clock starts
        return (await run_loop(spec, control, operation)).as_dict()


async def http_book(spec: dict[str, Any], control: Control) -> dict[str, Any]:
    """Items are [showtime id, [seat ids]]: hold them, then book them, as one operation.
    A closed loop's client i books as user i; an open loop takes a free user for each item.
    With `ticket_types` the seats are booked as those types in turn, with `voucher_code` that
    voucher (bench/before.py)."""
    items = collections.deque(spec["items"])
    ticket_types = spec.get("ticket_types") or []
    voucher_code = spec.get("voucher_code")
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
            booking: dict[str, Any] = {"showtime_id": showtime_id, "seat_ids": seat_ids}
            if ticket_types:
                booking["tickets"] = {
                    seat: ticket_types[index % len(ticket_types)]
                    for index, seat in enumerate(seat_ids)
                }
            if voucher_code:
                booking["voucher_code"] = voucher_code
            async with session.post(
                "/api/v1/reservations",
                json=booking,
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


# The physics of a booking, one round trip per transaction: what any implementation of a hold and
# a booking must at least do under the showtime's lock. The service's lock key is
# hashtextextended(<showtime id as text>, 727); its notification payload is
# {"s": showtime, "v": version, "c": [[seat, status], ...]} on channel seat_changes.
#
# Each script is sent as ONE simple-query message (asyncpg's execute() without arguments), so the
# lock is held for one server-side execution with no client round trip inside it. The values are
# formatted in, which is safe here and only here: every one is a UUID parsed by uuid.UUID or a hex
# ticket code this process made itself, never outside input.
RAW_HOLD = """
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended('{showtime}', 727));
WITH hold AS (
    INSERT INTO holds (showtime_id, user_id, created_at, expires_at)
    VALUES ('{showtime}', '{user}', now(), now() + interval '10 minutes')
    ON CONFLICT (showtime_id, user_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
    RETURNING id
)
INSERT INTO seat_claims (showtime_id, seat_id, hold_id)
SELECT '{showtime}', seat, hold.id FROM hold, unnest('{seats}'::uuid[]) AS seat;
WITH bumped AS (UPDATE showtimes SET version = version + 1 WHERE id = '{showtime}' RETURNING version)
SELECT pg_notify('seat_changes', '{{"s":"{showtime}","v":' || version || ',"c":{held}}}')
FROM bumped;
COMMIT;
"""
RAW_BOOK = """
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended('{showtime}', 727));
WITH priced AS (
    SELECT s.id AS seat_id, round(st.price * t.price_multiplier, 2) AS price
    FROM showtimes st
    JOIN seats s ON s.theater_id = st.theater_id
    JOIN seat_types t ON t.name = s.seat_type
    WHERE st.id = '{showtime}' AND s.id = ANY('{seats}'::uuid[])
), reservation AS (
    INSERT INTO reservations (user_id, showtime_id, total_price, ticket_code, created_at, updated_at)
    SELECT '{user}', '{showtime}', sum(price), '{ticket}', now(), now() FROM priced
    RETURNING id
), lines AS (
    INSERT INTO reservation_seats (reservation_id, seat_id, price)
    SELECT reservation.id, priced.seat_id, priced.price FROM reservation, priced
)
UPDATE seat_claims c
SET hold_id = NULL, reservation_id = reservation.id
FROM reservation, holds h
WHERE h.showtime_id = '{showtime}' AND h.user_id = '{user}'
  AND c.showtime_id = '{showtime}' AND c.seat_id = ANY('{seats}'::uuid[]) AND c.hold_id = h.id;
DELETE FROM holds h
WHERE h.showtime_id = '{showtime}' AND h.user_id = '{user}'
  AND NOT EXISTS (SELECT 1 FROM seat_claims c WHERE c.hold_id = h.id);
WITH bumped AS (UPDATE showtimes SET version = version + 1 WHERE id = '{showtime}' RETURNING version)
SELECT pg_notify('seat_changes', '{{"s":"{showtime}","v":' || version || ',"c":{sold}}}')
FROM bumped;
COMMIT;
"""


def raw_scripts(showtime: str, user: str, seats: list[str]) -> tuple[str, str]:
    """The hold and the booking of `seats` by `user` as two one-call scripts (see RAW_HOLD)."""
    showtime = str(uuid.UUID(showtime))
    user = str(uuid.UUID(user))
    seat_ids = [str(uuid.UUID(seat)) for seat in seats]
    values = {
        "showtime": showtime,
        "user": user,
        "seats": "{" + ",".join(seat_ids) + "}",
        "held": orjson.dumps([[seat, "held"] for seat in seat_ids]).decode(),
        "sold": orjson.dumps([[seat, "sold"] for seat in seat_ids]).decode(),
        "ticket": "RAW-" + uuid.uuid4().hex.upper(),
    }
    return RAW_HOLD.format(**values), RAW_BOOK.format(**values)


async def db_book_raw(spec: dict[str, Any], control: Control) -> dict[str, Any]:
    """The raw baseline: each item held and booked by two one-call transactions (RAW_HOLD,
    RAW_BOOK) over plain asyncpg, on a pool of the server's size; no service code, no HTTP.
    Client i books as user i, as in http_book."""
    import asyncpg

    items = collections.deque(spec["items"])
    user_ids = spec["user_ids"]

    async def keep_session(_conn: asyncpg.Connection) -> None:
        """Nothing on release (asyncpg rolls back an open transaction itself): the service's
        pool sends no reset query either."""

    size = int(spec["pool_size"])
    pool = await asyncpg.create_pool(spec["dsn"], min_size=size, max_size=size, reset=keep_session)
    try:

        async def run(conn: asyncpg.Connection, script: str) -> None:
            try:
                await conn.execute(script)
            except asyncpg.PostgresError:
                if conn.is_in_transaction():  # a failed script stops before its COMMIT
                    await conn.execute("ROLLBACK")
                raise

        # Warm every connection as the service's are by its earlier requests (a fresh backend
        # loads its catalog caches on first use, under the lock): the first item's hold and
        # booking as one transaction, rolled back.
        if items:
            showtime, seats = items[0]
            hold, book = raw_scripts(showtime, user_ids[0], seats)
            warm = hold.replace("COMMIT;", "") + book.replace("BEGIN;", "").replace(
                "COMMIT;", "ROLLBACK;"
            )
            connections = [await pool.acquire() for _ in range(size)]
            for conn in connections:
                await run(conn, warm)
            for conn in connections:
                await pool.release(conn)

        async def operation(index: int) -> str | None:
            if not items:
                raise NoMoreWork()
            showtime, seats = items.popleft()
            hold, book = raw_scripts(showtime, user_ids[index], seats)
            async with pool.acquire() as conn:
                await run(conn, hold)
            async with pool.acquire() as conn:
                await run(conn, book)
            return None

        result = await run_loop(spec, control, operation)
        return {**result.as_dict(), "left": len(items)}
    finally:
        await pool.close()


# The same two transactions as RAW_HOLD and RAW_BOOK, each one PL/pgSQL call with bound
# parameters: PostgreSQL plans each statement once per connection and keeps the plan, where a
# multi-statement simple query is parsed and planned again on every call. This is the honest
# physics of a booking (issue 28 item 10): the fastest way to do the same work in the database.
# The functions are temporary (pg_temp, one copy per connection): the bench leaves nothing behind.
PLPGSQL_FUNCTIONS = """
CREATE FUNCTION pg_temp.bench_hold(p_showtime uuid, p_user uuid, p_seats uuid[], p_held text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_hold uuid;
    v_version bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_showtime::text, 727));
    INSERT INTO holds (showtime_id, user_id, created_at, expires_at)
    VALUES (p_showtime, p_user, now(), now() + interval '10 minutes')
    ON CONFLICT (showtime_id, user_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
    RETURNING id INTO v_hold;
    INSERT INTO seat_claims (showtime_id, seat_id, hold_id)
    SELECT p_showtime, seat, v_hold FROM unnest(p_seats) AS seat;
    UPDATE showtimes SET version = version + 1 WHERE id = p_showtime RETURNING version
    INTO v_version;
    PERFORM pg_notify(
        'seat_changes', '{"s":"' || p_showtime || '","v":' || v_version || ',"c":' || p_held || '}'
    );
END;
$$;
CREATE FUNCTION pg_temp.bench_book(
    p_showtime uuid, p_user uuid, p_seats uuid[], p_ticket text, p_sold text
)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_reservation uuid;
    v_version bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_showtime::text, 727));
    WITH priced AS (
        SELECT s.id AS seat_id, round(st.price * t.price_multiplier, 2) AS price
        FROM showtimes st
        JOIN seats s ON s.theater_id = st.theater_id
        JOIN seat_types t ON t.name = s.seat_type
        WHERE st.id = p_showtime AND s.id = ANY (p_seats)
    ), reservation AS (
        INSERT INTO reservations
            (user_id, showtime_id, total_price, ticket_code, created_at, updated_at)
        SELECT p_user, p_showtime, sum(price), p_ticket, now(), now() FROM priced
        RETURNING id
    ), lines AS (
        INSERT INTO reservation_seats (reservation_id, seat_id, price)
        SELECT reservation.id, priced.seat_id, priced.price FROM reservation, priced
    )
    SELECT id INTO v_reservation FROM reservation;
    UPDATE seat_claims c
    SET hold_id = NULL, reservation_id = v_reservation
    FROM holds h
    WHERE h.showtime_id = p_showtime AND h.user_id = p_user
      AND c.showtime_id = p_showtime AND c.seat_id = ANY (p_seats) AND c.hold_id = h.id;
    DELETE FROM holds h
    WHERE h.showtime_id = p_showtime AND h.user_id = p_user
      AND NOT EXISTS (SELECT 1 FROM seat_claims c WHERE c.hold_id = h.id);
    UPDATE showtimes SET version = version + 1 WHERE id = p_showtime RETURNING version
    INTO v_version;
    PERFORM pg_notify(
        'seat_changes', '{"s":"' || p_showtime || '","v":' || v_version || ',"c":' || p_sold || '}'
    );
END;
$$;
"""
PLPGSQL_HOLD = "SELECT pg_temp.bench_hold($1::uuid, $2::uuid, $3::uuid[], $4)"
PLPGSQL_BOOK = "SELECT pg_temp.bench_book($1::uuid, $2::uuid, $3::uuid[], $4, $5)"


async def db_book_plpgsql(spec: dict[str, Any], control: Control) -> dict[str, Any]:
    """The honest physics: each item held and booked by two transactions of one PL/pgSQL call
    each (PLPGSQL_FUNCTIONS), bound parameters, plans cached per connection; a pool of the
    server's size, no service code, no HTTP. Client i books as user i, as in http_book."""
    import asyncpg

    items = collections.deque(spec["items"])
    user_ids = spec["user_ids"]

    async def keep_session(_conn: asyncpg.Connection) -> None:
        """Nothing on release: the temporary functions live as long as the connection."""

    size = int(spec["pool_size"])
    pool = await asyncpg.create_pool(
        spec["dsn"],
        min_size=size,
        max_size=size,
        reset=keep_session,
        init=lambda conn: conn.execute(PLPGSQL_FUNCTIONS),
    )
    try:

        def arguments(index: int, showtime: str, seats: list[str]) -> tuple[tuple, tuple]:
            seat_ids = [uuid.UUID(seat) for seat in seats]
            held = orjson.dumps([[seat, "held"] for seat in seats]).decode()
            sold = orjson.dumps([[seat, "sold"] for seat in seats]).decode()
            user = uuid.UUID(user_ids[index])
            ticket = "PLP-" + uuid.uuid4().hex.upper()
            showtime_id = uuid.UUID(showtime)
            return (showtime_id, user, seat_ids, held), (showtime_id, user, seat_ids, ticket, sold)

        # Warm every connection (catalog caches, and each statement's plan) with the first
        # item's hold and booking in one transaction, rolled back.
        if items:
            showtime, seats = items[0]
            hold, book = arguments(0, showtime, seats)
            connections = [await pool.acquire() for _ in range(size)]
            for conn in connections:
                warming = conn.transaction()
                await warming.start()
                await conn.execute(PLPGSQL_HOLD, *hold)
                await conn.execute(PLPGSQL_BOOK, *book)
                await warming.rollback()
            for conn in connections:
                await pool.release(conn)

        async def operation(index: int) -> str | None:
            if not items:
                raise NoMoreWork()
            showtime, seats = items.popleft()
            hold, book = arguments(index, showtime, seats)
            async with pool.acquire() as conn:
                await conn.execute(PLPGSQL_HOLD, *hold)
            async with pool.acquire() as conn:
                await conn.execute(PLPGSQL_BOOK, *book)
            return None

        result = await run_loop(spec, control, operation)
        return {**result.as_dict(), "left": len(items)}
    finally:
        await pool.close()


async def db_book_service(spec: dict[str, Any], control: Control) -> dict[str, Any]:
    """The service's own SQL functions called directly, through its own Python calls
    (booking.holds.hold_seats, booking.reservations.reserve) and pool, with no HTTP: what is
    left of the gap to the physics is SQL cost; the rest, to the HTTP figure, is HTTP cost."""
    from reservations.booking import holds, reservations
    from reservations.db import create_pool
    from reservations.settings import Settings

    items = collections.deque(spec["items"])
    user_ids = [uuid.UUID(user) for user in spec["user_ids"]]
    size = int(spec["pool_size"])
    settings = Settings.from_env(
        {**spec["env"], "DB_POOL_MIN_SIZE": str(size), "DB_POOL_MAX_SIZE": str(size)}
    )
    pool = await create_pool(spec["dsn"], settings)
    try:

        async def operation(index: int) -> str | None:
            if not items:
                raise NoMoreWork()
            showtime, seats = items.popleft()
            showtime_id = uuid.UUID(showtime)
            seat_ids = [uuid.UUID(seat) for seat in seats]
            await holds.hold_seats(pool, settings, user_ids[index], showtime_id, seat_ids)
            await reservations.reserve(pool, user_ids[index], showtime_id, seat_ids)
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
        # The priority the service's own hashing processes run at (reservations/hashing.py):
        # on a shared machine, other processes' load then slows both alike.
        from reservations.hashing import lower_priority

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
        "snapshot_ms": fleet.snapshot_ms,
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
    "db_book_raw": db_book_raw,
    "db_book_plpgsql": db_book_plpgsql,
    "db_book_service": db_book_service,
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
