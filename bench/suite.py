"""The benchmark suite: `python -m bench [--quick] [--only NAME[,NAME]] [--workers N] ...`.

One machine runs the server, PostgreSQL and the load generator, so every throughput is set
against a baseline measured in the same run on the same data, and each figure is the median of
`--runs` runs (3; 1 with --quick). The baselines are the physics of the work, not our own code:
what any implementation must at least spend on this machine. Scenarios (targets from the
benchmark issues):

  seatmap  GET the seat map of a 300-seat hall, 64 connections      >= 0.35x bare aiohttp serving
           the same bytes from memory, same load generator and connections, as many processes as
           the server has workers (bench/bare.py); with Accept-Encoding gzip >= 0.8x bare aiohttp
           serving the same gzip bytes; a revalidation (If-None-Match, 304) >= 0.8x bare aiohttp
           answering the same 304; bytes on the wire (Brotli <= 8 KiB)
  connect  5,000 live viewers of one showtime connecting at once     p99 connect -> snapshot < 1 s;
           against bare aiohttp answering the same handshakes with the same snapshot from memory,
           as many processes and the same listen backlog (bench/bare.py)
  hot      8 / 32 / 128 clients hold and book seats of one showtime 32 and 128: >= 0.5x the
           physics: the same hold and booking as one PL/pgSQL call each, bound parameters and
           plans cached per connection, over plain asyncpg (advisory lock, hold, claims,
           reservation, version, NOTIFY, commit; no HTTP, no service code: db_book_plpgsql in
           bench/worker.py); from 8 to 128 clients throughput falls no more than the physics'
           does (>= 0.95x its change); no seat booked twice, by the service or by a baseline.
           Notes split the gap: the service's own SQL called through its Python with no HTTP
           (db_book_service: SQL cost), and the old multi-statement simple-query scripts
           (db_book_raw, planned on every call)
  before   the hot showtime on main before email and prices (a      >= 0.9x, with ticket types
           worktree of scenarios/before.py BEFORE_REV) and today's       and a voucher on every
           code, same run                                                booking, too
  spread   the same across 1,000 showtimes, 64 clients               >= 0.5x its raw baseline
  live     1,000 and 5,000 viewers of one showtime, 10 changes/s:   p99 hold answer -> last viewer
           < 50 ms / < 250 ms; server memory per viewer < 30 KiB
  sweeper  100,000 expired holds swept under the hot load at half    load p99 <= 2x its normal p99
           its maximum
  login    logins/s at the configured bcrypt cost                    >= 0.85x bare bcrypt, 2 threads
           and seat-map p99 during the login storm                   <= 2x its normal p99

Maximum throughput comes from closed loops; every p50/p99 from an open (fixed-rate) loop at half
the measured maximum unless said otherwise, latency counted from each request's scheduled time.
Each scenario is a module of bench/scenarios/ (`run(suite, run)`). The server is `python -m
reservations serve` in a subprocess, fresh for every scenario, on a
database made fresh for the run (the embedded PostgreSQL under .data/bench, or DATABASE_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from reservations.accounts.tokens import issue_token
from reservations.db import EmbeddedDatabase, migrate, with_database

from .data import BenchData, Theater
from .load import percentile
from .procs import ROOT, BareServer, Server, Worker, run_together
from .report import RESULTS_PATH, Row, fmt, write_results
from .scenarios import SCENARIOS, before

DATA_DIR = ROOT / ".data" / "bench"


@dataclass
class Options:
    quick: bool
    only: tuple[str, ...]
    workers: int
    runs: int
    duration: float  # seconds of each measured phase
    warmup: float
    bcrypt_rounds: int
    pool_size: int
    viewers: tuple[int, ...]
    live_seconds: float
    change_rate: float
    expired_holds: int
    hot_clients: tuple[int, ...]
    before_rev: str  # the revision scenario "before" compares with (bench/before.py)
    hot_bookings: int  # bookings (hold + book) of each hot phase
    spread_bookings: int
    spread_clients: int
    load_processes: int
    extra_env: dict[str, str]
    out: Path


class Suite:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.rows: dict[str, list[Row]] = {}
        self.order: list[str] = []
        self.log_dir = DATA_DIR / "logs"
        self.jwt_secret = secrets.token_urlsafe(48)
        self.embedded: EmbeddedDatabase | None = None
        self.maxima: dict[str, float] = {}  # per run: hot-32 max, seat-map max
        self.notes: list[str] = []
        self.before: before.Before | None = None
        self.login_users: list[str] = []  # scenario login's accounts, made once
        self.login_hash = ""

    # -- setting up ----------------------------------------------------------------------

    async def open_database(self) -> None:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if os.environ.get("DATABASE_URL"):
            admin = os.environ["DATABASE_URL"]
        else:
            self.embedded = EmbeddedDatabase(DATA_DIR)
            self.embedded.start()
            admin = self.embedded.admin_dsn()
        self.admin_dsn = admin
        self.db_name = f"bench_{dt.datetime.now().strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'CREATE DATABASE "{self.db_name}"')
            self.pg_version = await conn.fetchval("SHOW server_version")
            self.pg_settings = {
                name: await conn.fetchval(f"SHOW {name}")
                for name in (
                    "max_connections",
                    "shared_buffers",
                    "synchronous_commit",
                    "fsync",
                    "max_wal_size",
                )
            }
        finally:
            await conn.close()
        self.dsn = with_database(admin, self.db_name)
        await asyncio.get_running_loop().run_in_executor(None, migrate, self.dsn)
        self.conn = await asyncpg.connect(self.dsn)
        self.data = BenchData(self.conn)
        self.users = await self.data.users(256, "bench")
        self.tokens = [issue_token(user, self.jwt_secret, 24 * 3600) for user in self.users]
        # Halls: the seat map's 300 seats; a 3,000-seat hot hall (it must not sell out within a
        # phase); ten 300-seat halls for the spread and the sweeper's expired holds.
        self.map_hall = await self.data.theater(15, 20)
        self.hot_hall = await self.data.theater(50, 60)
        self.spread_halls = [await self.data.theater(15, 20) for _ in range(10)]
        self.sweep_hall = await self.data.theater(15, 20)

    async def close_database(self) -> None:
        await self.conn.close()
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        finally:
            await conn.close()
        if self.embedded is not None:
            self.embedded.stop()

    def server_env(self, **extra: str) -> dict[str, str]:
        env = {
            "DATABASE_URL": self.dsn,
            "JWT_SECRET": self.jwt_secret,
            "BCRYPT_ROUNDS": str(self.options.bcrypt_rounds),
            "LOG_LEVEL": "WARNING",
            "MAX_VIEWERS_PER_ADDRESS": "100000",
            # The same 256 users book in every phase, each on fresh showtimes, and the phases'
            # holds outlive them: the abuse limit of 3 showtimes held at once would refuse them.
            "MAX_SHOWTIMES_HELD_PER_USER": "1000000",
            # Likewise a user books more than 10 seats of a hot showtime over a phase; the
            # per-user count is still made on every hold, only never reached.
            "MAX_SEATS_PER_USER_PER_SHOWTIME": "1000000",
            "DB_POOL_MAX_SIZE": str(self.options.pool_size),
            "DATA_DIR": str(DATA_DIR / "server"),
        }
        env.update(self.options.extra_env)
        env.update(extra)
        return env

    async def server(self, **extra_env: str) -> Server:
        server = Server(self.server_env(**extra_env), self.options.workers, self.log_dir)
        await server.start()
        return server

    def add(self, row: Row) -> None:
        if row.scenario not in self.rows:
            self.rows[row.scenario] = []
            self.order.append(row.scenario)
        self.rows[row.scenario].append(row)
        print(
            f"    {row.scenario}: {fmt(row.throughput)} {row.unit}, p50 {fmt(row.p50)} ms, "
            f"p99 {fmt(row.p99)} ms, baseline {fmt(row.baseline)} {row.baseline_unit}, "
            f"ratio {fmt(row.ratio, 2)}" + (f" [{'; '.join(row.notes)}]" if row.notes else ""),
            flush=True,
        )

    async def ensure_analyzed(self) -> None:
        await self.conn.execute("ANALYZE")

    # -- helpers -------------------------------------------------------------------------

    async def warm_live(self, server: Server, showtime_id: uuid.UUID) -> str:
        """Imports, the cached map and a first WebSocket, then a pause, before viewers come;
        the snapshot message that socket got."""
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.base_url}/api/v1/showtimes/{showtime_id}/seats"):
                pass
            async with session.ws_connect(f"{server.base_url}/ws/showtimes/{showtime_id}") as ws:
                snapshot = await ws.receive_str(timeout=10)
        await asyncio.sleep(1.0)
        return snapshot

    def viewer_workers(
        self,
        server: Server | BareServer,
        showtime_id: uuid.UUID,
        viewers: int,
        processes: int,
        connect_concurrency: int | None,
        max_seconds: float,
    ) -> list[Worker]:
        """Load processes holding `viewers` live viewers of the showtime between them, each
        connecting `connect_concurrency` at a time (None: all at once)."""
        return [
            Worker(
                {
                    "kind": "viewers",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "path": f"/ws/showtimes/{showtime_id}",
                    "count": share,
                    "connect_concurrency": connect_concurrency or share,
                    "max_seconds": max_seconds,
                },
                self.log_dir,
            )
            for share in self.split(viewers, processes)
        ]

    def http_spec(self, server: Server, kind: str, **spec: Any) -> dict[str, Any]:
        return {"kind": kind, "base_url": server.base_url, **spec}

    def split(self, total: int, parts: int) -> list[int]:
        return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]

    async def booking_items(
        self,
        hall: Theater,
        showtimes: int,
        limit: int | None = None,
        data: BenchData | None = None,
    ) -> tuple[list[uuid.UUID], list[list[Any]]]:
        """Fresh showtimes of `hall` (in `data`'s database, this run's by default) and their
        side-by-side pairs as booking items, one showtime after the other (each showtime's pairs
        shuffled): a "hot" sequence."""
        ids = await (data or self.data).showtimes(hall, showtimes)
        items: list[list[Any]] = []
        for showtime_id in ids:
            pairs = hall.pairs()
            random.shuffle(pairs)
            items.extend([str(showtime_id), [str(seat) for seat in pair]] for pair in pairs)
        return ids, items[:limit] if limit else items

    def book_specs(
        self,
        server: Server,
        items: list[list[Any]],
        clients: int,
        mode: str = "closed",
        rate: float = 0.0,
        duration: float = 600.0,
        tokens: list[str] | None = None,
        **booking: Any,
    ) -> list[dict[str, Any]]:
        """Load-generator specs booking `items` with `clients` users (of `tokens`, this run's
        by default), split over processes; `booking` goes into each spec (http_book's
        ticket_types, voucher_code)."""
        tokens = tokens or self.tokens
        processes = max(1, min(self.options.load_processes, clients))
        specs = []
        user_offset = 0
        for index, share in enumerate(self.split(clients, processes)):
            specs.append(
                self.http_spec(
                    server,
                    "http_book",
                    mode=mode,
                    connections=share,
                    rate=rate / processes,
                    duration=duration,
                    items=items[index::processes],
                    tokens=tokens[user_offset : user_offset + share],
                    **booking,
                )
            )
            user_offset += share
        return specs

    def db_book_specs(
        self, items: list[list[Any]], clients: int, kind: str = "db_book_raw"
    ) -> list[dict[str, Any]]:
        """A booking loop without HTTP (`kind`: db_book_raw, db_book_plpgsql or db_book_service
        in bench/worker.py): the same clients, users and pool size per process as the service
        phase, in as many processes as the server has workers."""
        processes = max(1, min(self.options.workers, clients))
        specs = []
        user_offset = 0
        for index, share in enumerate(self.split(clients, processes)):
            specs.append(
                {
                    "kind": kind,
                    "env": self.server_env(),
                    "dsn": self.dsn,
                    "pool_size": self.options.pool_size,
                    "connections": share,
                    "duration": 600.0,
                    "items": items[index::processes],
                    "user_ids": [
                        str(user) for user in self.users[user_offset : user_offset + share]
                    ],
                }
            )
            user_offset += share
        return specs

    @staticmethod
    def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
        """Several workers' results as one: throughput over the union of their time spans."""
        completed = sum(result["completed"] for result in results)
        errors = sum(result["errors"] for result in results)
        started = min(result["started"] for result in results)
        finished = max(result["finished"] for result in results)
        latencies = [value for result in results for value in result["latencies_ms"]]
        statuses: dict[str, int] = {}
        for result in results:
            for key, value in result["statuses"].items():
                statuses[key] = statuses.get(key, 0) + value
        return {
            "completed": completed,
            "errors": errors,
            "overflow": sum(result.get("overflow", 0) for result in results),
            "elapsed": finished - started,
            "throughput": completed / max(finished - started, 1e-9),
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "statuses": statuses,
        }

    async def run_phase(self, specs: list[dict[str, Any]], within: float = 900) -> dict[str, Any]:
        return self.merge(await run_together(specs, self.log_dir, within))

    def error_note(self, label: str, result: dict[str, Any]) -> list[str]:
        if not result["errors"] and not result.get("overflow"):
            return []
        return [
            f"{label}: {result['errors']} errors {result['statuses']}, overflow {result.get('overflow', 0)}"
        ]

    async def map_showtime(self) -> uuid.UUID:
        """A showtime of the 300-seat hall with 100 seats sold and 30 held (3 holds of 10)."""
        (showtime_id,) = await self.data.showtimes(self.map_hall, 1)
        seats = list(self.map_hall.seat_ids)
        random.shuffle(seats)
        held = {self.users[200 + k]: seats[100 + 10 * k : 110 + 10 * k] for k in range(3)}
        await self.data.fill(showtime_id, seats[:100], held, buyer=self.users[199])
        return showtime_id

    async def check_bookings(
        self,
        server: Server | None,
        showtime_ids: list[uuid.UUID],
        booked: int,
        data: BenchData | None = None,
    ) -> list[str]:
        """No seat booked twice; as many seats sold as bookings answered; a sold seat refused
        (by `server`, when given). In `data`'s database, this run's by default."""
        notes = []
        data = data or self.data
        twice = await data.double_bookings(showtime_ids)
        sold = await data.sold_seats(showtime_ids)
        if twice:
            notes.append(f"DOUBLE BOOKED: {twice} seats")
        if sold != 2 * booked:
            notes.append(f"sold {sold} seats for {booked} bookings of 2")
        if server is not None and booked:
            row = await self.conn.fetchrow(
                """
                SELECT c.showtime_id, c.seat_id FROM seat_claims c
                WHERE c.showtime_id = ANY($1::uuid[]) AND c.reservation_id IS NOT NULL LIMIT 1
                """,
                showtime_ids,
            )
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    f"{server.base_url}/api/v1/showtimes/{row['showtime_id']}/lock-seats",
                    json={"seat_ids": [str(row["seat_id"])]},
                    headers={"Authorization": f"Bearer {self.tokens[-1]}"},
                ) as response:
                    if response.status != 409:
                        notes.append(f"holding a sold seat answered {response.status}")
        return notes

    # -- the whole suite -----------------------------------------------------------------

    async def run(self) -> None:
        started = time.monotonic()
        await self.open_database()
        try:
            for run in range(1, self.options.runs + 1):
                self.maxima = {}
                print(f"run {run}/{self.options.runs}", flush=True)
                for name in self.options.only:
                    print(f"  {name}", flush=True)
                    began = time.monotonic()
                    await SCENARIOS[name](self, run)
                    print(f"  {name}: {time.monotonic() - began:.0f}s", flush=True)
        finally:
            if self.before is not None:
                await before.close(self, self.before)
            await self.close_database()
        self.seconds = time.monotonic() - started
        write_results(self, self.options.out)
        print(f"wrote {self.options.out} in {self.seconds:.0f}s", flush=True)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run, short phases: under 2 min")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--runs", type=int, help="runs (median taken); 3, or 1 with --quick")
    parser.add_argument("--duration", type=float, help="seconds per measured phase")
    parser.add_argument("--bcrypt-rounds", type=int, default=12)
    parser.add_argument("--pool-size", type=int, default=20, help="DB_POOL_MAX_SIZE per worker")
    parser.add_argument("--viewers", help="live viewers per phase, comma-separated")
    parser.add_argument("--load-processes", type=int, default=1, help="HTTP load processes")
    parser.add_argument("--expired-holds", type=int, help="expired holds for the sweeper")
    parser.add_argument(
        "--hot-clients", default="8,32,128", help="hot showtime client counts, comma-separated"
    )
    parser.add_argument(
        "--before-rev",
        default=before.BEFORE_REV,
        help="the revision scenario before compares with (main before email and prices)",
    )
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    parser.add_argument("--out", type=Path, default=RESULTS_PATH)
    args = parser.parse_args(argv)
    only = tuple(name.strip() for name in args.only.split(",") if name.strip())
    unknown = [name for name in only if name not in SCENARIOS]
    if unknown:
        parser.error(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    quick = bool(args.quick)
    viewers = args.viewers or ("1000" if quick else "1000,5000")
    extra_env = dict(item.split("=", 1) for item in args.env)
    return Options(
        quick=quick,
        only=only,
        workers=args.workers,
        runs=args.runs or (1 if quick else 3),
        duration=args.duration or (2.0 if quick else 8.0),
        warmup=0.5 if quick else 2.0,
        bcrypt_rounds=args.bcrypt_rounds,
        pool_size=args.pool_size,
        viewers=tuple(int(value) for value in viewers.split(",")),
        live_seconds=3.0 if quick else 15.0,
        change_rate=10.0,
        expired_holds=args.expired_holds or (5_000 if quick else 100_000),
        hot_clients=tuple(int(value) for value in args.hot_clients.split(",")),
        before_rev=args.before_rev,
        hot_bookings=250 if quick else 1_500,
        spread_bookings=600 if quick else 4_000,
        spread_clients=64,
        load_processes=args.load_processes,
        extra_env=extra_env,
        out=args.out,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    asyncio.run(Suite(options).run())
    return 0
